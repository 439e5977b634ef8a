//! [`ConfigError`]: configuration and workload files that cannot be used.

/// A configuration value, source or workload file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration value is missing, of the wrong type, unknown or out of range.
    #[error("invalid configuration: {message} (key `{key}` from {origin})")]
    Invalid {
        /// The dotted key, e.g. `optimizations.browser_pool.max_instances`.
        key: String,
        /// Where the value came from: a file path, an environment variable, or the API call.
        origin: String,
        /// What is wrong with it.
        message: String,
    },

    /// The configuration sources could not be read or parsed.
    #[error("could not load configuration")]
    Load {
        /// figment's error, naming the file or variable.
        #[source]
        source: Box<figment::Error>,
    },

    /// A simulator workload file is unreadable or describes something impossible.
    #[error("workload {origin} is invalid: {message}")]
    Workload {
        /// The file (or `"<string>"`).
        origin: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            ConfigError::Invalid { .. } => "fix the value where it was set, or remove it to get the default",
            ConfigError::Load { .. } => "fix the named file or variable",
            ConfigError::Workload { .. } => "see \"Workload files\" in README.md",
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            ConfigError::Invalid { .. } => "config.invalid",
            ConfigError::Load { .. } => "config.load",
            ConfigError::Workload { .. } => "config.workload",
        }
    }
}

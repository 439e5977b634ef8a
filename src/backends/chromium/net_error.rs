//! Chrome's network error codes (`net::ERR_NAME_NOT_RESOLVED`), which a failed navigation
//! reports in `Page.navigate`'s `errorText`: what they say about the host, and the code as an
//! error value.

use crate::traits::FailureClass;

/// What a Chrome network error code says about the host. The codes are Chrome's stable
/// identifiers (`net/base/net_error_list.h`); certificate and SSL errors come in named families.
pub(crate) fn net_error_class(code: &str) -> FailureClass {
    match code {
        "net::ERR_NAME_NOT_RESOLVED" | "net::ERR_NAME_RESOLUTION_FAILED" => FailureClass::Dns,
        "net::ERR_CONNECTION_REFUSED" => FailureClass::ConnectionRefused,
        "net::ERR_CONNECTION_RESET"
        | "net::ERR_CONNECTION_CLOSED"
        | "net::ERR_CONNECTION_ABORTED"
        | "net::ERR_EMPTY_RESPONSE" => FailureClass::ConnectionReset,
        "net::ERR_TOO_MANY_REDIRECTS" | "net::ERR_UNSAFE_REDIRECT" => FailureClass::Redirect,
        "net::ERR_BLOCKED_BY_CLIENT" => FailureClass::Blocked,
        code if code.starts_with("net::ERR_CERT_") || code.starts_with("net::ERR_SSL_") => FailureClass::Tls,
        _ => FailureClass::Other,
    }
}

/// Chrome's network error code as an error value (the source of a failed navigation), and the
/// URL that failed when it is not the page's own (a page that sent itself on to it).
#[derive(Debug)]
pub(crate) struct NetError {
    pub code: String,
    pub url: Option<String>,
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the browser reported {}", self.code)?;
        match &self.url {
            Some(url) => write!(f, " loading {url}, where the page sent itself"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for NetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_error_codes_classify_by_code() {
        assert_eq!(net_error_class("net::ERR_NAME_NOT_RESOLVED"), FailureClass::Dns);
        assert_eq!(
            net_error_class("net::ERR_CONNECTION_REFUSED"),
            FailureClass::ConnectionRefused
        );
        assert_eq!(
            net_error_class("net::ERR_EMPTY_RESPONSE"),
            FailureClass::ConnectionReset
        );
        assert_eq!(net_error_class("net::ERR_CERT_AUTHORITY_INVALID"), FailureClass::Tls);
        assert_eq!(net_error_class("net::ERR_SSL_PROTOCOL_ERROR"), FailureClass::Tls);
        assert_eq!(net_error_class("net::ERR_TOO_MANY_REDIRECTS"), FailureClass::Redirect);
        assert_eq!(net_error_class("net::ERR_ABORTED"), FailureClass::Other);
    }
}

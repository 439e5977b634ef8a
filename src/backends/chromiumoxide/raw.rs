//! A DevTools command by name with JSON parameters: how this provider sends the commands of
//! `chromium/devtools.rs`, which are spelled once as JSON for both providers (and some of
//! which chromiumoxide's generated types in its protocol version do not match, such as
//! `Network.setBlockedURLs` with `urls`). Never `Page.navigate`: chromiumoxide treats that one
//! by name (see `side_channel.rs`).

use serde_json::Value;

use crate::backends::chromium::devtools::Command;

/// `method` with `params`, answered with the raw result.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    method: &'static str,
    params: Value,
}

impl Raw {
    pub(super) fn new(method: &'static str, params: Value) -> Self {
        Self { method, params }
    }
}

impl From<Command> for Raw {
    fn from(command: Command) -> Self {
        Self::new(command.method, command.params)
    }
}

impl serde::Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.params.serialize(serializer)
    }
}

impl chromiumoxide::Method for Raw {
    fn identifier(&self) -> chromiumoxide::types::MethodId {
        self.method.into()
    }
}

impl chromiumoxide::Command for Raw {
    type Response = Value;
}

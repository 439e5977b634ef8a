//! A DevTools command by name with JSON parameters, for the calls whose generated types in
//! chromiumoxide's protocol version do not match what riptide sends (`Network.setBlockedURLs`
//! with `urls`) or would only restate a JSON object field by field. Never `Page.navigate`:
//! chromiumoxide treats that one by name (see `side_channel.rs`).

use serde_json::Value;

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

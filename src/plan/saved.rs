//! Saved plans (`plan --out FILE`, `apply --plan FILE`).
//!
//! A saved plan holds the plan itself, the digest of the desired state it was made from, and
//! the fingerprint of the live state it read (see `LiveState::fingerprint`). `apply --plan`
//! re-reads the server and refuses when either no longer matches, so what a reviewer approved
//! is exactly what runs. It never holds a secret: URLs are redacted, and plans carry no
//! passwords.

use serde::{Deserialize, Serialize};

use super::Plan;

pub const FORMAT_VERSION: u32 = 1;
const KIND: &str = "redis-topology-plan";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: u32,
    pub kind: String,
    pub tool_version: String,
    /// The server, redacted.
    pub target: String,
    pub desired_digest: String,
    pub live_fingerprint: String,
    pub plan: Plan,
}

impl SavedPlan {
    pub fn new(
        plan: Plan,
        target: String,
        desired_digest: String,
        live_fingerprint: String,
    ) -> Self {
        SavedPlan {
            format_version: FORMAT_VERSION,
            kind: KIND.to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            target,
            desired_digest,
            live_fingerprint,
            plan,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Read a saved plan; `Err` says why in one line.
    pub fn parse(text: &str) -> Result<SavedPlan, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("it is not JSON ({e})"))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
            return Err(
                "it is not a redis-topology plan (write one with `plan --out FILE`)".to_owned(),
            );
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(format!(
                "it has format_version {}, this redis-topology reads {FORMAT_VERSION}",
                version.map_or_else(|| "?".to_owned(), |v| v.to_string())
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("it is damaged ({e})"))
    }
}

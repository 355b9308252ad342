//! The `[detect]` section: which Sigma rules run at ingest (`detect.rules`, `detect.builtin`).

use super::values::StringList;
use serde::Deserialize;
use std::path::PathBuf;

/// Detection rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectConfig {
    /// Rule files and directories (read recursively, `*.yml` / `*.yaml`).
    pub rules: Vec<PathBuf>,
    /// Whether the built-in rules (`rules/`, embedded) are loaded too.
    pub builtin: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDetect {
    rules: Option<StringList>,
    builtin: Option<bool>,
}

impl RawDetect {
    pub(super) fn validate(self) -> DetectConfig {
        DetectConfig {
            rules: self.rules.map(StringList::into_vec).unwrap_or_default().into_iter().map(PathBuf::from).collect(),
            builtin: self.builtin.unwrap_or(true),
        }
    }
}

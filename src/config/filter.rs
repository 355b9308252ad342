//! The `[filter]` section: Sigma rule files whose matching CloudTrail events are not indexed
//! (`filter.drop`).

use super::values::StringList;
use serde::Deserialize;
use std::path::PathBuf;

/// Filters before indexing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterConfig {
    /// Rule files and directories (read like `detect.rules`) whose matching events are dropped.
    pub drop: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFilter {
    drop: Option<StringList>,
}

impl RawFilter {
    pub(super) fn validate(self) -> FilterConfig {
        FilterConfig {
            drop: self.drop.map(StringList::into_vec).unwrap_or_default().into_iter().map(PathBuf::from).collect(),
        }
    }
}

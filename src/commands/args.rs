//! Command-line values the commands share: a `YYYY-MM-DD` flag, and a bad flag as the usage
//! error (exit 2) naming it.

use super::common::CommandError;
use crate::config::ConfigError;
use chrono::NaiveDate;

/// A bad flag or setting: exit 2, naming `key`.
pub(super) fn usage(key: &str, message: impl Into<String>) -> CommandError {
    ConfigError { key: key.into(), message: message.into() }.into()
}

/// A `YYYY-MM-DD` flag (`--from`, `--to`), if given.
pub(super) fn date(key: &str, text: &Option<String>) -> Result<Option<NaiveDate>, CommandError> {
    text.as_deref()
        .map(|t| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| usage(key, format!("{t:?} is not a date like 2024-08-01")))
        })
        .transpose()
}

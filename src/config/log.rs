//! The `[log]` section: text or JSON lines on stderr, and the level (`RUST_LOG` overrides it).

use super::values::ConfigError;
use super::values::non_empty;
use serde::Deserialize;

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `text` or `json`.
    pub json: bool,
    /// `log.level`: the most verbose level logged when `RUST_LOG` is unset.
    pub level: tracing::Level,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    format: Option<String>,
    level: Option<String>,
}

impl RawLog {
    pub(super) fn validate(self) -> Result<LogConfig, ConfigError> {
        let json = match self.format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => {
                return Err(ConfigError::new("log.format", format!("must be \"text\" or \"json\", got {other:?}")));
            }
        };
        let level = match non_empty(self.level) {
            None => tracing::Level::INFO,
            Some(text) => text.trim().parse().map_err(|_| {
                ConfigError::new("log.level", format!("must be error, warn, info, debug or trace, got {text:?}"))
            })?,
        };
        Ok(LogConfig { json, level })
    }
}

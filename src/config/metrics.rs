//! The `[metrics]` section: where `trailship run` serves `/metrics`, `/healthz` and `/readyz`.

use super::values::ConfigError;
use super::values::non_empty;
use serde::Deserialize;

/// The `/metrics` `/healthz` `/readyz` listener of `trailship run`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where it listens; off when unset.
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMetrics {
    listen: Option<String>,
}

impl RawMetrics {
    pub(super) fn validate(self) -> Result<MetricsConfig, ConfigError> {
        let listen = match non_empty(self.listen) {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| {
                ConfigError::new("metrics.listen", format!("{text:?} is not an address:port, e.g. \"127.0.0.1:9464\""))
            })?),
        };
        Ok(MetricsConfig { listen })
    }
}

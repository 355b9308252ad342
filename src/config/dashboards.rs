//! The `[dashboards]` section: where `trailship setup` imports the saved objects, and as whom.

use super::values::ConfigError;
use super::values::{Secret, base_url, basic_auth};
use serde::Deserialize;

/// OpenSearch Dashboards; without a URL `trailship setup` does not import the saved objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardsConfig {
    /// Base URL, e.g. `http://localhost:5601`.
    pub url: Option<String>,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDashboards {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl RawDashboards {
    pub(super) fn validate(self) -> Result<DashboardsConfig, ConfigError> {
        let (username, password) = basic_auth("dashboards", self.username, self.password)?;
        Ok(DashboardsConfig { url: base_url("dashboards.url", self.url)?, username, password })
    }
}

impl DashboardsConfig {
    /// `--dashboards-url` on the command line wins over the configuration.
    pub fn with_url(mut self, url: Option<String>) -> Result<Self, ConfigError> {
        if let Some(url) = base_url("--dashboards-url", url)? {
            self.url = Some(url);
        }
        Ok(self)
    }
}

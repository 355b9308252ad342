//! The `[alerts]` section: where alert documents go (`alerts.index_prefix`) and which webhooks
//! hear about them (`alerts.webhook_urls`, `alerts.min_level`, timeout and retries).

use super::values::{ConfigError, Secret};
use super::values::{StringList, int_in, non_empty, secs};
use crate::detect::Level;
use serde::Deserialize;
use std::time::Duration;

/// Alert documents and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// Alert documents go to `{index_prefix}-YYYY.MM.DD` (by event time).
    pub index_prefix: String,
    /// Incoming-webhook URLs (Slack, Mattermost, anything that takes a JSON POST): secrets,
    /// since the URL is the credential.
    pub webhook_urls: Vec<Secret>,
    /// Alerts below this level are indexed but not notified.
    pub min_level: Level,
    /// How long one POST may take.
    pub webhook_timeout: Duration,
    /// Retries of a POST that failed for a reason that may pass (5xx, 429, timeout, no answer).
    pub webhook_retries: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlerts {
    index_prefix: Option<String>,
    webhook_urls: Option<StringList>,
    min_level: Option<String>,
    webhook_timeout_seconds: Option<i64>,
    webhook_retries: Option<i64>,
}

impl RawAlerts {
    pub(super) fn validate(self) -> Result<AlertsConfig, ConfigError> {
        let index_prefix = non_empty(self.index_prefix).unwrap_or_else(|| "trailship-alerts".to_owned());
        super::values::validate_index_name("alerts.index_prefix", &index_prefix)?;
        let min_level = match non_empty(self.min_level) {
            None => Level::High,
            Some(text) => Level::parse(&text).ok_or_else(|| {
                ConfigError::new(
                    "alerts.min_level",
                    format!("{text:?} is not a sigma level (informational, low, medium, high, critical)"),
                )
            })?,
        };
        let mut webhook_urls = Vec::new();
        for (i, url) in self.webhook_urls.map(StringList::into_vec).unwrap_or_default().into_iter().enumerate() {
            // The URL is the credential: messages say which entry, never what it holds.
            let key = format!("alerts.webhook_urls[{i}]");
            match url.split_once("://") {
                Some(("http" | "https", rest)) if !rest.is_empty() => {}
                _ => return Err(ConfigError::new(&key, "is not an http(s) url")),
            }
            if reqwest::Url::parse(&url).is_err() {
                return Err(ConfigError::new(&key, "is not a valid url"));
            }
            webhook_urls.push(Secret::new(url));
        }
        Ok(AlertsConfig {
            index_prefix,
            webhook_urls,
            min_level,
            webhook_timeout: secs(int_in("alerts.webhook_timeout_seconds", self.webhook_timeout_seconds, 10, 1, 300)?),
            webhook_retries: int_in("alerts.webhook_retries", self.webhook_retries, 5, 0, 20)? as usize,
        })
    }
}

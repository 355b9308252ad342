//! The `[alerts]` section: where alert documents go (`alerts.index_prefix`), which levels are
//! grouped per rule, identity and window (`alerts.group_levels`, `alerts.group_window`), how
//! often the findings pass runs (`alerts.pass_interval`), and which webhooks hear about what
//! (`alerts.webhook_urls`, `alerts.min_level`, `alerts.max_notify_age`, timeout and retries).

use super::values::{ConfigError, Secret};
use super::values::{StringList, duration_in, int_in, non_empty, secs};
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
    /// Matches of rules of these levels make one alert per rule, identity, account and
    /// `group_window` instead of one per event.
    pub group_levels: Vec<Level>,
    /// The window grouped alerts count over.
    pub group_window: Duration,
    /// Alerts about events older than this (event time) are written but not notified.
    pub max_notify_age: Duration,
    /// How often `run` recomputes the findings of the hours it indexed into.
    pub pass_interval: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAlerts {
    index_prefix: Option<String>,
    webhook_urls: Option<StringList>,
    min_level: Option<String>,
    webhook_timeout_seconds: Option<i64>,
    webhook_retries: Option<i64>,
    group_levels: Option<StringList>,
    group_window: Option<String>,
    max_notify_age: Option<String>,
    pass_interval: Option<String>,
}

impl RawAlerts {
    pub(super) fn validate(self) -> Result<AlertsConfig, ConfigError> {
        let index_prefix = non_empty(self.index_prefix).unwrap_or_else(|| "trailship-alerts".to_owned());
        super::values::validate_index_name("alerts.index_prefix", &index_prefix)?;
        let level = |key: &str, text: &str| {
            Level::parse(text).ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!("{text:?} is not a sigma level (informational, low, medium, high, critical)"),
                )
            })
        };
        let min_level = match non_empty(self.min_level) {
            None => Level::High,
            Some(text) => level("alerts.min_level", &text)?,
        };
        let group_levels = match self.group_levels {
            None => vec![Level::Informational, Level::Low],
            Some(list) => list.into_vec().iter().map(|t| level("alerts.group_levels", t)).collect::<Result<_, _>>()?,
        };
        const MINUTE: Duration = Duration::from_secs(60);
        const HOUR: Duration = Duration::from_secs(3600);
        const DAY: Duration = Duration::from_secs(86_400);
        let group_window = duration_in("alerts.group_window", self.group_window, HOUR, MINUTE, DAY)?;
        if DAY.as_secs() % group_window.as_secs() != 0 {
            return Err(ConfigError::new("alerts.group_window", "must divide a day (1m, 5m, 15m, 1h, 6h, 1d, …)"));
        }
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
            group_levels,
            group_window,
            max_notify_age: duration_in(
                "alerts.max_notify_age",
                self.max_notify_age,
                DAY,
                MINUTE,
                Duration::from_secs(3650 * 86_400),
            )?,
            pass_interval: duration_in(
                "alerts.pass_interval",
                self.pass_interval,
                MINUTE,
                Duration::from_secs(10),
                HOUR,
            )?,
        })
    }
}

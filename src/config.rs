//! Configuration: a TOML file and `TRAILSHIP__SECTION__KEY` environment variables → a validated
//! [`Config`]. Parsed once at start-up; a bad value is a [`ConfigError`] naming the key.
//! `trailship.example.toml` documents every key.

mod accounts;
mod alerts;
mod anomalies;
mod aws;
mod dashboards;
mod detect;
mod filter;
mod geoip;
mod limits;
mod log;
mod metrics;
mod opensearch;
mod s3access;
mod sqs;
pub mod trends;
mod values;

pub use accounts::{AccountsConfig, is_account_id};
pub use alerts::AlertsConfig;
pub use anomalies::AnomaliesConfig;
pub use aws::AwsConfig;
pub use dashboards::DashboardsConfig;
pub use detect::DetectConfig;
pub use filter::FilterConfig;
pub use geoip::GeoIpConfig;
pub use limits::LimitsConfig;
use limits::MIB;
pub use log::LogConfig;
pub use metrics::MetricsConfig;
use opensearch::RawOpenSearch;
pub use opensearch::{AwsService, IndexPeriod, OpenSearchAuth, OpenSearchConfig};
pub use s3access::S3AccessConfig;
use serde::Deserialize;
pub use sqs::SqsConfig;
use std::path::Path;
pub use trends::TrendsConfig;
pub use values::{ConfigError, Secret, parse_age, validate_index_name};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// AWS client settings.
    pub aws: AwsConfig,
    /// The notification queue.
    pub sqs: SqsConfig,
    /// The OpenSearch cluster.
    pub opensearch: OpenSearchConfig,
    /// GeoIP databases.
    pub geoip: GeoIpConfig,
    /// OpenSearch Dashboards, where `trailship setup` imports the saved objects.
    pub dashboards: DashboardsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Memory, size and time limits.
    pub limits: LimitsConfig,
    /// The metrics and health listener.
    pub metrics: MetricsConfig,
    /// S3 server access logs.
    pub s3access: S3AccessConfig,
    /// Sigma detection rules.
    pub detect: DetectConfig,
    /// Events not indexed.
    pub filter: FilterConfig,
    /// Names of AWS accounts.
    pub accounts: AccountsConfig,
    /// Alert documents and webhook notifications.
    pub alerts: AlertsConfig,
    /// Daily trend aggregates.
    pub trends: TrendsConfig,
    /// The built-in behavioural detections.
    pub anomalies: AnomaliesConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    aws: aws::RawAws,
    sqs: sqs::RawSqs,
    opensearch: RawOpenSearch,
    geoip: geoip::RawGeoIp,
    dashboards: dashboards::RawDashboards,
    log: log::RawLog,
    limits: limits::RawLimits,
    metrics: metrics::RawMetrics,
    s3access: s3access::RawS3Access,
    detect: detect::RawDetect,
    filter: filter::RawFilter,
    accounts: accounts::RawAccounts,
    alerts: alerts::RawAlerts,
    trends: trends::RawTrends,
    anomalies: anomalies::RawAnomalies,
}

impl Config {
    /// Loads `file` (or `trailship.toml` when present and no file is named), applies
    /// `TRAILSHIP__…` environment overrides, and validates.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        match file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError::new("--config", format!("{} does not exist", path.display())));
                }
                builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
            }
            None => {
                builder =
                    builder.add_source(config::File::new("trailship.toml", config::FileFormat::Toml).required(false));
            }
        }
        let env_map: config::Map<String, String> =
            env.iter().filter(|(k, _)| k.starts_with("TRAILSHIP__")).cloned().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("TRAILSHIP")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(false)
                .source(Some(env_map)),
        );
        let raw: RawConfig = builder.build().and_then(|c| c.try_deserialize()).map_err(|e| {
            // A file that is not valid TOML: the error names the file as given.
            let key = match (&e, file) {
                (config::ConfigError::FileParse { .. }, Some(path)) => path.display().to_string(),
                (config::ConfigError::FileParse { .. }, None) => "trailship.toml".to_owned(),
                _ => error_key(&e),
            };
            ConfigError::new(&key, clean_message(&e))
        })?;
        let endpoint_from_env = env.iter().any(|(k, v)| k == "AWS_ENDPOINT_URL" && !v.is_empty());
        raw.validate(endpoint_from_env)
    }
}

/// The key a `config` crate error is about, when it says.
fn error_key(e: &config::ConfigError) -> String {
    let text = e.to_string();
    if let Some(k) = text.split("for key `").nth(1).and_then(|s| s.split('`').next()) {
        return k.to_owned();
    }
    if let Some(k) = text.split("unknown field `").nth(1).and_then(|s| s.split('`').next()) {
        return format!("unknown key {k}");
    }
    "config".to_owned()
}

fn clean_message(e: &config::ConfigError) -> String {
    if let config::ConfigError::FileParse { cause, .. } = e {
        // toml's message: a location line, a snippet of the file (lines with `|`), the reason.
        let text = cause.to_string();
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains('|'));
        let location = lines.next().unwrap_or_default().trim_start_matches("TOML parse error at ");
        let reason: Vec<&str> = lines.collect();
        return format!("invalid toml at {location}: {}", reason.join(", "));
    }
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

impl RawConfig {
    fn validate(self, endpoint_from_env: bool) -> Result<Config, ConfigError> {
        let aws = self.aws.validate(endpoint_from_env)?;
        let sqs = self.sqs.validate()?;
        let opensearch = self.opensearch.validate(aws.region.as_deref())?;
        let geoip = self.geoip.validate()?;
        let dashboards = self.dashboards.validate()?;
        let log = self.log.validate()?;
        let limits = self.limits.validate()?;
        let metrics = self.metrics.validate()?;
        let s3access = self.s3access.validate(&opensearch)?;
        let detect = self.detect.validate();
        let filter = self.filter.validate();
        let accounts = self.accounts.validate()?;
        let alerts = self.alerts.validate()?;
        let other_prefixes = [&opensearch.index_prefix, &s3access.index_prefix];
        if other_prefixes.iter().any(|p| overlapping(p, &alerts.index_prefix))
            || opensearch.deadletter_index.starts_with(&format!("{}-", alerts.index_prefix))
        {
            return Err(ConfigError::new(
                "alerts.index_prefix",
                format!(
                    "{:?} must not overlap opensearch.index_prefix or s3access.index_prefix, nor hold the dead-letter index",
                    alerts.index_prefix
                ),
            ));
        }
        trends::check_namespace(
            [&opensearch.index_prefix, &s3access.index_prefix],
            [
                ("opensearch.index_prefix", &opensearch.index_prefix),
                ("s3access.index_prefix", &s3access.index_prefix),
                ("alerts.index_prefix", &alerts.index_prefix),
            ],
            &opensearch.deadletter_index,
        )?;
        let trends = self.trends.validate()?;
        let anomalies = self.anomalies.validate()?;
        let cfg = Config {
            aws,
            sqs,
            opensearch,
            geoip,
            dashboards,
            log,
            limits,
            metrics,
            s3access,
            detect,
            filter,
            accounts,
            alerts,
            trends,
            anomalies,
        };
        cfg.check_memory_budget()?;
        Ok(cfg)
    }
}

/// Whether the daily indices of one prefix would match the other's `{prefix}-*` pattern.
fn overlapping(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}-")) || b.starts_with(&format!("{a}-"))
}

impl Config {
    /// The memory one object being decoded reserves from `limits.memory_mb`: the framing buffer
    /// (one record at most), plus two batches (one being filled, one being indexed), each as
    /// large as `bulk_max_bytes` of body with the raw records beside it, or one record's
    /// document, whichever is larger; doubled for the growth slack of their buffers.
    pub fn object_reserve_bytes(&self) -> usize {
        let record = self.limits.max_record_bytes;
        let framer = record + crate::decode::CHUNK * 2;
        let batch = (2 * self.opensearch.bulk_max_bytes).max(4 * record) * 2;
        framer + 2 * batch
    }

    /// Memory the budget keeps for the process itself (runtime, clients, caches, responses).
    pub const BASE_MEMORY_BYTES: usize = 48 * MIB;

    fn check_memory_budget(&self) -> Result<(), ConfigError> {
        let need = Self::BASE_MEMORY_BYTES + self.object_reserve_bytes();
        if self.limits.memory_bytes < need {
            return Err(ConfigError::new(
                "limits.memory_mb",
                format!(
                    "{} MiB cannot hold one object with these limits (needs at least {} MiB: lower \
                     opensearch.bulk_max_bytes or limits.max_record_bytes, or raise this)",
                    self.limits.memory_bytes / MIB,
                    need.div_ceil(MIB)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

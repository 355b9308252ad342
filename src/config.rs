//! Configuration: a TOML file and `TRAILSHIP__SECTION__KEY` environment variables → a validated
//! [`Config`]. Parsed once at start-up; a bad value is a [`ConfigError`] naming the key.
//! `trailship.example.toml` documents every key.

mod alerts;
mod detect;
mod opensearch;
pub mod trends;
mod values;

pub use alerts::AlertsConfig;
pub use detect::DetectConfig;
use opensearch::RawOpenSearch;
pub use opensearch::{AwsService, IndexPeriod, OpenSearchAuth, OpenSearchConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use trends::TrendsConfig;
pub use values::Secret;
use values::{StringList, base_url, basic_auth, check_url, day, int_in, non_empty, secs};

/// A configuration problem, always about one key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The dotted key, e.g. `sqs.max_messages_in_flight`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError { key: key.to_owned(), message: message.into() }
    }
}

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
    /// Alert documents and webhook notifications.
    pub alerts: AlertsConfig,
    /// Daily trend aggregates.
    pub trends: TrendsConfig,
}

/// S3 server access logs (routed by their file names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3AccessConfig {
    /// Daily indices are `{index_prefix}-YYYY.MM.DD`.
    pub index_prefix: String,
    /// Key routing: the default by name, plus `s3access.prefixes`.
    pub router: crate::route::Router,
    /// Access log records before this day (UTC, as `YYYY.MM.DD`) are dead-lettered.
    pub oldest_event_day: [u8; 10],
}

/// The `/metrics` `/healthz` `/readyz` listener of `trailship run`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where it listens; off when unset.
    pub listen: Option<std::net::SocketAddr>,
}

/// What one worker may use, whatever arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// The process's memory budget: record and batch buffers are reserved from it.
    pub memory_bytes: usize,
    /// A record larger than this is dead-lettered (with a truncated copy) and skipped.
    pub max_record_bytes: usize,
    /// An object that inflates to more than this fails (a gzip bomb stops here).
    pub max_decompressed_bytes: u64,
    /// An object that takes longer than this to fetch, decode and index fails.
    pub max_object_time: Duration,
    /// CloudTrail events before this day (UTC, as `YYYY.MM.DD`) are dead-lettered.
    pub oldest_event_day: [u8; 10],
    /// Events more than this many days after today are dead-lettered.
    pub event_days_ahead: u32,
}

/// MaxMind-format databases for `source.geo.*` and `source.as.*`; both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoIpConfig {
    /// A GeoLite2/GeoIP2 City (or Country) or DB-IP City Lite `.mmdb` file.
    pub city_db: Option<PathBuf>,
    /// A GeoLite2/GeoIP2 ASN or DB-IP ASN Lite `.mmdb` file.
    pub asn_db: Option<PathBuf>,
}

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

/// AWS client settings; credentials come from the standard AWS chain.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// Region; when unset, the standard chain (`AWS_REGION`, profile, IMDS) decides.
    pub region: Option<String>,
    /// Endpoint override for S3 and SQS (LocalStack, moto); `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
    /// Path-style S3 addressing; defaults to on when an endpoint override is set.
    pub s3_force_path_style: bool,
}

/// The SQS queue that receives the bucket's notifications.
#[derive(Debug, Clone)]
pub struct SqsConfig {
    /// Queue URL; required by `trailship run`.
    pub queue_url: Option<String>,
    /// Messages processed at the same time.
    pub max_messages_in_flight: usize,
    /// Visibility timeout set on receive and renewed while a message is processed.
    pub visibility_timeout: Duration,
    /// Long-poll wait per receive (0–20 s).
    pub wait_time: Duration,
    /// How long a stopping worker lets in-flight messages finish before releasing them.
    pub shutdown_grace: Duration,
    /// The buckets and key prefixes notifications may name.
    pub allowlist: crate::route::Allowlist,
    /// The account that must own the bucket of every object read (S3 `ExpectedBucketOwner`).
    pub expected_bucket_owner: Option<String>,
}

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
struct RawConfig {
    aws: RawAws,
    sqs: RawSqs,
    opensearch: RawOpenSearch,
    geoip: RawGeoIp,
    dashboards: RawDashboards,
    log: RawLog,
    limits: RawLimits,
    metrics: RawMetrics,
    s3access: RawS3Access,
    detect: detect::RawDetect,
    alerts: alerts::RawAlerts,
    trends: trends::RawTrends,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawS3Access {
    index_prefix: Option<String>,
    prefixes: Option<StringList>,
    oldest_event_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    memory_mb: Option<i64>,
    max_record_bytes: Option<i64>,
    max_decompressed_bytes: Option<i64>,
    max_object_seconds: Option<i64>,
    oldest_event_date: Option<String>,
    event_days_ahead: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDashboards {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGeoIp {
    city_db: Option<String>,
    asn_db: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAws {
    region: Option<String>,
    endpoint_url: Option<String>,
    s3_force_path_style: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSqs {
    queue_url: Option<String>,
    max_messages_in_flight: Option<i64>,
    visibility_timeout_secs: Option<i64>,
    wait_time_secs: Option<i64>,
    shutdown_grace_secs: Option<i64>,
    allowed_buckets: Option<StringList>,
    allowed_prefixes: Option<StringList>,
    expected_bucket_owner: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: Option<String>,
    level: Option<String>,
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

/// Index names: lowercase, no spaces or `\/*?"<>|,#:`, not starting with `_-+`.
pub fn validate_index_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let bad_char = name.chars().find(|c| c.is_uppercase() || c.is_whitespace() || "\\/*?\"<>|,#:".contains(*c));
    if name.is_empty() || name.len() > 200 {
        return Err(ConfigError::new(key, "must be 1 to 200 characters"));
    }
    if let Some(c) = bad_char {
        return Err(ConfigError::new(key, format!("{name:?} is not a valid index name (character {c:?})")));
    }
    if name.starts_with(['_', '-', '+']) || name == "." || name == ".." {
        return Err(ConfigError::new(key, format!("{name:?} is not a valid index name")));
    }
    Ok(())
}

impl RawConfig {
    fn validate(self, endpoint_from_env: bool) -> Result<Config, ConfigError> {
        let endpoint_url = non_empty(self.aws.endpoint_url);
        if let Some(url) = &endpoint_url {
            check_url("aws.endpoint_url", url)?;
        }
        let aws = AwsConfig {
            region: non_empty(self.aws.region),
            s3_force_path_style: self.aws.s3_force_path_style.unwrap_or(endpoint_url.is_some() || endpoint_from_env),
            endpoint_url,
        };

        let queue_url = non_empty(self.sqs.queue_url);
        if let Some(url) = &queue_url {
            check_url("sqs.queue_url", url)?;
        }
        let sqs = SqsConfig {
            queue_url,
            max_messages_in_flight: int_in("sqs.max_messages_in_flight", self.sqs.max_messages_in_flight, 8, 1, 1000)?
                as usize,
            visibility_timeout: secs(int_in(
                "sqs.visibility_timeout_secs",
                self.sqs.visibility_timeout_secs,
                300,
                1,
                43_200,
            )?),
            wait_time: secs(int_in("sqs.wait_time_secs", self.sqs.wait_time_secs, 20, 0, 20)?),
            shutdown_grace: secs(int_in("sqs.shutdown_grace_secs", self.sqs.shutdown_grace_secs, 30, 0, 3600)?),
            allowlist: crate::route::Allowlist {
                buckets: self.sqs.allowed_buckets.map(StringList::into_vec).unwrap_or_default(),
                prefixes: self.sqs.allowed_prefixes.map(StringList::into_vec).unwrap_or_default(),
            },
            expected_bucket_owner: match non_empty(self.sqs.expected_bucket_owner) {
                Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => Some(id),
                Some(id) => {
                    return Err(ConfigError::new(
                        "sqs.expected_bucket_owner",
                        format!("{id:?} is not a 12-digit account id"),
                    ));
                }
                None => None,
            },
        };

        let opensearch = self.opensearch.validate(aws.region.as_deref())?;
        let geoip = GeoIpConfig {
            city_db: non_empty(self.geoip.city_db).map(PathBuf::from),
            asn_db: non_empty(self.geoip.asn_db).map(PathBuf::from),
        };

        let (username, password) = basic_auth("dashboards", self.dashboards.username, self.dashboards.password)?;
        let dashboards = DashboardsConfig { url: base_url("dashboards.url", self.dashboards.url)?, username, password };

        let json = match self.log.format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => {
                return Err(ConfigError::new("log.format", format!("must be \"text\" or \"json\", got {other:?}")));
            }
        };
        let level = match non_empty(self.log.level) {
            None => tracing::Level::INFO,
            Some(text) => text.trim().parse().map_err(|_| {
                ConfigError::new("log.level", format!("must be error, warn, info, debug or trace, got {text:?}"))
            })?,
        };
        let log = LogConfig { json, level };
        let l = self.limits;
        let limits = LimitsConfig {
            memory_bytes: int_in("limits.memory_mb", l.memory_mb, 256, 64, 1 << 20)? as usize * MIB,
            max_record_bytes: int_in("limits.max_record_bytes", l.max_record_bytes, 4 << 20, 64 << 10, 256 << 20)?
                as usize,
            max_decompressed_bytes: int_in(
                "limits.max_decompressed_bytes",
                l.max_decompressed_bytes,
                2 << 30,
                1 << 20,
                1 << 50,
            )? as u64,
            max_object_time: secs(int_in("limits.max_object_seconds", l.max_object_seconds, 900, 1, 86_400)?),
            oldest_event_day: day("limits.oldest_event_date", l.oldest_event_date, *b"2013.01.01")?,
            event_days_ahead: int_in("limits.event_days_ahead", l.event_days_ahead, 1, 0, 3650)? as u32,
        };
        let listen = match non_empty(self.metrics.listen) {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| {
                ConfigError::new("metrics.listen", format!("{text:?} is not an address:port, e.g. \"127.0.0.1:9464\""))
            })?),
        };
        let metrics = MetricsConfig { listen };
        let access_prefix = non_empty(self.s3access.index_prefix).unwrap_or_else(|| "s3access".to_owned());
        validate_index_name("s3access.index_prefix", &access_prefix)?;
        if access_prefix == opensearch.index_prefix
            || opensearch.deadletter_index.starts_with(&format!("{access_prefix}-"))
        {
            return Err(ConfigError::new(
                "s3access.index_prefix",
                format!(
                    "{access_prefix:?} must differ from opensearch.index_prefix and not hold the dead-letter index"
                ),
            ));
        }
        let access_prefixes = self.s3access.prefixes.map(StringList::into_vec).unwrap_or_default();
        let oldest_event_day = day("s3access.oldest_event_date", self.s3access.oldest_event_date, *b"2006.03.01")?;
        let router = crate::route::Router { access_prefixes };
        let s3access = S3AccessConfig { index_prefix: access_prefix, router, oldest_event_day };
        let detect = self.detect.validate();
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
        let cfg =
            Config { aws, sqs, opensearch, geoip, dashboards, log, limits, metrics, s3access, detect, alerts, trends };
        cfg.check_memory_budget()?;
        Ok(cfg)
    }
}

const MIB: usize = 1 << 20;

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
        let framer = record + crate::decode::framing::CHUNK * 2;
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

impl SqsConfig {
    /// The queue URL, which `trailship run` cannot do without.
    pub fn require_queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url.as_deref().ok_or_else(|| ConfigError::new("sqs.queue_url", "is required by trailship run"))
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

//! The `[opensearch]` section: the cluster, how trailship authenticates to it (none, basic,
//! SigV4 for Amazon OpenSearch Service and Serverless), TLS, and how documents are written.

use super::values::{ConfigError, validate_index_name};
use super::values::{Secret, basic_auth, check_url, int_in, non_empty, secs};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// How much time one index covers (`opensearch.index_period`). `month` is for small trails:
/// twelve indices a year instead of 365, against the cluster's shard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexPeriod {
    /// `{prefix}-YYYY.MM.DD`.
    #[default]
    Day,
    /// `{prefix}-YYYY.MM`.
    Month,
}

impl IndexPeriod {
    /// The index suffix for the UTC day `YYYY.MM.DD`.
    pub fn suffix(self, day: &str) -> &str {
        match self {
            IndexPeriod::Day => day,
            IndexPeriod::Month => day.get(..7).unwrap_or(day),
        }
    }
}

/// The OpenSearch cluster and how documents are written to it.
#[derive(Debug, Clone)]
pub struct OpenSearchConfig {
    /// Cluster URL.
    pub url: String,
    /// How requests authenticate.
    pub auth: OpenSearchAuth,
    /// A PEM bundle of the certificate authorities the cluster's certificate is checked against
    /// (beside the system's).
    pub ca_file: Option<PathBuf>,
    /// Event indices are `{index_prefix}-YYYY.MM.DD` (or `-YYYY.MM`, [`IndexPeriod`]).
    pub index_prefix: String,
    /// What one event, access log or alert index holds: a day or a month of events.
    pub index_period: IndexPeriod,
    /// Index for events that cannot be indexed.
    pub deadletter_index: String,
    /// A bulk request is cut at this many bytes.
    pub bulk_max_bytes: usize,
    /// A bulk request is cut at this many actions.
    pub bulk_max_actions: usize,
    /// Bulk requests sent at the same time.
    pub max_concurrent_requests: usize,
    /// Retries of a failed request or of throttled items before giving up on a batch.
    pub max_retries: usize,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Skip TLS certificate verification (self-signed test clusters only).
    pub tls_insecure: bool,
    /// Days an event index is kept before the ISM policy deletes it.
    pub retention_days: u32,
    /// Replicas of each shard in every index trailship creates (0 on a single-node cluster).
    pub number_of_replicas: u32,
}

/// `opensearch.auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenSearchAuth {
    /// No credentials.
    None,
    /// HTTP basic auth.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: Secret,
    },
    /// AWS Signature Version 4 with credentials from the standard AWS chain.
    SigV4 {
        /// `es` (OpenSearch Service) or `aoss` (OpenSearch Serverless).
        service: AwsService,
        /// Signing region; `None`: the AWS chain's (`AWS_REGION`, profile).
        region: Option<String>,
    },
}

/// The service a SigV4 signature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsService {
    /// Amazon OpenSearch Service (a domain).
    Es,
    /// Amazon OpenSearch Serverless (a collection).
    Aoss,
}

impl AwsService {
    /// The SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        match self {
            AwsService::Es => "es",
            AwsService::Aoss => "aoss",
        }
    }
}

impl OpenSearchConfig {
    /// The cluster is an OpenSearch Serverless collection (no ISM, no `GET /`).
    pub fn is_serverless(&self) -> bool {
        matches!(self.auth, OpenSearchAuth::SigV4 { service: AwsService::Aoss, .. })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOpenSearch {
    url: Option<String>,
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    aws_service: Option<String>,
    aws_region: Option<String>,
    ca_file: Option<String>,
    index_prefix: Option<String>,
    deadletter_index: Option<String>,
    bulk_max_bytes: Option<i64>,
    bulk_max_actions: Option<i64>,
    max_concurrent_requests: Option<i64>,
    max_retries: Option<i64>,
    request_timeout_secs: Option<i64>,
    tls_insecure: Option<bool>,
    retention_days: Option<i64>,
    number_of_replicas: Option<i64>,
    index_period: Option<String>,
}

impl RawOpenSearch {
    /// Validates the section; `default_region` is `aws.region`, the signing region's default.
    pub(super) fn validate(self, default_region: Option<&str>) -> Result<OpenSearchConfig, ConfigError> {
        let os = self;
        let url = non_empty(os.url).unwrap_or_else(|| "http://localhost:9200".to_owned());
        check_url("opensearch.url", &url)?;
        let index_prefix = os.index_prefix.unwrap_or_else(|| "cloudtrail".to_owned());
        validate_index_name("opensearch.index_prefix", &index_prefix)?;
        let index_period = match os.index_period.as_deref().map(str::trim) {
            None | Some("day") => IndexPeriod::Day,
            Some("month") => IndexPeriod::Month,
            Some(other) => {
                return Err(ConfigError::new(
                    "opensearch.index_period",
                    format!("{other:?} is neither \"day\" nor \"month\""),
                ));
            }
        };
        let deadletter_index = os.deadletter_index.unwrap_or_else(|| "trailship-deadletter".to_owned());
        validate_index_name("opensearch.deadletter_index", &deadletter_index)?;
        if deadletter_index.starts_with(&format!("{index_prefix}-")) {
            return Err(ConfigError::new(
                "opensearch.deadletter_index",
                format!("{deadletter_index:?} would fall under the event indices {index_prefix}-*"),
            ));
        }
        let (username, password) = basic_auth("opensearch", os.username, os.password)?;
        let aws_service = non_empty(os.aws_service);
        let aws_region = non_empty(os.aws_region);
        let kind = non_empty(os.auth).unwrap_or_else(|| if username.is_some() { "basic" } else { "none" }.to_owned());
        let auth = match kind.as_str() {
            "none" | "basic" if aws_service.is_some() || aws_region.is_some() => {
                let key = if aws_service.is_some() { "opensearch.aws_service" } else { "opensearch.aws_region" };
                return Err(ConfigError::new(key, "is only used with opensearch.auth = \"sigv4\""));
            }
            "none" if username.is_some() => {
                return Err(ConfigError::new(
                    "opensearch.auth",
                    "is \"none\" but opensearch.username is set: use \"basic\" or remove the username",
                ));
            }
            "none" => OpenSearchAuth::None,
            "basic" => match (username, password) {
                (Some(username), Some(password)) => OpenSearchAuth::Basic { username, password },
                _ => return Err(ConfigError::new("opensearch.username", "is required by opensearch.auth = \"basic\"")),
            },
            "sigv4" => {
                if username.is_some() {
                    return Err(ConfigError::new(
                        "opensearch.username",
                        "is not used with opensearch.auth = \"sigv4\" (credentials come from the AWS chain)",
                    ));
                }
                let service = match aws_service.as_deref().unwrap_or("es") {
                    "es" => AwsService::Es,
                    "aoss" => AwsService::Aoss,
                    other => {
                        return Err(ConfigError::new(
                            "opensearch.aws_service",
                            format!("must be \"es\" (OpenSearch Service) or \"aoss\" (Serverless), got {other:?}"),
                        ));
                    }
                };
                OpenSearchAuth::SigV4 { service, region: aws_region.or_else(|| default_region.map(str::to_owned)) }
            }
            other => {
                return Err(ConfigError::new(
                    "opensearch.auth",
                    format!("must be \"none\", \"basic\" or \"sigv4\", got {other:?}"),
                ));
            }
        };
        Ok(OpenSearchConfig {
            url,
            auth,
            ca_file: non_empty(os.ca_file).map(PathBuf::from),
            index_prefix,
            index_period,
            deadletter_index,
            bulk_max_bytes: int_in("opensearch.bulk_max_bytes", os.bulk_max_bytes, 5 << 20, 1 << 10, 100 << 20)?
                as usize,
            bulk_max_actions: int_in("opensearch.bulk_max_actions", os.bulk_max_actions, 5000, 1, 100_000)? as usize,
            max_concurrent_requests: int_in("opensearch.max_concurrent_requests", os.max_concurrent_requests, 4, 1, 64)?
                as usize,
            max_retries: int_in("opensearch.max_retries", os.max_retries, 10, 0, 100)? as usize,
            request_timeout: secs(int_in("opensearch.request_timeout_secs", os.request_timeout_secs, 60, 1, 3600)?),
            tls_insecure: os.tls_insecure.unwrap_or(false),
            retention_days: int_in("opensearch.retention_days", os.retention_days, 400, 1, 36_500)? as u32,
            number_of_replicas: int_in("opensearch.number_of_replicas", os.number_of_replicas, 1, 0, 32)? as u32,
        })
    }
}

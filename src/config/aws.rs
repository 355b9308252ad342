//! The `[aws]` section: the region and endpoint of the S3 and SQS clients (credentials come
//! from the standard AWS chain, never from the configuration).

use super::values::ConfigError;
use super::values::{check_url, non_empty};
use serde::Deserialize;

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAws {
    region: Option<String>,
    endpoint_url: Option<String>,
    s3_force_path_style: Option<bool>,
}

impl RawAws {
    /// `endpoint_from_env`: `AWS_ENDPOINT_URL` is set, which also turns path-style on.
    pub(super) fn validate(self, endpoint_from_env: bool) -> Result<AwsConfig, ConfigError> {
        let endpoint_url = non_empty(self.endpoint_url);
        if let Some(url) = &endpoint_url {
            check_url("aws.endpoint_url", url)?;
        }
        Ok(AwsConfig {
            region: non_empty(self.region),
            s3_force_path_style: self.s3_force_path_style.unwrap_or(endpoint_url.is_some() || endpoint_from_env),
            endpoint_url,
        })
    }
}

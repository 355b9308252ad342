//! The AWS clients (S3 and SQS; Organizations for account names) every command that reads a bucket or a queue builds from the
//! validated `[aws]` section, and the check that credentials can be had before the first call:
//! without any, the SDK's chain fails every call with a dump of what it tried.

use super::common::CommandError;
use crate::config::{AwsConfig, ConfigError};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use std::time::Duration;

/// Where the default credential chain looks, and how to give it credentials: the one line
/// printed when it finds none.
pub const NO_CREDENTIALS: &str = "no AWS credentials found: looked in the environment \
    (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the shared files (~/.aws/credentials and \
    ~/.aws/config, profile AWS_PROFILE or default), web identity (AWS_WEB_IDENTITY_TOKEN_FILE, as \
    EKS service accounts set it), ECS container credentials and EC2 instance metadata; provide \
    one of them: export the two variables, set AWS_PROFILE to a configured profile, or give the \
    instance, task or service account an IAM role";

/// The S3 and SQS clients. Every call has an attempt timeout: an SQS call may take the
/// long-poll wait plus 30 s (generous: a receive that times out after the queue answered leaves
/// its messages invisible until their visibility timeout), opening an object 30 s; a body being
/// streamed is watched by the worker itself (`limits.max_object_seconds`). Fails with
/// [`NO_CREDENTIALS`] when the credential chain finds nothing.
pub(crate) async fn aws_clients(
    cfg: &AwsConfig,
    wait_time: Duration,
) -> Result<(aws_sdk_s3::Client, aws_sdk_sqs::Client), CommandError> {
    let shared = shared_config(cfg).await?;
    let s3_config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(cfg.s3_force_path_style).build();
    let sqs_config = aws_sdk_sqs::config::Builder::from(&shared)
        .timeout_config(timeouts(wait_time + Duration::from_secs(30)))
        .build();
    Ok((aws_sdk_s3::Client::from_conf(s3_config), aws_sdk_sqs::Client::from_conf(sqs_config)))
}

/// The AWS Organizations client (`accounts.organizations`), its calls timing out after 30 s.
pub(crate) async fn organizations_client(cfg: &AwsConfig) -> Result<aws_sdk_organizations::Client, CommandError> {
    Ok(aws_sdk_organizations::Client::new(&shared_config(cfg).await?))
}

fn timeouts(attempt: Duration) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(attempt)
        .build()
}

/// The shared SDK configuration: region, endpoint, 30 s attempts, credentials checked.
async fn shared_config(cfg: &AwsConfig) -> Result<aws_config::SdkConfig, CommandError> {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts(Duration::from_secs(30)));
    if let Some(region) = &cfg.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &cfg.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    if shared.region().is_none() {
        return Err(ConfigError {
            key: "aws.region".into(),
            message: "not set, and AWS_REGION or the AWS profile does not say".into(),
        }
        .into());
    }
    if let Some(provider) = shared.credentials_provider() {
        check_credentials(provider.provide_credentials().await, only_instance_metadata_left())?;
    }
    Ok(shared)
}

/// Whether nothing but EC2 instance metadata is left for the chain to try: no credential or
/// profile variable, no web identity or container credentials, no shared file. Instance
/// metadata failing is then the chain finding nothing, however it fails (refused, timed out).
fn only_instance_metadata_left() -> bool {
    const VARIABLES: [&str; 6] = [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ROLE_ARN",
    ];
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let file = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(default))
            .exists()
    };
    !VARIABLES.iter().any(|v| set(v))
        && !file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
        && !file("AWS_CONFIG_FILE", "config")
}

/// The chain's answer as a command's: nothing found is [`NO_CREDENTIALS`] (with what instance
/// metadata said when it was the only source left and failed); any other failure (a profile that
/// does not parse, a role that cannot be assumed) is its own cause, one line.
fn check_credentials<T>(answer: Result<T, CredentialsError>, only_imds: bool) -> Result<(), CommandError> {
    match answer {
        Ok(_) => Ok(()),
        Err(CredentialsError::CredentialsNotLoaded(_)) => Err(anyhow::anyhow!(NO_CREDENTIALS).into()),
        Err(e) if only_imds => {
            Err(anyhow::anyhow!("{NO_CREDENTIALS} (instance metadata: {})", crate::cause::one_line(&e)).into())
        }
        Err(e) => Err(anyhow::anyhow!("cannot load AWS credentials: {}", crate::cause::one_line(&e)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_found_says_where_it_looked_in_one_line() {
        let not_loaded = || CredentialsError::not_loaded("no providers in chain provided credentials");
        let e = check_credentials::<()>(Err(not_loaded()), false).unwrap_err().to_string();
        assert_eq!(e, NO_CREDENTIALS);
        assert!(!e.contains('\n') && !e.contains('{'), "{e}");
        let refused = || CredentialsError::provider_error("failed to load IMDS session token: request forbidden");
        let e = check_credentials::<()>(Err(refused()), true).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{NO_CREDENTIALS} (instance metadata: ")), "{e}");
        assert!(e.ends_with("failed to load IMDS session token: request forbidden)"), "{e}");
        let e = check_credentials::<()>(Err(refused()), false).unwrap_err().to_string();
        assert!(e.starts_with("cannot load AWS credentials: ") && e.contains("failed to load IMDS"), "{e}");
        assert!(check_credentials(Ok(()), true).is_ok());
    }
}

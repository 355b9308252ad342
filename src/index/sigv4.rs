//! SigV4 credentials for OpenSearch (`opensearch.auth = "sigv4"`): the standard AWS chain
//! (environment, profile, web identity / IRSA, ECS and EC2 roles) behind a cache, and the
//! signing region. The signing itself is the `opensearch` crate's (`aws-auth`, on `aws-sigv4`),
//! which asks for credentials on every request: the AWS chain alone would call STS or the
//! instance metadata service each time, so credentials are kept until shortly before they
//! expire.

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use std::time::{Duration, SystemTime};

/// Credentials are renewed this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The standard chain's credentials and region for signing OpenSearch requests; `region`
/// overrides the chain's.
pub async fn from_chain(region: Option<&str>) -> anyhow::Result<(SharedCredentialsProvider, aws_config::Region)> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    let shared = loader.load().await;
    let region = shared.region().cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "opensearch.aws_region: not set, nor aws.region, and AWS_REGION or the AWS profile does not say \
             (SigV4 signs for one region)"
        )
    })?;
    let chain = shared
        .credentials_provider()
        .ok_or_else(|| anyhow::anyhow!("the AWS credentials chain is not available for opensearch.auth = \"sigv4\""))?;
    let cached = SharedCredentialsProvider::new(Cached::new(chain));
    // Asked once now, so that a machine without credentials fails at start-up with the chain's
    // own reason, not on the first request with a signing error.
    cached.provide_credentials().await.map_err(|e| {
        anyhow::anyhow!("opensearch.auth = \"sigv4\": no AWS credentials: {}", crate::cause::one_line(&e))
    })?;
    Ok((cached, region))
}

/// A credentials provider that keeps what `inner` gave until [`REFRESH_BEFORE_EXPIRY`] before
/// it expires; one caller refreshes while the others wait.
#[derive(Debug)]
pub struct Cached {
    inner: SharedCredentialsProvider,
    current: tokio::sync::Mutex<Option<Credentials>>,
}

impl Cached {
    /// Caches `inner`.
    pub fn new(inner: SharedCredentialsProvider) -> Self {
        Cached { inner, current: tokio::sync::Mutex::new(None) }
    }
}

fn fresh(credentials: &Credentials, now: SystemTime) -> bool {
    credentials.expiry().is_none_or(|expiry| expiry > now + REFRESH_BEFORE_EXPIRY)
}

impl ProvideCredentials for Cached {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut current = self.current.lock().await;
            if let Some(credentials) = current.as_ref().filter(|c| fresh(c, SystemTime::now())) {
                return Ok(credentials.clone());
            }
            let credentials = self.inner.provide_credentials().await?;
            *current = Some(credentials.clone());
            Ok(credentials)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hands out credentials that expire `lifetime` from now, counting the calls.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let expiry = self.lifetime.map(|l| SystemTime::now() + l);
            future::ProvideCredentials::ready(Ok(Credentials::new(format!("AKID{n}"), "secret", None, expiry, "test")))
        }
    }

    fn cached(lifetime: Option<Duration>) -> (Cached, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let inner = SharedCredentialsProvider::new(Counting { calls: calls.clone(), lifetime });
        (Cached::new(inner), calls)
    }

    #[tokio::test]
    async fn credentials_are_fetched_once_while_they_are_fresh() {
        let (provider, calls) = cached(Some(Duration::from_secs(3600)));
        for _ in 0..5 {
            assert_eq!(provider.provide_credentials().await.unwrap().access_key_id(), "AKID0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (provider, calls) = cached(None);
        provider.provide_credentials().await.unwrap();
        provider.provide_credentials().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "credentials without expiry are kept");
    }

    #[tokio::test]
    async fn credentials_close_to_expiry_are_renewed() {
        // Four minutes left is inside the five-minute refresh window: every call renews.
        let (provider, calls) = cached(Some(Duration::from_secs(240)));
        assert_eq!(provider.provide_credentials().await.unwrap().access_key_id(), "AKID0");
        assert_eq!(provider.provide_credentials().await.unwrap().access_key_id(), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}

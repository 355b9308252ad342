//! The S3 [`Lister`]: `ListObjectsV2`, 1000 keys a page, `ExpectedBucketOwner` when configured,
//! a timeout on every call.

use super::{ListError, ListPage, Listed, Lister, PageFuture};
use std::time::Duration;

/// How long one listing call may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Lists one bucket.
#[derive(Clone)]
pub struct S3Lister {
    /// The client.
    pub client: aws_sdk_s3::Client,
    /// The bucket.
    pub bucket: String,
    /// `sqs.expected_bucket_owner`, passed on every call.
    pub expected_bucket_owner: Option<String>,
}

impl Lister for S3Lister {
    fn list<'a>(&'a self, prefix: &'a str, delimiter: bool, token: Option<String>) -> PageFuture<'a> {
        Box::pin(self.page(prefix, delimiter, token))
    }
}

impl S3Lister {
    async fn page(&self, prefix: &str, delimiter: bool, token: Option<String>) -> Result<ListPage, ListError> {
        let fail = |message: String| ListError { bucket: self.bucket.clone(), prefix: prefix.to_owned(), message };
        let request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.then(|| "/".to_owned()))
            .set_continuation_token(token)
            .set_expected_bucket_owner(self.expected_bucket_owner.clone())
            .send();
        let out = tokio::time::timeout(LIST_TIMEOUT, request)
            .await
            .map_err(|_| fail(format!("no answer in {} s", LIST_TIMEOUT.as_secs())))?
            .map_err(|e| fail(crate::cause::one_line(&e)))?;
        let prefixes = out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)).collect();
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| Some(Listed { key: o.key()?.to_owned(), size: o.size().unwrap_or(0).max(0) as u64 }))
            .collect();
        let next =
            if out.is_truncated() == Some(true) { out.next_continuation_token().map(str::to_owned) } else { None };
        Ok(ListPage { prefixes, objects, next })
    }
}

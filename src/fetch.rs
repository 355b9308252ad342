//! Object reference → a byte stream from S3. The body is streamed, never buffered whole.

use crate::source::ObjectRef;
use aws_sdk_s3::error::DisplayErrorContext;
use tokio::io::AsyncBufRead;

/// Why an object could not be opened. The message naming it is left for redelivery.
#[derive(Debug, thiserror::Error)]
#[error("get s3://{bucket}/{key} failed: {message}")]
pub struct FetchError {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The service's explanation.
    pub message: String,
}

/// Opens `obj` for streaming.
pub async fn open(
    s3: &aws_sdk_s3::Client,
    obj: &ObjectRef,
) -> Result<impl AsyncBufRead + Send + Unpin + 'static, FetchError> {
    let out = s3.get_object().bucket(&obj.bucket).key(&obj.key).send().await.map_err(|e| FetchError {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        message: DisplayErrorContext(&e).to_string(),
    })?;
    Ok(out.body.into_async_read())
}

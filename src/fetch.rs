//! Object reference → a byte stream, behind the small [`ObjectStore`] trait (S3 is the real
//! one; the worker's unit tests use an in-memory twin). The body is streamed, never buffered
//! whole, and every read is watched: it fails once the object's deadline passes or the pipeline
//! is cancelled, so a stalled body never holds a message (or a blocking thread) for long.

use crate::source::ObjectRef;
use crate::watch::Watch;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

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
    /// Whether the object's KMS key refused the caller (the message then names `kms:Decrypt`,
    /// the key and the fix).
    pub kms_denied: bool,
}

impl FetchError {
    /// An error about `obj`.
    pub fn new(obj: &ObjectRef, message: impl Into<String>) -> Self {
        FetchError { bucket: obj.bucket.clone(), key: obj.key.clone(), message: message.into(), kms_denied: false }
    }

    /// The error the store answered for `obj` (its text in one line), said as a KMS denial
    /// when it is one.
    pub fn answered(obj: &ObjectRef, text: String) -> Self {
        match crate::kms::denial(&text) {
            Some(denial) => FetchError { kms_denied: true, ..FetchError::new(obj, denial.for_object()) },
            None => FetchError::new(obj, text),
        }
    }
}

/// A streamed object body.
pub type Body = Box<dyn AsyncRead + Send + Unpin + 'static>;

/// What the worker needs from an object store.
pub trait ObjectStore: Send + Sync + 'static {
    /// Opens `obj` for streaming.
    fn open(&self, obj: &ObjectRef) -> impl Future<Output = Result<Body, FetchError>> + Send;
}

/// How long opening an object (until its response starts) may take.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// S3, as the worker reads it.
#[derive(Clone)]
pub struct S3Store {
    /// The client.
    pub client: aws_sdk_s3::Client,
    /// Passed as `ExpectedBucketOwner` on every GetObject (`sqs.expected_bucket_owner`).
    pub expected_bucket_owner: Option<String>,
}

impl ObjectStore for S3Store {
    async fn open(&self, obj: &ObjectRef) -> Result<Body, FetchError> {
        let request = self
            .client
            .get_object()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .set_expected_bucket_owner(self.expected_bucket_owner.clone())
            .send();
        let out = tokio::time::timeout(OPEN_TIMEOUT, request)
            .await
            .map_err(|_| FetchError::new(obj, format!("no response in {} s", OPEN_TIMEOUT.as_secs())))?
            .map_err(|e| FetchError::answered(obj, crate::cause::one_line(&e)))?;
        Ok(Box::new(out.body.into_async_read()))
    }
}

/// A body whose reads fail once `watch` says stop: past the deadline (`TimedOut`) or cancelled.
pub struct Watched {
    inner: Body,
    watch: Arc<Watch>,
    timer: Pin<Box<tokio::time::Sleep>>,
    cancelled: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl Watched {
    /// Watches `inner` with `watch`.
    pub fn new(inner: Body, watch: Arc<Watch>) -> Self {
        let timer = Box::pin(tokio::time::sleep_until(watch.deadline().into()));
        let cancelled = Box::pin(watch.cancel.clone().cancelled_owned());
        Watched { inner, watch, timer, cancelled }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::other("cancelled at shutdown")));
        }
        let before = buf.filled().len();
        if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            metrics::counter!(crate::telemetry::S3_BYTES).increment((buf.filled().len() - before) as u64);
            return Poll::Ready(r);
        }
        // The deadline moves while the object waits for the indexers: follow it.
        let deadline = tokio::time::Instant::from_std(this.watch.deadline());
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            let limit = this.watch.limit.as_secs();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("object not read in {limit} s (limits.max_object_seconds)"),
            )));
        }
        Poll::Pending
    }
}

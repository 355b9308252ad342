//! Where an object comes from: an S3 object named by a notification, or a local file given to
//! `trailship ingest`. Every error and dead-letter record about an object names it through this.

use std::fmt;
use std::path::PathBuf;

/// An S3 object named by a notification (key already URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, URL-decoded.
    pub key: String,
    /// Size in bytes when the notification says it.
    pub size: Option<u64>,
}

/// The origin of a CloudTrail log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An object in S3.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// A local file.
    File(PathBuf),
}

impl From<&ObjectRef> for Origin {
    fn from(o: &ObjectRef) -> Self {
        Origin::S3 { bucket: o.bucket.clone(), key: o.key.clone() }
    }
}

impl Origin {
    /// The bucket, or `""` for a local file.
    pub fn bucket(&self) -> &str {
        match self {
            Origin::S3 { bucket, .. } => bucket,
            Origin::File(_) => "",
        }
    }

    /// The key, or the path for a local file.
    pub fn key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Origin::S3 { key, .. } => key.into(),
            Origin::File(p) => p.to_string_lossy(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

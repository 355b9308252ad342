//! What a log source is ([`LogSource`]) and what it says about a key ([`Claim`]); what sources
//! share ([`Tools`]).

use crate::config::Config;
use crate::index::bulk::Batch;
use crate::index::template::Template;
use crate::listing::{Done, ListError, Lister, Scope, Step};
use crate::source::Origin;
use crate::sources::output::{Closed, DecodeStats, Decoding, ObjectError, Watch};
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Builds a source from the configuration and the shared tools.
pub type Make = fn(&Config, &Tools) -> Arc<dyn LogSource>;

/// What sources share: GeoIP databases and the loaded Sigma rules (detections and filters).
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// GeoIP databases, when configured.
    pub geo: Option<Arc<crate::geo::GeoIp>>,
    /// The detection rules.
    pub detector: Arc<crate::detect::Detector>,
    /// The filter rules (`filter.drop`).
    pub filter: Arc<crate::detect::filter::Filter>,
    /// Account names (`accounts.*`).
    pub accounts: crate::accounts::Accounts,
}

/// What a source makes of a key or a local file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Its log, to index; the label names the kind for logs and counters (`cloudtrail`,
    /// `insight`, `s3access`).
    Index(&'static str),
    /// Its own file that holds no events (a CloudTrail digest): skipped, counted by the label.
    Skip(&'static str),
    /// Its log only if no other source claims it (a local file with an arbitrary name).
    Fallback,
    /// Not its own.
    No,
}

/// A future of a backfill walk.
pub type WalkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ListError>> + Send + 'a>>;

/// One log source.
pub trait LogSource: Send + Sync + std::fmt::Debug {
    /// A short lowercase name: logs, counters, `backfill --source`, trend indices.
    fn name(&self) -> &'static str;

    /// What this source makes of an S3 key (URL-decoded).
    fn claim_key(&self, key: &str) -> Claim;

    /// What this source makes of a local file given to `ingest`, as its path segments.
    fn claim_path(&self, parts: &[&str]) -> Claim;

    /// The prefix of its event indices (`{prefix}-YYYY.MM.DD`).
    fn index_prefix(&self) -> &str;

    /// Decodes one object (gzip or plain) and hands every full batch to `emit`.
    fn decode(
        &self,
        with: &Decoding,
        reader: Box<dyn Read + Send + '_>,
        origin: Arc<Origin>,
        watch: &Watch,
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<DecodeStats, ObjectError>;

    /// A file holding only `record` (a dead letter's copy), as this source frames its files.
    fn record_file(&self, record: &str) -> String;

    /// Whether the Sigma rules are evaluated on its records (they are written for CloudTrail).
    fn detects(&self) -> bool;

    /// Its event and trend index templates, with `replicas` replicas.
    fn templates(&self, replicas: u32) -> Vec<Template>;

    /// What its daily trends count.
    fn trends(&self) -> crate::trends::TrendShape;

    /// The listing prefix `backfill --prefix` means for this source.
    fn listing_prefix(&self, given: Option<&str>) -> String;

    /// Where its logs under `prefix` start (what the allow-list must cover).
    fn listing_root(&self, prefix: &str) -> String;

    /// Walks a bucket for `scope` and sends every object of this source not already `done`, one
    /// unit (a day prefix) at a time. Stops early (without error) when the receiver is gone.
    fn walk<'a>(
        &'a self,
        lister: &'a dyn Lister,
        scope: &'a Scope,
        done: &'a dyn Done,
        tx: &'a mpsc::Sender<Step>,
    ) -> WalkFuture<'a>;

    /// The account and region a unit of work sent by [`LogSource::walk`] belongs to, where its
    /// path says.
    fn account_and_region<'a>(&self, scope: &Scope, unit: &'a str) -> (&'a str, &'a str);
}

//! S3 server access logs: one request per line, in files S3 names
//! `…YYYY-MM-DD-HH-MM-SS-<16 alphanumerics>` (the simple layout `<prefix><name>` and the
//! date-partitioned one `<prefix><account>/<region>/<bucket>/YYYY/MM/DD/<name>` alike),
//! optionally `.gz`, never under an `AWSLogs/` directory. Keys under `s3access.prefixes` are
//! access logs whatever their names (files renamed or copied by other tools), unless another
//! source claims them.
//!
//! This folder owns the key routing and configured parts ([`source`]), the line parser
//! ([`line`]), the document ([`document`]), the file loop ([`decode`]), the listing layout
//! ([`listing`]), the templates and the trends' dimensions.

pub mod decode;
pub mod document;
pub mod line;
pub mod listing;
pub mod source;

pub use source::{S3Access, WINDOW, is_access_log_name};

use crate::config::Config;
use crate::index::template::{self, Template};
use crate::listing::{Done, Lister, Scope, Step};
use crate::sources::output::{Closed, DecodeStats, Decoding, EventWindow, ObjectError, Watch};
use crate::sources::unit::{Claim, LogSource, Tools, WalkFuture};
use crate::trends::TrendShape;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The event template (`template.json`).
pub const TEMPLATE: &str = include_str!("template.json");
/// The daily trend template (`trends-template.json`).
pub const TRENDS_TEMPLATE: &str = include_str!("trends-template.json");

/// What the daily trends count: requests and bytes sent per bucket, operation, status and
/// requester type.
pub const TRENDS: TrendShape = TrendShape {
    name: "s3access",
    dims: &["bucket", "operation", "http_status", "user.type"],
    sums: &["bytes_sent"],
    leave_out: &[],
    first_seen: false,
};

/// The source as configured.
pub fn configured(cfg: &Config, tools: &Tools) -> Arc<dyn LogSource> {
    Arc::new(S3Access {
        index_prefix: cfg.s3access.index_prefix.clone(),
        window: EventWindow {
            oldest: cfg.s3access.oldest_event_day,
            days_ahead: cfg.limits.event_days_ahead,
            ..WINDOW
        },
        forced_prefixes: cfg.s3access.prefixes.clone(),
        geo: tools.geo.clone(),
        accounts: tools.accounts.clone(),
    })
}

impl LogSource for S3Access {
    fn name(&self) -> &'static str {
        "s3access"
    }

    fn claim_key(&self, key: &str) -> Claim {
        S3Access::claim_key(self, key)
    }

    fn claim_path(&self, parts: &[&str]) -> Claim {
        S3Access::claim_path(self, parts)
    }

    fn index_prefix(&self) -> &str {
        &self.index_prefix
    }

    fn decode(
        &self,
        with: &Decoding,
        reader: Box<dyn std::io::Read + Send + '_>,
        origin: Arc<crate::source::Origin>,
        watch: &Watch,
        emit: &mut dyn FnMut(crate::index::bulk::Batch) -> Result<(), Closed>,
    ) -> Result<DecodeStats, ObjectError> {
        decode::decode(self, with, reader, origin, watch, emit)
    }

    fn record_file(&self, record: &str) -> String {
        record.to_owned()
    }

    fn detects(&self) -> bool {
        false
    }

    fn templates(&self, replicas: u32) -> Vec<Template> {
        template::source_templates(TEMPLATE, TRENDS_TEMPLATE, &self.index_prefix, replicas)
    }

    fn trends(&self) -> TrendShape {
        TRENDS
    }

    fn listing_prefix(&self, given: Option<&str>) -> String {
        // S3 writes access logs to `<target prefix><name>`: the prefix is taken as written.
        given.unwrap_or_default().trim_start_matches('/').to_owned()
    }

    fn listing_root(&self, prefix: &str) -> String {
        prefix.to_owned()
    }

    fn walk<'a>(
        &'a self,
        lister: &'a dyn Lister,
        scope: &'a Scope,
        done: &'a dyn Done,
        tx: &'a mpsc::Sender<Step>,
    ) -> WalkFuture<'a> {
        Box::pin(listing::walk(self, lister, scope, done, tx))
    }

    fn account_and_region<'a>(&self, scope: &Scope, unit: &'a str) -> (&'a str, &'a str) {
        listing::account_and_region(scope, unit)
    }
}

#[cfg(test)]
mod tests;

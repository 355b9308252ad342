//! CloudTrail logs, as S3 delivers them: `{"Records":[…]}` files under
//! `[prefix/]AWSLogs/[org-id/]<account>/<kind>/<region>/<yyyy>/<mm>/<dd>/<file>`, where
//! `<kind>` is `CloudTrail`, `CloudTrail-Insight` (indexed) or `CloudTrail-Digest` (integrity
//! proofs, skipped). The first such segment after an `AWSLogs` segment decides, so custom
//! prefixes and organization trails route the same way; file names are not trusted (gzip is
//! sniffed).
//!
//! This folder owns the key routing ([`keys`]), the framing ([`framing`], [`compact`]), the
//! record loop with detection ([`decode`]), the document ([`enrich`], whose schema is
//! `template.json`), the trail's listing layout ([`listing`]), its configured parts
//! ([`source`]) and the trends' dimensions.

pub mod compact;
pub mod decode;
pub mod dropped;
pub mod enrich;
pub mod framing;
pub mod keys;
pub mod listing;
pub mod shapes;
pub mod source;

pub use keys::{claim_key, claim_path};
pub use source::{CloudTrail, WINDOW};

use crate::config::Config;
use crate::index::template::{self, Template};
use crate::listing::{Done, Lister, Scope, Step};
use crate::sources::output::{Closed, DecodeStats, Decoding, EventWindow, ObjectError, Watch};
use crate::sources::unit::{Claim, LogSource, Tools, WalkFuture};
use crate::trends::TrendShape;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The daily trend template (`trends-template.json`).
pub const TRENDS_TEMPLATE: &str = include_str!("trends-template.json");

/// What the daily trends count: calls per account, region, service, API, outcome, error and
/// identity type. Insight events describe unusual call rates; they are not calls themselves.
pub const TRENDS: TrendShape = TrendShape {
    name: "cloudtrail",
    dims: &[
        "cloud.account.id",
        "cloud.region",
        "eventSource",
        "eventName",
        "event.outcome",
        "errorCode",
        "userIdentity.type",
    ],
    sums: &[],
    leave_out: &[("eventCategory", "Insight")],
    first_seen: true,
};

/// The source as configured.
pub fn configured(cfg: &Config, tools: &Tools) -> Arc<dyn LogSource> {
    Arc::new(CloudTrail {
        index_prefix: cfg.opensearch.index_prefix.clone(),
        window: EventWindow { oldest: cfg.limits.oldest_event_day, days_ahead: cfg.limits.event_days_ahead, ..WINDOW },
        enricher: enrich::Enricher::with_geoip(tools.geo.clone()).with_accounts(tools.accounts.clone()),
        detector: tools.detector.clone(),
        filter: tools.filter.clone(),
        alerts_index_prefix: cfg.alerts.index_prefix.clone(),
        group_levels: cfg.alerts.group_levels.clone(),
    })
}

impl LogSource for CloudTrail {
    fn name(&self) -> &'static str {
        "cloudtrail"
    }

    fn claim_key(&self, key: &str) -> Claim {
        claim_key(key)
    }

    fn claim_path(&self, parts: &[&str]) -> Claim {
        claim_path(parts)
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
        format!("[{record}]")
    }

    fn detects(&self) -> bool {
        true
    }

    fn templates(&self, replicas: u32) -> Vec<Template> {
        template::source_templates(enrich::TEMPLATE, TRENDS_TEMPLATE, &self.index_prefix, replicas)
    }

    fn trends(&self) -> TrendShape {
        TRENDS
    }

    fn listing_prefix(&self, given: Option<&str>) -> String {
        match given.map(|p| p.trim_matches('/')) {
            None | Some("") => String::new(),
            Some(p) => format!("{p}/"),
        }
    }

    fn listing_root(&self, prefix: &str) -> String {
        format!("{prefix}AWSLogs/")
    }

    fn walk<'a>(
        &'a self,
        lister: &'a dyn Lister,
        scope: &'a Scope,
        done: &'a dyn Done,
        tx: &'a mpsc::Sender<Step>,
    ) -> WalkFuture<'a> {
        Box::pin(listing::walk(lister, scope, done, tx))
    }

    fn account_and_region<'a>(&self, _: &Scope, unit: &'a str) -> (&'a str, &'a str) {
        listing::account_and_region(unit)
    }
}

#[cfg(test)]
mod tests;

//! Log sources. Each source is one folder that owns everything about its logs: which keys and
//! local files are its own, how a file is framed and each record becomes a document, its index
//! template, its plausible event times, how a bucket's history of it is laid out for `backfill`,
//! and what its daily trends count. The rest of trailship asks the [`Sources`] and never names a
//! source; adding one is a folder implementing [`LogSource`] and a line in [`REGISTRY`].
//!
//! What a source is, is in [`unit`]; what every source decodes into (batches, counts, dead
//! letters, errors) is in [`output`].

pub mod cloudtrail;
pub mod output;
pub mod s3access;
pub mod unit;

use crate::config::Config;
use crate::index::template::Template;
use std::path::Path;
use std::sync::Arc;
pub use unit::{Claim, LogSource, Make, Tools};

/// The configured log sources, in the order keys are offered to them.
pub const REGISTRY: &[Make] = &[cloudtrail::configured, s3access::configured];

/// Where an object goes.
#[derive(Debug, Clone)]
pub enum Routed {
    /// To this source, under this kind label.
    Index(Arc<dyn LogSource>, &'static str),
    /// Nowhere: a file that holds no events (the label says what), or nobody's (`other`).
    Skip(&'static str),
}

/// The configured sources.
#[derive(Debug, Clone)]
pub struct Sources {
    list: Vec<Arc<dyn LogSource>>,
}

impl Sources {
    /// These sources, in this order.
    pub fn new(list: Vec<Arc<dyn LogSource>>) -> Self {
        Sources { list }
    }

    /// Every source of [`REGISTRY`], configured.
    pub fn configured(cfg: &Config, tools: &Tools) -> Self {
        Sources { list: REGISTRY.iter().map(|make| make(cfg, tools)).collect() }
    }

    /// The sources, in registry order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn LogSource>> {
        self.list.iter()
    }

    /// The source named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn LogSource>> {
        self.list.iter().find(|s| s.name() == name)
    }

    /// The names, in registry order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|s| s.name()).collect()
    }

    /// Where an S3 key (URL-decoded) goes.
    pub fn route_key(&self, key: &str) -> Routed {
        self.route(|s| s.claim_key(key))
    }

    /// Where a local file given to `ingest` goes.
    pub fn route_path(&self, path: &Path) -> Routed {
        let parts: Vec<&str> = path.components().filter_map(|c| c.as_os_str().to_str()).collect();
        self.route(|s| s.claim_path(&parts))
    }

    /// The first source that claims the object for sure, else the first fallback.
    fn route(&self, claim: impl Fn(&dyn LogSource) -> Claim) -> Routed {
        let mut fallback = None;
        for source in &self.list {
            match claim(source.as_ref()) {
                Claim::Index(kind) => return Routed::Index(source.clone(), kind),
                Claim::Skip(what) => return Routed::Skip(what),
                Claim::Fallback if fallback.is_none() => fallback = Some(source.clone()),
                Claim::Fallback | Claim::No => {}
            }
        }
        match fallback {
            Some(source) => Routed::Index(source.clone(), source.name()),
            None => Routed::Skip("other"),
        }
    }

    /// The event index prefixes, in registry order.
    pub fn index_prefixes(&self) -> Vec<String> {
        self.list.iter().map(|s| s.index_prefix().to_owned()).collect()
    }

    /// Every source's event and trend templates.
    pub fn templates(&self, replicas: u32) -> Vec<Template> {
        self.list.iter().flat_map(|s| s.templates(replicas)).collect()
    }

    /// Every source's daily trends, naming accounts with `accounts`.
    pub fn trend_specs(
        &self,
        period: crate::config::IndexPeriod,
        accounts: &crate::accounts::Accounts,
    ) -> Vec<crate::trends::Spec> {
        self.list
            .iter()
            .map(|s| crate::trends::Spec {
                shape: s.trends(),
                event_prefix: s.index_prefix().to_owned(),
                period,
                accounts: accounts.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

//! Filters before indexing (`filter.drop`): Sigma detection rules, read and evaluated by the
//! same engine and with the same field names as the detections, whose matching CloudTrail
//! events are not indexed. Each rule counts the events it dropped (the first rule in load order
//! that matches takes the event). A filter file must hold CloudTrail detection rules only: a
//! correlation, a Sigma filter or a rule for another log source in it is an error naming the
//! file, since it would drop nothing its author meant it to.

use super::rules::{LoadError, is_cloudtrail, one_line, parse, sources};
use super::{Detector, Match};
use crate::decode::RawEvent;
use rsigma_eval::compile_rule;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The loaded filter rules and what each dropped so far.
#[derive(Debug, Default)]
pub struct Filter {
    rules: Detector,
    dropped: Vec<AtomicU64>,
}

impl Filter {
    /// Loads the rule files and directories of `paths` (directories recursively, `*.yml` /
    /// `*.yaml`, in name order).
    pub fn load(paths: &[PathBuf]) -> Result<Filter, LoadError> {
        Self::from_sources(sources(false, paths)?)
    }

    /// Loads rules from (name, YAML) sources, in order.
    pub(crate) fn from_sources(sources: Vec<(String, String, bool)>) -> Result<Filter, LoadError> {
        let mut rules = Detector::default();
        for (name, text, _) in sources {
            let invalid = |reason: String| LoadError::Invalid { path: name.clone(), reason: one_line(&reason) };
            let collection = parse(&name, &text)?;
            if let Some(c) = collection.correlations.first() {
                return Err(invalid(format!(
                    "correlation rule {:?}: a filter drops single events, write detection rules",
                    c.title
                )));
            }
            if !collection.filters.is_empty() {
                return Err(invalid("sigma filter rules do not drop events here, write detection rules".into()));
            }
            if collection.rules.is_empty() {
                return Err(invalid("no rule in it".into()));
            }
            for rule in &collection.rules {
                if !is_cloudtrail(rule) {
                    return Err(invalid(format!(
                        "rule {:?} is not for cloudtrail records (logsource product: aws, service: cloudtrail)",
                        rule.title
                    )));
                }
                let compiled = compile_rule(rule).map_err(|e| invalid(format!("rule {:?}: {e}", rule.title)))?;
                rules.push(rule, compiled);
            }
        }
        let dropped = (0..rules.rule_count()).map(|_| AtomicU64::new(0)).collect();
        Ok(Filter { rules, dropped })
    }

    /// Whether no rule is loaded (nothing is dropped).
    pub fn is_empty(&self) -> bool {
        self.rules.rule_count() == 0
    }

    /// How many rules are loaded.
    pub fn rule_count(&self) -> usize {
        self.rules.rule_count()
    }

    /// The position of the rule that drops `record`, if one does.
    pub fn dropping(&self, record: &RawEvent<'_>) -> Option<usize> {
        self.rules.first_match(record)
    }

    /// The rule at `position` (as [`Filter::dropping`] gives it).
    pub fn rule(&self, position: usize) -> &Match {
        &self.rules.rules[position].2
    }

    /// Adds one object's counts (per rule position) to the totals and the metric.
    pub fn add(&self, counts: &[u64]) {
        for (i, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            self.dropped[i].fetch_add(n, Ordering::Relaxed);
            let rule = self.rule(i);
            metrics::counter!(crate::telemetry::DROPPED, "rule" => rule.id.clone(), "name" => rule.title.clone())
                .increment(n);
        }
    }

    /// Each rule with what it dropped so far, in load order.
    pub fn totals(&self) -> Vec<(&Match, u64)> {
        (0..self.rule_count()).map(|i| (self.rule(i), self.dropped[i].load(Ordering::Relaxed))).collect()
    }

    /// `; 812 dropped by filters (S3 object reads 700, Describe calls 112)`, or nothing without
    /// filter rules.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let totals = self.totals();
        let all: u64 = totals.iter().map(|(_, n)| n).sum();
        let mut ranked: Vec<_> = totals.into_iter().filter(|(_, n)| *n > 0).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.title.cmp(&b.0.title)));
        let parts: Vec<String> = ranked.iter().map(|(m, n)| format!("{} {n}", m.title)).collect();
        if parts.is_empty() {
            format!("; {all} dropped by filters")
        } else {
            format!("; {all} dropped by filters ({})", parts.join(", "))
        }
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;

//! Detections at ingest: Sigma rules (SigmaHQ format) over every CloudTrail record, compiled
//! and evaluated by the `rsigma-eval` crate against the raw record (field names as CloudTrail
//! writes them). This module loads the rules ([`rules`]), indexes them by the `eventName` they
//! require so an event is checked only against the rules it could match ([`index`], its maps
//! keyed ignoring ASCII case without lowercasing the key: `caseless`; the text a regular
//! expression's every match holds: `literals`; its field searches kept per thread for a text
//! met again: `memo`), adapts a
//! borrowed record to the evaluator ([`event`]), answers yes or no per rule without the engine's
//! match report ([`eval`]) and says which rules matched. Pure once loaded.

mod caseless;
pub mod correlation;
pub mod eval;
pub mod event;
pub mod filter;
pub mod index;
mod literals;
mod memo;
pub mod rules;

use crate::decode::RawEvent;
use rsigma_eval::CompiledRule;
use rsigma_eval::compiler::eval_condition;
#[cfg(test)]
use rsigma_eval::evaluate_rule;
use rsigma_parser::Level as SigmaLevel;
use std::cell::RefCell;
use std::sync::Arc;

/// A rule's severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `informational`.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Level {
    /// The level as Sigma spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// A level as written in a config (`high`, `critical`, …).
    pub fn parse(text: &str) -> Option<Level> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    fn from_sigma(level: Option<&SigmaLevel>) -> Level {
        match level {
            Some(SigmaLevel::Low) => Level::Low,
            Some(SigmaLevel::Medium) => Level::Medium,
            Some(SigmaLevel::High) => Level::High,
            Some(SigmaLevel::Critical) => Level::Critical,
            // A rule without a level says nothing about severity.
            Some(SigmaLevel::Informational) | None => Level::Informational,
        }
    }
}

/// One rule that matched one record (cheap to clone: one count on what the rule reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match(Arc<Reported>);

/// What a rule reports when it matches, written once when the rule is loaded.
#[derive(Debug, PartialEq, Eq)]
pub struct Reported {
    /// The rule's `id` (or, for a rule without one, `title:<title>`).
    pub id: String,
    /// The rule's `title`.
    pub title: String,
    /// The rule's `level`.
    pub level: Level,
    /// The rule's `tags` (`attack.t1078`, …).
    pub tags: Vec<String>,
    /// The alert document's `"rule":{"id":…,"name":…,"level":…,"tags":[…]}`, escaped once.
    pub alert_json: String,
    /// `id` as a JSON string literal, escaped once.
    pub id_json: String,
    /// `title` as a JSON string literal, escaped once.
    pub title_json: String,
    /// The rule's own choice of grouping (`trailship.group: true|false`); `None` leaves it to
    /// `alerts.group_levels`.
    pub group: Option<bool>,
    /// Whether its matches make no alert of their own: a rule a correlation references without
    /// `generate: true`. The events still carry its id.
    pub silent: bool,
    /// Whether a correlation counts its matches (from the indexed events that carry its id).
    pub correlated: bool,
}

impl std::ops::Deref for Match {
    type Target = Reported;

    fn deref(&self) -> &Reported {
        &self.0
    }
}

impl Match {
    /// Whether this rule's matches are grouped rather than alerted one by one: the rule's own
    /// choice, else whether its level is one of `levels` (`alerts.group_levels`).
    pub fn is_grouped(&self, levels: &[Level]) -> bool {
        self.group.unwrap_or_else(|| levels.contains(&self.level))
    }

    /// The match a rule reports.
    pub fn new(id: &str, title: &str, level: Level, tags: Vec<String>) -> Match {
        Match::grouped(id, title, level, tags, None)
    }

    /// The match a rule reports, with the rule's own choice of grouping.
    pub fn grouped(id: &str, title: &str, level: Level, tags: Vec<String>, group: Option<bool>) -> Match {
        use crate::json::write_str;
        let literal = |s: &str| {
            let mut out = Vec::new();
            write_str(&mut out, s);
            // JSON written from a string: valid UTF-8.
            String::from_utf8(out).unwrap_or_default()
        };
        let (id_json, title_json) = (literal(id), literal(title));
        let mut json = b"\"rule\":{\"id\":".to_vec();
        json.extend_from_slice(id_json.as_bytes());
        json.extend_from_slice(b",\"name\":");
        json.extend_from_slice(title_json.as_bytes());
        json.extend_from_slice(b",\"level\":");
        write_str(&mut json, level.as_str());
        json.extend_from_slice(b",\"tags\":[");
        for (i, tag) in tags.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            write_str(&mut json, tag);
        }
        json.extend_from_slice(b"]}");
        Match(Arc::new(Reported {
            id: id.into(),
            title: title.into(),
            level,
            tags,
            // JSON written from strings: valid UTF-8.
            alert_json: String::from_utf8(json).unwrap_or_default(),
            id_json,
            title_json,
            group,
            silent: false,
            correlated: false,
        }))
    }

    /// The same match, counted by a correlation, and with `silent` making no alert of its own.
    fn correlated(&self, silent: bool) -> Match {
        let r = &self.0;
        Match(Arc::new(Reported {
            id: r.id.clone(),
            title: r.title.clone(),
            level: r.level,
            tags: r.tags.clone(),
            alert_json: r.alert_json.clone(),
            id_json: r.id_json.clone(),
            title_json: r.title_json.clone(),
            group: r.group,
            silent: r.silent || silent,
            correlated: true,
        }))
    }

    /// Whether the alerts of this match are made from the indexed event that carries its id
    /// (a grouped rule's, or a correlation's), so the event must be indexed for them.
    pub fn needs_event(&self, group_levels: &[Level]) -> bool {
        self.correlated || (!self.silent && self.is_grouped(group_levels))
    }
}

/// The loaded rules, ready to evaluate records: each compiled, with the match it reports.
#[derive(Default)]
pub struct Detector {
    /// Each rule, its yes-or-no program where it has one, and what it reports.
    rules: Vec<(CompiledRule, Option<eval::Program>, Match)>,
    index: index::NameIndex,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("rules", &self.rules.len()).field("always", &self.index.always()).finish()
    }
}

thread_local! {
    static CANDIDATES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    static SELECTIONS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl Detector {
    /// Adds a compiled rule, indexed by what its source requires.
    fn push(&mut self, source: &rsigma_parser::SigmaRule, rule: CompiledRule) {
        self.index.add(self.rules.len(), source);
        let id = rule.id.clone().unwrap_or_else(|| format!("title:{}", rule.title));
        let group = source.custom_attributes.get("trailship.group").and_then(|v| v.as_bool());
        let reported =
            Match::grouped(&id, &rule.title, Level::from_sigma(rule.level.as_ref()), rule.tags.clone(), group);
        let program = eval::Program::new(&rule);
        self.rules.push((rule, program, reported));
    }

    /// Marks the rules with these ids as counted by a correlation, and those in `silent` as
    /// making no alert of their own (see [`Reported::silent`]).
    fn correlate(&mut self, ids: &std::collections::BTreeSet<String>, silent: &std::collections::BTreeSet<String>) {
        for (_, _, reported) in &mut self.rules {
            if ids.contains(&reported.id) {
                *reported = reported.correlated(silent.contains(&reported.id));
            }
        }
    }

    /// What each loaded rule reports when it matches, in load order.
    pub fn reported(&self) -> impl Iterator<Item = &Match> {
        self.rules.iter().map(|(_, _, reported)| reported)
    }

    /// Whether `rule` matches `event`: by its program, or where it has none, its conditions as
    /// the engine's `evaluate_rule` checks them, without building the engine's match report.
    fn holds(rule: &CompiledRule, program: Option<&eval::Program>, event: &event::RecordEvent<'_, '_>) -> bool {
        if let Some(program) = program {
            return program.holds(event);
        }
        SELECTIONS.with_borrow_mut(|selections| {
            rule.conditions.iter().any(|c| {
                selections.clear();
                eval_condition(c, &rule.detections, event, selections)
            })
        })
    }

    /// The rules that match `record`, most severe first (then by title).
    pub fn matches(&self, record: &RawEvent<'_>) -> Vec<Match> {
        let mut out = Vec::new();
        self.matches_into(record, &mut out);
        out
    }

    /// [`Detector::matches`], into `out` (cleared first): a decoder reuses one vector for
    /// every record instead of allocating one per matching record.
    pub fn matches_into(&self, record: &RawEvent<'_>, out: &mut Vec<Match>) {
        out.clear();
        if self.rules.is_empty() {
            return;
        }
        let name = record.get_str("eventName");
        CANDIDATES.with_borrow_mut(|candidates| {
            self.index.candidates(record, name.as_deref(), candidates);
            if candidates.is_empty() {
                // Most events: no rule is written for them, nothing to set up.
                return;
            }
            let event = event::RecordEvent::new(record);
            out.extend(
                candidates
                    .iter()
                    .map(|&i| &self.rules[i])
                    .filter(|(rule, program, _)| Self::holds(rule, program.as_ref(), &event))
                    .map(|(_, _, reported)| reported.clone()),
            );
        });
        if out.len() > 1 {
            out.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.title.cmp(&b.title)));
        }
    }

    /// The position (load order) of the first rule that matches `record`, if one does.
    pub fn first_match(&self, record: &RawEvent<'_>) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        let name = record.get_str("eventName");
        CANDIDATES.with_borrow_mut(|candidates| {
            self.index.candidates(record, name.as_deref(), candidates);
            if candidates.is_empty() {
                return None;
            }
            candidates.sort_unstable();
            let event = event::RecordEvent::new(record);
            candidates.iter().copied().find(|&i| {
                let (rule, program, _) = &self.rules[i];
                Self::holds(rule, program.as_ref(), &event)
            })
        })
    }

    /// The ids of the rules that match `record`, every rule evaluated (the index's reference).
    #[cfg(test)]
    fn matches_without_index(&self, record: &RawEvent<'_>) -> Vec<String> {
        let event = event::RecordEvent::new(record);
        let mut ids: Vec<String> = self
            .rules
            .iter()
            .filter_map(|(r, _, _)| evaluate_rule(r, &event))
            .filter_map(|r| r.header.rule_id)
            .collect();
        ids.sort();
        ids
    }

    /// How many rules are loaded.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// How many of them every event is checked against (nothing they require to look first).
    pub fn unindexed(&self) -> usize {
        self.index.always()
    }
}

#[cfg(test)]
#[path = "semantics_tests.rs"]
mod semantics_tests;

#[cfg(test)]
#[path = "builtin_tests.rs"]
mod builtin_tests;

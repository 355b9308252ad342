//! Whether a compiled rule matches an event, as a yes or no: the rule's conditions resolved once
//! against its detections (names to positions, `1 of selection_*` to the positions it covers),
//! then walked with the `rsigma-eval` matchers. The engine's own entry points hash every
//! detection name per evaluation, collect the names of the selections that matched, and lowercase
//! every case-insensitive haystack into a new `String`; here an ASCII haystack (what CloudTrail
//! fields hold) is compared without allocating and everything else is left to the engine's
//! matcher, so the verdict is the engine's. A rule using what this walk does not cover (array
//! quantifiers, conditional sub-rules) is not resolved and stays on the engine's path. Pure.

use rsigma_eval::event::{Event, EventValue};
use rsigma_eval::matcher::{CompiledMatcher, GroupMode};
use rsigma_eval::{CompiledDetection, CompiledDetectionItem, CompiledRule};
use rsigma_parser::ast::{ConditionExpr, Quantifier};
use std::cell::RefCell;

/// A rule's conditions over positions in its detections.
#[derive(Debug)]
pub struct Program {
    conditions: Vec<Cond>,
    detections: Vec<CompiledDetection>,
}

#[derive(Debug)]
enum Cond {
    /// A detection, by position.
    Detection(usize),
    /// A name the rule does not define (the engine treats it as false).
    Undefined,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `1 of` / `all of` / `N of` the detections at these positions.
    Selector(Quantifier, Vec<usize>),
}

impl Program {
    /// The rule's program, or `None` when it uses what this walk leaves to the engine.
    pub fn new(rule: &CompiledRule) -> Option<Program> {
        let mut names: Vec<&String> = rule.detections.keys().collect();
        names.sort();
        let detections: Vec<CompiledDetection> = names.iter().map(|n| rule.detections[*n].clone()).collect();
        if !detections.iter().all(covered) {
            return None;
        }
        let position = |name: &str| names.binary_search_by(|n| n.as_str().cmp(name)).ok();
        let conditions = rule.conditions.iter().map(|c| resolve(c, &names, &position)).collect();
        Some(Program { conditions, detections })
    }

    /// Whether some condition holds for `event`.
    pub fn holds(&self, event: &impl Event) -> bool {
        self.conditions.iter().any(|c| self.condition(c, event))
    }

    fn condition(&self, c: &Cond, event: &impl Event) -> bool {
        match c {
            Cond::Detection(i) => detection(&self.detections[*i], event),
            Cond::Undefined => false,
            Cond::And(all) => all.iter().all(|c| self.condition(c, event)),
            Cond::Or(any) => any.iter().any(|c| self.condition(c, event)),
            Cond::Not(inner) => !self.condition(inner, event),
            Cond::Selector(quantifier, positions) => {
                let mut holding = positions.iter().filter(|&&i| detection(&self.detections[i], event));
                match quantifier {
                    Quantifier::Any => holding.next().is_some(),
                    Quantifier::All => holding.count() == positions.len(),
                    Quantifier::Count(0) => true,
                    Quantifier::Count(n) => holding.nth(usize::try_from(*n - 1).unwrap_or(usize::MAX)).is_some(),
                }
            }
        }
    }
}

fn resolve(c: &ConditionExpr, names: &[&String], position: &impl Fn(&str) -> Option<usize>) -> Cond {
    match c {
        ConditionExpr::Identifier(name) => position(name).map_or(Cond::Undefined, Cond::Detection),
        ConditionExpr::And(all) => Cond::And(all.iter().map(|c| resolve(c, names, position)).collect()),
        ConditionExpr::Or(any) => Cond::Or(any.iter().map(|c| resolve(c, names, position)).collect()),
        ConditionExpr::Not(inner) => Cond::Not(Box::new(resolve(inner, names, position))),
        ConditionExpr::Selector { quantifier, pattern } => Cond::Selector(
            quantifier.clone(),
            (0..names.len()).filter(|&i| pattern.matches_detection_name(names[i])).collect(),
        ),
    }
}

/// Whether this walk evaluates `d` (array quantifiers and conditional sub-rules it does not).
fn covered(d: &CompiledDetection) -> bool {
    match d {
        CompiledDetection::AllOf(_) | CompiledDetection::Keywords(_) => true,
        CompiledDetection::AnyOf(all) | CompiledDetection::And(all) => all.iter().all(covered),
        CompiledDetection::ArrayMatch { .. } | CompiledDetection::Conditional { .. } => false,
    }
}

fn detection(d: &CompiledDetection, event: &impl Event) -> bool {
    match d {
        CompiledDetection::AllOf(items) => items.iter().all(|item| self::item(item, event)),
        CompiledDetection::AnyOf(any) => any.iter().any(|d| detection(d, event)),
        CompiledDetection::And(all) => all.iter().all(|d| detection(d, event)),
        CompiledDetection::Keywords(matcher) => matcher.matches_keyword(event),
        // Not resolved (see `covered`).
        CompiledDetection::ArrayMatch { .. } | CompiledDetection::Conditional { .. } => false,
    }
}

/// One `field|modifiers: values` line, as the engine evaluates it without a bloom filter.
fn item(item: &CompiledDetectionItem, event: &impl Event) -> bool {
    if let Some(expect) = item.exists {
        return match &item.field {
            Some(field) => event.get_field(field).is_some_and(|v| !v.is_null()) == expect,
            None => !expect,
        };
    }
    match &item.field {
        Some(field) => match event.get_field(field) {
            Some(value) => matches(&item.matcher, &value, event),
            None => matches!(item.matcher, CompiledMatcher::Null),
        },
        None => item.matcher.matches_keyword(event),
    }
}

thread_local! {
    /// An ASCII haystack lowercased, reused from match to match.
    static LOWERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `m.matches(value, event)`, without allocating for an ASCII string under a case-insensitive
/// string matcher (the compiled needles are lowercase already).
fn matches(m: &CompiledMatcher, value: &EventValue<'_>, event: &impl Event) -> bool {
    let ascii = match value {
        EventValue::Str(s) if s.is_ascii() => Some(s.as_bytes()),
        _ => None,
    };
    match (m, ascii) {
        (CompiledMatcher::AnyOf(any), _) => any.iter().any(|m| matches(m, value, event)),
        (CompiledMatcher::AllOf(all), _) => all.iter().all(|m| matches(m, value, event)),
        (CompiledMatcher::Not(inner), _) => !matches(inner, value, event),
        (CompiledMatcher::Exact { value: want, case_insensitive: true }, Some(s)) => {
            s.eq_ignore_ascii_case(want.as_bytes())
        }
        (CompiledMatcher::StartsWith { value: prefix, case_insensitive: true }, Some(s)) => {
            s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        }
        (CompiledMatcher::EndsWith { value: suffix, case_insensitive: true }, Some(s)) => {
            s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        }
        (CompiledMatcher::Contains { value: needle, case_insensitive: true }, Some(s)) => {
            lowered(s, |s| memchr::memmem::find(s.as_bytes(), needle.as_bytes()).is_some())
        }
        (CompiledMatcher::AhoCorasickSet { automaton, case_insensitive: true, .. }, Some(s)) => {
            lowered(s, |s| automaton.is_match(s))
        }
        (CompiledMatcher::CaseInsensitiveGroup { children, mode }, Some(s)) => lowered(s, |s| match mode {
            GroupMode::Any => children.iter().any(|c| pre_lowered(c, s)),
            GroupMode::All => children.iter().all(|c| pre_lowered(c, s)),
        }),
        _ => m.matches(value, event),
    }
}

/// `f` of the ASCII `s` lowercased.
fn lowered(s: &[u8], f: impl FnOnce(&str) -> bool) -> bool {
    LOWERED.with_borrow_mut(|buf| {
        buf.clear();
        buf.extend_from_slice(s);
        buf.make_ascii_lowercase();
        // Lowercased ASCII is ASCII.
        std::str::from_utf8(buf).is_ok_and(f)
    })
}

/// A child of a case-insensitive group against the lowercased haystack, as the engine's
/// `matches_pre_lowered` does it (the compiler only groups matchers listed here).
fn pre_lowered(m: &CompiledMatcher, s: &str) -> bool {
    match m {
        CompiledMatcher::Contains { value, case_insensitive: true } => s.contains(value.as_str()),
        CompiledMatcher::StartsWith { value, case_insensitive: true } => s.starts_with(value.as_str()),
        CompiledMatcher::EndsWith { value, case_insensitive: true } => s.ends_with(value.as_str()),
        CompiledMatcher::Exact { value, case_insensitive: true } => s == value,
        CompiledMatcher::Regex(re) => re.is_match(s),
        CompiledMatcher::AhoCorasickSet { automaton, case_insensitive: true, .. } => automaton.is_match(s),
        CompiledMatcher::RegexSetMatch { set, mode } => match mode {
            GroupMode::Any => set.is_match(s),
            GroupMode::All => set.matches(s).iter().count() == set.len(),
        },
        CompiledMatcher::Not(inner) => !pre_lowered(inner, s),
        CompiledMatcher::AnyOf(any) => any.iter().any(|m| pre_lowered(m, s)),
        CompiledMatcher::AllOf(all) => all.iter().all(|m| pre_lowered(m, s)),
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => match mode {
            GroupMode::Any => children.iter().any(|c| pre_lowered(c, s)),
            GroupMode::All => children.iter().all(|c| pre_lowered(c, s)),
        },
        // What the engine answers for a matcher it never groups.
        _ => false,
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;

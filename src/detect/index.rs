//! Which rules an event can match, by its `eventName`: each rule is analysed once for the
//! `eventName` values every match of it requires (an exact, case-insensitive value list, no
//! wildcards or modifiers, reached through `and`, `or`, `1 of` / `all of` and the detection's
//! maps and lists; `not` gives nothing). Rules with such a set are looked up by the event's
//! name; the others are evaluated for every event. Sound: it only leaves out a rule that cannot
//! match. (The engine's own index would key most EC2 rules on `eventSource: ec2.amazonaws.com`,
//! the smaller value set, and evaluate all of them for every EC2 call.) Pure.

use rsigma_parser::ast::{ConditionExpr, Detection, Detections, Quantifier, SelectorPattern};
use rsigma_parser::{SigmaRule, SigmaValue, StringPart, detection_name_matches};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// Rule positions by the lowercased `eventName` they require, and those that require none.
#[derive(Debug, Default)]
pub struct NameIndex {
    by_name: FxHashMap<String, Vec<usize>>,
    always: Vec<usize>,
}

impl NameIndex {
    /// Adds rule `position`.
    pub fn add(&mut self, position: usize, rule: &SigmaRule) {
        match required_names(rule) {
            Some(names) => {
                for name in names {
                    self.by_name.entry(name).or_default().push(position);
                }
            }
            None => self.always.push(position),
        }
    }

    /// The rules worth evaluating for an event named `event_name`, in load order.
    pub fn candidates(&self, event_name: Option<&str>, out: &mut Vec<usize>) {
        out.clear();
        out.extend_from_slice(&self.always);
        if let Some(name) = event_name {
            let mut buf = [0u8; 128];
            let lower = if name.len() <= buf.len() && name.is_ascii() {
                buf[..name.len()].copy_from_slice(name.as_bytes());
                buf[..name.len()].make_ascii_lowercase();
                std::str::from_utf8(&buf[..name.len()]).ok().map(std::borrow::Cow::Borrowed)
            } else {
                Some(std::borrow::Cow::Owned(name.to_lowercase()))
            };
            if let Some(hits) = lower.and_then(|l| self.by_name.get(l.as_ref())) {
                out.extend_from_slice(hits);
                out.sort_unstable();
            }
        }
    }

    /// Rules evaluated for every event.
    pub fn always(&self) -> usize {
        self.always.len()
    }
}

/// The lowercased `eventName` values every match of `rule` requires, or `None`.
pub fn required_names(rule: &SigmaRule) -> Option<BTreeSet<String>> {
    let d = &rule.detection;
    // Several conditions are alternatives.
    union(d.conditions.iter().map(|c| condition(c, d)))
}

fn union(parts: impl Iterator<Item = Option<BTreeSet<String>>>) -> Option<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    let mut any = false;
    for part in parts {
        all.extend(part?);
        any = true;
    }
    any.then_some(all)
}

fn intersection(parts: impl Iterator<Item = Option<BTreeSet<String>>>) -> Option<BTreeSet<String>> {
    parts.flatten().reduce(|a, b| a.intersection(&b).cloned().collect())
}

fn condition(c: &ConditionExpr, d: &Detections) -> Option<BTreeSet<String>> {
    match c {
        ConditionExpr::Identifier(name) => detection(d.named.get(name)?),
        ConditionExpr::And(parts) => intersection(parts.iter().map(|p| condition(p, d))),
        ConditionExpr::Or(parts) => union(parts.iter().map(|p| condition(p, d))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector { quantifier, pattern } => {
            let matched = d.named.iter().filter(|(name, _)| match pattern {
                SelectorPattern::Them => !name.starts_with('_'),
                SelectorPattern::Pattern(p) => detection_name_matches(p, name),
            });
            let sets = matched.map(|(_, det)| detection(det));
            match quantifier {
                Quantifier::Any => union(sets),
                Quantifier::All => intersection(sets),
                Quantifier::Count(_) => None,
            }
        }
    }
}

fn detection(det: &Detection) -> Option<BTreeSet<String>> {
    match det {
        Detection::AllOf(items) => intersection(items.iter().map(|item| {
            let plain = item.field.name.as_deref() == Some("eventName") && item.field.modifiers.is_empty();
            if !plain || item.values.is_empty() {
                return None;
            }
            item.values.iter().map(exact).collect::<Option<BTreeSet<String>>>()
        })),
        Detection::AnyOf(subs) => union(subs.iter().map(detection)),
        _ => None,
    }
}

/// A value without wildcards, lowercased.
fn exact(v: &SigmaValue) -> Option<String> {
    let SigmaValue::String(s) = v else { return None };
    let mut text = String::new();
    for part in &s.parts {
        match part {
            StringPart::Plain(p) => text.push_str(p),
            StringPart::Special(_) => return None,
        }
    }
    Some(text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(detection: &str) -> Option<Vec<String>> {
        let yaml = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\n");
        let rule = rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules.remove(0);
        required_names(&rule).map(|s| s.into_iter().collect())
    }

    #[test]
    fn name_sets_follow_the_condition() {
        let both = "  sel:\n    eventSource: ec2.amazonaws.com\n    eventName:\n      - CreateVpc\n      - DeleteVpc\n  condition: sel";
        assert_eq!(names(both).unwrap(), ["createvpc", "deletevpc"]);
        let or = "  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: a or b";
        assert_eq!(names(or).unwrap(), ["a", "b"]);
        let and_not = "  a:\n    eventName: A\n  f:\n    userAgent: x\n  condition: a and not f";
        assert_eq!(names(and_not).unwrap(), ["a"]);
        let one_of = "  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  condition: 1 of sel_*";
        assert_eq!(names(one_of).unwrap(), ["a", "b"]);
        let list = "  sel:\n    - eventName: A\n    - eventName: B\n  condition: sel";
        assert_eq!(names(list).unwrap(), ["a", "b"]);
    }

    #[test]
    fn anything_less_certain_gives_no_set() {
        for d in [
            "  sel:\n    eventName: Create*\n  condition: sel",
            "  sel:\n    eventName|startswith: Create\n  condition: sel",
            "  sel:\n    errorCode: AccessDenied\n  condition: sel",
            "  a:\n    eventName: A\n  b:\n    errorCode: X\n  condition: a or b",
            "  a:\n    eventName: A\n  condition: not a",
            "  sel:\n    - eventName: A\n    - errorCode: X\n  condition: sel",
            "  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  condition: 2 of sel_*",
        ] {
            assert_eq!(names(d), None, "{d}");
        }
    }
}

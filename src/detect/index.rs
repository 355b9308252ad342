//! Which rules an event can match. Each rule is analysed once for what every match of it
//! requires, reached through `and`, `or`, `1 of` / `all of` and the detection's maps and lists
//! (`not` gives nothing), best first:
//! - `eventName` in a set of exact values (case-insensitive, no wildcards or modifiers): the rule
//!   is looked up by the event's name;
//! - another field equal to one of a set of exact values: the rule is checked only when the raw
//!   JSON of the top-level field holding it contains one of them, ignoring ASCII case (or holds
//!   an escape, which could hide one);
//! - a field that must be present (a modifier such as `endswith`, `re` or `cidr` is false on an
//!   absent field): the rule is checked only when its top-level field is there and not null.
//!
//! Everything else is checked for every event. Sound: a rule is only left out when it cannot
//! match. (The engine's own index would key most EC2 rules on `eventSource: ec2.amazonaws.com`,
//! the smaller value set, and evaluate all of them for every EC2 call.) Pure.

use crate::decode::RawEvent;
use rsigma_parser::ast::{ConditionExpr, Detection, Detections, Modifier, Quantifier, SelectorPattern};
use rsigma_parser::{SigmaRule, SigmaValue, StringPart, detection_name_matches};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// What every match of a rule requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// `eventName` is one of these (lowercased).
    Names(BTreeSet<String>),
    /// A field under top-level `root` equals one of these (lowercased ASCII).
    Values { root: String, values: BTreeSet<String> },
    /// A field under top-level `root` is present.
    Present { root: String },
}

impl Need {
    fn rank(&self) -> u8 {
        match self {
            Need::Names(_) => 0,
            Need::Values { .. } => 1,
            Need::Present { .. } => 2,
        }
    }

    /// Whether `record` may satisfy it (never false when it does).
    fn admits(&self, record: &RawEvent<'_>) -> bool {
        match self {
            Need::Names(_) => true,
            Need::Present { root } => record.get(root).is_some_and(|v| v.get() != "null"),
            Need::Values { root, values } => record.get(root).is_some_and(|raw| {
                let text = raw.get().as_bytes();
                memchr::memchr(b'\\', text).is_some() || values.iter().any(|v| contains_ignore_case(text, v.as_bytes()))
            }),
        }
    }
}

/// Whether `hay` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else { return true };
    let mut from = 0;
    while let Some(at) = memchr::memchr2(first, first.to_ascii_uppercase(), &hay[from..]) {
        let start = from + at;
        if hay.get(start..start + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)) {
            return true;
        }
        from = start + 1;
    }
    false
}

/// Rule positions by the lowercased `eventName` they require, those checked by a cheaper
/// requirement, and those checked always.
#[derive(Debug, Default)]
pub struct NameIndex {
    by_name: FxHashMap<String, Vec<usize>>,
    filtered: Vec<(usize, Need)>,
    always: Vec<usize>,
}

impl NameIndex {
    /// Adds rule `position`.
    pub fn add(&mut self, position: usize, rule: &SigmaRule) {
        match need(rule) {
            Some(Need::Names(names)) => {
                for name in names {
                    self.by_name.entry(name).or_default().push(position);
                }
            }
            Some(other) => self.filtered.push((position, other)),
            None => self.always.push(position),
        }
    }

    /// The rules worth evaluating for `record`, in load order.
    pub fn candidates(&self, record: &RawEvent<'_>, event_name: Option<&str>, out: &mut Vec<usize>) {
        out.clear();
        out.extend_from_slice(&self.always);
        out.extend(self.filtered.iter().filter(|(_, n)| n.admits(record)).map(|(i, _)| *i));
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
            }
        }
        out.sort_unstable();
    }

    /// Rules evaluated for every event.
    pub fn always(&self) -> usize {
        self.always.len()
    }
}

/// What every match of `rule` requires, or `None`.
pub fn need(rule: &SigmaRule) -> Option<Need> {
    let d = &rule.detection;
    // Several conditions are alternatives.
    any_of(d.conditions.iter().map(|c| condition(c, d)))
}

/// `or`: every branch must require something of the same kind and field.
fn any_of(parts: impl Iterator<Item = Option<Need>>) -> Option<Need> {
    let mut acc: Option<Need> = None;
    for part in parts {
        let part = part?;
        acc = Some(match acc {
            None => part,
            Some(prev) => either(prev, part)?,
        });
    }
    acc
}

fn either(a: Need, b: Need) -> Option<Need> {
    use Need::*;
    match (a, b) {
        (Names(mut x), Names(y)) => {
            x.extend(y);
            Some(Names(x))
        }
        (Values { root, mut values }, Values { root: r2, values: v2 }) if root == r2 => {
            values.extend(v2);
            Some(Values { root, values })
        }
        (Values { root, .. } | Present { root }, Values { root: r2, .. } | Present { root: r2 }) if root == r2 => {
            Some(Present { root })
        }
        _ => None,
    }
}

/// `and`: the most selective requirement (two name sets intersect).
fn all_of(parts: impl Iterator<Item = Option<Need>>) -> Option<Need> {
    parts.flatten().reduce(|a, b| match (a, b) {
        (Need::Names(x), Need::Names(y)) => Need::Names(x.intersection(&y).cloned().collect()),
        (a, b) => {
            if b.rank() < a.rank() {
                b
            } else {
                a
            }
        }
    })
}

fn condition(c: &ConditionExpr, d: &Detections) -> Option<Need> {
    match c {
        ConditionExpr::Identifier(name) => detection(d.named.get(name)?),
        ConditionExpr::And(parts) => all_of(parts.iter().map(|p| condition(p, d))),
        ConditionExpr::Or(parts) => any_of(parts.iter().map(|p| condition(p, d))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector { quantifier, pattern } => {
            let matched = d.named.iter().filter(|(name, _)| match pattern {
                SelectorPattern::Them => !name.starts_with('_'),
                SelectorPattern::Pattern(p) => detection_name_matches(p, name),
            });
            let needs = matched.map(|(_, det)| detection(det));
            match quantifier {
                Quantifier::Any => any_of(needs),
                Quantifier::All => all_of(needs),
                Quantifier::Count(_) => None,
            }
        }
    }
}

/// Modifiers under which an item is false on an absent field.
const NEEDS_THE_FIELD: [Modifier; 11] = [
    Modifier::Contains,
    Modifier::StartsWith,
    Modifier::EndsWith,
    Modifier::All,
    Modifier::Re,
    Modifier::Cidr,
    Modifier::Cased,
    Modifier::Gt,
    Modifier::Gte,
    Modifier::Lt,
    Modifier::Lte,
];

fn detection(det: &Detection) -> Option<Need> {
    match det {
        Detection::AllOf(items) => all_of(items.iter().map(|item| {
            let field = item.field.name.as_deref().filter(|f| !f.contains(['[', '\\']))?;
            if item.values.is_empty() || item.values.iter().any(|v| matches!(v, SigmaValue::Null)) {
                return None;
            }
            let root = field.split('.').next()?.to_owned();
            let modifiers = &item.field.modifiers;
            if modifiers.is_empty() {
                if let Some(values) = item.values.iter().map(exact).collect::<Option<BTreeSet<String>>>() {
                    return Some(if field == "eventName" {
                        Need::Names(values)
                    } else if values.iter().all(|v| v.is_ascii()) {
                        Need::Values { root, values }
                    } else {
                        Need::Present { root }
                    });
                }
                // Wildcards, numbers, booleans: still false on an absent field.
                return Some(Need::Present { root });
            }
            modifiers.iter().all(|m| NEEDS_THE_FIELD.contains(m)).then_some(Need::Present { root })
        })),
        Detection::AnyOf(subs) => any_of(subs.iter().map(detection)),
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

    fn need_of(detection: &str) -> Option<Need> {
        let yaml = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\n");
        need(&rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules.remove(0))
    }

    fn names(detection: &str) -> Option<Vec<String>> {
        match need_of(detection)? {
            Need::Names(s) => Some(s.into_iter().collect()),
            _ => None,
        }
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
            "  a:\n    eventName: A\n  b:\n    errorCode: X\n  condition: a or b",
            "  a:\n    eventName: A\n  condition: not a",
            "  sel:\n    - eventName: A\n    - errorCode: X\n  condition: sel",
            "  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  condition: 2 of sel_*",
        ] {
            assert_eq!(names(d), None, "{d}");
        }
    }

    #[test]
    fn other_fields_give_value_and_presence_needs() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let root =
            "  sel:\n    userIdentity.type: Root\n  f:\n    eventType: AwsServiceEvent\n  condition: sel and not f";
        assert_eq!(need_of(root), Some(Need::Values { root: "userIdentity".into(), values: set(&["root"]) }));
        let denied = "  a:\n    errorCode|endswith: Unauthorized\n  b:\n    errorCode|startswith: AccessDenied\n  condition: 1 of a, b";
        let denied = denied.replace("1 of a, b", "a or b");
        assert_eq!(need_of(&denied), Some(Need::Present { root: "errorCode".into() }));
        assert_eq!(
            need_of("  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: sel"),
            Some(Need::Present { root: "sourceIPAddress".into() })
        );
        for open in [
            "  sel:\n    errorCode|exists: false\n  condition: sel",
            "  sel:\n    errorCode: null\n  condition: sel",
            "  sel:\n    a: x\n  other:\n    b: y\n  condition: sel or other",
            "  sel:\n    a|fieldref: b\n  condition: sel",
        ] {
            assert_eq!(need_of(open), None, "{open}");
        }
        assert!(contains_ignore_case(br#"{"type":"ROOT"}"#, b"root"));
        assert!(!contains_ignore_case(br#"{"type":"IAMUser"}"#, b"root"));
        assert!(contains_ignore_case(b"xxRoRoOt", b"root"));
    }

    #[test]
    fn value_needs_admit_escaped_text_and_refuse_only_what_cannot_match() {
        let n = Need::Values { root: "userIdentity".into(), values: ["root".to_string()].into() };
        let admits = |record: &str| n.admits(&RawEvent::parse(record.as_bytes()).unwrap());
        assert!(admits(r#"{"userIdentity":{"type":"Root"}}"#));
        assert!(admits(r#"{"userIdentity":{"type":"R\u006fot"}}"#), "an escape could hide the value");
        assert!(!admits(r#"{"userIdentity":{"type":"IAMUser"}}"#));
        assert!(!admits(r#"{"eventName":"x"}"#));
    }
}

//! Which rules an event can match. Each rule is analysed once for what every match of it
//! requires, reached through `and`, `or`, `1 of` / `all of` and the detection's maps and lists
//! (`not` gives nothing), best first:
//! - `eventName` in a set of exact values (case-insensitive, no wildcards or modifiers): the rule
//!   is looked up by the event's name;
//! - another field equal to one of a set of exact values: for a top-level field holding a
//!   scalar (`eventSource`, `errorCode`, …) the rule is looked up by the event's value of it;
//!   for a nested one, the rule is checked only when the raw JSON of the top-level field holding
//!   it contains one of them, ignoring ASCII case (or holds an escape, which could hide one);
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
    /// A field under top-level `root` equals one of these (lowercased ASCII); with
    /// `exact_field`, the field is `root` itself.
    Values { root: String, values: BTreeSet<String>, exact_field: bool },
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

    /// Whether a record whose top-level field (this need's root) is `raw` may satisfy it
    /// (never false when it does). `lowered` holds `raw` with ASCII lowercased, or is empty
    /// until a value need fills it (one copy per field per event, whatever the needs): each
    /// value is then one SIMD substring search.
    fn admits(&self, raw: &serde_json::value::RawValue, lowered: &mut Vec<u8>) -> bool {
        match self {
            Need::Names(_) => true,
            Need::Present { .. } => raw.get() != "null",
            Need::Values { values, .. } => {
                if lowered.is_empty() {
                    lowered.extend(raw.get().bytes().map(|b| b.to_ascii_lowercase()));
                }
                memchr::memchr(b'\\', lowered).is_some()
                    || values.iter().any(|v| memchr::memmem::find(lowered, v.as_bytes()).is_some())
            }
        }
    }

    /// Whether `record` may satisfy it (never false when it does).
    #[cfg(test)]
    fn admits_record(&self, record: &RawEvent<'_>) -> bool {
        match self {
            Need::Names(_) => true,
            Need::Present { root } | Need::Values { root, .. } => {
                record.get(root).is_some_and(|raw| self.admits(raw, &mut Vec::new()))
            }
        }
    }
}

thread_local! {
    /// The raw JSON of the field being checked, ASCII lowercased (reused from event to event).
    static LOWERED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `hay` contains `needle` (lowercase ASCII), ignoring ASCII case, by scanning `hay`
/// as written: the reference the lowercased search of [`Need::admits`] is checked against.
#[cfg(test)]
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

/// Rules keyed by the exact value of one top-level field.
#[derive(Debug, Default)]
struct ByValue {
    /// Lowercased value → rule positions.
    rules: FxHashMap<String, Vec<usize>>,
    /// Every rule in `rules` once: what an array or object value admits.
    all: Vec<usize>,
}

/// Rule positions by the lowercased `eventName` they require, by the exact value of another
/// top-level field, by a cheaper requirement on a top-level field (grouped by that field, so it
/// is looked up once per event), and those checked always.
#[derive(Debug, Default)]
pub struct NameIndex {
    by_name: FxHashMap<String, Vec<usize>>,
    by_value: Vec<(String, ByValue)>,
    filtered: Vec<(String, Vec<(usize, Need)>)>,
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
            Some(Need::Values { root, values, exact_field: true }) => {
                let at = match self.by_value.iter().position(|(f, _)| *f == root) {
                    Some(at) => at,
                    None => {
                        self.by_value.push((root, ByValue::default()));
                        self.by_value.len() - 1
                    }
                };
                let by = &mut self.by_value[at].1;
                for value in values {
                    by.rules.entry(value).or_default().push(position);
                }
                by.all.push(position);
            }
            Some(other) => {
                let root = match &other {
                    Need::Present { root } | Need::Values { root, .. } => root.clone(),
                    Need::Names(_) => unreachable!("handled above"),
                };
                match self.filtered.iter_mut().find(|(r, _)| *r == root) {
                    Some((_, list)) => list.push((position, other)),
                    None => self.filtered.push((root, vec![(position, other)])),
                }
            }
            None => self.always.push(position),
        }
    }

    /// The rules worth evaluating for `record`, in load order.
    pub fn candidates(&self, record: &RawEvent<'_>, event_name: Option<&str>, out: &mut Vec<usize>) {
        out.clear();
        out.extend_from_slice(&self.always);
        for (field, by) in &self.by_value {
            let Some(raw) = record.get(field) else { continue };
            match raw.get().as_bytes().first() {
                // Sigma matches any element of an array: leave the evaluation to decide.
                Some(b'[' | b'{') => out.extend_from_slice(&by.all),
                Some(b'"') => {
                    if let Some(hits) = crate::decode::json_string(raw).and_then(|v| lookup(&by.rules, &v)) {
                        out.extend_from_slice(hits);
                    }
                }
                // Numbers and booleans compare by their text.
                _ => {
                    if let Some(hits) = lookup(&by.rules, raw.get()) {
                        out.extend_from_slice(hits);
                    }
                }
            }
        }
        for (root, list) in &self.filtered {
            let Some(raw) = record.get(root) else { continue };
            LOWERED.with_borrow_mut(|lowered| {
                lowered.clear();
                out.extend(list.iter().filter(|(_, n)| n.admits(raw, lowered)).map(|(i, _)| *i));
            });
        }
        if let Some(hits) = event_name.and_then(|name| lookup(&self.by_name, name)) {
            out.extend_from_slice(hits);
        }
        out.sort_unstable();
    }

    /// Rules evaluated for every event.
    pub fn always(&self) -> usize {
        self.always.len()
    }
}

/// The rules of `map` under `key`, lowercased (without allocating for short ASCII keys).
fn lookup<'m>(map: &'m FxHashMap<String, Vec<usize>>, key: &str) -> Option<&'m Vec<usize>> {
    let mut buf = [0u8; 128];
    if key.len() <= buf.len() && key.is_ascii() {
        buf[..key.len()].copy_from_slice(key.as_bytes());
        buf[..key.len()].make_ascii_lowercase();
        // ASCII in, ASCII out.
        return map.get(std::str::from_utf8(&buf[..key.len()]).ok()?);
    }
    map.get(key.to_lowercase().as_str())
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
        (Values { root, mut values, exact_field }, Values { root: r2, values: v2, exact_field: e2 }) if root == r2 => {
            values.extend(v2);
            Some(Values { root, values, exact_field: exact_field && e2 })
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
                        Need::Values { exact_field: root == field, root, values }
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
        assert_eq!(
            need_of(root),
            Some(Need::Values { root: "userIdentity".into(), values: set(&["root"]), exact_field: false })
        );
        let source = "  sel:\n    eventSource: S3.amazonaws.com\n    eventName|startswith: Put\n  condition: sel";
        assert_eq!(
            need_of(source),
            Some(Need::Values { root: "eventSource".into(), values: set(&["s3.amazonaws.com"]), exact_field: true })
        );
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
    fn top_level_values_are_looked_up_scalars_compared_by_text_and_arrays_always_admitted() {
        let rule = |d: &str| {
            let yaml = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{d}\n");
            rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules.remove(0)
        };
        let mut index = NameIndex::default();
        index.add(
            0,
            &rule("  sel:\n    eventSource: lambda.amazonaws.com\n    eventName: CreateFunction*\n  condition: sel"),
        );
        index.add(1, &rule("  sel:\n    readOnly: 'false'\n  condition: sel"));
        index.add(2, &rule("  sel:\n    errorCode|endswith: Denied\n  condition: sel"));
        let candidates = |record: &str| {
            let ev = RawEvent::parse(record.as_bytes()).unwrap();
            let mut out = Vec::new();
            index.candidates(&ev, ev.get_str("eventName").as_deref(), &mut out);
            out
        };
        assert_eq!(candidates(r#"{"eventSource":"Lambda.amazonaws.com","readOnly":false}"#), [0, 1]);
        assert_eq!(candidates(r#"{"eventSource":"lambda.amazon\u0061ws.com","readOnly":true}"#), [0]);
        assert_eq!(candidates(r#"{"eventSource":"s3.amazonaws.com","errorCode":"AccessDenied"}"#), [2]);
        assert_eq!(candidates(r#"{"eventSource":["x","lambda.amazonaws.com"],"errorCode":null}"#), [0]);
        assert_eq!(index.always(), 0);
    }

    #[test]
    fn value_needs_admit_escaped_text_and_refuse_only_what_cannot_match() {
        let n = Need::Values { root: "userIdentity".into(), values: ["root".to_string()].into(), exact_field: false };
        let admits = |record: &str| n.admits_record(&RawEvent::parse(record.as_bytes()).unwrap());
        assert!(admits(r#"{"userIdentity":{"type":"Root"}}"#));
        assert!(admits(r#"{"userIdentity":{"type":"R\u006fot"}}"#), "an escape could hide the value");
        assert!(!admits(r#"{"userIdentity":{"type":"IAMUser"}}"#));
        assert!(!admits(r#"{"eventName":"x"}"#));
        // The search over the lowercased text agrees with the case-blind scan.
        for record in crate::testing::sample_records() {
            for value in record.as_object().unwrap().values() {
                let raw = serde_json::value::to_raw_value(value).unwrap();
                // One lowered copy shared by every need, as `candidates` shares it.
                let mut shared = Vec::new();
                for needle in ["root", "assumedrole", "consolelogin", "iamuser", "0.0.0.0/0", r"\u00e9t", "été"] {
                    let n = Need::Values {
                        root: String::new(),
                        values: [needle.to_lowercase()].into(),
                        exact_field: false,
                    };
                    let blind = memchr::memchr(b'\\', raw.get().as_bytes()).is_some()
                        || contains_ignore_case(raw.get().as_bytes(), needle.to_lowercase().as_bytes());
                    assert_eq!(n.admits(&raw, &mut shared), blind, "{needle} in {raw}");
                }
            }
        }
    }
}

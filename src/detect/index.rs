//! Which rules an event can match. Each rule is analysed once for what every match of it
//! requires, reached through `and`, `or`, `1 of` / `all of` and the detection's maps and lists
//! (`not` gives nothing), best first:
//! - `eventName` in a set of exact values (case-insensitive, no wildcards or modifiers): the rule
//!   is looked up by the event's name;
//! - another field equal to one of a set of exact values: for a top-level field holding a
//!   scalar (`eventSource`, `errorCode`, …) the rule is looked up by the event's value of it;
//!   for a nested one, the rule is checked only when the raw JSON of the top-level field
//!   holding it contains one of them, ignoring ASCII case, each distinct value searched at
//!   most once per event in one lowercased copy of the field (a field text met again, such as
//!   one session's `userIdentity`, is answered from `memo`). Whatever could hide a
//!   value (an escape that could write one of its characters, a character that is not ASCII
//!   where it holds a `k`) admits the rule. A regular expression (`|re`) is treated alike when
//!   every match of it must contain some text (`literals`): the rule is checked only
//!   when the field's raw JSON holds it;
//! - a field that must be present (a modifier such as `endswith`, `re` or `cidr` is false on an
//!   absent field): the rule is checked only when its top-level field is there and not null.
//!
//! Everything else is checked for every event. Sound: a rule is only left out when it cannot
//! match. (The engine's own index would key most EC2 rules on `eventSource: ec2.amazonaws.com`,
//! the smaller value set, and evaluate all of them for every EC2 call.) Pure.

use super::caseless::CaselessMap;
use crate::decode::{Raw, RawEvent};
use rsigma_parser::ast::{ConditionExpr, Detection, Detections, Modifier, Quantifier, SelectorPattern};
use rsigma_parser::{SigmaRule, SigmaValue, StringPart, detection_name_matches};
use std::collections::BTreeSet;

/// What every match of a rule requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// `eventName` is one of these (lowercased).
    Names(BTreeSet<String>),
    /// A field under top-level `root` equals one of these (lowercased ASCII); with
    /// `exact_field`, the field is `root` itself.
    Values {
        /// The top-level field.
        root: String,
        /// The accepted values, lowercased.
        values: BTreeSet<String>,
        /// Whether the field is `root` itself rather than one under it.
        exact_field: bool,
    },
    /// A field under top-level `root` is present.
    Present {
        /// The top-level field.
        root: String,
    },
}

impl Need {
    fn rank(&self) -> u8 {
        match self {
            Need::Names(_) => 0,
            Need::Values { .. } => 1,
            Need::Present { .. } => 2,
        }
    }
}

/// Rules with a cheaper requirement on one top-level field, checked together: its raw JSON is
/// ASCII-lowercased once and each distinct value any of them looks for searched once (SIMD
/// substring search; one Aho-Corasick pass over the field measured slower).
#[derive(Debug)]
struct Filter {
    /// This filter's id in the [`super::memo`], fresh at every change.
    id: u64,
    /// Rule position and what it needs, in load order.
    rules: Vec<(usize, Check)>,
    /// Every value a rule looks for (lowercase ASCII), once, ready to search for.
    values: Vec<memchr::memmem::Finder<'static>>,
}

#[derive(Debug)]
enum Check {
    /// The field is there and not null.
    Present,
    /// One of these `Filter::values` appears, or an escape the field holds could hide one
    /// (the [`escapes`] kinds the values' characters could be written with, and [`NOT_ASCII`]
    /// when one holds a `k`: the Kelvin sign lowercases to it).
    Values { values: Vec<usize>, escapes: u8 },
}

/// A kind beside the escape kinds: a character that is not ASCII could lowercase to one of
/// the value's (`K`, the Kelvin sign, to `k`; `str::to_lowercase`, as the engine compares,
/// turns no other into ASCII but `İ`, which brings a combining dot with its `i`).
const NOT_ASCII: u8 = 32;

/// Escape kinds, as [`escapes`] reports them: `\u` may write any character, the others one each.
const ESCAPE_U: u8 = 1;
const ESCAPE_QUOTE: u8 = 2;
const ESCAPE_BACKSLASH: u8 = 4;
const ESCAPE_SLASH: u8 = 8;
const ESCAPE_CONTROL: u8 = 16;

/// The escape kinds that could write a character of `value`.
fn escapable(value: &str) -> u8 {
    value.bytes().fold(ESCAPE_U, |kinds, b| {
        kinds
            | match b {
                b'"' => ESCAPE_QUOTE,
                b'\\' => ESCAPE_BACKSLASH,
                b'/' => ESCAPE_SLASH,
                0x08 | 0x0c | b'\n' | b'\r' | b'\t' => ESCAPE_CONTROL,
                _ => 0,
            }
    })
}

/// The escape kinds raw JSON holds (anything unknown counts as `\u`).
fn escapes(raw: &[u8]) -> u8 {
    let (mut kinds, mut from) = (0, 0);
    while let Some(at) = memchr::memchr(b'\\', &raw[from..]) {
        let next = from + at + 1;
        kinds |= match raw.get(next) {
            Some(b'"') => ESCAPE_QUOTE,
            Some(b'\\') => ESCAPE_BACKSLASH,
            Some(b'/') => ESCAPE_SLASH,
            Some(b'b' | b'f' | b'n' | b'r' | b't') => ESCAPE_CONTROL,
            _ => ESCAPE_U,
        };
        from = next + 1;
    }
    kinds
}

/// The field being checked, ASCII-lowercased, and which of a filter's values it holds.
#[derive(Default)]
struct Search {
    lowered: Vec<u8>,
    found: Vec<Option<bool>>,
}

thread_local! {
    /// Reused from event to event.
    static SEARCH: std::cell::RefCell<Search> = std::cell::RefCell::new(Search::default());
}

impl Default for Filter {
    fn default() -> Self {
        Filter { id: super::memo::next_id(), rules: Vec::new(), values: Vec::new() }
    }
}

impl Filter {
    fn add(&mut self, position: usize, need: &Need) {
        self.id = super::memo::next_id();
        let check = match need {
            Need::Values { values, .. } => Check::Values {
                values: values.iter().map(|v| self.value(v)).collect(),
                escapes: values
                    .iter()
                    .fold(0, |kinds, v| kinds | escapable(v) | if v.contains('k') { NOT_ASCII } else { 0 }),
            },
            _ => Check::Present,
        };
        self.rules.push((position, check));
    }

    fn value(&mut self, v: &str) -> usize {
        self.values.iter().position(|known| known.needle() == v.as_bytes()).unwrap_or_else(|| {
            self.values.push(memchr::memmem::Finder::new(v).into_owned());
            self.values.len() - 1
        })
    }

    /// Adds to `out` the rules a record whose field (this filter's root) is `raw` may satisfy
    /// (never leaving out one it does).
    fn admitted(&self, raw: Raw<'_>, out: &mut Vec<usize>) {
        let text = raw.get().as_bytes();
        if text == b"null" {
            return;
        }
        if self.rules.iter().all(|(_, check)| matches!(check, Check::Present)) {
            // Presence only: nothing to search.
            out.extend(self.rules.iter().map(|(position, _)| *position));
            return;
        }
        super::memo::admitted(self.id, text, out, |out| self.search(text, out));
    }

    /// [`Filter::admitted`] for a present field: searches `text` for the values the rules need.
    fn search(&self, text: &[u8], out: &mut Vec<usize>) {
        // Worked out on first use: the escape kinds the field holds, and whether it is ASCII.
        let (mut held, mut ascii) = (None, None);
        SEARCH.with_borrow_mut(|Search { lowered, found }| {
            lowered.clear();
            // Searched only when a rule asks, at most once per value.
            found.clear();
            found.resize(self.values.len(), None);
            for (position, check) in &self.rules {
                let admitted = match check {
                    Check::Present => true,
                    Check::Values { values, escapes: could_hide } => {
                        let held = *held.get_or_insert_with(|| escapes(text));
                        let hidden = could_hide & NOT_ASCII != 0 && !*ascii.get_or_insert_with(|| text.is_ascii());
                        held & could_hide != 0
                            || hidden
                            || values.iter().any(|&v| {
                                *found[v].get_or_insert_with(|| {
                                    if lowered.is_empty() {
                                        lowered.extend_from_slice(text);
                                        lowered.make_ascii_lowercase();
                                    }
                                    self.values[v].find(lowered).is_some()
                                })
                            })
                    }
                };
                if admitted {
                    out.push(*position);
                }
            }
        });
    }
}

/// Rules keyed by the exact value of one top-level field.
#[derive(Debug, Default)]
struct ByValue {
    /// Value (ignoring ASCII case) → rule positions.
    rules: CaselessMap<Vec<usize>>,
    /// Every rule in `rules` once: what an array or object value admits.
    all: Vec<usize>,
}

/// Rule positions by the lowercased `eventName` they require, by the exact value of another
/// top-level field, by a cheaper requirement on a top-level field (grouped by that field, so it
/// is looked up once per event), and those checked always.
#[derive(Debug, Default)]
pub struct NameIndex {
    by_name: CaselessMap<Vec<usize>>,
    by_value: Vec<(String, ByValue)>,
    filtered: Vec<(String, Filter)>,
    always: Vec<usize>,
}

impl NameIndex {
    /// Adds rule `position`.
    pub fn add(&mut self, position: usize, rule: &SigmaRule) {
        match need(rule) {
            Some(Need::Names(names)) => {
                for name in names {
                    self.by_name.entry_or_default(&name).push(position);
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
                    by.rules.entry_or_default(&value).push(position);
                }
                by.all.push(position);
            }
            Some(other) => {
                let root = match &other {
                    Need::Present { root } | Need::Values { root, .. } => root.clone(),
                    Need::Names(_) => unreachable!("handled above"),
                };
                let at = match self.filtered.iter().position(|(r, _)| *r == root) {
                    Some(at) => at,
                    None => {
                        self.filtered.push((root, Filter::default()));
                        self.filtered.len() - 1
                    }
                };
                self.filtered[at].1.add(position, &other);
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
                    if let Some(hits) = crate::decode::json_string(raw).and_then(|v| by.rules.get(&v)) {
                        out.extend_from_slice(hits);
                    }
                }
                // Numbers and booleans compare by their text.
                _ => {
                    if let Some(hits) = by.rules.get(raw.get()) {
                        out.extend_from_slice(hits);
                    }
                }
            }
        }
        for (root, filter) in &self.filtered {
            if let Some(raw) = record.get(root) {
                filter.admitted(raw, out);
            }
        }
        if let Some(hits) = event_name.and_then(|name| self.by_name.get(name)) {
            out.extend_from_slice(hits);
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
const NEEDS_THE_FIELD: [Modifier; 14] = [
    Modifier::Contains,
    Modifier::StartsWith,
    Modifier::EndsWith,
    Modifier::All,
    Modifier::Re,
    Modifier::IgnoreCase,
    Modifier::Multiline,
    Modifier::DotAll,
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
            if let Some(values) = regex_texts(modifiers, &item.values) {
                return Some(Need::Values { root, values, exact_field: false });
            }
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

/// A value without wildcards, lowercased; `None` also for text a number could stand for (the
/// engine compares a number by its own rendering: `1e2` equals `'100'`, which the raw JSON
/// does not hold).
fn exact(v: &SigmaValue) -> Option<String> {
    let SigmaValue::String(s) = v else { return None };
    let mut text = String::new();
    for part in &s.parts {
        match part {
            StringPart::Plain(p) => text.push_str(p),
            StringPart::Special(_) => return None,
        }
    }
    Some(text.to_lowercase()).filter(|t| !numeric(t))
}

/// Whether `text` (lowercased) could be part of a number as the engine writes it (`f64`'s and
/// `i64`'s `Display`; a JSON number too large for `f64` reads as `inf`, none as `NaN`).
fn numeric(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || b"+-.e".contains(&b)) || "-inf".contains(text)
}

/// For a `|re` item (with its `i`, `m`, `s` flags and nothing else): text one of which every
/// match of one of its expressions contains, lowercased (the filter ignores case). `None`
/// when some expression promises none, or promises only what a number could stand for.
fn regex_texts(modifiers: &[Modifier], values: &[SigmaValue]) -> Option<BTreeSet<String>> {
    if !modifiers.contains(&Modifier::Re) {
        return None;
    }
    let mut flags = String::new();
    for m in modifiers {
        match m {
            Modifier::Re => {}
            Modifier::IgnoreCase => flags.push('i'),
            Modifier::Multiline => flags.push('m'),
            Modifier::DotAll => flags.push('s'),
            _ => return None,
        }
    }
    let mut texts = BTreeSet::new();
    for value in values {
        // As the engine reads the expression.
        let SigmaValue::String(s) = value else { return None };
        let pattern = s.as_plain().unwrap_or_else(|| s.original.clone());
        let pattern = if flags.is_empty() { pattern } else { format!("(?{flags}){pattern}") };
        for text in super::literals::required(&pattern)? {
            let lowered = text.to_lowercase();
            if !lowered.is_ascii() || numeric(&lowered) {
                return None;
            }
            texts.insert(lowered);
        }
    }
    Some(texts).filter(|t| !t.is_empty())
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;

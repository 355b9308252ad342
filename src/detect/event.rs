//! A CloudTrail record as the rule engine sees it: the borrowed top-level fields of a
//! [`RawEvent`], and nested values found along the dotted path — on the record's
//! [`crate::decode::Tape`] when its reading listed them, else by walking the raw JSON (an
//! object is split into its raw members, the first level of a top-level field once per
//! record); an array fans out to every element, and strings are borrowed from the record
//! unless they hold escapes. No `serde_json::Value` tree is built for the dotted paths rules use; paths
//! with Sigma 3 array selectors (`items[4]`) go through the engine's own JSON walker. Pure.

use crate::decode::{Raw, RawEvent, json_string, same_key};
use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::OnceCell;

/// One record, for one evaluation.
pub struct RecordEvent<'r, 'a> {
    record: &'r RawEvent<'a>,
    /// The members of each top-level object field, split on first use (the cells too: most
    /// rules checked read only top-level strings).
    members: OnceCell<Box<[OnceCell<Option<RawEvent<'a>>>]>>,
    /// Each top-level field as a one-key `Value`, for selector paths and keyword searches.
    parsed: OnceCell<Box<[OnceCell<JsonEvent<'static>>]>>,
}

/// `n` empty cells.
fn cells<T>(n: usize) -> Box<[OnceCell<T>]> {
    (0..n).map(|_| OnceCell::new()).collect()
}

impl<'r, 'a> RecordEvent<'r, 'a> {
    /// Wraps `record`; nothing is parsed yet.
    pub fn new(record: &'r RawEvent<'a>) -> Self {
        RecordEvent { record, members: OnceCell::new(), parsed: OnceCell::new() }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.record.fields.iter().position(|(k, _)| same_key(k.as_bytes(), key.as_bytes()))
    }

    /// Field `i` as a one-key object (the engine's JSON view).
    fn wrapped(&self, i: usize) -> &JsonEvent<'static> {
        self.parsed.get_or_init(|| cells(self.record.fields.len()))[i].get_or_init(|| {
            let (key, raw) = &self.record.fields[i];
            let value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            JsonEvent::owned(Value::Object(serde_json::Map::from_iter([(key.to_string(), value)])))
        })
    }
}

/// A raw JSON value as the engine's value; objects and arrays converted member by member.
fn value(raw: Raw<'_>) -> EventValue<'_> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => EventValue::Str(json_string(raw).unwrap_or(Cow::Borrowed(""))),
        Some(b'n') => EventValue::Null,
        Some(b't') => EventValue::Bool(true),
        Some(b'f') => EventValue::Bool(false),
        Some(b'{') => match RawEvent::parse_str(text) {
            Ok(object) => EventValue::Map(object.fields.into_iter().map(|(k, v)| (k, value(v))).collect()),
            Err(_) => EventValue::Null,
        },
        Some(b'[') => match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => EventValue::Array(items.into_iter().map(|item| value(Raw::from(item))).collect()),
            Err(_) => EventValue::Null,
        },
        _ => text
            .parse::<i64>()
            .map(EventValue::Int)
            .or_else(|_| text.parse::<f64>().map(EventValue::Float))
            .unwrap_or(EventValue::Null),
    }
}

/// Collects the values at the dotted `path` under `raw` (`None`: `raw` itself), fanning out
/// over arrays on the way.
fn walk<'a>(raw: Raw<'a>, path: Option<&str>, out: &mut Vec<EventValue<'a>>) {
    let Some(path) = path else {
        out.push(value(raw));
        return;
    };
    let (first, rest) = split(path);
    match raw.get().as_bytes().first() {
        Some(b'{') => {
            if let Ok(object) = RawEvent::parse_str(raw.get()) {
                if let Some(member) = object.get(first) {
                    walk(member, rest, out);
                }
            }
        }
        Some(b'[') => {
            for item in serde_json::from_str::<Vec<&RawValue>>(raw.get()).unwrap_or_default() {
                walk(Raw::from(item), Some(path), out);
            }
        }
        _ => {}
    }
}

/// The first segment of a dotted path and the rest, if any (as `split('.')` cuts it).
fn split(path: &str) -> (&str, Option<&str>) {
    match path.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    }
}

fn collected(mut found: Vec<EventValue<'_>>) -> Option<EventValue<'_>> {
    match found.len() {
        0 => None,
        1 => found.pop(),
        _ => Some(EventValue::Array(found)),
    }
}

impl Event for RecordEvent<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Some(i) = self.position(path) {
            return Some(value(self.record.fields[i].1));
        }
        if path.contains(['[', '\\']) {
            let root = path.split(['.', '[']).next()?;
            return self.wrapped(self.position(root)?).get_field(path);
        }
        let (root, rest) = split(path);
        if let Some(tape) = self.record.tape {
            // The record's reading listed every nested value: walked without parsing.
            // Most paths lead to one value: no vector for it.
            let (mut first, mut more) = (None, Vec::new());
            tape.find(self.position(root)?, rest, &mut |raw| match first {
                None => first = Some(value(raw)),
                Some(_) => more.push(value(raw)),
            })?;
            return match (first, more.is_empty()) {
                (Some(one), true) => Some(one),
                (first, _) => collected(first.into_iter().chain(more).collect()),
            };
        }
        let i = self.position(root)?;
        let raw = self.record.fields[i].1;
        let mut found = Vec::new();
        if raw.get().starts_with('{') {
            // The first level of a top-level object is split once per record: rules look up
            // several members of userIdentity, requestParameters, … in the same record.
            let members = self.members.get_or_init(|| cells(self.record.fields.len()))[i]
                .get_or_init(|| RawEvent::parse_str(raw.get()).ok());
            if let (Some(object), Some((first, deeper))) = (members, rest.map(split)) {
                if let Some(member) = object.get(first) {
                    walk(member, deeper, &mut found);
                }
            }
        } else {
            walk(raw, rest, &mut found);
        }
        collected(found)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        (0..self.record.fields.len()).any(|i| self.wrapped(i).any_string_value(pred))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        (0..self.record.fields.len()).flat_map(|i| self.wrapped(i).all_string_values()).collect()
    }

    fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for i in 0..self.record.fields.len() {
            if let Value::Object(one) = self.wrapped(i).to_json() {
                map.extend(one);
            }
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The adapter answers every path as the engine's own JSON view of the whole record does.
    #[test]
    fn paths_resolve_as_the_engines_json_view_does() {
        let record = json!({"eventName": "AuthorizeSecurityGroupIngress", "readOnly": false, "n": 3, "f": 1.5,
            "userIdentity": {"type": "IAMUser", "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}},
            "requestParameters": {"ipPermissions": {"items": [
                {"fromPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "10.0.0.0/8"}]}},
                {"fromPort": 443, "ipRanges": {"items": [{"cidrIp": "192.0.2.0/24"}]}}]}, "quoted": "a\"b"},
            "resources": [{"ARN": "arn:1"}, {"ARN": "arn:2"}], "responseElements": null});
        let text = record.to_string();
        let raw = RawEvent::parse(text.as_bytes()).unwrap();
        let ours = RecordEvent::new(&raw);
        // The same record with the tape its framing read makes.
        let (mut members, mut stack) = (Vec::new(), crate::decode::split::Nesting::default());
        let split = crate::decode::split::object(text.as_bytes(), &mut members, &mut stack);
        assert!(matches!(split, crate::decode::split::Split::Complete { nested: true, .. }));
        let listed = crate::decode::split::Listed { members: &members, nested: true };
        let taped = RawEvent::from_listed(&text, listed).unwrap();
        assert!(raw.tape.is_none() && taped.tape.is_some());
        let on_tape = RecordEvent::new(&taped);
        let theirs = JsonEvent::borrow(&record);
        for path in [
            "eventName",
            "readOnly",
            "n",
            "f",
            "userIdentity",
            "userIdentity.type",
            "userIdentity.missing",
            "userIdentity.sessionContext.attributes.mfaAuthenticated",
            "requestParameters.ipPermissions.items.fromPort",
            "requestParameters.ipPermissions.items.ipRanges.items.cidrIp",
            "requestParameters.quoted",
            "resources.ARN",
            "responseElements",
            "responseElements.x",
            "missing",
            "missing.deeper",
            "requestParameters.ipPermissions.items[1].fromPort",
            "eventName.x",
        ] {
            assert_eq!(ours.get_field(path), theirs.get_field(path), "{path}");
            assert_eq!(on_tape.get_field(path), theirs.get_field(path), "{path} on the tape");
        }
    }
}

//! A CloudTrail record as the rule engine sees it: the borrowed top-level fields of a
//! [`RawEvent`], with a nested field parsed only when a rule asks for a path inside it (and
//! then once per record). Top-level strings, the fields most rules test (`eventName`,
//! `eventSource`), are read straight from the raw JSON. Pure.

use crate::decode::{RawEvent, json_string};
use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// One record, for one evaluation.
pub struct RecordEvent<'r, 'a> {
    record: &'r RawEvent<'a>,
    /// `{key: value}` of each top-level field, parsed on first use.
    parsed: Vec<OnceCell<JsonEvent<'static>>>,
}

impl<'r, 'a> RecordEvent<'r, 'a> {
    /// Wraps `record`; nothing is parsed yet.
    pub fn new(record: &'r RawEvent<'a>) -> Self {
        RecordEvent { record, parsed: (0..record.fields.len()).map(|_| OnceCell::new()).collect() }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.record.fields.iter().position(|(k, _)| k == key)
    }

    /// Field `i` as a one-key object, so paths into it resolve from the top.
    fn wrapped(&self, i: usize) -> &JsonEvent<'static> {
        self.parsed[i].get_or_init(|| {
            let (key, raw) = &self.record.fields[i];
            let value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            JsonEvent::owned(Value::Object(serde_json::Map::from_iter([(key.to_string(), value)])))
        })
    }
}

impl Event for RecordEvent<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Some(i) = self.position(path) {
            let raw = self.record.fields[i].1;
            let text = raw.get();
            return Some(match text.as_bytes().first() {
                Some(b'"') => EventValue::Str(json_string(raw).unwrap_or(Cow::Borrowed(""))),
                Some(b'n') => EventValue::Null,
                Some(b't') => EventValue::Bool(true),
                Some(b'f') => EventValue::Bool(false),
                _ => self.wrapped(i).get_field(path)?,
            });
        }
        let root = path.split('.').next()?;
        let i = self.position(root)?;
        self.wrapped(i).get_field(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        (0..self.parsed.len()).any(|i| self.wrapped(i).any_string_value(pred))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        (0..self.parsed.len()).flat_map(|i| self.wrapped(i).all_string_values()).collect()
    }

    fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for i in 0..self.parsed.len() {
            if let Value::Object(one) = self.wrapped(i).to_json() {
                map.extend(one);
            }
        }
        Value::Object(map)
    }
}

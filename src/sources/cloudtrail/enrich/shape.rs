//! What the event template expects each record field to look like (the check that a value fits
//! is the one-pass walk of [`super::walk`]). Pure.
//!
//! The schema is read from the shipped template itself (`mappings/cloudtrail-template.json`),
//! so the mapping stays the one source of truth. A record field whose value would make
//! OpenSearch refuse the whole document ("tried to parse field as object, but found a concrete
//! value", a boolean that is not one) is detected here before it is sent; the document writer
//! then keeps it in `trailship.unmapped` instead, and the event is indexed.

use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;

/// The expected shape of one mapped field.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// An `object` mapping: an object (or an array of them) whose known keys have shapes.
    Object(HashMap<String, Shape>),
    /// `flat_object`: any object.
    Flat,
    /// `boolean`: `true`, `false`, or their string forms.
    Bool,
    /// A scalar leaf (`keyword`, `text`, a date with `ignore_malformed`, …) or an array of them.
    Leaf,
    /// Anything goes (`enabled: false`).
    Any,
}

impl Shape {
    /// The shapes of the top-level fields of a template's mapping.
    pub fn top_level(template: &Value) -> HashMap<String, Shape> {
        properties(&template["template"]["mappings"]["properties"])
    }

    fn from_mapping(m: &Value) -> Shape {
        if m.get("properties").is_some() {
            return Shape::Object(properties(&m["properties"]));
        }
        if m.get("enabled") == Some(&Value::Bool(false)) {
            return Shape::Any;
        }
        match m["type"].as_str() {
            Some("flat_object") => Shape::Flat,
            Some("boolean") => Shape::Bool,
            Some("object") => Shape::Object(HashMap::default()),
            _ => Shape::Leaf,
        }
    }
}

/// Whether OpenSearch accepts `name` as an object field name: not empty, and no dot at either
/// end or twice in a row ("makes object resolution ambiguous").
pub fn is_field_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    // Most names are short and have no dot at all: a plain loop (a call to memchr costs more
    // than the search), then the rules only for names with one.
    !bytes.is_empty()
        && bytes.iter().position(|&b| b == b'.').is_none_or(|first| {
            first != 0 && bytes[bytes.len() - 1] != b'.' && !bytes[first..].windows(2).any(|w| w == b"..")
        })
}

/// The shapes of a mapping's `properties`, by name. Only field names are kept, so the walks
/// need not check a name they find here.
fn properties(props: &Value) -> HashMap<String, Shape> {
    let Some(props) = props.as_object() else { return HashMap::default() };
    props.iter().filter(|(k, _)| is_field_name(k)).map(|(k, v)| (k.clone(), Shape::from_mapping(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::cloudtrail::enrich::TEMPLATE as EVENT_TEMPLATE;
    use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// The walk as serde_json would do it, validating: the reference the fast walk must agree with.
    struct Fits<'s>(&'s Shape);

    impl<'de> DeserializeSeed<'de> for Fits<'_> {
        type Value = bool;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Fits<'_> {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a json value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(matches!(self.0, Shape::Leaf | Shape::Bool | Shape::Any))
        }

        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(matches!(self.0, Shape::Leaf | Shape::Any))
        }

        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(matches!(self.0, Shape::Leaf | Shape::Any))
        }

        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(matches!(self.0, Shape::Leaf | Shape::Any))
        }

        fn visit_str<E>(self, s: &str) -> Result<bool, E> {
            Ok(match self.0 {
                Shape::Leaf | Shape::Any => true,
                Shape::Bool => matches!(s, "true" | "false" | ""),
                Shape::Object(_) | Shape::Flat => false,
            })
        }

        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(true)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut ok = !matches!(self.0, Shape::Flat);
            while let Some(fits) = seq.next_element_seed(Fits(self.0))? {
                ok &= fits;
            }
            Ok(ok)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut ok = matches!(self.0, Shape::Object(_) | Shape::Flat | Shape::Any);
            while let Some(key) = map.next_key::<String>()? {
                ok &= is_field_name(&key) || matches!(self.0, Shape::Flat | Shape::Any);
                match self.0 {
                    Shape::Object(children) if ok => match children.get(key.as_str()) {
                        Some(child) => ok &= map.next_value_seed(Fits(child))?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    },
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(ok)
        }
    }

    fn reference(shape: &Shape, raw: &str) -> bool {
        Fits(shape).deserialize(&mut serde_json::Deserializer::from_str(raw)).unwrap_or(false)
    }

    #[test]
    fn the_walk_agrees_with_serde_on_every_sample_field_and_odd_values() {
        let s = shapes();
        let mut checked = 0;
        let mut misfits = 0;
        for record in crate::testing::sample_records() {
            for (key, value) in record.as_object().unwrap() {
                let Some(shape) = s.get(key.as_str()) else { continue };
                for raw in [serde_json::to_string(value).unwrap(), serde_json::to_string_pretty(value).unwrap()] {
                    assert_eq!(shape.fits(&raw), reference(shape, &raw), "{key}: {raw}");
                    checked += 1;
                }
                // The same value under every other shape: misfits too.
                let raw = serde_json::to_string(value).unwrap();
                for other in [&Shape::Leaf, &Shape::Bool, &Shape::Flat, &s["userIdentity"], &s["resources"]] {
                    let fits = other.fits(&raw);
                    assert_eq!(fits, reference(other, &raw), "{key} as {other:?}: {raw}");
                    misfits += usize::from(!fits);
                }
            }
        }
        assert!(checked > 5_000 && misfits > 1_000, "{checked} checked, {misfits} misfits");
        let user = &s["userIdentity"];
        for raw in [
            r#"{"type":"IAMUser","user\u004eame":"a"}"#,
            r#"{"sessionContext":{"sessionIssuer":{"userName":"a\"b","arn":["x",{"y":1}]}}}"#,
            r#"{"a\u002e":1}"#,
            r#"{ "type" : "Root" , "sessionContext" : { "attributes" : { "mfaAuthenticated" : "\u0074rue" } } }"#,
            r#"{"sessionContext":{"attributes":{"mfaAuthenticated":"yes"}}}"#,
            r#"{"sessionContext":[{"attributes":{}},{"attributes":"x"}]}"#,
            r#"{"arn":["a"],"userName":{"x":1}}"#,
            r#"{"arn":[],"type":"Root"}"#,
            r#"{"x":{"y":[[{"z":"}"}]]},"type":{"no":1}}"#,
            "[]",
            "[[]]",
            "-1.5e3",
            "\"\"",
        ] {
            for shape in [user, &Shape::Bool, &Shape::Leaf, &Shape::Flat, &Shape::Any] {
                assert_eq!(shape.fits(raw), reference(shape, raw), "{shape:?}: {raw}");
            }
        }
    }

    fn shapes() -> HashMap<String, Shape> {
        Shape::top_level(&serde_json::from_str(EVENT_TEMPLATE).unwrap())
    }

    #[test]
    fn the_template_gives_the_shapes() {
        let s = shapes();
        assert_eq!(s["requestParameters"], Shape::Flat);
        assert_eq!(s["readOnly"], Shape::Bool);
        assert_eq!(s["eventName"], Shape::Leaf);
        let Shape::Object(user) = &s["userIdentity"] else { panic!("userIdentity is an object") };
        assert!(matches!(user["sessionContext"], Shape::Object(_)));
    }

    #[test]
    fn a_mapping_gives_its_shape_and_odd_names_are_no_fields() {
        let shape = |m: Value| Shape::from_mapping(&m);
        assert_eq!(shape(serde_json::json!({"type": "object"})), Shape::Object(HashMap::default()));
        assert_eq!(shape(serde_json::json!({"type": "object", "enabled": false})), Shape::Any);
        assert_eq!(shape(serde_json::json!({"type": "keyword"})), Shape::Leaf);
        for name in ["a", "a.b", "a.b.c", "-", "é"] {
            assert!(is_field_name(name), "{name}");
        }
        for name in ["", ".", ".a", "a.", "a..b", "a.b."] {
            assert!(!is_field_name(name), "{name:?}");
        }
    }

    #[test]
    fn real_shapes_fit() {
        let s = shapes();
        let identity = r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"sessionIssuer":{"type":"Role","userName":"r"},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"},"webIdFederationData":{}},"somethingNew":{"x":[1]}}"#;
        assert!(s["userIdentity"].fits(identity));
        assert!(s["resources"].fits(r#"[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"},{"accountId":"1"}]"#));
        assert!(s["readOnly"].fits("true") && s["readOnly"].fits("\"false\"") && s["readOnly"].fits("null"));
        assert!(s["eventName"].fits("\"RunInstances\"") && s["eventName"].fits("[\"a\",\"b\"]"));
    }

    #[test]
    fn misfits_are_found_at_any_depth() {
        let s = shapes();
        assert!(!s["userIdentity"].fits("\"AWS Internal\""));
        assert!(!s["userIdentity"].fits(r#"{"type":"Root","sessionContext":"none"}"#));
        assert!(!s["userIdentity"].fits(r#"{"sessionContext":{"sessionIssuer":{"userName":{"first":"a"}}}}"#));
        assert!(!s["readOnly"].fits("\"maybe\"") && !s["readOnly"].fits("1"));
        assert!(!s["eventName"].fits(r#"{"name":"x"}"#) && !s["eventName"].fits(r#"["a",{"b":1}]"#));
        assert!(!s["tlsDetails"].fits("[\"TLSv1.2\"]"));
        assert!(!s["userIdentity"].fits(r#"{"type":"IAMUser","":1}"#));
        assert!(!s["userIdentity"].fits(r#"{"sessionContext":{"a..b":1}}"#));
        assert!(s["requestParameters"].fits(r#"{"":1,"a..b":2}"#), "flat_object takes any key");
    }
}

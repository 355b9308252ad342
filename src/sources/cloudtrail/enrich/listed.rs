//! [`super::walk`]'s check that a field fits its [`Shape`] (and, for `userIdentity`, its read
//! of the actor), made on the member list the record's one reading pass built
//! ([`crate::decode::tape::Tape`]): every key and value is already delimited there, so nothing
//! is scanned again and skipping a value costs nothing. Gives exactly the text walk's answers
//! (compared on every sample record and on odd values in the tests). Pure.

use super::facts::Identity;
use super::shape::Shape;
use super::walk::{At, Capture, enter};
use crate::decode::Tape;
use crate::decode::split::quote_or_backslash;
use std::borrow::Cow;

/// [`Shape::fits`] for the top-level member `at` of `tape`.
pub(super) fn fits(shape: &Shape, tape: &Tape<'_>, at: usize) -> bool {
    Listed { tape, capture: None }.fits(shape, at, At::Elsewhere)
}

/// [`Shape::fits_identity`] for the top-level member `at` of `tape`.
pub(super) fn fits_identity<'a>(shape: &Shape, tape: &Tape<'a>, at: usize) -> (bool, Option<Identity<'a>>) {
    let mut walk = Listed { tape, capture: Some(Capture::default()) };
    let fits = walk.fits(shape, at, At::Identity);
    let capture = walk.capture.take().expect("set above");
    (fits, (fits && !capture.unusual).then_some(capture.identity))
}

struct Listed<'t, 'a> {
    tape: &'t Tape<'a>,
    capture: Option<Capture<'a>>,
}

impl<'a> Listed<'_, 'a> {
    /// Marks the capture unusual unless `ok`.
    fn usual_if(&mut self, ok: bool) {
        if let Some(c) = self.capture.as_mut().filter(|_| !ok) {
            c.unusual = true;
        }
    }

    /// The JSON string `quoted` (with its quotes) without its escapes; `None` when they do not
    /// unescape.
    fn unescaped(quoted: &'a str) -> Option<Cow<'a, str>> {
        let inner = &quoted[1..quoted.len() - 1];
        if quote_or_backslash(quoted.as_bytes(), 1) == Some(quoted.len() - 1) {
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
    }

    fn fits(&mut self, shape: &Shape, i: usize, at: At) -> bool {
        let text = self.tape.text();
        let value = &text[self.tape.member(i).value()];
        let capturing = at != At::Elsewhere;
        match value.as_bytes()[0] {
            b'{' => {
                if capturing {
                    self.usual_if(!matches!(at, At::Slot(_)));
                    if let Some(c) = self.capture.as_mut() {
                        c.open(at);
                    }
                }
                self.object(shape, i, at)
            }
            b'[' => {
                self.usual_if(!capturing);
                let tape = self.tape;
                !matches!(shape, Shape::Flat) && tape.children(i).all(|item| self.fits(shape, item, At::Elsewhere))
            }
            b'"' => {
                if let At::Slot(slot) = at {
                    match (Self::unescaped(value), self.capture.as_mut()) {
                        (Some(value), Some(c)) => c.set(slot, value),
                        _ => self.usual_if(false),
                    }
                } else {
                    self.usual_if(!capturing);
                }
                match shape {
                    Shape::Leaf | Shape::Any => true,
                    Shape::Bool => matches!(Self::unescaped(value).as_deref(), Some("true" | "false" | "")),
                    Shape::Object(_) | Shape::Flat => false,
                }
            }
            b'n' => {
                // serde reads no identity from a null `userIdentity` (a null inside is a `None`).
                self.usual_if(at != At::Identity);
                true
            }
            b't' | b'f' => {
                self.usual_if(!capturing);
                matches!(shape, Shape::Leaf | Shape::Bool | Shape::Any)
            }
            _ => {
                self.usual_if(!capturing);
                matches!(shape, Shape::Leaf | Shape::Any)
            }
        }
    }

    /// An object fits an `object` mapping when every key is a field name and every known
    /// key's value fits its child shape; `flat_object` and disabled fields take any object.
    fn object(&mut self, shape: &Shape, i: usize, at: At) -> bool {
        let capturing = matches!(at, At::Identity | At::Session | At::Issuer | At::OnBehalf);
        let children = match shape {
            Shape::Object(children) => Some(children),
            // Any object fits; the capture still reads the fields it wants.
            Shape::Flat | Shape::Any if capturing => None,
            Shape::Flat | Shape::Any => return true,
            Shape::Leaf | Shape::Bool => return false,
        };
        let tape = self.tape;
        for child in tape.children(i) {
            let m = tape.member(child);
            let k = m.key();
            let key = if m.escaped() {
                match serde_json::from_str::<String>(&tape.text()[k.start - 1..k.end + 1]) {
                    Ok(key) => Cow::Owned(key),
                    Err(_) => return false,
                }
            } else {
                Cow::Borrowed(&tape.text()[k])
            };
            let Some((known, next)) = enter(children, self.capture.as_mut(), at, &key) else { return false };
            match known {
                Some(shape) if !self.fits(shape, child, next) => return false,
                Some(_) => {}
                // A field the template does not map: the capture still reads it.
                None if next != At::Elsewhere => {
                    self.fits(&Shape::Any, child, next);
                }
                None => {}
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::split::{self, Member, Nesting, Split};
    use crate::sources::cloudtrail::enrich::TEMPLATE as EVENT_TEMPLATE;

    /// Lists `record` and checks every top-level field both ways: the same fit, the same actor.
    fn same_as_the_text_walk(shapes: &rustc_hash::FxHashMap<String, Shape>, record: &str) -> usize {
        let (mut members, mut nesting) = (Vec::<Member>::new(), Nesting::default());
        let Split::Complete { .. } = split::object(record.as_bytes(), &mut members, &mut nesting) else {
            panic!("not a record: {record}")
        };
        let tape = Tape::new(record, &members);
        let mut compared = 0;
        for at in tape.top_level() {
            let m = tape.member(at);
            let raw = &record[m.value()];
            let Some(shape) = shapes.get(&record[m.key()]) else { continue };
            assert_eq!(fits(shape, &tape, at), shape.fits(raw), "{raw}");
            let (listed, text) = (fits_identity(shape, &tape, at), shape.fits_identity(raw));
            assert_eq!(format!("{listed:?}"), format!("{text:?}"), "{raw}");
            compared += 1;
        }
        compared
    }

    fn shapes() -> rustc_hash::FxHashMap<String, Shape> {
        Shape::top_level(&serde_json::from_str(EVENT_TEMPLATE).unwrap())
    }

    #[test]
    fn every_sample_field_fits_as_the_text_walk_says() {
        let shapes = shapes();
        let mut compared = 0;
        for record in crate::testing::sample_records() {
            for text in [serde_json::to_string(&record).unwrap(), serde_json::to_string_pretty(&record).unwrap()] {
                compared += same_as_the_text_walk(&shapes, &text);
            }
        }
        assert!(compared > 10_000, "{compared} fields compared");
    }

    #[test]
    fn odd_values_fit_as_the_text_walk_says() {
        let shapes = shapes();
        for identity in [
            r#"{"type":"IAMUser","user\u004eame":"a\"b","arn":"arn:aws:iam::1:user/a"}"#,
            r#"{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"Admin"},"attributes":{}}}"#,
            r#"{"type":"AssumedRole","sessionContext":{}}"#,
            r#"{"type":"AssumedRole","sessionContext":null,"onBehalfOf":{"userId":"u-1","x":[1]}}"#,
            r#" { "type" : "Root" , "invokedBy" : null } "#,
            r#"{"type":"IAMUser","type":"Root"}"#,
            r#"{"type":5,"userName":"a"}"#,
            r#"{"userName":["a"]}"#,
            r#"{"sessionContext":["x"]}"#,
            r#"{"sessionContext":{"sessionIssuer":{"userName":true}}}"#,
            r#"{"sessionContext":{"sessionIssuer":{"userName":{"first":"a"}}}}"#,
            r#"{"onBehalfOf":{"userId":"a","userId":"b"}}"#,
            r#"{"sessionContext":{},"sessionContext":{"sessionIssuer":{"userName":"a"}}}"#,
            r#"{"sessionContext":{"sessionIssuer":{},"sessionIssuer":{"userName":"a"}}}"#,
            r#"{"onBehalfOf":{},"onBehalfOf":{"userId":"a"}}"#,
            r#"{"type":"IAMUser","":1}"#,
            r#"{"type":"IAMUser","a..b":1}"#,
            r#"{"type":"IAMUser","\ud800":1}"#,
            "null",
            "\"AWS Internal\"",
            "[1,{\"type\":\"Root\"}]",
        ] {
            let record = format!(r#"{{"userIdentity":{identity},"eventID":"x"}}"#);
            assert_eq!(same_as_the_text_walk(&shapes, &record), 2, "{record}");
        }
        for field in [
            r#""readOnly":"true""#,
            r#""readOnly":"tr\u0075e""#,
            r#""readOnly":"yes""#,
            r#""readOnly":"""#,
            r#""readOnly":[true,"false",null]"#,
            r#""readOnly":{"a":1}"#,
            r#""resources":[{"ARN":"a","type":"t"},{"ARN":{"x":1}}]"#,
            r#""resources":[{"ARN":"a","":1}]"#,
            r#""resources":{"ARN":"a"}"#,
            r#""resources":"a""#,
            r#""tlsDetails":{"tlsVersion":"TLSv1.2","clientProvidedHostHeader":["h"]}"#,
            r#""tlsDetails":[1,2]"#,
            r#""eventTime":{"a":1}"#,
            r#""eventTime":[1,[2]]"#,
            r#""requestParameters":[1]"#,
            r#""requestParameters":{"a..b":1}"#,
        ] {
            let record = format!(r#"{{{field},"eventID":"x"}}"#);
            assert_eq!(same_as_the_text_walk(&shapes, &record), 2, "{record}");
        }
    }
}

//! The shapes of CloudTrail input the framer ([`super::framing`]) reads, told apart by their
//! first bytes:
//! - S3 delivery: `{"Records":[…]}` (other keys beside `Records` are skipped), or a bare
//!   `[…]` of events;
//! - one event object per line, as a CloudWatch Logs export writes them, each line possibly
//!   led by its timestamp and a space (`2024-08-01T10:00:00.000Z {"eventVersion":…}`); an
//!   object whose first key is a CloudTrail record field starts this shape;
//! - the output of `aws cloudtrail lookup-events`: `{"Events":[{…,"CloudTrailEvent":"…"}]}`,
//!   each event a JSON string inside its element.
//!
//! Pure.

use crate::decode::split::Member;
use crate::decode::split::quote_or_backslash;

/// What a file that is none of the shapes is told.
pub const ACCEPTED: &str = "not a cloudtrail log: expected CloudTrail's S3 delivery ({\"Records\":[…]}), \
     one event object per line (a CloudWatch Logs export) or the output of aws cloudtrail lookup-events \
     ({\"Events\":[…]}); an S3 server access log is read as one only when its name follows S3's \
     pattern (ending in YYYY-MM-DD-HH-MM-SS-<16 alphanumerics>) or its key is under s3access.prefixes";

/// A shape of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"Records":[…]}` (or a bare array).
    Delivery,
    /// One event object per line.
    Lines,
    /// `{"Events":[…]}` from `aws cloudtrail lookup-events`.
    Lookup,
}

/// Top-level fields of a CloudTrail record (CloudTrail writes `eventVersion` first; an export
/// with sorted keys starts with another one).
const EVENT_FIELDS: [&str; 31] = [
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "managementEvent",
    "readOnly",
    "resources",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "tlsDetails",
    "insightDetails",
];

/// The longest first key worth reading to tell the shapes apart.
const MAX_KEY: usize = 64;

/// The shape of a file whose first value is the object opening `head` (at its `{`); `None`
/// when more bytes are needed to tell.
pub fn of_object(head: &[u8]) -> Option<Shape> {
    let at = 1 + head.get(1..)?.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    if head[at] != b'"' {
        return Some(Shape::Delivery);
    }
    let Some(end) = quote_or_backslash(head, at + 1) else {
        return (head.len() > at + MAX_KEY).then_some(Shape::Delivery);
    };
    Some(match &head[at + 1..end] {
        _ if head[end] == b'\\' => Shape::Delivery,
        b"Events" => Shape::Lookup,
        key if EVENT_FIELDS.iter().any(|f| f.as_bytes() == key) => Shape::Lines,
        // `Records` (a delivered file) and anything else: delivery reports what is missing.
        _ => Shape::Delivery,
    })
}

/// The length of the timestamp and space a CloudWatch Logs export puts before each line's
/// event (`2024-08-01T10:00:00.000Z `); `None` when more bytes are needed, `Some(Err)` when the
/// line does not start with one.
pub fn timestamp_prefix(line: &[u8]) -> Option<Result<usize, ()>> {
    for (i, &b) in line.iter().enumerate().take(MAX_KEY) {
        match b {
            b' ' if i >= 10 => return Some(Ok(i + 1)),
            b'0'..=b'9' | b'-' | b':' | b'.' | b'+' | b'T' | b'Z' => {}
            _ => return Some(Err(())),
        }
    }
    if line.len() >= MAX_KEY { Some(Err(())) } else { None }
}

/// The event a `lookup-events` element carries: its `CloudTrailEvent` string, unescaped into
/// `out`. `element` is the element's JSON and `members` its members as [`super::framing`]
/// listed them. `false` when it has no such string.
pub fn lookup_event(element: &[u8], members: &[Member], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut at = 0;
    while let Some(m) = members.get(at) {
        if !m.escaped() && &element[m.key()] == b"CloudTrailEvent" {
            let value = &element[m.value()];
            return value.first() == Some(&b'"')
                && std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| serde_json::from_str::<String>(v).ok())
                    .map(|event| out.extend_from_slice(event.as_bytes()))
                    .is_some();
        }
        at = m.end();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_tells_the_shapes_apart() {
        assert_eq!(of_object(br#"{"Records":[]}"#), Some(Shape::Delivery));
        assert_eq!(of_object(b"{ \n \"Records\" : ["), Some(Shape::Delivery));
        assert_eq!(of_object(br#"{"Events":[{"EventId":"1"}]}"#), Some(Shape::Lookup));
        assert_eq!(of_object(br#"{"eventVersion":"1.08","eventTime":"x"}"#), Some(Shape::Lines));
        assert_eq!(of_object(br#"{"additionalEventData":{}}"#), Some(Shape::Lines));
        // Anything else is read as delivery, which reports what is missing.
        assert_eq!(of_object(br#"{"x":{"Records":[]},"Records":[]}"#), Some(Shape::Delivery));
        assert_eq!(of_object(br#"{"Digest":1}"#), Some(Shape::Delivery));
        assert_eq!(of_object(br#"{}"#), Some(Shape::Delivery));
        assert_eq!(of_object(br#"{"Rec\u006frds":[]}"#), Some(Shape::Delivery));
        // An escape ends the comparison: a known name followed by one is another key.
        assert_eq!(of_object(br#"{"Events\u0041":[]}"#), Some(Shape::Delivery));
        assert_eq!(of_object(br#"{"eventTime\n":"x"}"#), Some(Shape::Delivery));
        // Not enough bytes yet.
        assert_eq!(of_object(b"{"), None);
        assert_eq!(of_object(b"{  "), None);
        assert_eq!(of_object(br#"{"eventVer"#), None);
        let long = format!("{{\"{}", "k".repeat(100));
        assert_eq!(of_object(long.as_bytes()), Some(Shape::Delivery));
        // A first key still open after MAX_KEY bytes is none of the known ones.
        for space in ["", " \n "] {
            let head = |n: usize| format!("{{{space}\"{}", "k".repeat(n));
            assert_eq!(of_object(head(MAX_KEY - 1).as_bytes()), None, "{space:?}");
            assert_eq!(of_object(head(MAX_KEY).as_bytes()), Some(Shape::Delivery), "{space:?}");
        }
    }

    #[test]
    fn a_timestamp_may_lead_a_line() {
        assert_eq!(timestamp_prefix(b"2024-08-01T10:00:00.000Z {\"a\":1}"), Some(Ok(25)));
        assert_eq!(timestamp_prefix(b"2024-08-01T10:00:00+02:00 {"), Some(Ok(26)));
        assert_eq!(timestamp_prefix(b"2024-08-01T10"), None);
        assert_eq!(timestamp_prefix(b"2024 {"), Some(Err(())));
        assert_eq!(timestamp_prefix(b"2024-08-01 x"), Some(Ok(11)));
        assert_eq!(timestamp_prefix(b"hello {"), Some(Err(())));
        assert_eq!(timestamp_prefix("9".repeat(80).as_bytes()), Some(Err(())));
    }

    #[test]
    fn a_lookup_element_gives_its_event() {
        let read = |element: &str| {
            let (mut members, mut nesting) = (Vec::new(), crate::decode::split::Nesting::default());
            crate::decode::split::object(element.as_bytes(), &mut members, &mut nesting);
            let mut out = Vec::new();
            lookup_event(element.as_bytes(), &members, &mut out).then(|| String::from_utf8(out).unwrap())
        };
        assert_eq!(
            read(r#"{"EventId":"1","CloudTrailEvent":"{\"eventID\":\"1\",\"p\":\"a\\\"b\"}","Username":"u"}"#),
            Some(r#"{"eventID":"1","p":"a\"b"}"#.to_owned())
        );
        assert_eq!(read(r#"{"EventId":"1"}"#), None);
        assert_eq!(read(r#"{"CloudTrailEvent":{"eventID":"1"}}"#), None);
        assert_eq!(read(r#"{"x":{"CloudTrailEvent":"{}"}}"#), None);
    }
}

//! What every log source decodes with: gzip sniffed by magic bytes ([`maybe_gunzip`]), the
//! per-file limits ([`FrameLimits`]), the errors that fail a whole object ([`DecodeError`]), and
//! [`RawEvent`], a JSON object whose every top-level field is borrowed as raw JSON (the
//! CloudTrail record, as Sigma detection sees it). Nothing here builds a `serde_json::Value`
//! tree; pure apart from the `Read` given.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use split::{Listed, Member, Split};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// Bytes read from a file at a time.
pub const CHUNK: usize = 128 * 1024;
/// How much of a record over the limit is kept for its dead letter.
pub const HEAD_BYTES: usize = 16 * 1024;

pub mod split;
mod tape;

pub use tape::Tape;

/// Limits on what one file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// A record larger than this is skipped and its start dead-lettered.
    pub max_record_bytes: usize,
    /// Decompressed bytes after which the file fails ([`DecodeError::TooMuchData`]).
    pub max_total_bytes: u64,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits { max_record_bytes: 4 << 20, max_total_bytes: 2 << 30 }
    }
}

/// Why a log file could not be decoded. All of these fail the whole object (the message is left
/// for redelivery): the container is corrupt, truncated, too large, or not a CloudTrail log. A
/// bad record inside a sound file is not one of these: it is dead-lettered on its own.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Reading or decompressing failed (a corrupt gzip stream lands here).
    #[error("read or decompress failed: {0}")]
    Io(#[from] io::Error),
    /// The file holds no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The file ended inside a value.
    #[error("the file ends inside a json value at byte {offset}")]
    Truncated {
        /// Offset in the decompressed stream.
        offset: u64,
    },
    /// Not valid JSON, or not shaped like a log file.
    #[error("invalid json at byte {offset}: {msg}")]
    Syntax {
        /// Offset in the decompressed stream.
        offset: u64,
        /// What was wrong.
        msg: String,
    },
    /// A JSON object without a `Records` array.
    #[error(
        "no Records array: not a cloudtrail log (expected {{\"Records\":[…]}}, one event object per line, \
         or {{\"Events\":[…]}} from aws cloudtrail lookup-events)"
    )]
    NoRecords,
    /// The file inflates to more than `limits.max_decompressed_bytes` (a gzip bomb).
    #[error("the file inflates to more than {limit} bytes (limits.max_decompressed_bytes)")]
    TooMuchData {
        /// The limit.
        limit: u64,
    },
}

/// Wraps `reader` in a gzip decoder when its first bytes are the gzip magic, else reads it as
/// plain JSON. Multi-member gzip files are read to the end.
pub fn maybe_gunzip<'a, R: Read + Send + 'a>(reader: R) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let head = buffered.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// The text of one valid JSON value, borrowed from the record it is part of. Made only by a
/// validating read ([`split::object`] or serde_json's own), so whatever walks it may trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// Its JSON text.
    pub fn get(self) -> &'a str {
        self.0
    }
}

impl<'a> From<&'a RawValue> for Raw<'a> {
    fn from(value: &'a RawValue) -> Self {
        Raw(value.get())
    }
}

/// One CloudTrail record with each top-level field kept as raw JSON, borrowed from the record's
/// bytes (keys are borrowed unless they contain escapes). Field order is preserved.
#[derive(Debug)]
pub struct RawEvent<'a> {
    /// `(key, raw value)` in document order.
    pub fields: Vec<(Cow<'a, str>, Raw<'a>)>,
    /// Every value nested in the fields, as the reading that framed the record listed them
    /// (`None` for a record read otherwise, or one with more than [`split::MAX_MEMBERS`]).
    pub tape: Option<Tape<'a>>,
}

thread_local! {
    /// The members and nesting stack of [`RawEvent::parse_str`]'s read, reused.
    static SPLIT: RefCell<(Vec<Member>, split::Nesting)> = RefCell::new((Vec::new(), split::Nesting::default()));
}

impl<'a> RawEvent<'a> {
    /// Parses one record's bytes. An error means the record is not a JSON object.
    pub fn parse(record: &'a [u8]) -> Result<Self, serde_json::Error> {
        // UTF-8 checked once for the whole record (word at a time over ASCII): parsing a `str`,
        // serde_json trusts its strings, where parsing bytes it checks every string again. A
        // record that is not UTF-8 is parsed as bytes, for the byte parser's own error.
        match std::str::from_utf8(record) {
            Ok(text) => Self::parse_str(text),
            Err(_) => serde_json::from_slice(record),
        }
    }

    /// Parses an object already known to be UTF-8 (a member of a parsed record, as raw text):
    /// no second UTF-8 check. Read with [`split::object`]; serde_json reads what it refuses,
    /// for its error.
    pub fn parse_str(text: &'a str) -> Result<Self, serde_json::Error> {
        let read = SPLIT.with_borrow_mut(|(members, stack)| match split::object(text.as_bytes(), members, stack) {
            Split::Complete { len, .. } if len == text.len() => Self::from_members(text, members),
            _ => None,
        });
        read.map_or_else(|| serde_json::from_str(text), Ok)
    }

    /// The record `text` from the members [`split::object`] listed in it, with its tape when
    /// they include the nested ones; `None` when a key's escapes do not unescape (serde_json's
    /// read says why).
    pub fn from_listed(text: &'a str, listed: Listed<'a>) -> Option<Self> {
        let mut event = Self::from_members(text, listed.members)?;
        event.tape = listed.nested.then(|| Tape::new(text, listed.members));
        Some(event)
    }

    /// The record `text` from the members [`split::object`] listed in it (the top-level ones:
    /// the first, and each one's `end` after it); `None` when a key's escapes do not unescape.
    fn from_members(text: &'a str, members: &[Member]) -> Option<Self> {
        let mut fields = Vec::with_capacity(24);
        let mut at = 0;
        while let Some(m) = members.get(at) {
            let k = m.key();
            let key = if m.escaped() {
                Cow::Owned(serde_json::from_str::<String>(text.get(k.start - 1..k.end + 1)?).ok()?)
            } else {
                Cow::Borrowed(text.get(k)?)
            };
            fields.push((key, Raw(text.get(m.value())?)));
            at = m.end();
        }
        Some(RawEvent { fields, tape: None })
    }

    /// The raw value of a top-level field.
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        let key = key.as_bytes();
        self.fields.iter().find(|(k, _)| same_key(k.as_bytes(), key)).map(|(_, v)| *v)
    }

    /// A top-level string field, unescaped only when it holds escapes. `None` when absent, null
    /// or not a string.
    pub fn get_str(&self, key: &str) -> Option<Cow<'a, str>> {
        json_string(self.get(key)?)
    }
}

/// `a == b` for field names, without a call to `memcmp` for the short ones: CloudTrail's
/// top-level names are 6 to 20 bytes and many share a length (`eventTime`, `eventName`,
/// `errorCode`), so a `memcmp` call per same-length name would be paid on most fields a lookup
/// passes.
#[inline]
pub fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    match n {
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        // Two overlapping words cover 8 to 16 bytes.
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => word(a, 0) == word(b, 0) && a == b,
    }
}

/// A raw JSON string value as text: borrowed when it has no escapes, unescaped otherwise.
/// `None` for anything but a string.
pub fn json_string(value: Raw<'_>) -> Option<Cow<'_, str>> {
    let raw = value.get();
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // SIMD search (`str::contains` with a char walks a word at a time): ~1,000 instructions
    // per event went to this scan.
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

impl<'de: 'a, 'a> Deserialize<'de> for RawEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = RawEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a cloudtrail record (json object)")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::with_capacity(24);
                while let Some(KeyStr(key)) = map.next_key::<KeyStr<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, Raw::from(value)));
                }
                Ok(RawEvent { fields, tape: None })
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A map key borrowed from the input when it has no escapes (serde's own `Cow<str>` always
/// allocates).
struct KeyStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for KeyStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyStr(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn same_key_is_byte_equality() {
        let names = [
            "",
            "a",
            "ab",
            "eventID",
            "eventTime",
            "eventName",
            "errorCode",
            "userIdentity",
            "eventVersion",
            "sourceIPAddress",
            "additionalEventData",
            "requestParameters",
            "sharedEventID2",
            "eventTimf",
        ];
        for a in names {
            for b in names {
                assert_eq!(same_key(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
            // One byte changed anywhere.
            for at in 0..a.len() {
                let mut other = a.as_bytes().to_vec();
                other[at] ^= 1;
                assert!(!same_key(a.as_bytes(), &other), "{a} {at}");
            }
        }
    }
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        maybe_gunzip(bytes)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gzip_is_sniffed_by_magic_not_name() {
        let json = br#"{"Records":[]}"#;
        assert_eq!(read_all(&gz(json)).unwrap(), json);
        assert_eq!(read_all(json).unwrap(), json);
        let mut two = gz(b"{\"Records\":");
        two.extend(gz(b"[]}"));
        assert_eq!(read_all(&two).unwrap(), json, "multi-member gzip");
        // Both magic bytes, not either one: these are read as they are.
        for plain in [&b"\x1f{}"[..], b"{\x8b}", b"\x1f", b""] {
            assert_eq!(read_all(plain).unwrap(), plain);
        }
    }

    #[test]
    fn corrupt_gzip_is_an_io_error() {
        let mut bad = gz(br#"{"Records":[{"a":1}]}"#);
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        bad.truncate(n - 4);
        let err = read_all(&bad).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ),
            "{err}"
        );
    }

    #[test]
    fn raw_event_borrows_fields_in_order() {
        let rec = br#"{"eventID":"e-1","eventTime":"2024-08-01T13:33:28Z","requestParameters":{"a":[1,2]},"k\u0065y":"v\"q","n":null}"#;
        let ev = RawEvent::parse(rec).unwrap();
        let keys: Vec<&str> = ev.fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["eventID", "eventTime", "requestParameters", "key", "n"]);
        assert!(matches!(ev.fields[0].0, Cow::Borrowed(_)));
        assert_eq!(ev.get("requestParameters").unwrap().get(), r#"{"a":[1,2]}"#);
        assert_eq!(ev.get_str("eventID").as_deref(), Some("e-1"));
        assert_eq!(ev.get_str("key").as_deref(), Some("v\"q"));
        assert_eq!(ev.get_str("n"), None);
        assert_eq!(ev.get_str("requestParameters"), None);
        let not_an_object = RawEvent::parse(b"[1]").unwrap_err().to_string();
        assert!(not_an_object.contains("expected a cloudtrail record (json object)"), "{not_an_object}");
        assert!(RawEvent::parse(br#"{"a":}"#).is_err());
    }

    #[test]
    fn the_listed_read_unescapes_keys_itself() {
        // What the framer hands on: the members of one read, no serde_json behind it.
        let text = r#"{"\u0061b":1,"c\"d":{"e\\":[2]},"f":3}"#;
        let (mut members, mut stack) = (Vec::new(), split::Nesting::default());
        let Split::Complete { len, nested, .. } = split::object(text.as_bytes(), &mut members, &mut stack) else {
            panic!("not read")
        };
        assert_eq!((len, nested), (text.len(), true));
        let ev = RawEvent::from_listed(text, Listed { members: &members, nested }).unwrap();
        let fields: Vec<(&str, &str)> = ev.fields.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
        assert_eq!(fields, [("ab", "1"), ("c\"d", r#"{"e\\":[2]}"#), ("f", "3")]);
        let mut found = Vec::new();
        let at = ev.fields.iter().position(|(k, _)| k == "c\"d").unwrap();
        ev.tape.unwrap().find(at, Some("e\\"), &mut |v| found.push(v.get()));
        assert_eq!(found, ["[2]"]);
    }
}

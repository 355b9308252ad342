//! The one pass over a record field's raw JSON that checks it against its [`Shape`] and, for
//! `userIdentity`, reads the actor ([`Identity`]) on the way. Pure.
//!
//! The value is valid JSON already (the record parser checked it), so the walk validates
//! nothing and allocates nothing (but for a key or a captured string with an escape); the
//! first misfit ends it.

use super::facts::{Identity, OnBehalfOf, SessionContext, SessionIssuer};
use super::shape::{Shape, is_field_name};
use crate::decode::split::quote_or_backslash;
use rustc_hash::FxHashMap;
use std::borrow::Cow;

/// Whether a raw value fits a [`Shape`]: the checks the document writer asks of each field.
impl Shape {
    /// Whether `raw` (valid JSON) fits this shape.
    pub fn fits(&self, raw: &str) -> bool {
        // Fast paths for the common cases: a scalar where a scalar is expected.
        let first = raw.as_bytes().first().copied().unwrap_or(b'n');
        match self {
            Shape::Any => return true,
            Shape::Leaf if first != b'{' && first != b'[' => return true,
            Shape::Bool if matches!(raw, "true" | "false" | "null" | "\"true\"" | "\"false\"") => return true,
            _ => {}
        }
        Walk::new(raw).fits(self, At::Elsewhere)
    }

    /// [`Shape::fits`] for `userIdentity`, reading the actor on the same pass; `None` when
    /// [`super::facts::Facts::identity`] must parse it instead (a misfit, a duplicate field, a
    /// number where a name belongs: what serde would read otherwise).
    pub fn fits_identity<'a>(&self, raw: &'a str) -> (bool, Option<Identity<'a>>) {
        fits_identity(self, raw)
    }
}

/// Where the walk is, for the identity capture: outside it, in one of the objects
/// [`Identity`] reads, or at one of its string fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// Nothing to capture here.
    Elsewhere,
    /// `userIdentity` itself.
    Identity,
    /// `userIdentity.sessionContext`.
    Session,
    /// `userIdentity.sessionContext.sessionIssuer`.
    Issuer,
    /// `userIdentity.onBehalfOf`.
    OnBehalf,
    /// A string field of the identity.
    Slot(Slot),
}

/// The string fields of [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Kind,
    UserName,
    Arn,
    AccessKey,
    Principal,
    Account,
    InvokedBy,
    IssuerName,
    OnBehalfUser,
}

impl At {
    /// Where `key` inside this object leads.
    pub(super) fn step(self, key: &str) -> At {
        match (self, key) {
            (At::Identity, "type") => At::Slot(Slot::Kind),
            (At::Identity, "userName") => At::Slot(Slot::UserName),
            (At::Identity, "arn") => At::Slot(Slot::Arn),
            (At::Identity, "accessKeyId") => At::Slot(Slot::AccessKey),
            (At::Identity, "principalId") => At::Slot(Slot::Principal),
            (At::Identity, "accountId") => At::Slot(Slot::Account),
            (At::Identity, "invokedBy") => At::Slot(Slot::InvokedBy),
            (At::Identity, "sessionContext") => At::Session,
            (At::Identity, "onBehalfOf") => At::OnBehalf,
            (At::Session, "sessionIssuer") => At::Issuer,
            (At::Issuer, "userName") => At::Slot(Slot::IssuerName),
            (At::OnBehalf, "userId") => At::Slot(Slot::OnBehalfUser),
            _ => At::Elsewhere,
        }
    }

    /// A bit per field, to find a key given twice (serde refuses a duplicate field).
    pub(super) fn bit(self) -> u16 {
        match self {
            At::Elsewhere | At::Identity => 0,
            At::Session => 1 << 9,
            At::Issuer => 1 << 10,
            At::OnBehalf => 1 << 11,
            At::Slot(slot) => 1 << slot as u16,
        }
    }
}

/// What the identity pass has read so far.
#[derive(Debug, Default)]
pub(super) struct Capture<'a> {
    pub(super) identity: Identity<'a>,
    pub(super) seen: u16,
    /// Something serde would refuse or read otherwise (a duplicate field, a number where a
    /// string belongs, an array where an object does): the caller parses with serde instead.
    pub(super) unusual: bool,
}

impl<'a> Capture<'a> {
    pub(super) fn set(&mut self, slot: Slot, value: Cow<'a, str>) {
        let id = &mut self.identity;
        match slot {
            Slot::Kind => id.kind = Some(value),
            Slot::UserName => id.user_name = Some(value),
            Slot::Arn => id.arn = Some(value),
            Slot::AccessKey => id.access_key_id = Some(value),
            Slot::Principal => id.principal_id = Some(value),
            Slot::Account => id.account_id = Some(value),
            Slot::InvokedBy => id.invoked_by = Some(value),
            Slot::IssuerName => {
                let session = id.session_context.get_or_insert_with(SessionContext::default);
                session.session_issuer.get_or_insert_with(SessionIssuer::default).user_name = Some(value)
            }
            Slot::OnBehalfUser => id.on_behalf_of.get_or_insert_with(OnBehalfOf::default).user_id = Some(value),
        }
    }

    /// An object opens at `at`: the struct it stands for now exists (`{}` is not `null`).
    pub(super) fn open(&mut self, at: At) {
        let id = &mut self.identity;
        match at {
            At::Session => id.session_context = Some(SessionContext::default()),
            At::Issuer => {
                id.session_context.get_or_insert_with(SessionContext::default).session_issuer =
                    Some(SessionIssuer::default())
            }
            At::OnBehalf => id.on_behalf_of = Some(OnBehalfOf::default()),
            At::Elsewhere | At::Identity | At::Slot(_) => {}
        }
    }
}

/// A key inside an object at `at` (whose mapping has `children`, `None` where any object
/// fits): the child's shape when the template maps it, and where the capture goes next; `None`
/// when the key makes the object misfit (a name OpenSearch refuses). A key the capture reads
/// given twice marks it unusual. Both walks ([`Walk`], [`super::listed`]) step in with it.
#[inline(always)]
pub(super) fn enter<'s>(
    children: Option<&'s FxHashMap<String, Shape>>,
    capture: Option<&mut Capture<'_>>,
    at: At,
    key: &str,
) -> Option<(Option<&'s Shape>, At)> {
    // The template's own names are field names: only an unknown one is checked.
    let known = children.and_then(|c| c.get(key));
    if children.is_some() && known.is_none() && !is_field_name(key) {
        return None;
    }
    let next = at.step(key);
    if let Some(c) = capture.filter(|_| next != At::Elsewhere) {
        c.unusual |= c.seen & next.bit() != 0;
        c.seen |= next.bit();
    }
    Some((known, next))
}

/// `shape.fits(raw)` for `userIdentity`, reading the actor on the same pass: whether the value
/// fits, and the identity when the pass read it exactly as serde would (`None` when the value
/// misfits or holds something unusual: parse it with serde then).
pub(super) fn fits_identity<'a>(shape: &Shape, raw: &'a str) -> (bool, Option<Identity<'a>>) {
    let mut walk = Walk::new(raw);
    walk.capture = Some(Capture::default());
    let fits = walk.fits(shape, At::Identity);
    let capture = walk.capture.take().expect("set above");
    (fits, (fits && !capture.unusual).then_some(capture.identity))
}

/// Walks valid JSON (a record's raw field, already checked by the record parser) against a
/// shape: no validation, no allocation (but for a key or a boolean string with an escape), and
/// the first misfit ends the walk.
pub(super) struct Walk<'a> {
    s: &'a str,
    i: usize,
    capture: Option<Capture<'a>>,
}

impl<'a> Walk<'a> {
    pub(super) fn new(s: &'a str) -> Walk<'a> {
        Walk { s, i: 0, capture: None }
    }

    /// Marks the capture unusual unless `ok`.
    fn usual_if(&mut self, ok: bool) {
        if let Some(c) = self.capture.as_mut().filter(|_| !ok) {
            c.unusual = true;
        }
    }

    /// The string `text` that [`Walk::string`] has just read (its closing quote ends at `i`),
    /// without its escapes.
    fn unescaped(&self, text: &'a str, escaped: bool) -> Option<Cow<'a, str>> {
        if !escaped {
            return Some(Cow::Borrowed(text));
        }
        serde_json::from_str::<String>(&self.s[self.i - text.len() - 2..self.i]).ok().map(Cow::Owned)
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The string opening at `i`, with its escapes as written, and whether it has any;
    /// leaves `i` after its closing quote.
    fn string(&mut self) -> (&'a str, bool) {
        let bytes = self.s.as_bytes();
        let start = self.i + 1;
        let (mut at, mut escaped) = (start, false);
        while let Some(k) = quote_or_backslash(bytes, at) {
            if bytes[k] == b'"' {
                self.i = k + 1;
                return (&self.s[start..k], escaped);
            }
            escaped = true;
            at = k + 2;
        }
        self.i = bytes.len();
        (&self.s[start.min(bytes.len())..], escaped)
    }

    /// Steps over one value.
    fn skip(&mut self) {
        self.whitespace();
        match self.peek() {
            Some(b'"') => {
                self.string();
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                    self.i += 1;
                }
            }
        }
    }

    pub(super) fn fits(&mut self, shape: &Shape, at: At) -> bool {
        self.whitespace();
        let capturing = at != At::Elsewhere;
        match self.peek() {
            Some(b'{') => {
                if capturing {
                    self.usual_if(!matches!(at, At::Slot(_)));
                    if let Some(c) = self.capture.as_mut() {
                        c.open(at);
                    }
                }
                self.object(shape, at)
            }
            Some(b'[') => {
                self.usual_if(!capturing);
                self.array(shape)
            }
            Some(b'"') => {
                let (text, escaped) = self.string();
                if let At::Slot(slot) = at {
                    match (self.unescaped(text, escaped), self.capture.as_mut()) {
                        (Some(value), Some(c)) => c.set(slot, value),
                        _ => self.usual_if(false),
                    }
                } else {
                    self.usual_if(!capturing);
                }
                match shape {
                    Shape::Leaf | Shape::Any => true,
                    Shape::Bool => matches!(self.unescaped(text, escaped).as_deref(), Some("true" | "false" | "")),
                    Shape::Object(_) | Shape::Flat => false,
                }
            }
            Some(b'n') => {
                // serde reads no identity from a null `userIdentity` (a null inside is a `None`).
                self.usual_if(at != At::Identity);
                self.skip();
                true
            }
            Some(b't' | b'f') => {
                self.usual_if(!capturing);
                self.skip();
                matches!(shape, Shape::Leaf | Shape::Bool | Shape::Any)
            }
            _ => {
                self.usual_if(!capturing);
                self.skip();
                matches!(shape, Shape::Leaf | Shape::Any)
            }
        }
    }

    /// An array fits when every element fits the shape itself (not for `flat_object`).
    fn array(&mut self, shape: &Shape) -> bool {
        if matches!(shape, Shape::Flat) {
            return false;
        }
        self.i += 1;
        loop {
            self.whitespace();
            match self.peek() {
                None => return true,
                Some(b']') => {
                    self.i += 1;
                    return true;
                }
                Some(b',') => self.i += 1,
                Some(_) if !self.fits(shape, At::Elsewhere) => return false,
                Some(_) => {}
            }
        }
    }

    /// An object fits an `object` mapping when every key is a field name and every known
    /// key's value fits its child shape; `flat_object` and disabled fields take any object.
    fn object(&mut self, shape: &Shape, at: At) -> bool {
        let capturing = matches!(at, At::Identity | At::Session | At::Issuer | At::OnBehalf);
        let children = match shape {
            Shape::Object(children) => Some(children),
            // Any object fits; the capture still reads the fields it wants.
            Shape::Flat | Shape::Any if capturing => None,
            Shape::Flat | Shape::Any => {
                self.skip();
                return true;
            }
            Shape::Leaf | Shape::Bool => return false,
        };
        self.i += 1;
        loop {
            self.whitespace();
            match self.peek() {
                None => return true,
                Some(b'}') => {
                    self.i += 1;
                    return true;
                }
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let (text, escaped) = self.string();
            let Some(key) = self.unescaped(text, escaped) else { return false };
            self.whitespace();
            self.i += 1; // the colon
            let Some((known, next)) = enter(children, self.capture.as_mut(), at, &key) else { return false };
            match known {
                Some(child) if !self.fits(child, next) => return false,
                Some(_) => {}
                // A field the template does not map: the capture still reads it.
                None if next != At::Elsewhere => {
                    self.fits(&Shape::Any, next);
                }
                None => self.skip(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::cloudtrail::enrich::TEMPLATE as EVENT_TEMPLATE;

    fn identity_shape() -> Shape {
        Shape::top_level(&serde_json::from_str(EVENT_TEMPLATE).unwrap()).remove("userIdentity").unwrap()
    }

    /// The one pass agrees with `Shape::fits` and with serde's `Identity`, or hands over.
    fn check(shape: &Shape, raw: &str) -> bool {
        let (fits, identity) = fits_identity(shape, raw);
        assert_eq!(fits, shape.fits(raw), "{raw}");
        let serde = serde_json::from_str::<Identity<'_>>(raw).ok();
        if let Some(read) = &identity {
            assert_eq!(format!("{read:?}"), format!("{:?}", serde.expect("serde reads it too")), "{raw}");
        }
        identity.is_some()
    }

    #[test]
    fn the_identity_pass_reads_what_serde_reads_in_every_sample() {
        let shape = identity_shape();
        let mut read = 0;
        for record in crate::testing::sample_records() {
            if let Some(identity) = record.get("userIdentity") {
                for raw in [serde_json::to_string(identity).unwrap(), serde_json::to_string_pretty(identity).unwrap()] {
                    read += usize::from(check(&shape, &raw));
                }
            }
        }
        assert!(read > 700, "{read} identities read on the one pass");
    }

    #[test]
    fn odd_identities_are_read_exactly_or_handed_to_serde() {
        let shape = identity_shape();
        let read = |raw: &str| check(&shape, raw);
        // Read on the one pass, escapes and unmapped fields included.
        assert!(read(r#"{"type":"IAMUser","user\u004eame":"a\"b","arn":"arn:aws:iam::1:user/a"}"#));
        assert!(read(
            r#"{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"Admin"},"attributes":{}}}"#
        ));
        assert!(read(r#"{"type":"AssumedRole","sessionContext":{}}"#));
        assert!(read(r#"{"type":"AssumedRole","sessionContext":null,"onBehalfOf":{"userId":"u-1","x":[1]}}"#));
        assert!(read(r#" { "type" : "Root" , "invokedBy" : null } "#));
        // Handed over: serde refuses or reads them otherwise.
        for raw in [
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
            "null",
            "\"AWS Internal\"",
            r#"{"type":"IAMUser","":1}"#,
        ] {
            assert!(!read(raw), "{raw}");
        }
    }
}

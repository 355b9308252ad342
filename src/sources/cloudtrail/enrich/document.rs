//! The one pass that turns a record into the document body. Pure.
//!
//! Layout of a document:
//! - `@timestamp`, then every record field in record order, as raw JSON, except that
//!   free-form fields go through [`flat`] (wrapped, long leaves cut) and fields that do not fit
//!   the template's mapping ([`shape`]), that use a name enrichment owns, or whose name
//!   OpenSearch refuses (empty, stray dots) are moved to `trailship.unmapped`;
//! - `cloud`, `source`, `user_agent`, `user`, `aws` ([`aws`]), `event`, `tags`, `rule` (the
//!   detection rules matched; see docs/detections.md);
//! - `search_text`: the free-form leaves, for searches without a field name (indexed, not
//!   stored in `_source`);
//! - `trailship`: `truncated` (paths of cut leaves), `original` (their full values) and
//!   `unmapped`, only when there is something to say.

use super::alert::AlertSubject;
use super::aws;
use super::facts::{Facts, Identity};
use super::flat::{self, Sinks};
use super::listed;
use super::shape::{Shape, is_field_name};
use super::tags::{Subject, Tagger};
use super::target::Target;
use crate::accounts::Accounts;
use crate::decode::Tape;
use crate::decode::{Raw, RawEvent, json_string};
use crate::detect::Match;
use crate::geo::GeoIp;
use crate::geo::addr;
use crate::json::write_str;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::LazyLock;

/// The event template (`../template.json`): the document's schema.
pub const TEMPLATE: &str = include_str!("../template.json");

/// Top-level names enrichment writes; a record field with one of them goes to `unmapped`.
pub const RESERVED: [&str; 11] =
    ["@timestamp", "cloud", "source", "user_agent", "user", "event", "aws", "tags", "rule", "search_text", "trailship"];

/// What the writer does with a top-level record field it knows by name.
#[derive(Debug)]
enum Role {
    /// A name enrichment writes: the record's value goes to `unmapped`.
    Reserved,
    /// A field the template maps, with the shape its value must have.
    Mapped(Shape),
    /// `userIdentity`: mapped, and the actor is read on the same pass as the shape check.
    Identity(Shape),
}

/// Every top-level name with a role, looked up once per record field (hence the fast hasher).
static FIELDS: LazyLock<FxHashMap<String, Role>> = LazyLock::new(|| {
    let template: serde_json::Value = serde_json::from_str(TEMPLATE).expect("embedded template is valid json");
    let aliases = &template["template"]["mappings"]["properties"];
    let mut fields: FxHashMap<String, Role> = Shape::top_level(&template)
        .into_iter()
        .map(|(k, shape)| {
            let role = match k.as_str() {
                // Field aliases (OCSF names): a value there would be refused; it goes aside.
                _ if is_alias(&aliases[&k]) => Role::Reserved,
                "userIdentity" => Role::Identity(shape),
                _ => Role::Mapped(shape),
            };
            (k, role)
        })
        .collect();
    fields.extend(RESERVED.iter().map(|k| (k.to_string(), Role::Reserved)));
    fields
});

/// Whether a mapping is a field alias, or an object of nothing but aliases.
fn is_alias(mapping: &serde_json::Value) -> bool {
    mapping["type"] == "alias"
        || mapping["properties"].as_object().is_some_and(|p| !p.is_empty() && p.values().all(is_alias))
}
static TAGGER: LazyLock<Tagger> = LazyLock::new(Tagger::shipped);

thread_local! {
    static SINKS: RefCell<Sinks> = RefCell::new(Sinks::default());
}

/// Compiles the embedded schema and rules now rather than on the first event. The user agent
/// parsers are left to the first agent that needs them, which AWS services' own agents never
/// are (`scripts/startup-times.py` times both cases).
pub fn warm_up() {
    LazyLock::force(&FIELDS);
    LazyLock::force(&TAGGER);
}

/// Writes the document for `ev`, which matched the detection rules `matches`, into `out`, with
/// GeoIP from `geo` and the account named from `accounts`;
/// when some rule matched, returns what its alert documents carry (read on the same pass).
pub fn write<'a>(
    (geo, accounts): (Option<&GeoIp>, &Accounts),
    ev: &RawEvent<'a>,
    target: &Target<'_>,
    matches: &[Match],
    out: &mut Vec<u8>,
) -> Option<AlertSubject> {
    SINKS.with_borrow_mut(|sinks| {
        sinks.clear();
        write_with((geo, accounts), ev, target, matches, out, sinks)
    })
}

fn write_with<'a>(
    (geo, accounts): (Option<&GeoIp>, &Accounts),
    ev: &RawEvent<'a>,
    target: &Target<'_>,
    matches: &[Match],
    out: &mut Vec<u8>,
    sinks: &mut Sinks,
) -> Option<AlertSubject> {
    out.extend_from_slice(b"{\"@timestamp\":\"");
    out.extend_from_slice(target.timestamp.as_bytes());
    out.push(b'"');
    let mut facts = Facts::default();
    let mut unmapped: Vec<(&Cow<'_, str>, Raw<'_>)> = Vec::new();
    // `userIdentity` as its shape check read it (`None`: parse it below).
    let mut walked: Option<Identity<'_>> = None;
    // Each field's member in the record's member list, when the reading pass made one.
    let mut listed = ev.tape.as_ref().map(|tape| (tape, tape.top_level()));
    for (key, value) in ev.fields.iter().map(|(k, v)| (k, *v)) {
        facts.observe(key, value);
        let member = listed.as_mut().and_then(|(tape, top)| Some((*tape, top.next()?)));
        match FIELDS.get(key.as_ref()) {
            Some(Role::Identity(shape)) => {
                let (fits, identity) = match member {
                    Some((tape, at)) => listed::fits_identity(shape, tape, at),
                    None => shape.fits_identity(value.get()),
                };
                walked = identity;
                if fits {
                    field_and_value(out, key, value, member);
                } else {
                    unmapped.push((key, value));
                }
            }
            Some(Role::Mapped(Shape::Flat)) => {
                field(out, key);
                flat::write(key, value.get().as_bytes(), out, sinks);
            }
            Some(Role::Reserved) => unmapped.push((key, value)),
            Some(Role::Mapped(shape)) if !fits(shape, value, member) => unmapped.push((key, value)),
            None if !is_field_name(key) => unmapped.push((key, value)),
            _ => field_and_value(out, key, value, member),
        }
    }
    if let Some(account) = facts.account.and_then(|a| a.get().strip_prefix('"')?.strip_suffix('"')) {
        facts.account_name = accounts.name_json(account);
    }
    facts.write_cloud(out);
    let source_at = out.len();
    let source_end = write_source(out, &facts, geo);
    // The source object without GeoIP, for the alert documents (`}` closes it there).
    let source = source_at..source_end;
    if let Some(ua) = &facts.user_agent {
        out.extend_from_slice(b",\"user_agent\":");
        out.extend_from_slice(&crate::agent::json(ua));
    }
    let identity = walked.or_else(|| facts.identity()).unwrap_or_default();
    let kind = identity.kind.as_deref().filter(|k| !k.is_empty());
    let name = if kind.is_some() { identity.user_name() } else { facts.identity.and(identity.user_name()) };
    if let Some(kind) = kind {
        out.extend_from_slice(b",\"user\":{\"type\":");
        write_str(out, kind);
        if let Some(name) = &name {
            out.extend_from_slice(b",\"name\":");
            write_str(out, name);
        }
        if let Some(principal) = identity.principal() {
            out.extend_from_slice(b",\"principal\":");
            write_str(out, &principal);
        }
        out.push(b'}');
    } else if let Some(name) = &name {
        out.extend_from_slice(b",\"user\":{\"name\":");
        write_str(out, name);
        out.push(b'}');
    }
    let failed = facts.failed();
    aws::write(out, &facts, identity.access_key_id.as_deref());
    out.extend_from_slice(if failed {
        b",\"event\":{\"outcome\":\"failure\"}"
    } else {
        b",\"event\":{\"outcome\":\"success\"}"
    });
    let subject = Subject {
        facts: &facts,
        user_type: identity.kind.as_deref(),
        invoked_by: identity.invoked_by.is_some(),
        failed,
    };
    write_tags(out, &subject);
    write_rule(out, matches);
    if !sinks.text.is_empty() {
        out.extend_from_slice(b",\"search_text\":\"");
        out.extend_from_slice(&sinks.text);
        out.push(b'"');
    }
    write_trailship(out, sinks, &unmapped);
    out.push(b'}');
    if matches.is_empty() {
        return None;
    }
    Some(AlertSubject::new(target, &facts, kind, name.as_deref(), &out[source]))
}

/// Whether `value` fits `shape`, read on the record's member list when there is one.
fn fits(shape: &Shape, value: Raw<'_>, member: Option<(&Tape<'_>, usize)>) -> bool {
    match member {
        Some((tape, at)) if matches!(value.get().as_bytes()[0], b'{' | b'[') => listed::fits(shape, tape, at),
        _ => shape.fits(value.get()),
    }
}

/// `,"tags":[…]` when some tag rule applies.
fn write_tags(out: &mut Vec<u8>, subject: &Subject<'_, '_>) {
    let mut tags = TAGGER.tags(subject).peekable();
    if tags.peek().is_some() {
        out.extend_from_slice(b",\"tags\":[");
        for (i, tag) in tags.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, tag);
        }
        out.push(b']');
    }
}

/// `,"rule":{"id":[…],"name":[…],"level":"…"}`: the rules matched, the highest level.
fn write_rule(out: &mut Vec<u8>, matches: &[Match]) {
    let Some(highest) = matches.iter().map(|m| m.level).max() else { return };
    out.extend_from_slice(b",\"rule\":{\"id\":[");
    for (i, m) in matches.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m.id_json.as_bytes());
    }
    out.extend_from_slice(b"],\"name\":[");
    for (i, m) in matches.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m.title_json.as_bytes());
    }
    out.extend_from_slice(b"],\"level\":");
    write_str(out, highest.as_str());
    out.push(b'}');
}

/// `,"key":`
#[allow(clippy::ptr_arg)] // which `Cow` variant it is matters, see `write_key`
fn field(out: &mut Vec<u8>, key: &Cow<'_, str>) {
    out.push(b',');
    write_key(out, key);
    out.push(b':');
}

/// `,"key":value` as the record has it: one copy of the record's own bytes when nothing stands
/// between the key and its value (compact input), else key and value written apart. (A
/// borrowed key held no escapes, so the record's bytes are its JSON.)
#[allow(clippy::ptr_arg)]
fn field_and_value(out: &mut Vec<u8>, key: &Cow<'_, str>, value: Raw<'_>, member: Option<(&Tape<'_>, usize)>) {
    if let (Cow::Borrowed(_), Some((tape, at))) = (key, member) {
        let (k, v) = (tape.member(at).key(), tape.member(at).value());
        if v.start == k.end + 2 {
            out.push(b',');
            out.extend_from_slice(&tape.text().as_bytes()[k.start - 1..v.end]);
            return;
        }
    }
    field(out, key);
    out.extend_from_slice(value.get().as_bytes());
}

/// `,"source":{"address":…,"ip":…}` from `sourceIPAddress`, with `geo.*`/`as.*` from `geo`.
/// Returns where the GeoIP members begin (`out`'s length when nothing was written).
fn write_source(out: &mut Vec<u8>, facts: &Facts<'_>, geo: Option<&GeoIp>) -> usize {
    let Some(raw) = facts.source_ip else { return out.len() };
    out.extend_from_slice(b",\"source\":{\"address\":");
    out.extend_from_slice(raw.get().as_bytes());
    let mut geo_at = out.len();
    if let Some(ip) = json_string(raw).and_then(|s| addr::parse(&s)) {
        // Writing to a Vec cannot fail.
        out.extend_from_slice(b",\"ip\":\"");
        addr::write(out, ip);
        out.push(b'"');
        geo_at = out.len();
        if let Some(geo) = geo {
            out.extend_from_slice(&geo.json(ip));
        }
    }
    out.push(b'}');
    geo_at
}

fn write_trailship(out: &mut Vec<u8>, sinks: &Sinks, unmapped: &[(&Cow<'_, str>, Raw<'_>)]) {
    if sinks.truncated.is_empty() && unmapped.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"trailship\":{");
    let mut first = true;
    if !sinks.truncated.is_empty() {
        out.extend_from_slice(b"\"truncated\":[");
        out.extend_from_slice(&sinks.truncated);
        out.extend_from_slice(b"],\"original\":[");
        out.extend_from_slice(&sinks.original);
        out.push(b']');
        first = false;
    }
    if !unmapped.is_empty() {
        out.extend_from_slice(if first { b"\"unmapped\":{" } else { b",\"unmapped\":{" });
        for (i, (key, value)) in unmapped.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_key(out, key);
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Writes `"key"`. Borrowed keys held no escapes in the input, so their bytes are written as
/// they are; keys that had escapes are re-escaped. (Which `Cow` variant it is matters.)
#[allow(clippy::ptr_arg)]
fn write_key(out: &mut Vec<u8>, key: &Cow<'_, str>) {
    match key {
        Cow::Borrowed(k) => {
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.push(b'"');
        }
        Cow::Owned(k) => write_str(out, k),
    }
}

#[cfg(test)]
#[path = "document_tests.rs"]
mod tests;

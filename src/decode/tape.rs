//! Walking a record's nested fields along a dotted path on the member list its one reading
//! made ([`super::split::object`]), without parsing any of it again: the lookups detection
//! rules make (`userIdentity.sessionContext.sessionIssuer.type`, `requestParameters.…`). Pure.

use super::split::Member;
use super::{Raw, same_key};

/// A record's text and the list of every value in it ([`super::split::Member`]).
#[derive(Debug, Clone, Copy)]
pub struct Tape<'a> {
    text: &'a str,
    members: &'a [Member],
}

impl<'a> Tape<'a> {
    /// The tape of `text` from the members [`super::split::object`] listed in it with the
    /// nested ones.
    pub fn new(text: &'a str, members: &'a [Member]) -> Self {
        Tape { text, members }
    }

    /// The record's text the members point into.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Member `i` of the list.
    pub fn member(&self, i: usize) -> Member {
        self.members[i]
    }

    /// The indices of the top-level members, in record order: one per [`super::RawEvent`]
    /// field.
    pub fn top_level(&self) -> impl Iterator<Item = usize> + '_ {
        self.siblings(0, self.members.len())
    }

    /// The indices of the members directly inside member `i`'s object or array value.
    pub fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.siblings(i + 1, self.members[i].end())
    }

    /// Hands `out` the values at the dotted `path` under top-level field number `field` (its
    /// position among the [`super::RawEvent`] fields, which the caller finds by name on those
    /// already unescaped keys, cheaper than on the member list), as detection reads them: an
    /// object is entered by the member named by the next segment (its first occurrence), an
    /// array fans out to every element with the same segments; `path` `None` is the field
    /// itself. `None` when the record has fewer fields.
    pub fn find(&self, field: usize, path: Option<&str>, out: &mut impl FnMut(Raw<'a>)) -> Option<()> {
        let top = self.top_level().nth(field)?;
        self.walk(top, path, out);
        Some(())
    }

    fn walk(&self, at: usize, path: Option<&str>, out: &mut impl FnMut(Raw<'a>)) {
        let m = self.members[at];
        let Some(path) = path else {
            out(Raw(&self.text[m.value()]));
            return;
        };
        let (first, rest) = match path.split_once('.') {
            Some((first, rest)) => (first, Some(rest)),
            None => (path, None),
        };
        match self.text.as_bytes()[m.value().start] {
            b'{' => {
                if let Some(child) = self.siblings(at + 1, m.end()).find(|&i| self.key_is(i, first)) {
                    self.walk(child, rest, out);
                }
            }
            b'[' => {
                for item in self.siblings(at + 1, m.end()) {
                    self.walk(item, Some(path), out);
                }
            }
            _ => {}
        }
    }

    /// The members from `from` on that are siblings (each one's `end` leads to the next),
    /// up to `end`.
    fn siblings(&self, from: usize, end: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(from), |&i| self.members.get(i).map(Member::end)).take_while(move |&i| i < end)
    }

    /// Whether member `i`'s key, unescaped, is `key`.
    fn key_is(&self, i: usize, key: &str) -> bool {
        let m = self.members[i];
        let k = m.key();
        if !m.escaped() {
            // Lengths first: most keys compared differ in length.
            return k.len() == key.len() && same_key(&self.text.as_bytes()[k], key.as_bytes());
        }
        serde_json::from_str::<String>(&self.text[k.start - 1..k.end + 1]).is_ok_and(|k| k == key)
    }
}

//! Where a document goes: its `_id`, `@timestamp` and daily index date.

use std::borrow::Cow;

/// Where a document goes and under which id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// The `eventID` as a JSON string literal (quotes and escapes included), ready for `_id`.
    pub id_json: &'a str,
    /// `@timestamp`: the event time in UTC, RFC 3339.
    pub timestamp: Cow<'a, str>,
    /// The UTC date of the event as `YYYY.MM.DD`, the daily index suffix.
    pub date: [u8; 10],
}

impl Target<'_> {
    /// The daily index suffix as a string.
    pub fn date_str(&self) -> &str {
        // Built from ASCII digits and dots only.
        std::str::from_utf8(&self.date).unwrap_or("0000.00.00")
    }
}

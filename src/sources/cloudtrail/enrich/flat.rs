//! Writes one free-form field (`requestParameters`, `responseElements`, …) for a `flat_object`
//! mapping, in one walk over its raw JSON. Pure.
//!
//! Three things happen on the way through:
//! - a value that is not an object (a string, a number, an array) is wrapped as
//!   `{"value": …}`, because `flat_object` refuses anything but an object;
//! - a string leaf too long to be one Lucene term is cut to fit, and the full value is kept in
//!   the document's `trailship.original` list (stored in `_source`, not indexed);
//! - every string and number leaf is appended to the free-text buffer that becomes
//!   `search_text`, so a bucket name or a policy fragment is found without a field name.
//!
//! Objects that need none of this are copied byte for byte.

use super::scan::{Scanner, Token};

/// Lucene's hard limit on the UTF-8 length of one indexed term.
pub const MAX_TERM_BYTES: usize = 32_766;

/// How many bytes a leaf under a path of `path_len` bytes may have. `flat_object` indexes each
/// leaf twice: as the value and as `<path>=<value>`, and OpenSearch 2.16+ prefixes both with
/// the field name; twice the path plus a margin covers every layout.
pub fn leaf_budget(path_len: usize) -> usize {
    MAX_TERM_BYTES.saturating_sub(2 * path_len + 64)
}

/// Raw strings at most this long cannot exceed any budget worth computing a path for.
const SHORT: usize = 1024;

/// Where the side outputs of a walk go.
#[derive(Debug, Default)]
pub struct Sinks {
    /// The `search_text` content so far: raw JSON string contents separated by `\n` escapes.
    pub text: Vec<u8>,
    /// Comma-separated `{"field":…,"value":…}` objects for leaves that were cut.
    pub original: Vec<u8>,
    /// Comma-separated JSON strings: the paths of the leaves that were cut.
    pub truncated: Vec<u8>,
    /// Where the key of each object open in the walk lies in the value (kept between walks for
    /// its capacity).
    keys: Vec<(usize, usize)>,
}

impl Sinks {
    /// Empties every buffer, keeping their capacity.
    pub fn clear(&mut self) {
        self.text.clear();
        self.original.clear();
        self.truncated.clear();
    }
}

/// Writes `raw` (valid JSON, the value of top-level field `root`) into `out`, feeding `sinks`.
pub fn write(root: &str, raw: &[u8], out: &mut Vec<u8>, sinks: &mut Sinks) {
    if raw == b"null" {
        out.extend_from_slice(raw);
        return;
    }
    let wrap = raw.first() != Some(&b'{');
    // The path of a leaf: the root, `value` when wrapped, then the key of each open object.
    let rooted: [&[u8]; 2] = [root.as_bytes(), b"value"];
    let path = &rooted[..1 + usize::from(wrap)];
    if wrap {
        out.extend_from_slice(b"{\"value\":");
    }
    let mut keys = std::mem::take(&mut sinks.keys);
    keys.clear();
    let mut copied = 0;
    let mut scanner = Scanner::new(raw);
    while let Some(token) = scanner.next() {
        match token {
            Token::ObjStart => keys.push((0, 0)),
            Token::ObjEnd => {
                keys.pop();
            }
            Token::Key(_) => {
                if let Some(last) = keys.last_mut() {
                    *last = (scanner.token_start() + 1, scanner.token_end() - 1);
                }
            }
            Token::ArrStart | Token::ArrEnd => {}
            Token::Atom(a) => {
                if a.first().is_some_and(|c| *c == b'-' || c.is_ascii_digit()) {
                    push_text(&mut sinks.text, a);
                }
            }
            Token::Str(s) => {
                if s.is_empty() {
                    continue;
                }
                push_text(&mut sinks.text, s);
                if s.len() <= SHORT {
                    continue;
                }
                let open = keys.iter().map(|&(start, end)| &raw[start..end]);
                let path_len = path.iter().copied().chain(open).map(|k| k.len() + 1).sum::<usize>() - 1;
                let budget = leaf_budget(path_len);
                if s.len() <= budget {
                    continue;
                }
                let (start, end) = (scanner.token_start(), scanner.token_end());
                if let Some(cut) = cut_string(&raw[start..end], budget) {
                    out.extend_from_slice(&raw[copied..start]);
                    out.extend_from_slice(&cut);
                    copied = end;
                    let open = keys.iter().map(|&(start, end)| &raw[start..end]);
                    let full: Vec<&[u8]> = path.iter().copied().chain(open).collect();
                    record_cut(sinks, &full, &raw[start..end]);
                }
            }
        }
    }
    sinks.keys = keys;
    out.extend_from_slice(&raw[copied..]);
    if wrap {
        out.push(b'}');
    }
}

/// Appends one leaf to the free-text buffer. Raw JSON string content is valid inside a JSON
/// string as it is, escapes included.
fn push_text(text: &mut Vec<u8>, leaf: &[u8]) {
    if !text.is_empty() {
        text.extend_from_slice(b"\\n");
    }
    text.extend_from_slice(leaf);
}

/// `quoted` is a JSON string token (valid, quotes included). Returns it cut so its decoded text
/// is at most `budget` UTF-8 bytes, on a character boundary and with its escapes as written,
/// or `None` when it already fits. One pass over the raw bytes: runs without a backslash count
/// as they are, each escape by the bytes it decodes to (a policy document of 150 KB is mostly
/// `\"` escapes; decoding and encoding it again cost ~27 instructions a byte).
fn cut_string(quoted: &[u8], budget: usize) -> Option<Vec<u8>> {
    let body = quoted.get(1..quoted.len().saturating_sub(1))?;
    let (mut at, mut decoded) = (0, 0);
    while at < body.len() {
        let run = memchr::memchr(b'\\', &body[at..]).unwrap_or(body.len() - at);
        if decoded + run > budget {
            // Cut inside this run, back to the start of a character.
            let mut end = at + (budget - decoded);
            while end > at && body[end] & 0xC0 == 0x80 {
                end -= 1;
            }
            return Some(requote(&body[..end]));
        }
        decoded += run;
        at += run;
        if at == body.len() {
            break;
        }
        let (raw, bytes) = escape_len(&body[at..]);
        if decoded + bytes > budget {
            return Some(requote(&body[..at]));
        }
        decoded += bytes;
        at += raw;
    }
    None
}

/// The escape at the front of `escaped` (a backslash first): its length as written and the
/// UTF-8 length of what it decodes to (a surrogate pair is one four-byte character).
fn escape_len(escaped: &[u8]) -> (usize, usize) {
    let hex = |from: usize| {
        escaped
            .get(from..from + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    if escaped.get(1) != Some(&b'u') {
        return (2, 1);
    }
    match hex(2) {
        Some(0xD800..=0xDBFF)
            if escaped.get(6..8) == Some(b"\\u") && hex(8).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
        {
            (12, 4)
        }
        Some(0..=0x7F) => (6, 1),
        Some(0x80..=0x7FF) => (6, 2),
        _ => (6, 3),
    }
}

/// `"` + `body` + `"`.
fn requote(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(b'"');
    out.extend_from_slice(body);
    out.push(b'"');
    out
}

fn record_cut(sinks: &mut Sinks, keys: &[&[u8]], quoted_full: &[u8]) {
    let mut path = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            path.push(b'.');
        }
        path.extend_from_slice(k);
    }
    if !sinks.truncated.is_empty() {
        sinks.truncated.push(b',');
        sinks.original.push(b',');
    }
    sinks.truncated.push(b'"');
    sinks.truncated.extend_from_slice(&path);
    sinks.truncated.push(b'"');
    sinks.original.extend_from_slice(b"{\"field\":\"");
    sinks.original.extend_from_slice(&path);
    sinks.original.extend_from_slice(b"\",\"value\":");
    sinks.original.extend_from_slice(quoted_full);
    sinks.original.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn run(root: &str, raw: &str) -> (Value, Sinks) {
        let mut out = Vec::new();
        let mut sinks = Sinks::default();
        write(root, raw.as_bytes(), &mut out, &mut sinks);
        (serde_json::from_slice(&out).expect("valid json out"), sinks)
    }

    fn text(sinks: &Sinks) -> String {
        serde_json::from_slice::<String>(&[b"\"", &sinks.text[..], b"\""].concat()).unwrap()
    }

    #[test]
    fn objects_are_copied_and_their_leaves_become_text() {
        let raw = r#"{"bucketName":"my-bucket","ipPermissions":{"items":[{"fromPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]},"policy":"{\"Action\":\"s3:GetObject\"}","flag":true,"none":null}"#;
        let (doc, sinks) = run("requestParameters", raw);
        assert_eq!(doc, serde_json::from_str::<Value>(raw).unwrap());
        assert_eq!(text(&sinks), "my-bucket\n22\n0.0.0.0/0\n{\"Action\":\"s3:GetObject\"}");
        assert!(sinks.truncated.is_empty() && sinks.original.is_empty());
    }

    #[test]
    fn concrete_values_are_wrapped() {
        assert_eq!(run("requestParameters", r#""just a string""#).0, json!({"value": "just a string"}));
        assert_eq!(run("requestParameters", "42").0, json!({"value": 42}));
        assert_eq!(run("responseElements", r#"["a",{"b":1}]"#).0, json!({"value": ["a", {"b": 1}]}));
        assert_eq!(run("responseElements", "null").0, Value::Null);
    }

    #[test]
    fn unicode_and_escaped_keys_survive() {
        let raw = r#"{"ключ":{"名前":"值"},"a\"b":"c\\d","\u00e9":"\ud83d\ude00"}"#;
        let (doc, sinks) = run("requestParameters", raw);
        assert_eq!(doc, serde_json::from_str::<Value>(raw).unwrap());
        assert_eq!(text(&sinks), "值\nc\\d\n😀");
    }

    #[test]
    fn a_leaf_over_the_term_limit_is_cut_and_kept_whole_elsewhere() {
        let long = "é".repeat(MAX_TERM_BYTES); // two bytes each
        let raw = json!({"short": "s", "deep": {"policy": long}}).to_string();
        let (doc, sinks) = run("requestParameters", &raw);
        let cut = doc["deep"]["policy"].as_str().unwrap();
        let path = "requestParameters.deep.policy";
        assert!(cut.len() <= leaf_budget(path.len()), "{}", cut.len());
        assert!(cut.len() + path.len() < MAX_TERM_BYTES);
        assert!(cut.len() > MAX_TERM_BYTES - 200, "cut no more than needed: {}", cut.len());
        assert!(long.starts_with(cut));
        assert_eq!(doc["short"], "s");
        let original: Value = serde_json::from_slice(&[b"[", &sinks.original[..], b"]"].concat()).unwrap();
        assert_eq!(original, json!([{"field": path, "value": long}]));
        assert_eq!(String::from_utf8(sinks.truncated).unwrap(), format!("\"{path}\""));
    }

    #[test]
    fn the_longest_term_a_cut_leaf_makes_fits_under_any_path() {
        // `<field>.<path>=<value>`, the field and path written out twice at most, with
        // separators: what OpenSearch 2.16+ indexes for a flat_object leaf.
        for path_len in [0, 1, 40, 100, 1_000, 10_000] {
            let term = 2 * path_len + 2 + leaf_budget(path_len);
            assert!(term <= MAX_TERM_BYTES || leaf_budget(path_len) == 0, "path of {path_len} bytes");
        }
        assert_eq!(leaf_budget(100), MAX_TERM_BYTES - 264, "most of the limit stays for the value");
        assert_eq!(leaf_budget(MAX_TERM_BYTES), 0);
    }

    #[test]
    fn escapes_count_by_their_decoded_length() {
        // 40,000 raw bytes of `\n` escapes decode to 20,000 bytes: under the limit, not cut.
        let raw = format!(r#"{{"v":"{}"}}"#, "\\n".repeat(20_000));
        let (doc, sinks) = run("requestParameters", &raw);
        assert_eq!(doc["v"].as_str().unwrap().len(), 20_000);
        assert!(sinks.truncated.is_empty());
        // Escaped and over the limit: cut on the decoded text.
        let raw = format!(r#"{{"v":"{}"}}"#, "\\u00e9".repeat(20_000));
        let (doc, sinks) = run("requestParameters", &raw);
        assert!(doc["v"].as_str().unwrap().len() <= leaf_budget("requestParameters.v".len()));
        assert!(!sinks.truncated.is_empty());
    }

    #[test]
    fn a_cut_is_the_longest_prefix_of_the_decoded_text_that_fits() {
        // Characters of one to four bytes, written as they are and escaped.
        let pieces =
            ["a", "é", "€", "😀", "\\n", "\\\"", "\\u0041", "\\u00e9", "\\u20ac", "\\ud83d\\ude00", "\\/", "\\ud800"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut raw = String::from("\"");
            for _ in 0..100 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                raw.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            raw.push('"');
            // A lone surrogate counts three bytes, as U+FFFD would.
            let decoded = decode(&raw);
            for budget in [0, 1, 2, 3, 5, 50, 133, decoded.len() - 1, decoded.len(), decoded.len() + 1] {
                match cut_string(raw.as_bytes(), budget) {
                    None => assert!(decoded.len() <= budget, "{raw} {budget}"),
                    Some(cut) => {
                        let text = decode(std::str::from_utf8(&cut).unwrap());
                        assert!(text.len() <= budget && decoded.starts_with(&text), "{raw} {budget}");
                        let next = decoded[text.len()..].chars().next().unwrap();
                        assert!(text.len() + next.len_utf8() > budget, "cut no more than needed: {raw} {budget}");
                    }
                }
            }
        }
    }

    /// A JSON string's text, a lone surrogate read as U+FFFD.
    fn decode(quoted: &str) -> String {
        serde_json::from_str(&quoted.replace("\\ud800", "\\ufffd")).unwrap()
    }

    #[test]
    fn every_long_leaf_in_an_array_is_cut() {
        let long = "x".repeat(40_000);
        let raw = json!({"items": [long, {"k": long}, "ok"]}).to_string();
        let (doc, sinks) = run("responseElements", &raw);
        assert_eq!(doc["items"][0].as_str().unwrap().len(), leaf_budget("responseElements.items".len()));
        assert_eq!(doc["items"][1]["k"].as_str().unwrap().len(), leaf_budget("responseElements.items.k".len()));
        assert_eq!(doc["items"][2], "ok");
        assert_eq!(
            String::from_utf8(sinks.truncated).unwrap(),
            r#""responseElements.items","responseElements.items.k""#
        );
    }

    #[test]
    fn a_wrapped_long_string_is_cut_under_its_wrapped_path() {
        let long = "y".repeat(40_000);
        let (doc, sinks) = run("requestParameters", &json!(long).to_string());
        assert_eq!(doc["value"].as_str().unwrap().len(), leaf_budget("requestParameters.value".len()));
        assert_eq!(String::from_utf8(sinks.truncated).unwrap(), r#""requestParameters.value""#);
    }
}

//! Removing the whitespace between the tokens of one JSON value, in place. A record framed from
//! a pretty-printed file (newlines and indentation inside it) would otherwise be copied into the
//! `_bulk` NDJSON with its newlines, breaking the one-document-per-line format. Strings are
//! copied as they are: a JSON string cannot hold a raw newline, so every newline of a valid
//! value is whitespace between tokens. Pure.

/// Compacts the JSON value in `bytes` in place and returns its new length: every space, tab,
/// carriage return and newline outside a string is dropped, everything else kept in order.
/// Input that is not valid JSON comes out with the same bytes minus such whitespace, so the
/// record's own parse reports what is wrong with it.
pub fn compact_in_place(bytes: &mut [u8]) -> usize {
    let n = bytes.len();
    let (mut read, mut write) = (0, 0);
    while read < n {
        match bytes[read] {
            b' ' | b'\n' | b'\r' | b'\t' => read += 1,
            b'"' => {
                let start = read;
                read += 1;
                while read < n {
                    match memchr::memchr2(b'"', b'\\', &bytes[read..]) {
                        None => read = n,
                        Some(p) if bytes[read + p] == b'\\' => read = (read + p + 2).min(n),
                        Some(p) => {
                            read += p + 1;
                            break;
                        }
                    }
                }
                bytes.copy_within(start..read, write);
                write += read - start;
            }
            b => {
                bytes[write] = b;
                write += 1;
                read += 1;
            }
        }
    }
    write
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(text: &str) -> String {
        let mut bytes = text.as_bytes().to_vec();
        let n = compact_in_place(&mut bytes);
        String::from_utf8(bytes[..n].to_vec()).unwrap()
    }

    #[test]
    fn drops_whitespace_between_tokens_and_keeps_strings_whole() {
        let pretty = "{\n   \"a\" : [ 1 ,\t2 ],\r\n   \"b\": \"x  y\\n\\\" }\",\n \"c\" : { } , \"d\":null\n}";
        assert_eq!(compact(pretty), r#"{"a":[1,2],"b":"x  y\n\" }","c":{},"d":null}"#);
        let value: serde_json::Value = serde_json::from_str(pretty).unwrap();
        assert_eq!(compact(pretty), serde_json::to_string(&value).unwrap());
    }

    #[test]
    fn escaped_backslashes_before_a_quote_end_the_string() {
        assert_eq!(compact(r#"[ "a\\" , "b" ]"#), r#"["a\\","b"]"#);
    }

    #[test]
    fn compact_input_is_unchanged_and_broken_input_stays_in_bounds() {
        let compact_text = r#"{"eventName":"A B","n":1.5e3,"t":true}"#;
        assert_eq!(compact(compact_text), compact_text);
        assert_eq!(compact("[\"open \\"), "[\"open \\");
        assert_eq!(compact(" "), "");
    }
}

//! Writing JSON string literals fast: the bytes that need no escape (almost all of them in logs)
//! are found eight at a time and copied in runs. Output is byte-identical to `serde_json`'s
//! (`\"`, `\\`, `\b \f \n \r \t`, other control characters as `\u00xx`). Pure.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is a control character (< 0x20), `"` or `\`.
#[inline]
fn needs_escape(w: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (control | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\')))) != 0
}

/// Writes `s` as a JSON string literal, quotes included.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let word = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"));
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_ascii_character_is_written_as_serde_json_writes_it() {
        for c in 0u8..=0x7f {
            let s = format!("ab{}cdefghijk{}", c as char, c as char);
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "byte {c:#04x}");
            let alone = (c as char).to_string();
            assert_eq!(ours(&alone), serde_json::to_string(&alone).unwrap(), "byte {c:#04x} alone");
        }
    }

    #[test]
    fn mixed_text_at_every_alignment_matches_serde_json() {
        let pieces = ["plain", "\"", "\\", "\n", "\u{1}", "é", "名前", "\u{7f}", "🦀", " ", "\t\r", "\u{1f}"];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
        }
        assert_eq!(ours(""), "\"\"");
    }

    fn escaped(b: u8) -> bool {
        b < 0x20 || b == b'"' || b == b'\\'
    }

    #[test]
    fn a_word_needs_escaping_exactly_when_one_of_its_bytes_does() {
        // A false "needs escape" would still write the right text, one byte at a time: only
        // the exact answer keeps the eight-at-a-time path taken.
        for filler in [b'a', b' ', 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'] {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut bytes = [filler; 8];
                    bytes[at] = b;
                    let want = escaped(b) || escaped(filler);
                    assert_eq!(needs_escape(u64::from_le_bytes(bytes)), want, "{bytes:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_word_needs_escaping_exactly_when_one_of_its_bytes_does(bytes in proptest::prelude::any::<[u8; 8]>()) {
            proptest::prop_assert_eq!(needs_escape(u64::from_le_bytes(bytes)), bytes.iter().any(|&b| escaped(b)));
        }

        #[test]
        fn any_text_is_written_as_serde_json_writes_it(s in proptest::prelude::any::<String>()) {
            let written = ours(&s);
            proptest::prop_assert_eq!(&written, &serde_json::to_string(&s).unwrap());
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&written).unwrap(), s);
        }
    }
}

use super::*;
use crate::decode::RawEvent;

/// What serde_json says of `bytes` as a record: its fields (key unescaped, value text), or
/// whether it failed at the end of the input (`Err(true)`) or on a syntax error.
fn serde(bytes: &[u8]) -> Result<Vec<(String, String)>, bool> {
    match RawEvent::parse(bytes) {
        Ok(ev) => Ok(ev.fields.iter().map(|(k, v)| (k.to_string(), v.get().to_owned())).collect()),
        Err(e) => Err(e.is_eof()),
    }
}

/// What the one pass says of `bytes` as a whole record, in serde's terms.
fn split(bytes: &[u8]) -> Result<Vec<(String, String)>, bool> {
    let (mut members, mut stack) = (Vec::new(), Vec::new());
    match object(bytes, &mut members, &mut stack) {
        Split::Complete { len, newline } => {
            let rest = &bytes[len..];
            let text = std::str::from_utf8(&bytes[..len]).map_err(|_| false)?;
            if !rest.iter().all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
                return Err(false);
            }
            assert_eq!(newline, bytes[..len].iter().any(|&b| b == b'\n' || b == b'\r'), "{text}");
            let fields = members.iter().map(|m| {
                let key = &text[m.key.0..m.key.1];
                assert_eq!(m.escaped, key.contains('\\'));
                let key = if m.escaped { serde_json::from_str(&format!("\"{key}\"")).unwrap() } else { key.to_owned() };
                (key, text[m.value.0..m.value.1].to_owned())
            });
            Ok(fields.collect())
        }
        Split::Short => Err(true),
        Split::Invalid => Err(false),
    }
}

fn agree(bytes: &[u8]) {
    let (want, got) = (serde(bytes), split(bytes));
    // Refusals agree on whether the record ended early ("EOF while parsing") too, but for a
    // cut record with a control byte in a string, which the one pass looks for only once it
    // has the whole record (the framer then reads on and finds it invalid).
    let cut_with_control = got == Err(true) && want == Err(false) && has_control(bytes);
    assert!(got == want || cut_with_control, "{got:?} {want:?}: {}", String::from_utf8_lossy(bytes));
}

fn samples() -> Vec<Vec<u8>> {
    let records = crate::testing::sample_records();
    let compact = records.iter().map(|r| serde_json::to_vec(r).unwrap());
    let pretty = records.iter().step_by(7).map(|r| serde_json::to_vec_pretty(r).unwrap());
    compact.chain(pretty).collect()
}

#[test]
fn every_sample_record_splits_as_serde_reads_it() {
    let samples = samples();
    assert!(samples.len() > 400, "{}", samples.len());
    for bytes in &samples {
        assert!(serde(bytes).is_ok());
        agree(bytes);
    }
}

#[test]
fn damaged_records_are_refused_exactly_when_serde_refuses_them() {
    // Each sample record damaged a few ways at random spots: a byte dropped, replaced or put
    // in (from the bytes JSON's grammar turns on), or the record cut short.
    const BYTES: &[u8] = b"{}[]\",:\\/0123456789.eE+-tfnulrsa \n\t\r\x01\x1f\x7f";
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut valid, mut invalid) = (0, 0);
    for bytes in samples() {
        for _ in 0..24 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 2 {
                let at = (next() % b.len() as u64) as usize;
                let byte = BYTES[(next() % BYTES.len() as u64) as usize];
                match next() % 4 {
                    0 => drop(b.remove(at)),
                    1 => b[at] = byte,
                    2 => b.insert(at, byte),
                    _ => b.truncate(at.max(1)),
                }
            }
            if b.first() != Some(&b'{') {
                continue; // the framer reads only objects with the one pass
            }
            agree(&b);
            if serde(&b).is_ok() { valid += 1 } else { invalid += 1 }
        }
    }
    assert!(valid > 4_000 && invalid > 5_000, "{valid} valid, {invalid} invalid");
}

#[test]
fn odd_but_valid_and_invalid_objects() {
    for ok in [
        "{}",
        r#"{"a":[[[[{"b":[{}]}]]]],"c":-0.5e+10,"d":"\u00e9\n\"","":null,"e":[true,false,null,{}]}"#,
        "{ \"a\" :\n[ 1 , 2 ]\r\n}",
        r#"{"a\"b":1,"a\u0041":"x"}"#,
        r#"{"a":0,"b":-0,"c":1E2,"d":1e-2,"e":10.25}"#,
    ] {
        agree(ok.as_bytes());
        assert!(split(ok.as_bytes()).is_ok(), "{ok}");
    }
    for bad in [
        "[]",
        "{,}",
        r#"{"a":1,}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":{"b":1,}}"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":1e}"#,
        r#"{"a":-}"#,
        r#"{"a":tru}"#,
        r#"{"a":nul1}"#,
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12g4"}"#,
        "{\"a\":\"tab\tinside\"}",
        "{\"a\":\"\x01\"}",
        r#"{"a":[}"#,
        r#"{"a":{]}"#,
        r#"{"a":{"b"}}"#,
        r#"{"a":{1:2}}"#,
        r#"{a:1}"#,
        r#"{"a" 1}"#,
        r#"{"a":1 "b":2}"#,
    ] {
        agree(bad.as_bytes());
        assert_eq!(split(bad.as_bytes()), Err(false), "{bad}");
    }
    for short in [r#"{"a":"#, r#"{"a":[1,{"b":"x"#, r#"{"a":tr"#, r#"{"a":12"#, r#"{"a":"\u00"#, "{"] {
        assert_eq!(split(short.as_bytes()), Err(true), "{short}");
    }
}

#[test]
fn deep_nesting_is_no_limit_inside_a_value() {
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    agree(deep.as_bytes());
    assert!(split(deep.as_bytes()).is_ok());
}

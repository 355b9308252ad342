use super::*;
use crate::decode::RawEvent;
use serde_json::Value;

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
    let (mut members, mut stack) = (Vec::new(), Nesting::default());
    match object(bytes, &mut members, &mut stack) {
        Split::Complete { len, newline, nested } => {
            let rest = &bytes[len..];
            let text = std::str::from_utf8(&bytes[..len]).map_err(|_| false)?;
            if !rest.iter().all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
                return Err(false);
            }
            assert_eq!(newline, bytes[..len].iter().any(|&b| b == b'\n' || b == b'\r'), "{text}");
            // The nested members rebuild every field as serde_json reads it.
            let tops =
                std::iter::successors(Some(0), |&i| members.get(i).map(Member::end)).take_while(|&i| i < members.len());
            let fields = tops.map(|i| {
                let m = members[i];
                if nested {
                    let value = serde_json::from_str::<Value>(&text[m.value()]).unwrap();
                    assert_eq!(rebuild(text, &members, i), value);
                }
                (key(text, &m), text[m.value()].to_owned())
            });
            Ok(fields.collect())
        }
        Split::Short => Err(true),
        Split::Invalid => Err(false),
    }
}

fn key(text: &str, m: &Member) -> String {
    let key = &text[m.key()];
    assert_eq!(m.escaped(), key.contains('\\'));
    if m.escaped() { serde_json::from_str(&format!("\"{key}\"")).unwrap() } else { key.to_owned() }
}

/// The value of member `at` made from the list alone (its scalars parsed from their text).
fn rebuild(text: &str, members: &[Member], at: usize) -> Value {
    let m = members[at];
    let children =
        std::iter::successors(Some(at + 1), |&i| members.get(i).map(Member::end)).take_while(|&i| i < m.end());
    match text.as_bytes()[m.value().start] {
        b'{' => {
            let mut object = serde_json::Map::new();
            let empty = text[m.value().start + 1..m.value().end - 1].trim().is_empty();
            assert_eq!(empty, m.end() == at + 1, "an object lists its members");
            for i in children {
                object.insert(key(text, &members[i]), rebuild(text, members, i));
            }
            Value::Object(object)
        }
        b'[' => Value::Array(children.map(|i| rebuild(text, members, i)).collect()),
        _ => {
            assert_eq!(m.end(), at + 1, "a scalar has no members");
            serde_json::from_str(&text[m.value()]).unwrap()
        }
    }
}

fn agree(bytes: &[u8]) {
    let (want, got) = (serde(bytes), split(bytes));
    // Refusals agree on whether the record ended early ("EOF while parsing") too, but for a
    // cut record with a control byte in a string, which the one pass looks for only once it
    // has the whole record (the framer then reads on and finds it invalid).
    let cut_with_control = got == Err(true) && want == Err(false) && controls(bytes) > 0;
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
        r#"{"a":tx"#,
        r#"{"a":fx"#,
        r#"{"a":nul1}"#,
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12g4"}"#,
        "{\"a\":\"tab\tinside\"}",
        "{\"a\":\"\x01\"}",
        r#"{"a":[}"#,
        r#"{"a":{]}"#,
        r#"{"a":1]"#,
        r#"{"a":{"b":1]}"#,
        r#"{"a":[1}]}"#,
        r#"{"a":[{"b":1]]}"#,
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
    assert!(serde(deep.as_bytes()).is_ok());
    let (mut members, mut stack) = (Vec::new(), Nesting::default());
    let read = object(deep.as_bytes(), &mut members, &mut stack);
    // Past MAX_MEMBERS only the top-level members are listed.
    assert_eq!(read, Split::Complete { len: deep.len(), newline: false, nested: false });
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].value(), 5..deep.len() - 1);
    // One bit a level: 100,000 levels in 1,563 words.
    assert_eq!(stack.kinds.len(), 100_000usize.div_ceil(64));
    assert!(stack.listed.is_empty());
}

#[test]
fn the_member_list_is_bounded() {
    let wide = |n: usize| format!("{{\"a\":[{}0],\"b\":1}}", "0,".repeat(n - 1));
    let (mut members, mut stack) = (Vec::new(), Nesting::default());
    let fits = wide(MAX_MEMBERS - 2);
    assert!(matches!(object(fits.as_bytes(), &mut members, &mut stack), Split::Complete { nested: true, .. }));
    assert_eq!(members.len(), MAX_MEMBERS);
    let over = wide(MAX_MEMBERS);
    assert!(matches!(object(over.as_bytes(), &mut members, &mut stack), Split::Complete { nested: false, .. }));
    assert_eq!(members.len(), 2);
    agree(over.as_bytes());
}

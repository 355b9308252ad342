//! The framer against every shape a file can take: any read size, pretty-printed records,
//! escapes across reads, other keys and bare arrays, what is not a log file, records over the
//! limit, bounded memory and the decompressed-size cap.

use super::*;

/// A reader that hands out at most `n` bytes per read, to exercise refills everywhere.
struct Trickle<'a>(&'a [u8], usize);
impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.1.min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn records_with(input: &[u8], step: usize, limits: FrameLimits) -> Result<Vec<String>, DecodeError> {
    let mut r = RecordReader::with_limits(Trickle(input, step), limits);
    let mut out = Vec::new();
    while let Some(framed) = r.next_record()? {
        match framed {
            Framed::Record { offset, bytes, members } => {
                // The members read on the framing pass are serde_json's reading of the record;
                // only what is not a valid object comes without them.
                let text = std::str::from_utf8(bytes).unwrap();
                let serde = serde_json::from_str::<crate::decode::RawEvent<'_>>(text);
                match members {
                    Some(members) => {
                        let read = crate::decode::RawEvent::from_listed(text, members).unwrap();
                        assert_eq!(format!("{:?}", read.fields), format!("{:?}", serde.unwrap().fields));
                    }
                    None => assert!(serde.is_err(), "{text}"),
                }
                // The record as it stands at its offset, compacted when the file is
                // pretty-printed (compacting the rest of the input keeps its prefix).
                let mut rest = input[offset as usize..].to_vec();
                if input.contains(&b'\n') || input.contains(&b'\r') {
                    let n = super::super::compact::compact_in_place(&mut rest);
                    rest.truncate(n);
                }
                assert_eq!(&rest[..bytes.len()], bytes, "offset points at it");
                out.push(String::from_utf8(bytes.to_vec()).unwrap());
            }
            Framed::TooLarge { offset, size, head } => {
                let at = &input[offset as usize..];
                assert_eq!(&at[..head.len()], head, "the head is the record's start");
                assert!(at[size as usize - 1] == b'}' || at[size as usize - 1] == b'"', "size ends the record");
                out.push(format!("too large: {size}, head {}", head.len()));
            }
        }
    }
    Ok(out)
}

fn records(input: &[u8], step: usize) -> Result<Vec<String>, DecodeError> {
    records_with(input, step, FrameLimits::default())
}

#[test]
fn frames_records_whatever_the_read_size() {
    let input = br#" {"Records": [ {"a":"x}\"]{","b":[1,{"c":null}]} ,{"d":"\\"}] } "#;
    for step in [1, 2, 3, 7, 1000] {
        let got = records(input, step).unwrap();
        assert_eq!(got, vec![r#"{"a":"x}\"]{","b":[1,{"c":null}]}"#, r#"{"d":"\\"}"#], "step {step}");
    }
}

#[test]
fn pretty_printed_records_come_out_compact_whatever_the_read_size() {
    let records_json = serde_json::json!([
        {"eventName": "RunInstances", "requestParameters": {"a": [1, {"b": "x \n y"}], "c": {}}},
        {"eventName": "Put \" }", "tags": ["a b", "c\\"], "n": null}
    ]);
    let expected: Vec<String> = records_json.as_array().unwrap().iter().map(|v| v.to_string()).collect();
    let pretty = serde_json::to_string_pretty(&serde_json::json!({"Records": records_json})).unwrap();
    let crlf = pretty.replace('\n', "\r\n\t");
    for input in [&pretty, &crlf] {
        for step in [1, 2, 5, 13, 1000] {
            assert_eq!(records(input.as_bytes(), step).unwrap(), expected, "step {step}");
        }
    }
}

#[test]
fn escapes_are_followed_across_every_read_boundary() {
    // Strings ending in runs of backslashes, escaped quotes and brackets inside strings.
    let values: Vec<String> = (0..6)
        .flat_map(|run| {
            let slashes = "\\".repeat(run);
            [slashes.clone(), format!("a{slashes}\"}}]{slashes}"), format!("{slashes}\"[{{{slashes}")]
        })
        .collect();
    let expected: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(n, v)| serde_json::json!({"n": n, "v": v, "w": [v, {"x": v}]}).to_string())
        .collect();
    let input = format!("{{\"Records\":[{}]}}", expected.join(","));
    for step in 1..=9 {
        assert_eq!(records(input.as_bytes(), step).unwrap(), expected, "step {step}");
    }
}

#[test]
fn skips_other_top_level_keys_and_accepts_bare_arrays() {
    let input = br#"{"x":{"Records":[{"no":1}]},"n":-1.5e3,"s":"Records","t":true,"Records":[{"a":1}],"z":[]}"#;
    assert_eq!(records(input, 5).unwrap(), vec![r#"{"a":1}"#]);
    assert_eq!(records(br#"[{"a":1},{"b":2}]"#, 4).unwrap().len(), 2);
    assert_eq!(records(br#"{"Records":[]}"#, 4).unwrap().len(), 0);
}

#[test]
fn rejects_what_is_not_a_log_file() {
    assert!(matches!(records(b"", 8), Err(DecodeError::Empty)));
    assert!(matches!(records(b"  \n", 8), Err(DecodeError::Empty)));
    assert!(matches!(records(br#"{"Digest":1}"#, 8), Err(DecodeError::NoRecords)));
    assert!(matches!(records(b"hello", 8), Err(DecodeError::Syntax { .. })));
    assert!(matches!(records(br#"{"Records":{}}"#, 8), Err(DecodeError::Syntax { .. })));
    assert!(matches!(records(br#"{"Records":[{"a":1}"#, 3), Err(DecodeError::Truncated { .. })));
    assert!(matches!(records(br#"{"Records":[{"a":"1}]}"#, 3), Err(DecodeError::Truncated { .. })));
    assert!(matches!(records(br#"{"Records":[{"a":1}{"b":2}]}"#, 3), Err(DecodeError::Syntax { .. })));
    assert!(matches!(records(br#"{"Records":[]} x"#, 3), Err(DecodeError::Syntax { .. })));
}

#[test]
fn memory_stays_bounded_by_the_largest_record() {
    // 20,000 records of ~1 KB stream through a buffer that never grows past its start size.
    let rec = format!(r#"{{"eventID":"x","pad":"{}"}}"#, "y".repeat(1000));
    let mut input = b"{\"Records\":[".to_vec();
    for i in 0..20_000 {
        if i > 0 {
            input.push(b',');
        }
        input.extend_from_slice(rec.as_bytes());
    }
    input.extend_from_slice(b"]}");
    let mut r = RecordReader::new(&input[..]);
    let mut n = 0;
    while let Some(Framed::Record { bytes, .. }) = r.next_record().unwrap() {
        assert_eq!(bytes.len(), rec.len());
        n += 1;
    }
    assert_eq!(n, 20_000);
    assert_eq!(r.buf.len(), CHUNK * 2, "buffer grew although no record needed it");
}

#[test]
fn grows_for_a_record_larger_than_the_buffer() {
    let big = format!(r#"{{"Records":[{{"p":"{}"}}]}}"#, "z".repeat(3 * CHUNK));
    let got = records(big.as_bytes(), 70_000).unwrap();
    assert_eq!(got[0].len(), 3 * CHUNK + 8);
}

#[test]
fn a_record_over_the_limit_is_skipped_and_the_next_one_read() {
    let limits = FrameLimits { max_record_bytes: 64 << 10, max_total_bytes: 1 << 30 };
    // Over the limit by far, with escapes and brackets inside strings, then a normal record.
    let big =
        format!(r#"{{"eventID":"big","p":"{}\"]}}","q":[{}]}}"#, "x".repeat(300 << 10), "1,".repeat(50_000) + "1");
    let input = format!(r#"{{"Records":[{{"a":1}},{big},{{"b":2}}],"x":"{}"}}"#, "y".repeat(200 << 10));
    for step in [1, 1000, 70_000, 1 << 20] {
        let got = records_with(input.as_bytes(), step, limits).unwrap();
        assert_eq!(
            got,
            vec![r#"{"a":1}"#.to_owned(), format!("too large: {}, head 16384", big.len()), r#"{"b":2}"#.to_owned()]
        );
    }
    // Read whole in one buffer: a record of exactly the limit is read, one byte more is not.
    for (size, want) in [(64 << 10, None), ((64 << 10) + 1, Some(format!("too large: {}, head 16384", (64 << 10) + 1)))]
    {
        let record = format!(r#"{{"p":"{}"}}"#, "x".repeat(size - 8));
        let input = format!(r#"{{"Records":[{record}]}}"#);
        for step in [1, 1 << 20] {
            let got = records_with(input.as_bytes(), step, limits).unwrap();
            assert_eq!(got, vec![want.clone().unwrap_or_else(|| record.clone())], "step {step}");
        }
    }
    // The scan finds the record over the limit at the end of a full buffer, with an escape's
    // backslash as the buffer's last byte: what it drops ends at the buffer's end, not one past.
    let prefix = r#"[{"a":1},{"p":""#;
    let big = format!(r#"{}{}\"{}"}}]"#, prefix, "x".repeat(2 * CHUNK - 1 - prefix.len()), "y".repeat(100 << 10));
    assert_eq!(big.as_bytes()[2 * CHUNK - 1], b'\\');
    let got = records_with(big.as_bytes(), 1 << 20, limits).unwrap();
    assert_eq!(got, [r#"{"a":1}"#.to_owned(), format!("too large: {}, head 16384", big.len() - 10)]);
    // A top-level string record is scanned, escapes and all.
    for step in [1, 2, 3, 1000] {
        let got = records_with(br#"["x\"]y\\",{"c":3}]"#, step, limits).unwrap();
        assert_eq!(got, [r#""x\"]y\\""#, r#"{"c":3}"#], "step {step}");
    }
    // A top-level string record over the limit is skipped the same way.
    let input = format!(r#"["{}",{{"c":3}}]"#, "z".repeat(100 << 10));
    let got = records_with(input.as_bytes(), 4096, limits).unwrap();
    assert_eq!(got, vec![format!("too large: {}, head 16384", (100 << 10) + 2), r#"{"c":3}"#.to_owned()]);
}

#[test]
fn the_buffer_shrinks_back_after_a_large_record_and_never_outgrows_the_limit() {
    let limits = FrameLimits { max_record_bytes: 1 << 20, max_total_bytes: 1 << 30 };
    let input = format!(r#"[{{"p":"{}"}},{{"q":"{}"}},{{"r":1}}]"#, "a".repeat(900 << 10), "b".repeat(10 << 20));
    let mut r = RecordReader::with_limits(input.as_bytes(), limits);
    assert!(matches!(r.next_record().unwrap(), Some(Framed::Record { .. })));
    assert!(r.buf.len() > 900 << 10);
    assert!(matches!(r.next_record().unwrap(), Some(Framed::TooLarge { .. })));
    assert!(r.buf.len() <= (1 << 20) + 3 * CHUNK, "grew to {}", r.buf.len());
    assert!(matches!(r.next_record().unwrap(), Some(Framed::Record { .. })));
    assert_eq!(r.buf.len(), CHUNK * 2, "the buffer did not shrink back");
    assert!(r.next_record().unwrap().is_none());

    // A record just over the limit: to find that it is, the buffer doubles up to the limit and
    // two chunks of read-ahead, and stops there.
    let input = format!(r#"[{{"a":1}},{{"p":"{}"}}]"#, "a".repeat(1 << 20));
    let mut r = RecordReader::with_limits(input.as_bytes(), limits);
    assert!(matches!(r.next_record().unwrap(), Some(Framed::Record { .. })));
    assert!(matches!(r.next_record().unwrap(), Some(Framed::TooLarge { size, .. }) if size == (1 << 20) + 8));
    assert_eq!(r.buf.len(), (1 << 20) + 2 * CHUNK);
}

#[test]
fn decompressed_bytes_are_capped() {
    // Whitespace is what a gzip bomb inflates to; it must not be read without end.
    let input = format!("{{\"Records\":[{}{{\"a\":1}}]}}", " ".repeat(3 << 20));
    let limits = FrameLimits { max_record_bytes: 1 << 20, max_total_bytes: 1 << 20 };
    let err = records_with(input.as_bytes(), 1 << 16, limits).unwrap_err();
    assert!(matches!(err, DecodeError::TooMuchData { limit } if limit == 1 << 20), "{err}");
    let limits = FrameLimits { max_record_bytes: 1 << 20, max_total_bytes: 4 << 20 };
    assert_eq!(records_with(input.as_bytes(), 1 << 16, limits).unwrap().len(), 1);
    // The limit itself is allowed, one byte more is not.
    for (total, allowed) in [(input.len(), true), (input.len() - 1, false)] {
        let limits = FrameLimits { max_record_bytes: 1 << 20, max_total_bytes: total as u64 };
        assert_eq!(records_with(input.as_bytes(), 1 << 16, limits).is_ok(), allowed, "limit {total}");
    }
}

/// A reader interrupted before every read, as a signal may do.
struct Interrupting<'a>(&'a [u8], bool);
impl Read for Interrupting<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.1 = !self.1;
        if self.1 {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        self.0.read(out)
    }
}

#[test]
fn an_interrupted_read_is_tried_again() {
    let mut r = RecordReader::new(Interrupting(br#"{"Records":[{"a":1}]}"#, false));
    assert!(matches!(r.next_record().unwrap(), Some(Framed::Record { bytes: br#"{"a":1}"#, .. })));
    assert!(r.next_record().unwrap().is_none());
    // Any other error is the object's.
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("connection reset"))
        }
    }
    assert!(matches!(RecordReader::new(Broken).next_record(), Err(DecodeError::Io(_))));
}

/// Every record a reader hands out, with its members read on the framing pass (checked to be
/// serde_json's reading of it).
fn events(input: &[u8], step: usize) -> Result<Vec<String>, DecodeError> {
    let mut r = RecordReader::new(Trickle(input, step));
    let mut out = Vec::new();
    while let Some(framed) = r.next_record()? {
        let Framed::Record { bytes, members: Some(members), .. } = framed else { panic!("not a listed record") };
        let text = std::str::from_utf8(bytes).unwrap();
        let serde = serde_json::from_str::<crate::decode::RawEvent<'_>>(text).unwrap();
        let read = crate::decode::RawEvent::from_listed(text, members).unwrap();
        assert_eq!(format!("{:?}", read.fields), format!("{:?}", serde.fields));
        out.push(text.to_owned());
    }
    Ok(out)
}

fn sample_lines() -> Vec<String> {
    crate::testing::sample_records().iter().take(40).map(|r| serde_json::to_string(r).unwrap()).collect()
}

#[test]
fn reads_one_event_per_line_as_cloudwatch_logs_exports_them() {
    let lines = sample_lines();
    let plain = lines.join("\n") + "\n";
    let stamped: String = lines.iter().map(|l| format!("2024-08-01T10:00:00.000Z {l}\r\n")).collect();
    let pretty: String = crate::testing::sample_records()
        .iter()
        .take(40)
        .map(|r| serde_json::to_string_pretty(r).unwrap() + "\n")
        .collect();
    for input in [&plain, &stamped, &pretty, &lines.join("")] {
        for step in [1, 7, 4096] {
            assert_eq!(events(input.as_bytes(), step).unwrap(), lines, "step {step}");
        }
    }
    // One event alone is a file too.
    assert_eq!(events(lines[0].as_bytes(), 3).unwrap(), &lines[..1]);
    for bad in [format!("{}\nnot json\n", lines[0]), format!("{} x", lines[0]), format!("2024 {}", lines[0])] {
        assert!(matches!(events(bad.as_bytes(), 5), Err(DecodeError::Syntax { .. })), "{bad}");
    }
    let cut = format!("{}\n2024-08-01T10:00", lines[0]);
    assert!(matches!(events(cut.as_bytes(), 5), Err(DecodeError::Truncated { .. })));
    assert!(matches!(events(b"2024-08-01T10:00:00Z ", 5), Err(DecodeError::Syntax { .. })));
}

#[test]
fn reads_the_events_of_lookup_events_output() {
    let lines = sample_lines();
    let elements: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::json!({"EventId": i.to_string(), "EventName": "x", "CloudTrailEvent": l, "Resources": []})
                .to_string()
        })
        .collect();
    let compact = format!(r#"{{"Events":[{}],"NextToken":"abc"}}"#, elements.join(","));
    let value: serde_json::Value = serde_json::from_str(&compact).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    for input in [&compact, &pretty] {
        for step in [1, 9, 4096] {
            assert_eq!(events(input.as_bytes(), step).unwrap(), lines, "step {step}");
        }
    }
    // A pretty-printed event inside the string is compacted.
    let inner = serde_json::to_string_pretty(&serde_json::json!({"eventID": "e", "p": [1, 2]})).unwrap();
    let input = serde_json::json!({"Events": [{"CloudTrailEvent": inner}]}).to_string();
    assert_eq!(events(input.as_bytes(), 4).unwrap(), [r#"{"eventID":"e","p":[1,2]}"#]);
    // An event followed by more text is handed on unlisted, for the parser to refuse.
    for inner in [r#"{"eventID":"a"} junk"#, "{\"eventID\":\n\"a\"} junk"] {
        let input = serde_json::json!({"Events": [{"CloudTrailEvent": inner}]}).to_string();
        let mut r = RecordReader::new(input.as_bytes());
        let Some(Framed::Record { bytes, members, .. }) = r.next_record().unwrap() else { panic!("no record") };
        assert_eq!((bytes.starts_with(br#"{"eventID":"#), members), (true, None), "{inner}");
    }
    let without = br#"{"Events":[{"EventId":"1","CloudTrailEvent":{"eventID":"1"}}]}"#;
    let Err(DecodeError::Syntax { msg, .. }) = events(without, 4) else { panic!("an element without its event") };
    assert!(msg.contains("CloudTrailEvent"), "{msg}");
}

#[test]
fn a_file_of_no_accepted_shape_is_told_which_are() {
    for input in [&b"hello"[..], b"<html>", b"2024-08-01 07:00:00 x"] {
        let e = records(input, 8).unwrap_err().to_string();
        assert!(e.contains("one event object per line") && e.contains("lookup-events"), "{e}");
    }
    // A file that opens with a digit but no timestamp is refused from its first bytes, not
    // read whole to find out.
    let mut input = b"12345x ".to_vec();
    input.resize(10 << 20, b'7');
    let mut r = RecordReader::new(&input[..]);
    assert!(matches!(r.next_record(), Err(DecodeError::Syntax { .. })));
    assert!(r.buf.len() <= 2 * CHUNK, "read {} bytes", r.buf.len());
    let e = records(br#"{"Digest":1}"#, 8).unwrap_err().to_string();
    assert!(e.contains("one event object per line") && e.contains("lookup-events"), "{e}");
    let e = records(b"hello", 8).unwrap_err().to_string();
    assert!(e.contains("name follows S3's pattern"), "{e}");
}

proptest::proptest! {
    /// Any records, compact or pretty-printed, read any number of bytes at a time, frame into
    /// exactly those records.
    #[test]
    fn any_records_frame_the_same_at_any_read_size(
        values in proptest::collection::vec(proptest::prelude::any::<String>(), 1..6),
        pretty in proptest::prelude::any::<bool>(),
        step in 1usize..64,
    ) {
        let sent: Vec<serde_json::Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| serde_json::json!({"eventID": format!("id-{i}"), "value": v, "nested": {"list": [v, i]}}))
            .collect();
        let file = serde_json::json!({"Records": sent});
        let input = if pretty { serde_json::to_vec_pretty(&file) } else { serde_json::to_vec(&file) }.unwrap();
        let framed = records(&input, step).unwrap();
        let read: Vec<serde_json::Value> = framed.iter().map(|r| serde_json::from_str(r).unwrap()).collect();
        proptest::prop_assert_eq!(read, sent);
    }
}

//! Tests of the detection index: what each rule needs, and what a filter admits.

use super::*;

fn need_of(detection: &str) -> Option<Need> {
    let yaml = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\n");
    need(&rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules.remove(0))
}

fn names(detection: &str) -> Option<Vec<String>> {
    match need_of(detection)? {
        Need::Names(s) => Some(s.into_iter().collect()),
        _ => None,
    }
}

#[test]
fn name_sets_follow_the_condition() {
    let both = "  sel:\n    eventSource: ec2.amazonaws.com\n    eventName:\n      - CreateVpc\n      - DeleteVpc\n  condition: sel";
    assert_eq!(names(both).unwrap(), ["createvpc", "deletevpc"]);
    let or = "  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: a or b";
    assert_eq!(names(or).unwrap(), ["a", "b"]);
    let and_not = "  a:\n    eventName: A\n  f:\n    userAgent: x\n  condition: a and not f";
    assert_eq!(names(and_not).unwrap(), ["a"]);
    let one_of = "  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  condition: 1 of sel_*";
    assert_eq!(names(one_of).unwrap(), ["a", "b"]);
    let list = "  sel:\n    - eventName: A\n    - eventName: B\n  condition: sel";
    assert_eq!(names(list).unwrap(), ["a", "b"]);
    let them = "  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: 1 of them";
    assert_eq!(names(them).unwrap(), ["a", "b"]);
    // `them` leaves out the names starting with `_`.
    let helper = "  a:\n    eventName: A\n  _f:\n    errorCode: X\n  condition: 1 of them";
    assert_eq!(names(helper).unwrap(), ["a"]);
}

#[test]
fn anything_less_certain_gives_no_set() {
    for d in [
        "  sel:\n    eventName: Create*\n  condition: sel",
        "  sel:\n    eventName|startswith: Create\n  condition: sel",
        "  a:\n    eventName: A\n  b:\n    errorCode: X\n  condition: a or b",
        "  a:\n    eventName: A\n  condition: not a",
        "  sel:\n    - eventName: A\n    - errorCode: X\n  condition: sel",
        "  sel_a:\n    eventName: A\n  sel_b:\n    eventName: B\n  condition: 2 of sel_*",
    ] {
        assert_eq!(names(d), None, "{d}");
    }
}

#[test]
fn other_fields_give_value_and_presence_needs() {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let root = "  sel:\n    userIdentity.type: Root\n  f:\n    eventType: AwsServiceEvent\n  condition: sel and not f";
    assert_eq!(
        need_of(root),
        Some(Need::Values { root: "userIdentity".into(), values: set(&["root"]), exact_field: false })
    );
    let source = "  sel:\n    eventSource: S3.amazonaws.com\n    eventName|startswith: Put\n  condition: sel";
    assert_eq!(
        need_of(source),
        Some(Need::Values { root: "eventSource".into(), values: set(&["s3.amazonaws.com"]), exact_field: true })
    );
    // `or` of the field itself and a field under it: no longer a lookup of the field's value.
    let under = "  a:\n    requestParameters: x\n  b:\n    requestParameters.bucketName: y\n  condition: a or b";
    assert_eq!(
        need_of(under),
        Some(Need::Values { root: "requestParameters".into(), values: set(&["x", "y"]), exact_field: false })
    );
    let denied = "  a:\n    errorCode|endswith: Unauthorized\n  b:\n    errorCode|startswith: AccessDenied\n  condition: 1 of a, b";
    let denied = denied.replace("1 of a, b", "a or b");
    assert_eq!(need_of(&denied), Some(Need::Present { root: "errorCode".into() }));
    assert_eq!(
        need_of("  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: sel"),
        Some(Need::Present { root: "sourceIPAddress".into() })
    );
    for open in [
        "  sel:\n    errorCode|exists: false\n  condition: sel",
        "  sel:\n    errorCode: null\n  condition: sel",
        "  sel:\n    a: x\n  other:\n    b: y\n  condition: sel or other",
        "  sel:\n    a|fieldref: b\n  condition: sel",
    ] {
        assert_eq!(need_of(open), None, "{open}");
    }
    let f = filter(&["root"]);
    assert_eq!(admitted(&f, r#"{"type":"ROOT"}"#), [0, 1]);
    assert_eq!(admitted(&f, r#"{"type":"IAMUser"}"#), [1]);
    assert_eq!(admitted(&f, r#""xxRoRoOt""#), [0, 1]);
}

#[test]
fn top_level_values_are_looked_up_scalars_compared_by_text_and_arrays_always_admitted() {
    let rule = |d: &str| {
        let yaml = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{d}\n");
        rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules.remove(0)
    };
    let mut index = NameIndex::default();
    index.add(
        0,
        &rule("  sel:\n    eventSource: lambda.amazonaws.com\n    eventName: CreateFunction*\n  condition: sel"),
    );
    index.add(1, &rule("  sel:\n    readOnly: 'false'\n  condition: sel"));
    index.add(2, &rule("  sel:\n    errorCode|endswith: Denied\n  condition: sel"));
    let candidates = |record: &str| {
        let ev = RawEvent::parse(record.as_bytes()).unwrap();
        let mut out = Vec::new();
        index.candidates(&ev, ev.get_str("eventName").as_deref(), &mut out);
        out
    };
    assert_eq!(candidates(r#"{"eventSource":"Lambda.amazonaws.com","readOnly":false}"#), [0, 1]);
    assert_eq!(candidates(r#"{"eventSource":"lambda.amazon\u0061ws.com","readOnly":true}"#), [0]);
    assert_eq!(candidates(r#"{"eventSource":"s3.amazonaws.com","errorCode":"AccessDenied"}"#), [2]);
    assert_eq!(candidates(r#"{"eventSource":["x","lambda.amazonaws.com"],"errorCode":null}"#), [0]);
    assert_eq!(index.always(), 0);

    // A rule that needs nothing certain is evaluated for every event.
    index.add(3, &rule("  sel:\n    eventName: A\n  f:\n    errorCode: X\n  condition: sel or f"));
    assert_eq!(index.always(), 1);
    let ev = RawEvent::parse(br#"{"eventSource":"s3.amazonaws.com"}"#).unwrap();
    let mut out = Vec::new();
    index.candidates(&ev, None, &mut out);
    assert_eq!(out, [3]);
}

/// A filter on `root` holding one rule per value (positions from 0) and a presence rule last.
fn filter(values: &[&str]) -> Filter {
    let mut f = Filter::default();
    for (at, v) in values.iter().enumerate() {
        let need = Need::Values { root: "root".into(), values: [v.to_lowercase()].into(), exact_field: false };
        f.add(at, &need);
    }
    f.add(values.len(), &Need::Present { root: "root".into() });
    f
}

fn admitted(f: &Filter, raw: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let value = serde_json::value::RawValue::from_string(raw.to_owned()).unwrap();
    f.admitted(crate::decode::Raw::from(value.as_ref()), &mut out);
    out
}

/// Every string, key and scalar the JSON holds, decoded, ASCII lowercased.
fn texts(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.to_ascii_lowercase()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| texts(i, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.to_ascii_lowercase());
            texts(v, out);
        }),
        other => out.push(other.to_string()),
    }
}

#[test]
fn value_needs_admit_escaped_text_and_refuse_only_what_cannot_match() {
    let f = filter(&["root", "0.0.0.0/0"]);
    assert_eq!(admitted(&f, r#"{"type":"Root"}"#), [0, 2]);
    assert_eq!(admitted(&f, r#"{"type":"R\u006fot"}"#), [0, 1, 2], "\\u can write any character");
    assert_eq!(
        admitted(&f, r#"{"type":"IAMUser","policy":"{\"a\":\"b\"}"}"#),
        [2],
        "\\\" writes no character of either"
    );
    assert_eq!(admitted(&f, r#"{"cidr":"0.0.0.0\/0"}"#), [1, 2], "\\/ could write the slash");
    assert_eq!(admitted(&f, r#"{"a":"\\"}"#), [2]);
    assert_eq!(admitted(&f, "null"), Vec::<usize>::new());
    // On every field of the samples, as written and with escapes: never leaves out a rule
    // whose value the decoded field holds, and without escapes admits exactly those found.
    let needles = ["root", "assumedrole", "consolelogin", "iamuser", "0.0.0.0/0", "amazonaws.com", "arn:aws:iam::"];
    let f = filter(&needles);
    let mut checked = 0;
    for record in crate::testing::sample_records() {
        for value in record.as_object().unwrap().values() {
            let plain = serde_json::to_string(value).unwrap();
            for raw in [plain.clone(), plain.replace('o', r"\u006f").replace('/', r"\/")] {
                let got = admitted(&f, &raw);
                let mut decoded = Vec::new();
                texts(&serde_json::from_str(&raw).unwrap(), &mut decoded);
                let lowered = raw.to_ascii_lowercase();
                for (at, needle) in needles.iter().enumerate() {
                    if decoded.iter().any(|t| t.contains(needle)) {
                        assert!(got.contains(&at), "{needle} left out of {raw}");
                        checked += 1;
                    }
                    if !raw.contains('\\') {
                        assert_eq!(got.contains(&at), lowered.contains(needle), "{needle} in {raw}");
                    }
                }
                assert_eq!(got.contains(&needles.len()), raw != "null");
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn a_character_that_lowercases_to_ascii_is_not_left_out() {
    // The engine compares `str::to_lowercase`: the Kelvin sign is a `k` to it.
    let kelvin = "NoSuch\u{212A}ey";
    assert_eq!(kelvin.to_lowercase(), "nosuchkey");
    let f = filter(&["nosuchkey", "root"]);
    assert_eq!(admitted(&f, &format!(r#"{{"error":"{kelvin}"}}"#)), [0, 2]);
    assert_eq!(admitted(&f, "{\"error\":\"NoSuchBucket\",\"by\":\"\u{212A}\"}"), [0, 2], "not ASCII, a value with a k");
    assert_eq!(admitted(&f, r#"{"error":"NoSuchBucket"}"#), [2]);
}

#[test]
fn escape_kinds() {
    assert_eq!(escapes(br#""plain""#), 0);
    assert_eq!(
        escapes(br#""a\"b\\c\/d\ne\u0041""#),
        ESCAPE_QUOTE | ESCAPE_BACKSLASH | ESCAPE_SLASH | ESCAPE_CONTROL | ESCAPE_U
    );
    // An escaped backslash followed by `u` is no `\u` escape.
    assert_eq!(escapes(br#""\\u0041""#), ESCAPE_BACKSLASH);
    assert_eq!(escapable("arn:aws:iam::1/x"), ESCAPE_U | ESCAPE_SLASH);
}

#[test]
fn a_value_written_with_escapes_in_the_raw_json_is_not_left_out() {
    // JSON writes these characters escaped (`\"`, `\\`, `\n`…), so the raw field never holds
    // them as the rule's value does: the escape kinds the value could need admit it.
    let values = ["say \"hi\" twice\"", r"c:\temp\x", "two\nlines", "tab\there", "cr\rlf", "bs\u{8}x", "ff\u{c}y"];
    for value in values {
        let raw = serde_json::json!({ "text": format!("before {value} after") }).to_string();
        assert!(raw.contains('\\'), "{raw}");
        assert_eq!(admitted(&filter(&[value]), &raw), [0, 1], "{value:?} in {raw}");
    }
    assert_eq!(escapable("say \"hi\""), ESCAPE_U | ESCAPE_QUOTE);
    assert_eq!(escapable(r"c:\temp"), ESCAPE_U | ESCAPE_BACKSLASH);
    for control in ["\u{8}", "\u{c}", "\n", "\r", "\t"] {
        assert_eq!(escapable(control), ESCAPE_U | ESCAPE_CONTROL, "{control:?}");
    }
    assert_eq!(escapable("plain"), ESCAPE_U);
}

#[test]
fn a_rule_with_several_values_is_admitted_by_what_could_hide_any_of_them() {
    let mut f = Filter::default();
    let values = ["nosuchkey", "keyrotation"].map(String::from).into();
    f.add(0, &Need::Values { root: "root".into(), values, exact_field: false });
    assert_eq!(admitted(&f, r#"{"error":"NoSuchKey"}"#), [0]);
    assert_eq!(admitted(&f, r#"{"error":"NoSuchBucket"}"#), [] as [usize; 0]);
    // `\u` could write either value; a non-ASCII character could be the `k` of either.
    assert_eq!(admitted(&f, r#"{"error":"NoSuch\u004bey"}"#), [0]);
    assert_eq!(admitted(&f, "{\"error\":\"NoSuch\u{212A}ey\"}"), [0]);
}

#[test]
fn a_regex_needs_the_text_every_match_holds() {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let imds = "  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel";
    assert_eq!(
        need_of(imds),
        Some(Need::Values { root: "userIdentity".into(), values: set(&[":assumed-role/aws:"]), exact_field: false })
    );
    // On the top-level field itself: still a search of its text, never a lookup of its value.
    let top = "  sel:\n    eventName|re: '^(Put|Delete)BucketPolicy$'\n  condition: sel";
    assert_eq!(
        need_of(top),
        Some(Need::Values { root: "eventName".into(), values: set(&["bucketpolicy"]), exact_field: false })
    );
    // Nothing certain, case folded by the engine, or digits a number could stand for: the
    // field must still be there.
    for open in ["'.*'", "'^[0-9]+$'", "'(?i)secret'", "'12345'", "'^in'"] {
        let d = format!("  sel:\n    requestParameters.x|re: {open}\n  condition: sel");
        assert_eq!(need_of(&d), Some(Need::Present { root: "requestParameters".into() }), "{open}");
    }
    let folded = "  sel:\n    requestParameters.x|re|i: 'secret'\n  condition: sel";
    assert_eq!(need_of(folded), Some(Need::Present { root: "requestParameters".into() }));
    // The `m` and `s` flags change no text a match must hold.
    for flag in ["m", "s"] {
        let d = format!("  sel:\n    requestParameters.x|re|{flag}: '^secret.$'\n  condition: sel");
        assert_eq!(
            need_of(&d),
            Some(Need::Values { root: "requestParameters".into(), values: set(&["secret"]), exact_field: false }),
            "{flag}"
        );
    }
}

#[test]
fn a_value_a_number_could_stand_for_is_no_lookup() {
    // The engine compares `1e2` as "100": the raw JSON does not hold the value's text.
    let d = "  sel:\n    requestParameters.port: '100'\n  condition: sel";
    assert_eq!(need_of(d), Some(Need::Present { root: "requestParameters".into() }));
    let top = "  sel:\n    errorCode: '403'\n  condition: sel";
    assert_eq!(need_of(top), Some(Need::Present { root: "errorCode".into() }));
}

#[test]
fn a_filter_changed_after_use_answers_with_its_new_rules() {
    let mut f = Filter::default();
    let need = |v: &str| Need::Values { root: "root".into(), values: [v.to_owned()].into(), exact_field: false };
    f.add(0, &need("root"));
    let raw = r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#;
    assert_eq!(admitted(&f, raw), [0]);
    f.add(1, &need("iam"));
    assert_eq!(admitted(&f, raw), [0, 1], "not the answer kept from before the change");
}

//! The access log parser on lines from the S3 user guide's example log and generated edge
//! cases: every format length, IPv6, bare `-` for quoted fields, quotes and spaces in the user
//! agent, URL-encoded keys, presigned URLs, and lines that are not records.

use super::*;

/// The first record of the user guide's example (27 fields: source region at the end).
const DOC_27: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#;

const OWNER: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";

#[test]
fn the_user_guide_record_is_read_field_by_field() {
    let r = parse_line(DOC_27).unwrap();
    assert_eq!(r.bucket_owner, Some(OWNER));
    assert_eq!(r.bucket, Some("amzn-s3-demo-bucket1"));
    assert_eq!(r.timestamp, "2019-02-06T00:00:38Z");
    assert_eq!(&r.day, b"2019.02.06");
    assert_eq!(r.remote_ip, Some("192.0.2.3".parse().unwrap()));
    assert_eq!(r.requester, Some(OWNER));
    assert_eq!(r.request_id, Some("3E57427F3EXAMPLE"));
    assert_eq!(r.operation, Some("REST.GET.VERSIONING"));
    assert_eq!(r.key, None);
    assert_eq!(r.request_uri, Some("GET /amzn-s3-demo-bucket1?versioning HTTP/1.1"));
    assert_eq!((r.http_status, r.error_code, r.bytes_sent, r.object_size), (Some(200), None, Some(113), None));
    assert_eq!((r.total_time, r.turn_around_time), (Some(7), None));
    assert_eq!((r.referrer, r.user_agent, r.version_id), (None, Some("S3Console/0.4"), None));
    assert_eq!(r.host_id, Some("s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="));
    assert_eq!(r.signature_version, Some("SigV4"));
    assert_eq!(r.cipher_suite, Some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert_eq!(r.authentication_type, Some("AuthHeader"));
    assert_eq!(r.host_header, Some("amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com"));
    assert_eq!(r.tls_version, Some("TLSV1.2"));
    assert_eq!(r.access_point_arn, Some("arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP"));
    assert_eq!(r.acl_required, Some("Yes"));
    assert_eq!(r.extra, ["us-east-1"]);
}

/// The first `n` fields of [`DOC_27`].
fn first_fields(n: usize) -> String {
    let f = fields(DOC_27).unwrap();
    assert_eq!(f.len(), 27);
    let quote = |i: usize, v: &str| {
        if matches!(i, 8 | 15 | 16) {
            format!("\"{v}\"")
        } else if i == 2 {
            format!("[{v}]")
        } else {
            v.to_owned()
        }
    };
    f[..n].iter().enumerate().map(|(i, v)| quote(i, v)).collect::<Vec<_>>().join(" ")
}

#[test]
fn older_and_newer_formats_are_all_records() {
    let line = first_fields(18);
    let r = parse_line(&line).unwrap();
    assert_eq!((r.user_agent, r.version_id, r.host_id, r.tls_version), (Some("S3Console/0.4"), None, None, None));
    let line = first_fields(24);
    let r = parse_line(&line).unwrap();
    assert_eq!((r.tls_version, r.access_point_arn, r.acl_required), (Some("TLSV1.2"), None, None));
    let line = first_fields(26);
    let r = parse_line(&line).unwrap();
    assert_eq!((r.acl_required, r.extra.len()), (Some("Yes"), 0));
    let newer = format!("{DOC_27} future-field another");
    assert_eq!(parse_line(&newer).unwrap().extra, ["us-east-1", "future-field", "another"]);
    assert_eq!(parse_line(&first_fields(17)), Err(LineError::TooFewFields(17)));
}

#[test]
fn ipv6_bare_dashes_and_anonymous_requests() {
    let line = DOC_27
        .replace("192.0.2.3", "2001:db8::8a2e:370:7334")
        .replace(&format!("{OWNER} 3E57"), "- 3E57")
        .replace("\"GET /amzn-s3-demo-bucket1?versioning HTTP/1.1\"", "-")
        .replace("\"-\" \"S3Console/0.4\"", "- -");
    let r = parse_line(&line).unwrap();
    assert_eq!(r.remote_ip, Some("2001:db8::8a2e:370:7334".parse().unwrap()));
    assert_eq!((r.requester, r.request_uri, r.referrer, r.user_agent), (None, None, None, None));
    assert_eq!(r.version_id, None, "the fields after a bare user agent stay in place");
    assert_eq!(r.signature_version, Some("SigV4"));
}

#[test]
fn a_user_agent_with_quotes_and_spaces_and_a_presigned_url_with_an_encoded_key() {
    let ua = r#"aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/s3.cp "quoted" part"#;
    let uri = "GET /amzn-s3-demo-bucket1/reports/Q1%202024%2Bfinal.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240801%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc HTTP/1.1";
    let line = DOC_27
        .replace("REST.GET.VERSIONING -", "REST.GET.OBJECT reports/Q1%25202024%252Bfinal.csv")
        .replace("GET /amzn-s3-demo-bucket1?versioning HTTP/1.1", uri)
        .replace("200 - 113 - 7 -", "200 - 1073741825 1073741825 9120 41")
        .replace("\"S3Console/0.4\"", &format!("\"{ua}\""))
        .replace("AuthHeader", "QueryString");
    let r = parse_line(&line).unwrap();
    assert_eq!(r.user_agent, Some(ua));
    assert_eq!(r.key, Some("reports/Q1%25202024%252Bfinal.csv"), "as S3 wrote it");
    assert_eq!(r.request_uri, Some(uri));
    assert_eq!(
        (r.bytes_sent, r.object_size, r.total_time, r.turn_around_time),
        (Some(1073741825), Some(1073741825), Some(9120), Some(41))
    );
    assert_eq!((r.authentication_type, r.version_id, r.extra.len()), (Some("QueryString"), None, 1));
}

#[test]
fn lines_that_are_not_records_say_why() {
    assert_eq!(parse_line(""), Err(LineError::TooFewFields(0)));
    assert_eq!(parse_line("hello world"), Err(LineError::TooFewFields(2)));
    let unterminated = DOC_27.replace("+0000]", "+0000");
    assert!(matches!(parse_line(&unterminated), Err(LineError::Unterminated(_)) | Err(LineError::BadField { .. })));
    let bad_time = DOC_27.replace("06/Feb/2019:00:00:38", "2019-02-06T00:00:38");
    assert!(
        matches!(parse_line(&bad_time), Err(LineError::BadField { field: "time", .. })),
        "{:?}",
        parse_line(&bad_time)
    );
    let bad_status = DOC_27.replace(" 200 - 113 ", " OK - 113 ");
    assert!(matches!(parse_line(&bad_status), Err(LineError::BadField { field: "http_status", .. })));
    let bad_ip = DOC_27.replace("192.0.2.3", "somewhere");
    assert!(matches!(parse_line(&bad_ip), Err(LineError::BadField { field: "remote_ip", .. })));
    let offset = DOC_27.replace("00:00:38 +0000", "23:30:00 -0100");
    assert_eq!(parse_line(&offset).unwrap().timestamp, "2019-02-07T00:30:00Z", "times are converted to UTC");
    assert!(!LineError::TooFewFields(3).to_string().contains('\n'));
}

#[test]
fn the_fast_utc_time_path_agrees_with_the_general_parser() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let v = format!(
            "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
            1 + seed % 31,
            months[(seed >> 8) as usize % 12],
            1990 + (seed >> 16) % 60,
            (seed >> 24) % 24,
            (seed >> 32) % 60,
            (seed >> 40) % 60
        );
        let general = any_time(&v);
        assert_eq!(utc_time(v.as_bytes()).ok_or(()), general.clone().map_err(|_| ()), "{v}");
        assert_eq!(time(&v), general, "{v}");
    }
    // Other forms go to the general parser: an offset, or rejected as before.
    assert_eq!(time("06/Feb/2019:01:00:38 +0100").unwrap().0, "2019-02-06T00:00:38Z");
    assert!(utc_time(b"06/Feb/2019:01:00:38 +0100").is_none());
    assert!(time("31/Feb/2019:00:00:38 +0000").is_err());
    assert!(time("06/Feb/2019:24:00:38 +0000").is_err());
    assert!(time("06/Fxb/2019:00:00:38 +0000").is_err());
    assert_eq!(time("06/Feb/2019:00:00:38 +0000").unwrap(), ("2019-02-06T00:00:38Z".to_owned(), *b"2019.02.06"));
    // Each separator is checked on its own: one wrong is not the form S3 writes.
    let good = "06/Feb/2019:00:00:38 +0000";
    for at in [2, 6, 11, 14, 17, 20] {
        let mut wrong = good.as_bytes().to_vec();
        wrong[at] = b'-';
        let wrong = String::from_utf8(wrong).unwrap();
        assert!(utc_time(wrong.as_bytes()).is_none(), "{wrong}");
        assert!(time(&wrong).is_err(), "{wrong}");
    }
    assert!(utc_time(b"06/Feb/2019:00:00:38 +00000").is_none());
    assert!(utc_time(b"06/Feb/2019:00:00:38 -0000").is_none());
    // Each clock field is checked on its own, here and not only by the general parser.
    for wrong in ["06/Feb/2019:24:00:38 +0000", "06/Feb/2019:00:60:38 +0000", "06/Feb/2019:00:00:60 +0000"] {
        assert!(utc_time(wrong.as_bytes()).is_none(), "{wrong}");
    }
}

#[test]
fn a_user_agent_whose_quote_never_closes_is_unterminated() {
    // The user agent is the seventeenth field; its opening quote is the line's last quote.
    let line = format!("{} \"Mozilla", first_fields(16));
    assert_eq!(parse_line(&line), Err(LineError::Unterminated("quoted")));
}

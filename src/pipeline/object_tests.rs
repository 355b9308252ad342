//! Decoding files into batches: daily indices, dead letters, the plausible-time window,
//! broken containers, cancellation, alerts after their events.

use super::*;
use crate::decode::DecodeError;
use crate::index::bulk::ItemKind;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn decoder(max_actions: usize) -> ObjectDecoder {
    crate::testing::decoder(max_actions, 64 << 10)
}

/// A decoder whose CloudTrail source checks every record against `detector`.
fn detecting(max_actions: usize, detector: crate::detect::Detector) -> ObjectDecoder {
    let cloudtrail = crate::sources::cloudtrail::CloudTrail::new(Arc::new(detector));
    crate::testing::decoder_with(max_actions, 64 << 10, cloudtrail, Default::default())
}

/// Decodes `file` as `f.json` with batches of `max_actions`; the stats and every batch.
fn decode_all(max_actions: usize, file: &[u8]) -> (DecodeStats, Vec<Batch>) {
    let mut batches = Vec::new();
    let origin = Arc::new(Origin::File("f.json".into()));
    let stats = decoder(max_actions)
        .decode(file, origin, &watch(), &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    (stats, batches)
}

fn watch() -> Watch {
    Watch::new(CancellationToken::new(), Duration::from_secs(60))
}

fn lines(batches: &[Batch]) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|b| {
            b.body.split(|c| *c == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap())
        })
        .collect()
}

#[test]
fn a_file_becomes_create_actions_in_daily_indices() {
    let file = br#"{"Records":[
        {"eventID":"a","eventTime":"2024-08-01T23:59:59Z","eventName":"RunInstances"},
        {"eventID":"b","eventTime":"2024-08-02T00:00:00Z","eventName":"StopInstances"},
        {"eventTime":"2024-08-02T00:00:01Z","eventName":"NoId"}
    ]}"#;
    let (stats, batches) = decode_all(2, &file[..]);
    assert_eq!(
        stats,
        DecodeStats {
            events: 3,
            invalid: 1,
            batches: 2,
            newest_event: Some(1_722_556_800),
            oldest_event: Some(1_722_556_799),
            alerts: 0,
            dropped: 0,
        }
    );
    let l = lines(&batches);
    assert_eq!(l[0]["create"]["_index"], "cloudtrail-2024.08.01");
    assert_eq!(l[0]["create"]["_id"], "a");
    assert_eq!(l[1]["eventName"], "RunInstances");
    assert_eq!(l[2]["create"]["_index"], "cloudtrail-2024.08.02");
    assert_eq!(l[4]["create"]["_index"], "trailship-deadletter");
    assert_eq!(l[5]["error_type"], "missing_event_id");
    assert_eq!(l[5]["source"]["key"], "f.json");
    assert_eq!(serde_json::from_str::<Value>(l[5]["event"].as_str().unwrap()).unwrap()["eventName"], "NoId");
    assert_eq!(batches[1].items[0].kind, ItemKind::DeadLetter);
}

#[test]
fn every_rule_an_event_matches_adds_an_alert_document_after_it() {
    let rule = "title: Trail deleted\nid: r-del\nlogsource:\n    product: aws\n    service: cloudtrail\n\
                detection:\n    sel:\n        eventName: DeleteTrail\n    condition: sel\nlevel: high\ntags:\n    - cis.4.5\n";
    let other = rule
        .replace("level: high", "level: medium")
        .replace("Trail deleted", "Any delete")
        .replace("r-del", "r-any")
        .replace("DeleteTrail", "Delete*");
    let sources = [rule.to_owned(), other].into_iter().map(|t| ("t".to_owned(), t, false)).collect();
    let d = detecting(3, crate::detect::rules::load_sources(sources).unwrap().detector);
    let file = br#"[{"eventID":"a","eventTime":"2024-08-01T10:00:00Z","eventName":"DeleteTrail"},
                    {"eventID":"b","eventTime":"2024-08-01T10:00:01Z","eventName":"ListTrails"}]"#;
    let mut batches = Vec::new();
    let origin = Arc::new(Origin::File("f.json".into()));
    let stats = d
        .decode(&file[..], origin, &watch(), &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    assert_eq!((stats.events, stats.alerts, stats.batches), (2, 2, 2));
    let kinds: Vec<ItemKind> = batches.iter().flat_map(|b| b.items.iter().map(|i| i.kind)).collect();
    assert_eq!(kinds, [ItemKind::Event, ItemKind::Alert, ItemKind::Alert, ItemKind::Event]);
    let l = lines(&batches);
    assert_eq!(l[2]["create"]["_index"], "trailship-alerts-2024.08.01");
    assert_eq!(l[3]["rule"]["name"], "Trail deleted", "most severe, then by title");
    assert_eq!(l[3]["rule"]["tags"], serde_json::json!(["cis.4.5"]));
    assert_eq!(l[3]["event"]["index"], "cloudtrail-2024.08.01");
    assert_eq!(l[5]["rule"]["name"], "Any delete");
    let id = |i: usize| l[i]["create"]["_id"].as_str().unwrap().to_owned();
    assert_ne!(id(2), id(4));
    assert_eq!(
        id(2),
        crate::sources::cloudtrail::enrich::alert::AlertSubject::id_json("r-del", "\"a\"").trim_matches('"')
    );
    // The alert's raw record is the event's: a refused alert is dead-lettered with it.
    assert_eq!(batches[0].raw_record(&batches[0].items[1]), batches[0].raw_record(&batches[0].items[0]));
}

#[test]
fn a_filtered_event_is_not_indexed_but_makes_its_alert_unless_a_group_counts_it() {
    let rule = |id: &str, name: &str, level: &str| {
        format!(
            "title: {id}\nid: {id}\nlogsource:\n    product: aws\n    service: cloudtrail\n\
             detection:\n    sel:\n        eventName: {name}\n    condition: sel\nlevel: {level}\n"
        )
    };
    let detections = [rule("trail-deleted", "DeleteTrail", "high"), rule("object-read", "GetObject", "low")];
    let detector = crate::detect::rules::load_sources(detections.into_iter().map(|t| ("d".into(), t, false)).collect());
    let filters = ["DeleteTrail", "GetObject", "ListTrails"].map(|n| (format!("{n}.yml"), rule(n, n, "low"), false));
    let filter = Arc::new(crate::detect::filter::Filter::from_sources(filters.into()).unwrap());
    let mut cloudtrail = crate::sources::cloudtrail::CloudTrail::new(Arc::new(detector.unwrap().detector));
    cloudtrail.filter = filter.clone();
    cloudtrail.group_levels = vec![crate::detect::Level::Low];
    let d = crate::testing::decoder_with(10, 64 << 10, cloudtrail, Default::default());
    let file = br#"[{"eventID":"a","eventTime":"2024-08-01T10:00:00Z","eventName":"DeleteTrail","sourceIPAddress":"203.0.113.9"},
                    {"eventID":"b","eventTime":"2024-08-01T10:00:01Z","eventName":"GetObject"},
                    {"eventID":"c","eventTime":"2024-08-01T10:00:02Z","eventName":"ListTrails"},
                    {"eventID":"d","eventTime":"2024-08-01T10:00:03Z","eventName":"RunInstances"}]"#;
    let mut batches = Vec::new();
    let stats = d
        .decode(&file[..], Arc::new(Origin::File("f.json".into())), &watch(), &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    assert_eq!((stats.events, stats.dropped, stats.alerts), (4, 2, 1));
    let kinds: Vec<ItemKind> = batches.iter().flat_map(|b| b.items.iter().map(|i| i.kind)).collect();
    assert_eq!(kinds, [ItemKind::Alert, ItemKind::Event, ItemKind::Event, ItemKind::Tally, ItemKind::Tally]);
    let l = lines(&batches);
    assert_eq!(l[1]["rule"]["id"], "trail-deleted");
    assert_eq!(l[1]["event"], serde_json::json!({"kind": "alert", "dropped": true}));
    assert_eq!((&l[1]["eventID"], &l[1]["source"]["ip"]), (&"a".into(), &"203.0.113.9".into()));
    assert_eq!(l[2]["create"]["_id"], "b", "a grouped rule counts it from the index: kept");
    assert_eq!(l[3]["rule"]["id"], serde_json::json!(["object-read"]), "the event carries the grouped rule");
    assert_eq!(l[4]["create"]["_id"], "d");
    // After the last record, one tally per day, trend key and rule of the dropped ones.
    assert_eq!(l[6]["index"]["_index"], "trailship-trends-cloudtrail-2024");
    let tallied: Vec<(&Value, &Value, &Value)> =
        [7, 9].iter().map(|&i| (&l[i]["eventName"], &l[i]["filter"]["rule"]["id"], &l[i]["count"])).collect();
    let one = Value::from(1);
    assert_eq!(
        tallied,
        [(&"DeleteTrail".into(), &"DeleteTrail".into(), &one), (&"ListTrails".into(), &"ListTrails".into(), &one)]
    );
    assert_eq!(l[7]["dropped"], true);
    let totals: Vec<u64> = filter.totals().into_iter().map(|(_, n)| n).collect();
    assert_eq!(totals, [1, 0, 1]);
}

#[test]
fn bad_records_are_dead_lettered_and_the_file_goes_on() {
    let big = format!(r#"{{"eventID":"big","p":"{}"}}"#, "x".repeat(100 << 10));
    let file = format!(
        r#"{{"Records":[{{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"}},{{"eventID":}},"text",[1],{big},{{"eventID":"b","eventTime":"2024-08-01T00:00:01Z"}}]}}"#
    );
    let (stats, batches) = decode_all(100, file.as_bytes());
    assert_eq!(
        stats,
        DecodeStats {
            events: 6,
            invalid: 4,
            batches: 1,
            newest_event: Some(1_722_470_401),
            oldest_event: Some(1_722_470_400),
            alerts: 0,
            dropped: 0,
        }
    );
    let docs: Vec<Value> = lines(&batches).into_iter().skip(1).step_by(2).collect();
    assert_eq!(docs[0]["eventID"], "a");
    assert_eq!(docs[5]["eventID"], "b");
    for d in &docs[1..4] {
        assert_eq!(d["error_type"], "invalid_record", "{d}");
    }
    assert_eq!(docs[1]["event"], r#"{"eventID":}"#);
    assert_eq!(docs[2]["event"], r#""text""#);
    assert_eq!(docs[4]["error_type"], "record_too_large");
    assert_eq!(docs[4]["event_size"], big.len());
    assert_eq!(docs[4]["event"].as_str().unwrap().len(), crate::decode::HEAD_BYTES);
    assert!(big.starts_with(docs[4]["event"].as_str().unwrap()));
}

#[test]
fn events_outside_the_plausible_window_are_dead_lettered_not_given_an_index() {
    let day = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT12:00:00Z").to_string();
    let now = chrono::Utc::now();
    let times = [
        "2012-12-31T23:59:59Z".to_owned(),
        "2013-01-01T00:00:00Z".to_owned(),
        day(now),
        day(now + chrono::Duration::days(1)),
        day(now + chrono::Duration::days(2)),
        "9999-01-01T00:00:00Z".to_owned(),
    ];
    let records: Vec<String> =
        times.iter().enumerate().map(|(i, t)| format!(r#"{{"eventID":"e{i}","eventTime":"{t}"}}"#)).collect();
    let file = format!("[{}]", records.join(","));
    let (stats, batches) = decode_all(100, file.as_bytes());
    assert_eq!(stats.invalid, 3);
    let l = lines(&batches);
    let dead: Vec<&str> = l
        .chunks(2)
        .filter(|p| p[0]["create"]["_index"] == "trailship-deadletter")
        .map(|p| p[1]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(dead, ["e0", "e4", "e5"]);
    assert!(l.iter().any(|d| d["error_type"] == "implausible_event_time"));
    let days: Vec<&str> =
        l.iter().filter_map(|a| a["create"]["_index"].as_str()).filter(|i| i.starts_with("cloudtrail-")).collect();
    assert_eq!(days.len(), 3);
    assert_eq!(days[0], "cloudtrail-2013.01.01");
}

/// Each log source has its own plausible start: S3 server access logs from 2010 and 2012 are
/// real, and CloudTrail's 2013 start must not dead-letter them.
#[test]
fn access_logs_have_their_own_oldest_day() {
    let line = |stamp: &str| {
        format!(
            "{o} bucket [{stamp} +0000] 192.0.2.3 {o} 3E57427F3EXAMPLE REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 1 1 7 - \"-\" \"curl\" -",
            o = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
        )
    };
    let file = [line("06/Feb/2010:00:00:38"), line("31/Dec/2012:23:59:59"), line("28/Feb/2006:23:59:59")].join("\n");
    let mut batches = Vec::new();
    let origin = Arc::new(Origin::File("logs/2010-02-06-00-00-38-0123456789ABCDEF".into()));
    let stats = decoder(100)
        .decode(file.as_bytes(), origin, &watch(), &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    assert_eq!((stats.events, stats.invalid), (3, 1));
    let l = lines(&batches);
    let indices: Vec<&str> = l.iter().filter_map(|a| a["create"]["_index"].as_str()).collect();
    assert_eq!(indices, ["s3access-2010.02.06", "s3access-2012.12.31", "trailship-deadletter"]);
    let reason = l.last().unwrap()["reason"].as_str().unwrap();
    assert!(reason.contains("outside 2006-03-01 to"), "{reason}");
    assert!(reason.contains("(s3access.oldest_event_date, limits.event_days_ahead)"), "{reason}");
}

#[test]
fn broken_containers_fail_the_object() {
    let origin = Arc::new(Origin::File("f.json".into()));
    let err = decoder(10)
        .decode(&br#"{"Records":[{"eventID":"a"} {"eventID":"b"}]}"#[..], origin.clone(), &watch(), &mut |_| Ok(()))
        .unwrap_err();
    assert!(matches!(err, ObjectError::Decode(DecodeError::Syntax { .. })), "{err}");
    let err =
        decoder(10).decode(&b"\x1f\x8bnot really gzip"[..], origin.clone(), &watch(), &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ObjectError::Decode(DecodeError::Io(_))), "{err}");
    let err =
        decoder(10).decode(&br#"{"Records":[{"eventID":"a"}"#[..], origin, &watch(), &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ObjectError::Decode(DecodeError::Truncated { .. })), "{err}");
}

#[test]
fn cancellation_and_the_deadline_stop_decoding_between_records() {
    let origin = Arc::new(Origin::File("f.json".into()));
    let file = br#"[{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"}]"#;
    let cancelled = watch();
    cancelled.cancel.cancel();
    let err = decoder(1).decode(&file[..], origin.clone(), &cancelled, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ObjectError::Cancelled), "{err}");
    let late = Watch::new(CancellationToken::new(), Duration::ZERO);
    let err = decoder(1).decode(&file[..], origin, &late, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ObjectError::TimedOut(_)), "{err}");
}

#[test]
fn a_closed_receiver_stops_decoding() {
    let origin = Arc::new(Origin::File("f.json".into()));
    let file =
        br#"[{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"},{"eventID":"b","eventTime":"2024-08-01T00:00:00Z"}]"#;
    let err = decoder(1).decode(&file[..], origin, &watch(), &mut |_| Err(Closed)).unwrap_err();
    assert!(matches!(err, ObjectError::Closed));
}

#[test]
fn a_monthly_index_period_names_event_and_alert_indices_by_month() {
    let rule = "title: Trail deleted\nid: r-del\nlogsource:\n    product: aws\n    service: cloudtrail\n\
                detection:\n    sel:\n        eventName: DeleteTrail\n    condition: sel\nlevel: high\n";
    let mut d =
        detecting(10, crate::detect::rules::load_sources(vec![("t".into(), rule.into(), false)]).unwrap().detector);
    d.with.index_period = crate::config::IndexPeriod::Month;
    let file = br#"[{"eventID":"a","eventTime":"2024-08-01T10:00:00Z","eventName":"DeleteTrail"},
                    {"eventID":"b","eventTime":"2024-08-31T23:59:59Z","eventName":"ListTrails"},
                    {"eventID":"c","eventTime":"2024-09-01T00:00:00Z","eventName":"ListTrails"}]"#;
    let mut batches = Vec::new();
    d.decode(&file[..], Arc::new(Origin::File("f.json".into())), &watch(), &mut |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    let l = lines(&batches);
    let indices: Vec<&str> = l.iter().filter_map(|a| a["create"]["_index"].as_str()).collect();
    assert_eq!(indices, ["cloudtrail-2024.08", "trailship-alerts-2024.08", "cloudtrail-2024.08", "cloudtrail-2024.09"]);
    assert_eq!(l[3]["event"]["index"], "cloudtrail-2024.08");
}

/// One S3 server access log line (with its newline) of a GET at `time` (`06/Feb/2019:00:00:38`).
fn access_line(time: &str) -> String {
    format!(
        "{o} bucket [{time} +0000] 192.0.2.3 {o} 3E57427F3EXAMPLE REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 1 1 7 - \"-\" \"curl\" -\n",
        o = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    )
}

#[test]
fn an_access_log_over_the_limits_is_refused_or_dead_lettered_by_its_head() {
    let line = access_line("06/Feb/2019:00:00:38");
    let origin = Arc::new(Origin::File("logs/2019-02-06-00-00-38-0123456789ABCDEF".into()));
    // More bytes than limits.max_total_bytes: the object fails, whatever its lines.
    let mut small = decoder(100);
    small.with.frame.max_total_bytes = (line.len() * 3) as u64;
    let file = line.repeat(4);
    let err = small.decode(file.as_bytes(), origin.clone(), &watch(), &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ObjectError::Decode(DecodeError::TooMuchData { .. })), "{err}");
    let file = line.repeat(3);
    assert!(small.decode(file.as_bytes(), origin.clone(), &watch(), &mut |_| Ok(())).is_ok());

    // A line over limits.max_record_bytes is dead-lettered with its first 16 KiB.
    let long = format!("{} {}\n", line.trim_end(), "x".repeat(100 << 10));
    let mut batches = Vec::new();
    let stats = decoder(100)
        .decode(format!("{line}{long}{line}").as_bytes(), origin, &watch(), &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    assert_eq!((stats.events, stats.invalid), (3, 1));
    let dead = lines(&batches).into_iter().find(|d| d["error_type"] == "record_too_large").unwrap();
    assert_eq!(dead["event"].as_str().unwrap(), &long[..16 << 10]);
    assert_eq!(dead["event_size"], long.len());
    assert!(dead["reason"].as_str().unwrap().starts_with("line 2 is "), "{dead}");
}

#[test]
fn an_access_log_is_indexed_from_its_oldest_to_its_newest_allowed_day_and_not_a_day_outside() {
    let access = crate::sources::s3access::S3Access::default();
    let newest = chrono::Utc::now() + chrono::Duration::days(i64::from(access.window.days_ahead));
    let oldest = chrono::NaiveDate::parse_from_str(std::str::from_utf8(&access.window.oldest).unwrap(), "%Y.%m.%d")
        .unwrap()
        .and_hms_opt(0, 0, 1)
        .unwrap()
        .and_utc();
    let line = |day: chrono::DateTime<chrono::Utc>| access_line(&day.format("%d/%b/%Y:00:00:01").to_string());
    let day = chrono::Duration::days(1);
    let file = [oldest - day, oldest, newest, newest + day].map(line).concat();
    let mut batches = Vec::new();
    let origin = Arc::new(Origin::File("logs/2019-02-06-00-00-38-0123456789ABCDEF".into()));
    decoder(100)
        .decode(file.as_bytes(), origin, &watch(), &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    let l = lines(&batches);
    let indices: Vec<&str> = l.iter().filter_map(|a| a["create"]["_index"].as_str()).collect();
    let (first, last) =
        (format!("s3access-{}", oldest.format("%Y.%m.%d")), format!("s3access-{}", newest.format("%Y.%m.%d")));
    assert_eq!(indices, ["trailship-deadletter", first.as_str(), last.as_str(), "trailship-deadletter"]);
}

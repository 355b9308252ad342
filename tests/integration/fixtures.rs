//! CloudTrail log files built from the real public events in `tests/fixtures/cloudtrail/`
//! (see `tests/fixtures/README.md` for sources and licences), in the form CloudTrail delivers
//! them: `{"Records":[…]}`, gzip, under `AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

fn fixtures_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloudtrail"))
}

/// One log file to deliver.
pub struct LogFile {
    /// The S3 key CloudTrail would write it under.
    pub key: String,
    /// Its events.
    pub events: Vec<Value>,
}

impl LogFile {
    /// The file's bytes: gzip-compressed `{"Records":[…]}`.
    pub fn gzip(&self) -> Vec<u8> {
        gzip(&self.json())
    }

    /// The file's bytes, uncompressed.
    pub fn json(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({ "Records": self.events })).unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The key CloudTrail uses for a file holding `first` (its first event).
pub fn trail_key(prefix: &str, kind: &str, first: &Value, n: usize) -> String {
    let account = first["recipientAccountId"].as_str().unwrap_or("123456789012");
    let region = first["awsRegion"].as_str().unwrap_or("us-east-1");
    let time = first["eventTime"].as_str().unwrap();
    let (y, m, d) = (&time[0..4], &time[5..7], &time[8..10]);
    let stamp = format!("{y}{m}{d}T{}{}Z", &time[11..13], &time[14..16]);
    format!(
        "{prefix}AWSLogs/{account}/{kind}/{region}/{y}/{m}/{d}/{account}_{kind}_{region}_{stamp}_{n:04}trailshipfixture.json.gz"
    )
}

/// One log file per Stratus Red Team detonation (310 real events, 35 files).
pub fn stratus_files() -> Vec<LogFile> {
    let mut paths: Vec<_> = std::fs::read_dir(fixtures_dir().join("stratus-red-team"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let events: Vec<Value> = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            LogFile { key: trail_key("", "CloudTrail", &events[0], i), events }
        })
        .collect()
}

/// The OTRF events (103) as one log file. The upstream file is a Logstash export, so its
/// `@timestamp` is turned back into CloudTrail's `eventTime` and Logstash's fields dropped.
pub fn otrf_file() -> LogFile {
    let text =
        std::fs::read_to_string(fixtures_dir().join("otrf/ec2_proxy_s3_exfiltration_2020-09-14011940.json")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut e: Value = serde_json::from_str(l).unwrap();
            let obj = e.as_object_mut().unwrap();
            let ts = obj.remove("@timestamp").unwrap();
            obj.remove("@version");
            let ts = ts.as_str().unwrap();
            obj.insert("eventTime".into(), Value::from(format!("{}Z", &ts[..19])));
            e
        })
        .collect();
    LogFile { key: trail_key("", "CloudTrail", &events[0], 900), events }
}

/// Every real event, as delivered files.
pub fn all_real_files() -> Vec<LogFile> {
    let mut files = stratus_files();
    files.push(otrf_file());
    files
}

/// An Insights event, shaped as CloudTrail documents them.
pub fn insight_file() -> LogFile {
    let event = json!({
        "eventVersion": "1.08",
        "eventTime": "2024-08-01T14:00:00Z",
        "awsRegion": "us-east-1",
        "eventID": "6f3b5d9e-insight-0001",
        "eventType": "AwsCloudTrailInsight",
        "recipientAccountId": "229654561268",
        "sharedEventID": "a1b2c3d4-insight-shared",
        "insightDetails": {
            "state": "Start",
            "eventSource": "iam.amazonaws.com",
            "eventName": "CreateAccessKey",
            "insightType": "ApiCallRateInsight",
            "insightContext": {"statistics": {"baseline": {"average": 0.01}, "insight": {"average": 5.0}, "insightDuration": 1}}
        },
        "eventCategory": "Insight"
    });
    LogFile { key: trail_key("", "CloudTrail-Insight", &event, 950), events: vec![event] }
}

/// Expected documents per daily index for `files`.
pub fn expected_per_index(prefix: &str, files: &[LogFile]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for f in files {
        for e in &f.events {
            let t = e["eventTime"].as_str().unwrap();
            *out.entry(format!("{prefix}-{}.{}.{}", &t[0..4], &t[5..7], &t[8..10])).or_default() += 1;
        }
    }
    out
}

/// Every eventID in `files`.
pub fn event_ids(files: &[LogFile]) -> std::collections::BTreeSet<String> {
    files.iter().flat_map(|f| f.events.iter().map(|e| e["eventID"].as_str().unwrap().to_owned())).collect()
}

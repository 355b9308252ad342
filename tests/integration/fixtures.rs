//! CloudTrail log files in the form CloudTrail delivers them (`{"Records":[…]}`, gzip, under
//! `AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/`): the bundled samples made from
//! real public events (see `tests/fixtures/README.md` for sources and licences), and files the
//! tests build themselves.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

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

/// The bundled sample logs (`tests/fixtures/samples/`, built by `scripts/make-samples.py` from
/// the public events): 36 delivered files, 413 events, sorted by key.
pub fn sample_files() -> Vec<LogFile> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples"));
    let mut paths = Vec::new();
    walk(&root.join("AWSLogs"), &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let mut file: Value =
                serde_json::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())).unwrap();
            let events = file["Records"].take().as_array().unwrap().clone();
            LogFile { key: p.strip_prefix(root).unwrap().to_str().unwrap().to_owned(), events }
        })
        .collect()
}

/// The sample file holding the OTRF events (account 123456789123).
pub fn is_otrf(f: &LogFile) -> bool {
    f.key.starts_with("AWSLogs/123456789123/")
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

/// A generated event with the documented CloudTrail envelope.
pub fn event(id: &str, time: &str, name: &str, source: &str, ip: &str, identity: Value, extra: Value) -> Value {
    let mut e = json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": time, "eventName": name, "eventSource": source,
        "awsRegion": "eu-central-1", "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0",
        "requestID": format!("req-{id}"), "eventType": "AwsApiCall", "managementEvent": true, "readOnly": false,
        "recipientAccountId": "111122223333", "eventCategory": "Management", "userIdentity": identity,
    });
    e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    if e["userIdentity"].is_null() {
        e.as_object_mut().unwrap().remove("userIdentity");
    }
    e
}

/// An IAM user identity in account 111122223333.
pub fn iam_user(name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::111122223333:user/{name}"),
        "accountId": "111122223333", "accessKeyId": key, "userName": name})
}

/// The bucket owner's canonical user ID in generated access-log lines.
pub const OWNER: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";

/// An S3 server access log line of the 27-field format (source region last) for
/// `amzn-s3-demo-bucket1`: remote IP, requester, operation, key, status, error code, bytes sent
/// (also the object size), request URI, user agent; `-` where a value is absent.
#[allow(clippy::too_many_arguments)]
pub fn access_line(
    time: &str,
    ip: &str,
    requester: &str,
    op: &str,
    key: &str,
    status: u16,
    error: &str,
    bytes: &str,
    uri: &str,
    ua: &str,
) -> String {
    format!(
        "{OWNER} amzn-s3-demo-bucket1 [{time} +0000] {ip} {requester} REQ{status}{bytes} {op} {key} \"{uri}\" {status} \
         {error} {bytes} {bytes} 12 3 \"-\" \"{ua}\" - hostid= SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString \
         amzn-s3-demo-bucket1.s3.us-east-1.amazonaws.com TLSv1.2 - - us-east-1"
    )
}

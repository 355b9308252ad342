//! The benchmark's generated corpora, built once under `target/` and reused while their stamp
//! file says they are complete:
//! - the throughput corpus: real public events of `tests/fixtures/samples/` re-stamped with
//!   fresh ids, times and sources, 1,000 events a file, one event in 20,000 over 100 KB;
//! - the trail corpus: fewer, more compressible files, as a quiet-to-medium trail writes them;
//! - the S3 server access-log corpus, plain and gzip.

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// A small deterministic generator (xorshift64*), so every run builds the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The real events of the bundled samples (`tests/fixtures/samples/`).
fn real_events(dir: &Path) -> Vec<Value> {
    let mut events = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            events.extend(real_events(&path));
        } else {
            let mut file: Value =
                serde_json::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())).unwrap();
            events.extend(file["Records"].take().as_array().unwrap().iter().cloned());
        }
    }
    events
}

/// Distinct public source addresses in the corpus. A trail sees the same callers again and
/// again (a few thousand addresses a day even in a large organization); 10,000 keeps the
/// GeoIP cache honest without pretending every event comes from a new address.
const DISTINCT_SOURCES: u64 = 10_000;

fn source_ip(rng: &mut Rng) -> String {
    // The address is a function of a pool index, so the same index gives the same address.
    let mut pool = Rng(0x51_7cc1_b727_220a ^ (1 + rng.below(DISTINCT_SOURCES)));
    match rng.below(10) {
        0..=5 => format!("{}.{}.{}.{}", 1 + pool.below(222), pool.below(256), pool.below(256), 1 + pool.below(254)),
        6 | 7 => format!("2600:1f18:{:x}:{:x}::{:x}", pool.below(65536), pool.below(65536), 1 + pool.below(65535)),
        8 => "AWS Internal".into(),
        _ => {
            ["lambda.amazonaws.com", "ec2.amazonaws.com", "cloudformation.amazonaws.com"][rng.below(3) as usize].into()
        }
    }
}

fn mutate(mut e: Value, rng: &mut Rng, n: u64) -> Value {
    let o = e.as_object_mut().unwrap();
    let (a, b) = (rng.next(), rng.next());
    o.insert(
        "eventID".into(),
        Value::from(format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            a & 0xffff,
            b & 0xfff,
            (b >> 12) & 0xfff,
            n
        )),
    );
    let day = 1 + rng.below(28);
    let (h, m, s) = (rng.below(24), rng.below(60), rng.below(60));
    o.insert("eventTime".into(), Value::from(format!("2025-03-{day:02}T{h:02}:{m:02}:{s:02}Z")));
    o.insert("sourceIPAddress".into(), Value::from(source_ip(rng)));
    e
}

/// An event whose requestParameters exceed 100 KB (a big policy, as PutBucketPolicy carries).
fn huge_event(rng: &mut Rng, n: u64) -> Value {
    let statements: Vec<Value> = (0..600)
        .map(|i| {
            json!({"Sid": format!("Stmt{i}"), "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{:012}:root", rng.below(1_000_000_000_000))},
                   "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("arn:aws:s3:::bucket-{i}/*")})
        })
        .collect();
    let e = json!({
        "eventVersion": "1.09", "eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy", "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "userName": "admin", "arn": "arn:aws:iam::123456789012:user/admin", "accountId": "123456789012"},
        "userAgent": "aws-cli/2.15.0 Python/3.11.6", "eventType": "AwsApiCall", "readOnly": false, "managementEvent": true,
        "recipientAccountId": "123456789012", "eventCategory": "Management", "requestID": "R",
        "requestParameters": {"bucketName": "bucket", "policy": {"Version": "2012-10-17", "Statement": statements}},
        "responseElements": null
    });
    mutate(e, rng, n)
}

fn write_gz(path: &Path, events: &[Value]) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut enc, &json!({ "Records": events })).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

pub fn build_corpus(dir: &Path, total: u64) -> (u64, u64) {
    let stamp = dir.join(format!(".complete-v3-{total}"));
    let files_per = 1000u64;
    if stamp.exists() {
        let bytes = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        return (total, bytes);
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let base = real_events(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples")));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut n = 0;
    let mut bytes = 0;
    for f in 0..total.div_ceil(files_per) {
        let count = files_per.min(total - n);
        let events: Vec<Value> = (0..count)
            .map(|i| {
                n += 1;
                // A few events of 100 KB+ (one in 20,000).
                if (n + i) % 20_000 == 7 {
                    huge_event(&mut rng, n)
                } else {
                    mutate(base[rng.below(base.len() as u64) as usize].clone(), &mut rng, n)
                }
            })
            .collect();
        let path = dir.join(format!("123456789012_CloudTrail_us-east-1_20250301T{f:04}Z_bench.json.gz"));
        write_gz(&path, &events);
        bytes += std::fs::metadata(&path).unwrap().len();
    }
    std::fs::File::create(stamp).unwrap().write_all(b"ok").unwrap();
    (n, bytes)
}

/// One S3 server access log line (26 fields, the current format's order): operations, status,
/// sizes, requesters and user agents in the mix a busy bucket sees, a few presigned URLs.
fn access_line(rng: &mut Rng, n: u64) -> String {
    const OPS: [(&str, &str, u64); 6] = [
        ("REST.GET.OBJECT", "GET", 40),
        ("REST.PUT.OBJECT", "PUT", 20),
        ("REST.HEAD.OBJECT", "HEAD", 15),
        ("REST.GET.BUCKET", "GET", 10),
        ("REST.COPY.OBJECT", "PUT", 5),
        ("REST.DELETE.OBJECT", "DELETE", 10),
    ];
    const AGENTS: [&str; 4] = [
        "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-1014-aws exe/x86_64.amzn.2023 prompt/off command/s3.cp",
        "aws-sdk-java/1.12.661 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS java/17.0.10 vendor/Amazon.com_Inc. cfg/retry-mode/standard",
        "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    ];
    // Weighted pick: the weights add up to 100.
    let mut pick = rng.below(100);
    let mut chosen = OPS[0];
    for candidate in OPS {
        if pick < candidate.2 {
            chosen = candidate;
            break;
        }
        pick -= candidate.2;
    }
    let (op, method, _) = chosen;
    let ip = loop {
        let s = source_ip(rng);
        if s.parse::<std::net::IpAddr>().is_ok() {
            break s;
        }
    };
    let requester = match rng.below(10) {
        0 => "-".to_owned(),
        1..=3 => format!("arn:aws:iam::123456789012:user/app-{}", rng.below(20)),
        4..=8 => format!("arn:aws:sts::123456789012:assumed-role/role-{}/i-0{:016x}", rng.below(10), rng.next() >> 4),
        _ => "svc:logging.s3.amazonaws.com".to_owned(),
    };
    let key = format!("data/{}/part-{:05}%20copy%2B{}.parquet", 2020 + rng.below(6), rng.below(100_000), n % 7);
    let uri = if rng.below(50) == 0 {
        format!(
            "{method} /bucket-a/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250301T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={:016x} HTTP/1.1",
            rng.next()
        )
    } else {
        format!("{method} /bucket-a/{key} HTTP/1.1")
    };
    let (status, error) = match rng.below(20) {
        0 => (403, "AccessDenied"),
        1 => (404, "NoSuchKey"),
        _ => (200, "-"),
    };
    let size = rng.below(50_000_000);
    let sent = if method == "GET" && status == 200 { size.to_string() } else { "-".to_owned() };
    let (d, h, m, s) = (1 + rng.below(28), rng.below(24), rng.below(60), rng.below(60));
    format!(
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be bucket-a [{d:02}/Mar/2025:{h:02}:{m:02}:{s:02} +0000] {ip} {requester} {:016X} {op} {key} \"{uri}\" {status} {error} {sent} {size} {} {} \"-\" \"{}\" - {:x}= SigV4 TLS_AES_128_GCM_SHA256 AuthHeader bucket-a.s3.us-east-1.amazonaws.com TLSv1.3 - -",
        rng.next(),
        1 + rng.below(500),
        rng.below(100),
        AGENTS[rng.below(AGENTS.len() as u64) as usize],
        rng.next(),
    )
}

/// Access-log files of 2,000 lines (plain and gzip, in two directories); returns the lines and
/// the text bytes.
pub fn build_access_corpus(dir: &Path, total: u64) -> (u64, u64) {
    let stamp = dir.join(format!(".complete-v2-{total}"));
    let (plain, gz) = (dir.join("plain"), dir.join("gzip"));
    let text_bytes = || std::fs::read_dir(&plain).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    if stamp.exists() {
        return (total, text_bytes());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::create_dir_all(&gz).unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut n = 0;
    for f in 0..total.div_ceil(2000) {
        let mut text = String::new();
        for _ in 0..2000.min(total - n) {
            n += 1;
            text.push_str(&access_line(&mut rng, n));
            text.push('\n');
        }
        let name = format!("2025-03-01-{:02}-{:02}-{:02}-{:016X}", f / 3600 % 24, f / 60 % 60, f % 60, rng.next());
        std::fs::write(plain.join(&name), &text).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(gz.join(format!("{name}.gz")), enc.finish().unwrap()).unwrap();
    }
    std::fs::File::create(stamp).unwrap().write_all(b"ok").unwrap();
    (n, text_bytes())
}

/// The decompressed size of every gzip file in `dir`.
pub fn inflated_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .map(|p| {
            std::io::copy(&mut flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap()), &mut std::io::sink())
                .unwrap()
        })
        .sum()
}

/// Events in one trail-corpus file: 200 to 600.
const TRAIL_EVENTS: (u64, u64) = (200, 600);

/// The trail corpus: `files` files of 200–600 events. A five-minute file of a real trail
/// repeats the same few callers making the same few calls, so each file draws its events from
/// twenty of the sample events and its sources from eight addresses; gzip then packs the corpus
/// 9.9:1, about as CloudTrail's own files. One event in 2,000 (0.05%) carries a 150 KB string in its
/// `requestParameters` (an inline policy document, as `PutRolePolicy` sends it). Returns the
/// events and the gzip bytes.
pub fn build_trail_corpus(dir: &Path, files: u64) -> (u64, u64) {
    trail_like(dir, files, "v1", &|rng, _| TRAIL_EVENTS.0 + rng.below(TRAIL_EVENTS.1 - TRAIL_EVENTS.0 + 1))
}

/// The spread corpus: trail-like files whose sizes spread as a real bucket's do. Four in five
/// are quiet five-minute files of 2 to 40 events (a few KB), about one in six holds 200 to
/// 1,500 events, and one in thirty-three is a busy account's file of 5,000 to 10,000 events
/// (several MB of JSON); the 150 KB policies of the trail corpus come one in 2,000 events.
/// Returns the events and the gzip bytes.
pub fn build_spread_corpus(dir: &Path, files: u64) -> (u64, u64) {
    trail_like(dir, files, "spread-v1", &|rng, _| match rng.below(100) {
        0..80 => 2 + rng.below(39),
        80..97 => 200 + rng.below(1_301),
        _ => 5_000 + rng.below(5_001),
    })
}

/// `files` trail-like files (see [`build_trail_corpus`]) of `count(rng, file)` events each,
/// written once (`tag` names the build in the stamp file). Returns the events and the gzip
/// bytes.
fn trail_like(dir: &Path, files: u64, tag: &str, count: &dyn Fn(&mut Rng, u64) -> u64) -> (u64, u64) {
    let stamp = dir.join(format!(".complete-{tag}-{files}"));
    let sum =
        |dir: &Path| -> u64 { std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum() };
    if let Ok(events) = std::fs::read_to_string(&stamp) {
        return (events.trim().parse().unwrap(), sum(dir));
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let base = real_events(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples")));
    let mut rng = Rng(0x0bad_5eed_1234_5678);
    let mut n = 0;
    for f in 0..files {
        let count = count(&mut rng, f);
        let picks: Vec<&Value> = (0..20).map(|_| &base[rng.below(base.len() as u64) as usize]).collect();
        let sources: Vec<String> = (0..8).map(|_| source_ip(&mut rng)).collect();
        let events: Vec<Value> = (0..count)
            .map(|_| {
                n += 1;
                let mut e = if n % 2_000 == 1_000 {
                    mutate(policy_event(), &mut rng, n)
                } else {
                    mutate(picks[rng.below(picks.len() as u64) as usize].clone(), &mut rng, n)
                };
                e["sourceIPAddress"] = Value::from(sources[rng.below(8) as usize].as_str());
                e
            })
            .collect();
        write_gz(&dir.join(format!("123456789012_CloudTrail_eu-west-1_20250302T{f:04}Z_trail.json.gz")), &events);
    }
    std::fs::write(stamp, n.to_string()).unwrap();
    (n, sum(dir))
}

/// A `PutRolePolicy` call whose `policyDocument` string is 150 KB.
fn policy_event() -> Value {
    let statements: Vec<String> = (0..1_550)
        .map(|i| {
            format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::bucket-{i}/*"}}"#
            )
        })
        .collect();
    let document = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","));
    json!({
        "eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "PutRolePolicy", "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "userName": "admin", "arn": "arn:aws:iam::123456789012:user/admin", "accountId": "123456789012"},
        "userAgent": "aws-cli/2.15.0 Python/3.11.6", "eventType": "AwsApiCall", "readOnly": false, "managementEvent": true,
        "recipientAccountId": "123456789012", "eventCategory": "Management", "requestID": "R",
        "requestParameters": {"roleName": "app", "policyName": "big", "policyDocument": document},
        "responseElements": null
    })
}

/// The pretty-printed trail corpus: the files of the trail corpus in `from` written again with
/// two-space indentation and a newline before every member (as `json.dumps(indent=2)` and
/// hand-exported trails write them), so every record holds newlines between its tokens.
/// Returns the events and the gzip bytes.
pub fn build_pretty_corpus(dir: &Path, from: &Path, events: u64) -> (u64, u64) {
    rewrite_corpus(dir, from, events, &|file| serde_json::to_vec_pretty(file).unwrap())
}

/// The trail corpus with each file's events on one day, the first event's (their times of day
/// kept), as CloudTrail's five-minute files are: a filter's tallies of dropped events are per
/// object and day, so this is the corpus that shows their real number. Returns the events and
/// the gzip bytes.
pub fn build_one_day_corpus(dir: &Path, from: &Path, events: u64) -> (u64, u64) {
    rewrite_corpus(dir, from, events, &|file| {
        let mut file = file.clone();
        let records = file["Records"].as_array_mut().unwrap();
        let day = records[0]["eventTime"].as_str().unwrap()[..10].to_owned();
        for record in records {
            let time = record["eventTime"].as_str().unwrap();
            record["eventTime"] = Value::from(format!("{day}{}", &time[10..]));
        }
        serde_json::to_vec(&file).unwrap()
    })
}

/// Writes every gzip file of `from` again into `dir` as `write` renders its JSON, once (a
/// stamp names the events). Returns the events and the gzip bytes.
fn rewrite_corpus(dir: &Path, from: &Path, events: u64, write: &dyn Fn(&Value) -> Vec<u8>) -> (u64, u64) {
    let stamp = dir.join(format!(".complete-v1-{events}"));
    let sum =
        |dir: &Path| -> u64 { std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum() };
    if stamp.exists() {
        return (events, sum(dir));
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "gz") {
            continue;
        }
        let file: Value =
            serde_json::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&write(&file)).unwrap();
        std::fs::write(dir.join(path.file_name().unwrap()), enc.finish().unwrap()).unwrap();
    }
    std::fs::write(stamp, events.to_string()).unwrap();
    (events, sum(dir))
}

/// The members of a record in the order CloudTrail writes them (the documented record
/// contents), then a `userIdentity`'s, its `sessionContext`'s and their parts'. Members not
/// named here follow in sorted order.
const RECORD_ORDER: [&str; 30] = [
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "serviceEventDetails",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "insightDetails",
];
const IDENTITY_ORDER: [&str; 12] = [
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "sessionContext",
    "invokedBy",
    "identityProvider",
    "credentialId",
    "onBehalfOf",
    "inScopeOf",
];
const SESSION_ORDER: [&str; 5] =
    ["sessionIssuer", "webIdFederationData", "attributes", "sourceIdentity", "ec2RoleDelivery"];
const ISSUER_ORDER: [&str; 5] = ["type", "principalId", "arn", "accountId", "userName"];
const ATTRIBUTES_ORDER: [&str; 2] = ["creationDate", "mfaAuthenticated"];

/// Writes `v` with its members in `order` first; `nested` gives the order inside a member.
fn write_ordered(out: &mut Vec<u8>, v: &Value, order: &[&str], nested: &dyn Fn(&str) -> &'static [&'static str]) {
    let Some(map) = v.as_object() else {
        serde_json::to_writer(&mut *out, v).unwrap();
        return;
    };
    out.push(b'{');
    let named = order.iter().filter(|k| map.contains_key(**k)).copied();
    let rest = map.keys().map(String::as_str).filter(|k| !order.contains(k));
    for (i, key) in named.chain(rest).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).unwrap();
        out.push(b':');
        let inner = nested(key);
        if inner.is_empty() {
            serde_json::to_writer(&mut *out, &map[key]).unwrap();
        } else {
            write_ordered(out, &map[key], inner, nested);
        }
    }
    out.push(b'}');
}

fn identity_part(key: &str) -> &'static [&'static str] {
    match key {
        "sessionContext" => &SESSION_ORDER,
        "sessionIssuer" => &ISSUER_ORDER,
        "attributes" => &ATTRIBUTES_ORDER,
        _ => &[],
    }
}

/// The trail corpus in CloudTrail's own member order: the files of the trail corpus in `from`
/// written again with `eventVersion` and `userIdentity` first, as CloudTrail delivers them (the
/// other corpora are written by serde_json with sorted members, which puts `userIdentity`,
/// `errorCode` and the like late in each record). Returns the events and the gzip bytes.
pub fn build_ordered_corpus(dir: &Path, from: &Path, events: u64) -> (u64, u64) {
    let record_part = |key: &str| -> &'static [&'static str] {
        if key == "userIdentity" { &IDENTITY_ORDER } else { identity_part(key) }
    };
    let ordered = |file: &Value| {
        let mut out = b"{\"Records\":[".to_vec();
        for (i, record) in file["Records"].as_array().unwrap().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_ordered(&mut out, record, &RECORD_ORDER, &record_part);
        }
        out.extend_from_slice(b"]}");
        out
    };
    rewrite_corpus(dir, from, events, &ordered)
}

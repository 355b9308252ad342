//! Throughput benchmark: decode + document building + bulk encoding on one core.
//!
//! Generates a synthetic corpus from the real public events of `tests/fixtures/samples/`
//! (varied services, nested requestParameters), re-stamped with fresh ids and times, with IPv4,
//! IPv6 and service-name sources, and a few events whose requestParameters exceed 100 KB. Then
//! runs `trailship ingest --output /dev/null` pinned to one core (`taskset -c 0`) several times
//! and reports events/s, without GeoIP and then with dense test GeoIP databases (built once by
//! `scripts/make-mmdb.py --dense`; every public source address finds a record). Public sources
//! come from a pool of 10,000 addresses (IPv4 and IPv6), so the lookup cache both hits and
//! misses as on a busy trail.
//! Run with `cargo bench --bench ingest` (or `scripts/bench.sh`, which prepares the venv).
//! Environment: `BENCH_EVENTS` (default 200000), `BENCH_RUNS` (default 5).

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::Command;

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

fn build_corpus(dir: &Path, total: u64) -> (u64, u64) {
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

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes nothing: skip the work there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let total: u64 = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-corpus");
    let (events, bytes) = build_corpus(&dir, total);
    eprintln!(
        "corpus: {events} events in {} files, {:.1} MB gzip, at {}",
        total.div_ceil(1000),
        bytes as f64 / 1e6,
        dir.display()
    );

    let geoip = geoip_databases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-geoip"));
    let off = measure(&dir, runs, &[]);
    let on = measure(&dir, runs, &geoip);
    for (label, (median, best)) in [("without GeoIP", off), ("with GeoIP (city + asn, cached)", on)] {
        println!(
            "ingest --output /dev/null, one core, {label}: median {median:.0} events/s, best {best:.0} events/s over {runs} runs of {events} events"
        );
    }
    println!("GeoIP costs {:.1}% of the median throughput", 100.0 * (off.0 - on.0) / off.0);
}

/// Dense test databases from `scripts/make-mmdb.py --dense` (the test venv's Python), built
/// once: every public address in the corpus finds a record, as on a full GeoLite2 file.
fn geoip_databases(dir: &Path) -> Vec<(String, String)> {
    let stamp = dir.join(".complete-v1");
    if !stamp.exists() {
        let venv = std::env::var("TRAILSHIP_TEST_VENV")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv").to_owned());
        let status = Command::new(Path::new(&venv).join("bin/python"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make-mmdb.py"))
            .arg("--dense")
            .arg(dir)
            .status()
            .expect("run scripts/make-mmdb.py with the test venv (scripts/test-env.sh creates it)");
        assert!(status.success());
        std::fs::write(&stamp, b"ok").unwrap();
    }
    vec![
        ("TRAILSHIP__GEOIP__CITY_DB".into(), dir.join("city.mmdb").display().to_string()),
        ("TRAILSHIP__GEOIP__ASN_DB".into(), dir.join("asn.mmdb").display().to_string()),
    ]
}

/// Runs the ingest `runs` times; returns the median and best events/s.
fn measure(dir: &Path, runs: usize, env: &[(String, String)]) -> (f64, f64) {
    let bin = env!("CARGO_BIN_EXE_trailship");
    let mut rates = Vec::new();
    for run in 1..=runs {
        let out = Command::new("taskset")
            .args(["-c", "0", bin, "ingest", "--output", "/dev/null"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run trailship under taskset (util-linux)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let summary = stderr.lines().rev().find(|l| l.starts_with("trailship ingest:")).unwrap().to_owned();
        let rate: f64 = summary.split(" events/s").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
        eprintln!("run {run}{}: {summary}", if env.is_empty() { "" } else { " (geoip)" });
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (rates[rates.len() / 2], rates[rates.len() - 1])
}

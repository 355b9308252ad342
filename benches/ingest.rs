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
//! Then the same for a corpus of S3 server access log files (plain text, as S3 writes them, and
//! the same lines gzip-compressed), reported as lines/s and as MB/s of log text beside the
//! CloudTrail path's MB/s of decompressed JSON: the per-byte comparison of the two decoders.
//! Run with `cargo bench --bench ingest` (or `scripts/bench.sh`, which prepares the venv).
//! Environment: `BENCH_EVENTS` (default 200000), `BENCH_ACCESS_LINES` (default 400000),
//! `BENCH_RUNS` (default 5).

mod typical_rules;

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
fn build_access_corpus(dir: &Path, total: u64) -> (u64, u64) {
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
fn inflated_bytes(dir: &Path) -> u64 {
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
    let rules = write_rules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-rules"));
    let var = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let no_detection = vec![var("TRAILSHIP__DETECT__BUILTIN", "false")];
    let builtin: Vec<(String, String)> = Vec::new();
    let detection = vec![var("TRAILSHIP__DETECT__RULES", &rules.display().to_string())];
    let with_geoip: Vec<(String, String)> = detection.iter().chain(&geoip).cloned().collect();
    let geoip_only: Vec<(String, String)> = no_detection.iter().chain(&geoip).cloned().collect();
    let configs = [
        ("detection off", no_detection),
        ("detection off, geoip", geoip_only),
        ("built-in rules", builtin),
        ("81 rules", detection),
        ("81 rules, geoip", with_geoip),
    ];
    let got = measure_alternately(&dir, runs, &configs);
    let (off, geo_only, only_builtin, detect, on) = (got[0], got[1], got[2], got[3], got[4]);
    for (label, (median, best)) in [
        ("detection off, without GeoIP", off),
        ("detection off, with GeoIP (city + asn, cached)", geo_only),
        ("the 21 built-in rules, without GeoIP", only_builtin),
        ("81 rules (built-in + 60 typical), without GeoIP", detect),
        ("81 rules, with GeoIP (city + asn, cached)", on),
    ] {
        println!(
            "ingest --output /dev/null, one core, {label}: median {median:.0} events/s, best {best:.0} events/s over {runs} runs of {events} events"
        );
    }
    // How often the rules fire on this corpus: every event in it comes from attack detonations.
    for (label, env) in [("built-in rules", &configs[2].1), ("81 rules", &configs[3].1)] {
        let out = Command::new(env!("CARGO_BIN_EXE_trailship"))
            .arg("detect")
            .arg(&dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let summary = stderr.lines().rev().find(|l| l.starts_with("trailship detect:")).unwrap_or_default();
        let matches = summary.split("; ").nth(1).and_then(|m| m.split(" (").next()).unwrap_or_default();
        println!("{label}: {matches} on the {events} events of the corpus");
    }
    let cost = |with: f64| 100.0 * (off.0 - with) / off.0;
    println!(
        "detection costs {:.1}% (built-in rules) and {:.1}% (81 rules) of the median throughput; GeoIP {:.1}%",
        cost(only_builtin.0),
        cost(detect.0),
        cost(geo_only.0)
    );

    // Per byte: the CloudTrail path's decompressed JSON against the access-log path's text.
    let json_bytes = inflated_bytes(&dir);
    let per_event = json_bytes as f64 / events as f64;
    let lines_total: u64 = std::env::var("BENCH_ACCESS_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let access_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-access-corpus");
    let (lines, text) = build_access_corpus(&access_dir, lines_total);
    let per_line = text as f64 / lines as f64;
    eprintln!("access corpus: {lines} lines, {:.1} MB of text ({per_line:.0} bytes a line)", text as f64 / 1e6);
    let mb = |rate: f64, per: f64| rate * per / 1e6;
    println!(
        "cloudtrail, one core, without GeoIP: median {:.1} MB/s of decompressed JSON ({per_event:.0} bytes an event)",
        mb(off.0, per_event)
    );
    for (label, sub, env) in
        [("plain text", "plain", &[][..]), ("gzip", "gzip", &[][..]), ("plain text, with GeoIP", "plain", &geoip[..])]
    {
        let (median, best) = measure(&access_dir.join(sub), runs, env);
        println!(
            "s3 access logs ({label}), one core: median {median:.0} lines/s ({:.1} MB/s of log text), best {best:.0} lines/s, over {runs} runs of {lines} lines; {:.2}x the cloudtrail path per byte",
            mb(median, per_line),
            mb(median, per_line) / mb(if env.is_empty() { off.0 } else { geo_only.0 }, per_event)
        );
    }
}

/// Writes the 60 typical rules (`typical_rules.rs`) into `dir`, replacing what was there.
fn write_rules(dir: &Path) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, yaml) in typical_rules::typical_rules() {
        std::fs::write(dir.join(name), yaml).unwrap();
    }
    dir.to_owned()
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
    measure_alternately(dir, runs, &[("", env.to_vec())])[0]
}

/// Runs each configuration `runs` times, taking turns (one run of each, then again), so a
/// machine that slows down or speeds up meanwhile weighs on all of them alike. Per
/// configuration: the median and the best events/s.
fn measure_alternately(dir: &Path, runs: usize, configs: &[(&str, Vec<(String, String)>)]) -> Vec<(f64, f64)> {
    let bin = env!("CARGO_BIN_EXE_trailship");
    let mut rates = vec![Vec::new(); configs.len()];
    for run in 1..=runs {
        for (n, (label, env)) in configs.iter().enumerate() {
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
            assert!(summary.contains("(0 invalid records"), "the corpus must be all valid records: {summary}");
            let rate: f64 = summary.split(" events/s").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
            eprintln!("run {run}{}: {summary}", if label.is_empty() { String::new() } else { format!(" ({label})") });
            rates[n].push(rate);
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (r[r.len() / 2], r[r.len() - 1])
        })
        .collect()
}

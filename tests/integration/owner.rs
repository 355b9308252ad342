//! `sqs.expected_bucket_owner` on every S3 call, read from the requests themselves: the fault
//! proxy in front of moto logs each request's `x-amz-expected-bucket-owner` header (moto does
//! not check it), and every listing and GetObject of `backfill`, `run` and `doctor` carries it.

use crate::fixtures::{LogFile, event, iam_user, trail_key};
use crate::harness::{Moto, Osmem, env_for, trailship, with};
use crate::proxies::FaultProxy;
use crate::trail::Trail;
use serde_json::json;

const OWNER: &str = "123456789012";

#[tokio::test(flavor = "multi_thread")]
async fn every_listing_and_get_object_names_the_expected_owner() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&moto.url).await;
    let trail = Trail::create(&moto, 5, 30).await;
    for n in 0..2 {
        let e = event(
            &format!("owner-{n}"),
            &format!("2024-08-01T1{n}:00:00Z"),
            "ListBuckets",
            "s3.amazonaws.com",
            "203.0.113.9",
            iam_user("alice", "AKIA1"),
            json!({}),
        );
        let file = LogFile { key: trail_key("", "CloudTrail", &e, n), events: vec![e] };
        trail.put(&file.key, file.gzip()).await;
    }
    let env = with(
        env_for(&moto, &osmem, &trail.queue_url),
        &[
            ("TRAILSHIP__AWS__ENDPOINT_URL", &proxy.url),
            ("TRAILSHIP__SQS__EXPECTED_BUCKET_OWNER", OWNER),
            ("TRAILSHIP__SQS__ALLOWED_BUCKETS", &trail.bucket),
        ],
    );
    let backfill =
        trailship(&["backfill", "--bucket", &trail.bucket, "--from", "2024-08-01", "--to", "2024-08-01"], &env).await;
    assert_eq!(backfill.code, 0, "{}", backfill.stderr);
    assert!(backfill.summary().contains("2 indexed"), "{}", backfill.summary());
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("2 already present"), "{}", run.summary());
    let doctor = trailship(&["doctor"], &env).await;
    assert!(doctor.stdout.contains(&format!("✓ s3://{}/", trail.bucket)), "{}", doctor.stdout);

    let log = proxy.stats().await["log"].as_array().unwrap().clone();
    let s3: Vec<_> = log.iter().filter(|e| e[1].as_str().unwrap().starts_with(&format!("/{}", trail.bucket))).collect();
    let lists = s3.iter().filter(|e| e[1].as_str().unwrap().contains("list-type=2")).count();
    let gets = s3.iter().filter(|e| e[0] == "GET" && !e[1].as_str().unwrap().contains("list-type=")).count();
    // backfill lists and reads both files, run reads both again, doctor lists and reads one.
    assert!(lists >= 2 && gets >= 5, "{lists} listings, {gets} gets: {s3:?}");
    for entry in &s3 {
        assert_eq!(entry[2], OWNER, "an S3 call without the expected owner: {entry}");
    }
}

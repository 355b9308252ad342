//! SSE-KMS objects the worker's role may not decrypt: S3 answers GetObject with AccessDenied
//! naming `kms:Decrypt` and the key (the fault proxy in front of moto answers as S3 does). The
//! object fails with one line naming the action, the key and the fix, the other objects go in,
//! and `doctor` reports the denial as a KMS one. In `run`, the denied object is counted as
//! `kms_denied` and its message left to the redrive policy; a queue whose key the worker may not
//! use (SQS answers ReceiveMessage with `KmsAccessDenied`) is one line naming the key and the fix.

use crate::fixtures::{event, gzip, iam_user};
use crate::harness::{Background, Moto, Osmem, env_for, free_port, trailship};
use crate::proxies::FaultProxy;
use crate::trail::Trail;
use serde_json::json;
use std::time::Duration;

const BUCKET: &str = "org-cloudtrail-logs";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn key(name: &str) -> String {
    format!(
        "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/08/01/111122223333_CloudTrail_eu-west-1_20240801T1000Z_{name}.json.gz"
    )
}

/// S3's answer to a GetObject of an SSE-KMS object when the caller may not use the key.
fn denied() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>User: \
         arn:aws:sts::111122223333:assumed-role/trailship/i-0abc is not authorized to perform: kms:Decrypt on \
         resource: {KEY_ARN} because no identity-based policy allows the kms:Decrypt action</Message>\
         <RequestId>4442587FB7D0A2F9</RequestId></Error>"
    )
}

/// Puts the objects `open` and `sealed`, one event each, into the trail bucket.
async fn put_objects(s3: &aws_sdk_s3::Client) {
    for (name, id) in [("open", "ev-open"), ("sealed", "ev-sealed")] {
        let record = event(
            id,
            "2024-08-01T10:00:00Z",
            "ListBuckets",
            "s3.amazonaws.com",
            "203.0.113.9",
            iam_user("alice", "AKIAIOSFODNN7EXAMPLE"),
            json!({"recipientAccountId": "111122223333"}),
        );
        let body = gzip(json!({"Records": [record]}).to_string().as_bytes());
        s3.put_object().bucket(BUCKET).key(key(name)).body(body.into()).send().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_the_role_cannot_decrypt_fails_naming_kms_decrypt_and_the_key() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&moto.url).await;
    let s3 = moto.s3();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    put_objects(&s3).await;
    let sealed = format!("/{BUCKET}/{}", key("sealed"));
    proxy.set(json!([{"kind": "answer", "path": sealed, "status": 403, "body": denied()}])).await;
    let mut env = env_for(&moto, &osmem, "");
    env.retain(|(k, _)| k != "TRAILSHIP__AWS__ENDPOINT_URL" && k != "TRAILSHIP__SQS__QUEUE_URL");
    env.push(("TRAILSHIP__AWS__ENDPOINT_URL".into(), proxy.url.clone()));

    let run = trailship(&["backfill", "--bucket", BUCKET, "--from", "2024-08-01", "--to", "2024-08-01"], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line =
        run.stderr.lines().find(|l| l.contains("kms:Decrypt denied")).unwrap_or_else(|| panic!("{}", run.stderr));
    let want = format!("get s3://{BUCKET}/{} failed: kms:Decrypt denied on {KEY_ARN}: ", key("sealed"));
    assert!(line.contains(&want), "{line}");
    assert!(line.contains("DecryptSseKmsTrailFilesThroughS3Only") && line.contains("key policy"), "the fix: {line}");
    assert!(run.summary().contains("1 indexed") && run.summary().contains("1 objects failed"), "{}", run.summary());
    assert_eq!(osmem.count("cloudtrail-*").await, 1, "the other object went in");

    env.push(("TRAILSHIP__SQS__ALLOWED_BUCKETS".into(), BUCKET.into()));
    env.push(("TRAILSHIP__SQS__ALLOWED_PREFIXES".into(), key("sealed")));
    let doctor = trailship(&["doctor"], &env).await;
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let check = doctor.stdout.lines().find(|l| l.contains(&format!("s3://{BUCKET}/"))).unwrap_or_default();
    assert!(check.contains(&format!("kms:Decrypt denied on {KEY_ARN}")), "{}", doctor.stdout);
    assert!(doctor.stdout.contains("allow kms:Decrypt on the trail's KMS key"), "{}", doctor.stdout);
}

/// SQS's answer (AWS JSON protocol) to a ReceiveMessage on a queue whose KMS key the caller
/// may not use.
fn queue_denied() -> String {
    json!({"__type": "com.amazonaws.sqs#KmsAccessDenied",
        "message": format!("User: arn:aws:sts::111122223333:assumed-role/trailship/i-0abc is not authorized to \
            perform: kms:Decrypt on resource: {KEY_ARN} because no identity-based policy allows the kms:Decrypt action")})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_counts_a_denied_object_and_names_a_queue_key_it_cannot_use() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&moto.url).await;
    // One receive before the message goes to the dead-letter queue: the denied object's message
    // must get there, not be deleted.
    let trail = Trail::create(&moto, 1, 2).await;
    let sealed = format!("/{BUCKET}/{}", key("sealed"));
    proxy
        .set(json!([
            {"kind": "answer", "path": sealed, "status": 403, "body": denied()},
            {"kind": "answer", "path": "/", "target": "AmazonSQS.ReceiveMessage", "count": 1, "status": 400,
             "content_type": "application/x-amz-json-1.0", "body": queue_denied()},
        ]))
        .await;
    put_objects(&trail.s3).await;
    let addr = format!("127.0.0.1:{}", free_port());
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.retain(|(k, _)| k != "TRAILSHIP__AWS__ENDPOINT_URL");
    env.push(("TRAILSHIP__AWS__ENDPOINT_URL".into(), proxy.url.clone()));
    env.push(("TRAILSHIP__METRICS__LISTEN".into(), addr.clone()));
    env.push(("TRAILSHIP__SQS__VISIBILITY_TIMEOUT_SECS".into(), "2".into()));
    let mut worker = Background::start(&["run"], &env);
    worker.wait_for("receive failed, retrying").await;
    let line = worker.stderr.lines().last().unwrap().to_owned();
    assert!(line.contains(&format!("kms:Decrypt denied on the queue's key {KEY_ARN}: ")), "{line}");
    assert!(line.contains("DecryptTheQueueMessages") && line.contains("key policy"), "the fix: {line}");

    // The open object goes in; the sealed one is counted as a KMS denial and its message ends in
    // the dead-letter queue through the redrive policy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
        let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
        let denied = value(r#"trailship_objects_total{outcome="kms_denied"} "#);
        let indexed = value(r#"trailship_objects_total{outcome="indexed"} "#);
        let dlq = trail.depth(&trail.dlq_url).await.0;
        if denied.as_deref() == Some("1") && indexed.as_deref() == Some("1") && dlq == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "denied {denied:?}, indexed {indexed:?}, dlq {dlq}: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(trail.dlq_bodies().await[0].contains("sealed"), "the sealed object's notification");
    assert_eq!(osmem.count("cloudtrail-*").await, 1);
    let out = worker.terminate(Duration::from_secs(10)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("kms:Decrypt denied on {KEY_ARN}")), "{}", out.stderr);
}

//! SSE-KMS objects the worker's role may not decrypt: S3 answers GetObject with AccessDenied
//! naming `kms:Decrypt` and the key (the fault proxy in front of moto answers as S3 does). The
//! object fails with one line naming the action, the key and the fix, the other objects go in,
//! and `doctor` reports the denial as a KMS one.

use crate::fixtures::{event, gzip, iam_user};
use crate::harness::{Moto, Osmem, env_for, trailship};
use crate::proxies::FaultProxy;
use serde_json::json;

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

#[tokio::test(flavor = "multi_thread")]
async fn an_object_the_role_cannot_decrypt_fails_naming_kms_decrypt_and_the_key() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&moto.url).await;
    let s3 = moto.s3();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
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

//! `trailship doctor` against moto and osmem: a checklist that finds what a new deployment gets
//! wrong (templates not installed, no redrive policy, OpenSearch unreachable, an unreadable
//! GeoIP file, a missing queue), each cause in one line, exit 1 only when something is wrong.

use crate::fixtures;
use crate::harness::{Moto, Osmem, env_for, free_port, geoip_databases, trailship, with};
use crate::trail::Trail;

fn line<'a>(stdout: &'a str, start: &str) -> &'a str {
    stdout.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line {start:?} in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_every_dependency_and_says_what_to_fix() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 5, 30).await;
    let sample = &fixtures::sample_files()[0];
    trail.put(&sample.key, sample.gzip()).await;
    let dir = tempfile::tempdir().unwrap();
    let (city, asn) = geoip_databases(dir.path());
    let env = with(
        env_for(&moto, &osmem, &trail.queue_url),
        &[
            ("TRAILSHIP__SQS__ALLOWED_BUCKETS", &trail.bucket),
            ("TRAILSHIP__GEOIP__CITY_DB", city.to_str().unwrap()),
            ("TRAILSHIP__GEOIP__ASN_DB", asn.to_str().unwrap()),
        ],
    );

    // A fresh cluster: the templates are missing, everything else is in order.
    let before = trailship(&["doctor"], &env).await;
    assert_eq!(before.code, 1, "{}\n{}", before.stdout, before.stderr);
    let out = &before.stdout;
    assert!(line(out, "✓ configuration").contains("valid"), "{out}");
    let os = line(out, &format!("✓ opensearch {}", osmem.url));
    assert!(os.contains("OpenSearch 3.8.0") && os.contains("no authentication accepted"), "{os}");
    assert!(out.contains("✗ index template trailship-cloudtrail: missing\n    fix: run `trailship setup`"), "{out}");
    assert!(line(out, "✓ sqs queue").contains("reachable"), "{out}");
    assert!(line(out, "✓ sqs redrive policy").contains("after 5 receives"), "{out}");
    assert!(line(out, &format!("✓ s3://{}/", trail.bucket)).contains("readable"), "{out}");
    assert!(line(out, "✓ geoip.city_db").contains("city.mmdb"), "{out}");
    assert!(line(out, "✓ geoip.city_db").contains(", 0 days old)"), "the database and its age: {out}");
    assert!(line(out, "✓ geoip.asn_db").contains("asn.mmdb"), "{out}");
    assert!(out.contains("✗ index template trailship-s3access: missing"), "{out}");
    assert!(out.contains("✗ index template trailship-alerts: missing"), "{out}");
    assert!(out.contains("✗ index template trailship-trends-cloudtrail: missing"), "{out}");
    assert!(out.contains("✗ index template trailship-trends-s3access: missing"), "{out}");
    assert!(out.ends_with("6 wrong, 0 to look at\n"), "{out}");

    let setup = trailship(&["setup"], &env).await;
    assert_eq!(setup.code, 0, "{}", setup.stderr);
    let after = trailship(&["doctor"], &env).await;
    assert_eq!(after.code, 0, "{}\n{}", after.stdout, after.stderr);
    assert!(!after.stdout.contains('✗'), "{}", after.stdout);
    assert!(line(&after.stdout, "✓ index template trailship-cloudtrail").contains("installed, current"));

    // A queue without a redrive policy is worth a warning, not a failure; no allowlist too.
    let sqs = moto.sqs();
    let plain = sqs.create_queue().queue_name("no-redrive").send().await.unwrap().queue_url.unwrap();
    let open = with(env.clone(), &[("TRAILSHIP__SQS__QUEUE_URL", &plain), ("TRAILSHIP__SQS__ALLOWED_BUCKETS", "")]);
    let warned = trailship(&["doctor"], &open).await;
    assert_eq!(warned.code, 0, "{}", warned.stdout);
    assert!(line(&warned.stdout, "! sqs redrive policy").contains("none"), "{}", warned.stdout);
    assert!(line(&warned.stdout, "! allowed buckets").contains("any bucket"), "{}", warned.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_each_broken_dependency_in_one_line() {
    let moto = Moto::start().await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("GeoLite2-City.mmdb");
    let env = vec![
        ("AWS_ACCESS_KEY_ID".to_owned(), "AKIATRAILSHIPTEST".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "moto-secret-Jq7rW2xv".to_owned()),
        ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
        ("TRAILSHIP__AWS__REGION".to_owned(), "us-east-1".to_owned()),
        ("TRAILSHIP__AWS__ENDPOINT_URL".to_owned(), moto.url.clone()),
        ("TRAILSHIP__SQS__QUEUE_URL".to_owned(), format!("{}/123456789012/no-such-queue", moto.url)),
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), closed.clone()),
        ("TRAILSHIP__GEOIP__CITY_DB".to_owned(), missing.display().to_string()),
    ];
    let run = trailship(&["doctor"], &env).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    let os = line(out, &format!("✗ opensearch {closed}"));
    assert!(os.to_lowercase().contains("connection refused"), "{os}");
    assert!(line(out, "✗ sqs queue").contains("QueueDoesNotExist"), "{out}");
    assert!(line(out, "✗ geoip.city_db").contains("GeoLite2-City.mmdb"), "{out}");
    for l in out.lines() {
        assert!(!l.contains("ConnectorError") && !l.contains("kind: "), "no debug dump: {l}");
    }
    assert!(run.stderr.lines().last().unwrap().contains("checks failed"), "{}", run.stderr);

    let bad = trailship(&["doctor"], &[("TRAILSHIP__SQS__WAIT_TIME_SECS".to_owned(), "99".to_owned())]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.starts_with("✗ configuration: sqs.wait_time_secs"), "{}", bad.stdout);
}

/// No AWS credentials anywhere: one line that says so, where the chain looked and how to
/// provide them, from doctor and from run; no SDK dump in any output.
#[tokio::test(flavor = "multi_thread")]
async fn missing_aws_credentials_are_one_line_that_says_how_to_provide_them() {
    let osmem = Osmem::start().await;
    let home = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("TRAILSHIP__OPENSEARCH__URL", osmem.url.as_str()),
        ("TRAILSHIP__SQS__QUEUE_URL", "http://127.0.0.1:9/123456789012/trail"),
        ("TRAILSHIP__AWS__REGION", "us-east-1"),
        ("HOME", home.path().to_str().unwrap()),
        // Instance metadata found nothing, as off EC2, without waiting for its timeouts.
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let doctor = trailship(&["doctor"], &env).await;
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let l = line(&doctor.stdout, "✗ aws credentials: no AWS credentials found: looked in the environment");
    assert!(l.contains("AWS_PROFILE") && l.contains("instance metadata"), "{l}");
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.lines().last().unwrap().contains("no AWS credentials found: looked in"), "{}", run.stderr);
    for out in [&doctor.stdout, &doctor.stderr, &run.stderr] {
        assert!(!out.contains("ProviderError") && !out.contains("aws_config"), "{out}");
    }
}

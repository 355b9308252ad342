//! `opensearch.auth = "sigv4"`: `setup`, `ingest` and `run --drain` through a proxy that
//! verifies every signature as Amazon OpenSearch Service (`es`) and Serverless (`aoss`) do
//! (botocore's signer, session token required), in front of osmem; a wrong secret is a clear
//! error naming OpenSearch's 403; `opensearch.ca_file` for a cluster behind a private CA.

use crate::fixtures;
use crate::harness::{Moto, Osmem, env_for, trailship};
use crate::proxies::{FaultProxy, SIGV4_ACCESS_KEY, SIGV4_SECRET_KEY, SIGV4_SESSION_TOKEN, SigV4Proxy, private_ca};
use crate::trail::Trail;

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
}

/// trailship's environment for the trail on moto and OpenSearch behind `proxy`, signing for
/// `service` with the proxy's credentials (moto accepts any).
fn signing_env(moto: &Moto, osmem: &Osmem, trail: &Trail, proxy: &SigV4Proxy, service: &str) -> Vec<(String, String)> {
    let mut env = env_for(moto, osmem, &trail.queue_url);
    set(&mut env, "AWS_ACCESS_KEY_ID", SIGV4_ACCESS_KEY);
    set(&mut env, "AWS_SECRET_ACCESS_KEY", SIGV4_SECRET_KEY);
    set(&mut env, "AWS_SESSION_TOKEN", SIGV4_SESSION_TOKEN);
    set(&mut env, "TRAILSHIP__OPENSEARCH__URL", &proxy.url);
    set(&mut env, "TRAILSHIP__OPENSEARCH__AUTH", "sigv4");
    set(&mut env, "TRAILSHIP__OPENSEARCH__AWS_SERVICE", service);
    // One message at a time: moto's DeleteMessage is not safe against concurrent deletes (see
    // backfill.rs), and these tests check the queue is empty afterwards.
    set(&mut env, "TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT", "1");
    env
}

async fn setup_ingest_and_run_through_the_verifier(service: &str) {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = SigV4Proxy::start(&osmem.url, service).await;
    let trail = Trail::create(&moto, 3, 30).await;
    let env = signing_env(&moto, &osmem, &trail, &proxy, service);

    let setup = trailship(&["setup"], &env).await;
    assert_eq!(setup.code, 0, "{}", setup.stderr);
    assert!(setup.stdout.contains("index template trailship-cloudtrail: installed"), "{}", setup.stdout);
    let (status, _) = osmem.get("/_index_template/trailship-cloudtrail").await;
    assert_eq!(status, 200, "the template reached the cluster behind the verifier");
    if service == "aoss" {
        assert!(setup.stdout.contains("skipped (OpenSearch Serverless has no ISM"), "{}", setup.stdout);
    }

    let doctor = trailship(&["doctor"], &env).await;
    assert_eq!(doctor.code, 0, "{}", doctor.stdout);
    let reachable = if service == "aoss" { "reachable (OpenSearch Serverless)" } else { "reachable, OpenSearch" };
    let line = doctor.stdout.lines().find(|l| l.starts_with("✓ opensearch")).unwrap_or_default();
    assert!(line.contains(reachable) && line.contains(&format!("sigv4 for {service} in us-east-1")), "{line}");

    // Half the sample files by `ingest` from disk, the other half by the worker from S3.
    let files = fixtures::sample_files();
    let (local, remote) = files.split_at(files.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    for (n, f) in local.iter().enumerate() {
        std::fs::write(dir.path().join(format!("f{n}.json.gz")), f.gzip()).unwrap();
    }
    let ingest = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(ingest.code, 0, "{}", ingest.stderr);
    for f in remote {
        trail.put(&f.key, f.gzip()).await;
    }
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let expected = fixtures::event_ids(&files).len() as u64;
    assert_eq!(expected, 413);
    assert_eq!(osmem.count("cloudtrail-*").await, expected, "{}\n{}", ingest.stderr, run.stderr);
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0), "{}", run.stderr);
    let stats = proxy.stats().await;
    assert_eq!(stats["rejected"], 0, "every request verified: {stats}");
    assert!(stats["verified"].as_u64().unwrap() >= 4, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigv4_for_opensearch_service_passes_the_verifier_for_setup_ingest_and_run() {
    setup_ingest_and_run_through_the_verifier("es").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigv4_for_opensearch_serverless_passes_the_verifier_for_setup_ingest_and_run() {
    setup_ingest_and_run_through_the_verifier("aoss").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_or_missing_session_token_is_a_clear_403_and_exit_1() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = SigV4Proxy::start(&osmem.url, "es").await;
    let trail = Trail::create(&moto, 3, 30).await;
    let good = signing_env(&moto, &osmem, &trail, &proxy, "es");

    let mut wrong = good.clone();
    set(&mut wrong, "AWS_SECRET_ACCESS_KEY", "not-the-secret-Wk2pQ9");
    let setup = trailship(&["setup"], &wrong).await;
    assert_eq!(setup.code, 1, "{}", setup.stderr);
    let last = setup.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("opensearch answered 403"), "{last}");
    assert!(last.contains("signature we calculated does not match"), "{last}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.json.gz"), fixtures::sample_files()[0].gzip()).unwrap();
    let ingest = trailship(&["ingest", dir.path().to_str().unwrap()], &wrong).await;
    assert_eq!(ingest.code, 1, "{}", ingest.stderr);
    assert!(ingest.stderr.lines().last().unwrap_or_default().contains("403"), "{}", ingest.stderr);

    let mut no_token = good.clone();
    no_token.retain(|(k, _)| k != "AWS_SESSION_TOKEN");
    let run = trailship(&["run", "--drain"], &no_token).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.lines().last().unwrap_or_default().contains("security token"), "{}", run.stderr);
    assert_eq!(osmem.count("cloudtrail-*").await, 0);
    assert!(proxy.stats().await["verified"] == 0, "nothing got through");

    let mut no_credentials = good.clone();
    no_credentials
        .retain(|(k, _)| !k.starts_with("AWS_SECRET") && !k.starts_with("AWS_ACCESS") && k != "AWS_SESSION_TOKEN");
    let setup = trailship(&["setup"], &no_credentials).await;
    assert_eq!(setup.code, 1, "{}", setup.stderr);
    let last = setup.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("opensearch.auth = \"sigv4\": no AWS credentials"), "{last}");

    // Help texts with every secret in the environment: trailship() checks they hold none.
    for args in [&["--help"][..], &["run", "--help"], &["doctor", "--help"]] {
        let help = trailship(args, &good).await;
        assert_eq!(help.code, 0, "{}", help.stderr);
        assert!(help.stdout.contains("Usage: trailship"), "{}", help.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_behind_a_private_ca_is_trusted_with_ca_file_and_refused_without() {
    let osmem = Osmem::start().await;
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(certs.path());
    let tls = FaultProxy::start_tls(&osmem.url, &cert, &key).await;
    assert!(tls.url.starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.json.gz"), fixtures::sample_files()[0].gzip()).unwrap();
    let mut env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), tls.url.clone()),
        ("TRAILSHIP__OPENSEARCH__MAX_RETRIES".to_owned(), "0".to_owned()),
    ];

    let refused = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let last = refused.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("certificate"), "the cause, in one line: {last}");
    assert!(!refused.stderr.contains("ConnectorError") && !refused.stderr.contains("kind:"), "{}", refused.stderr);

    env.push(("TRAILSHIP__OPENSEARCH__CA_FILE".to_owned(), ca.display().to_string()));
    let trusted = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    let events = fixtures::sample_files()[0].events.len() as u64;
    assert_eq!(osmem.count("cloudtrail-*").await, events);
}

//! OpenSearch basic authentication end to end: the auth proxy in front of osmem refuses every
//! request without the right `Authorization` header, as the security plugin does. `setup`,
//! `doctor`, `ingest` and `run` pass through it with the right password; with a wrong one each
//! fails with one line naming the 401 and exits 1. No password appears in any output (the
//! harness checks every run's output for every secret it was given).

use crate::fixtures;
use crate::harness::{Moto, Osmem, env_for, trailship, with};
use crate::proxies::AuthProxy;
use crate::trail::Trail;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");
const USER: &str = "trailship-writer";
const PASSWORD: &str = "os-password-Hk7pQ2zWm4";
const WRONG: &str = "os-password-wrong-Tq9vX3";

#[tokio::test(flavor = "multi_thread")]
async fn every_command_authenticates_and_a_wrong_password_is_one_line_and_exit_1() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = AuthProxy::start(&osmem.url, USER, PASSWORD).await;
    let trail = Trail::create(&moto, 5, 30).await;
    let files = fixtures::sample_files();
    for f in &files[..3] {
        trail.put(&f.key, f.gzip()).await;
    }
    let base = with(
        env_for(&moto, &osmem, &trail.queue_url),
        &[("TRAILSHIP__OPENSEARCH__URL", &proxy.url), ("TRAILSHIP__OPENSEARCH__USERNAME", USER)],
    );
    let good = with(base.clone(), &[("TRAILSHIP__OPENSEARCH__PASSWORD", PASSWORD)]);
    let bad = with(base, &[("TRAILSHIP__OPENSEARCH__PASSWORD", WRONG)]);

    // A wrong password: one line naming the refusal, exit 1, nothing written.
    for args in [&["setup"][..], &["ingest", SAMPLES], &["run", "--drain"]] {
        let out = trailship(args, &bad).await;
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(last.contains("401") && last.contains(&proxy.url), "{args:?}: {last}");
        assert!(last.to_lowercase().contains("opensearch.username"), "the fix names the setting: {last}");
    }
    let doctor = trailship(&["doctor"], &bad).await;
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let check = doctor.stdout.lines().find(|l| l.contains(&format!("opensearch {}", proxy.url))).unwrap_or_default();
    assert!(check.starts_with('✗') && check.contains("401"), "{}", doctor.stdout);
    assert_eq!(osmem.count("cloudtrail-*").await, 0);
    assert!(proxy.stats().await["refused"].as_u64().unwrap() > 0);
    let refused_before = proxy.stats().await["refused"].clone();

    // The right one: every command goes through.
    let setup = trailship(&["setup"], &good).await;
    assert_eq!(setup.code, 0, "{}", setup.stderr);
    let doctor = trailship(&["doctor"], &good).await;
    let check = doctor.stdout.lines().find(|l| l.contains(&format!("opensearch {}", proxy.url))).unwrap_or_default();
    assert!(check.starts_with('✓'), "{}", doctor.stdout);
    let ingest = trailship(&["ingest", SAMPLES], &good).await;
    assert_eq!(ingest.code, 0, "{}", ingest.stderr);
    assert_eq!(osmem.count("cloudtrail-*").await, 413);
    let run = trailship(&["run", "--drain"], &good).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: usize = files[..3].iter().map(|f| f.events.len()).sum();
    assert!(run.summary().contains(&format!("{events} already present")), "{}", run.summary());
    assert_eq!(proxy.stats().await["refused"], refused_before, "no request went without the password");
}

//! `trailship detect` over the bundled samples: the built-in rules find what the samples hold
//! (the same 51 refused calls the CIS 4.1 panel counts), a rule file of our own adds its
//! matches, rules for other log sources are skipped, and a broken rule stops it with exit 2
//! naming the file.

use crate::harness::trailship;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");

/// A rule of our own: the Stratus "get EC2 password data" attack in the samples.
const PASSWORD_DATA: &str = "title: EC2 Password Data Retrieved
id: 0b6bd0fa-1b33-4b43-9c1c-5f5e7a2c0a11
status: test
description: GetPasswordData called, successfully or not.
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: ec2.amazonaws.com
        eventName: GetPasswordData
    condition: selection
falsepositives:
    - Administrators retrieving a Windows password
level: medium
";

const WINDOWS: &str = "title: Not for CloudTrail
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\whoami.exe'
    condition: selection
level: low
";

#[tokio::test(flavor = "multi_thread")]
async fn detect_runs_the_rules_over_local_files_and_counts_per_rule() {
    let run = trailship(&["detect", SAMPLES], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let counts: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with(' ')).collect();
    assert!(
        counts.iter().any(|l| l.trim_start().starts_with("51  low") && l.contains("CIS 4.1 Unauthorized API Calls")),
        "{counts:?}"
    );
    let deleted: Vec<&str> =
        run.stdout.lines().filter(|l| l.contains("CloudTrail Trail Stopped or Deleted  DeleteTrail")).collect();
    assert_eq!(deleted.len(), 1, "{}", run.stdout);
    assert!(deleted[0].starts_with("2024-07-31T12:46:41Z  high"), "{}", deleted[0]);
    assert!(deleted[0].ends_with("ee73c230-44bc-4492-8542-cfb189eae287"), "{}", deleted[0]);
    assert!(run.summary().starts_with("trailship detect: 36 files, 413 events"), "{}", run.summary());
    // 23 single-event rules, 4 correlations and the rule one of them counts.
    assert!(run.summary().contains("(28 rules loaded, 28 built in; 0 skipped"), "{}", run.summary());

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(dir.path().join("nested/password-data.yml"), PASSWORD_DATA).unwrap();
    std::fs::write(dir.path().join("windows.yaml"), WINDOWS).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule, not read").unwrap();
    let rules = dir.path().to_str().unwrap();
    let env = vec![("TRAILSHIP__DETECT__BUILTIN".to_owned(), "false".to_owned())];
    let own = trailship(&["detect", "--rules", rules, SAMPLES], &env).await;
    assert_eq!(own.code, 0, "{}", own.stderr);
    assert!(
        own.summary().contains("(1 rules loaded, 0 built in; 1 skipped for other log sources)"),
        "{}",
        own.summary()
    );
    let hits = own.stdout.lines().filter(|l| l.contains("EC2 Password Data Retrieved  GetPasswordData")).count();
    assert!(hits > 10, "{}", own.stdout);
    assert!(!own.stdout.contains("CIS 4.1"), "built-in rules off");

    std::fs::write(dir.path().join("broken.yml"), "title: Broken\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    selection:\n        eventName|re: '(unclosed'\n    condition: selection\n").unwrap();
    let broken = trailship(&["detect", "--rules", rules, SAMPLES], &[]).await;
    assert_eq!(broken.code, 2, "{}", broken.stderr);
    let last = broken.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("broken.yml is not a valid sigma rule") && last.contains("regex"), "{last}");
    // Ingest (and run, backfill: the same decoder set-up) refuses to start on it too.
    let env = vec![("TRAILSHIP__DETECT__RULES".to_owned(), rules.to_owned())];
    let ingest = trailship(&["ingest", "--output", "-", SAMPLES], &env).await;
    assert_eq!(ingest.code, 2, "{}", ingest.stderr);
    assert!(ingest.stdout.is_empty(), "nothing ingested before the rules load");
    assert!(ingest.stderr.lines().last().unwrap_or_default().contains("broken.yml is not a valid sigma rule"));
}

/// Ingest runs the same rules: each document carries the rules its record matched.
#[tokio::test(flavor = "multi_thread")]
async fn ingested_documents_carry_the_rules_they_matched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bulk.ndjson");
    let run = trailship(&["ingest", "--output", out.to_str().unwrap(), SAMPLES], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let index = |pair: &[serde_json::Value]| pair[0]["create"]["_index"].as_str().unwrap().to_owned();
    let docs: Vec<&serde_json::Value> =
        lines.chunks(2).filter(|p| index(p).starts_with("cloudtrail-")).map(|p| &p[1]).collect();
    let alerts: Vec<&serde_json::Value> =
        lines.chunks(2).filter(|p| index(p).starts_with("trailship-alerts-")).map(|p| &p[1]).collect();
    // The low-level matches (grouped by default) make no alert document of their own.
    assert_eq!((docs.len(), alerts.len()), (413, 13));
    let by_id = |id: &str| docs.iter().find(|d| d["eventID"] == id).unwrap_or_else(|| panic!("no {id}"));
    let deleted = by_id("ee73c230-44bc-4492-8542-cfb189eae287");
    assert_eq!(deleted["rule"]["level"], "high");
    assert_eq!(
        deleted["rule"]["name"],
        serde_json::json!(["CloudTrail Trail Stopped or Deleted", "CIS 4.5 CloudTrail Configuration Changes"])
    );
    assert_eq!(deleted["rule"]["id"].as_array().unwrap().len(), 2);
    let matched = docs.iter().filter(|d| d.get("rule").is_some()).count();
    let pairs: usize = docs.iter().filter_map(|d| d["rule"]["id"].as_array()).map(Vec::len).sum();
    assert_eq!(pairs, 66, "the 66 matches trailship detect reports");
    let deleted_alerts: Vec<&str> = alerts
        .iter()
        .filter(|a| a["eventID"] == "ee73c230-44bc-4492-8542-cfb189eae287")
        .map(|a| a["rule"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(deleted_alerts, ["CloudTrail Trail Stopped or Deleted", "CIS 4.5 CloudTrail Configuration Changes"]);
    assert!(matched < pairs && matched > 50, "{matched}");

    let env = vec![("TRAILSHIP__DETECT__BUILTIN".to_owned(), "false".to_owned())];
    let off = trailship(&["ingest", "--output", out.to_str().unwrap(), SAMPLES], &env).await;
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert!(!std::fs::read_to_string(&out).unwrap().contains("\"rule\":{"), "no rules, no rule field");
}

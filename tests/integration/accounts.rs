//! Account names end to end: names read from AWS Organizations (moto's) and `accounts.names`
//! (which win) land as `cloud.account.name` on CloudTrail and access-log documents, alerts and
//! trend documents; an account no one named has no name; Organizations not in use is a warning
//! and the configured names still apply; an account id that is none stops start-up with exit 2.

use crate::fixtures::{access_line, event, iam_user};
use crate::harness::{Moto, Osmem, trailship};
use serde_json::{Value, json};

const CONFIGURED: &str = "444455556666";
const UNNAMED: &str = "777788889999";

/// One CloudTrail file with a `DeleteTrail` (a high alert) in each of `accounts`, and one access
/// log whose requester is a role of the first.
fn write_logs(dir: &std::path::Path, accounts: &[&str]) {
    let events: Vec<Value> = accounts
        .iter()
        .enumerate()
        .map(|(n, account)| {
            event(
                &format!("ev-{n}"),
                "2024-08-01T10:00:00Z",
                "DeleteTrail",
                "cloudtrail.amazonaws.com",
                "203.0.113.9",
                iam_user("alice", "AKIAIOSFODNN7EXAMPLE"),
                json!({"recipientAccountId": account, "awsRegion": "eu-west-1"}),
            )
        })
        .collect();
    std::fs::write(dir.join("trail.json"), json!({ "Records": events }).to_string()).unwrap();
    let requester = format!("arn:aws:sts::{}:assumed-role/backup/i-0abc", accounts[0]);
    let line = access_line(
        "01/Aug/2024:10:00:00",
        "203.0.113.9",
        &requester,
        "REST.GET.OBJECT",
        "a.csv",
        200,
        "-",
        "10",
        "GET /amzn-s3-demo-bucket1/a.csv HTTP/1.1",
        "aws-cli/2.15.0",
    );
    std::fs::write(dir.join("2024-08-01-10-00-00-0123456789ABCDEF"), line + "\n").unwrap();
}

fn env(moto: &Moto, osmem: &Osmem, names: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "AKIATRAILSHIPTEST"),
        ("AWS_SECRET_ACCESS_KEY", "moto-secret-Jq7rW2xv"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("TRAILSHIP__AWS__REGION", "us-east-1"),
        ("TRAILSHIP__AWS__ENDPOINT_URL", moto.url.as_str()),
        ("TRAILSHIP__OPENSEARCH__URL", osmem.url.as_str()),
        ("TRAILSHIP__ACCOUNTS__ORGANIZATIONS", "true"),
        ("TRAILSHIP__ACCOUNTS__NAMES", names),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `cloud.account.name` per `cloud.account.id` over the documents of `index`.
async fn names(osmem: &Osmem, index: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = osmem
        .all(index)
        .await
        .iter()
        .filter_map(|h| {
            let a = &h["_source"]["cloud"]["account"];
            Some((a["id"].as_str()?.to_owned(), a["name"].as_str().map(str::to_owned)))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn names_from_organizations_and_the_configuration_reach_every_document() {
    let (moto, osmem) = (Moto::start().await, Osmem::start().await);
    let org = moto.organizations();
    org.create_organization().send().await.unwrap();
    let mut ids = Vec::new();
    for name in ["prod-payments", "sandbox"] {
        let created =
            org.create_account().email(format!("{name}@example.com")).account_name(name).send().await.unwrap();
        ids.push(created.create_account_status().unwrap().account_id().unwrap().to_owned());
    }
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path(), &[&ids[0], &ids[1], CONFIGURED, UNNAMED]);
    // The configured names win over Organizations' ("sandbox" becomes "lab").
    let env = env(&moto, &osmem, &format!("{}=lab,{CONFIGURED}=configured-dev", ids[1]));
    let run = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("account names read from AWS Organizations"), "{}", run.stderr);
    let mut want = vec![
        (ids[0].clone(), Some("prod-payments".to_owned())),
        (ids[1].clone(), Some("lab".to_owned())),
        (CONFIGURED.to_owned(), Some("configured-dev".to_owned())),
        (UNNAMED.to_owned(), None),
    ];
    want.sort();
    assert_eq!(names(&osmem, "cloudtrail-*").await, want, "events");
    assert_eq!(names(&osmem, "trailship-alerts-*").await, want, "alerts");
    assert_eq!(names(&osmem, "s3access-*").await, [(ids[0].clone(), Some("prod-payments".to_owned()))], "access logs");
    let trends = trailship(&["trends", "--from", "2024-08-01", "--to", "2024-08-01"], &env).await;
    assert_eq!(trends.code, 0, "{}", trends.stderr);
    assert_eq!(names(&osmem, "trailship-trends-cloudtrail-*").await, want, "trend documents");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_organizations_cannot_be_read_the_configured_names_apply_and_a_bad_id_stops_start_up() {
    let (moto, osmem) = (Moto::start().await, Osmem::start().await);
    let dir = tempfile::tempdir().unwrap();
    write_logs(dir.path(), &[CONFIGURED, UNNAMED]);
    let mut unreachable = env(&moto, &osmem, &format!("{CONFIGURED}=dev"));
    // Nothing listens there: every Organizations call fails.
    let closed = format!("http://127.0.0.1:{}", crate::harness::free_port());
    unreachable.iter_mut().filter(|(k, _)| k == "TRAILSHIP__AWS__ENDPOINT_URL").for_each(|(_, v)| *v = closed.clone());
    let run = trailship(&["ingest", dir.path().to_str().unwrap()], &unreachable).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = run.stderr.lines().find(|l| l.contains("cannot read account names")).unwrap_or_default();
    assert!(warning.contains("WARN") && warning.contains("organizations:ListAccounts failed"), "{}", run.stderr);
    let want = vec![(CONFIGURED.to_owned(), Some("dev".to_owned())), (UNNAMED.to_owned(), None)];
    assert_eq!(names(&osmem, "cloudtrail-*").await, want);

    let bad = trailship(&["ingest", dir.path().to_str().unwrap()], &env(&moto, &osmem, "4444=dev")).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let last = bad.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("accounts.names") && last.contains("\"4444\" is not an aws account id (12 digits)"),
        "{last}"
    );
}

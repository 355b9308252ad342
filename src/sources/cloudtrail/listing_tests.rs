//! The backfill listing against an in-memory bucket: discovery with delimiter listings, day
//! prefixes listed directly for a date range, filters, skipped work, pagination.

use super::*;
use crate::listing::NothingDone;
use crate::testing::MemoryBucket;
use chrono::NaiveDate;

const A: &str = "111111111111";
const B: &str = "222222222222";

/// Two accounts (B under an organization), two regions, 2024-02-27 .. 2024-03-02, two files a
/// day; digests, an insight file, Config logs and a stray file beside them.
fn bucket(page_size: usize) -> MemoryBucket {
    let mut keys = Vec::new();
    for (root, account) in [(format!("logs/AWSLogs/{A}"), A), (format!("logs/AWSLogs/o-abc123def4/{B}"), B)] {
        for region in ["us-east-1", "eu-west-1"] {
            for day in ["2024/02/27", "2024/02/28", "2024/02/29", "2024/03/01", "2024/03/02"] {
                for n in 0..2 {
                    let stamp = day.replace('/', "");
                    keys.push(format!(
                        "{root}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}T00{n}0Z_x.json.gz"
                    ));
                }
                keys.push(format!(
                    "{root}/CloudTrail-Digest/{region}/{day}/{account}_CloudTrail-Digest_{region}_x.json.gz"
                ));
                keys.push(format!("{root}/Config/{region}/{day}/ConfigSnapshot/x.json.gz"));
            }
        }
        keys.push(format!(
            "{root}/CloudTrail-Insight/us-east-1/2024/03/01/{account}_CloudTrail-Insight_us-east-1_x.json.gz"
        ));
        keys.push(format!("{root}/CloudTrail/us-east-1/2024/03/01/"));
    }
    keys.push("logs/AWSLogs/README.txt".to_owned());
    keys.push("logs/AWSLogs/not-an-account/CloudTrail/us-east-1/2024/03/01/x.json.gz".to_owned());
    MemoryBucket::new(keys.iter().map(String::as_str), page_size)
}

async fn collect(bucket: &MemoryBucket, scope: &Scope, done: &dyn Done) -> Vec<Step> {
    let (tx, mut rx) = mpsc::channel(1000);
    walk(bucket, scope, done, &tx).await.unwrap();
    drop(tx);
    let mut items = Vec::new();
    while let Some(i) = rx.recv().await {
        items.push(i);
    }
    items
}

fn keys(items: &[Step]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| if let Step::Object { object, .. } = i { Some(object.key.as_str()) } else { None })
        .collect()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn everything_is_discovered_and_only_log_files_are_sent() {
    let b = bucket(3);
    let items = collect(&b, &Scope { prefix: "logs/".into(), ..Default::default() }, &NothingDone).await;
    let found = keys(&items);
    // 2 accounts × 2 regions × 5 days × 2 files, plus one insight file per account.
    assert_eq!(found.len(), 42);
    assert!(found.iter().all(|k| matches!(crate::sources::cloudtrail::claim_key(k), Claim::Index(_))), "{found:?}");
    assert!(found.iter().any(|k| k.contains("/o-abc123def4/222222222222/CloudTrail/")));
    assert!(found.iter().any(|k| k.contains("CloudTrail-Insight")));
    let days = items.iter().filter(|i| matches!(i, Step::DayListed { .. })).count();
    assert_eq!(days, 2 * 2 * 5 + 2, "each day prefix once, and each day's objects before its end");
    for (prefix, delimiter) in b.listings.lock().unwrap().iter() {
        let depth = prefix.split('/').count();
        // logs/AWSLogs/[o-…/]account/CloudTrail/region/yyyy/mm/dd/ → a day prefix, the only
        // kind listed without a delimiter.
        assert!(*delimiter || (depth >= 9 && prefix.split('/').nth(depth - 4).unwrap().len() == 4), "{prefix}");
    }
}

#[tokio::test]
async fn a_date_range_lists_its_day_prefixes_directly() {
    let b = bucket(1000);
    let scope = Scope {
        prefix: "logs/".into(),
        from: Some(date("2024-02-28")),
        to: Some(date("2024-03-01")),
        regions: vec!["eu-west-1".into()],
        ..Default::default()
    };
    let items = collect(&b, &scope, &NothingDone).await;
    let found = keys(&items);
    assert_eq!(found.len(), 2 * 3 * 2, "two accounts, three days (Feb 29 included), two files");
    assert!(found.iter().all(|k| k.contains("/eu-west-1/2024/02/28/")
        || k.contains("/eu-west-1/2024/02/29/")
        || k.contains("/eu-west-1/2024/03/01/")));
    let listings = b.listings.lock().unwrap();
    let without: Vec<&String> = listings.iter().filter(|(_, d)| !d).map(|(p, _)| p).collect();
    assert_eq!(without.len(), 6, "one listing per account and day: {without:?}");
    assert!(listings.iter().all(|(p, _)| !p.contains("us-east-1")), "the other region is never listed");
    assert!(listings.iter().all(|(p, d)| !(*d && p.ends_with("/eu-west-1/"))), "no year discovery: {listings:?}");
}

#[tokio::test]
async fn one_bound_and_account_filters_discover_days_by_delimiter() {
    let b = bucket(2);
    let scope = Scope {
        prefix: "logs/".into(),
        from: Some(date("2024-03-01")),
        accounts: vec![B.into()],
        regions: vec!["us-east-1".into()],
        ..Default::default()
    };
    let found: Vec<String> = keys(&collect(&b, &scope, &NothingDone).await).into_iter().map(str::to_owned).collect();
    assert_eq!(found.len(), 2 * 2 + 1, "two days of two files and the insight file, account B only");
    assert!(found.iter().all(|k| k.contains(B)));
    assert_eq!(
        account_and_region(&format!("logs/AWSLogs/o-abc123def4/{B}/CloudTrail/us-east-1/2024/03/01/")),
        (B, "us-east-1")
    );
}

#[tokio::test]
async fn finished_days_are_not_listed_and_finished_objects_not_sent() {
    struct Some_;
    impl Done for Some_ {
        fn day(&self, day: &str) -> bool {
            day.ends_with("2024/02/27/")
        }
        fn object(&self, key: &str) -> bool {
            key.ends_with("T0000Z_x.json.gz")
        }
    }
    let b = bucket(1000);
    let scope = Scope {
        prefix: "logs/".into(),
        accounts: vec![A.into()],
        regions: vec!["us-east-1".into()],
        ..Default::default()
    };
    let items = collect(&b, &scope, &Some_).await;
    assert_eq!(keys(&items).len(), 4 + 1, "the second file of four days, and the insight file");
    assert!(b.listings.lock().unwrap().iter().all(|(p, _)| !p.ends_with("2024/02/27/")));
    assert!(
        items.contains(&Step::DayListed {
            day: format!("logs/AWSLogs/{A}/CloudTrail/us-east-1/2024/02/28/"),
            objects: 1
        })
    );
}

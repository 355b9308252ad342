//! The listing layout of S3 server access logs for `backfill --source s3access`: both layouts S3 writes
//! under the logging prefix, found from one delimiter listing of that prefix.
//!
//! - Simple format, `<prefix>YYYY-MM-DD-HH-MM-SS-<unique>`: the files at the prefix's top
//!   level; they are one unit of work (the prefix itself), filtered by the date in their names
//!   when `--from` / `--to` are given.
//! - Date-partitioned format, `<prefix><account>/<region>/<bucket>/YYYY/MM/DD/<name>`: the
//!   12-digit directories of the top level, then regions and buckets by delimiter listings
//!   (`--account`, `--region` narrow them), then day prefixes as for CloudTrail.
//!
//! Objects stream out one unit at a time; nothing is listed without a delimiter except a day
//! prefix.

use super::source::S3Access;
use crate::listing::{Done, ListError, Lister, Scope, Step, children, days, is_account, leaf, send_day, send_unit};
use crate::sources::unit::Claim;
use chrono::NaiveDate;
use tokio::sync::mpsc;

/// Walks the access-log prefix of `scope` and sends every log object not already `done`.
/// Stops early (without error) when the receiver is gone.
pub async fn walk(
    source: &S3Access,
    lister: &dyn Lister,
    scope: &Scope,
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<(), ListError> {
    let in_range =
        |key: &str| name_date(key).is_none_or(|d| scope.from.is_none_or(|f| d >= f) && scope.to.is_none_or(|t| d <= t));
    let is_log = |key: &str| matches!(source.claim_key(key), Claim::Index(_));
    let keep = |key: &str| is_log(key) && in_range(key);
    let top = if done.day(&scope.prefix) {
        children(lister, &scope.prefix).await?
    } else {
        match send_unit(lister, &scope.prefix, true, &keep, done, tx).await? {
            Some(prefixes) => prefixes,
            None => return Ok(()),
        }
    };
    let mut accounts: Vec<String> = top.into_iter().filter(|p| is_account(account_of(scope, p))).collect();
    accounts.retain(|a| scope.accounts.is_empty() || scope.accounts.iter().any(|x| x == account_of(scope, a)));
    for account in accounts {
        for region in children(lister, &account).await? {
            if !(scope.regions.is_empty() || scope.regions.iter().any(|x| x == leaf(&region))) {
                continue;
            }
            for bucket in children(lister, &region).await? {
                for day in days(lister, &bucket, scope).await? {
                    if done.day(&day) {
                        continue;
                    }
                    if !send_day(lister, &day, &is_log, done, tx).await? {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The account segment of a partitioned path: what follows the prefix (which need not end
/// with `/`: S3 writes `<prefix><account>/…`).
fn account_of<'a>(scope: &Scope, path: &'a str) -> &'a str {
    path.get(scope.prefix.len()..).unwrap_or_default().split('/').next().unwrap_or_default()
}

/// The date a simple-format file name carries (`…2024-08-01-13-05-59-<unique>`).
fn name_date(key: &str) -> Option<NaiveDate> {
    let name = key.strip_suffix(".gz").unwrap_or(key);
    let stamp = name.len().checked_sub(36).and_then(|at| name.get(at..at + 10))?;
    NaiveDate::parse_from_str(stamp, "%Y-%m-%d").ok()
}

/// The account and region of an access-log unit: a partitioned day prefix
/// (`…/<account>/<region>/<bucket>/y/m/d/`) names them; the simple format's prefix does not.
pub fn account_and_region<'a>(scope: &Scope, day: &'a str) -> (&'a str, &'a str) {
    if day == scope.prefix {
        return ("", "");
    }
    let mut parts = day.get(scope.prefix.len()..).unwrap_or_default().split('/');
    (parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::NothingDone;
    use crate::testing::MemoryBucket;

    const ACCOUNT: &str = "111122223333";

    /// Old simple-format files at the top of `s3logs/`, newer partitioned ones beside them
    /// (the logging format was changed), a stray file and a folder marker.
    fn bucket() -> MemoryBucket {
        let mut keys = vec!["s3logs/".to_owned(), "s3logs/README.txt".to_owned()];
        for day in ["2024-07-30", "2024-07-31", "2024-08-01"] {
            keys.push(format!("s3logs/{day}-10-00-00-0123456789ABCDEF"));
            keys.push(format!("s3logs/{day}-11-00-00-ABCDEF0123456789"));
        }
        for (region, bucket) in [("us-east-1", "web"), ("eu-west-1", "data")] {
            for day in ["2024/08/01", "2024/08/02"] {
                let dashed = day.replace('/', "-");
                keys.push(format!("s3logs/{ACCOUNT}/{region}/{bucket}/{day}/{dashed}-12-00-00-0123456789ABCDEF"));
            }
        }
        keys.push("s3logs/not-an-account/us-east-1/x/2024/08/01/2024-08-01-12-00-00-0123456789ABCDEF".to_owned());
        MemoryBucket::new(keys.iter().map(String::as_str), 2)
    }

    fn scope(from: Option<&str>, to: Option<&str>) -> Scope {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        Scope { prefix: "s3logs/".into(), from: from.map(date), to: to.map(date), ..Scope::default() }
    }

    async fn keys(scope: &Scope) -> (Vec<String>, Vec<String>) {
        let (tx, mut rx) = mpsc::channel(100);
        walk(&S3Access::default(), &bucket(), scope, &NothingDone, &tx).await.unwrap();
        drop(tx);
        let (mut objects, mut units) = (Vec::new(), Vec::new());
        while let Some(item) = rx.recv().await {
            match item {
                Step::Object { object, .. } => objects.push(object.key),
                Step::DayListed { day, .. } => units.push(day),
            }
        }
        (objects, units)
    }

    #[tokio::test]
    async fn both_layouts_are_found_and_nothing_else() {
        let (objects, units) = keys(&scope(None, None)).await;
        assert_eq!(objects.len(), 6 + 4, "{objects:?}");
        assert!(objects.iter().all(|k| !k.contains("README") && !k.contains("not-an-account")));
        assert_eq!(units[0], "s3logs/");
        assert!(units.contains(&format!("s3logs/{ACCOUNT}/eu-west-1/data/2024/08/02/")), "{units:?}");
    }

    #[tokio::test]
    async fn a_date_range_filters_simple_names_and_lists_only_its_days() {
        let (objects, units) = keys(&scope(Some("2024-07-31"), Some("2024-08-01"))).await;
        let simple: Vec<&String> = objects.iter().filter(|k| !k.contains(ACCOUNT)).collect();
        assert_eq!(simple.len(), 4, "{simple:?}");
        assert!(simple.iter().all(|k| !k.contains("2024-07-30")));
        let partitioned: Vec<&String> = objects.iter().filter(|k| k.contains(ACCOUNT)).collect();
        assert_eq!(partitioned.len(), 2, "only 2024/08/01 of both buckets: {partitioned:?}");
        assert!(units.iter().all(|u| !u.contains("2024/08/02")), "{units:?}");
    }

    #[tokio::test]
    async fn a_prefix_without_a_slash_is_taken_as_written() {
        let keys = [
            "logs-2024-08-01-10-00-00-0123456789ABCDEF".to_owned(),
            format!("logs-{ACCOUNT}/us-east-1/web/2024/08/01/2024-08-01-12-00-00-0123456789ABCDEF"),
            "logsx/2024-08-01-10-00-00-0123456789ABCDEF".to_owned(),
        ];
        let b = MemoryBucket::new(keys.iter().map(String::as_str), 10);
        let s = Scope { prefix: "logs-".into(), accounts: vec![ACCOUNT.into()], ..Scope::default() };
        let (tx, mut rx) = mpsc::channel(100);
        walk(&S3Access::default(), &b, &s, &NothingDone, &tx).await.unwrap();
        drop(tx);
        let mut found = Vec::new();
        while let Some(item) = rx.recv().await {
            if let Step::Object { object, day } = item {
                let (account, region) = account_and_region(&s, &day);
                found.push(((account.to_owned(), region.to_owned()), object.key));
            }
        }
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1].0, (ACCOUNT.to_owned(), "us-east-1".to_owned()));
    }

    #[tokio::test]
    async fn regions_narrow_and_units_name_account_and_region() {
        let s = Scope { regions: vec!["eu-west-1".into()], ..scope(None, None) };
        let (objects, _) = keys(&s).await;
        assert_eq!(objects.iter().filter(|k| k.contains(ACCOUNT)).count(), 2);
        let day = format!("s3logs/{ACCOUNT}/eu-west-1/data/2024/08/02/");
        assert_eq!(account_and_region(&s, &day), (ACCOUNT, "eu-west-1"));
        assert_eq!(account_and_region(&s, "s3logs/"), ("", ""));
        assert_eq!(name_date("s3logs/2024-07-30-10-00-00-0123456789ABCDEF.gz"), NaiveDate::from_ymd_opt(2024, 7, 30));
    }
}

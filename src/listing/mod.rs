//! Backfill listing: finds the CloudTrail log objects of a bucket under the trail layout
//! `[PREFIX/]AWSLogs/[<org-id>/]<account>/CloudTrail[-Insight]/<region>/<yyyy>/<mm>/<dd>/`,
//! behind the small [`Lister`] trait (S3 in [`s3`], an in-memory twin in the unit tests).
//!
//! Accounts, organization ids, kinds and regions are discovered with delimiter listings (one
//! level at a time); days too, unless both `--from` and `--to` are given, in which case the
//! day prefixes in range are listed directly. Only a day prefix is ever listed without a
//! delimiter: never the whole bucket, never a region's whole history. Objects stream out one day
//! at a time through a bounded channel, so memory does not grow with the size of the history.

pub mod access;
pub mod enqueue;
pub mod s3;
pub mod state;

use crate::route;
use chrono::{Datelike, NaiveDate};
use std::future::Future;
use tokio::sync::mpsc;

/// One page of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Common prefixes (delimiter listings), in full.
    pub prefixes: Vec<String>,
    /// Objects.
    pub objects: Vec<Listed>,
    /// Continuation token of the next page.
    pub next: Option<String>,
}

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A listing failed.
#[derive(Debug, thiserror::Error)]
#[error("list s3://{bucket}/{prefix} failed: {message}")]
pub struct ListError {
    /// Bucket.
    pub bucket: String,
    /// The prefix listed.
    pub prefix: String,
    /// The cause, in one line.
    pub message: String,
}

/// What the backfill needs from an object store's listing.
pub trait Lister: Send + Sync + 'static {
    /// One page of the keys under `prefix`, grouped at the next `/` when `delimiter`.
    fn list(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<String>,
    ) -> impl Future<Output = Result<ListPage, ListError>> + Send;
}

/// What to backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The trail's key prefix (`""`, or ending with `/`).
    pub prefix: String,
    /// First day (UTC), inclusive.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive.
    pub to: Option<NaiveDate>,
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// Only these regions (all when empty).
    pub regions: Vec<String>,
    /// S3 server access logs under `prefix` instead of a trail ([`access`]).
    pub access_logs: bool,
    /// Which keys are logs to index (`s3access.prefixes` besides the names).
    pub router: route::Router,
}

impl Scope {
    /// The account and region a unit of work (a day prefix) belongs to, where its path says.
    pub fn account_and_region<'a>(&self, day: &'a str) -> (&'a str, &'a str) {
        if self.access_logs { access::account_and_region(self, day) } else { account_and_region(day) }
    }
}

/// What the walk sends, in order: a day's objects, then that the day is completely listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A CloudTrail (or Insights) log file of `day`.
    Object {
        /// The day prefix it was listed under.
        day: String,
        /// The object.
        object: Listed,
    },
    /// Every object of `day` has been sent (`objects` of them, finished ones excluded).
    DayListed {
        /// The day prefix.
        day: String,
        /// Objects sent for it.
        objects: usize,
    },
}

/// Whether work is already done: a finished day (not listed again), or a finished object of an
/// unfinished day (not sent again).
pub trait Done: Send + Sync {
    /// `day` is finished.
    fn day(&self, day: &str) -> bool;
    /// `key` is finished.
    fn object(&self, key: &str) -> bool;
}

/// Nothing is done yet.
pub struct NothingDone;

impl Done for NothingDone {
    fn day(&self, _: &str) -> bool {
        false
    }
    fn object(&self, _: &str) -> bool {
        false
    }
}

/// Every page under `prefix`, grouped by the delimiter: the common prefixes.
async fn children<L: Lister>(lister: &L, prefix: &str) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = lister.list(prefix, true, token).await?;
        out.extend(page.prefixes);
        token = page.next;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The last segment of a prefix ending with `/`.
fn leaf(prefix: &str) -> &str {
    prefix.trim_end_matches('/').rsplit('/').next().unwrap_or_default()
}

fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(name: &str) -> bool {
    name.starts_with("o-") && name.len() > 2 && name[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The account directories (`…/AWSLogs/[org/]account/`) in scope.
async fn accounts<L: Lister>(lister: &L, scope: &Scope) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    for child in children(lister, &format!("{}AWSLogs/", scope.prefix)).await? {
        let name = leaf(&child);
        if is_account(name) {
            out.push(child);
        } else if is_org(name) {
            out.extend(children(lister, &child).await?.into_iter().filter(|c| is_account(leaf(c))));
        }
    }
    out.retain(|a| scope.accounts.is_empty() || scope.accounts.iter().any(|x| x == leaf(a)));
    Ok(out)
}

/// The region directories of an account's log kinds (`CloudTrail/`, `CloudTrail-Insight/`).
async fn regions<L: Lister>(lister: &L, account: &str, scope: &Scope) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    for kind in children(lister, account).await? {
        if !matches!(leaf(&kind), "CloudTrail" | "CloudTrail-Insight") {
            continue;
        }
        let found = children(lister, &kind).await?;
        out.extend(
            found.into_iter().filter(|r| scope.regions.is_empty() || scope.regions.iter().any(|x| x == leaf(r))),
        );
    }
    Ok(out)
}

/// Whether a number segment (`2024`, `03`) of `width` digits lies in `low..=high`.
fn numeric_in(name: &str, width: usize, low: u32, high: u32) -> Option<u32> {
    let n: u32 = name.parse().ok().filter(|_| name.len() == width)?;
    (low..=high).contains(&n).then_some(n)
}

/// The day prefixes of a region in scope, oldest first.
async fn days<L: Lister>(lister: &L, region: &str, scope: &Scope) -> Result<Vec<String>, ListError> {
    if let (Some(from), Some(to)) = (scope.from, scope.to) {
        return Ok(from.iter_days().take_while(|d| *d <= to).map(|d| day_prefix(region, d)).collect());
    }
    let (from, to) = (scope.from.unwrap_or(NaiveDate::MIN), scope.to.unwrap_or(NaiveDate::MAX));
    let mut out = Vec::new();
    for year in children(lister, region).await? {
        let Some(y) = numeric_in(leaf(&year), 4, from.year().max(0) as u32, to.year().max(0) as u32) else { continue };
        for month in children(lister, &year).await? {
            let Some(m) = numeric_in(leaf(&month), 2, 1, 12) else { continue };
            for day in children(lister, &month).await? {
                let Some(d) = numeric_in(leaf(&day), 2, 1, 31) else { continue };
                let date = NaiveDate::from_ymd_opt(y as i32, m, d);
                if date.is_some_and(|date| date >= from && date <= to) {
                    out.push(day);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn day_prefix(region: &str, d: NaiveDate) -> String {
    format!("{region}{:04}/{:02}/{:02}/", d.year(), d.month(), d.day())
}

/// Walks the bucket for `scope` and sends every log object not already `done`, one day at a
/// time: a trail's layout, or S3 access logs ([`access::walk`]). Stops early (without error)
/// when the receiver is gone.
pub async fn walk<L: Lister>(
    lister: &L,
    scope: &Scope,
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<(), ListError> {
    if scope.access_logs {
        return access::walk(lister, scope, done, tx).await;
    }
    for account in accounts(lister, scope).await? {
        for region in regions(lister, &account, scope).await? {
            for day in days(lister, &region, scope).await? {
                if done.day(&day) {
                    continue;
                }
                if !send_day(lister, scope, &day, done, tx).await? {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Lists one day prefix and sends its log objects not already `done`, then `DayListed`.
/// `false` when the receiver is gone.
async fn send_day<L: Lister>(
    lister: &L,
    scope: &Scope,
    day: &str,
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<bool, ListError> {
    let keep = |key: &str| scope.router.classify_key(key).is_indexed();
    Ok(send_unit(lister, day, false, &keep, done, tx).await?.is_some())
}

/// Lists one unit of work (a prefix, grouped at `/` when `delimiter`) and sends the objects
/// `keep` accepts that are not already `done`, then `DayListed`. Returns the common prefixes
/// seen (delimiter listings), or `None` when the receiver is gone.
async fn send_unit<L: Lister>(
    lister: &L,
    unit: &str,
    delimiter: bool,
    keep: &(dyn Fn(&str) -> bool + Sync),
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<Option<Vec<String>>, ListError> {
    let (mut sent, mut prefixes) = (0, Vec::new());
    let mut token = None;
    loop {
        let page = lister.list(unit, delimiter, token).await?;
        prefixes.extend(page.prefixes);
        for object in page.objects {
            if !keep(&object.key) || done.object(&object.key) {
                continue;
            }
            sent += 1;
            if tx.send(Step::Object { day: unit.to_owned(), object }).await.is_err() {
                return Ok(None);
            }
        }
        token = page.next;
        if token.is_none() {
            break;
        }
    }
    let listed = tx.send(Step::DayListed { day: unit.to_owned(), objects: sent }).await.is_ok();
    Ok(listed.then_some(prefixes))
}

/// The account and region a day prefix belongs to (`…/<account>/CloudTrail/<region>/y/m/d/`).
pub fn account_and_region(day: &str) -> (&str, &str) {
    let parts: Vec<&str> = day.trim_end_matches('/').rsplit('/').collect();
    // d, m, y, region, kind, account
    (parts.get(5).copied().unwrap_or_default(), parts.get(3).copied().unwrap_or_default())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

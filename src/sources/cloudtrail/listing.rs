//! The trail's listing layout for `backfill`:
//! `[PREFIX/]AWSLogs/[<org-id>/]<account>/CloudTrail[-Insight]/<region>/<yyyy>/<mm>/<dd>/`.
//! Accounts, organization ids, kinds and regions are discovered with delimiter listings (one
//! level at a time); days too, unless both `--from` and `--to` are given, in which case the day
//! prefixes in range are listed directly ([`crate::listing::days`]).

use super::keys::claim_key;
use crate::listing::{Done, ListError, Lister, Scope, Step, children, days, is_account, leaf, send_day};
use crate::sources::unit::Claim;
use tokio::sync::mpsc;

fn is_org(name: &str) -> bool {
    name.starts_with("o-") && name.len() > 2 && name[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The account directories (`…/AWSLogs/[org/]account/`) in scope.
async fn accounts(lister: &dyn Lister, scope: &Scope) -> Result<Vec<String>, ListError> {
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
async fn regions(lister: &dyn Lister, account: &str, scope: &Scope) -> Result<Vec<String>, ListError> {
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

/// Walks the bucket for `scope` and sends every CloudTrail and Insights object not already
/// `done`, one day at a time. Stops early (without error) when the receiver is gone.
pub async fn walk(
    lister: &dyn Lister,
    scope: &Scope,
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<(), ListError> {
    let keep = |key: &str| matches!(claim_key(key), Claim::Index(_));
    for account in accounts(lister, scope).await? {
        for region in regions(lister, &account, scope).await? {
            for day in days(lister, &region, scope).await? {
                if done.day(&day) {
                    continue;
                }
                if !send_day(lister, &day, &keep, done, tx).await? {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// The account and region a day prefix belongs to (`…/<account>/CloudTrail/<region>/y/m/d/`).
pub fn account_and_region(day: &str) -> (&str, &str) {
    let parts: Vec<&str> = day.trim_end_matches('/').rsplit('/').collect();
    // d, m, y, region, kind, account
    (parts.get(5).copied().unwrap_or_default(), parts.get(3).copied().unwrap_or_default())
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;

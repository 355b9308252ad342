//! `trailship trends`: recomputes the daily trend aggregates ([`crate::trends`]) of a range of
//! days for CloudTrail events and S3 access logs, and the same pass at the end of `backfill`.

use super::args::{date, usage};
use super::common::CommandError;
use super::logging::say;
use crate::accounts::Accounts;
use crate::config::Config;
use crate::index::client::Client;
use crate::touched::Touched;
use crate::trends::compute;
use chrono::{Days, NaiveDate, Utc};
use std::collections::BTreeSet;

/// The command line of `trailship trends` (the doc comments are its `--help`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TrendsArgs {
    /// First day (UTC), inclusive; default: opensearch.retention_days before --to (the oldest
    /// raw index retention keeps).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last day (UTC), inclusive; default: today.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
}

/// Days one run may cover at most (27 years).
const MAX_DAYS: u64 = 10_000;

/// The days `args` name.
fn days(args: &TrendsArgs, retention_days: u32, today: NaiveDate) -> Result<Vec<NaiveDate>, CommandError> {
    let to = date("--to", &args.to)?.unwrap_or(today);
    let from = date("--from", &args.from)?.unwrap_or(to - Days::new(u64::from(retention_days)));
    if from > to {
        return Err(usage("--from", format!("{from} is after --to {to}")));
    }
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).take(MAX_DAYS as usize + 1).collect();
    if days.len() as u64 > MAX_DAYS {
        return Err(usage("--from", format!("{from} to {to} is over {MAX_DAYS} days")));
    }
    Ok(days)
}

/// `trailship trends`.
pub async fn trends(cfg: &Config, args: TrendsArgs) -> Result<(), CommandError> {
    let days = days(&args, cfg.opensearch.retention_days, Utc::now().date_naive())?;
    let client = Client::connect(&cfg.opensearch).await?;
    // The trend templates must be there before the first trend index is created.
    super::setup::install_templates(&client, cfg).await?;
    let (first, last) = (days[0], days[days.len() - 1]);
    let mut failed = 0;
    let (accounts, _) = super::names::accounts(cfg).await;
    for spec in super::common::sources(cfg).trend_specs(cfg.opensearch.index_period, &accounts) {
        let report = compute::pass(&client, &spec, days.iter().copied()).await;
        for e in &report.failed {
            tracing::error!(kind = spec.name(), day = %e.day, error = %e.message, "trend day not recomputed");
        }
        failed += report.failed.len();
        say(tracing::Level::INFO, &format!("trailship trends {} {first} to {last}: {report}", spec.name()));
    }
    if failed > 0 {
        return Err(anyhow::anyhow!("{failed} days failed (see the errors above); rerun to retry them").into());
    }
    Ok(())
}

/// Recomputes the days an indexing command touched (at the end of `backfill`), naming accounts
/// with `accounts`; a failure is a warning: the data is indexed, and `trailship trends` can be
/// run again.
pub async fn after_indexing(client: &Client, cfg: &Config, touched: &Touched, accounts: &Accounts) {
    let days: BTreeSet<NaiveDate> = touched.take_days();
    if days.is_empty() {
        return;
    }
    crate::pipeline::trends::run_pass(
        client,
        &super::common::sources(cfg).trend_specs(cfg.opensearch.index_period, accounts),
        touched,
        days,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(from: Option<&str>, to: Option<&str>) -> TrendsArgs {
        TrendsArgs { from: from.map(Into::into), to: to.map(Into::into) }
    }

    #[test]
    fn the_range_defaults_to_the_raw_retention_up_to_today() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let d = days(&args(None, None), 30, today).unwrap();
        assert_eq!((d.len(), d[0].to_string(), d[30]), (31, "2026-11-01".to_owned(), today));
        let d = days(&args(Some("2024-02-28"), Some("2024-03-01")), 30, today).unwrap();
        assert_eq!(d.iter().map(ToString::to_string).collect::<Vec<_>>(), ["2024-02-28", "2024-02-29", "2024-03-01"]);
        let err = |a: TrendsArgs| match days(&a, 30, today) {
            Err(CommandError::Config(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(err(args(Some("2024-03-02"), Some("2024-03-01"))), "--from: 2024-03-02 is after --to 2024-03-01");
        assert!(err(args(Some("yesterday"), None)).contains("not a date like"));
        assert!(err(args(Some("1990-01-01"), None)).contains("is over 10000 days"));
    }
}

//! `trailship anomalies`: recomputes the findings ([`crate::findings`]) of a range of days from
//! the event indices, idempotently; and the same pass at the end of `ingest`, `backfill` and
//! `run --drain`, over the hours they indexed into.

use super::args::{date, usage};
use super::common::{CommandError, decoder_and_findings};
use super::logging::say;
use super::setup::install_templates;
use crate::config::Config;
use crate::findings::{self, pass::PassReport};
use crate::index::client::Client;
use crate::pipeline::findings::{Notify, run_pass};
use crate::touched::Touched;
use crate::webhooks::Outbox;
use chrono::{Days, NaiveDate, Utc};
use std::collections::BTreeSet;

/// The command line of `trailship anomalies` (the doc comments are its `--help`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AnomaliesArgs {
    /// First day (UTC), inclusive; default: the day before --to.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last day (UTC), inclusive; default: today.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
}

/// Days one run may cover at most (ten years).
const MAX_DAYS: usize = 3660;

/// The hours (their starts, Unix seconds) of the days `args` name.
fn hours(args: &AnomaliesArgs, today: NaiveDate) -> Result<(NaiveDate, NaiveDate, BTreeSet<i64>), CommandError> {
    let to = date("--to", &args.to)?.unwrap_or(today);
    let from = date("--from", &args.from)?.unwrap_or(to - Days::new(1));
    if from > to {
        return Err(usage("--from", format!("{from} is after --to {to}")));
    }
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).take(MAX_DAYS + 1).collect();
    if days.len() > MAX_DAYS {
        return Err(usage("--from", format!("{from} to {to} is over {MAX_DAYS} days")));
    }
    let start = |d: &NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp();
    let hours = days.iter().flat_map(|d| (0..24).map(move |h| start(d) + h * 3600)).collect();
    Ok((from, to, hours))
}

/// `trailship anomalies`.
pub async fn anomalies(cfg: &Config, args: AnomaliesArgs) -> Result<(), CommandError> {
    let (from, to, hours) = hours(&args, Utc::now().date_naive())?;
    // The findings copy the events' names: no account names needed here.
    let (_, settings) = decoder_and_findings(cfg, &Default::default())?;
    let client = Client::connect(&cfg.opensearch).await?;
    // The alert template must be there before the first alert index is created.
    install_templates(&client, cfg).await?;
    let notifier = super::alerts::Notifier::start(cfg)?;
    let notify = Notify { outbox: notifier.outbox.clone(), max_age: cfg.alerts.max_notify_age };
    let report = run_pass(&client, &settings, &Touched::default(), hours, &notify).await;
    // The notifier finishes once every outbox is gone.
    drop(notify);
    notifier.finish(super::common::NOTIFY_AT_EXIT).await;
    say(tracing::Level::INFO, &format!("trailship anomalies {from} to {to}: {report}"));
    for ((start, end), e) in &report.failed {
        tracing::error!(from = %findings::rfc3339(*start), to = %findings::rfc3339(*end), error = %e, "findings not recomputed");
    }
    if !report.failed.is_empty() {
        return Err(anyhow::anyhow!(
            "{} ranges failed (see the errors above); rerun to retry them",
            report.failed.len()
        )
        .into());
    }
    Ok(())
}

/// Recomputes the findings of the hours an indexing command touched, once what it indexed is
/// searchable; a failure is a warning: the events are indexed, and `trailship anomalies` can
/// be run again.
pub async fn after_indexing(
    client: &Client,
    settings: &findings::Settings,
    touched: &Touched,
    outbox: Option<Outbox>,
    cfg: &Config,
) -> PassReport {
    let hours = touched.take_hours();
    if hours.is_empty() || settings.is_empty() {
        return PassReport::default();
    }
    client.refresh(&settings.events).await;
    let notify = Notify { outbox, max_age: cfg.alerts.max_notify_age };
    run_pass(client, settings, touched, hours, &notify).await
}

//! `trailship replay-deadletters`: dead-lettered events sent again, each dead letter deleted
//! once its event is indexed.

use super::common::{CommandError, indexer, object_decoder};
use super::logging::say;
use super::setup::install_templates;
use crate::config::{Config, ConfigError};
use crate::pipeline::replay;
use std::time::Instant;

/// `trailship replay-deadletters`.
pub async fn replay_deadletters(
    cfg: &Config,
    since: Option<String>,
    reason: Option<String>,
) -> Result<(), CommandError> {
    let since = since
        .map(|s| replay::parse_since(&s, chrono::Utc::now()))
        .transpose()
        .map_err(|message| ConfigError { key: "--since".into(), message })?;
    let filter = replay::ReplayFilter { since, reason };
    let (accounts, _) = super::names::accounts(cfg).await;
    let decoder = object_decoder(cfg, &accounts)?;
    let indexer = indexer(cfg).await?;
    install_templates(indexer.client(), cfg).await?;
    let started = Instant::now();
    let client = indexer.client().clone();
    let s = replay::replay(&client, &indexer, &decoder, &cfg.opensearch.deadletter_index, &filter).await?;
    say(
        tracing::Level::INFO,
        &format!(
            "trailship replay-deadletters: {} dead letters in {:.2} s ({} replayed and deleted, {} still failing, {} not replayable: only their start was kept)",
            s.found,
            started.elapsed().as_secs_f64(),
            s.replayed,
            s.still_failing,
            s.not_replayable
        ),
    );
    if s.still_failing > 0 {
        return Err(
            anyhow::anyhow!("{} dead letters still fail (see the dead-letter index for why)", s.still_failing).into()
        );
    }
    Ok(())
}

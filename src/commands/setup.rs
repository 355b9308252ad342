//! `trailship setup` and what `run`, `ingest` and `backfill` install before indexing: the
//! index templates (where missing or, for `setup`, different), the ISM retention policies and the
//! Dashboards saved objects; with the start-up retries they share.

use super::common::CommandError;
use crate::config::{Config, DashboardsConfig};
use crate::dashboards::{self, Dashboards, DashboardsError, ImportOutcome, ObjectStatus};
use crate::index::client::{Client, ClientError, SetupAction};
use crate::index::template;
use backon::Retryable;
use std::time::Duration;

/// `trailship setup`: installs or updates the index templates, the ISM retention policy and the
/// Dashboards saved objects, printing one line per object.
pub async fn setup(cfg: &Config, dashboards_url: Option<String>) -> Result<(), CommandError> {
    let dashboards = cfg.dashboards.clone().with_url(dashboards_url)?;
    let client = Client::connect(&cfg.opensearch).await?;
    for (name, action) in ensure_templates(&client, cfg, true).await? {
        println!("index template {name}: {}", action.as_str());
    }
    let days = cfg.opensearch.retention_days;
    let kept = |prefix: &str| format!("indices {prefix}-* deleted {days} days after creation");
    let event_prefixes = super::common::sources(cfg).index_prefixes();
    let mut policies: Vec<(template::Policy, String)> = event_prefixes
        .iter()
        .chain([&cfg.alerts.index_prefix])
        .map(|prefix| (template::ism_policy(prefix, days), kept(prefix)))
        .collect();
    for prefix in &event_prefixes {
        let (trends, years) = (crate::config::trends::trend_prefix(prefix), cfg.trends.retention_years);
        let what = format!("yearly indices {trends}-* kept {years} years past their last day");
        policies.push((template::trends_policy(&trends, years), what));
    }
    for (policy, what) in policies {
        let action = with_retries(|| client.ensure_policy(&policy))
            .await
            .map_err(|e| anyhow::anyhow!("cannot install ism policy {}: {e}", policy.id))?;
        match action {
            SetupAction::Unsupported if client.is_serverless() => println!(
                "ism policy {}: skipped (OpenSearch Serverless has no ISM: retention is the collection's data \
                 lifecycle policy, see docs/aws.md)",
                policy.id
            ),
            SetupAction::Unsupported => {
                tracing::warn!(
                    policy = %policy.id,
                    "the cluster has no index state management (ism) plugin: retention policy not installed, \
                     old indices must be deleted another way"
                );
                println!("ism policy {}: skipped (no ISM plugin on this cluster)", policy.id);
            }
            action => println!("ism policy {}: {} ({what})", policy.id, action.as_str()),
        }
    }
    shard_budget(&client, cfg).await;
    former_trend_indices(&client, cfg).await;
    import_dashboards(cfg, &dashboards).await
}

/// Says how to move trend indices left under their former names (`{prefix}-trends-YYYY`, inside
/// the event pattern `{prefix}-*`) to `trailship-trends-{prefix}-YYYY`. Listing them failing is
/// a warning, not a failed setup.
async fn former_trend_indices(client: &Client, cfg: &Config) {
    use crate::config::trends::{former_trend_prefix, trend_prefix};
    for prefix in &super::common::sources(cfg).index_prefixes() {
        let former = former_trend_prefix(prefix);
        let names = match client.index_names(&format!("{former}-*")).await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list indices {former}-*: trend indices under their former name not checked");
                continue;
            }
        };
        if names.is_empty() {
            continue;
        }
        let now = trend_prefix(prefix);
        println!(
            "former trend indices: {} under {prefix}-* (trend indices are now {now}-YYYY); move each, then delete it:",
            names.join(", ")
        );
        for name in &names {
            let year = &name[former.len() + 1..];
            println!(
                "  POST /_reindex {{\"source\":{{\"index\":\"{name}\"}},\"dest\":{{\"index\":\"{now}-{year}\"}}}} \
                 then DELETE /{name}"
            );
        }
        let object = format!("trailship-{former}");
        println!("  then DELETE /_index_template/{object} and DELETE /_plugins/_ism/policies/{object}");
    }
}

/// Prints the shard budget ([`crate::index::shards`]); warns past 80% of the cluster's limit.
/// The cluster not answering is a warning, not a failed setup.
async fn shard_budget(client: &Client, cfg: &Config) {
    let budget = crate::index::shards::budget(cfg, &super::common::sources(cfg).index_prefixes());
    let limit = match with_retries(|| client.shard_limit()).await {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the cluster's shard limit");
            // The steady state alone: there is no limit to hold it against.
            println!("{}", budget.report(None).0[0]);
            return;
        }
    };
    let (lines, warn) = budget.report(limit);
    for line in &lines {
        println!("{line}");
    }
    if warn {
        tracing::warn!(
            shards = budget.shards(),
            limit = limit.map_or(0, |l| l.total()),
            "the configured retention would hold over 80% of the cluster's shard limit"
        );
    }
}

/// Imports the shipped saved objects into Dashboards (overwriting), one line per object.
async fn import_dashboards(cfg: &Config, dashboards: &DashboardsConfig) -> Result<(), CommandError> {
    let Some(url) = &dashboards.url else {
        println!("dashboards: skipped (no dashboards.url configured; pass --dashboards-url to import them)");
        return Ok(());
    };
    let client = Dashboards::new(dashboards, url, cfg.opensearch.request_timeout)
        .map_err(|e| anyhow::anyhow!("cannot build the http client for {url}: {e}"))?;
    let objects =
        dashboards::render(&cfg.opensearch.index_prefix, &cfg.s3access.index_prefix, &cfg.alerts.index_prefix);
    let outcome = retrying(|| client.import(objects.clone()), DashboardsError::is_transient, "opensearch dashboards")
        .await
        .map_err(anyhow::Error::from)?;
    let results = match outcome {
        ImportOutcome::NoApi { status } => {
            tracing::warn!(
                url = %url,
                status,
                "no saved-objects api at this url (is it OpenSearch Dashboards?): dashboards not imported"
            );
            println!("dashboards: skipped (no saved-objects API at {url})");
            return Ok(());
        }
        ImportOutcome::Done(results) => results,
    };
    let mut failed = 0;
    for r in &results {
        println!("dashboards {} {} {:?}: {}", r.kind, r.id, r.title, r.status.describe());
        failed += usize::from(matches!(r.status, ObjectStatus::Failed(_)));
    }
    if failed > 0 {
        return Err(anyhow::anyhow!("{failed} of {} saved objects were not imported into {url}", results.len()).into());
    }
    Ok(())
}

/// Retries `op` while the cluster is unreachable or overloaded (start-up races).
async fn with_retries<T, F, Fut>(op: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    retrying(op, ClientError::is_transient, "opensearch").await
}

/// Retries `op` with backoff (6 retries from 0.4 s doubling, jittered inside 16 s: 20 to 40 s in
/// all) while `transient` says so.
async fn retrying<T, E, F, Fut>(op: F, transient: fn(&E) -> bool, service: &'static str) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    op.retry(crate::retry::backoff(Duration::from_millis(400), Duration::from_secs(16), Some(6)))
        .when(transient)
        .notify(|e, delay| tracing::warn!(error = %e, ?delay, "{service} not ready, retrying"))
        .await
}

/// Installs each shipped template where missing (replacing ones that differ with `overwrite`),
/// once the cluster is known to be an OpenSearch that can hold them.
async fn ensure_templates(
    client: &Client,
    cfg: &Config,
    overwrite: bool,
) -> Result<Vec<(String, SetupAction)>, CommandError> {
    let version = with_retries(|| client.version())
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the version of the cluster: {e}"))?;
    match version {
        Some(Ok(version)) => tracing::debug!(%version, url = client.url(), "opensearch version"),
        Some(Err(reason)) => return Err(anyhow::anyhow!("opensearch at {}: {reason}", client.url()).into()),
        None => {}
    }
    let mut done = Vec::new();
    for t in super::common::sources(cfg)
        .templates(cfg.opensearch.number_of_replicas)
        .into_iter()
        .chain(template::shared(cfg))
    {
        let action = with_retries(|| client.ensure_template(&t, overwrite))
            .await
            .map_err(|e| anyhow::anyhow!("cannot install index template {}: {e}", t.name))?;
        done.push((t.name, action));
    }
    Ok(done)
}

/// What `run` and `ingest` do before indexing: install missing templates, warn about old ones.
pub(super) async fn install_templates(client: &Client, cfg: &Config) -> Result<(), CommandError> {
    for (name, action) in ensure_templates(client, cfg, false).await? {
        match action {
            SetupAction::Installed => tracing::info!(template = %name, "index template installed"),
            SetupAction::Outdated => tracing::warn!(
                template = %name,
                "index template differs from this version of trailship; run `trailship setup` to update it"
            ),
            _ => tracing::debug!(template = %name, action = action.as_str(), "index template"),
        }
    }
    Ok(())
}

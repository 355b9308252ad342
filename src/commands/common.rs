//! What the commands share: how a command fails, the decoder, indexer, sources and memory
//! budget built from the validated configuration, the summary line's figures, the stop signal.

use crate::accounts::Accounts;
use crate::config::{Config, ConfigError};
use crate::decode::FrameLimits;
use crate::detect::filter::Filter;
use crate::detect::rules;
use crate::findings;
use crate::geo::GeoIp;
use crate::index::Indexer;
use crate::index::bulk::BatchLimits;
use crate::index::client::Client;
use crate::pipeline::Budget;
use crate::pipeline::object::{Decoding, ObjectDecoder};
use crate::sources::{Sources, Tools};
use std::path::PathBuf;
use std::time::Duration;

/// How a command failed: bad configuration (exit 2), interrupted (exit 130) or anything else
/// (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Stopped by SIGINT or SIGTERM before the work was done (the work done is saved).
    #[error("interrupted")]
    Interrupted,
    /// A configuration value is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The memory budget objects reserve from: `limits.memory_mb` less what the process keeps,
/// the GeoIP databases (read into memory) included, with room to read the largest again when
/// it is replaced. It must hold one object at least.
pub(super) fn budget(cfg: &Config) -> Result<Budget, ConfigError> {
    let sizes: Vec<u64> = cfg.geoip.files().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).collect();
    let geoip: u64 = sizes.iter().sum::<u64>() + sizes.iter().max().copied().unwrap_or(0);
    let kept = Config::BASE_MEMORY_BYTES + geoip as usize;
    let left = cfg.limits.memory_bytes.saturating_sub(kept);
    if left < cfg.object_reserve_bytes() {
        return Err(ConfigError {
            key: "limits.memory_mb".into(),
            message: format!(
                "{} MiB cannot hold the GeoIP databases ({} MiB), the process and one object ({} MiB)",
                cfg.limits.memory_bytes >> 20,
                geoip >> 20,
                (Config::BASE_MEMORY_BYTES + cfg.object_reserve_bytes()) >> 20
            ),
        });
    }
    Ok(Budget::new(left, cfg.object_reserve_bytes()))
}

/// `"; peak memory N MiB"` from the kernel's high-water mark, where the system says it.
pub(super) fn peak_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.map(|k| format!("; peak memory {} MiB", k.div_ceil(1024))).unwrap_or_default()
}

/// How long the one-shot commands wait for the last notifications at exit: the webhooks'
/// retries take this long at most with the default settings.
pub(super) const NOTIFY_AT_EXIT: Duration = Duration::from_secs(120);

/// Events per second for the summary line.
pub(super) fn rate(events: usize, secs: f64) -> String {
    if secs <= 0.0 { "n/a".into() } else { format!("{:.0}", events as f64 / secs) }
}

/// The record and decompressed-size caps of `limits.*`.
pub(super) fn frame_limits(cfg: &Config) -> FrameLimits {
    FrameLimits { max_record_bytes: cfg.limits.max_record_bytes, max_total_bytes: cfg.limits.max_decompressed_bytes }
}

/// The decoder, with the GeoIP databases opened: a configured database that cannot be read is
/// a configuration error.
pub(super) fn object_decoder(cfg: &Config, accounts: &Accounts) -> Result<ObjectDecoder, ConfigError> {
    Ok(decoder_and_findings(cfg, accounts)?.0)
}

/// The decoder and what the findings pass needs, sharing the loaded rules.
pub(super) fn decoder_and_findings(
    cfg: &Config,
    accounts: &Accounts,
) -> Result<(ObjectDecoder, findings::Settings), ConfigError> {
    let (city, asn) = (&cfg.geoip.city_db, &cfg.geoip.asn_db);
    let geo = GeoIp::open(city, asn).map_err(|e| {
        let key = if city.iter().any(|p| p == e.path()) { "geoip.city_db" } else { "geoip.asn_db" };
        ConfigError { key: key.into(), message: e.to_string() }
    })?;
    if let Some(geo) = &geo {
        tracing::info!(databases = ?geo, "geoip enabled");
    }
    let loaded = load_rules(cfg, &[])?;
    let tools = Tools {
        geo: geo.map(std::sync::Arc::new),
        detector: std::sync::Arc::new(loaded.detector),
        filter: std::sync::Arc::new(load_filter(cfg)?),
        accounts: accounts.clone(),
    };
    let sources = Sources::configured(cfg, &tools);
    let findings = findings::Settings {
        events: format!("{}-*", cfg.opensearch.index_prefix),
        alerts_prefix: cfg.alerts.index_prefix.clone(),
        period: cfg.opensearch.index_period,
        group_window: cfg.alerts.group_window,
        grouped: tools
            .detector
            .reported()
            .filter(|m| !m.silent && m.is_grouped(&cfg.alerts.group_levels))
            .cloned()
            .collect(),
        correlations: loaded.correlations,
        behaviour: cfg.anomalies.enabled.then(|| cfg.anomalies.clone()),
    };
    let decoder = ObjectDecoder {
        with: Decoding {
            limits: BatchLimits {
                max_bytes: cfg.opensearch.bulk_max_bytes,
                max_actions: cfg.opensearch.bulk_max_actions,
            },
            frame: frame_limits(cfg),
            index_period: cfg.opensearch.index_period,
            deadletter_index: cfg.opensearch.deadletter_index.clone(),
            pool: std::sync::Arc::new(crate::index::buffers::Pool::new(crate::index::buffers::KEPT_BYTES)),
        },
        sources,
        filter: tools.filter.clone(),
        geo: tools.geo.clone(),
    };
    Ok((decoder, findings))
}

/// The configured sources without GeoIP or rules: for their names, templates, trends and
/// listing layouts.
pub(super) fn sources(cfg: &Config) -> Sources {
    Sources::configured(cfg, &Tools::default())
}

pub(super) async fn indexer(cfg: &Config) -> Result<Indexer, CommandError> {
    let client = Client::connect(&cfg.opensearch).await?;
    let indexer = Indexer::new(client, cfg.opensearch.deadletter_index.clone(), cfg.opensearch.max_retries);
    // Created alerts go back to the pipeline only for the webhooks.
    Ok(indexer.handing_back_alerts(!cfg.alerts.webhook_urls.is_empty()))
}

/// Completes on SIGINT or SIGTERM.
pub(super) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("stop signal received");
}

/// Loads the filter rules of `filter.drop`; logs how many.
pub fn load_filter(cfg: &Config) -> Result<Filter, ConfigError> {
    let filter = Filter::load(&cfg.filter.drop)
        .map_err(|e| ConfigError { key: "filter.drop".into(), message: e.to_string() })?;
    if !filter.is_empty() {
        tracing::info!(rules = filter.rule_count(), "filter rules loaded: events they match are not indexed");
    }
    Ok(filter)
}

/// Loads the configured rules plus `extra`; logs how many and how many were skipped.
pub fn load_rules(cfg: &Config, extra: &[PathBuf]) -> Result<rules::Loaded, ConfigError> {
    let paths: Vec<PathBuf> = cfg.detect.rules.iter().chain(extra).cloned().collect();
    let loaded = rules::load(cfg.detect.builtin, &paths)
        .map_err(|e| ConfigError { key: "detect.rules".into(), message: e.to_string() })?;
    tracing::info!(
        rules = loaded.rules,
        builtin = loaded.builtin,
        skipped = loaded.skipped,
        correlations = loaded.correlations.len(),
        "sigma rules loaded ({} skipped: other log sources or filter rules)",
        loaded.skipped
    );
    Ok(loaded)
}

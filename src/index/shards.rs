//! The shard budget `setup` prints: the indices and shards the configured retention holds at
//! steady state, per kind of index, against what the cluster accepts
//! (`cluster.max_shards_per_node` × data nodes). Past that limit OpenSearch refuses to create
//! an index, so every new daily index would be refused. Pure; the cluster is asked in `client`.

use crate::config::{Config, IndexPeriod};

/// Share of the cluster's limit past which `setup` warns.
pub const WARN_SHARE: f64 = 0.8;

/// The indices one pattern holds at steady state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The index or pattern (`cloudtrail-*`).
    pub pattern: String,
    /// Indices alive at once.
    pub indices: u64,
}

/// What the configuration holds at steady state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBudget {
    /// Per kind of index.
    pub held: Vec<Held>,
    /// Copies of each shard: the primary and `opensearch.number_of_replicas`.
    pub copies: u64,
}

/// What the cluster accepts: `cluster.max_shards_per_node` × data nodes, and what it holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// `cluster.max_shards_per_node`.
    pub per_node: u64,
    /// Data nodes.
    pub data_nodes: u64,
    /// Shards the cluster holds now (`_cluster/health` `active_shards` + `unassigned_shards`).
    pub now: u64,
}

impl Limit {
    /// Shards the cluster accepts in all.
    pub fn total(&self) -> u64 {
        self.per_node * self.data_nodes
    }
}

/// Dated indices alive at once when each is deleted `retention_days` after its creation and a
/// new one is created each period: at most one per day of the window and today's; for months,
/// one per month starting in the window (months are 28 days at the shortest) and the current.
pub fn alive(retention_days: u32, period: IndexPeriod) -> u64 {
    let days = u64::from(retention_days);
    match period {
        IndexPeriod::Day => days + 1,
        IndexPeriod::Month => days / 28 + 1,
    }
}

/// The steady state of `cfg` with these log sources' event indices (`event_prefixes`): events
/// and alerts (each dated, one primary shard per index, kept `opensearch.retention_days`), the
/// dead-letter index and each source's yearly trend indices.
pub fn budget(cfg: &Config, event_prefixes: &[String]) -> ShardBudget {
    let os = &cfg.opensearch;
    let dated = alive(os.retention_days, os.index_period);
    let mut held: Vec<Held> = event_prefixes
        .iter()
        .chain([&cfg.alerts.index_prefix])
        .map(|prefix| Held { pattern: format!("{prefix}-*"), indices: dated })
        .collect();
    held.push(Held { pattern: os.deadletter_index.clone(), indices: 1 });
    // Yearly trend indices, each kept (retention_years + 1) × 366 days: the years of the
    // retention, the one before them still ageing out, and the current one.
    let yearly = u64::from(cfg.trends.retention_years) + 2;
    for prefix in event_prefixes {
        held.push(Held { pattern: format!("{}-*", crate::config::trends::trend_prefix(prefix)), indices: yearly });
    }
    ShardBudget { held, copies: 1 + u64::from(os.number_of_replicas) }
}

impl ShardBudget {
    /// Indices in all.
    pub fn indices(&self) -> u64 {
        self.held.iter().map(|h| h.indices).sum()
    }

    /// Shards in all (every template has one primary shard).
    pub fn shards(&self) -> u64 {
        self.indices() * self.copies
    }

    /// The lines `setup` prints: the budget, the limit, and a warning with what to change when
    /// the budget passes [`WARN_SHARE`] of the limit (`warn` is then true).
    pub fn report(&self, limit: Option<Limit>) -> (Vec<String>, bool) {
        let kinds: Vec<String> = self.held.iter().map(|h| format!("{} {}", h.pattern, h.indices)).collect();
        let replicas = self.copies - 1;
        let mut lines = vec![format!(
            "shard budget: {} indices at steady state ({}), {} shards with {replicas} replica{} each",
            self.indices(),
            kinds.join(", "),
            self.shards(),
            if replicas == 1 { "" } else { "s" },
        )];
        let Some(limit) = limit else {
            lines.push("shard budget: the cluster does not say its shard limit (OpenSearch Serverless)".into());
            return (lines, false);
        };
        let share = self.shards() as f64 / limit.total().max(1) as f64;
        lines.push(format!(
            "shard budget: the cluster accepts {} shards (cluster.max_shards_per_node {} × {} data node{}) and holds {} \
             now; trailship's steady state is {:.0}% of the limit",
            limit.total(),
            limit.per_node,
            limit.data_nodes,
            if limit.data_nodes == 1 { "" } else { "s" },
            limit.now,
            share * 100.0,
        ));
        let warn = share > WARN_SHARE;
        if warn {
            lines.push(format!(
                "shard budget: WARNING: over {:.0}% of the limit: once it is reached, new daily indices are refused. \
                 Set opensearch.index_period = \"month\", lower opensearch.retention_days{}, or raise \
                 cluster.max_shards_per_node",
                WARN_SHARE * 100.0,
                if replicas > 0 && limit.data_nodes == 1 {
                    ", set opensearch.number_of_replicas = 0 (a single node never assigns replicas)"
                } else {
                    ""
                },
            ));
        }
        (lines, warn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let env: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load_from(None, &env).unwrap()
    }

    #[test]
    fn days_and_months_alive_at_once() {
        assert_eq!(alive(400, IndexPeriod::Day), 401);
        assert_eq!(alive(400, IndexPeriod::Month), 15);
        assert_eq!(alive(30, IndexPeriod::Month), 2);
        assert_eq!(alive(1, IndexPeriod::Day), 2);
        // 365 days hold at most 14 month starts (13 in the window and the current one).
        assert_eq!(alive(365, IndexPeriod::Month), 14);
    }

    /// The default event index prefixes of the two log sources.
    fn prefixes() -> Vec<String> {
        vec!["cloudtrail".into(), "s3access".into()]
    }

    #[test]
    fn the_defaults_overrun_one_node_and_months_without_replicas_fit() {
        let defaults = budget(&config(&[]), &prefixes());
        assert_eq!(defaults.indices(), 401 * 3 + 1 + 9 * 2);
        assert_eq!(defaults.shards(), 2444);
        let one_node = Limit { per_node: 1000, data_nodes: 1, now: 7 };
        let (lines, warn) = defaults.report(Some(one_node));
        assert!(warn);
        assert_eq!(
            lines[0],
            "shard budget: 1222 indices at steady state (cloudtrail-* 401, s3access-* 401, trailship-alerts-* 401, \
             trailship-deadletter 1, trailship-trends-cloudtrail-* 9, trailship-trends-s3access-* 9), 2444 shards with 1 replica each"
        );
        assert!(lines[1].contains("accepts 1000 shards (cluster.max_shards_per_node 1000 × 1 data node) and holds 7"));
        assert!(lines[1].ends_with("244% of the limit"), "{}", lines[1]);
        assert!(lines[2].contains("WARNING") && lines[2].contains("number_of_replicas = 0"), "{}", lines[2]);

        let small = budget(
            &config(&[
                ("TRAILSHIP__OPENSEARCH__INDEX_PERIOD", "month"),
                ("TRAILSHIP__OPENSEARCH__NUMBER_OF_REPLICAS", "0"),
            ]),
            &prefixes(),
        );
        assert_eq!(small.shards(), 15 * 3 + 1 + 9 * 2);
        let (lines, warn) = small.report(Some(one_node));
        assert!(!warn && lines.len() == 2 && lines[1].ends_with(" 6% of the limit"), "{lines:?}");
        // Three data nodes: replicas are assigned there, so the advice does not mention them.
        let (lines, warn) = defaults.report(Some(Limit { per_node: 1000, data_nodes: 3, now: 0 }));
        assert!(warn && !lines[2].contains("number_of_replicas"), "{lines:?}");
        let (lines, warn) = defaults.report(None);
        assert!(!warn && lines[1].contains("Serverless"));
    }
}

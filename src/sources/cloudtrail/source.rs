//! The CloudTrail source as configured: its index names, event window, document builder and
//! rules.

use super::enrich::Enricher;
use crate::sources::output::EventWindow;
use std::sync::Arc;

/// The plausible event times by default: from 2013-01-01 (CloudTrail was launched in November
/// 2013) to one day ahead.
pub const WINDOW: EventWindow =
    EventWindow { oldest: *b"2013.01.01", oldest_key: "limits.oldest_event_date", days_ahead: 1 };

/// The CloudTrail source.
#[derive(Debug, Clone)]
pub struct CloudTrail {
    /// Event index prefix (`opensearch.index_prefix`).
    pub index_prefix: String,
    /// Plausible event times (`limits.oldest_event_date`, `limits.event_days_ahead`).
    pub window: EventWindow,
    /// Builds documents.
    pub enricher: Enricher,
    /// The Sigma rules every record is checked against; none when empty.
    pub detector: Arc<crate::detect::Detector>,
    /// The filter rules: a record one matches is not indexed (but for its alerts).
    pub filter: Arc<crate::detect::filter::Filter>,
    /// Index prefix of alert documents (`alerts.index_prefix`).
    pub alerts_index_prefix: String,
    /// Matches of rules of these levels make no alert document of their own: the findings pass
    /// groups them (`alerts.group_levels`).
    pub group_levels: Vec<crate::detect::Level>,
}

impl CloudTrail {
    /// The source with default names (`cloudtrail`, `trailship-alerts`), no GeoIP, `detector`,
    /// no filter and no grouping.
    pub fn new(detector: Arc<crate::detect::Detector>) -> Self {
        CloudTrail {
            index_prefix: "cloudtrail".into(),
            window: WINDOW,
            enricher: Enricher::new(),
            detector,
            filter: Arc::default(),
            alerts_index_prefix: "trailship-alerts".into(),
            group_levels: Vec::new(),
        }
    }

    /// Whether a match is left to the findings pass's grouped alerts: the rule's own choice,
    /// else its level.
    pub fn is_grouped(&self, m: &crate::detect::Match) -> bool {
        m.is_grouped(&self.group_levels)
    }
}

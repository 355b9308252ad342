//! The worker's watch on its GeoIP files: every `geoip.reload`, files replaced on disk
//! (geoipupdate, the install script) are read again off the async threads and answer from then
//! on; a file that cannot be read keeps the loaded one and warns.

use crate::geo::GeoIp;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Checks `geo`'s files every `interval` until `stop` is cancelled.
pub fn spawn_geoip_reload(geo: Arc<GeoIp>, interval: Duration, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if !super::waited(interval, &stop).await {
                return;
            }
            let geo = geo.clone();
            let Ok(outcomes) = tokio::task::spawn_blocking(move || geo.reload_changed()).await else { return };
            for outcome in outcomes {
                match outcome {
                    Ok(db) => {
                        let built = chrono::DateTime::from_timestamp(db.built, 0).map(|t| t.date_naive());
                        tracing::info!(file = %db.path.display(), kind = %db.kind, built = ?built, "geoip database reloaded");
                    }
                    Err(e) => tracing::warn!(error = %e, "geoip database not reloaded, keeping the loaded one"),
                }
            }
        }
    })
}

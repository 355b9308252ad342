//! The account names a command writes (`cloud.account.name`): `accounts.names`, and with
//! `accounts.organizations` the organization's, listed once at start-up.

use crate::accounts::Accounts;
use crate::accounts::organizations::{self, Organizations};
use crate::config::Config;

/// The account names: `accounts.names`, and with `accounts.organizations` the organization's,
/// listed once now (a failure is a warning: the configured names are used), with the lister
/// for `run`'s refreshes.
pub(super) async fn accounts(cfg: &Config) -> (Accounts, Option<Organizations>) {
    let accounts = Accounts::new(cfg.accounts.names.clone());
    if !cfg.accounts.organizations {
        return (accounts, None);
    }
    let lister = match super::aws::organizations_client(&cfg.aws).await {
        Ok(client) => Organizations(client),
        Err(e) => {
            tracing::warn!(error = %e, configured = accounts.len(), "cannot read account names from AWS Organizations, using the configured ones");
            return (accounts, None);
        }
    };
    match organizations::refresh(&lister, &accounts).await {
        Ok(n) => tracing::info!(names = n, "account names read from AWS Organizations"),
        Err(e) => {
            tracing::warn!(error = %e, configured = accounts.len(), "cannot read account names from AWS Organizations, using the configured ones")
        }
    }
    (accounts, Some(lister))
}

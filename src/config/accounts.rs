//! The `[accounts]` section: names for AWS account ids (`cloud.account.name`), written in the
//! configuration (`accounts.names`) and read from AWS Organizations (`accounts.organizations`,
//! refreshed every `accounts.refresh`).

use super::values::{ConfigError, parse_age};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Account names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsConfig {
    /// Account id (12 digits) → name; these win over the names Organizations gives.
    pub names: BTreeMap<String, String>,
    /// Whether the names of the organization's accounts are read with `ListAccounts`.
    pub organizations: bool,
    /// How often `run` reads them again.
    pub refresh: Duration,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig { names: BTreeMap::new(), organizations: false, refresh: Duration::from_secs(3600) }
    }
}

/// `names`: a TOML table, or (from the environment) `id=name,id=name`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawNames {
    Table(BTreeMap<String, String>),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAccounts {
    names: Option<RawNames>,
    organizations: Option<bool>,
    refresh: Option<String>,
}

/// Whether `id` is an AWS account id: twelve ASCII digits.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

impl RawAccounts {
    pub(super) fn validate(self) -> Result<AccountsConfig, ConfigError> {
        let key = "accounts.names";
        let pairs: Vec<(String, String)> = match self.names {
            None => Vec::new(),
            Some(RawNames::Table(t)) => t.into_iter().collect(),
            Some(RawNames::Text(text)) => text
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    p.split_once('=').map(|(id, name)| (id.trim().to_owned(), name.trim().to_owned())).ok_or_else(
                        || {
                            ConfigError::new(
                                key,
                                format!("{:?} is not id=name (as in 111122223333=prod-payments)", p.trim()),
                            )
                        },
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        let mut names = BTreeMap::new();
        for (id, name) in pairs {
            if !is_account_id(&id) {
                return Err(ConfigError::new(key, format!("{id:?} is not an aws account id (12 digits)")));
            }
            if name.trim().is_empty() || name.len() > 256 {
                return Err(ConfigError::new(key, format!("the name of {id} must be 1 to 256 characters")));
            }
            names.insert(id, name.trim().to_owned());
        }
        let refresh = match self.refresh.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => AccountsConfig::default().refresh,
            Some(text) => parse_age(text).map_err(|e| ConfigError::new("accounts.refresh", e))?,
        };
        if refresh < Duration::from_secs(60) || refresh > Duration::from_secs(7 * 86_400) {
            return Err(ConfigError::new("accounts.refresh", "must be between 1m and 7d"));
        }
        Ok(AccountsConfig { names, organizations: self.organizations.unwrap_or(false), refresh })
    }
}

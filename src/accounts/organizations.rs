//! Account names from AWS Organizations: `ListAccounts`, every page, behind the small
//! [`AccountLister`] trait, with an in-memory twin ([`Listed`]) for tests. [`refresh`] puts
//! what a listing found into the names in use; a failed listing leaves them as they were.

use super::Accounts;
use crate::cause::one_line;
use std::future::Future;

/// Why the accounts could not be listed, in one line with the fix when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ListError(pub String);

/// Lists the organization's accounts: (id, name).
pub trait AccountLister: Send + Sync + 'static {
    /// Every account the organization has.
    fn list(&self) -> impl Future<Output = Result<Vec<(String, String)>, ListError>> + Send;
}

/// `organizations:ListAccounts` through the AWS SDK (its calls time out as the client's
/// configuration says).
#[derive(Debug, Clone)]
pub struct Organizations(pub aws_sdk_organizations::Client);

impl AccountLister for Organizations {
    async fn list(&self) -> Result<Vec<(String, String)>, ListError> {
        let mut out = Vec::new();
        let mut pages = self.0.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let text = one_line(&e);
                let code = e.as_service_error().and_then(|s| aws_sdk_organizations::error::ProvideErrorMetadata::code(s));
                ListError(match code {
                    Some("AccessDeniedException") => format!(
                        "organizations:ListAccounts was denied ({text}): allow it to this role in the organization's \
                         management account or a delegated administrator account (deploy/iam/organizations-policy.json), \
                         or set accounts.organizations = false"
                    ),
                    Some("AWSOrganizationsNotInUseException") => format!(
                        "this account is not in an organization ({text}): set accounts.organizations = false and name \
                         accounts in accounts.names"
                    ),
                    _ => format!("organizations:ListAccounts failed: {text}"),
                })
            })?;
            for account in page.accounts() {
                if let (Some(id), Some(name)) = (account.id(), account.name()) {
                    out.push((id.to_owned(), name.to_owned()));
                }
            }
        }
        Ok(out)
    }
}

/// The in-memory twin: the accounts it holds, or the error it was given.
#[derive(Debug, Clone)]
pub struct Listed(pub Result<Vec<(String, String)>, ListError>);

impl AccountLister for Listed {
    async fn list(&self) -> Result<Vec<(String, String)>, ListError> {
        self.0.clone()
    }
}

/// Lists the accounts and makes their names the listed ones of `accounts`; returns how many
/// names are in use. On failure the names stay as they were.
pub async fn refresh(lister: &impl AccountLister, accounts: &Accounts) -> Result<usize, ListError> {
    let listed = lister.list().await?;
    let valid: Vec<(String, String)> =
        listed.into_iter().filter(|(id, name)| crate::config::is_account_id(id) && !name.is_empty()).collect();
    Ok(accounts.replace_listed(valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn a_failed_listing_keeps_the_names_a_good_one_replaces_them() {
        let accounts = Accounts::new(BTreeMap::from([("111122223333".to_owned(), "prod".to_owned())]));
        let good = Listed(Ok(vec![("444455556666".into(), "dev".into()), ("not-an-id".into(), "x".into())]));
        assert_eq!(refresh(&good, &accounts).await, Ok(2), "an id that is none is left out");
        let bad = Listed(Err(ListError("organizations:ListAccounts was denied".into())));
        assert!(refresh(&bad, &accounts).await.is_err());
        assert_eq!(accounts.name("444455556666").as_deref(), Some("dev"), "kept after a failure");
        assert_eq!(accounts.name("111122223333").as_deref(), Some("prod"));
    }
}

//! Account names for `cloud.account.name`: the configured ones (`accounts.names`) over those
//! AWS Organizations lists (`accounts.organizations`, read by [`organizations`]), shared by every
//! decoder and the trend pass. A refresh replaces the listed names whole; a failed one keeps
//! what was there. A lookup takes a read lock and clones one `Arc`; without any name it is
//! one atomic load.

pub mod organizations;

use crate::json::write_str;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// Account id → the name as a JSON string literal.
type Names = HashMap<Box<str>, Arc<str>>;

/// The names in use; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Accounts(Arc<Inner>);

/// Two handles are equal when they share the same names.
impl PartialEq for Accounts {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Accounts {}

#[derive(Debug, Default)]
struct Inner {
    /// The configured names, which win.
    configured: BTreeMap<String, String>,
    /// The configured and listed names together.
    names: RwLock<Arc<Names>>,
    /// Whether `names` holds any.
    any: AtomicBool,
}

fn literal(name: &str) -> Arc<str> {
    let mut out = Vec::with_capacity(name.len() + 2);
    write_str(&mut out, name);
    // JSON written from a string: valid UTF-8.
    String::from_utf8(out).unwrap_or_default().into()
}

impl Accounts {
    /// The configured names (`accounts.names`), before any listing.
    pub fn new(configured: BTreeMap<String, String>) -> Self {
        let accounts = Accounts(Arc::new(Inner { configured, ..Default::default() }));
        accounts.replace_listed(Vec::new());
        accounts
    }

    /// Replaces the listed names with `listed` (id, name), the configured ones still winning;
    /// returns how many names are in use.
    pub fn replace_listed(&self, listed: Vec<(String, String)>) -> usize {
        let mut names: Names = listed.into_iter().map(|(id, name)| (id.into_boxed_str(), literal(&name))).collect();
        for (id, name) in &self.0.configured {
            names.insert(id.as_str().into(), literal(name));
        }
        let n = names.len();
        *self.0.names.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(names);
        self.0.any.store(n > 0, Ordering::Release);
        n
    }

    /// The name of account `id`, as a JSON string literal.
    pub fn name_json(&self, id: &str) -> Option<Arc<str>> {
        if !self.0.any.load(Ordering::Acquire) {
            return None;
        }
        self.0.names.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// The name of account `id`.
    pub fn name(&self, id: &str) -> Option<String> {
        self.name_json(id).and_then(|j| serde_json::from_str(&j).ok())
    }

    /// How many names are in use.
    pub fn len(&self) -> usize {
        self.0.names.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no name is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_names_win_and_a_refresh_replaces_the_listed_ones_whole() {
        let configured = BTreeMap::from([("111122223333".to_owned(), "prod \"payments\"".to_owned())]);
        let a = Accounts::new(configured);
        assert_eq!(a.name_json("111122223333").as_deref(), Some(r#""prod \"payments\"""#));
        assert_eq!(a.name("111122223333").as_deref(), Some("prod \"payments\""));
        let listed = |pairs: &[(&str, &str)]| pairs.iter().map(|(i, n)| (i.to_string(), n.to_string())).collect();
        assert_eq!(a.replace_listed(listed(&[("111122223333", "Payments"), ("444455556666", "dev")])), 2);
        assert_eq!(a.name("111122223333").as_deref(), Some("prod \"payments\""), "the configured name wins");
        assert_eq!(a.name("444455556666").as_deref(), Some("dev"));
        a.replace_listed(listed(&[("777788889999", "sandbox")]));
        assert_eq!(a.name("444455556666"), None, "gone from the listing, gone");
        assert_eq!((a.name("777788889999").as_deref(), a.len()), (Some("sandbox"), 2));
        let clone = a.clone();
        a.replace_listed(Vec::new());
        assert_eq!(clone.name("777788889999"), None, "clones share the names");
    }

    #[test]
    fn without_names_nothing_is_found() {
        let a = Accounts::default();
        assert!(a.is_empty() && a.name_json("111122223333").is_none());
        assert!(Accounts::new(BTreeMap::new()).is_empty());
    }
}

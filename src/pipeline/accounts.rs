//! The worker's refresh of account names from AWS Organizations: every `accounts.refresh`,
//! the accounts are listed again and their names replace the listed ones; a failed listing
//! keeps the names in use and warns.

use crate::accounts::Accounts;
use crate::accounts::organizations::{AccountLister, refresh};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Refreshes `accounts` from `lister` every `interval` until `stop` is cancelled.
pub fn spawn_account_refresh(
    lister: impl AccountLister,
    accounts: Accounts,
    interval: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if !super::waited(interval, &stop).await {
                return;
            }
            tokio::select! {
                result = refresh(&lister, &accounts) => match result {
                    Ok(n) => tracing::info!(names = n, "account names refreshed from AWS Organizations"),
                    Err(e) => tracing::warn!(error = %e, names = accounts.len(), "account names not refreshed, keeping the last ones"),
                },
                _ = stop.cancelled() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::organizations::ListError;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// One listing's answer.
    type Answer = Result<Vec<(String, String)>, ListError>;

    /// Answers from a queue, one per listing; says each listing on the channel.
    struct Answers(Mutex<VecDeque<Answer>>, tokio::sync::mpsc::UnboundedSender<()>);

    impl AccountLister for Answers {
        async fn list(&self) -> Result<Vec<(String, String)>, ListError> {
            let answer = self.0.lock().unwrap().pop_front().unwrap_or(Ok(Vec::new()));
            let _ = self.1.send(());
            answer
        }
    }

    // One thread: the refresh task runs only when the test yields, so each check sees exactly
    // one listing applied.
    #[tokio::test(flavor = "current_thread")]
    async fn each_interval_lists_again_and_a_failure_keeps_the_names() {
        let one = |name: &str| Ok(vec![("111122223333".to_owned(), name.to_owned())]);
        let (tx, mut listed) = tokio::sync::mpsc::unbounded_channel();
        let answers = VecDeque::from([one("first"), Err(ListError("denied".into())), one("third")]);
        let accounts = Accounts::default();
        let stop = CancellationToken::new();
        let task = spawn_account_refresh(
            Answers(Mutex::new(answers), tx),
            accounts.clone(),
            Duration::from_millis(1),
            stop.clone(),
        );
        assert_eq!(accounts.name("111122223333"), None, "nothing before the first interval");
        listed.recv().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(accounts.name("111122223333").as_deref(), Some("first"));
        listed.recv().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(accounts.name("111122223333").as_deref(), Some("first"), "kept after a failed listing");
        listed.recv().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(accounts.name("111122223333").as_deref(), Some("third"));
        stop.cancel();
        task.await.unwrap();
    }
}

//! The one retry style: exponential backoff with jitter that stays inside its cap. backon's
//! jitter adds up to the current delay on top of it, so the exponential part is capped at half
//! the documented maximum and the jittered delay never exceeds it.

use backon::ExponentialBuilder;
use std::time::Duration;

/// Jittered exponential backoff from `min` (between `min` and twice it) up to `cap`, never over
/// `cap`, for at most `times` retries (`None`: without end).
pub fn backoff(min: Duration, cap: Duration, times: Option<usize>) -> ExponentialBuilder {
    let half = cap / 2;
    let builder = ExponentialBuilder::default().with_jitter().with_min_delay(min.min(half)).with_max_delay(half);
    match times {
        Some(n) => builder.with_max_times(n),
        None => builder.without_max_times(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn delays_grow_and_never_pass_the_cap() {
        let cap = Duration::from_secs(30);
        for _ in 0..200 {
            let delays: Vec<Duration> = backoff(Duration::from_millis(200), cap, Some(12)).build().collect();
            assert_eq!(delays.len(), 12);
            assert!(delays.iter().all(|d| *d <= cap), "{delays:?}");
            assert!(delays[0] >= Duration::from_millis(200) && delays[0] <= Duration::from_millis(400));
            assert!(delays[11] >= cap / 2, "{delays:?}");
        }
        let endless = backoff(Duration::from_millis(1), Duration::from_millis(4), None).build();
        assert_eq!(endless.take(1000).count(), 1000);
    }
}

//! When to fetch a CA's CRLs next: well before nextUpdate after a success, with exponential
//! backoff after failures, and with random jitter so that many instances spread out.

use std::time::{Duration, SystemTime};

use crate::config::RefreshConfig;

/// The refresh policy of the `[refresh]` configuration table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub fraction: f64,
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub jitter: f64,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

/// Shortest wait ever scheduled, so that a CRL already at its nextUpdate is not fetched in a
/// busy loop.
const MIN_DELAY: Duration = Duration::from_secs(1);

impl Schedule {
    pub fn from_config(config: &RefreshConfig) -> Self {
        Self {
            fraction: config.fraction,
            min_interval: config.min_interval,
            max_interval: config.max_interval,
            jitter: config.jitter,
            retry_min: config.retry_min,
            retry_max: config.retry_max,
        }
    }

    /// Computes the wait before the next fetch.
    ///
    /// `earliest_next_update` is the soonest nextUpdate among the CRLs in use, `failures` the
    /// number of refreshes in a row that had a failing source, and `random` a value in
    /// `[0, 1)` that places the jitter.
    pub fn next_delay(
        &self,
        earliest_next_update: Option<SystemTime>,
        failures: u32,
        now: SystemTime,
        random: f64,
    ) -> Duration {
        let base = if failures > 0 {
            self.backoff(failures)
        } else {
            self.after_success(earliest_next_update, now)
        };

        // Jitter moves the wait by up to `jitter` of itself, either way.
        let factor = 1.0 + self.jitter * (2.0 * random - 1.0);
        let mut delay = base.mul_f64(factor.max(0.0));

        // After a success the jittered wait must still end before nextUpdate.
        let remaining = earliest_next_update.and_then(|next| next.duration_since(now).ok());
        if let (0, Some(remaining)) = (failures, remaining) {
            let latest = remaining.mul_f64((self.fraction * (1.0 + self.jitter)).min(0.95));
            delay = delay.min(latest);
        }
        delay.max(MIN_DELAY)
    }

    /// A share of the remaining validity, bounded by the intervals, and always before
    /// nextUpdate when there is still time.
    fn after_success(&self, earliest_next_update: Option<SystemTime>, now: SystemTime) -> Duration {
        let Some(next_update) = earliest_next_update else {
            return self.max_interval;
        };
        let Ok(remaining) = next_update.duration_since(now) else {
            return self.retry_min;
        };

        let wait = remaining
            .mul_f64(self.fraction)
            .clamp(self.min_interval, self.max_interval);
        if wait < remaining {
            wait
        } else {
            // min_interval would overshoot nextUpdate: keep the share of what is left.
            remaining.mul_f64(self.fraction)
        }
    }

    /// retry_min doubled per further failure, at most retry_max.
    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.retry_min
            .saturating_mul(1 << doublings)
            .min(self.retry_max)
    }
}

/// A random value in `[0, 1)` from the operating system's generator, for jitter. Falls back to
/// the middle of the range, which means no jitter, if the generator fails.
pub fn random_unit() -> f64 {
    use ring::rand::SecureRandom;

    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.5;
    }
    // 53 random bits make every f64 in [0, 1) with that spacing equally likely.
    #[expect(
        clippy::cast_precision_loss,
        reason = "53 bits fit an f64 mantissa exactly"
    )]
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            fraction: 0.5,
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(3600),
            jitter: 0.1,
            retry_min: Duration::from_secs(10),
            retry_max: Duration::from_secs(600),
        }
    }

    const NO_JITTER: f64 = 0.5;

    #[test]
    fn success_waits_half_the_remaining_validity() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let next_update = now + Duration::from_secs(2 * 3600);
        let delay = schedule().next_delay(Some(next_update), 0, now, NO_JITTER);
        assert_eq!(delay, Duration::from_secs(3600));
    }

    #[test]
    fn short_next_update_fetched_before_it() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for remaining in [5, 30, 59, 61, 119] {
            let next_update = now + Duration::from_secs(remaining);
            for random in [0.0, 0.5, 0.999] {
                let delay = schedule().next_delay(Some(next_update), 0, now, random);
                assert!(
                    delay < Duration::from_secs(remaining),
                    "remaining {remaining}s, random {random}: delay {delay:?}"
                );
            }
        }
    }

    #[test]
    fn long_validity_capped_by_max_interval() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let next_update = now + Duration::from_secs(30 * 86_400);
        let delay = schedule().next_delay(Some(next_update), 0, now, NO_JITTER);
        assert_eq!(delay, Duration::from_secs(3600));
    }

    #[test]
    fn failures_back_off_exponentially() {
        let now = SystemTime::UNIX_EPOCH;
        let delays: Vec<u64> = (1..=8)
            .map(|failures| {
                schedule()
                    .next_delay(None, failures, now, NO_JITTER)
                    .as_secs()
            })
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 600, 600]);
    }

    #[test]
    fn jitter_spreads_instances() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let next_update = now + Duration::from_secs(2 * 3600);
        let low = schedule().next_delay(Some(next_update), 0, now, 0.0);
        let high = schedule().next_delay(Some(next_update), 0, now, 0.999);
        assert_eq!(low, Duration::from_secs(3240));
        assert!(high > Duration::from_secs(3950), "{high:?}");
        assert_ne!(low, high);
    }

    #[test]
    fn random_values_differ_and_stay_in_range() {
        let values: Vec<f64> = (0..32).map(|_| random_unit()).collect();
        assert!(
            values.iter().all(|value| (0.0..1.0).contains(value)),
            "{values:?}"
        );
        assert!(
            values.windows(2).any(|pair| pair[0] != pair[1]),
            "{values:?}"
        );
    }
}

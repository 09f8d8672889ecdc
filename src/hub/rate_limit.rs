//! Per-connection message rate limit: a token bucket, plus the
//! bookkeeping for "at most one warning a second" and "closed after 5 s over".

use std::time::{Duration, Instant};

/// What to do with one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: handle it.
    Allow,
    /// Over the limit: drop it silently (a warning went out less than 1 s ago).
    Drop,
    /// Over the limit: drop it and send one `RATE_LIMIT_EXCEEDED` warning.
    DropAndWarn,
    /// Over the limit for too long: close the connection (1008).
    Close,
}

/// A token bucket refilled at `rate` per second, holding at most `rate`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
    /// Start of the current run of drops; a run ends after 1 s with none.
    over_since: Option<Instant>,
    last_drop: Option<Instant>,
    last_warning: Option<Instant>,
    close_after: Duration,
}

impl RateLimiter {
    /// A full bucket of `per_second` tokens.
    pub fn new(per_second: u32, close_after: Duration, now: Instant) -> Self {
        let rate = f64::from(per_second.max(1));
        RateLimiter {
            rate,
            tokens: rate,
            last: now,
            over_since: None,
            last_drop: None,
            last_warning: None,
            close_after,
        }
    }

    /// Whether a message at `now` would be within the limit (nothing is
    /// counted).
    pub fn has_room(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + elapsed * self.rate).min(self.rate) >= 1.0
    }

    /// Accounts for one message at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        // A flood still gets a trickle through as tokens refill, so being
        // "over the limit" means dropping with no quiet second in between.
        let quiet = self
            .last_drop
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if quiet {
            self.over_since = None;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        self.last_drop = Some(now);
        let since = *self.over_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.close_after {
            return Verdict::Close;
        }
        match self.last_warning {
            Some(t) if now.saturating_duration_since(t) < Duration::from_secs(1) => Verdict::Drop,
            _ => {
                self.last_warning = Some(now);
                Verdict::DropAndWarn
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_then_close_after_sustained_flood() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(100, Duration::from_secs(5), t0);
        for _ in 0..100 {
            assert_eq!(r.check(t0), Verdict::Allow);
        }
        assert_eq!(r.check(t0), Verdict::DropAndWarn);
        assert_eq!(r.check(t0), Verdict::Drop);
        // 10 ms later one token is back.
        assert_eq!(r.check(t0 + Duration::from_millis(10)), Verdict::Allow);
        // A flood of 1,000 msg/s for 6 s: warned about once a second, then closed.
        let mut warnings = 0;
        let mut closed_at = None;
        for i in 1..=6000u64 {
            let now = t0 + Duration::from_millis(10) + Duration::from_micros(i * 1000);
            match r.check(now) {
                Verdict::DropAndWarn => warnings += 1,
                Verdict::Close => {
                    closed_at = Some(i);
                    break;
                }
                _ => {}
            }
        }
        assert!((4..=6).contains(&warnings), "{warnings}");
        let closed_at = closed_at.expect("a sustained flood is closed");
        assert!(
            (4900..=5100).contains(&closed_at),
            "closed after ~5 s, at {closed_at} ms"
        );
    }

    #[test]
    fn a_quiet_second_resets_the_run() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, Duration::from_secs(5), t0);
        let mut now = t0;
        for _round in 0..10 {
            // 4 s of flooding at 100 msg/s, then 1.5 s of silence.
            for _ in 0..400 {
                now += Duration::from_millis(10);
                assert_ne!(r.check(now), Verdict::Close);
            }
            now += Duration::from_millis(1500);
        }
    }
}

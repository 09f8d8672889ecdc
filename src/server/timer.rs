//! A hashed timer wheel: O(1) insert, expiry proportional to what is due,
//! and the next deadline in O(1) (the loop asks for it on every iteration,
//! i.e. for every message when the server is not busy).
//!
//! Timers are never cancelled. Each one names what it is for (a connection's
//! slab key and generation, or a session id) and the owner checks on expiry
//! whether it still applies, so a timer of a closed connection cannot touch
//! a new connection that reuses its slab key.

use std::time::{Duration, Instant};

/// The wheel. `T` is what a timer carries back when it fires.
#[derive(Debug)]
pub struct TimerWheel<T> {
    start: Instant,
    tick: Duration,
    slots: Vec<Vec<(u64, T)>>,
    /// Every tick up to and including this one has been expired.
    done: u64,
    len: usize,
    /// The earliest tick of any pending timer (`None` when there is none).
    /// Lowered by `insert`; recomputed by `expire` only when it fires, so a
    /// scan of every timer happens at most once per tick with something due,
    /// not once per loop iteration.
    next: Option<u64>,
}

impl<T> TimerWheel<T> {
    /// A wheel of `slots` buckets of `tick` each, counting from `start`.
    pub fn new(tick: Duration, slots: usize, start: Instant) -> Self {
        let tick = tick.max(Duration::from_millis(1));
        TimerWheel {
            start,
            tick,
            slots: (0..slots.max(1)).map(|_| Vec::new()).collect(),
            done: 0,
            len: 0,
            next: None,
        }
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tick at or after `at` (rounded up, so nothing fires early).
    fn tick_of(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.start).as_nanos();
        let tick = self.tick.as_nanos();
        nanos.div_ceil(tick).min(u64::MAX as u128) as u64
    }

    /// The last tick that has fully elapsed at `now`.
    fn elapsed_ticks(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.start).as_nanos();
        (nanos / self.tick.as_nanos()).min(u64::MAX as u128) as u64
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.start + self.tick.saturating_mul(tick.min(u32::MAX as u64) as u32)
    }

    /// Schedules `item` to fire at `deadline` (or on the next expiry, when the
    /// deadline has passed).
    pub fn insert(&mut self, deadline: Instant, item: T) {
        let tick = self.tick_of(deadline).max(self.done + 1);
        let n = self.slots.len() as u64;
        self.slots[(tick % n) as usize].push((tick, item));
        self.len += 1;
        self.next = Some(self.next.map_or(tick, |t| t.min(tick)));
    }

    /// When the earliest pending timer is due (the end of its tick), or
    /// `None` when nothing is pending. O(1).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next.map(|t| self.instant_of(t))
    }

    /// Moves every timer due at `now` into `out`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<T>) {
        let target = self.elapsed_ticks(now);
        if target <= self.done {
            return;
        }
        let n = self.slots.len() as u64;
        // After a long pause every slot is visited once, not once per tick.
        let first = self.done + 1;
        let last = target.min(self.done + n);
        for t in first..=last {
            let slot = &mut self.slots[(t % n) as usize];
            if slot.is_empty() {
                continue;
            }
            let mut i = 0;
            while i < slot.len() {
                if slot[i].0 <= target {
                    out.push(slot.swap_remove(i).1);
                    self.len -= 1;
                } else {
                    i += 1;
                }
            }
        }
        self.done = target;
        if self.next.is_some_and(|t| t <= target) {
            self.next = self
                .slots
                .iter()
                .flat_map(|slot| slot.iter().map(|(tick, _)| *tick))
                .min();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_in_order_and_never_early() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 8, t0);
        w.insert(t0 + ms(25), "a");
        w.insert(t0 + ms(5), "b");
        w.insert(t0 + ms(1000), "far");
        assert_eq!(w.len(), 3);
        let mut out = Vec::new();
        w.expire(t0 + ms(9), &mut out);
        assert!(out.is_empty(), "b is due at 10ms (rounded up), not before");
        w.expire(t0 + ms(10), &mut out);
        assert_eq!(out, vec!["b"]);
        out.clear();
        w.expire(t0 + ms(29), &mut out);
        assert!(out.is_empty());
        w.expire(t0 + ms(30), &mut out);
        assert_eq!(out, vec!["a"]);
        out.clear();
        // "far" shares slots with nearer ticks many rotations before it is due.
        w.expire(t0 + ms(990), &mut out);
        assert!(out.is_empty());
        w.expire(t0 + ms(1000), &mut out);
        assert_eq!(out, vec!["far"]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn next_deadline_is_exact_within_a_rotation() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 16, t0);
        w.insert(t0 + ms(42), 1);
        assert_eq!(w.next_deadline(), Some(t0 + ms(50)));
        w.insert(t0 + ms(11), 2);
        assert_eq!(w.next_deadline(), Some(t0 + ms(20)));
        let mut far = TimerWheel::new(ms(10), 4, t0);
        far.insert(t0 + ms(500), 3);
        let d = far.next_deadline().unwrap();
        assert!(
            d <= t0 + ms(500) && d > t0,
            "a wake-up no later than the deadline"
        );
    }

    #[test]
    fn next_deadline_follows_inserts_and_expiries() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 8, t0);
        assert_eq!(w.next_deadline(), None);
        w.insert(t0 + ms(30_000), "ping");
        w.insert(t0 + ms(60_000), "idle");
        assert_eq!(
            w.next_deadline(),
            Some(t0 + ms(30_000)),
            "beyond a rotation"
        );
        w.insert(t0 + ms(15), "soon");
        assert_eq!(w.next_deadline(), Some(t0 + ms(20)));
        let mut out = Vec::new();
        w.expire(t0 + ms(20), &mut out);
        assert_eq!(out, vec!["soon"]);
        assert_eq!(w.next_deadline(), Some(t0 + ms(30_000)));
        w.expire(t0 + ms(30_000), &mut out);
        assert_eq!(w.next_deadline(), Some(t0 + ms(60_000)));
        w.expire(t0 + ms(60_000), &mut out);
        assert_eq!(out, vec!["soon", "ping", "idle"]);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn next_deadline_is_the_earliest_pending_timer() {
        // Against a brute-force minimum, over pseudo-random inserts/expiries.
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 16, t0);
        let mut pending: Vec<(u64, u64)> = Vec::new(); // (tick, id)
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut now = t0;
        let mut out = Vec::new();
        for id in 0..2_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed % 3 == 0 {
                now += ms(seed % 50);
                out.clear();
                w.expire(now, &mut out);
                let target = w.elapsed_ticks(now);
                pending.retain(|&(tick, id)| {
                    assert_eq!(tick <= target, out.contains(&id), "timer {id}");
                    tick > target
                });
            } else {
                let at = now + ms(seed % 400);
                pending.push((w.tick_of(at).max(w.done + 1), id));
                w.insert(at, id);
            }
            let earliest = pending.iter().map(|&(tick, _)| w.instant_of(tick)).min();
            assert_eq!(w.next_deadline(), earliest);
        }
    }

    #[test]
    fn long_pause_fires_everything_due() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 4, t0);
        for i in 0..20 {
            w.insert(t0 + ms(i * 7), i);
        }
        w.insert(t0 + ms(10_000), 99);
        let mut out = Vec::new();
        w.expire(t0 + ms(5_000), &mut out);
        out.sort();
        assert_eq!(out, (0..20).collect::<Vec<_>>());
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn past_deadlines_fire_on_next_expiry() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 4, t0);
        let mut out = Vec::new();
        w.expire(t0 + ms(100), &mut out);
        w.insert(t0, "late");
        w.expire(t0 + ms(110), &mut out);
        assert_eq!(out, vec!["late"]);
    }
}

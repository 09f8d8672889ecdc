//! A hashed timer wheel: O(1) insert and cancel, expiry proportional to
//! what is due, and the next deadline in O(1) (the loop asks for it on every
//! iteration, i.e. for every message when the server is not busy).
//!
//! A timer may belong to an *owner* (a connection's slab key) under a
//! *kind* (request deadline, ping, idle check, ...): an owner has at most one
//! timer of each kind, setting one replaces the last, and when the owner
//! goes all of its timers go with it. So timers of closed connections do not
//! pile up, and the wheel holds about as many timers as there are live
//! connections. Each timer still names what it is for (slab key and
//! generation), and the owner checks on expiry whether it still applies.
//!
//! Memory follows load back down: storage left large by a burst is
//! compacted once it is mostly empty.

use slab::Slab;
use std::time::{Duration, Instant};

/// Kinds of owned timers per owner.
pub const KINDS: usize = 5;

/// "No timer" in the owner table.
const NONE: u32 = u32::MAX;

#[derive(Debug)]
struct Entry<T> {
    tick: u64,
    /// Index in its slot.
    pos: usize,
    /// Owner and kind, when owned.
    owner: Option<(usize, usize)>,
    item: T,
}

/// The wheel. `T` is what a timer carries back when it fires.
#[derive(Debug)]
pub struct TimerWheel<T> {
    start: Instant,
    tick: Duration,
    /// Keys into `entries`, by tick modulo the number of slots.
    slots: Vec<Vec<usize>>,
    entries: Slab<Entry<T>>,
    /// For each owner (index), its timer of each kind (key, or `NONE`).
    owners: Vec<[u32; KINDS]>,
    /// Every tick up to and including this one has been expired.
    done: u64,
    /// The earliest tick of any pending timer (`None` when there is none).
    /// Lowered by inserts; recomputed by `expire` only when it fires, so a
    /// scan of every timer happens at most once per tick with something due,
    /// not once per loop iteration. A cancelled timer may leave it early,
    /// which costs one empty wake-up.
    next: Option<u64>,
}

/// Storage below this many timers is never compacted.
const SHRINK_FLOOR: usize = 256;

impl<T> TimerWheel<T> {
    /// A wheel of `slots` buckets of `tick` each, counting from `start`.
    pub fn new(tick: Duration, slots: usize, start: Instant) -> Self {
        let tick = tick.max(Duration::from_millis(1));
        TimerWheel {
            start,
            tick,
            slots: (0..slots.max(1)).map(|_| Vec::new()).collect(),
            entries: Slab::new(),
            owners: Vec::new(),
            done: 0,
            next: None,
        }
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Timers the storage has room for (it shrinks when load goes away).
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
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

    fn slot_of(&self, tick: u64) -> usize {
        (tick % self.slots.len() as u64) as usize
    }

    fn add(&mut self, deadline: Instant, owner: Option<(usize, usize)>, item: T) -> usize {
        let tick = self.tick_of(deadline).max(self.done + 1);
        let slot = self.slot_of(tick);
        let pos = self.slots[slot].len();
        let key = self.entries.insert(Entry {
            tick,
            pos,
            owner,
            item,
        });
        self.slots[slot].push(key);
        self.next = Some(self.next.map_or(tick, |t| t.min(tick)));
        key
    }

    /// Takes a timer out of the wheel (and out of its owner's table).
    fn take(&mut self, key: usize) -> Option<T> {
        let e = self.entries.try_remove(key)?;
        let slot = self.slot_of(e.tick);
        let keys = &mut self.slots[slot];
        if keys.get(e.pos) == Some(&key) {
            keys.swap_remove(e.pos);
            if let Some(&moved) = keys.get(e.pos) {
                if let Some(m) = self.entries.get_mut(moved) {
                    m.pos = e.pos;
                }
            }
        }
        if let Some((owner, kind)) = e.owner {
            if let Some(row) = self.owners.get_mut(owner) {
                if row[kind] == key as u32 {
                    row[kind] = NONE;
                }
            }
        }
        Some(e.item)
    }

    /// Schedules `item` to fire at `deadline` (or on the next expiry, when the
    /// deadline has passed), owned by nobody.
    pub fn insert(&mut self, deadline: Instant, item: T) {
        self.add(deadline, None, item);
    }

    /// Schedules `owner`'s timer of `kind` (below [`KINDS`]), replacing the
    /// one it had.
    pub fn set(&mut self, owner: usize, kind: usize, deadline: Instant, item: T) {
        if kind >= KINDS {
            debug_assert!(false, "timer kind {kind} out of range");
            return self.insert(deadline, item);
        }
        self.cancel(owner, kind);
        if self.owners.len() <= owner {
            self.owners.resize(owner + 1, [NONE; KINDS]);
        }
        let key = self.add(deadline, Some((owner, kind)), item);
        self.owners[owner][kind] = key as u32;
    }

    /// Cancels `owner`'s timer of `kind`, if it has one.
    pub fn cancel(&mut self, owner: usize, kind: usize) {
        let key = match self.owners.get(owner) {
            Some(row) if kind < KINDS && row[kind] != NONE => row[kind] as usize,
            _ => return,
        };
        self.take(key);
    }

    /// Cancels every timer of `owner` (it is gone).
    pub fn cancel_owner(&mut self, owner: usize) {
        for kind in 0..KINDS {
            self.cancel(owner, kind);
        }
        // Owners are slab keys, reused from the lowest: the table ends at
        // the highest live one.
        while self
            .owners
            .last()
            .is_some_and(|row| row.iter().all(|&k| k == NONE))
        {
            self.owners.pop();
        }
        self.shrink();
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
        let mut due = Vec::new();
        for t in first..=last {
            let slot = (t % n) as usize;
            due.extend(
                self.slots[slot]
                    .iter()
                    .copied()
                    .filter(|&k| self.entries.get(k).is_some_and(|e| e.tick <= target)),
            );
            for key in due.drain(..) {
                if let Some(item) = self.take(key) {
                    out.push(item);
                }
            }
        }
        self.done = target;
        if self.next.is_some_and(|t| t <= target) {
            self.next = self.entries.iter().map(|(_, e)| e.tick).min();
        }
        self.shrink();
    }

    /// Gives memory back once the storage is mostly empty: compacts the
    /// timers into the front of their storage and trims the slots. Each
    /// compaction follows a fall to a quarter of the capacity, so its cost
    /// is paid for by the timers that grew it.
    fn shrink(&mut self) {
        let cap = self.entries.capacity();
        if cap <= SHRINK_FLOOR || self.entries.len() * 4 > cap {
            return;
        }
        let n = self.slots.len() as u64;
        let (slots, owners) = (&mut self.slots, &mut self.owners);
        self.entries.compact(|e, from, to| {
            let keys = &mut slots[(e.tick % n) as usize];
            if keys.get(e.pos) == Some(&from) {
                keys[e.pos] = to;
            }
            if let Some((owner, kind)) = e.owner {
                if let Some(row) = owners.get_mut(owner) {
                    if row[kind] == from as u32 {
                        row[kind] = to as u32;
                    }
                }
            }
            true
        });
        self.entries.shrink_to_fit();
        for keys in &mut self.slots {
            if keys.capacity() > 2 * keys.len() + 4 {
                keys.shrink_to_fit();
            }
        }
        if self.owners.capacity() > 2 * self.owners.len() + 64 {
            self.owners.shrink_to_fit();
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

    #[test]
    fn an_owner_has_one_timer_per_kind_and_takes_them_along() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 8, t0);
        w.insert(t0 + ms(1000), "unowned");
        w.set(3, 0, t0 + ms(100), "deadline");
        w.set(3, 0, t0 + ms(50), "earlier deadline");
        w.set(3, 1, t0 + ms(30_000), "ping");
        w.set(4, 1, t0 + ms(30_000), "other ping");
        assert_eq!(w.len(), 4, "the first deadline was replaced");
        w.cancel_owner(3);
        assert_eq!(w.len(), 2);
        let mut out = Vec::new();
        w.expire(t0 + ms(60_000), &mut out);
        out.sort();
        assert_eq!(out, vec!["other ping", "unowned"]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
        // An owner whose timer fired can set it again, and cancel it.
        w.set(4, 1, t0 + ms(90_000), "again");
        w.cancel(4, 1);
        assert!(w.is_empty());
    }

    #[test]
    fn churn_leaves_no_timers_and_gives_memory_back() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 64, t0);
        w.insert(t0 + ms(1000), usize::MAX);
        // A burst of 20,000 connections at once, four timers each, then all gone.
        for owner in 0..20_000 {
            for kind in 0..4 {
                w.set(
                    owner,
                    kind,
                    t0 + ms(10 * (owner as u64 % 700 + kind as u64)),
                    owner,
                );
            }
        }
        assert_eq!(w.len(), 80_001);
        let grown = w.capacity();
        for owner in (0..20_000).rev() {
            w.cancel_owner(owner);
        }
        assert_eq!(w.len(), 1, "only the unowned timer is left");
        assert!(w.capacity() <= 256, "{} of {grown} kept", w.capacity());
        assert!(w.owners.is_empty());
        let mut out = Vec::new();
        w.expire(t0 + ms(1000), &mut out);
        assert_eq!(out, vec![usize::MAX]);
    }

    #[test]
    fn owned_timers_fire_like_any_other_across_compactions() {
        // Against a brute-force model, with cancels and compactions mixed in.
        let t0 = Instant::now();
        let mut w = TimerWheel::new(ms(10), 16, t0);
        let mut model: std::collections::HashMap<(usize, usize), (u64, u64)> = Default::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut now = t0;
        let mut out = Vec::new();
        for id in 0..20_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let owner = (seed >> 8) as usize % 600;
            let kind = (seed >> 20) as usize % KINDS;
            match seed % 5 {
                0 => {
                    now += ms(seed % 40);
                    out.clear();
                    w.expire(now, &mut out);
                    let target = w.elapsed_ticks(now);
                    let mut fired: Vec<u64> = out.iter().map(|&(_, id)| id).collect();
                    let mut want: Vec<u64> = model
                        .iter()
                        .filter(|(_, (tick, _))| *tick <= target)
                        .map(|(_, (_, id))| *id)
                        .collect();
                    fired.sort();
                    want.sort();
                    assert_eq!(fired, want);
                    model.retain(|_, (tick, _)| *tick > target);
                }
                1 => {
                    w.cancel_owner(owner);
                    model.retain(|&(o, _), _| o != owner);
                }
                _ => {
                    let at = now + ms(seed % 400);
                    let tick = w.tick_of(at).max(w.done + 1);
                    w.set(owner, kind, at, (owner, id));
                    model.insert((owner, kind), (tick, id));
                }
            }
            assert_eq!(w.len(), model.len());
            let earliest = model.values().map(|&(tick, _)| w.instant_of(tick)).min();
            if let Some(e) = earliest {
                assert!(
                    w.next_deadline().is_some_and(|d| d <= e),
                    "a wake-up by {e:?}"
                );
            }
        }
    }
}

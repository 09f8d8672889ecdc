//! The bound on request-body bytes buffered at once, across all
//! connections (`Config::max_buffered_body_bytes`).
//!
//! Room for a body is reserved when its head is admitted (the announced
//! `Content-Length`, before a byte of it is read) and given back when the
//! reservation is dropped: the request was handled, or the connection
//! moved on or went away. A body that does not fit is refused at once
//! with 503 and `Retry-After`, rather than waiting: a client that used
//! `Expect: 100-continue` has not sent it yet.

use super::http::Response;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared count of reserved body bytes and its limit.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

/// Room for one body; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    used: Arc<AtomicUsize>,
    bytes: usize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> BodyBudget {
        BodyBudget {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Room for `bytes` more, or the 503 answer when they do not fit.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, Response> {
        let used = self.used.load(Ordering::Relaxed);
        if used.saturating_add(bytes) > self.limit {
            return Err(Response::error(
                503,
                "SERVICE_UNAVAILABLE",
                &format!(
                    "the server is reading other request bodies ({used} of {} bytes buffered) and has no room for {bytes} more; retry in a moment",
                    self.limit
                ),
            )
            .with_header("Retry-After", "1"));
        }
        self.used.fetch_add(bytes, Ordering::Relaxed);
        Ok(Reservation {
            used: self.used.clone(),
            bytes,
        })
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back_on_drop() {
        let budget = BodyBudget::new(100);
        let a = budget.reserve(60).unwrap();
        let refused = budget.reserve(41).unwrap_err();
        assert_eq!(refused.status, 503);
        assert!(refused.headers.iter().any(|(n, _)| *n == "Retry-After"));
        let b = budget.reserve(40).unwrap();
        assert_eq!(budget.in_use(), 100);
        drop(a);
        assert_eq!(budget.in_use(), 40);
        assert!(budget.reserve(60).is_ok(), "dropped at once: room again");
        drop(b);
        assert_eq!(budget.in_use(), 0);
        assert!(budget.reserve(101).is_err(), "never more than the limit");
    }
}

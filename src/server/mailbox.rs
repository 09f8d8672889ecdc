//! A small multi-producer, single-consumer queue between threads: commands
//! from [`Handle`](super::Handle)s to the loop and the loop's answers back.
//! A `Mutex<VecDeque>` and a `Condvar`;
//! the same calls as `std::sync::mpsc`, at a fraction of its code (its
//! three channel flavours cost ~28 KiB of the 1 MiB binary budget).
//!
//! Only a handful of messages a second go through it, never on the fan-out
//! path, so a lock per message is no cost worth measuring.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiver: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Shared<T> {
    /// The state; a panic elsewhere while holding the lock leaves the queue
    /// itself consistent (every change is one push or pop), so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side; cloneable.
pub struct Sender<T>(Arc<Shared<T>>);

/// The receiving side.
pub struct Receiver<T>(Arc<Shared<T>>);

/// Why `try_recv` returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and every sender is gone.
    Disconnected,
}

/// `recv` found nothing queued, and every sender is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// A new, empty queue.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver: true,
        }),
        ready: Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `item`; gives it back when the receiver is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        let mut s = self.0.lock();
        if !s.receiver {
            return Err(item);
        }
        s.items.push_back(item);
        drop(s);
        self.0.ready.notify_one();
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.senders -= 1;
        let last = s.senders == 0;
        drop(s);
        if last {
            self.0.ready.notify_all();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item, if one is queued now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut s = self.0.lock();
        match s.items.pop_front() {
            Some(item) => Ok(item),
            None if s.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next item, waiting as long as a sender is left.
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut s = self.0.lock();
        loop {
            if let Some(item) = s.items.pop_front() {
                return Ok(item);
            }
            if s.senders == 0 {
                return Err(RecvError);
            }
            s = self.0.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.receiver = false;
        // What is still queued goes now: an answer nobody waits for, or a
        // command for a loop that has stopped.
        let items = std::mem::take(&mut s.items);
        drop(s);
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_across_threads() {
        let (tx, rx) = channel();
        let tx2 = tx.clone();
        let a = std::thread::spawn(move || (0..100).for_each(|i| tx.send(i).unwrap()));
        let b = std::thread::spawn(move || (100..200).for_each(|i| tx2.send(i).unwrap()));
        let mut got: Vec<i32> = (0..200).map(|_| rx.recv().unwrap()).collect();
        a.join().unwrap();
        b.join().unwrap();
        // Each sender's items keep their order.
        let (low, high): (Vec<i32>, Vec<i32>) = got.iter().partition(|&&i| i < 100);
        assert!(low.windows(2).all(|w| w[0] < w[1]));
        assert!(high.windows(2).all(|w| w[0] < w[1]));
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
        // Both senders are gone now.
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn empty_and_disconnected_are_told_apart() {
        let (tx, rx) = channel::<u8>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(7).unwrap();
        assert_eq!(rx.try_recv(), Ok(7));
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn a_blocked_receiver_wakes_when_the_last_sender_goes() {
        let (tx, rx) = channel::<u8>();
        let waiter = std::thread::spawn(move || rx.recv());
        drop(tx);
        assert_eq!(waiter.join().unwrap(), Err(RecvError));
    }

    #[test]
    fn sending_to_a_dropped_receiver_gives_the_item_back() {
        let (tx, rx) = channel();
        tx.send(String::from("queued")).unwrap();
        drop(rx);
        assert_eq!(tx.send(String::from("late")), Err(String::from("late")));
    }
}

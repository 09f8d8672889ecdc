//! Where the hub's ids come from: session ids (a device's only credential,
//! so random UUID v4 from the OS in a server) and connection ids. Injected
//! through [`Hub::with_ids`](super::Hub::with_ids) so a test can make them
//! predictable.

use std::fmt;

/// A source of fresh ids.
pub trait IdSource: Send + fmt::Debug {
    /// The next id; never one given before.
    fn next_id(&mut self) -> String;
}

/// Random UUID v4 ids from the OS random source (what servers use).
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&mut self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// Predictable ids in UUID v4 form for tests:
/// `00000000-0000-4000-8000-000000000001`, then `…0002`, and so on.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds(u64);

impl IdSource for SequentialIds {
    fn next_id(&mut self) -> String {
        self.0 += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_are_distinct_uuids() {
        let mut ids = SequentialIds::default();
        let (a, b) = (ids.next_id(), ids.next_id());
        assert_eq!(a, "00000000-0000-4000-8000-000000000001");
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&b).unwrap().get_version_num(), 4);
        let mut random = RandomIds;
        assert_ne!(random.next_id(), random.next_id());
    }
}

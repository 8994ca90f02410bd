use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Messages waiting for their delivery time at one destination.
///
/// Due messages come out in deadline order, ties in arrival order, so
/// constant latency keeps per-link FIFO while random latency reorders, as on
/// Maelstrom's network.
#[derive(Debug)]
pub struct DeliveryQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    seq: u64,
}

#[derive(Debug)]
struct Entry<T> {
    deadline: u64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl<T> Default for DeliveryQueue<T> {
    fn default() -> Self {
        DeliveryQueue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> DeliveryQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, deadline: u64, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            item,
        }));
    }

    /// The earliest deadline, if anything waits.
    pub fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Takes the next message whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<T> {
        if self.next_deadline()? <= now {
            self.heap.pop().map(|Reverse(e)| e.item)
        } else {
            None
        }
    }

    /// Takes everything, due or not (for teardown accounting).
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.heap.drain().map(|Reverse(e)| e.item)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_deadline_then_arrival_order() {
        let mut q = DeliveryQueue::new();
        q.push(30, "c");
        q.push(10, "a1");
        q.push(10, "a2");
        q.push(20, "b");
        assert_eq!(q.pop_due(5), None);
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(q.pop_due(25), Some("a1"));
        assert_eq!(q.pop_due(25), Some("a2"));
        assert_eq!(q.pop_due(25), Some("b"));
        assert_eq!(q.pop_due(25), None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.drain().collect::<Vec<_>>(), vec!["c"]);
        assert!(q.is_empty());
    }
}

//! Redis Cluster's key → hash slot mapping, computed here so that every command goes straight
//! to the node that serves its key: `CRC16(key) mod 16384` (CRC-16/XMODEM), where a key with a
//! non-empty `{...}` hashes only what is between its first `{` and the next `}` (its hash tag).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use super::NodeId;

/// The number of hash slots of a cluster.
pub const SLOTS: usize = 16_384;

/// Which node serves each slot of a cluster (empty for a standalone target). Writes running
/// at once share it, and each mends the one slot a `MOVED` names (`CLUSTER SHARDS` is read
/// again only by reads, which hold the target alone).
#[derive(Debug, Default)]
pub struct SlotMap {
    table: RwLock<Vec<Option<NodeId>>>,
    /// Every slot has a node: every key is served (a `MOVED` only ever names a node).
    whole: AtomicBool,
}

impl SlotMap {
    /// The map of `ranges`: `(first, last, node)`, inclusive.
    pub fn of_ranges(ranges: &[(u16, u16, usize)]) -> SlotMap {
        let mut table = vec![None; SLOTS];
        for &(first, last, node) in ranges {
            for entry in table
                .iter_mut()
                .take(usize::from(last) + 1)
                .skip(usize::from(first))
            {
                *entry = Some(NodeId(node));
            }
        }
        SlotMap {
            whole: AtomicBool::new(table.iter().all(Option::is_some)),
            table: RwLock::new(table),
        }
    }

    /// Whether every slot has a node, so that every key is served: the applier checks that
    /// each of its tens of thousands of operations routes somewhere before it writes.
    pub fn serves_every_slot(&self) -> bool {
        self.whole.load(Ordering::Relaxed)
    }

    /// No slots: not a cluster.
    pub fn is_empty(&self) -> bool {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// The node serving `key`'s slot (`None`: no node does), or `standalone` for an empty
    /// map (not a cluster). One look at the table per key: a plan asks for 10,000.
    pub fn key_owner_or(&self, key: &[u8], standalone: NodeId) -> Option<NodeId> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        if table.is_empty() {
            return Some(standalone);
        }
        table.get(usize::from(of(key))).copied().flatten()
    }

    /// The node serving `slot`, if any does.
    pub fn owner(&self, slot: u16) -> Option<NodeId> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.get(usize::from(slot)).copied().flatten()
    }

    /// `slot` moved to `node` (a `MOVED` said so).
    pub fn set(&self, slot: u16, node: NodeId) {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = table.get_mut(usize::from(slot)) {
            *entry = Some(node);
        }
        if !self.serves_every_slot() && table.iter().all(Option::is_some) {
            self.whole.store(true, Ordering::Relaxed);
        }
    }
}

/// The slot of `key`.
pub fn of(key: &[u8]) -> u16 {
    // The mask keeps the value below 16,384, which always fits.
    crc16(hash_tag(key)) & 0x3FFF
}

/// What a key hashes: its tag when it has a non-empty one, else the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(close) if close > 0 => &rest[..close],
        _ => key,
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0), a byte at a time from [`CRC_TABLE`]:
/// a plan on a cluster hashes every key it reads before its first batch goes out (bit by bit,
/// 10,000 keys took ~1 ms of that wait).
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &byte| {
        let index = usize::from((crc >> 8) as u8 ^ byte);
        (crc << 8) ^ CRC_TABLE[index]
    })
}

/// The CRC of each byte value, as the bitwise loop computes it (a test compares the two).
const CRC_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::{crc16, of};
    use proptest::prelude::*;

    /// CRC-16/XMODEM bit by bit, as the specification gives it.
    fn crc16_bitwise(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &byte in bytes {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    /// A map serves every slot when its ranges cover them all, or once a `MOVED` filled the
    /// last gap; an empty one (not a cluster) does not say so.
    #[test]
    fn every_slot_served_is_known() {
        use super::{NodeId, SLOTS, SlotMap};
        let last = (SLOTS - 1) as u16;
        assert!(SlotMap::of_ranges(&[(0, 100, 0), (101, last, 1)]).serves_every_slot());
        let gap = SlotMap::of_ranges(&[(0, 100, 0), (102, last, 1)]);
        assert!(!gap.serves_every_slot());
        assert_eq!(gap.key_owner_or(b"x", NodeId(9)), gap.owner(of(b"x")));
        gap.set(101, NodeId(1));
        assert!(gap.serves_every_slot());
        assert!(!SlotMap::default().serves_every_slot());
    }

    proptest! {
        /// The table gives what the bitwise loop gives, for any bytes.
        #[test]
        fn the_table_s_crc_is_the_bitwise_crc(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(crc16(&bytes), crc16_bitwise(&bytes));
        }
    }

    /// Slots measured with `CLUSTER KEYSLOT` on Redis 7.0.15 (the research notes, A2), and
    /// the cluster specification's example.
    #[test]
    fn slots_are_the_servers() {
        for (key, slot) in [
            ("rag:tasks", 1949),
            ("rag:results", 12481),
            ("agentic:rag:tasks", 1382),
            ("agentic:rag:dlq", 11952),
            ("rag:__topology__:record", 6960),
            ("__topology__:users", 3767),
            ("{rag}:tasks", 4658),
            ("{rag}:results", 4658),
            ("123456789", 0x31C3 & 0x3FFF),
        ] {
            assert_eq!(of(key.as_bytes()), slot, "{key}");
        }
    }

    /// A hash tag is the text between the first `{` and the next `}`, when not empty.
    #[test]
    fn hash_tags_as_the_specification_says() {
        assert_eq!(of(b"{user1000}.following"), of(b"user1000"));
        assert_eq!(
            of(b"foo{}{bar}"),
            of(b"foo{}{bar}"),
            "an empty tag: the whole key"
        );
        assert_ne!(of(b"foo{}{bar}"), of(b"bar"));
        assert_eq!(of(b"foo{{bar}}zap"), of(b"{bar"));
        assert_eq!(of(b"foo{bar}{zap}"), of(b"bar"));
        assert_eq!(
            of(b"{nope"),
            of(b"{nope"),
            "no closing brace: the whole key"
        );
    }
}

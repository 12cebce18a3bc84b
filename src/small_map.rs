//! [`SmallMap`]: a map for the few consumer groups of one stream.
//!
//! A `BTreeMap` allocates a node with room for eleven entries even for one or two, and a plan
//! of 10,000 streams holds three group maps per stream (declared, live, recorded): ~20 MB of
//! mostly empty nodes, and on the machines we measured, touching fresh memory is a large part
//! of a plan's time. A sorted vector of exactly the entries does the same job in a tenth of
//! the memory, and for a handful of entries a binary search is as fast as a tree.
//!
//! It offers the part of `BTreeMap`'s API the tool uses, with the same meaning: iteration in
//! key order, `insert` replacing an existing value, equality of contents, and (de)serializing
//! as a JSON object.

use std::borrow::Borrow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// A map kept as a vector sorted by key, without duplicate keys.
#[derive(Clone, PartialEq, Eq)]
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Room for exactly `additional` more entries: a map grown by inserts starts with room
    /// for four, and the record of 100,000 streams with two groups each wasted 10 MB so.
    pub fn reserve_exact(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
    }

    fn position<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let index = self.position(key).ok()?;
        self.entries.get(index).map(|(_, v)| v)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).is_ok()
    }

    /// Insert or replace; returns the value replaced, as `BTreeMap::insert` does.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(index) => Some(std::mem::replace(&mut self.entries[index].1, value)),
            Err(index) => {
                self.entries.insert(index, (key, value));
                None
            }
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// Later entries win over earlier ones with the same key, as when collecting a `BTreeMap`.
impl<K: Ord, V> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().collect();
        sort_keeping_last(&mut entries);
        SmallMap {
            entries: exactly_sized(entries),
        }
    }
}

/// `items` in an allocation of their size. Not `shrink_to_fit`: the allocator (mimalloc)
/// leaves a block shrunk to half its size or more where it is, so a map of two groups read
/// from JSON (grown by pushes, with room for four) kept the room: 10 MB in a record of
/// 100,000 streams.
fn exactly_sized<T>(items: Vec<T>) -> Vec<T> {
    if items.capacity() == items.len() {
        return items;
    }
    let mut exact = Vec::with_capacity(items.len());
    exact.extend(items);
    exact
}

/// Sort `entries` by key and keep, of equal keys, the last one: what inserting them one by
/// one into a map leaves. In place (a record of 10,000 streams has 10,000 small maps).
fn sort_keeping_last<K: Ord, V>(entries: &mut Vec<(K, V)>) {
    // Stable: equal keys keep their order. Of equal keys, the later value is moved into the
    // earlier entry, which is the one kept.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Serialize, V: Serialize> Serialize for SmallMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, K, V> Deserialize<'de> for SmallMap<K, V>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(deserialize_entries(deserializer)?.into_iter().collect())
    }
}

/// A map's entries, as they come (duplicates and all): for maps built from them in one go.
pub fn deserialize_entries<'de, D, K, V>(deserializer: D) -> Result<Vec<(K, V)>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    struct EntriesVisitor<K, V>(std::marker::PhantomData<(K, V)>);

    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<K, V> {
        type Value = Vec<(K, V)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
            while let Some(entry) = access.next_entry()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }

    deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::SmallMap;

    /// Read from JSON (no size given, so grown by pushes), a map keeps no more room than
    /// its entries take.
    #[test]
    fn a_map_read_from_json_takes_the_room_of_its_entries() {
        for (json, len) in [(r#"{"b":1,"a":2}"#, 2), (r#"{"a":1}"#, 1), ("{}", 0)] {
            let map: SmallMap<String, u8> = serde_json::from_str(json).expect("a map");
            assert_eq!(map.len(), len);
            assert_eq!(map.entries.capacity(), len, "{json}");
        }
    }

    proptest! {
        /// Whatever is inserted or collected, a SmallMap answers as a BTreeMap would.
        #[test]
        fn behaves_as_a_btreemap(
            collected in proptest::collection::vec((0u8..20, any::<u16>()), 0..12),
            inserted in proptest::collection::vec((0u8..20, any::<u16>()), 0..12),
        ) {
            let mut small: SmallMap<u8, u16> = collected.iter().copied().collect();
            let mut tree: BTreeMap<u8, u16> = collected.iter().copied().collect();
            for (k, v) in &inserted {
                prop_assert_eq!(small.insert(*k, *v), tree.insert(*k, *v));
            }
            prop_assert_eq!(small.len(), tree.len());
            prop_assert_eq!(small.iter().collect::<Vec<_>>(), tree.iter().collect::<Vec<_>>());
            for k in 0u8..20 {
                prop_assert_eq!(small.get(&k), tree.get(&k));
                prop_assert_eq!(small.contains_key(&k), tree.contains_key(&k));
            }
            let json = serde_json::to_string(&small.iter().map(|(k, v)| (k.to_string(), *v)).collect::<SmallMap<String, u16>>()).unwrap();
            let tree_json = serde_json::to_string(&tree.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<String, u16>>()).unwrap();
            prop_assert_eq!(&json, &tree_json);
            let back: SmallMap<String, u16> = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.len(), tree.len());
        }
    }

    #[test]
    fn deserializing_a_duplicate_key_keeps_the_last_value() {
        let map: SmallMap<String, u8> =
            serde_json::from_str(r#"{"b": 1, "a": 2, "b": 3}"#).unwrap();
        assert_eq!(map.get("b"), Some(&3));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b"]);
    }
}

//! A typed slab: values in numbered slots that are reused once freed, each addressed by a key
//! type of its own so that a flow's key cannot index the transfers.
//!
//! Slot reuse is part of a run's behaviour (keys order sets and break ties), so it is fixed:
//! an insert takes the most recently freed slot, or a new one at the end when none is free.
//!
//! ```
//! use servesim_core::define_key;
//! use servesim_core::slab::{Key, Slab};
//!
//! define_key! {
//!     /// A seat at the table.
//!     pub struct Seat(u32);
//! }
//!
//! let mut seats: Slab<Seat, &str> = Slab::new();
//! let ada = seats.insert("Ada");
//! let bob = seats.insert("Bob");
//! assert_eq!(seats.remove(ada), Some("Ada"));
//! let cy = seats.insert("Cy"); // takes Ada's seat, the last one freed
//! assert_eq!((cy, cy.index()), (ada, 0));
//! assert_eq!(seats[bob], "Bob");
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// A typed slot number: the key of one kind of value in a [`Slab`] (see [`define_key!`](crate::define_key)).
pub trait Key: Copy {
    /// The key of slot `index`.
    fn from_index(index: usize) -> Self;
    /// The slot this key names.
    fn index(self) -> usize;
}

/// Defines a key newtype over an unsigned integer, implementing [`Key`] and the traits ids
/// need (copy, equality, order and hash of the integer, so sets of keys iterate in slot order).
///
/// ```
/// servesim_core::define_key! {
///     /// A flow of the network (private field: only a slab makes one).
///     pub struct FlowId(u32);
/// }
/// servesim_core::define_key! {
///     /// A request handle the world makes from its own slots.
///     pub struct Handle(pub u64);
/// }
/// ```
#[macro_export]
macro_rules! define_key {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($field_vis:vis $repr:ty);) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis struct $name($field_vis $repr);

        impl $crate::slab::Key for $name {
            #[inline]
            fn from_index(index: usize) -> Self {
                $name(<$repr>::try_from(index).expect(concat!(
                    "more slots than ",
                    stringify!($name),
                    " can name"
                )))
            }

            #[inline]
            fn index(self) -> usize {
                usize::try_from(self.0).expect("a slot number fits in usize")
            }
        }
    };
}

/// Values of type `V` in reusable slots, addressed by keys of type `K`.
///
/// Freed slots go on a stack: an insert reuses the most recently freed slot, else appends one.
/// Memory follows the most values ever held at once, not how many were ever inserted.
pub struct Slab<K, V> {
    slots: Vec<Option<V>>,
    free: Vec<usize>,
    key: PhantomData<fn() -> K>,
}

impl<K: Key, V> Slab<K, V> {
    /// An empty slab.
    pub const fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            key: PhantomData,
        }
    }

    /// Stores `value` in the most recently freed slot, or a new one, and returns its key.
    pub fn insert(&mut self, value: V) -> K {
        match self.free.pop() {
            Some(index) => {
                debug_assert!(self.slots[index].is_none(), "a free slot is empty");
                self.slots[index] = Some(value);
                K::from_index(index)
            }
            None => {
                let key = K::from_index(self.slots.len());
                self.slots.push(Some(value));
                key
            }
        }
    }

    /// Takes the value out of its slot and frees the slot; `None` (changing nothing) if the
    /// slot holds no value.
    pub fn remove(&mut self, key: K) -> Option<V> {
        let index = key.index();
        let value = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        Some(value)
    }

    /// The value under `key`, if its slot holds one.
    pub fn get(&self, key: K) -> Option<&V> {
        self.slots.get(key.index())?.as_ref()
    }

    /// The value under `key`, mutably, if its slot holds one.
    pub fn get_mut(&mut self, key: K) -> Option<&mut V> {
        self.slots.get_mut(key.index())?.as_mut()
    }

    /// Whether the slot of `key` holds a value.
    pub fn contains(&self, key: K) -> bool {
        self.get(key).is_some()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots made so far, held or free: the length of dense tables indexed by key.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The values held and their keys, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (K::from_index(i), v)))
    }

    /// The values held, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.slots.iter().flatten()
    }
}

impl<K: Key, V> Default for Slab<K, V> {
    fn default() -> Self {
        Slab::new()
    }
}

impl<K, V: Clone> Clone for Slab<K, V> {
    fn clone(&self) -> Self {
        Slab {
            slots: self.slots.clone(),
            free: self.free.clone(),
            key: PhantomData,
        }
    }
}

impl<K: Key + fmt::Debug, V: fmt::Debug> fmt::Debug for Slab<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Key, V> Index<K> for Slab<K, V> {
    type Output = V;

    /// The value under `key`; panics if its slot holds none (a key used after its removal).
    fn index(&self, key: K) -> &V {
        self.get(key).expect("a slab key names a held value")
    }
}

impl<K: Key, V> IndexMut<K> for Slab<K, V> {
    fn index_mut(&mut self, key: K) -> &mut V {
        self.get_mut(key).expect("a slab key names a held value")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    define_key! {
        /// A test key.
        struct Id(u32);
    }

    #[test]
    fn freed_slots_are_reused_last_freed_first() {
        let mut s: Slab<Id, char> = Slab::new();
        let keys: Vec<Id> = "abcd".chars().map(|c| s.insert(c)).collect();
        assert_eq!(
            keys.iter().map(|k| k.index()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(s.remove(keys[1]), Some('b'));
        assert_eq!(s.remove(keys[3]), Some('d'));
        assert_eq!(s.remove(keys[3]), None, "a second removal changes nothing");
        assert_eq!((s.len(), s.slot_count()), (2, 4));
        assert_eq!(s.insert('x'), keys[3]);
        assert_eq!(s.insert('y'), keys[1]);
        assert_eq!(s.insert('z').index(), 4);
        let held: Vec<(usize, char)> = s.iter().map(|(k, &v)| (k.index(), v)).collect();
        assert_eq!(held, [(0, 'a'), (1, 'y'), (2, 'c'), (3, 'x'), (4, 'z')]);
        s[keys[0]] = 'A';
        assert_eq!(s.values().collect::<String>(), "Aycxz");
    }

    #[test]
    fn missing_keys_read_as_none() {
        let mut s: Slab<Id, u8> = Slab::default();
        assert!(s.is_empty());
        let far = Id::from_index(7);
        assert_eq!(s.get(far), None);
        assert_eq!(s.get_mut(far), None);
        assert_eq!(s.remove(far), None);
        let k = s.insert(1);
        assert!(s.contains(k));
        s.remove(k);
        assert!(!s.contains(k) && s.is_empty());
        assert_eq!(format!("{:?}", s), "{}");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16),
        Remove(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                any::<u16>().prop_map(Op::Insert),
                (0usize..24).prop_map(Op::Remove),
            ],
            0..200,
        )
    }

    proptest! {
        /// Against a naive model: a map of slot → value and a stack of the slots freed.
        #[test]
        fn behaves_as_a_map_with_a_stack_of_free_slots(ops in ops()) {
            let mut slab: Slab<Id, u16> = Slab::new();
            let mut held: BTreeMap<usize, u16> = BTreeMap::new();
            let mut freed: Vec<usize> = Vec::new();
            let mut made = 0usize;
            for op in ops {
                match op {
                    Op::Insert(v) => {
                        let want = freed.pop().unwrap_or_else(|| { made += 1; made - 1 });
                        held.insert(want, v);
                        prop_assert_eq!(slab.insert(v).index(), want);
                    }
                    Op::Remove(i) => {
                        let want = held.remove(&i);
                        if want.is_some() {
                            freed.push(i);
                        }
                        prop_assert_eq!(slab.remove(Id::from_index(i)), want);
                    }
                }
                prop_assert_eq!(slab.len(), held.len());
                prop_assert_eq!(slab.slot_count(), made);
                let got: Vec<(usize, u16)> = slab.iter().map(|(k, &v)| (k.index(), v)).collect();
                let want: Vec<(usize, u16)> = held.iter().map(|(&k, &v)| (k, v)).collect();
                prop_assert_eq!(got, want);
                for i in 0..24 {
                    prop_assert_eq!(slab.get(Id::from_index(i)), held.get(&i));
                }
            }
        }
    }
}

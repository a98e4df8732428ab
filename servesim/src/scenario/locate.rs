//! Where a field is in the user's own file: the line and column of the value at a field path
//! (`cluster.pools[0].tp`), so that an error found after parsing (a value out of range, an
//! unknown model) points into the text the user wrote, as a parse error does.
//!
//! The YAML parser attaches the position of a value to any error its visitor raises; a walk
//! down the path that refuses the value it reaches gets that value's position, without a
//! second parser.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

/// The steps of a path as errors write it (`a.b[2].c`); `None` when it is not one.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        out.push(Step::Field(name.to_string()));
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']')?;
            out.push(Step::Index(index.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

/// The message of the error raised on reaching the value.
const FOUND: &str = "\u{0}servesim: found";

/// A walk down the steps left; at the end, the value (`false`) or its key (`true`), the
/// key's first occurrence in its map or (`usize` of them skipped) a later one.
struct Seek<'a>(&'a [Step], bool, usize);

/// A map key that, when it is the name sought, refuses itself (its position is the key's)
/// if `true`, else says it matched.
struct Key<'a>(&'a str, bool);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match (v == self.0, self.1) {
            (true, true) => Err(E::custom(FOUND)),
            (matched, _) => Ok(matched),
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            // An error a visitor of the value raises carries the position of the value.
            return d.deserialize_any(Found);
        }
        d.deserialize_any(self)
    }
}

/// A visitor that refuses every value: its error says [`FOUND`] (serde's "invalid type"
/// message names what the visitor expects).
struct Found;

impl Visitor<'_> for Found {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FOUND)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Field(name), rest)) = self.0.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        if rest.is_empty() && self.1 {
            let mut skip = self.2;
            while let Some(matched) = map.next_key_seed(Key(name, skip == 0))? {
                skip -= usize::from(matched);
                map.next_value::<IgnoredAny>()?;
            }
            return Ok(());
        }
        while let Some(key) = map.next_key::<serde_norway::Value>()? {
            if key.as_str() == Some(name) {
                return map.next_value_seed(Seek(rest, self.1, self.2));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(i), rest)) = self.0.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        for _ in 0..*i {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Seek(rest, self.1, self.2))
            .map(|_| ())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The line and column (from 1) of the value at `path` in the YAML (or JSON) `text`; `None`
/// when the path is not a field path or the text does not hold it (a default left out).
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    seek(text, path, false, 0)
}

/// The line and column of the key of the field at `path` (an unknown field is its key).
pub fn locate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    seek(text, path, true, 0)
}

/// The line and column of the second key of the field at `path`, written twice.
pub fn locate_duplicate_key(text: &str, path: &str) -> Option<(usize, usize)> {
    seek(text, path, true, 1)
}

fn seek(text: &str, path: &str, key: bool, skip: usize) -> Option<(usize, usize)> {
    let steps = steps(path)?;
    let de = serde_norway::Deserializer::from_str(text);
    let err = Seek(&steps, key, skip).deserialize(de).err()?;
    if !err.to_string().contains(FOUND) {
        return None;
    }
    let at = err.location()?;
    Some((at.line(), at.column()))
}

/// The field path an error message starts with (`cluster.pools[1].tp: …` →
/// `cluster.pools[1].tp`), when it starts with one.
pub fn leading_path(message: &str) -> Option<&str> {
    let (path, _) = message.split_once(": ")?;
    steps(path).map(|_| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: t\nseed: 1\ncluster:\n  nodes: 1\n  pools:\n    - {name: a, tp: 1}\n    - name: b\n      tp: 3\ntraffic: {streams: []}\n";

    #[test]
    fn values_are_found_where_they_are_written() {
        assert_eq!(locate(TEXT, "seed"), Some((2, 7)));
        assert_eq!(locate(TEXT, "cluster.pools[0].tp"), Some((6, 21)));
        assert_eq!(locate(TEXT, "cluster.pools[1].tp"), Some((8, 11)));
        assert_eq!(locate(TEXT, "cluster.pools[1]"), Some((7, 7)));
        assert_eq!(locate(TEXT, "cluster"), Some((4, 3)));
        assert_eq!(locate_key(TEXT, "cluster.pools[1].tp"), Some((8, 7)));
        assert_eq!(locate_key(TEXT, "seed"), Some((2, 1)));
        assert_eq!(locate(TEXT, "traffic.streams"), Some((9, 20)));
    }

    #[test]
    fn what_is_not_written_is_not_found() {
        assert_eq!(locate(TEXT, "duration_s"), None);
        assert_eq!(locate(TEXT, "cluster.pools[2].tp"), None);
        assert_eq!(locate(TEXT, "seed.x"), None);
        assert_eq!(locate(TEXT, "not a path"), None);
        assert_eq!(locate("a: [", "b"), None);
    }

    #[test]
    fn messages_name_their_path_first() {
        assert_eq!(
            leading_path("cluster.pools[1].tp: 3 is not a power of two"),
            Some("cluster.pools[1].tp")
        );
        assert_eq!(leading_path("model: unknown model `x`"), Some("model"));
        assert_eq!(leading_path("unknown model `x` (known: a, b)"), None);
    }
}

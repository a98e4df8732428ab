//! Reading a [`Fabric`] in each form a scenario may write it: the name `single_switch`, the
//! map `two_level: {nodes_per_leaf, oversubscription}` (what the JSON schema and JSON
//! documents give, and what the fabric serializes to in JSON), or YAML's tagged
//! `!two_level {…}` (what it serializes to in YAML).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, VariantAccess, Visitor};

use super::topology::Fabric;

const VARIANTS: &[&str] = &["single_switch", "two_level"];

/// The fields of [`Fabric::TwoLevel`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TwoLevel {
    nodes_per_leaf: u32,
    oversubscription: f64,
}

impl From<TwoLevel> for Fabric {
    fn from(t: TwoLevel) -> Fabric {
        Fabric::TwoLevel {
            nodes_per_leaf: t.nodes_per_leaf,
            oversubscription: t.oversubscription,
        }
    }
}

const TWO_LEVEL_NEEDS: &str =
    "two_level needs its leaves: `two_level: {nodes_per_leaf: N, oversubscription: X}`";

struct FabricVisitor;

impl<'de> Visitor<'de> for FabricVisitor {
    type Value = Fabric;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("`single_switch` or `two_level: {nodes_per_leaf: N, oversubscription: X}`")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Fabric, E> {
        match name {
            "single_switch" => Ok(Fabric::SingleSwitch),
            "two_level" => Err(E::custom(TWO_LEVEL_NEEDS)),
            _ => Err(E::unknown_variant(name, VARIANTS)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fabric, A::Error> {
        let Some(name) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format!(
                "an empty map: {TWO_LEVEL_NEEDS}"
            )));
        };
        let fabric = match name.as_str() {
            "two_level" => map.next_value::<TwoLevel>()?.into(),
            "single_switch" => {
                return Err(de::Error::custom(
                    "single_switch takes no settings: write `fabric: single_switch`",
                ));
            }
            _ => return Err(de::Error::unknown_variant(&name, VARIANTS)),
        };
        if let Some(more) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "one fabric only: `{more}` follows `{name}`"
            )));
        }
        Ok(fabric)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Fabric, A::Error> {
        let (name, variant) = data.variant::<String>()?;
        match name.as_str() {
            "single_switch" => variant.unit_variant().map(|()| Fabric::SingleSwitch),
            "two_level" => variant.newtype_variant::<TwoLevel>().map(Fabric::from),
            _ => Err(de::Error::unknown_variant(&name, VARIANTS)),
        }
    }
}

impl<'de> Deserialize<'de> for Fabric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fabric, D::Error> {
        d.deserialize_any(FabricVisitor)
    }
}

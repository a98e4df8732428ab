//! Closed sets of named values (trace formats, planner policies, profiler modes): each lists
//! its values once, names each once, and every parser and "one of …" message reads that.
//! [`named_enum!`](crate::named_enum) declares such an enum with each variant's name beside
//! it, so that no list can leave a variant out.

use std::fmt;

/// A closed set of values, each with the one name users write.
pub trait Named: Copy + 'static {
    /// Every value, in the order they are listed to users.
    const ALL: &'static [Self];

    /// The value's name.
    fn name(self) -> &'static str;

    /// The value named `name`, or an error listing the known names.
    fn parse_name(name: &str) -> Result<Self, NotOneOf> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == name)
            .ok_or_else(|| NotOneOf {
                name: name.to_string(),
                known: Self::names(),
            })
    }

    /// Every name, comma-separated, in [`Named::ALL`]'s order.
    fn names() -> String {
        Self::ALL
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A name that is none of a set's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotOneOf {
    /// The name given.
    pub name: String,
    /// The known names, comma-separated.
    pub known: String,
}

impl fmt::Display for NotOneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not one of {}", self.name, self.known)?;
        match crate::suggest::closest(&self.name, self.known.split(", ")) {
            Some(best) => write!(f, "; did you mean '{best}'?"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for NotOneOf {}

/// Declares an enum whose variants each carry their name (`Variant => "name"`), and
/// implements [`Named`] (its `ALL` lists every variant, in order), `Display` (the name) and
/// `FromStr` (through [`Named::parse_name`]) for it, plus a `const fn as_str`. Attributes and
/// docs on the enum and its variants are kept (a serde spelling, for instance).
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The name users write.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl $crate::Named for $name {
            const ALL: &'static [Self] = &[$( $name::$variant ),+];

            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::NotOneOf;

            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::NotOneOf> {
                <$name as $crate::Named>::parse_name(s)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::named_enum! {
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Colour {
            Red => "red",
            DarkBlue => "dark-blue",
        }
    }

    #[test]
    fn every_name_parses_back_and_others_list_the_known_ones() {
        for &c in Colour::ALL {
            assert_eq!(Colour::parse_name(c.name()), Ok(c));
        }
        let e = Colour::parse_name("green").unwrap_err();
        assert_eq!(e.to_string(), "'green' is not one of red, dark-blue");
        assert_eq!(e.known, Colour::names());
        assert_eq!("dark-blue".parse::<Colour>(), Ok(Colour::DarkBlue));
        assert_eq!(Colour::Red.to_string(), "red");
    }
}

//! Closed sets of named values (trace formats, planner policies, profiler modes): each lists
//! its values once, names each once, and every parser and "one of …" message reads that.

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
        write!(f, "'{}' is not one of {}", self.name, self.known)
    }
}

impl std::error::Error for NotOneOf {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Colour {
        Red,
        DarkBlue,
    }

    impl Named for Colour {
        const ALL: &'static [Self] = &[Colour::Red, Colour::DarkBlue];

        fn name(self) -> &'static str {
            match self {
                Colour::Red => "red",
                Colour::DarkBlue => "dark-blue",
            }
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
    }
}

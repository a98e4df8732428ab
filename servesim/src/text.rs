//! Small pieces of English shared by what the command line and the reports print.

/// `n` and the noun, plural unless `n` is 1: `1 seed`, `0 seeds`, `20 seeds`. Every noun
/// the reports count takes a plain `s`.
pub fn counted(n: u64, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {noun}{s}")
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1, "seed"), "1 seed");
        assert_eq!(counted(0, "row"), "0 rows");
        assert_eq!(counted(20, "pool change"), "20 pool changes");
    }
}

//! Names as users type them (`H100`, `NVIDIA H100 80GB HBM3`, `llama-8b`) resolved to the
//! catalog's names, only where one name fits: a short form that fits several is an error
//! listing them, never a silent pick.
//!
//! A name is read as a set of words: lower case, split at anything not a letter, digit or
//! dot, and where a word that starts with three or more letters meets a digit (`qwen3` →
//! `qwen`, `3`; `llama3.1` → `llama`, `3.1`; but `v3`, `gb200`, `a22b`, `8b` stay whole). A short form fits a
//! catalog name when it keeps the catalog name's first word (the family: `llama`, `h100`)
//! and all its words are among the catalog name's.

use std::collections::BTreeSet;

use crate::error::{ModelsError, Result};

/// The words of `name` (see the module's documentation), in order.
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name
        .to_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|p| p.trim_matches('.'))
        .filter(|p| !p.is_empty())
    {
        let chars: Vec<char> = part.chars().collect();
        let mut start = 0;
        let mut letters = 0;
        for (i, &c) in chars.iter().enumerate() {
            if c.is_ascii_alphabetic() {
                letters += 1;
            } else {
                if c.is_ascii_digit() && letters >= 3 && i > start && i == start + letters {
                    out.push(chars[start..i].iter().collect());
                    start = i;
                }
                letters = 0;
            }
        }
        out.push(chars[start..].iter().collect());
    }
    out
}

/// One catalog name and the word sets it is known by.
pub struct Entry<'a> {
    /// The catalog's name.
    pub name: &'a str,
    /// The word sets of its names (the catalog name's, and any other it answers to).
    pub forms: Vec<Vec<String>>,
}

/// The catalog names that the short form with words `query` fits.
pub fn fits<'a>(query: &[String], entries: &[Entry<'a>]) -> Vec<&'a str> {
    let q: BTreeSet<&str> = query.iter().map(String::as_str).collect();
    entries
        .iter()
        .filter(|e| {
            e.forms.iter().any(|f| {
                let words: BTreeSet<&str> = f.iter().map(String::as_str).collect();
                f.first().is_some_and(|head| q.contains(head.as_str())) && q.is_subset(&words)
            })
        })
        .map(|e| e.name)
        .collect()
}

/// The one catalog name the short form `given` (read as `query`) fits: an error naming
/// the candidates when it fits several, and the known names (with the closest as a
/// suggestion) when it fits none.
pub fn resolve<'a>(
    what: &'static str,
    given: &str,
    query: &[String],
    entries: &[Entry<'a>],
    known: String,
) -> Result<&'a str> {
    let found = fits(query, entries);
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            let close = servesim_core::suggest::closest(given, entries.iter().map(|e| e.name));
            Err(ModelsError::UnknownName {
                what,
                name: given.to_string(),
                known: match close {
                    Some(c) => format!("{known}; did you mean `{c}`?"),
                    None => known,
                },
            })
        }
        many => Err(ModelsError::AmbiguousName {
            what,
            name: given.to_string(),
            candidates: many.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        words(s)
    }

    #[test]
    fn names_split_into_words_at_separators_and_family_digits() {
        assert_eq!(w("Llama-3.1-8B"), ["llama", "3.1", "8b"]);
        assert_eq!(w("llama3.1_8b"), ["llama", "3.1", "8b"]);
        assert_eq!(w("Qwen3-235B-A22B"), ["qwen", "3", "235b", "a22b"]);
        assert_eq!(w("DeepSeek-V3"), ["deepseek", "v3"]);
        assert_eq!(w("NVIDIA H100 80GB"), ["nvidia", "h100", "80gb"]);
        assert_eq!(w("Mixtral-8x7B"), ["mixtral", "8x7b"]);
        assert_eq!(w(" gb200 "), ["gb200"]);
    }

    fn entries() -> Vec<Entry<'static>> {
        ["Llama-3.1-8B", "Llama-3.1-70B", "Qwen3-32B"]
            .into_iter()
            .map(|n| Entry {
                name: n,
                forms: vec![words(n)],
            })
            .collect()
    }

    #[test]
    fn a_short_form_resolves_only_where_one_name_fits() {
        let r = |s: &str| resolve("model", s, &words(s), &entries(), "all".into());
        assert_eq!(r("llama-8b").unwrap(), "Llama-3.1-8B");
        assert_eq!(r("Llama 3.1 70B").unwrap(), "Llama-3.1-70B");
        assert_eq!(r("qwen-32b").unwrap(), "Qwen3-32B");
        let e = r("llama-3.1").unwrap_err().to_string();
        assert!(
            e.contains("ambiguous") && e.contains("Llama-3.1-8B, Llama-3.1-70B"),
            "{e}"
        );
        // The family must be named: a size alone is no name.
        assert!(matches!(r("8b"), Err(ModelsError::UnknownName { .. })));
        // A version that is not the catalog's is another model.
        assert!(matches!(
            r("llama-3-8b"),
            Err(ModelsError::UnknownName { .. })
        ));
        let e = r("lama-3.1-8b").unwrap_err().to_string();
        assert!(e.contains("did you mean `Llama-3.1-8B`?"), "{e}");
    }
}

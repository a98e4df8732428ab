//! "Did you mean …?": the known name closest to a mistyped one, for error messages.

/// Edit distance (Levenshtein) between `a` and `b`, by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word` (case-insensitive): the one name that is `word` with a
/// suffix after an underscore (a unit left out: `passenger_rate` for `passenger_rate_per_s`),
/// else the nearest when close enough to be a typo, at most a third of the word's letters
/// apart (at least one). Ties go to the first listed.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let stem = format!("{w}_");
    let mut suffixed = candidates
        .iter()
        .filter(|c| c.to_lowercase().starts_with(&stem));
    if let (Some(&only), None) = (suffixed.next(), suffixed.next()) {
        return Some(only);
    }
    let most = (w.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&w, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= most)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Rust's type names in serde messages, as a user reads them.
const PLAIN_TYPES: [(&str, &str); 12] = [
    // With the most each holds: a value past it reads as out of range, not as negative.
    ("u8", "a whole number from 0 to 255"),
    ("u16", "a whole number from 0 to 65535"),
    ("u32", "a whole number from 0 to 4294967295"),
    ("u64", "a whole number from 0 to 18446744073709551615"),
    ("usize", "a whole number from 0 to 18446744073709551615"),
    ("i32", "a whole number"),
    ("i64", "a whole number"),
    ("f32", "a number"),
    ("f64", "a number"),
    ("bool", "true or false"),
    ("char", "a single character"),
    ("String", "a string"),
];

/// `message` with Rust's type names after `expected` (``expected u32``, ``expected struct
/// PoolConfig``, ``expected enum Role``) said in words: a user wrote YAML, not Rust.
pub fn plain_types(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("expected ") {
        let (before, after) = rest.split_at(at + "expected ".len());
        out.push_str(before);
        let word_end = |s: &str| {
            s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len())
        };
        let end = word_end(after);
        let word = &after[..end];
        if let Some((_, plain)) = PLAIN_TYPES.iter().find(|(t, _)| *t == word) {
            out.push_str(plain);
            rest = &after[end..];
        } else if let Some(kind) = ["struct ", "enum ", "internally tagged enum "]
            .into_iter()
            .find(|k| after.starts_with(k))
        {
            let name = &after[kind.len()..];
            let name_end = word_end(name);
            out.push_str(match kind {
                "struct " => "a section of fields",
                "enum " => "one of its allowed values",
                _ => "a section with its `kind:`",
            });
            rest = &name[name_end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A serde message of an unknown field or variant (``unknown field `worker`, expected one of
/// `name`, `workers` ``) with a suggestion appended (``; did you mean `workers`?``) when one
/// of the expected names is close; any other message unchanged
/// but for its Rust type names ([`plain_types`]).
pub fn with_suggestion(message: &str) -> String {
    let message = &plain_types(message);
    let Some((word, expected)) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|lead| message.split_once(lead))
        .and_then(|(_, rest)| rest.split_once('`'))
    else {
        return message.to_string();
    };
    // The expected names are the backquoted words after the unknown one.
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(word, names) {
        Some(best) if best != word => {
            // Keep serde's trailing position (` at line L column C`) last.
            match message.rfind(" at line ") {
                Some(at) => format!(
                    "{}; did you mean `{best}`?{}",
                    &message[..at],
                    &message[at..]
                ),
                None => format!("{message}; did you mean `{best}`?"),
            }
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        assert_eq!(
            closest("worker", ["name", "workers", "tp"]),
            Some("workers")
        );
        assert_eq!(closest("TP", ["name", "tp"]), Some("tp"));
        assert_eq!(closest("banana", ["name", "workers", "tp"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_name_written_without_its_unit_gets_the_one_with_it() {
        let airline = [
            "passenger_rate_per_s",
            "passenger_start_s",
            "passenger_class",
        ];
        assert_eq!(
            closest("passenger_rate", airline),
            Some("passenger_rate_per_s")
        );
        assert_eq!(
            closest("duration", ["duration_s", "seed"]),
            Some("duration_s")
        );
        // Several names go on from it: none is the one, and the nearest is not close.
        assert_eq!(closest("passenger", airline), None);
    }

    #[test]
    fn serde_messages_get_a_suggestion_before_their_position() {
        let m = "unknown field `worker`, expected one of `name`, `role`, `workers` at line 10 column 45";
        assert_eq!(
            with_suggestion(m),
            "unknown field `worker`, expected one of `name`, `role`, `workers`; did you mean \
             `workers`? at line 10 column 45"
        );
        let v = "unknown variant `agregated`, expected `prefill` or `aggregated`";
        assert!(with_suggestion(v).ends_with("; did you mean `aggregated`?"));
        assert_eq!(
            with_suggestion("invalid type: string"),
            "invalid type: string"
        );
        let far = "unknown field `zzz`, expected `name`";
        assert_eq!(with_suggestion(far), far);
    }

    #[test]
    fn rust_type_names_are_said_in_words() {
        assert_eq!(
            with_suggestion("invalid type: string \"three\", expected u32 at line 11 column 41"),
            "invalid type: string \"three\", expected a whole number from 0 to 4294967295 at \
             line 11 column 41"
        );
        assert_eq!(
            plain_types("invalid type: string \"x\", expected struct SloConfig"),
            "invalid type: string \"x\", expected a section of fields"
        );
        assert_eq!(
            plain_types("invalid type: sequence, expected internally tagged enum FaultEvent"),
            "invalid type: sequence, expected a section with its `kind:`"
        );
        assert_eq!(plain_types("expected f64"), "expected a number");
        assert_eq!(plain_types("expected u64x"), "expected u64x");
        assert_eq!(
            plain_types("expected `ttft_ms` or `itl_ms`"),
            "expected `ttft_ms` or `itl_ms`"
        );
    }
}

//! "Did you mean …?": the known name closest to a mistyped one, for error messages.

/// Edit distance (Levenshtein) between `a` and `b`, by characters.
fn distance(a: &str, b: &str) -> usize {
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

/// The candidate closest to `word` (case-insensitive), when it is close enough to be a typo:
/// at most a third of the word's letters apart (at least one). Ties go to the first listed.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_lowercase();
    let most = (w.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&w, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= most)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// A serde message of an unknown field or variant (``unknown field `worker`, expected one of
/// `name`, `workers` ``) with a suggestion appended (``; did you mean `workers`?``) when one
/// of the expected names is close; any other message unchanged.
pub fn with_suggestion(message: &str) -> String {
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
}

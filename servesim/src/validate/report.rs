//! The errors of a validation: the MAPE table the CLI prints, and the Markdown report
//! (`--report`) by backend × model × GPU × mode × concurrency band that `docs/fidelity.md`
//! is generated from.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::text::counted;

use super::{Averaged, RecipeClient, RowSpec, Validation};

/// Mean absolute percentage errors of a group of rows, each figure over the rows that
/// have it measured and predicted (a one-token answer has a TTFT and no TPOT), as the
/// `--report` tables count them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Mape {
    /// Rows with a figure measured and predicted.
    pub rows: usize,
    /// TTFT MAPE, % (`None` where no row measured and predicted a TTFT).
    pub ttft_pct: Option<f64>,
    /// TPOT MAPE, % (likewise).
    pub tpot_pct: Option<f64>,
    /// Rows the TTFT MAPE is over.
    pub ttft_rows: usize,
    /// Rows the TPOT MAPE is over.
    pub tpot_rows: usize,
}

/// The errors of (measured, predicted) TTFT and TPOT pairs; `rows` the rows with either.
pub(super) fn mape(ttft: &[(f64, f64)], tpot: &[(f64, f64)], rows: usize) -> Mape {
    let ape = |pairs: &[(f64, f64)]| {
        let sum: f64 = pairs.iter().map(|&(m, p)| (p - m).abs() / m * 100.0).sum();
        (!pairs.is_empty()).then(|| sum / pairs.len() as f64)
    };
    Mape {
        rows,
        ttft_pct: ape(ttft),
        tpot_pct: ape(tpot),
        ttft_rows: ttft.len(),
        tpot_rows: tpot.len(),
    }
}

/// A table of the errors, overall and by backend/mode.
pub fn render_mape(v: &Validation) -> String {
    let mut s = String::new();
    let modelled = v.rows.iter().filter(|(_, p)| p.reason.is_none()).count();
    let _ = writeln!(
        s,
        "{} rows, {} modelled, {} not",
        v.rows.len(),
        modelled,
        v.rows.len() - modelled
    );
    let _ = match v.averaged {
        Averaged::Recipe(client) => writeln!(
            s,
            "predicted: aiperf as aiconfigurator's recipe runs it (concurrency C, 2·C warm-up \
             requests, then the means of 20·C measured ones{})",
            client_phrase(client)
        ),
        Averaged::SteadyState => writeln!(s, "predicted: steady-state means of users out of step"),
        Averaged::FromStart {
            requests_per_user: 1,
        } => writeln!(
            s,
            "predicted: means of each user's first request from an idle server (the start burst)"
        ),
        Averaged::FromStart { requests_per_user } => writeln!(
            s,
            "predicted: means of each user's first {requests_per_user} requests from an idle \
             server (the start burst included)"
        ),
    };
    let _ = writeln!(
        s,
        "{:<16} {:>5} {:>10} {:>10}",
        "group", "rows", "TTFT MAPE", "TPOT MAPE"
    );
    for (k, m) in v
        .groups
        .iter()
        .map(|(k, m)| (k.as_str(), m))
        .chain([("overall", &v.overall)])
    {
        // A MAPE over fewer rows than the group's says over how many.
        let cell = |pct: Option<f64>, n: usize| match pct {
            None => "-".to_string(),
            Some(pct) if n < m.rows => format!("{pct:.1}% ({n})"),
            Some(pct) => format!("{pct:.1}%"),
        };
        let _ = writeln!(
            s,
            "{:<16} {:>5} {:>10} {:>10}",
            k,
            m.rows,
            cell(m.ttft_pct, m.ttft_rows),
            cell(m.tpot_pct, m.tpot_rows)
        );
    }
    s
}

/// Concurrency bands of the report: (label, most users).
const BANDS: &[(&str, u32)] = &[
    ("1–8", 8),
    ("9–32", 32),
    ("33–128", 128),
    ("> 128", u32::MAX),
];

fn band(users: u32) -> &'static str {
    BANDS
        .iter()
        .find(|&&(_, most)| users <= most)
        .map_or("> 128", |&(label, _)| label)
}

/// The errors of one group of rows.
#[derive(Default)]
struct Errors {
    /// Signed relative errors `(predicted − measured) / measured`, TTFT and TPOT.
    ttft: Vec<f64>,
    tpot: Vec<f64>,
    /// Rows with either figure (as the terminal's summary counts them).
    rows: usize,
}

impl Errors {
    fn push(&mut self, spec: &RowSpec, p: &super::Prediction) {
        let before = self.ttft.len() + self.tpot.len();
        if let (Some(m), Some(x)) = (spec.measured_ttft_ms, p.ttft_ms)
            && m > 0.0
        {
            self.ttft.push((x - m) / m);
        }
        if let (Some(m), Some(x)) = (spec.measured_tpot_ms, p.tpot_ms)
            && m > 0.0
        {
            self.tpot.push((x - m) / m);
        }
        if self.ttft.len() + self.tpot.len() > before {
            self.rows += 1;
        }
    }

    /// `MAPE | median bias` cells of one metric over `rows` rows, in per cent; where fewer
    /// rows measured the metric, the MAPE says over how many.
    fn cells(errors: &[f64], rows: usize) -> String {
        if errors.is_empty() {
            return "– | –".into();
        }
        let over = if errors.len() < rows {
            format!(" ({})", counted(errors.len() as u64, "row"))
        } else {
            String::new()
        };
        let mape = errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len() as f64;
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        format!("{:.1} %{over} | {:+.1} %", 100.0 * mape, 100.0 * median)
    }
}

/// What the recipe's client does beyond the recipe, as clauses; the defaults (fresh
/// prompts, no connection limit, users out of step) are not said.
fn client_phrase(c: RecipeClient) -> String {
    let mut s = String::new();
    if let Some(n) = c.dataset_entries {
        let _ = write!(s, "; prompts from a dataset of {n}, repeating");
    }
    if let Some(n) = c.connections {
        let _ = write!(
            s,
            "; at most {n} requests at the server, as the client's connections"
        );
    }
    if c.in_step {
        s += "; users in step, as the client starts them";
    }
    s
}

/// What the predictions are means of, in a sentence.
fn averaged_line(a: Averaged) -> String {
    match a {
        Averaged::Recipe(client) => format!(
            "what aiperf reports when run with aiconfigurator's recipe (`C` users, `2·C` \
             warm-up requests not counted, then the means of `20·C` measured ones{})",
            client_phrase(client)
        ),
        Averaged::SteadyState => "the steady-state means of users out of step (`--steady`)".into(),
        Averaged::FromStart { requests_per_user } => format!(
            "the means of each user's first {requests_per_user} requests from an idle server, \
             the start burst included (`--from-start {requests_per_user}`)"
        ),
    }
}

/// The Markdown report of a validation: errors by backend × model × GPU × mode ×
/// concurrency band (MAPE and median signed error of TTFT and TPOT), then overall, then why
/// rows were not modelled. `command` is the command line that produced it.
pub fn render_report(v: &Validation, command: &str) -> String {
    let mut groups: BTreeMap<(&str, &str, &str, &str, usize), Errors> = BTreeMap::new();
    let mut all = Errors::default();
    let mut reasons: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (spec, p) in &v.rows {
        if let Some(r) = &p.reason {
            reasons.entry(r.as_str()).or_default().push(spec.line);
            continue;
        }
        let users = spec.concurrency.unwrap_or(0);
        let band_index = BANDS
            .iter()
            .position(|&(l, _)| l == band(users))
            .unwrap_or(0);
        let model = spec.model.rsplit('/').next().unwrap_or(&spec.model);
        groups
            .entry((&spec.backend, model, &spec.system, &spec.mode, band_index))
            .or_default()
            .push(spec, p);
        all.push(spec, p);
    }
    let modelled = v.rows.iter().filter(|(_, p)| p.reason.is_none()).count();
    let mut s = String::new();
    let _ = writeln!(s, "# Fidelity: predicted against measured serving runs\n");
    let _ = writeln!(
        s,
        "Generated by `{command}`; do not edit by hand. What the figures mean and where the \
         rows and the mechanisms disagree: [fidelity-notes.md](fidelity-notes.md).\n"
    );
    let _ = writeln!(s, "Predicted: {}.\n", averaged_line(v.averaged));
    let _ = writeln!(
        s,
        "{} rows, {modelled} modelled, {} not. MAPE is the mean absolute percentage error; \
         the bias is the median of `(predicted − measured) / measured` (negative: predicted \
         too low).\n",
        v.rows.len(),
        v.rows.len() - modelled
    );
    let _ = writeln!(
        s,
        "| backend | model | GPU | mode | concurrency | rows | TTFT MAPE | TTFT bias | TPOT MAPE | TPOT bias |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---:|---:|---:|---:|---:|");
    for ((backend, model, system, mode, b), e) in &groups {
        let _ = writeln!(
            s,
            "| {backend} | {model} | {system} | {mode} | {} | {} | {} | {} |",
            BANDS[*b].0,
            e.rows,
            Errors::cells(&e.ttft, e.rows),
            Errors::cells(&e.tpot, e.rows)
        );
    }
    let _ = writeln!(
        s,
        "| **all** | | | | | **{}** | {} | {} |",
        all.rows,
        Errors::cells(&all.ttft, all.rows),
        Errors::cells(&all.tpot, all.rows)
    );
    if !reasons.is_empty() {
        let _ = writeln!(s, "\n## Rows not modelled\n");
        let _ = writeln!(s, "| rows | lines | reason |\n|---:|---|---|");
        let mut by_count: Vec<_> = reasons.into_iter().collect();
        by_count.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        for (reason, lines) in by_count {
            // One table row: a reason quoting a value of several lines is put on one.
            let cell = reason.replace('|', "\\|").replace(['\r', '\n'], " ");
            let _ = writeln!(s, "| {} | {} | {cell} |", lines.len(), line_list(&lines));
        }
    }
    s
}

/// Lines of the input listed in a report cell: the first [`LINES_LISTED`], then how many
/// more (the output CSV gives every row its reason).
fn line_list(lines: &[usize]) -> String {
    let shown = lines.iter().take(LINES_LISTED).map(usize::to_string);
    let mut cell = shown.collect::<Vec<_>>().join(", ");
    if lines.len() > LINES_LISTED {
        let _ = write!(cell, " and {} more", lines.len() - LINES_LISTED);
    }
    cell
}

/// Lines a report lists of the rows not modelled for one reason.
const LINES_LISTED: usize = 8;

/// The errors over every modelled row and by `backend/mode`.
pub(super) fn summarise(rows: &[(RowSpec, super::Prediction)]) -> (Mape, BTreeMap<String, Mape>) {
    type Pairs = (Vec<(f64, f64)>, Vec<(f64, f64)>, usize);
    let mut all: Pairs = Default::default();
    let mut by: BTreeMap<String, Pairs> = BTreeMap::new();
    let pair = |m: Option<f64>, p: Option<f64>| Some((m?, p?)).filter(|&(m, _)| m > 0.0);
    for (s, p) in rows {
        let ttft = pair(s.measured_ttft_ms, p.ttft_ms);
        let tpot = pair(s.measured_tpot_ms, p.tpot_ms);
        if ttft.is_none() && tpot.is_none() {
            continue;
        }
        let group = by.entry(format!("{}/{}", s.backend, s.mode)).or_default();
        for g in [&mut all, group] {
            g.0.extend(ttft);
            g.1.extend(tpot);
            g.2 += 1;
        }
    }
    let of = |g: &Pairs| mape(&g.0, &g.1, g.2);
    (
        of(&all),
        by.iter().map(|(k, v)| (k.clone(), of(v))).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::Prediction;
    use super::*;

    #[test]
    fn each_figure_is_averaged_over_the_rows_that_have_it() {
        let row = |measured: (f64, Option<f64>), predicted: (f64, Option<f64>)| {
            let spec = RowSpec {
                line: 2,
                backend: "trtllm".into(),
                mode: "agg".into(),
                model: "m".into(),
                system: "h100_sxm".into(),
                concurrency: Some(1),
                isl: Some(100),
                osl: Some(1),
                measured_ttft_ms: Some(measured.0),
                measured_tpot_ms: measured.1,
            };
            let p = Prediction {
                ttft_ms: Some(predicted.0),
                tpot_ms: predicted.1,
                ..Prediction::default()
            };
            (spec, p)
        };
        // TTFT 10 % and 30 % off; TPOT 20 % off on the one row that has it (an answer of
        // one token has none), not left out with the other's TTFT.
        let rows = [
            row((100.0, Some(10.0)), (110.0, Some(12.0))),
            row((100.0, None), (130.0, None)),
        ];
        let (all, by) = summarise(&rows);
        assert_eq!(all.rows, 2);
        assert!((all.ttft_pct.unwrap() - 20.0).abs() < 1e-9, "{all:?}");
        assert!((all.tpot_pct.unwrap() - 20.0).abs() < 1e-9, "{all:?}");
        assert_eq!((all.ttft_rows, all.tpot_rows), (2, 1));
        assert_eq!(by["trtllm/agg"], all);
        // The report counts the rows as the summary does, one with TPOT alone too, says
        // over how many rows a MAPE is where fewer measured its figure, and keeps a reason
        // of two lines on its table row, with the line of the row refused.
        let mut tpot_only = row((100.0, Some(10.0)), (110.0, Some(12.0)));
        tpot_only.0.measured_ttft_ms = None;
        let mut refused = row((100.0, None), (100.0, None));
        refused.1 = Prediction {
            reason: Some("model_path foo\nbar: unknown".into()),
            ..Prediction::default()
        };
        let v = Validation {
            rows: vec![rows[1].clone(), tpot_only, refused],
            overall: all,
            groups: BTreeMap::new(),
            averaged: Averaged::SteadyState,
        };
        let md = render_report(&v, "servesim validate");
        assert!(
            md.contains("| 1–8 | 2 | 30.0 % (1 row) | +30.0 % | "),
            "{md}"
        );
        assert!(md.contains("| **all** | | | | | **2** |"), "{md}");
        let line = v.rows[2].0.line;
        assert!(
            md.contains(&format!("| 1 | {line} | model_path foo bar: unknown |")),
            "{md}"
        );
        assert_eq!(
            line_list(&(1..=10).collect::<Vec<_>>()),
            "1, 2, 3, 4, 5, 6, 7, 8 and 2 more"
        );
    }
}

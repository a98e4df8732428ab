//! One row simulated as its reading says: the benchmark client's recipe (users in step, or
//! out of step over several draws), or the steady state and the start burst of users out of
//! step; with what the prediction leans on in its `note` and the scenario of its first draw.

use std::path::Path;

use servesim_models::backend::Backend;
use servesim_models::hardware::GpuCatalog;
use servesim_models::llm::LlmSpec;

use crate::Error;
use crate::metrics::shown_tokens;
use crate::scenario::{Scenario, measured_timer};

use super::benchmark::{ClientStats, Means, benchmark_means, client_stats};
use super::measured::Row;
use super::row_plan::{aiperf_recipe, join_notes, plan, scenario_of, users_out_of_step};
use super::{
    Averaged, BENCH_CLASS, Load, PHASE_DRAWS, Prediction, RECIPE_REQUESTS_PER_USER, RowScenario,
    RowSpec,
};

/// Models and simulates a row whose fields fit the header, filling in `spec` as it reads
/// them, and keeping the scenario of its first draw with `keep_scenario`; `Err` is a field
/// that does not parse.
pub(super) fn simulate(
    row: &Row<'_>,
    spec: &mut RowSpec,
    averaged: Averaged,
    keep_scenario: bool,
    calibration: Option<&Path>,
) -> Result<Prediction, Error> {
    spec.isl = Some(row.required_count("isl")?);
    spec.osl = Some(row.required_count("osl")?);
    spec.measured_ttft_ms = row.latency("silicon_ttft_ms")?;
    spec.measured_tpot_ms = row.latency("silicon_tpot_ms")?;
    let (users, note) = match row.concurrency()? {
        Some(n) => (n, None),
        None => match implied_concurrency(row, &spec.mode)? {
            Ok((n, note)) => (n, Some(note)),
            Err(reason) => return Ok(Prediction::skip(reason)),
        },
    };
    spec.concurrency = Some(users);
    let skip = |reason: String| Prediction {
        note: note.clone(),
        ..Prediction::skip(reason)
    };
    let plan = match plan(row, &spec.mode)? {
        Ok(p) => p,
        Err(reason) => return Ok(skip(reason)),
    };
    let note = join_notes(note.clone(), plan.note.clone());
    // The folder times the row where it has tables its GPU and backend read; else the
    // shipped tables do, and the note says so.
    let (calibration, note) = match calibration {
        Some(dir) => match calibration_reads(dir, row.text("system"), &spec.backend) {
            Ok(()) => (Some(dir), note),
            Err(_) => (
                None,
                join_notes(
                    note,
                    Some(format!(
                        "shipped kernel tables: the calibration folder has none that {} \
                         under {} reads",
                        row.text("system"),
                        spec.backend
                    )),
                ),
            ),
        },
        None => (None, note),
    };
    let skip = |reason: String| Prediction {
        note: note.clone(),
        ..Prediction::skip(reason)
    };
    if let Err(e) = LlmSpec::lookup(&plan.model) {
        return Ok(skip(e.to_string()));
    }
    let load = Load {
        line: spec.line,
        backend: &spec.backend,
        measured_on: row.measured_on()?,
        release: row.release(),
        users,
        isl: spec.isl.unwrap_or_default(),
        osl: spec.osl.unwrap_or_default(),
        calibration,
    };
    if let Averaged::Recipe(client) = averaged {
        let measured = (load.users as usize) * RECIPE_REQUESTS_PER_USER as usize;
        let recipe = |ramp_s: f64, seed: u64| {
            scenario_of(
                &plan,
                row,
                &load,
                aiperf_recipe(&load, ramp_s, client),
                seed,
            )
        };
        let stats =
            |s: &Result<Scenario, String>| -> Result<Result<(ClientStats, f64), String>, Error> {
                match s {
                    Ok(s) => client_stats(s, BENCH_CLASS, measured),
                    Err(reason) => Ok(Err(reason.clone())),
                }
            };
        // Users together, as the tool starts them (the `--in-step` reading, and the request
        // lifetime); then out of step, as client jitter leaves them (see the module
        // documentation).
        let first = recipe(0.0, 1);
        let note = with_kernels(note.clone(), &first);
        let reads = format!(
            "Its measured requests are those of the class `{BENCH_CLASS}` (the warm-up's \
             `{BENCH_CLASS}.warmup`)."
        );
        // The scenario kept runs until its last measured answer (the second after it), so
        // that the rates `servesim run` prints of it are over the benchmark, not over the
        // simulation's horizon.
        let kept = |s: &Result<Scenario, String>, ended_s: f64| {
            keep_scenario
                .then(|| row_scenario(s, reads.clone(), Some(ended_s.floor() + 1.0)))
                .flatten()
        };
        let (together, together_ended_s) = match stats(&first)? {
            Ok(s) => s,
            Err(reason) => return Ok(skip(reason)),
        };
        let mut scenario = kept(&first, together_ended_s);
        let stats = if client.in_step {
            together
        } else {
            let mut draws = Vec::new();
            for seed in 1..=PHASE_DRAWS {
                let draw = recipe(together.e2e_ms.mean / 1e3, seed);
                match stats(&draw)? {
                    Ok((s, ended_s)) => {
                        if seed == 1 {
                            scenario = kept(&draw, ended_s);
                        }
                        draws.push(s);
                    }
                    Err(reason) => return Ok(skip(reason)),
                }
            }
            ClientStats::mean_of(&draws)
        };
        let note = match stats.tpot_ms {
            Some(_) => note,
            None => join_notes(note, Some(NO_TPOT.into())),
        };
        return Ok(Prediction {
            ttft_ms: Some(stats.ttft_ms.mean),
            tpot_ms: stats.tpot_ms.map(|d| d.mean),
            client: Some(stats),
            reason: None,
            note,
            scenario,
        });
    }
    let users = users as usize;
    let (skip_n, take_n) = (2 * users, (10 * users).max(100));
    // First run: users together, as the benchmark starts, to learn its start and the
    // request lifetime; then users out of step, for its steady state.
    let first = scenario_of(&plan, row, &load, users_out_of_step(&load, 0.0), 1);
    let note = with_kernels(note.clone(), &first);
    let together = match first {
        Ok(s) => s,
        Err(reason) => return Ok(skip(reason)),
    };
    // A TPOT needs two tokens the client sees (gpt-oss's header tokens show no text).
    let header = together.llm().response_header_tokens;
    let has_tpot = shown_tokens(load.osl, header) > 1;
    let start = match benchmark_means(&together, skip_n, take_n)? {
        Ok(m) => m,
        Err(reason) => return Ok(skip(reason)),
    };
    let mut steady = Means::default();
    let mut scenario = None;
    for seed in 1..=PHASE_DRAWS {
        let lifetime_s = start.steady.e2e_ms / 1e3;
        let apart = match scenario_of(
            &plan,
            row,
            &load,
            users_out_of_step(&load, lifetime_s),
            seed,
        ) {
            Ok(s) => s,
            Err(reason) => return Ok(skip(reason)),
        };
        let m = match benchmark_means(&apart, skip_n, take_n)? {
            Ok(m) => m,
            Err(reason) => return Ok(skip(reason)),
        };
        steady = Means::blend(m.steady, 1.0 / seed as f64, steady);
        if seed == 1 && keep_scenario {
            let reads = steady_reads(averaged, skip_n, take_n);
            scenario = row_scenario(&Ok(apart), reads, Some(m.stop_s));
        }
    }
    // Measured from the start, one request per user is the start burst; the rest are
    // taken as the steady state.
    let Means {
        ttft_ms: ttft,
        tpot_ms: tpot,
        ..
    } = match averaged {
        Averaged::FromStart { requests_per_user } => Means::blend(
            start.start,
            1.0 / f64::from(requests_per_user.max(1)),
            steady,
        ),
        Averaged::SteadyState | Averaged::Recipe(_) => steady,
    };
    Ok(Prediction {
        ttft_ms: Some(ttft),
        tpot_ms: has_tpot.then_some(tpot),
        client: None,
        reason: None,
        note: if has_tpot {
            note
        } else {
            join_notes(note, Some(NO_TPOT.into()))
        },
        scenario,
    })
}

/// The note of a row whose requests show one token of text: no gap between tokens, so no
/// TPOT, as the client reports none.
const NO_TPOT: &str = "no TPOT: each request shows fewer than two tokens of text";

/// The file form of a scenario, when there is one, its requests read as `reads` says; run
/// for `duration_s` where the prediction stopped it then.
fn row_scenario(
    s: &Result<Scenario, String>,
    reads: String,
    duration_s: Option<f64>,
) -> Option<Box<RowScenario>> {
    let mut config = s.as_ref().ok()?.config().clone();
    if let Some(d) = duration_s {
        config.duration_s = d;
    }
    Some(Box::new(RowScenario { config, reads }))
}

/// Which requests of a steady-state draw the prediction reads (`--steady`, `--from-start`).
fn steady_reads(averaged: Averaged, skip: usize, take: usize) -> String {
    let n = skip + take;
    let steady = format!(
        "It runs until its {n}th request has completed (in steps of 20 simulated seconds); \
         the prediction's means are of its completions {} to {n} of the class \
         `{BENCH_CLASS}`, in completion order",
        skip + 1
    );
    match averaged {
        Averaged::FromStart { requests_per_user } => format!(
            "{steady}, blended with the requests sent at time zero of a run with every user \
             in step (weight 1/{}).",
            requests_per_user.max(1)
        ),
        Averaged::SteadyState | Averaged::Recipe(_) => format!("{steady}."),
    }
}

/// `note` with what a row's kernel times lean on beyond measured rows of their own kinds
/// ([`crate::warnings::kernel_note`] of its first scenario), when they do.
fn with_kernels(note: Option<String>, first: &Result<Scenario, String>) -> Option<String> {
    join_notes(
        note,
        first.as_ref().ok().and_then(crate::warnings::kernel_note),
    )
}

/// Whether the tables of the folder `dir` time a run on `gpu` under `backend` (the folder's
/// files were read once before the rows: what fails here is which tables a run reads).
fn calibration_reads(dir: &Path, gpu: &str, backend: &str) -> Result<(), String> {
    let sku = GpuCatalog::builtin()
        .get(gpu)
        .map_err(|e| e.to_string())?
        .clone();
    let backend = Backend::parse(backend).map_err(|e| e.to_string())?;
    measured_timer(dir, &sku, backend).map(|_| ())
}

/// The load of a row without `silicon_concurrency`: what its batch sizes imply, all slots
/// of the serving workers full (`batch_size` for `agg`; `decode_batch_size` ×
/// `decode_num_workers` for `disagg`; × the attention data-parallel size when given, each
/// attention replica having its own batch), with the note that says so. `Ok(Err(reason))`
/// when they do not say.
fn implied_concurrency(row: &Row<'_>, mode: &str) -> Result<Result<(u32, String), String>, Error> {
    let (batch, workers, dp) = match mode {
        "agg" => ("batch_size", None, "attention_dp_size"),
        "disagg" => (
            "decode_batch_size",
            Some("decode_num_workers"),
            "decode_attention_dp_size",
        ),
        other => return Ok(Err(format!("mode '{other}' is neither agg nor disagg"))),
    };
    let mut factors = Vec::new();
    let Some(b) = row.batch(batch)? else {
        return Ok(Err(format!(
            "no silicon_concurrency in silicon_data_source, and no {batch} to imply it"
        )));
    };
    factors.push((batch, b));
    if let Some(w) = workers {
        factors.push((w, row.required_count(w)?));
    }
    if let Some(d) = row.count(dp)?
        && d > 1
    {
        factors.push((dp, d));
    }
    let n = factors
        .iter()
        .try_fold(1u32, |n, &(_, f)| n.checked_mul(f))
        .filter(|&n| n <= 1_000_000);
    let product = factors
        .iter()
        .map(|(c, f)| format!("{c} {f}"))
        .collect::<Vec<_>>()
        .join(" × ");
    // One factor is the concurrency itself; more are shown with their product.
    let product = match n {
        Some(n) if factors.len() > 1 => format!("{product} = {n}"),
        _ => product,
    };
    Ok(match n {
        Some(n) => Ok((
            n,
            format!(
                "no silicon_concurrency: predicted at the concurrency its batch sizes imply \
                 ({product})"
            ),
        )),
        None => Err(format!(
            "no silicon_concurrency, and {product} is more users than can be simulated"
        )),
    })
}

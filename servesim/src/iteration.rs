//! One iteration of a scenario's pool, kind by kind: what the simulator charges one of its
//! workers for a step of decode sequences and prompt chunks (`servesim perf step`, Python's
//! `servesim.perf.step`), so a user can see why a step takes what it takes.

use serde::Serialize;
#[cfg(doc)]
use servesim_models::perf::OpKind;
use servesim_models::perf::{BatchShape, PrefillChunk};

use crate::Error;
use crate::scenario::Scenario;

/// How the step runs on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Launch {
    /// A decode-only step replaying the CUDA graph captured for `batch` sequences (its own
    /// size, or the next one padded with dummy sequences).
    Graph {
        /// The graph's batch.
        batch: u32,
    },
    /// A decode-only step of no captured size: its kernels launched one by one.
    Eager,
    /// A step with prefill, launched as the engine launches those (eagerly on the engines
    /// that graph decode-only steps alone, through piecewise graphs on vLLM).
    WithPrefill,
}

/// One iteration of a pool, kind by kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IterationBreakdown {
    /// The pool's name.
    pub pool: String,
    /// How the step runs on the host.
    pub launch: Launch,
    /// Milliseconds per kind of operation ([`OpKind::name`]), in [`OpKind::ALL`] order,
    /// kinds of no time left out.
    pub kinds: Vec<(&'static str, f64)>,
    /// The step, ms.
    pub total_ms: f64,
}

/// The step of one worker of `s`'s pool `pool` (the first when `None`) running `decode`
/// sequences of `context` tokens each and the prompt `chunks`, as `servesim run` builds the
/// worker: its model, GPU, backend, parallelism, DeepEP and CUDA graphs. An unknown pool or
/// an empty step is an error naming the field.
pub fn iteration_breakdown(
    s: &Scenario,
    pool: Option<&str>,
    decode: u32,
    context: u32,
    chunks: &[PrefillChunk],
) -> Result<IterationBreakdown, Error> {
    let index = match pool {
        None => 0,
        Some(name) => s
            .pools()
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = s.pools().iter().map(|p| p.name.as_str()).collect();
                Error::Config {
                    path: "pool".into(),
                    message: format!(
                        "{name:?} is not a pool of the scenario (its pools: {})",
                        names.join(", ")
                    ),
                }
            })?,
    };
    if decode == 0 && chunks.is_empty() {
        return Err(Error::Config {
            path: "decode".into(),
            message: "an empty step: give decode sequences or a prompt chunk".into(),
        });
    }
    if let Some(c) = chunks.iter().find(|c| c.tokens == 0) {
        return Err(Error::Config {
            path: "prefill".into(),
            message: format!(
                "a chunk of 0 tokens (after {}): a chunk has at least one token",
                c.context
            ),
        });
    }
    let plan = &s.pools()[index];
    let predictor = crate::world::pool_predictor(s, index)?;
    let kv = u64::from(decode) * u64::from(context);
    // A decode-only step replays the graph of its size (padded) or runs eagerly, as the
    // engine runs it; a step with prefill is timed with the engine's launch floor for those.
    let (decode_seqs, decode_kv_tokens, eager) = if chunks.is_empty() {
        plan.engine.cuda_graphs.decode_batch(decode, kv)
    } else {
        (decode, kv, false)
    };
    let launch = match (chunks.is_empty(), eager) {
        (false, _) => Launch::WithPrefill,
        (true, true) => Launch::Eager,
        (true, false) => Launch::Graph { batch: decode_seqs },
    };
    let batch = BatchShape {
        prefill: chunks,
        decode_seqs,
        decode_kv_tokens,
        eager,
    };
    Ok(IterationBreakdown {
        pool: plan.name.clone(),
        launch,
        kinds: predictor
            .breakdown(&batch)
            .into_iter()
            .filter(|(_, ms)| *ms > 0.0)
            .map(|(kind, ms)| (kind.name(), ms))
            .collect(),
        total_ms: predictor.predict_ms(&batch),
    })
}

//! One iteration of a scenario's pool, kind by kind: what the simulator charges one of its
//! workers for a step of decode sequences and prompt chunks (`servesim perf step`, Python's
//! `servesim.perf.step`), so a user can see why a step takes what it takes.

use serde::Serialize;
#[cfg(doc)]
use servesim_models::perf::OpKind;
use servesim_models::perf::{BatchShape, PrefillChunk};

use servesim_models::cluster::PoolRole;

use crate::Error;
use crate::scenario::{PoolPlan, Scenario};

/// How the step runs on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Launch {
    /// A decode-only step replaying, on each of `ranks` attention-DP ranks, the CUDA graph
    /// captured for `batch` sequences: the fullest rank's own size, or the next captured one
    /// padded with dummy sequences, every rank padded to it.
    Graph {
        /// The graph's batch, a rank's.
        batch: u32,
        /// Attention-DP ranks replaying it (1 without attention DP).
        ranks: u32,
        /// Sequences the step runs, the padding's dummy ones counted (`batch × ranks`).
        sequences: u32,
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
    /// The pool's place in the scenario's [`Scenario::pools`] (for the caller's own use; not
    /// serialized).
    #[serde(skip)]
    pub pool_index: usize,
    /// How the step runs on the host.
    pub launch: Launch,
    /// Milliseconds per kind of operation ([`OpKind::name`]), in [`OpKind::ALL`] order,
    /// kinds of no time left out.
    pub kinds: Vec<(&'static str, f64)>,
    /// The step, ms.
    pub total_ms: f64,
}

/// The step of one worker of `s`'s pool `pool` (the first when `None`) running `decode`
/// sequences with `context` tokens each in the KV cache (each attends to them and to the
/// token it makes, as a run charges a decode step) and the prompt `chunks`, as `servesim
/// run` builds the worker: its model, GPU, backend, parallelism, DeepEP and CUDA graphs.
///
/// A step the pool's engine would never run is an error naming the argument at fault (the
/// paths `pool`, `decode`, `context` and `prefill`) and the engine setting that bounds it:
/// an empty step, a chunk of no tokens, decode sequences on a prefill pool, more sequences
/// than `engine.max_num_seqs`, prompt
/// chunks over the token budget `engine.max_batched_tokens`, a sequence longer than the
/// model's context, or sequences whose KV the worker's cache cannot hold.
pub fn iteration_breakdown(
    s: &Scenario,
    pool: Option<&str>,
    decode: u32,
    context: u32,
    chunks: &[PrefillChunk],
) -> Result<IterationBreakdown, Error> {
    let index = pool_index(s, pool, decode)?;
    let plan = &s.pools()[index];
    check_step(s, index, plan, decode, context, chunks)?;
    let predictor = crate::world::pool_predictor(s, index)?;
    // Each decode sequence attends to its context and the token it makes.
    let kv = u64::from(decode) * (u64::from(context) + 1);
    // A decode-only step replays the graph of its size (padded) or runs eagerly, as the
    // engine runs it; a step with prefill is timed with the engine's launch floor for those.
    let graphs = &plan.engine.cuda_graphs;
    let (decode_seqs, decode_kv_tokens, eager) = if chunks.is_empty() {
        graphs.decode_batch(decode, kv)
    } else {
        (decode, kv, false)
    };
    let launch = match (chunks.is_empty(), eager) {
        (false, _) => Launch::WithPrefill,
        (true, true) => Launch::Eager,
        (true, false) => Launch::Graph {
            batch: decode_seqs.div_ceil(graphs.ranks()),
            ranks: graphs.ranks(),
            sequences: decode_seqs,
        },
    };
    let batch = BatchShape {
        prefill: chunks,
        decode_seqs,
        decode_kv_tokens,
        eager,
    };
    Ok(IterationBreakdown {
        pool: plan.name.clone(),
        pool_index: index,
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

/// The index of `s`'s pool `pool`; when `None`, the pool that runs such a step: the decode
/// pool for a step with `decode` sequences, else the first.
fn pool_index(s: &Scenario, pool: Option<&str>, decode: u32) -> Result<usize, Error> {
    let Some(name) = pool else {
        let decodes = s.pools().iter().position(|p| p.role == PoolRole::Decode);
        return Ok(decodes.filter(|_| decode > 0).unwrap_or(0));
    };
    s.pools()
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
        })
}

/// Whether the pool's engine could run the step (see [`iteration_breakdown`]).
fn check_step(
    s: &Scenario,
    index: usize,
    plan: &PoolPlan,
    decode: u32,
    context: u32,
    chunks: &[PrefillChunk],
) -> Result<(), Error> {
    let err = |path: &str, message: String| Error::Config {
        path: path.into(),
        message,
    };
    let knob = |field: &str| format!("`--set cluster.pools[{index}].engine.{field}=N` raises it");
    if decode == 0 && chunks.is_empty() {
        return Err(err(
            "decode",
            "an empty step: give decode sequences or a prompt chunk".into(),
        ));
    }
    if let Some(c) = chunks.iter().find(|c| c.tokens == 0) {
        return Err(err(
            "prefill",
            format!(
                "a chunk of 0 tokens (after {}): a chunk has at least one token",
                c.context
            ),
        ));
    }
    if decode > 0 && plan.role == PoolRole::Prefill {
        return Err(err(
            "decode",
            format!(
                "pool {} prefills only (role: prefill): its requests decode on the decode \
                 pool, and its steps hold prompt chunks alone",
                plan.name
            ),
        ));
    }
    let seqs = u64::from(decode) + chunks.len() as u64;
    let most = plan.engine.max_num_seqs;
    if seqs > u64::from(most) {
        return Err(err(
            "decode",
            format!(
                "{seqs} sequences ({decode} decoding, {} prompt chunks) are more than pool {} \
                 runs at once (engine.max_num_seqs {most}; {})",
                chunks.len(),
                plan.name,
                knob("max_num_seqs")
            ),
        ));
    }
    let prompt: u64 = chunks.iter().map(|c| u64::from(c.tokens)).sum();
    let budget = plan.engine.max_batched_tokens;
    if prompt > u64::from(budget) {
        return Err(err(
            "prefill",
            format!(
                "{prompt} prompt tokens are more than one iteration of pool {} schedules \
                 (engine.max_batched_tokens {budget}; {})",
                plan.name,
                knob("max_batched_tokens")
            ),
        ));
    }
    let llm = s.llm();
    if decode > 0
        && let Some(longest) = llm.context_exceeded_by(u64::from(context) + 1)
    {
        return Err(err(
            "context",
            format!(
                "a sequence of {context} tokens and the one it makes is longer than {}'s \
                 context of {longest}",
                llm.name
            ),
        ));
    }
    for c in chunks {
        if let Some(longest) = llm.context_exceeded_by(u64::from(c.context) + u64::from(c.tokens)) {
            return Err(err(
                "prefill",
                format!(
                    "a chunk of {} tokens after {} is longer than {}'s context of {longest}",
                    c.tokens, c.context, llm.name
                ),
            ));
        }
    }
    // Every sequence of the step holds its KV (and a hybrid model's fixed state) in the
    // worker's pool, in whole blocks, as the engine admits it.
    let engine = &plan.engine;
    let blocks =
        |tokens: u64| tokens.div_ceil(u64::from(engine.block_tokens)) + engine.state_blocks;
    let need = u64::from(decode) * blocks(u64::from(context) + 1)
        + chunks
            .iter()
            .map(|c| blocks(u64::from(c.context) + u64::from(c.tokens)))
            .sum::<u64>();
    if need > engine.kv_blocks {
        return Err(err(
            if decode > 0 { "context" } else { "prefill" },
            format!(
                "the step's sequences hold {need} KV blocks of {} tokens, more than the {} of \
                 a worker of pool {} (fewer or shorter sequences fit; so does more memory: {})",
                engine.block_tokens,
                engine.kv_blocks,
                plan.name,
                knob("mem_fraction")
            ),
        ));
    }
    Ok(())
}

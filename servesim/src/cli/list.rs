//! `servesim list`: what a scenario may name (models, GPUs, backends, planner policies,
//! arrival kinds), each with what it is.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use servesim::models::backend::Backend;
use servesim::models::hardware::GpuCatalog;
use servesim::models::llm::{Attention, ExpertFormat, Ffn, LlmSpec, Mixer, Parallelism};
use servesim::planner::PolicyKind;
use servesim::text::counted;
use servesim::traffic::arrival::ARRIVAL_KINDS;
use servesim_core::Named;

use super::CliError;

/// Arguments of `servesim list`.
#[derive(Args)]
pub struct ListArgs {
    /// What to list.
    pub what: ListWhat,
}

/// The lists.
#[derive(Clone, Copy, ValueEnum)]
pub enum ListWhat {
    /// Built-in models (`model:`; a path to a Hugging Face `config.json` also works).
    Models,
    /// Built-in GPU SKUs (`gpu:`).
    Gpus,
    /// Serving engines (`backend:`).
    Backends,
    /// Planner policies (`planner.policy`) and what each does.
    Policies,
    /// Arrival kinds of open-loop streams (`arrival: {kind: …}`).
    Arrivals,
}

/// The list, as printed.
pub fn render(what: ListWhat) -> Result<String, CliError> {
    let mut out = String::new();
    match what {
        ListWhat::Models => {
            for name in LlmSpec::builtin_names() {
                let m = LlmSpec::lookup(name).map_err(|e| CliError::Message(e.to_string()))?;
                let _ = writeln!(
                    out,
                    "{:<16} {}{}",
                    m.name,
                    describe_model(&m),
                    also(&LlmSpec::builtin_aliases(name))
                );
            }
            out.push_str(
                "(any owner prefix, case, -Instruct/-FP8 suffix, or a short form that fits one \
                 model alone, e.g. llama-8b; or a path to a Hugging Face config.json)\n",
            );
        }
        ListWhat::Gpus => {
            let catalog = GpuCatalog::builtin();
            for name in catalog.names() {
                let g = catalog
                    .get(name)
                    .map_err(|e| CliError::Message(e.to_string()))?;
                let _ = writeln!(
                    out,
                    "{:<12} {:>4.0} GiB HBM, {} GPUs per node, NVLink domain of {}, NIC {:.0} GB/s \
                     a GPU{}",
                    g.sku,
                    g.memory_bytes / f64::from(1u32 << 30),
                    g.gpus_per_node,
                    g.nvlink_domain(),
                    g.nic_bytes_per_s_per_direction / 1e9,
                    also(&catalog.aliases(name))
                );
            }
            out.push_str(
                "(case, separators, NVIDIA/HBM/NVL words and SXM4/5/6 are ignored: \
                 `NVIDIA H100 80GB HBM3` is h100_sxm)\n",
            );
        }
        ListWhat::Backends => {
            for b in Backend::ALL {
                let _ = writeln!(out, "{}", b.name());
            }
        }
        ListWhat::Policies => {
            for p in PolicyKind::ALL {
                let _ = writeln!(out, "{:<15} {}", p.as_str(), p.describe());
            }
        }
        ListWhat::Arrivals => {
            for (kind, what) in ARRIVAL_KINDS {
                let _ = writeln!(out, "{kind:<10} {what}");
            }
        }
    }
    Ok(out)
}

/// A model's architecture and sizes in one line: experts, attention, windows, weight bytes,
/// active parameters, KV bytes per token (within every window).
fn describe_model(m: &LlmSpec) -> String {
    let mut arch = Vec::new();
    match m.moe() {
        None => arch.push("dense".to_string()),
        Some(e) => {
            let dense = m.layers().iter().filter(|l| l.ffn == Ffn::Dense).count();
            let mut s = format!("MoE {} experts top-{}", e.num_experts, e.top_k);
            if e.shared_intermediate_size > 0 {
                s += " + shared";
            }
            if dense > 0 {
                s += &format!(", {}", counted(dense as u64, "dense layer"));
            }
            match e.expert_format {
                ExpertFormat::Mxfp4 => s += ", mxfp4 experts",
                ExpertFormat::Int4 { group } => s += &format!(", int4 experts (groups of {group})"),
                ExpertFormat::Nvfp4 => s += ", nvfp4 experts",
                ExpertFormat::WeightDtype => {}
            }
            arch.push(s);
        }
    }
    let heads = match m.attention() {
        Attention::Standard => format!("{} heads ({} KV)", m.num_heads, m.num_kv_heads),
        Attention::Mla(d) => format!(
            "{} heads (MLA, KV latent {} + {}{})",
            m.num_heads,
            d.kv_lora_rank,
            d.qk_rope_head_dim,
            d.indexer.map_or(String::new(), |x| format!(
                "; sparse: each query attends the {} tokens a {}-head indexer picks",
                x.topk, x.heads
            ))
        ),
    };
    let windows: Vec<u32> = m
        .layers()
        .iter()
        .filter_map(|l| match l.mixer {
            Mixer::SlidingAttention { window } => Some(window),
            _ => None,
        })
        .collect();
    if let Some(w) = windows.first() {
        arch.push(format!(
            "window {w} on {} of {} layers",
            windows.len(),
            m.num_layers
        ));
    }
    if let Some((c, n)) = m.attention_chunks() {
        arch.push(format!(
            "attention within chunks of {c} on {n} of {} layers",
            m.num_layers
        ));
    }
    if let Some((_, n)) = m.linear_attention() {
        let state = m.state_bytes_per_sequence_per_gpu(&Parallelism::tensor(1));
        arch.push(format!(
            "Gated DeltaNet on {n} of {} layers ({:.1} MB of state a sequence)",
            m.num_layers,
            state as f64 / 1e6
        ));
    }
    format!(
        "{}; {} layers, hidden {}, {heads}; {} {:.1} GB, {:.1}B active; KV {} B/token",
        arch.join(", "),
        m.num_layers,
        m.hidden_size,
        m.weight_dtype.name(),
        m.weight_bytes() as f64 / 1e9,
        m.active_params_per_token() as f64 / 1e9,
        m.kv_bytes_per_token()
    )
}

/// Prints the list.
pub fn run_cmd(args: ListArgs) -> Result<(), CliError> {
    print!("{}", render(args.what)?);
    Ok(())
}

/// `; also: a, b` for the other names of an entry, or nothing.
fn also(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("; also: {}", names.join(", "))
    }
}

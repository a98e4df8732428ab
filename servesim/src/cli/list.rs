//! `servesim list`: what a scenario may name (models, GPUs, backends, planner policies,
//! arrival kinds), each with what it is.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use servesim::models::backend::Backend;
use servesim::models::hardware::GpuCatalog;
use servesim::models::llm::LlmSpec;
use servesim::planner::PolicyKind;
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
                    "{:<16} {} layers, hidden {}, {} heads ({} KV), {}",
                    m.name,
                    m.num_layers,
                    m.hidden_size,
                    m.num_heads,
                    m.num_kv_heads,
                    m.weight_dtype.name()
                );
            }
            out.push_str("(or a path to a Hugging Face config.json of a dense model)\n");
        }
        ListWhat::Gpus => {
            let catalog = GpuCatalog::builtin();
            for name in catalog.names() {
                let g = catalog
                    .get(name)
                    .map_err(|e| CliError::Message(e.to_string()))?;
                let _ = writeln!(
                    out,
                    "{:<12} {:>4.0} GiB HBM, {} GPUs per node",
                    g.sku,
                    g.memory_bytes / f64::from(1u32 << 30),
                    g.gpus_per_node
                );
            }
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

/// Prints the list.
pub fn run_cmd(args: ListArgs) -> Result<(), CliError> {
    print!("{}", render(args.what)?);
    Ok(())
}

//! The calibration tables shipped inside the crate (`include_bytes!` of `data/calibration/`),
//! so the library and the CLI work from any directory.
//!
//! Source: the performance database of NVIDIA's aiconfigurator (Apache-2.0), imported with
//! `servesim calibrate import`; see `data/calibration/README.md`.

use std::path::Path;

use super::{CalibrationTable, Family};
use crate::error::Result;

macro_rules! table {
    ($gpu:literal, $backend:literal, $family:literal) => {
        (
            $gpu,
            $backend,
            $family,
            include_bytes!(concat!(
                "../../../data/calibration/",
                $gpu,
                "/",
                $backend,
                "/",
                $family,
                ".csv.gz"
            ))
            .as_slice(),
        )
    };
}

/// (gpu, backend dir, family, gzip bytes) of a shipped table.
pub type ShippedTable = (&'static str, &'static str, &'static str, &'static [u8]);

/// Every shipped table.
pub const SHIPPED: [ShippedTable; 99] = [
    table!("h100_sxm", "trtllm", "gemm"),
    table!("h100_sxm", "trtllm", "context_attention"),
    table!("h100_sxm", "trtllm", "generation_attention"),
    table!("h100_sxm", "trtllm", "custom_allreduce"),
    table!("h100_sxm", "vllm", "gemm"),
    table!("h100_sxm", "vllm", "context_attention"),
    table!("h100_sxm", "vllm", "generation_attention"),
    table!("h100_sxm", "vllm", "custom_allreduce"),
    table!("h100_sxm", "nccl", "nccl"),
    table!("h100_sxm", "trtllm", "moe"),
    table!("h100_sxm", "vllm", "moe"),
    table!("h100_sxm", "trtllm", "mla_context"),
    table!("h100_sxm", "trtllm", "mla_generation"),
    table!("h100_sxm", "vllm", "mla_context"),
    table!("h100_sxm", "vllm", "mla_generation"),
    table!("h200_sxm", "trtllm", "gemm"),
    table!("h200_sxm", "trtllm", "context_attention"),
    table!("h200_sxm", "trtllm", "generation_attention"),
    table!("h200_sxm", "trtllm", "custom_allreduce"),
    table!("h200_sxm", "vllm", "gemm"),
    table!("h200_sxm", "vllm", "context_attention"),
    table!("h200_sxm", "vllm", "generation_attention"),
    table!("h200_sxm", "vllm", "custom_allreduce"),
    table!("h200_sxm", "nccl", "nccl"),
    table!("h200_sxm", "trtllm", "moe"),
    table!("h200_sxm", "vllm", "moe"),
    table!("h200_sxm", "trtllm", "mla_context"),
    table!("h200_sxm", "trtllm", "mla_generation"),
    table!("h200_sxm", "vllm", "mla_context"),
    table!("h200_sxm", "vllm", "mla_generation"),
    table!("b200_sxm", "trtllm", "gemm"),
    table!("b200_sxm", "trtllm", "context_attention"),
    table!("b200_sxm", "trtllm", "generation_attention"),
    table!("b200_sxm", "trtllm", "custom_allreduce"),
    table!("b200_sxm", "vllm", "gemm"),
    table!("b200_sxm", "vllm", "context_attention"),
    table!("b200_sxm", "vllm", "generation_attention"),
    table!("b200_sxm", "vllm", "custom_allreduce"),
    table!("b200_sxm", "nccl", "nccl"),
    table!("b200_sxm", "trtllm", "moe"),
    table!("b200_sxm", "trtllm", "moe_min_latency"),
    table!("b200_sxm", "vllm", "moe"),
    table!("b200_sxm", "trtllm", "mla_context"),
    table!("b200_sxm", "trtllm", "mla_generation"),
    table!("b200_sxm", "vllm", "mla_context"),
    table!("b200_sxm", "vllm", "mla_generation"),
    table!("gb200", "trtllm", "gemm"),
    table!("gb200", "trtllm", "context_attention"),
    table!("gb200", "trtllm", "generation_attention"),
    table!("gb200", "trtllm", "custom_allreduce"),
    table!("gb200", "vllm", "gemm"),
    table!("gb200", "vllm", "context_attention"),
    table!("gb200", "vllm", "generation_attention"),
    table!("gb200", "vllm", "custom_allreduce"),
    table!("gb200", "nccl", "nccl"),
    table!("gb200", "trtllm", "moe"),
    table!("gb200", "trtllm", "moe_min_latency"),
    table!("gb200", "vllm", "moe"),
    table!("gb200", "trtllm", "mla_context"),
    table!("gb200", "trtllm", "mla_generation"),
    table!("gb200", "vllm", "mla_context"),
    table!("gb200", "vllm", "mla_generation"),
    table!("h100_sxm", "sglang", "moe_dispatch"),
    table!("h200_sxm", "sglang", "moe_dispatch"),
    table!("b200_sxm", "sglang", "moe_dispatch"),
    table!("gb200", "sglang", "moe_dispatch"),
    table!("gb200", "trtllm", "moe_dispatch"),
    table!("h100_sxm", "sglang", "gemm"),
    table!("h100_sxm", "sglang", "moe"),
    table!("h200_sxm", "sglang", "gemm"),
    table!("h200_sxm", "sglang", "moe"),
    table!("b200_sxm", "sglang", "gemm"),
    table!("b200_sxm", "sglang", "moe"),
    table!("gb200", "sglang", "gemm"),
    table!("gb200", "sglang", "moe"),
    table!("h100_sxm", "sglang", "mla_parts"),
    table!("h200_sxm", "sglang", "mla_parts"),
    table!("b200_sxm", "sglang", "mla_parts"),
    table!("gb200", "sglang", "mla_parts"),
    table!("h100_sxm", "sglang", "moe_deepep_normal"),
    table!("h100_sxm", "sglang", "moe_deepep_low_latency"),
    table!("h200_sxm", "sglang", "moe_deepep_normal"),
    table!("h200_sxm", "sglang", "moe_deepep_low_latency"),
    table!("b200_sxm", "sglang", "moe_deepep_normal"),
    table!("b200_sxm", "sglang", "moe_deepep_low_latency"),
    table!("gb200", "sglang", "moe_deepep_normal"),
    table!("gb200", "sglang", "moe_deepep_low_latency"),
    table!("h100_sxm", "sglang", "custom_allreduce"),
    table!("h200_sxm", "sglang", "custom_allreduce"),
    table!("b200_sxm", "sglang", "custom_allreduce"),
    table!("gb200", "sglang", "custom_allreduce"),
    table!("h100_sxm", "trtllm", "gdn"),
    table!("h200_sxm", "trtllm", "gdn"),
    table!("b200_sxm", "trtllm", "gdn"),
    table!("gb200", "trtllm", "gdn"),
    table!("h100_sxm", "sglang", "gdn"),
    table!("h200_sxm", "sglang", "gdn"),
    table!("b200_sxm", "sglang", "gdn"),
    table!("gb200", "sglang", "gdn"),
];

/// GPUs with shipped tables.
pub fn gpus() -> Vec<&'static str> {
    // Each once, in the order of their first table (the list is ordered by family).
    let mut v: Vec<&'static str> = Vec::new();
    for (gpu, ..) in SHIPPED {
        if !v.contains(&gpu) {
            v.push(gpu);
        }
    }
    v
}

/// The shipped entry of (gpu, backend dir, family), if there is one.
fn entry(gpu: &str, backend_dir: &str, family: Family) -> Option<&'static ShippedTable> {
    SHIPPED
        .iter()
        .find(|(g, b, f, _)| *g == gpu && *b == backend_dir && *f == family.name())
}

/// Whether a table of (gpu, backend dir, family) is shipped.
pub fn has(gpu: &str, backend_dir: &str, family: Family) -> bool {
    entry(gpu, backend_dir, family).is_some()
}

/// Parses the shipped table of (gpu, backend dir, family), if there is one.
pub fn load(gpu: &str, backend_dir: &str, family: Family) -> Result<Option<CalibrationTable>> {
    let Some(&(g, b, f, bytes)) = entry(gpu, backend_dir, family) else {
        return Ok(None);
    };
    let name = format!("<shipped data/calibration/{g}/{b}/{f}.csv.gz>");
    CalibrationTable::parse(bytes, Path::new(&name)).map(Some)
}

#[cfg(test)]
mod tests {
    /// Timers decode the tables only some architectures read when first asked for them
    /// (`perf/calibrated/arch_tables.rs`), trusting that every shipped table decodes.
    #[test]
    fn every_shipped_table_decodes() {
        for (gpu, backend, family, _) in super::SHIPPED {
            let family = super::Family::parse(family).unwrap();
            let table = super::load(gpu, backend, family).unwrap();
            assert!(
                table.is_some_and(|t| !t.rows.is_empty()),
                "{gpu}/{backend}/{family:?}"
            );
        }
    }

    #[test]
    fn each_gpu_with_tables_is_listed_once() {
        assert_eq!(super::gpus(), ["h100_sxm", "h200_sxm", "b200_sxm", "gb200"]);
    }
}

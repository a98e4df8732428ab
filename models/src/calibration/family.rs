//! The kernel families of the calibration format: one file each, its name, columns and the
//! backend whose tables time it.

use std::fmt;

use crate::error::{ModelsError, Result};
use crate::perf::ops::MoeKernel;

/// A kernel family: one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Dense GEMMs.
    Gemm,
    /// Context (prefill) attention.
    ContextAttention,
    /// Generation (decode) attention.
    GenerationAttention,
    /// The framework's custom all-reduce.
    CustomAllreduce,
    /// NCCL collectives.
    Nccl,
    /// GPU-to-GPU copies (written by the harness).
    P2pCopy,
    /// Fused mixture-of-experts layers, tokens routed uniformly over the experts.
    Moe,
    /// The same layers under TensorRT-LLM's NVFP4 min-latency kernel.
    MoeMinLatency,
    /// The same layers under SGLang's DeepEP MoE with DeepEP's normal dispatch (prefill).
    MoeDeepepNormal,
    /// The same layers under SGLang's DeepEP MoE with DeepEP's low-latency dispatch (decode).
    MoeDeepepLowLatency,
    /// Multi-head latent attention blocks over prompts (projections and attention).
    MlaContext,
    /// Multi-head latent attention blocks over decode sequences.
    MlaGeneration,
    /// The parts of an MLA block besides its projections, timed on their own (SGLang's).
    MlaParts,
    /// Expert parallelism's token dispatch and combine, stage by stage.
    MoeDispatch,
    /// The kernels of Gated DeltaNet (linear attention) layers.
    Gdn,
}

impl Family {
    /// All families.
    pub const ALL: [Family; 15] = [
        Family::Gemm,
        Family::ContextAttention,
        Family::GenerationAttention,
        Family::CustomAllreduce,
        Family::Nccl,
        Family::P2pCopy,
        Family::Moe,
        Family::MoeMinLatency,
        Family::MoeDeepepNormal,
        Family::MoeDeepepLowLatency,
        Family::MlaContext,
        Family::MlaGeneration,
        Family::MlaParts,
        Family::MoeDispatch,
        Family::Gdn,
    ];

    /// The families of kernel timings a backend's folder holds, in [`Family::ALL`] order: all
    /// but the GPU-to-GPU copies, which only the harness writes.
    pub fn kernel_families() -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(|&f| f != Family::P2pCopy)
    }

    /// Whether only some model architectures run this family's kernels (fused MoE layers,
    /// MLA, expert dispatch, linear attention), so that a timer of the shipped tables
    /// decodes it only when first asked for such a kernel.
    pub fn architecture_specific(self) -> bool {
        self.moe_kernel().is_some()
            || matches!(
                self,
                Family::MlaContext
                    | Family::MlaGeneration
                    | Family::MlaParts
                    | Family::MoeDispatch
                    | Family::Gdn
            )
    }

    /// The family name (also the file stem).
    pub fn name(self) -> &'static str {
        match self {
            Family::Gemm => "gemm",
            Family::ContextAttention => "context_attention",
            Family::GenerationAttention => "generation_attention",
            Family::CustomAllreduce => "custom_allreduce",
            Family::Nccl => "nccl",
            Family::P2pCopy => "p2p_copy",
            Family::Moe => "moe",
            Family::MoeMinLatency => "moe_min_latency",
            Family::MoeDeepepNormal => "moe_deepep_normal",
            Family::MoeDeepepLowLatency => "moe_deepep_low_latency",
            Family::MlaContext => "mla_context",
            Family::MlaGeneration => "mla_generation",
            Family::MlaParts => "mla_parts",
            Family::MoeDispatch => "moe_dispatch",
            Family::Gdn => "gdn",
        }
    }

    /// Parses a family name.
    pub fn parse(name: &str) -> Result<Self> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == name.trim())
            .ok_or_else(|| ModelsError::UnknownName {
                what: "calibration family",
                name: name.to_string(),
                known: Family::ALL.map(Family::name).join(", "),
            })
    }

    /// The MoE kernel whose layers a MoE family times (`None`: not a MoE family).
    pub fn moe_kernel(self) -> Option<MoeKernel> {
        match self {
            Family::Moe => Some(MoeKernel::Default),
            Family::MoeMinLatency => Some(MoeKernel::MinLatency),
            Family::MoeDeepepNormal => Some(MoeKernel::DeepepNormal),
            Family::MoeDeepepLowLatency => Some(MoeKernel::DeepepLowLatency),
            _ => None,
        }
    }

    /// The columns of the family, in the order written (`latency_ms` last).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Family::Gemm => &["dtype", "m", "n", "k", "latency_ms"],
            Family::ContextAttention => &[
                "batch",
                "isl",
                "num_heads",
                "num_kv_heads",
                "head_dim",
                "window",
                "attn_dtype",
                "kv_dtype",
                "latency_ms",
            ],
            Family::GenerationAttention => &[
                "batch",
                "kv_len",
                "num_heads",
                "num_kv_heads",
                "head_dim",
                "window",
                "attn_dtype",
                "kv_dtype",
                "latency_ms",
            ],
            Family::CustomAllreduce => &[
                "dtype",
                "num_gpus",
                "message_elems",
                "implementation",
                "latency_ms",
            ],
            Family::Nccl => &["op", "dtype", "num_gpus", "message_elems", "latency_ms"],
            Family::P2pCopy => &["src_gpu", "dst_gpu", "bytes", "latency_ms"],
            Family::Moe
            | Family::MoeMinLatency
            | Family::MoeDeepepNormal
            | Family::MoeDeepepLowLatency => &[
                "moe_dtype",
                "tokens",
                "hidden",
                "inter",
                "topk",
                "experts",
                "moe_tp",
                "moe_ep",
                "routing",
                "latency_ms",
            ],
            Family::MlaContext | Family::MlaGeneration => &[
                "batch",
                "len",
                "num_heads",
                "hidden",
                "q_lora_rank",
                "kv_lora_rank",
                "qk_nope_head_dim",
                "qk_rope_head_dim",
                "v_head_dim",
                "kv_dtype",
                "gemm_dtype",
                "latency_ms",
            ],
            Family::MlaParts => &[
                "part",
                "batch",
                "len",
                "num_heads",
                "kv_lora_rank",
                "qk_nope_head_dim",
                "qk_rope_head_dim",
                "v_head_dim",
                "dtype",
                "latency_ms",
            ],
            Family::MoeDispatch => &[
                "kernel",
                "stage",
                "dtype",
                "tokens",
                "hidden",
                "topk",
                "experts",
                "moe_ep",
                "nodes",
                "latency_ms",
            ],
            Family::Gdn => &[
                "part",
                "batch",
                "len",
                "k_heads",
                "v_heads",
                "head_k_dim",
                "head_v_dim",
                "conv_kernel",
                "latency_ms",
            ],
        }
    }

    /// A column that files written before it existed lack, read as its default where absent:
    /// the MoE tables' `routing` (balanced).
    pub(super) fn optional_column(self) -> Option<&'static str> {
        self.moe_kernel().map(|_| "routing")
    }

    /// The backend directory of the family for a framework (`nccl` for NCCL collectives;
    /// dispatch kernels: TensorRT-LLM's own, else SGLang's DeepEP tables, which vLLM's
    /// DeepEP backends would run too).
    pub fn backend_dir(self, backend: &str) -> String {
        match self {
            Family::Nccl => "nccl".into(),
            Family::MoeDispatch if backend != "trtllm" => "sglang".into(),
            // vLLM runs the same flash-linear-attention and causal-conv1d kernels as SGLang
            // (vendored since 0.10.2: `vllm/model_executor/layers/fla/ops`,
            // `layers/mamba/ops/causal_conv1d.py`); only SGLang's and TensorRT-LLM's are measured.
            Family::Gdn if backend == "vllm" => "sglang".into(),
            _ => backend.into(),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

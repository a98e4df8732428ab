//! Kernel operations: the shapes a [`crate::perf::KernelTimer`] times, and the operation kinds
//! of an iteration breakdown.

use std::fmt;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::llm::MlaDims;
pub use crate::perf::moe_quant::MoeQuant;

/// A dense GEMM `[m × k] · [k × n]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmShape {
    /// Operand dtype (bf16, fp8, fp8_block).
    pub dtype: Dtype,
    /// Rows of the activation (tokens).
    pub m: u64,
    /// Output columns (weight rows).
    pub n: u64,
    /// Inner dimension.
    pub k: u64,
}

/// An attention kernel call: context (prefill) or generation (decode).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnShape {
    /// Sequences in the call.
    pub batch: u32,
    /// Context attention: prompt length (`isl`); generation attention: KV length per sequence.
    pub len: u32,
    /// Query heads (per GPU).
    pub num_heads: u32,
    /// KV heads (per GPU).
    pub num_kv_heads: u32,
    /// Head dimension.
    pub head_dim: u32,
    /// Sliding window (0: none).
    pub window: u32,
    /// Attention math dtype.
    pub attn_dtype: Dtype,
    /// KV-cache dtype.
    pub kv_dtype: Dtype,
}

/// Which of the backend's fused-MoE kernels runs a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum MoeKernel {
    /// The backend's default kernel (TensorRT-LLM: CUTLASS; the MoE tables' other rows).
    #[default]
    Default,
    /// TensorRT-LLM's NVFP4 min-latency kernel (`moe_torch_flow_min_latency` rows), which
    /// it runs on small NVFP4 steps (`moe_part.rs`).
    MinLatency,
    /// SGLang's `DeepEPMoE` over DeepEP's normal dispatch (prefill steps): DeepGEMM's
    /// grouped GEMM over the tokens each rank received (`wideep_context_moe_perf` rows).
    DeepepNormal,
    /// SGLang's `DeepEPMoE` over DeepEP's low-latency dispatch (decode steps): DeepGEMM's
    /// masked grouped GEMM (`wideep_generation_moe_perf` rows).
    DeepepLowLatency,
}

/// How a MoE layer's router spreads tokens over its experts, as the MoE kernel tables measure
/// it (their `distribution` column).
///
/// Real routers are skewed: some experts draw many more tokens than others, and under expert
/// parallelism the rank holding the busiest experts sets the layer's time. aiconfigurator
/// (0.8.0, `sdk/config.py` and `sdk/models.py`) times every MoE layer with a power law of
/// expert popularity by default, exponent 1.01 for the DeepSeek-V3 family and 1.2 for the
/// other mixtures (Mixtral, Qwen3-MoE, gpt-oss); its kernel collector measures both laws
/// beside the uniform one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ExpertRouting {
    /// Tokens spread evenly over the experts (`balanced`).
    #[default]
    Balanced,
    /// Expert popularity falling as a power law of exponent 1.01 (`power_law_1.01`).
    PowerLaw101,
    /// Expert popularity falling as a power law of exponent 1.2 (`power_law_1.2`).
    PowerLaw12,
}

impl ExpertRouting {
    /// All routings the tables measure.
    pub const ALL: [ExpertRouting; 3] = [
        ExpertRouting::Balanced,
        ExpertRouting::PowerLaw101,
        ExpertRouting::PowerLaw12,
    ];

    /// The tables' name.
    pub fn name(self) -> &'static str {
        match self {
            ExpertRouting::Balanced => "balanced",
            ExpertRouting::PowerLaw101 => "power_law_1.01",
            ExpertRouting::PowerLaw12 => "power_law_1.2",
        }
    }

    /// Parses a table name (`uniform`, the SGLang wide-EP tables' name for `balanced`, as
    /// `balanced`).
    pub fn parse(name: &str) -> Result<Self> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("uniform") {
            return Ok(ExpertRouting::Balanced);
        }
        ExpertRouting::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| ModelsError::UnknownName {
                what: "expert routing",
                name: name.to_string(),
                known: ExpertRouting::ALL.map(ExpertRouting::name).join(", "),
            })
    }
}

impl fmt::Display for ExpertRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One GPU's share of a fused mixture-of-experts layer (the routed experts: gate/up GEMM,
/// activation, down GEMM, and the routing permutes), as the MoE kernel tables measure it: a
/// layer of `experts` experts of `inter` intermediate size, `topk` per token, split `moe_tp`
/// ways within each expert and `moe_ep` ways by expert; `tokens` tokens enter the layer and are
/// spread over the experts as `routing` says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoeShape {
    /// Expert weight format and GEMM dtype.
    pub quant: MoeQuant,
    /// Tokens entering the layer.
    pub tokens: u64,
    /// Hidden size.
    pub hidden: u32,
    /// Intermediate size of one expert (whole, before the MoE TP split).
    pub inter: u32,
    /// Experts per token.
    pub topk: u32,
    /// Routed experts of the layer (all GPUs together).
    pub experts: u32,
    /// Tensor parallelism within each expert.
    pub moe_tp: u32,
    /// Expert parallelism.
    pub moe_ep: u32,
    /// The kernel that runs it.
    pub kernel: MoeKernel,
    /// How the router spreads the tokens.
    pub routing: ExpertRouting,
}

/// One GPU's multi-head latent attention block of one layer, as the MLA module tables measure
/// it (aiconfigurator's `mla_context_module` / `mla_generation_module`, DeepSeek-V3's
/// `DeepseekV3Attention` forward): the query down/up projections, the KV latent projection,
/// attention over the cached latent (in decode with the key and value up-projections absorbed
/// into the batched `mla_bmm` GEMMs), and the output projection, for `heads` query heads on
/// the GPU (the model's heads over attention TP). Context: `batch` prompts of `len` tokens,
/// causal, nothing cached before; generation: `batch` sequences of one token reading `len`
/// cached tokens each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlaShape {
    /// Prompts (context) or sequences (generation).
    pub batch: u32,
    /// Prompt length (context) or KV length per sequence (generation).
    pub len: u32,
    /// Query heads on the GPU.
    pub heads: u32,
    /// Hidden size of the model.
    pub hidden: u32,
    /// The model's MLA dimensions.
    pub dims: MlaDims,
    /// KV-cache dtype.
    pub kv_dtype: Dtype,
    /// Dtype of the projection GEMMs.
    pub gemm_dtype: Dtype,
}

/// A part of an MLA block timed on its own, as SGLang runs the block: its projections are
/// GEMMs, and these are the rest (the kernel-only tables `context_mla`, `generation_mla` and
/// `mla_bmm` of aiconfigurator's database, which composes SGLang's DeepSeek layer of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MlaPart {
    /// Attention over prompts with the keys and values up-projected (`context_mla`).
    ContextAttention,
    /// Attention of one token per sequence over the cached latent (`generation_mla`).
    GenerationAttention,
    /// The key up-projection absorbed into the query, a batched GEMM (`mla_gen_pre`).
    AbsorbQuery,
    /// The value up-projection absorbed into the output, a batched GEMM (`mla_gen_post`).
    AbsorbOutput,
}

impl MlaPart {
    /// Every part.
    pub const ALL: [MlaPart; 4] = [
        MlaPart::ContextAttention,
        MlaPart::GenerationAttention,
        MlaPart::AbsorbQuery,
        MlaPart::AbsorbOutput,
    ];
}

/// One GPU's [`MlaPart`] of one layer. Attention: `batch` prompts of `len` tokens (context)
/// or `batch` sequences reading `len` cached tokens (generation), `dtype` the KV cache's;
/// the absorbed GEMMs: `batch` tokens (`len` 1), `dtype` the GEMM's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlaPartShape {
    /// Which part.
    pub part: MlaPart,
    /// Prompts, sequences or tokens.
    pub batch: u32,
    /// Prompt or KV length (1 for the absorbed GEMMs).
    pub len: u32,
    /// Query heads on the GPU.
    pub heads: u32,
    /// The model's MLA dimensions.
    pub dims: MlaDims,
    /// KV-cache dtype (attention) or GEMM dtype (absorbed GEMMs).
    pub dtype: Dtype,
}

/// A kernel of a Gated DeltaNet layer (Yang, Kautz & Hatamizadeh, "Gated Delta Networks:
/// Improving Mamba2 with Delta Rule", ICLR 2025), the linear attention of Qwen3-Next's and
/// Qwen3.5's `linear_attention` layers, as vLLM (0.11.0, `models/qwen3_next.py`), SGLang and
/// TensorRT-LLM run it: a causal depthwise convolution over the mixed query-key-value
/// projection, then the gated delta rule, chunked over a prompt and recurrent in decode (the
/// kernels of flash-linear-attention and of the causal-conv1d package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GdnPart {
    /// The convolution over prompts (`causal_conv1d_fn`).
    ContextConv,
    /// The chunked gated delta rule over prompts (`chunk_gated_delta_rule`).
    ContextRule,
    /// The convolution's one-token update of its state (`causal_conv1d_update`).
    GenerationConv,
    /// The recurrent gated delta rule of one token per sequence
    /// (`fused_recurrent_gated_delta_rule`, SGLang's `…_packed_decode`).
    GenerationRule,
}

impl GdnPart {
    /// Every part.
    pub const ALL: [GdnPart; 4] = [
        GdnPart::ContextConv,
        GdnPart::ContextRule,
        GdnPart::GenerationConv,
        GdnPart::GenerationRule,
    ];

    /// Whether the part runs over prompts (else over decode sequences).
    pub fn context(self) -> bool {
        matches!(self, GdnPart::ContextConv | GdnPart::ContextRule)
    }
}

/// One GPU's [`GdnPart`] of one layer: `batch` prompts of `len` tokens (context) or `batch`
/// sequences of one token (generation, `len` 1), over the heads on the GPU (the model's
/// `linear_num_key_heads` and `linear_num_value_heads` over TP).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GdnShape {
    /// Which kernel.
    pub part: GdnPart,
    /// Prompts or sequences.
    pub batch: u32,
    /// Prompt length (1 in generation).
    pub len: u32,
    /// Key heads on the GPU.
    pub k_heads: u32,
    /// Value heads on the GPU.
    pub v_heads: u32,
    /// Dimension of a key head (`linear_key_head_dim`).
    pub head_k_dim: u32,
    /// Dimension of a value head (`linear_value_head_dim`).
    pub head_v_dim: u32,
    /// Width of the causal convolution (`linear_conv_kernel_dim`).
    pub conv_kernel: u32,
}

/// The kernel that moves tokens to their experts' ranks and back under expert parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DispatchKernel {
    /// DeepEP's low-latency kernels (`deepep_ll`: SGLang's decode steps).
    DeepepLowLatency,
    /// DeepEP's normal kernels (`deepep_normal`: SGLang's prefill steps).
    DeepepNormal,
    /// TensorRT-LLM's two-sided NVLink all-to-all (`nvlink_two_sided`).
    NvlinkTwoSided,
    /// TensorRT-LLM's one-sided NVLink all-to-all (`nvlink_one_sided`).
    NvlinkOneSided,
}

/// One stage of a token dispatch and combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DispatchStage {
    /// Exchanging the routing (counts and expert indices) before the dispatch (`prepare`).
    Prepare,
    /// Tokens to the ranks of their experts (`dispatch`).
    Dispatch,
    /// The experts' outputs back to the tokens' ranks, BF16 (`combine`).
    Combine,
    /// The combine with NVFP4 outputs (`combine_low_precision`).
    CombineLowPrecision,
}

macro_rules! named_enum {
    ($t:ty, $what:literal, $($v:path => $n:literal),+ $(,)?) => {
        impl $t {
            /// The name used in tables.
            pub fn name(self) -> &'static str {
                match self { $($v => $n),+ }
            }

            /// Parses a table name.
            pub fn parse(name: &str) -> Result<Self> {
                match name.trim() {
                    $($n => Ok($v),)+
                    _ => Err(ModelsError::UnknownName {
                        what: $what,
                        name: name.to_string(),
                        known: [$($n),+].join(", "),
                    }),
                }
            }
        }
    };
}

named_enum!(MlaPart, "MLA part",
    MlaPart::ContextAttention => "context_attention",
    MlaPart::GenerationAttention => "generation_attention",
    MlaPart::AbsorbQuery => "absorb_query",
    MlaPart::AbsorbOutput => "absorb_output",
);
named_enum!(GdnPart, "Gated DeltaNet kernel",
    GdnPart::ContextConv => "context_conv",
    GdnPart::ContextRule => "context_rule",
    GdnPart::GenerationConv => "generation_conv",
    GdnPart::GenerationRule => "generation_rule",
);
named_enum!(DispatchKernel, "dispatch kernel",
    DispatchKernel::DeepepLowLatency => "deepep_ll",
    DispatchKernel::DeepepNormal => "deepep_normal",
    DispatchKernel::NvlinkTwoSided => "nvlink_two_sided",
    DispatchKernel::NvlinkOneSided => "nvlink_one_sided",
);
named_enum!(DispatchStage, "dispatch stage",
    DispatchStage::Prepare => "prepare",
    DispatchStage::Dispatch => "dispatch",
    DispatchStage::Combine => "combine",
    DispatchStage::CombineLowPrecision => "combine_low_precision",
);

/// One stage of the expert-parallel token exchange of one MoE layer, as the dispatch/combine
/// kernel tables measure it: each of `moe_ep` ranks (over `nodes` nodes) holds `tokens`
/// tokens, each routed to `topk` of `experts` experts spread evenly over the ranks (the
/// tables' `balanced` distribution); `dtype` is the tokens' dtype on dispatch (a combine
/// returns BF16, or NVFP4 in the low-precision one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DispatchShape {
    /// The kernel.
    pub kernel: DispatchKernel,
    /// The stage.
    pub stage: DispatchStage,
    /// The tokens' dtype on dispatch.
    pub dtype: Dtype,
    /// Tokens on each rank.
    pub tokens: u64,
    /// Hidden size.
    pub hidden: u32,
    /// Experts per token.
    pub topk: u32,
    /// Routed experts of the layer.
    pub experts: u32,
    /// Expert-parallel ranks.
    pub moe_ep: u32,
    /// Nodes the ranks span.
    pub nodes: u32,
}

/// Implementation of a framework's custom all-reduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AllReduceImpl {
    /// TensorRT-LLM's custom all-reduce.
    Trtllm,
    /// vLLM's custom all-reduce under CUDA graphs.
    VllmGraph,
    /// vLLM's custom all-reduce, eager mode.
    VllmEager,
    /// SGLang's custom all-reduce under CUDA graphs (`sglang_graph` in the public tables).
    Sglang,
    /// SGLang's custom all-reduce, eager mode.
    SglangEager,
}

impl AllReduceImpl {
    /// The name used in tables (`trtllm`, `vllm_graph`, `vllm_eager`, `sglang`,
    /// `sglang_eager`).
    pub fn name(self) -> &'static str {
        match self {
            AllReduceImpl::Trtllm => "trtllm",
            AllReduceImpl::VllmGraph => "vllm_graph",
            AllReduceImpl::VllmEager => "vllm_eager",
            AllReduceImpl::Sglang => "sglang",
            AllReduceImpl::SglangEager => "sglang_eager",
        }
    }

    /// Parses a table name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim() {
            "trtllm" => AllReduceImpl::Trtllm,
            "vllm_graph" => AllReduceImpl::VllmGraph,
            "vllm_eager" => AllReduceImpl::VllmEager,
            "sglang" | "sglang_graph" => AllReduceImpl::Sglang,
            "sglang_eager" => AllReduceImpl::SglangEager,
            _ => {
                return Err(ModelsError::UnknownName {
                    what: "all-reduce implementation",
                    name: name.to_string(),
                    known: "trtllm, vllm_graph, vllm_eager, sglang (or sglang_graph), sglang_eager"
                        .into(),
                });
            }
        })
    }
}

/// An NCCL collective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NcclOp {
    /// `all_reduce`.
    AllReduce,
    /// `all_gather`.
    AllGather,
    /// `reduce_scatter`.
    ReduceScatter,
    /// `alltoall`.
    AllToAll,
}

impl NcclOp {
    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            NcclOp::AllReduce => "all_reduce",
            NcclOp::AllGather => "all_gather",
            NcclOp::ReduceScatter => "reduce_scatter",
            NcclOp::AllToAll => "alltoall",
        }
    }

    /// Parses a table name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim() {
            "all_reduce" | "allreduce" => NcclOp::AllReduce,
            "all_gather" | "allgather" => NcclOp::AllGather,
            "reduce_scatter" | "reducescatter" => NcclOp::ReduceScatter,
            "alltoall" | "all_to_all" => NcclOp::AllToAll,
            _ => {
                return Err(ModelsError::UnknownName {
                    what: "NCCL op",
                    name: name.to_string(),
                    known: "all_reduce, all_gather, reduce_scatter, alltoall".into(),
                });
            }
        })
    }

    /// Bytes each GPU sends for a message of `bytes` over `n` GPUs (ring algorithms).
    pub fn wire_bytes(self, bytes: f64, n: u32) -> f64 {
        let n = f64::from(n.max(1));
        let share = (n - 1.0) / n;
        match self {
            NcclOp::AllReduce => 2.0 * share * bytes,
            NcclOp::AllGather | NcclOp::ReduceScatter | NcclOp::AllToAll => share * bytes,
        }
    }
}

/// One kernel call whose time a [`crate::perf::KernelTimer`] predicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KernelOp {
    /// A dense GEMM.
    Gemm(GemmShape),
    /// Context (prefill) attention: `batch` prompts of `len` tokens, causal.
    ContextAttention(AttnShape),
    /// Generation (decode) attention: `batch` sequences, one query token each, `len` KV tokens.
    GenerationAttention(AttnShape),
    /// The framework's custom all-reduce of `elems` elements over `num_gpus` GPUs.
    CustomAllReduce {
        /// Element dtype.
        dtype: Dtype,
        /// GPUs taking part.
        num_gpus: u32,
        /// Elements in the message.
        elems: u64,
        /// Which implementation.
        implementation: AllReduceImpl,
    },
    /// An NCCL collective of `elems` elements over `num_gpus` GPUs.
    Nccl {
        /// The collective.
        op: NcclOp,
        /// Element dtype.
        dtype: Dtype,
        /// GPUs taking part.
        num_gpus: u32,
        /// Elements in the message.
        elems: u64,
    },
    /// A GPU-to-GPU copy of `bytes` bytes.
    P2pCopy {
        /// Source GPU index.
        src_gpu: u32,
        /// Destination GPU index.
        dst_gpu: u32,
        /// Bytes copied.
        bytes: u64,
    },
    /// One GPU's share of a fused mixture-of-experts layer.
    Moe(MoeShape),
    /// A multi-head latent attention block over prompts (prefill).
    MlaContext(MlaShape),
    /// A multi-head latent attention block over decode sequences.
    MlaGeneration(MlaShape),
    /// A part of a multi-head latent attention block, timed on its own.
    MlaPart(MlaPartShape),
    /// One stage of an expert-parallel token dispatch or combine.
    MoeDispatch(DispatchShape),
    /// A kernel of a Gated DeltaNet (linear attention) layer.
    Gdn(GdnShape),
    /// A memory-bound element-wise kernel moving `bytes` bytes (read + write).
    ElementWise {
        /// Bytes read and written.
        bytes: u64,
    },
}

/// The kinds of operation in an iteration breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// QKV projection GEMMs (all layers).
    QkvGemm,
    /// Attention output projection GEMMs.
    OutProjGemm,
    /// MLP gate+up GEMMs.
    GateUpGemm,
    /// MLP down GEMMs.
    DownGemm,
    /// Context (prefill) attention.
    ContextAttention,
    /// Generation (decode) attention.
    GenerationAttention,
    /// Tensor-parallel all-reduces (two per layer when TP > 1).
    AllReduce,
    /// Norms, activation, residual adds, RoPE (memory-bound).
    ElementWise,
    /// Embedding lookup and final norm.
    Embedding,
    /// LM head GEMM (and its gather when TP > 1).
    LmHead,
    /// Sampling and the framework's per-iteration overhead.
    FrameworkOverhead,
    /// Mixture-of-experts layers: the router GEMM and the fused routed-expert kernel (shared
    /// experts are booked as MLP GEMMs). Last, so that dense breakdowns keep their order.
    MoeExperts,
}

impl OpKind {
    /// Every kind, in breakdown order.
    pub const ALL: [OpKind; 12] = [
        OpKind::QkvGemm,
        OpKind::OutProjGemm,
        OpKind::GateUpGemm,
        OpKind::DownGemm,
        OpKind::ContextAttention,
        OpKind::GenerationAttention,
        OpKind::AllReduce,
        OpKind::ElementWise,
        OpKind::Embedding,
        OpKind::LmHead,
        OpKind::FrameworkOverhead,
        OpKind::MoeExperts,
    ];

    /// A short snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::QkvGemm => "qkv_gemm",
            OpKind::OutProjGemm => "out_proj_gemm",
            OpKind::GateUpGemm => "gate_up_gemm",
            OpKind::DownGemm => "down_gemm",
            OpKind::ContextAttention => "context_attention",
            OpKind::GenerationAttention => "generation_attention",
            OpKind::AllReduce => "all_reduce",
            OpKind::ElementWise => "element_wise",
            OpKind::Embedding => "embedding",
            OpKind::LmHead => "lm_head",
            OpKind::FrameworkOverhead => "framework_overhead",
            OpKind::MoeExperts => "moe_experts",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

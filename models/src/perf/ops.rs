//! Kernel operations: the shapes a [`crate::perf::KernelTimer`] times, and the operation kinds
//! of an iteration breakdown.

use std::fmt;

use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};

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

/// Implementation of a framework's custom all-reduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AllReduceImpl {
    /// TensorRT-LLM's custom all-reduce.
    Trtllm,
    /// vLLM's custom all-reduce under CUDA graphs.
    VllmGraph,
    /// vLLM's custom all-reduce, eager mode.
    VllmEager,
    /// SGLang's custom all-reduce.
    Sglang,
}

impl AllReduceImpl {
    /// The name used in tables (`trtllm`, `vllm_graph`, `vllm_eager`, `sglang`).
    pub fn name(self) -> &'static str {
        match self {
            AllReduceImpl::Trtllm => "trtllm",
            AllReduceImpl::VllmGraph => "vllm_graph",
            AllReduceImpl::VllmEager => "vllm_eager",
            AllReduceImpl::Sglang => "sglang",
        }
    }

    /// Parses a table name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim() {
            "trtllm" => AllReduceImpl::Trtllm,
            "vllm_graph" => AllReduceImpl::VllmGraph,
            "vllm_eager" => AllReduceImpl::VllmEager,
            "sglang" => AllReduceImpl::Sglang,
            _ => {
                return Err(ModelsError::UnknownName {
                    what: "all-reduce implementation",
                    name: name.to_string(),
                    known: "trtllm, vllm_graph, vllm_eager, sglang".into(),
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
}

impl OpKind {
    /// Every kind, in breakdown order.
    pub const ALL: [OpKind; 11] = [
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
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The serving framework (engine) whose kernels and overheads are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    /// TensorRT-LLM.
    Trtllm,
    /// vLLM.
    Vllm,
    /// SGLang.
    Sglang,
}

impl Backend {
    /// All backends.
    pub const ALL: [Backend; 3] = [Backend::Trtllm, Backend::Vllm, Backend::Sglang];

    /// The name (`trtllm`, `vllm`, `sglang`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Trtllm => "trtllm",
            Backend::Vllm => "vllm",
            Backend::Sglang => "sglang",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "trtllm" | "tensorrt-llm" | "tensorrt_llm" => Ok(Backend::Trtllm),
            "vllm" => Ok(Backend::Vllm),
            "sglang" => Ok(Backend::Sglang),
            _ => Err(ModelsError::UnknownName {
                what: "backend",
                name: name.to_string(),
                known: "trtllm, vllm, sglang".into(),
            }),
        }
    }

    /// The custom all-reduce the framework uses inside CUDA graphs.
    pub fn allreduce_impl(self) -> AllReduceImpl {
        match self {
            Backend::Trtllm => AllReduceImpl::Trtllm,
            Backend::Vllm => AllReduceImpl::VllmGraph,
            Backend::Sglang => AllReduceImpl::Sglang,
        }
    }

    /// CPU-side scheduling, sampling and launch overhead per iteration, in ms (a model
    /// figure, not a measurement: CUDA-graph decode steps of each engine).
    pub fn iteration_overhead_ms(self) -> f64 {
        match self {
            Backend::Trtllm => 0.25,
            Backend::Vllm => 0.45,
            Backend::Sglang => 0.35,
        }
    }

    /// Host time to launch one decoder layer's kernels eagerly (no CUDA graph), in ms: the
    /// floor of an iteration that runs prefill, for the engines that capture only
    /// decode-only batches in CUDA graphs (TensorRT-LLM's PyTorch backend, SGLang's extend
    /// batches). The host launches ahead of the GPU, so the floor shows only when the GPU
    /// part is shorter. vLLM V1 runs mixed batches through piecewise CUDA graphs: no floor.
    ///
    /// A model figure, read from measured TensorRT-LLM runs of Llama-3.1-8B (32 layers) on
    /// H100 at TP4 and TP8, where the GPU part of a step with a 1,024-token context is
    /// 11–15 ms: the measured TPOT exceeds the decode-only steps by what ~21–23 ms per
    /// context step explain, at every concurrency from 16 to 64; at TP1 (GPU part ~27 ms)
    /// no excess shows.
    pub fn eager_layer_launch_ms(self) -> f64 {
        match self {
            Backend::Trtllm | Backend::Sglang => 0.65,
            Backend::Vllm => 0.0,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

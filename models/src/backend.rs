//! The serving frameworks (engines) modelled, and the figures that set them apart in an
//! iteration's time: their all-reduce, per-iteration overhead and eager launches.

use std::fmt;

use crate::error::{ModelsError, Result};
use crate::perf::ops::AllReduceImpl;

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

    /// Whether a mixture of experts' shared experts run beside its routed experts, on a second
    /// CUDA stream, in a decode step replayed as a CUDA graph, so that the layer takes the
    /// longer of the two: TensorRT-LLM (`Deepseekv3MoE.forward`, `maybe_execute_in_parallel`
    /// on its auxiliary stream, which `tensorrt_llm/_torch/modules/multi_stream_utils.py` turns
    /// on while graphs are captured) and SGLang (`DeepseekV2MoE.forward_normal_dual_stream`
    /// in capture mode, `models/deepseek_v2.py`). aiconfigurator (0.8.0, `DeepSeekModel`)
    /// times the generation MoE so, as `OverlapOp`. vLLM is not known to: it runs them in turn.
    pub fn overlaps_shared_experts(self) -> bool {
        matches!(self, Backend::Trtllm | Backend::Sglang)
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
    /// floor of an iteration that runs prefill, or a decode batch of no captured size, for
    /// the engines that capture only decode-only batches in CUDA graphs (TensorRT-LLM 1.0's
    /// PyTorch backend: graphs "are enabled for batches that consist of decoding requests
    /// *only*", `TorchLlmArgs.cuda_graph_config` in `tensorrt_llm/llmapi/llm_args.py`;
    /// SGLang's extend batches, `cuda_graph_runner.py` captures decode batches alone). The
    /// host launches ahead of the GPU, so the floor shows only when the GPU part is
    /// shorter. vLLM V1 runs mixed batches through piecewise CUDA graphs: no floor.
    ///
    /// A model figure, read from measured TensorRT-LLM runs of Llama-3.1-8B (32 layers) on
    /// H100 at TP4 and TP8, where the GPU part of a step with a 1,024-token context is
    /// 11–15 ms: the measured TPOT exceeds the decode-only steps by what ~21–23 ms per
    /// context step explain, at every concurrency from 16 to 64; at TP1 (GPU part ~27 ms)
    /// no excess shows. SGLang is given the same figure for want of a measurement of its
    /// own (the companion harness can time one: a step of each kind, graphed and eager).
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

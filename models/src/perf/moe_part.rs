//! The mixture-of-experts part of an iteration predictor: which fused-MoE kernel runs the
//! routed experts of a step, in which format, split how.

use crate::backend::Backend;
use crate::dtype::Dtype;
use crate::error::{ModelsError, Result};
use crate::llm::{ExpertFormat, LlmSpec, Parallelism};
use crate::perf::kernel_timer::KernelTimer;
use crate::perf::ops::{MoeKernel, MoeQuant, MoeShape};

/// Most tokens of a MoE layer that TensorRT-LLM runs with its NVFP4 min-latency kernel.
///
/// The rule is aiconfigurator's reading of TensorRT-LLM's kernel selection ("aligned with
/// trtllm, kernel source selection": `query_moe` in `sdk/perf_database.py` of aiconfigurator
/// 0.8.0 takes the `moe_torch_flow_min_latency` rows for `num_tokens <= 128`, NVFP4 and a
/// gated MLP, else the default kernel's); TensorRT-LLM's own source was not at hand to check
/// it against. Every built-in mixture of experts has gated experts.
pub const MIN_LATENCY_MOE_TOKENS: u64 = 128;

/// The mixture-of-experts part of a predictor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MoePart {
    /// Layers with experts.
    pub(crate) layers: f64,
    /// The routed experts' kernel (its `tokens` set per batch).
    pub(crate) kernel: MoeShape,
    /// Shared experts' intermediate size per GPU (0: none).
    pub(crate) shared_pg: u64,
    /// Whether steps of at most [`MIN_LATENCY_MOE_TOKENS`] tokens run TensorRT-LLM's NVFP4
    /// min-latency kernel (where it is measured for this shape).
    min_latency: bool,
    /// Whether the experts run SGLang's DeepEP MoE (under `--moe-a2a-backend deepep`): its
    /// normal kernel in prefill steps, its low-latency one in decode steps.
    deepep: bool,
}

impl MoePart {
    /// The experts of `llm` split by `par` (`None` for a dense model), `dense_layers` of its
    /// layers having a dense MLP instead; an error names a split the sizes do not allow.
    pub(crate) fn new(
        llm: &LlmSpec,
        par: &Parallelism,
        dense_layers: u32,
        backend: Backend,
        timer: &KernelTimer,
    ) -> Result<Option<MoePart>> {
        let Some(m) = llm.moe() else {
            return Ok(None);
        };
        let tp = par.tp;
        if !m.expert_intermediate_size.is_multiple_of(par.moe_tp)
            || !m.shared_intermediate_size.is_multiple_of(tp)
        {
            return Err(ModelsError::Invalid {
                what: "MoE TP size",
                message: format!(
                    "{} does not divide {}'s expert size {} (or TP {tp} its shared \
                     experts' {})",
                    par.moe_tp, llm.name, m.expert_intermediate_size, m.shared_intermediate_size
                ),
            });
        }
        let kernel = MoeShape {
            quant: moe_quant(llm, m.expert_format)?,
            tokens: 1,
            hidden: llm.hidden_size,
            inter: m.expert_intermediate_size,
            topk: m.top_k,
            experts: m.num_experts,
            moe_tp: par.moe_tp,
            moe_ep: par.moe_ep,
            kernel: MoeKernel::Default,
            routing: m.routing,
        };
        let min_latency = backend == Backend::Trtllm
            && kernel.quant == MoeQuant::Nvfp4
            && timer.measures_moe(&MoeShape {
                kernel: MoeKernel::MinLatency,
                ..kernel
            });
        Ok(Some(MoePart {
            layers: f64::from(llm.num_layers - dense_layers),
            kernel,
            shared_pg: u64::from(m.shared_intermediate_size / tp),
            min_latency,
            deepep: false,
        }))
    }

    /// The same experts run by SGLang's DeepEP MoE (`DeepEPMoE`, SGLang 0.5
    /// `layers/moe/ep_moe/layer.py`: DeepGEMM's grouped GEMMs over the tokens DeepEP
    /// delivered), where the kernel tables measure it for this shape; the other engines'
    /// DeepEP paths keep their own fused-MoE kernel.
    pub(crate) fn with_deepep_kernels(mut self, backend: Backend, timer: &KernelTimer) -> Self {
        self.deepep = backend == Backend::Sglang
            && [MoeKernel::DeepepNormal, MoeKernel::DeepepLowLatency]
                .into_iter()
                .all(|kernel| {
                    timer.measures_moe(&MoeShape {
                        kernel,
                        ..self.kernel
                    })
                });
        self
    }

    /// The routed experts of a step of `tokens` tokens, on the kernel the engine picks for a
    /// `prefill` step or a decode one.
    pub(crate) fn experts(&self, tokens: u64, prefill: bool) -> MoeShape {
        let kernel = if self.deepep {
            if prefill {
                MoeKernel::DeepepNormal
            } else {
                MoeKernel::DeepepLowLatency
            }
        } else if self.min_latency && tokens <= MIN_LATENCY_MOE_TOKENS {
            MoeKernel::MinLatency
        } else {
            MoeKernel::Default
        };
        MoeShape {
            tokens,
            kernel,
            ..self.kernel
        }
    }
}

/// The MoE kernel format of a model's experts: MXFP4 experts run as w4a16 on GPUs without FP4
/// tensor cores (the tables' `w4a16_mxfp4`), int4 ones as `int4_wo`, the others in the weight
/// dtype.
fn moe_quant(llm: &LlmSpec, format: ExpertFormat) -> Result<MoeQuant> {
    match (format, llm.weight_dtype) {
        (ExpertFormat::Mxfp4, _) => Ok(MoeQuant::W4a16Mxfp4),
        (ExpertFormat::Int4 { .. }, _) => Ok(MoeQuant::Int4Wo),
        (ExpertFormat::Nvfp4, _) => Ok(MoeQuant::Nvfp4),
        (_, Dtype::Bf16 | Dtype::Fp16) => Ok(MoeQuant::Bf16),
        (_, Dtype::Fp8) => Ok(MoeQuant::Fp8),
        (_, Dtype::Fp8Block) => Ok(MoeQuant::Fp8Block),
        (_, Dtype::Nvfp4) => Ok(MoeQuant::Nvfp4),
        (_, d) => Err(ModelsError::NotModelled {
            model: llm.name.clone(),
            what: "the iteration predictor".into(),
            reason: format!("experts in {d} are not modelled (bf16, fp8, fp8_block, nvfp4, mxfp4)"),
        }),
    }
}

//! Where a deployment's kernel times come from: measured rows of the kernel's own shape,
//! the same kind's rows measured on another GPU of the generation (MoE layers, see
//! [`super::sources`]), another shape's rows (the nearest measured category's efficiency
//! carried through the roofline, see [`super::calibrated`]), or the roofline alone. `servesim perf check`
//! measures the first; the others have no such check, so a prediction that leans on them
//! says so (`servesim validate`'s `note`, a run's warnings).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::perf::ops::{AttnShape, KernelOp, MlaPart, MoeKernel};
use crate::perf::predictor::{BatchShape, IterationPredictor, PrefillChunk};
use crate::perf::{CalibratedTimer, KernelTimer};

/// Which steps a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steps {
    /// Prefill steps only (a disaggregated prefill worker).
    Prefill,
    /// Decode steps only (a disaggregated decode worker).
    Decode,
    /// Both (an aggregated worker).
    Both,
}

/// How one kernel's time is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelBasis {
    /// Interpolated between measured rows of its own category (dtype, kernel, model shape).
    Measured,
    /// Measured rows of its own category on another GPU of the same generation, scaled by
    /// the speed-up measured on the kinds both GPUs measured.
    Sibling,
    /// The nearest measured category's achieved efficiency, applied to its own roofline.
    Neighbour,
    /// The datasheet roofline alone (no table of its family).
    Roofline,
}

/// What a worker's steps time from other than measurements of their own kernels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KernelProvenance {
    /// The GPU whose tables time the kernels, where it is not the worker's own.
    pub borrowed_from: Option<String>,
    /// The GPU whose rows of their own kind time the [`KernelBasis::Sibling`] kernels.
    pub sibling: Option<String>,
    /// Kernels not measured in their own category, by description.
    pub unmeasured: BTreeMap<String, KernelBasis>,
}

impl KernelProvenance {
    /// Which kernels of `predictor`'s steps (a prefill step of one 1,024-token prompt, a
    /// decode step of 8 sequences of 1,024 tokens, as `steps` says it runs) are not timed from
    /// measurements of their own kind.
    pub fn of(predictor: &IterationPredictor, steps: Steps) -> KernelProvenance {
        let timer: Arc<CalibratedTimer> = match predictor.timer() {
            KernelTimer::Calibrated(c) | KernelTimer::Recording(c, _) => c.clone(),
            KernelTimer::Roofline(r) => {
                return KernelProvenance {
                    borrowed_from: None,
                    sibling: None,
                    unmeasured: BTreeMap::from([(
                        format!("every kernel on {} (no measured tables)", r.gpu.sku),
                        KernelBasis::Roofline,
                    )]),
                };
            }
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let probe = predictor.with_timer(KernelTimer::Recording(timer.clone(), seen.clone()));
        let chunk = [PrefillChunk {
            tokens: 1024,
            context: 0,
        }];
        let prefill = BatchShape {
            prefill: &chunk,
            decode_seqs: 0,
            decode_kv_tokens: 0,
            eager: true,
        };
        let decode = BatchShape {
            prefill: &[],
            decode_seqs: 8,
            decode_kv_tokens: 8 * 1024,
            eager: false,
        };
        if steps != Steps::Decode {
            probe.predict_ms(&prefill);
        }
        if steps != Steps::Prefill {
            probe.predict_ms(&decode);
        }
        let ops = seen.lock().expect("recorded operations lock").clone();
        let mut unmeasured = BTreeMap::new();
        let mut sibling = None;
        for op in &ops {
            let basis = if !timer.is_measured(op) {
                KernelBasis::Roofline
            } else if timer.measures_own_category(op) {
                KernelBasis::Measured
            } else if let Some(gpu) = timer.sibling_source(op) {
                sibling = Some(gpu.sku.clone());
                KernelBasis::Sibling
            } else {
                KernelBasis::Neighbour
            };
            if basis != KernelBasis::Measured
                && let Some(what) = describe(op)
            {
                keep_worse(&mut unmeasured, what, basis);
            }
        }
        let domains = predictor.domains();
        if domains > 1 {
            // NCCL's cost between domains (`super::inter_domain`), never measured here.
            keep_worse(
                &mut unmeasured,
                format!(
                    "collectives between the {domains} NVLink domains the worker spans (NCCL's \
                     hop latencies and the NICs)"
                ),
                KernelBasis::Roofline,
            );
        }
        let (source, gpu) = (&timer.source_gpu().sku, &timer.gpu().sku);
        KernelProvenance {
            borrowed_from: (source != gpu).then(|| source.clone()),
            sibling,
            unmeasured,
        }
    }

    /// Adds what `other` (another worker's, timed from the same tables) leans on.
    pub fn merge(&mut self, other: KernelProvenance) {
        self.borrowed_from = self.borrowed_from.take().or(other.borrowed_from);
        self.sibling = self.sibling.take().or(other.sibling);
        for (what, basis) in other.unmeasured {
            keep_worse(&mut self.unmeasured, what, basis);
        }
    }

    /// Whether every kernel is timed from measurements of its own shape on its own GPU.
    pub fn is_measured(&self) -> bool {
        self.borrowed_from.is_none() && self.unmeasured.is_empty()
    }

    /// One sentence saying what is not measured (`None` when everything is).
    pub fn sentence(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(source) = &self.borrowed_from {
            parts.push(format!(
                "kernels timed from {source}'s measured tables through the datasheets"
            ));
        }
        let list = |basis| {
            self.unmeasured
                .iter()
                .filter(|(_, b)| **b == basis)
                .map(|(w, _)| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sibling = list(KernelBasis::Sibling);
        if let Some(gpu) = self.sibling.as_ref().filter(|_| !sibling.is_empty()) {
            parts.push(format!(
                "timed from {gpu}'s measured rows of their kind, scaled by the speed-up \
                 measured on the kinds both GPUs measured: {sibling}"
            ));
        }
        let near = list(KernelBasis::Neighbour);
        if !near.is_empty() {
            parts.push(format!(
                "no measured rows of their kind (format, kernel and model shape; sizes and \
                 splits are interpolated within a kind), timed from the nearest measured kind \
                 through the roofline: {near}"
            ));
        }
        let roof = list(KernelBasis::Roofline);
        if !roof.is_empty() {
            parts.push(format!("timed from the roofline alone: {roof}"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Notes `what` as timed on `basis`, keeping the weaker basis where it is already noted.
fn keep_worse(unmeasured: &mut BTreeMap<String, KernelBasis>, what: String, basis: KernelBasis) {
    let b = unmeasured.entry(what).or_insert(basis);
    *b = (*b).max(basis);
}

/// A kernel's category in words (`None` for element-wise kernels, which are always timed
/// from the roofline and never measured).
fn describe(op: &KernelOp) -> Option<String> {
    Some(match op {
        KernelOp::Gemm(g) => format!("{} GEMMs", g.dtype.name()),
        KernelOp::ContextAttention(a) => attention("context", a),
        KernelOp::GenerationAttention(a) => attention("generation", a),
        KernelOp::CustomAllReduce { implementation, .. } => {
            format!("all-reduce ({})", implementation.name())
        }
        KernelOp::Nccl { op, .. } => format!("NCCL {}", op.name()),
        KernelOp::P2pCopy { .. } => "peer-to-peer copies".to_string(),
        KernelOp::Moe(m) => format!(
            "MoE layers ({}{}, {} experts, top-{}, hidden {}, expert size {}, {} routing)",
            m.quant.name(),
            match m.kernel {
                MoeKernel::Default => "",
                MoeKernel::MinLatency => " min-latency kernel",
                MoeKernel::DeepepNormal => " DeepEP normal kernel",
                MoeKernel::DeepepLowLatency => " DeepEP low-latency kernel",
            },
            m.experts,
            m.topk,
            m.hidden,
            m.inter,
            m.routing.name()
        ),
        KernelOp::MlaContext(m) => format!("MLA context blocks ({} heads)", m.heads),
        KernelOp::MlaGeneration(m) => format!("MLA generation blocks ({} heads)", m.heads),
        KernelOp::MlaPart(p) => format!(
            "MLA {} ({} heads)",
            match p.part {
                MlaPart::ContextAttention => "context attention",
                MlaPart::GenerationAttention => "generation attention",
                MlaPart::AbsorbQuery => "query absorption",
                MlaPart::AbsorbOutput => "output absorption",
            },
            p.heads
        ),
        KernelOp::MoeDispatch(d) => format!("expert dispatch and combine ({})", d.kernel.name()),
        KernelOp::Gdn(g) => format!(
            "Gated DeltaNet {} ({} key and {} value heads of {} and {})",
            g.part.name().replace('_', " "),
            g.k_heads,
            g.v_heads,
            g.head_k_dim,
            g.head_v_dim
        ),
        KernelOp::ElementWise { .. } => return None,
    })
}

/// An attention kernel of `phase` in words.
fn attention(phase: &str, a: &AttnShape) -> String {
    format!(
        "{phase} attention ({} heads, {} KV heads, head size {}, KV in {})",
        a.num_heads,
        a.num_kv_heads,
        a.head_dim,
        a.kv_dtype.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::hardware::GpuCatalog;
    use crate::llm::{LlmSpec, Parallelism};

    fn provenance(id: &str, gpu: &str, backend: Backend, tp: u32) -> KernelProvenance {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup(id).unwrap();
        let timer = KernelTimer::shipped(&cat, gpu, backend).unwrap();
        let p = IterationPredictor::with_parallelism(
            &llm,
            &Parallelism::tensor(tp),
            cat.get(gpu).unwrap(),
            backend,
            timer,
        )
        .unwrap();
        KernelProvenance::of(&p, Steps::Both)
    }

    #[test]
    fn a_dense_model_on_its_measured_gpu_is_measured_throughout() {
        let p = provenance(
            "meta-llama/Llama-3.1-8B-Instruct",
            "h100_sxm",
            Backend::Vllm,
            2,
        );
        assert!(p.is_measured(), "{p:?}");
        assert_eq!(p.sentence(), None);
    }

    #[test]
    fn collectives_between_nodes_are_named_as_modelled() {
        // Llama-3.1-8B at TP 16 over two H100 nodes: NCCL within each, the model between.
        let p = provenance(
            "meta-llama/Llama-3.1-8B-Instruct",
            "h100_sxm",
            Backend::Vllm,
            16,
        );
        let sentence = p.sentence().unwrap();
        assert!(
            sentence.contains("roofline alone")
                && sentence.contains("collectives between the 2 NVLink domains"),
            "{sentence}"
        );
    }

    #[test]
    fn sglang_times_its_all_reduce_from_its_own_tables() {
        let p = provenance(
            "meta-llama/Llama-3.1-8B-Instruct",
            "h200_sxm",
            Backend::Sglang,
            2,
        );
        assert!(p.is_measured(), "{p:?}");
    }

    fn moe_basis(p: &KernelProvenance) -> (String, KernelBasis) {
        let moe: Vec<_> = p
            .unmeasured
            .iter()
            .filter(|(what, _)| what.starts_with("MoE layers"))
            .collect();
        assert_eq!(moe.len(), 1, "{p:?}");
        (moe[0].0.clone(), *moe[0].1)
    }

    #[test]
    fn experts_of_a_shape_never_measured_are_named() {
        // Mixtral-8x7B's experts under TensorRT-LLM (BF16): not in H100's tables, which an
        // A100 borrows; no shipped GPU is of the A100's generation, so they come from the
        // nearest kind.
        let p = provenance("Mixtral-8x7B", "a100_sxm", Backend::Trtllm, 4);
        let (what, basis) = moe_basis(&p);
        assert!(what.contains("8 experts"), "{p:?}");
        assert_eq!(basis, KernelBasis::Neighbour);
        let sentence = p.sentence().unwrap();
        assert!(sentence.contains("nearest measured") && sentence.contains("MoE layers"));
    }

    #[test]
    fn experts_measured_on_a_sibling_name_it() {
        // TensorRT-LLM's H200 MXFP4 MoE rows are gpt-oss-20b's (32 experts); gpt-oss-120b's
        // 128 are measured on H100.
        let p = provenance("gpt-oss-120b", "h200_sxm", Backend::Trtllm, 2);
        let (what, basis) = moe_basis(&p);
        assert!(what.contains("128 experts"), "{p:?}");
        assert_eq!(basis, KernelBasis::Sibling);
        assert_eq!(p.sibling.as_deref(), Some("h100_sxm"));
        let sentence = p.sentence().unwrap();
        assert!(
            sentence.starts_with("timed from h100_sxm's measured rows of their kind")
                && sentence.contains("MoE layers"),
            "{sentence}"
        );
    }

    #[test]
    fn a_gpu_without_tables_says_whose_it_borrows() {
        let p = provenance(
            "meta-llama/Llama-3.1-8B-Instruct",
            "b300_sxm",
            Backend::Trtllm,
            1,
        );
        assert_eq!(p.borrowed_from.as_deref(), Some("b200_sxm"));
        assert!(p.sentence().unwrap().contains("b200_sxm's measured tables"));
    }
}

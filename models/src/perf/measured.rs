//! A deployment timed by the user's own kernel measurements over the shipped tables.
//!
//! The harness (`harness/`) and `servesim calibrate import` write tables of the kernels a user
//! measured on their GPUs (`<gpu>/<backend>/<family>.csv.gz`). Read as the kernel timer of a
//! run, they need no rebuild of servesim: each measured table takes the place of the shipped
//! table of the same GPU, backend folder and family, and every other table stays as shipped,
//! so a sweep of GEMMs and attention still has the shipped collectives and MoE kernels beside
//! it. Tables are then chosen exactly as for the shipped set
//! ([`CalibratedTimer::from_calibration`]): the GPU's own, else the nearest GPU's.

use std::sync::Arc;

use crate::backend::Backend;
use crate::calibration::CalibrationTable;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuCatalog;
use crate::perf::calibrated::CalibratedTimer;
use crate::perf::check::gpu_tables;
use crate::perf::kernel_timer::KernelTimer;
use crate::perf::sources::tables_read;

/// The timer of measured tables over the shipped ones, and what of them it does not read.
#[derive(Debug, Clone)]
pub struct MeasuredTimer {
    /// The kernel timer.
    pub timer: KernelTimer,
    /// The measured tables the timer does not read (`gpu/backend/family`, in the order given):
    /// another GPU's, or a backend folder this backend does not read its family from.
    pub unread: Vec<String>,
}

/// Where a table belongs: its GPU as the catalog names it (as written where the catalog does
/// not know it), its backend folder and its family.
fn slot(catalog: &GpuCatalog, t: &CalibrationTable) -> (String, String, String) {
    let gpu = catalog
        .get(&t.header.gpu)
        .map_or_else(|_| t.header.gpu.clone(), |g| g.sku.clone());
    (gpu, t.header.backend.clone(), t.header.family.to_string())
}

/// The timer of `gpu` for `backend` from the `measured` tables in place of the shipped ones of
/// the same GPU, backend folder and family (see the module documentation). An error when
/// `measured` is empty or the timer would read none of it; `unread` lists the tables it
/// skips.
pub fn over_shipped(
    measured: Vec<CalibrationTable>,
    catalog: &GpuCatalog,
    gpu: &str,
    backend: Backend,
) -> Result<MeasuredTimer> {
    let invalid = |message: String| ModelsError::Invalid {
        what: "calibration",
        message,
    };
    if measured.is_empty() {
        return Err(invalid("the folder holds no calibration table".into()));
    }
    let slots: Vec<_> = measured.iter().map(|t| slot(catalog, t)).collect();
    let mut set: Vec<CalibrationTable> = gpu_tables(None, catalog, gpu)?
        .into_iter()
        .filter(|t| !slots.contains(&slot(catalog, t)))
        .collect();
    let first_measured = set.len();
    set.extend(measured);
    let read = tables_read(&set, catalog, gpu, backend)?;
    let unread: Vec<String> = slots
        .iter()
        .zip(&read[first_measured..])
        .filter(|&(_, &r)| !r)
        .map(|((g, b, f), _)| format!("{g}/{b}/{f}"))
        .collect();
    if unread.len() == slots.len() {
        let target = &catalog.get(gpu)?.sku;
        return Err(invalid(format!(
            "none of its tables ({}) times {} under {}: a table is read when it is of that \
             GPU (or, for a GPU without tables, the nearest one) and lies in the folder the \
             backend reads its family from (its own; SGLang's attention: vllm; collectives: \
             nccl)",
            unread.join(", "),
            target,
            backend.name()
        )));
    }
    let timer = CalibratedTimer::from_calibration(&set, catalog, gpu, backend)?;
    Ok(MeasuredTimer {
        timer: KernelTimer::Calibrated(Arc::new(timer)),
        unread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::{Family, shipped};
    use crate::llm::LlmSpec;
    use crate::perf::{BatchShape, IterationPredictor, PrefillChunk};

    fn step_ms(timer: KernelTimer, gpu: &str, backend: Backend) -> Vec<f64> {
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("Qwen/Qwen3-32B").unwrap();
        let p = IterationPredictor::new(&llm, 2, cat.get(gpu).unwrap(), backend, timer).unwrap();
        let chunk = [PrefillChunk {
            tokens: 1500,
            context: 300,
        }];
        [(0, 64), (1, 0), (1, 8)]
            .iter()
            .map(|&(prefill, decode_seqs)| {
                p.predict_ms(&BatchShape {
                    prefill: &chunk[..prefill],
                    decode_seqs,
                    decode_kv_tokens: u64::from(decode_seqs) * 2000,
                    eager: false,
                })
            })
            .collect()
    }

    #[test]
    fn a_measured_copy_of_a_shipped_table_times_as_shipped() {
        let cat = GpuCatalog::builtin();
        for (gpu, backend) in [("h200_sxm", Backend::Vllm), ("b300_sxm", Backend::Sglang)] {
            let source = if gpu == "b300_sxm" { "b200_sxm" } else { gpu };
            let copy = shipped::load(source, backend.name(), Family::Gemm)
                .unwrap()
                .unwrap();
            let m = over_shipped(vec![copy], &cat, gpu, backend).unwrap();
            let shipped = KernelTimer::shipped(&cat, gpu, backend).unwrap();
            assert_eq!(
                step_ms(m.timer, gpu, backend),
                step_ms(shipped, gpu, backend),
                "{gpu} {backend:?}"
            );
        }
    }

    #[test]
    fn a_measured_table_replaces_the_shipped_one_of_its_slot() {
        let cat = GpuCatalog::builtin();
        let mut slow = shipped::load("h200_sxm", "vllm", Family::Gemm)
            .unwrap()
            .unwrap();
        for (_, ms) in &mut slow.rows {
            *ms *= 2.0;
        }
        let m = over_shipped(vec![slow], &cat, "h200_sxm", Backend::Vllm).unwrap();
        assert!(m.unread.is_empty());
        let shipped = KernelTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
        let (fast, slow) = (
            step_ms(shipped, "h200_sxm", Backend::Vllm),
            step_ms(m.timer, "h200_sxm", Backend::Vllm),
        );
        for (f, s) in fast.iter().zip(&slow) {
            assert!(s > &(1.2 * f), "{fast:?} {slow:?}");
        }
    }

    #[test]
    fn tables_no_run_reads_are_named_and_none_read_is_an_error() {
        let cat = GpuCatalog::builtin();
        let h100 = shipped::load("h100_sxm", "vllm", Family::Gemm)
            .unwrap()
            .unwrap();
        let h200_trt = shipped::load("h200_sxm", "trtllm", Family::Gemm)
            .unwrap()
            .unwrap();
        let h200 = shipped::load("h200_sxm", "vllm", Family::Gemm)
            .unwrap()
            .unwrap();
        let m = over_shipped(
            vec![h100.clone(), h200_trt.clone(), h200],
            &cat,
            "h200_sxm",
            Backend::Vllm,
        )
        .unwrap();
        assert_eq!(m.unread, ["h100_sxm/vllm/gemm", "h200_sxm/trtllm/gemm"]);
        let e = over_shipped(vec![h100, h200_trt], &cat, "h200_sxm", Backend::Vllm)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("calibration")
                && e.contains("h100_sxm/vllm/gemm, h200_sxm/trtllm/gemm")
                && e.contains("h200_sxm under vllm"),
            "{e}"
        );
        assert!(over_shipped(vec![], &cat, "h200_sxm", Backend::Vllm).is_err());
    }
}

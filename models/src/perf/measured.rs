//! A deployment timed by the user's own kernel measurements over the shipped tables.
//!
//! The harness (`harness/`) and `servesim calibrate import` write tables of the kernels a user
//! measured on their GPUs (`<gpu>/<backend>/<family>.csv.gz`). Read as the kernel timer of a
//! run, they need no rebuild of servesim: each measured table takes the place of the shipped
//! table of the same GPU, backend folder and family, and every other table stays as shipped,
//! so a sweep of GEMMs and attention still has the shipped collectives and MoE kernels beside
//! it. Tables are then chosen exactly as for the shipped set
//! ([`CalibratedTimer::from_calibration`]): the GPU's own, else the nearest GPU's. A GPU
//! without shipped tables (B300, say) is timed from the nearest shipped GPU's; tables measured
//! on it become its own and take the place of all of those, so the families they lack fall to
//! the roofline, which [`MeasuredTimer::roofline_only`] names.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::backend::Backend;
use crate::calibration::CalibrationTable;
use crate::error::{ModelsError, Result};
use crate::hardware::GpuCatalog;
use crate::perf::calibrated::CalibratedTimer;
use crate::perf::check::shipped_tables_for;
use crate::perf::kernel_timer::KernelTimer;
use crate::perf::sources::tables_read;

/// The timer of measured tables over the shipped ones, and what it does not read.
#[derive(Debug, Clone)]
pub struct MeasuredTimer {
    /// The kernel timer.
    pub timer: KernelTimer,
    /// The measured tables the timer does not read (`gpu/backend/family`, in the order given):
    /// another GPU's, or in a backend folder this backend does not read that family from.
    pub unread: Vec<String>,
    /// Families the shipped tables time that this timer times by the roofline alone (sorted):
    /// the measured tables are of a GPU without shipped tables of its own, so they take the
    /// place of the shipped GPU that timed it, whose other tables are then not read.
    pub roofline_only: Vec<String>,
}

/// Where a table belongs: its header's GPU (a measured table's under the catalog's name, see
/// [`over_shipped`]), its backend folder and its family.
fn slot(t: &CalibrationTable) -> (String, String, String) {
    (
        t.header.gpu.clone(),
        t.header.backend.clone(),
        t.header.family.to_string(),
    )
}

/// The families of `tables` marked in `read`.
fn families(tables: &[CalibrationTable], read: &[bool]) -> BTreeSet<String> {
    tables
        .iter()
        .zip(read)
        .filter(|&(_, &r)| r)
        .map(|(t, _)| t.header.family.to_string())
        .collect()
}

/// The timer of `gpu` for `backend` from the `measured` tables in place of the shipped ones of
/// the same GPU, backend folder and family (see the module documentation). An error when
/// `measured` is empty or the timer would read none of it; `unread` lists the tables it
/// skips, `roofline_only` the families it no longer times from tables.
pub fn over_shipped(
    mut measured: Vec<CalibrationTable>,
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
    // Headers under the catalog's names (a harness run may name the GPU `H200`), so a
    // measured table meets the shipped ones of its GPU.
    for t in &mut measured {
        if let Ok(g) = catalog.get(&t.header.gpu) {
            t.header.gpu = g.sku.clone();
        }
    }
    let slots: Vec<_> = measured.iter().map(slot).collect();
    let shipped = shipped_tables_for(catalog, gpu, backend)?;
    let shipped_read = tables_read(&shipped, catalog, gpu, backend)?;
    let shipped_families = families(&shipped, &shipped_read);
    let mut set: Vec<CalibrationTable> = shipped
        .into_iter()
        .filter(|t| !slots.contains(&slot(t)))
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
            "none of its tables ({}) times {} under {}: a run reads the tables of its GPU (or, \
             for a GPU without tables, of the nearest one), each family from one backend \
             folder (`servesim perf check --gpu G --backend B` names it beside each table)",
            unread.join(", "),
            target,
            backend.name()
        )));
    }
    let roofline_only = shipped_families
        .difference(&families(&set, &read))
        .cloned()
        .collect();
    let timer = CalibratedTimer::from_calibration(&set, catalog, gpu, backend)?;
    Ok(MeasuredTimer {
        timer: KernelTimer::Calibrated(Arc::new(timer)),
        unread,
        roofline_only,
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
    fn a_measured_copy_of_a_shipped_table_times_as_shipped_under_any_name_of_its_gpu() {
        // Named `H200` in its header (a harness run may say so), the copy still takes the
        // place of the shipped `h200_sxm` table, and every other shipped table stays read.
        let cat = GpuCatalog::builtin();
        let mut copy = shipped::load("h200_sxm", "vllm", Family::Gemm)
            .unwrap()
            .unwrap();
        copy.header.gpu = "H200".into();
        let m = over_shipped(vec![copy], &cat, "h200_sxm", Backend::Vllm).unwrap();
        assert!(m.unread.is_empty() && m.roofline_only.is_empty());
        let shipped = KernelTimer::shipped_builtin("h200_sxm", Backend::Vllm).unwrap();
        assert_eq!(
            step_ms(m.timer, "h200_sxm", Backend::Vllm),
            step_ms(shipped, "h200_sxm", Backend::Vllm)
        );
    }

    #[test]
    fn tables_of_a_gpu_without_shipped_ones_leave_its_other_families_to_the_roofline() {
        // B300 is timed from B200's shipped tables; a measured B300 table takes their place,
        // and the families it lacks are named.
        let cat = GpuCatalog::builtin();
        let mut b300 = shipped::load("b200_sxm", "vllm", Family::Gemm)
            .unwrap()
            .unwrap();
        b300.header.gpu = "b300_sxm".into();
        let m = over_shipped(vec![b300], &cat, "b300_sxm", Backend::Vllm).unwrap();
        assert!(m.unread.is_empty());
        for f in ["context_attention", "generation_attention", "nccl"] {
            assert!(
                m.roofline_only.iter().any(|r| r == f),
                "{f}: {:?}",
                m.roofline_only
            );
        }
        assert!(!m.roofline_only.iter().any(|r| r == "gemm"));
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
        let shipped = KernelTimer::shipped_builtin("h200_sxm", Backend::Vllm).unwrap();
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
        // A MoE table of the sibling GPU (H100 for H200 under TensorRT-LLM) times the MoE
        // kinds H200's own tables lack: read.
        let moe = shipped::load("h100_sxm", "trtllm", Family::Moe)
            .unwrap()
            .unwrap();
        let m = over_shipped(vec![moe], &cat, "h200_sxm", Backend::Trtllm).unwrap();
        assert!(m.unread.is_empty() && m.roofline_only.is_empty());
    }
}

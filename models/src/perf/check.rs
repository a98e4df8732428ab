//! The leave-shape-out check of a GPU's calibration, public table by public table (`servesim
//! perf check`, Python's `servesim.perf.check`): each measured row predicted with every row
//! of its shape left out, beside the spread of the table's own repeated measurements.

use std::path::Path;

use crate::backend::Backend;
use crate::calibration::{self, CalibrationTable, Family, shipped};
use crate::error::{ModelsError, Result};
use crate::hardware::GpuCatalog;
use crate::perf::CalibratedTimer;
use crate::perf::evaluate::{ErrorStats, leave_shape_out_predictions, repeat_spread};
use crate::perf::ops::{DispatchKernel, KernelOp, MlaPart};
use crate::perf::sources::{family_dir, same_generation, shipped_source};

/// One public kernel table's check.
#[derive(Debug, Clone)]
pub struct TableCheck {
    /// The public table (`gemm_perf`, `wideep_deepep_ll_perf`, …).
    pub table: String,
    /// The backend folder whose measurements it holds (`nccl` for NCCL's; SGLang reads
    /// vLLM's tables of the kernels it has none of).
    pub measured_under: String,
    /// Each row checked: its kernel call, the measured and the leave-shape-out predicted
    /// time, ms (rows alone in their category are not checked).
    pub rows: Vec<(KernelOp, f64, f64)>,
    /// The checked rows' absolute relative errors.
    pub errors: ErrorStats,
    /// The spread of the table's repeated measurements of one call ([`repeat_spread`]):
    /// about the least error a prediction can make on those rows.
    pub repeats: ErrorStats,
}

/// The tables that time `gpu`: those of the calibration folder `calibration`, else the
/// shipped tables of the GPU whose measurements time it (every backend's) with the MoE tables
/// of every shipped GPU of its generation, from which a sibling GPU's rows time the MoE kinds
/// its own lack, as [`CalibratedTimer::shipped`] reads them (no other GPU's can be a sibling).
pub fn gpu_tables(
    calibration: Option<&Path>,
    catalog: &GpuCatalog,
    gpu: &str,
) -> Result<Vec<CalibrationTable>> {
    if let Some(dir) = calibration {
        return calibration::load_dir(dir);
    }
    shipped_tables(catalog, gpu, |_, _, _| true)
}

/// The shipped tables of [`gpu_tables`] that a timer of `gpu` for `backend` may read: of each
/// family, the table in the backend folder it reads that family from ([`family_dir`]).
pub fn shipped_tables_for(
    catalog: &GpuCatalog,
    gpu: &str,
    backend: Backend,
) -> Result<Vec<CalibrationTable>> {
    shipped_tables(catalog, gpu, |g, b, family| {
        b == family_dir(backend, family, |d| shipped::has(g, d, family))
    })
}

/// The shipped tables of [`gpu_tables`] (`gpu`'s source GPU's, every same-generation GPU's MoE
/// tables) that `keep(gpu, backend folder, family)` keeps, loaded only then.
fn shipped_tables(
    catalog: &GpuCatalog,
    gpu: &str,
    keep: impl Fn(&str, &str, Family) -> bool,
) -> Result<Vec<CalibrationTable>> {
    let target = catalog.get(gpu)?;
    let source = shipped_source(catalog, target)?;
    let mut out = Vec::new();
    for (g, b, f, _) in shipped::SHIPPED {
        let family = Family::parse(f)?;
        let sibling = || {
            family.moe_kernel().is_some()
                && catalog.get(g).is_ok_and(|s| same_generation(s, target))
        };
        if (g == source || sibling()) && keep(g, b, family) {
            out.extend(shipped::load(g, b, family)?);
        }
    }
    Ok(out)
}

/// [`check`] of the tables that time `gpu` ([`gpu_tables`]: those of the folder
/// `calibration`, else the shipped ones), its errors naming where they came from.
pub fn check_calibration(
    calibration: Option<&Path>,
    catalog: &GpuCatalog,
    gpu: &str,
    backend: Backend,
) -> Result<Vec<TableCheck>> {
    let set = gpu_tables(calibration, catalog, gpu)?;
    let place = calibration.map_or_else(
        || format!("the shipped tables ({})", shipped::gpus().join(", ")),
        |dir| dir.display().to_string(),
    );
    check(&set, catalog, gpu, backend, &place)
}

/// Every kernel table of `gpu` (a catalog name) in `set` that `backend` reads, checked in
/// [`Family::kernel_families`] order; `place` names where `set` came from for the error
/// when it holds no table of the GPU, or no row the backend reads.
pub fn check(
    set: &[CalibrationTable],
    catalog: &GpuCatalog,
    gpu: &str,
    backend: Backend,
    place: &str,
) -> Result<Vec<TableCheck>> {
    let gpu = catalog.get(gpu)?.sku.clone();
    if !set.iter().any(|t| t.header.gpu == gpu) {
        return Err(ModelsError::Invalid {
            what: "GPU",
            message: format!(
                "no tables for {gpu} in {place}; the check needs measurements of that GPU"
            ),
        });
    }
    let timer = CalibratedTimer::from_calibration(set, catalog, &gpu, backend)?;
    let mut out = Vec::new();
    for family in Family::kernel_families() {
        let dir = family_dir(backend, family, |d| {
            set.iter()
                .any(|t| t.header.gpu == gpu && t.header.family == family && t.header.backend == d)
        });
        let rows: Vec<(KernelOp, f64)> = set
            .iter()
            .filter(|t| t.header.gpu == gpu && t.header.backend == dir && t.header.family == family)
            .flat_map(|t| t.rows.iter().copied())
            .collect();
        if rows.is_empty() {
            continue;
        }
        for (table, rows) in public_tables(family, rows) {
            let checked: Vec<(KernelOp, f64, f64)> = leave_shape_out_predictions(&timer, &rows)
                .into_iter()
                .map(|(op, measured, predicted)| (*op, measured, predicted))
                .collect();
            out.push(TableCheck {
                table,
                measured_under: dir.clone(),
                errors: ErrorStats::of_predictions(&checked),
                repeats: repeat_spread(&rows),
                rows: checked,
            });
        }
    }
    if out.is_empty() {
        return Err(ModelsError::Invalid {
            what: "calibration",
            message: format!(
                "no kernel rows of {gpu} that {} reads in {place}",
                backend.name()
            ),
        });
    }
    Ok(out)
}

/// A family's rows by the public table each came from, named as the public layout names
/// them: the MLA parts' three tables and the dispatch kernels' three are checked apart.
fn public_tables(
    family: Family,
    rows: Vec<(KernelOp, f64)>,
) -> Vec<(String, Vec<(KernelOp, f64)>)> {
    match family {
        Family::MoeDispatch => split_by_table(
            &rows,
            &[
                "wideep_deepep_ll_perf",
                "wideep_deepep_normal_perf",
                "trtllm_alltoall_perf",
            ],
            |op| match op {
                KernelOp::MoeDispatch(d) => Some(match d.kernel {
                    DispatchKernel::DeepepLowLatency => 0,
                    DispatchKernel::DeepepNormal => 1,
                    DispatchKernel::NvlinkTwoSided | DispatchKernel::NvlinkOneSided => 2,
                }),
                _ => None,
            },
        ),
        Family::MlaParts => split_by_table(
            &rows,
            &["context_mla_perf", "generation_mla_perf", "mla_bmm_perf"],
            |op| match op {
                KernelOp::MlaPart(p) => Some(match p.part {
                    MlaPart::ContextAttention => 0,
                    MlaPart::GenerationAttention => 1,
                    MlaPart::AbsorbQuery | MlaPart::AbsorbOutput => 2,
                }),
                _ => None,
            },
        ),
        _ => {
            let stem = match family {
                Family::Nccl => "nccl",
                Family::MoeDeepepNormal => "wideep_context_moe",
                Family::MoeDeepepLowLatency => "wideep_generation_moe",
                f => f.name(),
            };
            vec![(format!("{stem}_perf"), rows)]
        }
    }
}

/// Rows of a family several public tables fill, split by the index in `names` of the table
/// each came from (`table_of`); tables without rows are left out.
fn split_by_table(
    rows: &[(KernelOp, f64)],
    names: &[&str],
    table_of: impl Fn(&KernelOp) -> Option<usize>,
) -> Vec<(String, Vec<(KernelOp, f64)>)> {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let mine: Vec<_> = rows
                .iter()
                .filter(|(op, _)| table_of(op) == Some(i))
                .copied()
                .collect();
            (!mine.is_empty()).then(|| (name.to_string(), mine))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mla_parts_and_dispatch_kernels_are_checked_as_their_public_tables() {
        let catalog = GpuCatalog::builtin();
        let set = gpu_tables(None, &catalog, "h200_sxm").unwrap();
        let checks = check(&set, &catalog, "h200_sxm", Backend::Sglang, "shipped").unwrap();
        let names: Vec<&str> = checks.iter().map(|c| c.table.as_str()).collect();
        for t in [
            "gemm_perf",
            "context_mla_perf",
            "generation_mla_perf",
            "mla_bmm_perf",
            "wideep_deepep_ll_perf",
            "wideep_deepep_normal_perf",
            "gdn_perf",
        ] {
            assert!(names.contains(&t), "{names:?}");
        }
        // Each MLA part is checked in its own table.
        let table_of = |name: &str| checks.iter().find(|c| c.table == name).unwrap();
        let parts = |name: &str| {
            let mut parts: Vec<MlaPart> = table_of(name)
                .rows
                .iter()
                .map(|(op, ..)| match op {
                    KernelOp::MlaPart(p) => p.part,
                    other => panic!("{name}: {other:?}"),
                })
                .collect();
            parts.dedup();
            parts
        };
        assert_eq!(parts("context_mla_perf"), [MlaPart::ContextAttention]);
        assert_eq!(parts("generation_mla_perf"), [MlaPart::GenerationAttention]);
        assert!(
            parts("mla_bmm_perf")
                .iter()
                .all(|p| matches!(p, MlaPart::AbsorbQuery | MlaPart::AbsorbOutput))
        );
        for c in &checks {
            assert!(
                c.errors.n > 0 && c.errors.median <= c.errors.p90,
                "{}",
                c.table
            );
        }
        // SGLang has no attention tables of its own and reads vLLM's.
        let attn = checks
            .iter()
            .find(|c| c.table == "context_attention_perf")
            .unwrap();
        assert_eq!(attn.measured_under, "vllm");
    }

    #[test]
    fn a_gpu_without_tables_is_named() {
        let catalog = GpuCatalog::builtin();
        let set = gpu_tables(None, &catalog, "h200_sxm").unwrap();
        let err = check(&set, &catalog, "b300_sxm", Backend::Trtllm, "here").unwrap_err();
        assert!(
            err.to_string().contains("no tables for b300_sxm in here"),
            "{err}"
        );
    }
}

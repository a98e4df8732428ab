//! Which measured tables time a GPU: its own; else those of the shipped GPU nearest it, through
//! the datasheets; and, for the MoE kinds they lack, a sibling GPU's of its generation.
//!
//! **Siblings.** A fused MoE kernel measured at one model's expert shape says little about another's: its
//! efficiency carried through the roofline to a layer of four times the experts (gpt-oss-20b's
//! 32 to gpt-oss-120b's 128) or of other sizes misses which experts a batch reads and how the
//! kernel tiles them. The same kernel at the same shape on another GPU of the same generation
//! (same SM architecture and kernel code, other clocks and memory) carries across far better,
//! scaled by how much faster the one GPU ran the other MoE kinds both measured, at the same
//! token count (a log2 bucket): at decode sizes a fused MoE call is bound by its kernels'
//! launches and synchronisations more than by HBM, so H200 runs them only some 5 % faster
//! than H100 where the datasheets' bandwidth ratio says 43 % (median over the TensorRT-LLM
//! MoE rows of 16 tokens or fewer both measured). Measured on the shipped tables, predicting
//! each MoE kind a GPU measured with that kind removed (throwaway comparison, session of
//! 2026-12-04; median absolute error): from the nearest other kind on the same GPU, 13–111 %;
//! from the same kind on the sibling through the datasheets, 1–4 % between B200 and GB200 and
//! 9–28 % between H100 and H200; with the measured speed-up instead, 1–5 % and 3–14 %.
//!
//! The generation is read from the datasheet's tensor-core formats (FP4: Blackwell; FP8 but no
//! FP4: Hopper and Ada; neither: earlier), the only architecture fact the GPU catalog holds.

use std::collections::BTreeMap;

use crate::backend::Backend;
use crate::calibration::{CalibrationTable, Family, shipped};
use crate::error::{ModelsError, Result};
use crate::hardware::{GpuCatalog, GpuSku};
use crate::perf::calibrated::{ArchTables, CalibratedTimer, LazyArch, Sibling};
use crate::perf::moe_key::moe_key;
use crate::perf::ops::KernelOp;

/// The shipped GPU whose tables serve `target`: itself if shipped, else the closest one in
/// HBM bandwidth and dense BF16 FLOP/s.
pub fn shipped_source(catalog: &GpuCatalog, target: &GpuSku) -> Result<&'static str> {
    nearest_gpu(catalog, target, shipped::gpus())
}

/// Of the `candidates` (GPU names with tables), `target` itself, or else the closest in HBM
/// bandwidth and dense BF16 FLOP/s (sum of absolute log ratios; ties: the first). Candidates
/// missing from the catalog are skipped.
pub fn nearest_gpu<'a>(
    catalog: &GpuCatalog,
    target: &GpuSku,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Result<&'a str> {
    let mut best: Option<(f64, &'a str)> = None;
    for name in candidates {
        let Ok(s) = catalog.get(name) else { continue };
        if s.sku == target.sku {
            return Ok(name);
        }
        let d = (s.hbm_bytes_per_s / target.hbm_bytes_per_s).ln().abs()
            + (s.bf16_dense_flops / target.bf16_dense_flops).ln().abs();
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, name));
        }
    }
    best.map(|b| b.1).ok_or_else(|| ModelsError::Invalid {
        what: "calibration",
        message: format!(
            "no calibration tables of a GPU in the catalog to time {} with",
            target.sku
        ),
    })
}

/// The backend folder whose `family` table serves `backend`, given which folders hold one
/// (`has`): the backend's own ([`Family::backend_dir`]), else (SGLang) vLLM's.
pub fn family_dir(backend: Backend, family: Family, has: impl Fn(&str) -> bool) -> String {
    let own = family.backend_dir(backend.name());
    if backend == Backend::Sglang && !has(&own) {
        family.backend_dir("vllm")
    } else {
        own
    }
}

impl CalibratedTimer {
    /// The timer of the tables shipped with the crate for `gpu` and `backend`.
    ///
    /// SGLang's own GEMM (`sgl_kernel` FP8, DeepGEMM block FP8, FlashInfer NVFP4, torch BF16)
    /// and fused-MoE tables (Triton on Hopper, FlashInfer's TensorRT-LLM MoE on Blackwell) are
    /// shipped with its dispatch kernels' (DeepEP), its MLA kernels' (`mla_parts`; it has
    /// no MLA module tables) and its custom all-reduce's; for attention it uses vLLM's (same
    /// attention libraries). vLLM reads SGLang's DeepEP tables. A GPU
    /// with no shipped tables uses those of the shipped GPU closest to it in HBM bandwidth and
    /// dense BF16 FLOP/s (B300 → B200, GB300 → GB200, A100 → H100), transferred through the
    /// roofline (the target's datasheet peaks, the source's achieved efficiencies).
    ///
    /// The tables only some architectures read (MoE, MLA, dispatch, linear attention) are
    /// decoded when the timer first times such a kernel (`calibrated/arch_tables.rs`).
    pub fn shipped(catalog: &GpuCatalog, gpu: &str, backend: Backend) -> Result<Self> {
        let target = catalog.get(gpu)?;
        let source_name = shipped_source(catalog, target)?;
        let source = catalog.get(source_name)?;
        let dense = Family::kernel_families().filter(|f| !f.architecture_specific());
        let tables = load_shipped(source_name, backend, dense)?;
        let arch = LazyArch::shipped(ShippedArch {
            catalog: catalog.clone(),
            source_name,
            source: source.clone(),
            target: target.clone(),
            backend,
        });
        Ok(Self::dense(
            &tables.iter().collect::<Vec<_>>(),
            source,
            target,
            arch,
        ))
    }

    /// A timer for `gpu` and `backend` from a set of calibration tables (e.g. [`crate::calibration::load_dir`]
    /// of a folder written by `servesim calibrate import` or the harness). Uses the tables of
    /// `gpu` if present, else of the closest GPU present (see [`nearest_gpu`]); of each family
    /// the backend's own table, else (SGLang) vLLM's ([`family_dir`]); NCCL tables from the
    /// `nccl` folder; and the MoE tables of the nearest other GPU of the set of its generation,
    /// for the MoE kinds the chosen ones lack (the module documentation).
    pub fn from_calibration(
        tables: &[CalibrationTable],
        catalog: &GpuCatalog,
        gpu: &str,
        backend: Backend,
    ) -> Result<Self> {
        let target = catalog.get(gpu)?;
        let source_name = source_of(tables, catalog, gpu)?;
        let source = catalog.get(source_name)?;
        let chosen: Vec<&CalibrationTable> = tables
            .iter()
            .filter(|t| reads(tables, source_name, backend, t))
            .collect();
        let sibling = sibling_from(tables, &chosen, catalog, target, source, backend)?;
        Ok(Self::with_sibling(chosen, source, target, sibling))
    }
}

/// The shipped tables of `families` measured on `gpu`, each from the folder `backend` reads
/// it from ([`family_dir`]), in the order given. Each family is decompressed and parsed on
/// a thread of its own where one can be had (a GEMM table alone takes a tenth of a second
/// on one core), and joined in order: the same tables, or the first family's error, as one
/// after another (a later family's panic, which they would not have met, is left unread).
fn load_shipped(
    gpu: &str,
    backend: Backend,
    families: impl Iterator<Item = Family>,
) -> Result<Vec<CalibrationTable>> {
    let load = move |fam: Family| {
        let dir = family_dir(backend, fam, |d| shipped::has(gpu, d, fam));
        shipped::load(gpu, &dir, fam)
    };
    let families: Vec<Family> = families.collect();
    std::thread::scope(|scope| {
        let parsing: Vec<_> = (families.iter())
            .map(|&fam| {
                let thread = std::thread::Builder::new().spawn_scoped(scope, move || load(fam));
                (fam, thread.ok())
            })
            .collect();
        let mut tables = Ok(Vec::new());
        for (fam, thread) in parsing {
            // Every thread is joined here, so that the scope has none left to re-raise.
            let joined = thread.map(|t| t.join());
            let Ok(so_far) = &mut tables else { continue };
            let parsed = match joined {
                Some(j) => j.unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => load(fam),
            };
            match parsed {
                Ok(t) => so_far.extend(t),
                Err(e) => tables = Err(e),
            }
        }
        tables
    })
}

/// What a timer of the shipped tables needs to build its architecture-specific tables
/// when it first reads them (`calibrated/arch_tables.rs`).
#[derive(Debug)]
pub(in crate::perf) struct ShippedArch {
    catalog: GpuCatalog,
    /// The shipped GPU whose tables time the target.
    source_name: &'static str,
    source: GpuSku,
    target: GpuSku,
    backend: Backend,
}

impl ShippedArch {
    /// The source GPU's architecture-specific tables and its sibling's MoE tables.
    pub(in crate::perf) fn load(&self) -> Result<ArchTables> {
        let arch = Family::kernel_families().filter(|f| f.architecture_specific());
        let tables = load_shipped(self.source_name, self.backend, arch)?;
        let sibling = shipped_sibling(
            &self.catalog,
            &self.target,
            &self.source,
            &tables,
            self.backend,
        )?;
        let tables: Vec<&CalibrationTable> = tables.iter().collect();
        Ok(ArchTables::from_tables(&tables, &self.source, sibling))
    }
}

/// The GPU of `tables` whose tables time `gpu` ([`nearest_gpu`]).
fn source_of<'a>(
    tables: &'a [CalibrationTable],
    catalog: &GpuCatalog,
    gpu: &str,
) -> Result<&'a str> {
    let mut gpus: Vec<&str> = tables.iter().map(|t| t.header.gpu.as_str()).collect();
    gpus.sort_unstable();
    gpus.dedup();
    nearest_gpu(catalog, catalog.get(gpu)?, gpus.iter().copied())
}

/// Which of `tables` the timer [`CalibratedTimer::from_calibration`] makes of them for `gpu`
/// and `backend` reads: those of the GPU it takes them from, each in the backend folder it
/// reads that family from, and the MoE tables of the sibling GPU that time the MoE kinds the
/// first lacks (see the module documentation).
pub fn tables_read(
    tables: &[CalibrationTable],
    catalog: &GpuCatalog,
    gpu: &str,
    backend: Backend,
) -> Result<Vec<bool>> {
    let source = source_of(tables, catalog, gpu)?;
    let target = catalog.get(gpu)?;
    let sibling = sibling_gpu(
        tables,
        catalog,
        target,
        catalog.get(source)?.sku.as_str(),
        backend,
    );
    Ok(tables
        .iter()
        .map(|t| {
            reads(tables, source, backend, t)
                || sibling.is_some_and(|g| moe_read_from(tables, g, backend, t))
        })
        .collect())
}

/// Whether `t` is a MoE table that a timer for `backend` reads from `gpu`'s tables of a set
/// (a sibling's, [`sibling_from`]).
fn moe_read_from(
    tables: &[CalibrationTable],
    gpu: &str,
    backend: Backend,
    t: &CalibrationTable,
) -> bool {
    t.header.family.moe_kernel().is_some() && reads(tables, gpu, backend, t)
}

/// Whether a timer of `gpu` for `backend` reads `t`, of a set of `tables`: `gpu`'s table of
/// its family in the backend's own folder, else (SGLang) vLLM's ([`family_dir`]).
fn reads(tables: &[CalibrationTable], gpu: &str, backend: Backend, t: &CalibrationTable) -> bool {
    let fam = t.header.family;
    t.header.gpu == gpu
        && t.header.backend
            == family_dir(backend, fam, |d| {
                tables
                    .iter()
                    .any(|u| u.header.gpu == gpu && u.header.family == fam && u.header.backend == d)
            })
}

/// The median `ln(source / sibling)` per token bucket over MoE rows both measured.
fn speedup(source: &[&CalibrationTable], sibling: &[&CalibrationTable]) -> Vec<(u32, f64)> {
    let key = |op: &KernelOp| match op {
        KernelOp::Moe(m) => {
            let (cat, _) = moe_key(m);
            Some((cat, m.tokens, m.moe_tp, m.moe_ep))
        }
        _ => None,
    };
    let mine: BTreeMap<_, f64> = source
        .iter()
        .flat_map(|t| t.rows.iter())
        .filter_map(|(op, ms)| Some((key(op)?, *ms)))
        .collect();
    let mut by_bucket: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (op, ms) in sibling.iter().flat_map(|t| t.rows.iter()) {
        if let Some(k) = key(op)
            && let Some(own) = mine.get(&k)
        {
            by_bucket
                .entry(Sibling::bucket(k.1))
                .or_default()
                .push((own / ms).ln());
        }
    }
    by_bucket
        .into_iter()
        .map(|(b, mut r)| {
            r.sort_by(f64::total_cmp);
            (b, r[r.len() / 2])
        })
        .collect()
}

/// The tensor-core formats a GPU's datasheet lists (FP8, FP4): a stand-in for its generation.
fn generation(g: &GpuSku) -> (bool, bool) {
    (g.fp8_dense_flops.is_some(), g.fp4_dense_flops.is_some())
}

/// Whether `a` and `b` are of one generation (the tensor-core formats their datasheets list):
/// only such a GPU's MoE tables can time another's as its sibling.
pub fn same_generation(a: &GpuSku, b: &GpuSku) -> bool {
    generation(a) == generation(b)
}

/// The MoE families (every kernel of a fused MoE layer).
fn moe_families() -> impl Iterator<Item = Family> {
    Family::kernel_families().filter(|f| f.moe_kernel().is_some())
}

/// Of the GPUs `with_moe` (those with MoE tables for the backend), the one nearest `target` of
/// its generation other than `source` (whose tables already time it), if any.
fn pick<'a>(
    catalog: &GpuCatalog,
    target: &GpuSku,
    source: &str,
    with_moe: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Names as the catalog resolves them (a table header may say `H200` for `h200_sxm`).
    let source = catalog
        .get(source)
        .map(|g| g.sku.as_str())
        .unwrap_or(source);
    let same_generation = with_moe.into_iter().filter(|name| {
        catalog
            .get(name)
            .is_ok_and(|g| g.sku != source && generation(g) == generation(target))
    });
    nearest_gpu(catalog, target, same_generation).ok()
}

/// The sibling of a timer of the shipped tables: `target`, timed from `source`'s `tables`
/// (those of its MoE kinds, at least), gets the MoE tables of the nearest shipped GPU of its
/// generation for `backend`.
pub(super) fn shipped_sibling(
    catalog: &GpuCatalog,
    target: &GpuSku,
    source: &GpuSku,
    tables: &[CalibrationTable],
    backend: Backend,
) -> Result<Option<Sibling>> {
    let dir = |gpu: &str, fam: Family| family_dir(backend, fam, |d| shipped::has(gpu, d, fam));
    let with_moe = shipped::gpus()
        .into_iter()
        .filter(|g| moe_families().any(|f| shipped::has(g, &dir(g, f), f)));
    let Some(name) = pick(catalog, target, &source.sku, with_moe) else {
        return Ok(None);
    };
    let theirs = load_shipped(name, backend, moe_families())?;
    let mine: Vec<&CalibrationTable> = tables.iter().collect();
    let theirs: Vec<&CalibrationTable> = theirs.iter().collect();
    Ok(Some(sibling(
        catalog.get(name)?,
        &theirs,
        &mine,
        source,
        target,
    )))
}

/// The sibling `gpu` of a timer of `source`'s tables (`mine`) timing `target`, from the
/// sibling's MoE tables (`theirs`).
fn sibling(
    gpu: &GpuSku,
    theirs: &[&CalibrationTable],
    mine: &[&CalibrationTable],
    source: &GpuSku,
    target: &GpuSku,
) -> Sibling {
    Sibling::new(
        CalibratedTimer::from_tables(theirs.iter().copied(), gpu, gpu),
        speedup(mine, theirs),
        source,
        target,
    )
}

/// As [`shipped_sibling`], from a set of calibration tables (`chosen`: those the timer reads).
/// The GPU of `tables` whose MoE tables time the MoE kinds `source`'s lack for `target` under
/// `backend` ([`pick`] among the GPUs with MoE tables the backend reads), if any.
fn sibling_gpu<'a>(
    tables: &'a [CalibrationTable],
    catalog: &GpuCatalog,
    target: &GpuSku,
    source: &str,
    backend: Backend,
) -> Option<&'a str> {
    let mut gpus: Vec<&str> = tables
        .iter()
        .filter(|t| moe_read_from(tables, &t.header.gpu, backend, t))
        .map(|t| t.header.gpu.as_str())
        .collect();
    gpus.sort_unstable();
    gpus.dedup();
    pick(catalog, target, source, gpus)
}

pub(super) fn sibling_from(
    tables: &[CalibrationTable],
    chosen: &[&CalibrationTable],
    catalog: &GpuCatalog,
    target: &GpuSku,
    source: &GpuSku,
    backend: Backend,
) -> Result<Option<Sibling>> {
    let Some(name) = sibling_gpu(tables, catalog, target, &source.sku, backend) else {
        return Ok(None);
    };
    let theirs: Vec<&CalibrationTable> = tables
        .iter()
        .filter(|t| moe_read_from(tables, name, backend, t))
        .collect();
    Ok(Some(sibling(
        catalog.get(name)?,
        &theirs,
        chosen,
        source,
        target,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::ops::{ExpertRouting, MoeKernel, MoeQuant, MoeShape};

    #[test]
    fn a_sibling_is_of_the_same_generation_and_never_the_source() {
        let cat = GpuCatalog::builtin();
        let all = shipped::gpus();
        let get = |g: &str| cat.get(g).unwrap();
        assert_eq!(
            pick(&cat, get("h200_sxm"), "h200_sxm", all.clone()),
            Some("h100_sxm")
        );
        assert_eq!(
            pick(&cat, get("b200_sxm"), "b200_sxm", all.clone()),
            Some("gb200")
        );
        // B300 is timed from B200's tables; its sibling is the other Blackwell GPU.
        assert_eq!(
            pick(&cat, get("b300_sxm"), "b200_sxm", all.clone()),
            Some("gb200")
        );
        // No shipped GPU is an A100's generation.
        assert_eq!(pick(&cat, get("a100_sxm"), "h100_sxm", all), None);
    }

    #[test]
    fn a_moe_kind_a_gpu_never_measured_is_timed_from_its_siblings_rows() {
        // H200's TensorRT-LLM MoE rows without DeepSeek-V3's layers; H100's with them.
        let cat = GpuCatalog::builtin();
        let deepseek = |op: &KernelOp| {
            matches!(op, KernelOp::Moe(m) if m.experts == 256 && m.hidden == 7168
                && m.routing == ExpertRouting::PowerLaw101)
        };
        let mut h200 = shipped::load("h200_sxm", "trtllm", Family::Moe)
            .unwrap()
            .unwrap();
        let measured: Vec<(KernelOp, f64)> = h200
            .rows
            .iter()
            .filter(|(op, _)| deepseek(op))
            .copied()
            .collect();
        assert!(measured.len() > 500);
        // GLM-5's layers (hidden 6144, otherwise DeepSeek-V3's) would stand in for them
        // within a few per cent; without them the nearest kind is far.
        let glm5 = |op: &KernelOp| matches!(op, KernelOp::Moe(m) if m.hidden == 6144);
        h200.rows.retain(|(op, _)| !deepseek(op) && !glm5(op));
        let h100 = shipped::load("h100_sxm", "trtllm", Family::Moe)
            .unwrap()
            .unwrap();
        let alone = CalibratedTimer::from_calibration(
            std::slice::from_ref(&h200),
            &cat,
            "h200_sxm",
            Backend::Trtllm,
        )
        .unwrap();
        let with =
            CalibratedTimer::from_calibration(&[h200, h100], &cat, "h200_sxm", Backend::Trtllm)
                .unwrap();
        let median = |t: &CalibratedTimer| {
            let mut e: Vec<f64> = measured
                .iter()
                .map(|(op, lat)| ((t.time_ms(op) - lat) / lat).abs())
                .collect();
            e.sort_by(f64::total_cmp);
            e[e.len() / 2]
        };
        let (op, _) = measured[0];
        assert_eq!(with.sibling_source(&op).unwrap().sku, "h100_sxm");
        assert!(with.measures_moe(match &op {
            KernelOp::Moe(m) => m,
            _ => unreachable!(),
        }));
        assert!(alone.sibling_source(&op).is_none());
        // From the nearest other kind on H200: some 15 % off; from H100's rows of the kind,
        // scaled by the speed-up measured on the kinds both GPUs measured: under 10 %, and
        // less than half as far.
        let (near, sibling) = (median(&alone), median(&with));
        assert!(sibling < 0.10 && 2.0 * sibling < near, "{near} {sibling}");
    }

    #[test]
    fn a_kernel_measured_on_a_sibling_counts_as_measured_for_the_generation() {
        // Mixtral's NVFP4 experts under TensorRT-LLM's min-latency kernel: GB200 measured
        // them, B200 did not; B200 times them from GB200's rows, and the engine model picks
        // the kernel where it is measured (`moe_part.rs`).
        let cat = GpuCatalog::builtin();
        let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
        let h200 = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        let mixtral = MoeShape {
            quant: MoeQuant::Nvfp4,
            tokens: 8,
            hidden: 4096,
            inter: 14336,
            topk: 2,
            experts: 8,
            moe_tp: 1,
            moe_ep: 1,
            kernel: MoeKernel::MinLatency,
            routing: ExpertRouting::PowerLaw12,
        };
        assert!(b200.measures_moe(&mixtral));
        let op = KernelOp::Moe(mixtral);
        assert_eq!(b200.sibling_source(&op).unwrap().sku, "gb200");
        // Hopper has no FP4 and no sibling that measured it.
        assert!(!h200.measures_moe(&mixtral) && h200.sibling_source(&op).is_none());
    }
}

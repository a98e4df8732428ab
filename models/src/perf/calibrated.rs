//! The calibrated kernel timer: measured tables, interpolated in log space around the roofline.
//!
//! Every measured row is stored as `ln(measured / base)` where `base` is the efficiency-free
//! roofline ([`super::roofline::base_ms`]) of the *measured* GPU (a fused MoE call or an MLA
//! module: its category's fixed cost per call taken off first and added back to every query,
//! see `call_floor.rs`). A query looks up that log
//! ratio by interpolation ([`super::table::InterpTable`]) and multiplies the *target* GPU's
//! base by it. So:
//! - between measured shapes: multilinear interpolation in log coordinates (GEMM: m, n, k;
//!   attention: KV streams = batch × KV heads, length, GQA ratio, KV heads; collectives:
//!   GPUs, message size), the median over orderings of the coordinates;
//! - outside the measured range, or for a dtype / head layout never measured: the nearest
//!   measured shape's achieved efficiency, applied to the query's own roofline (scaling);
//! - a GPU with no tables (B300, GB300, A100): the nearest measured GPU's achieved
//!   efficiencies applied to its datasheet roofline;
//! - a MoE kind the tables lack but another GPU of the same generation measured: that GPU's
//!   rows of the kind, scaled by the speed-up measured on kinds both measured ([`super::sources`]),
//!   before any other kind's;
//! - a family with no table at all: the plain roofline ([`super::roofline::RooflineTimer`]).

use crate::calibration::CalibrationTable;
use crate::dtype::Dtype;
use crate::hardware::GpuSku;
use crate::perf::call_floor::Module;
use crate::perf::dispatch;
use crate::perf::dtype_code::{dtype_code, dtype_dist};
use crate::perf::gdn;
use crate::perf::mla_key::{
    mla_dist, mla_key, mla_part_code, mla_part_dist, mla_part_key, mla_part_of,
};
use crate::perf::moe_key::{moe_dist, moe_key};
use crate::perf::ops::{AllReduceImpl, AttnShape, KernelOp, MlaPart, MoeShape, NcclOp};
use crate::perf::roofline::{RooflineTimer, base_ms};
use crate::perf::table::{InterpTable, ln};

mod arch_tables;

pub(in crate::perf) use arch_tables::{ArchTables, LazyArch};

fn impl_code(i: AllReduceImpl) -> u64 {
    match i {
        AllReduceImpl::Trtllm => 0,
        AllReduceImpl::VllmGraph => 1,
        AllReduceImpl::VllmEager => 2,
        AllReduceImpl::Sglang => 3,
        AllReduceImpl::SglangEager => 4,
    }
}

fn nccl_code(o: NcclOp) -> u64 {
    match o {
        NcclOp::AllReduce => 0,
        NcclOp::AllGather => 1,
        NcclOp::ReduceScatter => 2,
        NcclOp::AllToAll => 3,
    }
}

fn attn_key(a: &AttnShape) -> (u64, [f64; 4]) {
    let cat = (u64::from(a.head_dim) << 48)
        | (u64::from(a.window) << 16)
        | (dtype_code(a.attn_dtype) << 8)
        | dtype_code(a.kv_dtype);
    // Coordinates: KV streams (batch × KV heads), length, GQA ratio, KV heads.
    let (h, k) = (f64::from(a.num_heads), f64::from(a.num_kv_heads));
    let x = [
        ln(f64::from(a.batch) * k),
        ln(a.len.into()),
        ln(h / k),
        ln(k),
    ];
    (cat, x)
}

fn attn_dist(a: u64, b: u64) -> f64 {
    let hd = |c: u64| ((c >> 48) as f64).max(1.0);
    let win = |c: u64| (c >> 16) & 0xffff_ffff;
    let mut d = dtype_dist(a & 0xff, b & 0xff) + 2.0 * dtype_dist((a >> 8) & 0xff, (b >> 8) & 0xff);
    if win(a) != win(b) {
        d += 4.0;
    }
    d + 8.0 * (hd(a) / hd(b)).ln().abs()
}

/// Orderings built for attention (innermost coordinate: KV streams, length, KV heads). The
/// GQA-ratio ordering is left out: the kernels change with the ratio, so neighbours along it
/// predict poorly (measured by leave-shape-out on the shipped tables).
const ATTN_LEAVES: &[usize] = &[0, 1, 3];
/// Generation-attention coordinates walked first: the head configuration (GQA ratio, KV
/// heads) picks the kernel variant, so sizes are interpolated within it. Measured on the
/// shipped tables over decode batches 1–256 of four models at TP 1–8: time falling by > 2 %
/// as the batch grows by one in 15.7 % of steps without, 0.9 % with. Context attention keeps
/// the plain orderings (they predict its held-out shapes better: p90 5.4 % against 8.5 %).
const GEN_ATTN_OUTER: &[usize] = &[2, 3];

/// The category, log coordinates and family slot of an operation.
enum Key {
    Gemm(u64, [f64; 3]),
    Ctx(u64, [f64; 4]),
    Gen(u64, [f64; 4]),
    Ar(u64, [f64; 2]),
    Nccl(u64, [f64; 2]),
    P2p(u64, [f64; 1]),
    Moe(u64, [f64; 3]),
    MlaCtx(u64, [f64; 3]),
    MlaGen(u64, [f64; 3]),
    MlaPart(u64, [f64; 3]),
    Disp(u64, [f64; 2]),
    Gdn(u64, [f64; 3]),
    None,
}

fn key(op: &KernelOp) -> Key {
    match op {
        KernelOp::Gemm(g) => Key::Gemm(
            dtype_code(g.dtype),
            [ln(g.m as f64), ln(g.n as f64), ln(g.k as f64)],
        ),
        KernelOp::ContextAttention(a) => {
            let (c, x) = attn_key(a);
            Key::Ctx(c, x)
        }
        KernelOp::GenerationAttention(a) => {
            let (c, x) = attn_key(a);
            Key::Gen(c, x)
        }
        KernelOp::CustomAllReduce {
            dtype,
            num_gpus,
            elems,
            implementation,
        } => Key::Ar(
            (dtype_code(*dtype) << 8) | impl_code(*implementation),
            [ln((*num_gpus).into()), ln(*elems as f64)],
        ),
        KernelOp::Nccl {
            op,
            dtype,
            num_gpus,
            elems,
        } => Key::Nccl(
            // A collective moves bytes: BF16 is FP16's traffic (the tables measure FP16).
            (nccl_code(*op) << 8)
                | dtype_code(if *dtype == Dtype::Bf16 {
                    Dtype::Fp16
                } else {
                    *dtype
                }),
            [ln((*num_gpus).into()), ln(*elems as f64)],
        ),
        KernelOp::P2pCopy { bytes, .. } => Key::P2p(0, [ln(*bytes as f64)]),
        KernelOp::Moe(m) => {
            let (c, x) = moe_key(m);
            Key::Moe(c, x)
        }
        KernelOp::MlaContext(m) => {
            let (c, x) = mla_key(m);
            Key::MlaCtx(c, x)
        }
        KernelOp::MlaGeneration(m) => {
            let (c, x) = mla_key(m);
            Key::MlaGen(c, x)
        }
        KernelOp::MlaPart(p) => {
            let (c, x) = mla_part_key(p);
            Key::MlaPart(c, x)
        }
        KernelOp::MoeDispatch(d) => {
            let (c, x) = dispatch::key(d, dtype_code(d.dtype));
            Key::Disp(c, x)
        }
        KernelOp::Gdn(g) => {
            let (c, x) = gdn::key(g);
            Key::Gdn(c, x)
        }
        KernelOp::ElementWise { .. } => Key::None,
    }
}

/// Whether only some model architectures run `op` (fused MoE layers, MLA, expert dispatch,
/// linear attention): the kernels of the [`ArchTables`], told apart without working out
/// the key (every row of every table asks).
fn architecture_specific(op: &KernelOp) -> bool {
    matches!(
        op,
        KernelOp::Moe(_)
            | KernelOp::MlaContext(_)
            | KernelOp::MlaGeneration(_)
            | KernelOp::MlaPart(_)
            | KernelOp::MoeDispatch(_)
            | KernelOp::Gdn(_)
    )
}

impl Key {
    /// The module (whose calls keep a fixed cost apart), category and coordinates; `None`
    /// for a single kernel.
    fn module(&self) -> Option<(Module, u64, [f64; 3])> {
        match *self {
            Key::Moe(c, x) => Some((Module::Moe, c, x)),
            Key::MlaCtx(c, x) => Some((Module::MlaContext, c, x)),
            Key::MlaGen(c, x) => Some((Module::MlaGeneration, c, x)),
            _ => None,
        }
    }
}

/// [`Key::module`] of `op`, without working out the key of a single kernel (every query asks).
fn module_key(op: &KernelOp) -> Option<(Module, u64, [f64; 3])> {
    matches!(
        op,
        KernelOp::Moe(_) | KernelOp::MlaContext(_) | KernelOp::MlaGeneration(_)
    )
    .then(|| key(op).module())
    .flatten()
}

/// The category to use: the query's own when measured, else the nearest by `dist`
/// (ties: the smallest code, so the choice is deterministic).
fn pick<const D: usize>(t: &InterpTable<D>, want: u64, dist: fn(u64, u64) -> f64) -> Option<u64> {
    if t.has_category(want) {
        return Some(want);
    }
    let mut best: Option<(f64, u64)> = None;
    for &c in t.categories() {
        let d = dist(want, c);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|b| b.1)
}

/// An interpolation table of `rows` (category, log coordinates, log ratio), with the
/// coordinate orderings `leaves` and those walked first, `outer`; none without rows.
fn table_of<const D: usize>(
    rows: Vec<(u64, [f64; D], f64)>,
    leaves: &[usize],
    outer: &[usize],
) -> Option<InterpTable<D>> {
    (!rows.is_empty()).then(|| InterpTable::with_orderings(rows, leaves, outer))
}

fn lookup<const D: usize>(
    t: &Option<InterpTable<D>>,
    cat: u64,
    x: &[f64; D],
    excl: bool,
    dist: fn(u64, u64) -> f64,
) -> Option<f64> {
    let t = t.as_ref()?;
    let c = pick(t, cat, dist)?;
    t.query(c, x, excl && c == cat)
}

/// The MoE tables of a sibling GPU and how fast the source GPU runs what both measured
/// ([`super::sources`]).
#[derive(Debug, Clone)]
pub(crate) struct Sibling {
    /// The sibling's MoE tables, timing on the sibling itself.
    timer: CalibratedTimer,
    /// Per log2 bucket of tokens, the median `ln(source time / sibling time)` over the MoE
    /// rows both GPUs measured (sorted by bucket; empty: none in common).
    speedup: Vec<(u32, f64)>,
    /// The GPU whose tables the others come from, and the GPU timed.
    source: GpuSku,
    target: GpuSku,
}

impl Sibling {
    /// The sibling of a timer of `source`'s tables timing `target`: `timer` of the sibling's
    /// MoE tables (timing the sibling itself) and the measured speed-ups per token bucket.
    pub(super) fn new(
        timer: CalibratedTimer,
        speedup: Vec<(u32, f64)>,
        source: &GpuSku,
        target: &GpuSku,
    ) -> Self {
        Sibling {
            timer,
            speedup,
            source: source.clone(),
            target: target.clone(),
        }
    }

    /// The log2 bucket of a token count.
    pub(super) fn bucket(tokens: u64) -> u32 {
        tokens.max(1).ilog2()
    }

    /// The sibling GPU.
    pub(super) fn gpu(&self) -> &GpuSku {
        self.timer.gpu()
    }

    /// Whether the sibling measured `op`'s own MoE kind (at any split and size: those it
    /// did not measure are interpolated or carried as on the GPU's own tables).
    pub(super) fn measures(&self, op: &KernelOp) -> bool {
        matches!(op, KernelOp::Moe(_)) && self.timer.measures_own_category(op)
    }

    /// `op` as the source GPU would run it (the sibling's time scaled by the measured
    /// speed-up at its token count, or by the datasheets where the two share no MoE rows),
    /// carried to the target as the source's own tables are (the call's fixed cost as it is,
    /// the rest through the datasheets).
    pub(super) fn time_ms(&self, op: &KernelOp) -> f64 {
        let on_sibling = self.timer.time_ms(op);
        let to_source = match (op, self.speedup.is_empty()) {
            (KernelOp::Moe(m), false) => {
                let b = Self::bucket(m.tokens);
                let near = self
                    .speedup
                    .iter()
                    .min_by_key(|(k, _)| k.abs_diff(b))
                    .map_or(0.0, |(_, r)| *r);
                near.exp()
            }
            _ => base_ms(op, &self.source) / base_ms(op, self.gpu()),
        };
        // To the target as the source's own tables carry a call: the fixed cost as it is,
        // the rest through the datasheets.
        let fixed = self.timer.module_fixed_ms(op) * to_source;
        let to_target = base_ms(op, &self.target) / base_ms(op, &self.source);
        fixed + (on_sibling * to_source - fixed) * to_target
    }
}

/// Times operations from measured tables (see the module documentation).
#[derive(Debug, Clone)]
pub struct CalibratedTimer {
    target: GpuSku,
    source: GpuSku,
    gemm: Option<InterpTable<3>>,
    ctx: Option<InterpTable<4>>,
    gen_attn: Option<InterpTable<4>>,
    allreduce: Option<InterpTable<2>>,
    nccl: Option<InterpTable<2>>,
    p2p: Option<InterpTable<1>>,
    /// Fastest measured GEMM per dtype code (the per-call floor of the measured path), ms.
    gemm_floor_ms: Vec<(u64, f64)>,
    roofline: RooflineTimer,
    /// The MoE, MLA, dispatch and linear-attention tables, their module floors and the
    /// sibling GPU's MoE tables ([`ArchTables`]), built when first read where they come from
    /// the shipped tables. A module call's fixed cost (a fused MoE layer, an MLA module:
    /// what its category's fastest call took beyond its efficiency-free roofline) is kept
    /// apart from its work, because such a module launches and synchronises the same kernel
    /// sequence whatever its work (`t = fixed + e^r · base`, `call_floor.rs`). Carried by the
    /// roofline whole, a split the tables never measured scaled the fixed cost with the
    /// work: H100's gpt-oss-120b rows at EP 4 carried to EP 2, median error 38 %; with the
    /// fixed cost apart, 14 % (throwaway comparison, session of 2026-12-04).
    arch: LazyArch,
}

impl CalibratedTimer {
    /// Builds a timer for `target` from tables measured on `source` (the same GPU, or another
    /// one whose achieved efficiencies are to be transferred). Tables of the same family are
    /// merged; P2P rows and rows of other GPUs are used as given.
    pub fn from_tables<'a>(
        tables: impl IntoIterator<Item = &'a CalibrationTable>,
        source: &GpuSku,
        target: &GpuSku,
    ) -> Self {
        Self::with_sibling(tables, source, target, None)
    }

    /// [`Self::from_tables`] with the MoE tables of a `sibling` GPU.
    pub(super) fn with_sibling<'a>(
        tables: impl IntoIterator<Item = &'a CalibrationTable>,
        source: &GpuSku,
        target: &GpuSku,
        sibling: Option<Sibling>,
    ) -> Self {
        let tables: Vec<&CalibrationTable> = tables.into_iter().collect();
        let arch = LazyArch::built(ArchTables::from_tables(&tables, source, sibling));
        Self::dense(&tables, source, target, arch)
    }

    /// A timer of the dense kernels of `tables` (GEMMs, attention, collectives, copies),
    /// measured on `source` and timing `target`, with its architecture-specific tables `arch`.
    pub(super) fn dense(
        tables: &[&CalibrationTable],
        source: &GpuSku,
        target: &GpuSku,
        arch: LazyArch,
    ) -> Self {
        let mut gemm = Vec::new();
        let mut ctx = Vec::new();
        let mut gen_attn = Vec::new();
        let mut ar = Vec::new();
        let mut nccl = Vec::new();
        let mut p2p = Vec::new();
        let mut gemm_floor_ms: Vec<(u64, f64)> = Vec::new();
        let rows = tables.iter().flat_map(|t| t.rows.iter());
        for (op, lat) in rows.filter(|(op, _)| !architecture_specific(op)) {
            if let KernelOp::Gemm(g) = op {
                let code = dtype_code(g.dtype);
                match gemm_floor_ms.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, min)) => *min = min.min(*lat),
                    None => gemm_floor_ms.push((code, *lat)),
                }
            }
            let r = (lat / base_ms(op, source)).ln();
            match key(op) {
                Key::Gemm(c, x) => gemm.push((c, x, r)),
                Key::Ctx(c, x) => ctx.push((c, x, r)),
                Key::Gen(c, x) => gen_attn.push((c, x, r)),
                Key::Ar(c, x) => ar.push((c, x, r)),
                Key::Nccl(c, x) => nccl.push((c, x, r)),
                Key::P2p(c, x) => p2p.push((c, x, r)),
                _ => {}
            }
        }
        CalibratedTimer {
            target: target.clone(),
            source: source.clone(),
            gemm: table_of(gemm, &[0, 1, 2], &[]),
            ctx: table_of(ctx, ATTN_LEAVES, &[]),
            gen_attn: table_of(gen_attn, ATTN_LEAVES, GEN_ATTN_OUTER),
            allreduce: table_of(ar, &[1], &[]),
            nccl: table_of(nccl, &[1], &[]),
            p2p: table_of(p2p, &[0], &[]),
            gemm_floor_ms,
            roofline: RooflineTimer::new(target.clone()),
            arch,
        }
    }

    /// The architecture-specific tables, built now if not yet.
    fn arch(&self) -> &ArchTables {
        self.arch.get()
    }

    /// The sibling timer where it, and not these tables, measures `op`'s own MoE kind.
    fn sibling_for(&self, op: &KernelOp) -> Option<&Sibling> {
        // Only MoE layers are timed from a sibling: no other kernel reads its tables.
        if !matches!(op, KernelOp::Moe(_)) {
            return None;
        }
        let s = self.arch().sibling.as_deref()?;
        (self.own_category(op) != Some(true) && s.measures(op)).then_some(s)
    }

    /// The GPU whose measured rows of `op`'s own kind time it where this GPU's tables have
    /// none of that kind ([`super::sources`]); `None` where the tables' own rows or nearest
    /// kind time it.
    pub fn sibling_source(&self, op: &KernelOp) -> Option<&GpuSku> {
        self.sibling_for(op).map(Sibling::gpu)
    }

    /// The GPU timed.
    pub fn gpu(&self) -> &GpuSku {
        &self.target
    }

    /// The GPU the tables were measured on.
    pub fn source_gpu(&self) -> &GpuSku {
        &self.source
    }

    /// Whether a measured table backs this kind of operation.
    pub fn has_table_for(&self, op: &KernelOp) -> bool {
        self.own_category(op).is_some()
    }

    /// Whether `op`'s family has a table (`None`: it has none), and if so whether the table
    /// holds measured rows of `op`'s own category (dtype, kernel, model shape).
    fn own_category(&self, op: &KernelOp) -> Option<bool> {
        fn has<const D: usize>(t: &Option<InterpTable<D>>, c: u64) -> Option<bool> {
            t.as_ref().map(|t| t.has_category(c))
        }
        match key(op) {
            Key::Gemm(c, _) => has(&self.gemm, c),
            Key::Ctx(c, _) => has(&self.ctx, c),
            Key::Gen(c, _) => has(&self.gen_attn, c),
            Key::Ar(c, _) => has(&self.allreduce, c),
            Key::Nccl(c, _) => has(&self.nccl, c),
            Key::P2p(c, _) => has(&self.p2p, c),
            Key::Moe(c, _) => has(&self.arch().moe, c),
            Key::MlaCtx(c, _) => has(&self.arch().mla_ctx, c),
            Key::MlaGen(c, _) => has(&self.arch().mla_gen, c),
            Key::MlaPart(c, _) => has(&self.arch().mla_part, c),
            Key::Disp(c, _) => has(&self.arch().dispatch, c),
            Key::Gdn(c, _) => has(&self.arch().gdn, c),
            Key::None => None,
        }
    }

    fn ratio(&self, op: &KernelOp, excl: bool) -> Option<f64> {
        match key(op) {
            Key::Gemm(c, x) => lookup(&self.gemm, c, &x, excl, dtype_dist),
            Key::Ctx(c, x) => lookup(&self.ctx, c, &x, excl, attn_dist),
            Key::Gen(c, x) => lookup(&self.gen_attn, c, &x, excl, attn_dist),
            Key::Ar(c, x) => lookup(&self.allreduce, c, &x, excl, |a, b| {
                let i = if a & 0xff == b & 0xff { 0.0 } else { 1.0 };
                i + 2.0 * dtype_dist(a >> 8, b >> 8)
            }),
            Key::Nccl(c, x) => lookup(&self.nccl, c, &x, excl, |a, b| {
                let o = if a >> 8 == b >> 8 { 0.0 } else { 10.0 };
                o + dtype_dist(a & 0xff, b & 0xff)
            }),
            Key::P2p(c, x) => lookup(&self.p2p, c, &x, excl, |_, _| 0.0),
            Key::Moe(c, x) => lookup(&self.arch().moe, c, &x, excl, moe_dist),
            Key::MlaCtx(c, x) => lookup(&self.arch().mla_ctx, c, &x, excl, mla_dist),
            Key::MlaGen(c, x) => lookup(&self.arch().mla_gen, c, &x, excl, mla_dist),
            Key::MlaPart(c, x) => {
                // Only from rows of the same part.
                let t = self.arch().mla_part.as_ref()?;
                let p = pick(t, c, mla_part_dist)?;
                (mla_part_of(p) == mla_part_of(c)).then_some(())?;
                t.query(p, &x, excl && p == c)
            }
            Key::Disp(c, x) => {
                // Only from rows of the same kernel and stage.
                let t = self.arch().dispatch.as_ref()?;
                let p = pick(t, c, |a, b| dispatch::dist(a, b, dtype_dist))?;
                dispatch::same_kernel(p, c).then_some(())?;
                t.query(p, &x, excl && p == c)
            }
            Key::Gdn(c, x) => {
                // Only from rows of the same kernel.
                let t = self.arch().gdn.as_ref()?;
                let p = pick(t, c, gdn::dist)?;
                gdn::same_part(p, c).then_some(())?;
                t.query(p, &x, excl && p == c)
            }
            Key::None => None,
        }
    }

    /// Per-call time of an isolated `dtype` GEMM that a serving engine does not pay, in ms:
    /// how much the fastest measured `dtype` GEMM exceeds the fastest BF16 one in the same
    /// tables. Isolated FP8 GEMMs quantise their activations and set up scales on every call
    /// (TRT-LLM per-tensor FP8: 12 µs floor against 2.5 µs for BF16; vLLM block FP8: 55 µs);
    /// engines fuse the quantisation into the preceding norm or activation kernel and replay
    /// the step as one CUDA graph. Zero for BF16 or when either dtype was never measured.
    pub fn gemm_call_overhead_ms(&self, dtype: Dtype) -> f64 {
        let floor = |code| {
            self.gemm_floor_ms
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, ms)| *ms)
        };
        match (floor(dtype_code(dtype)), floor(dtype_code(Dtype::Bf16))) {
            (Some(d), Some(b)) => (d - b).max(0.0),
            _ => 0.0,
        }
    }

    /// Whether measured rows of the MoE layer's own category back it (its kernel, dtype and
    /// model shape), on this GPU's tables or a sibling's ([`super::sources`]), not only those
    /// of a neighbouring category. The engine model picks a backend's MoE kernel (TensorRT-LLM's
    /// NVFP4 min-latency one, SGLang's DeepEP ones) where it is measured for the shape: a
    /// sibling's rows say the kernel runs that shape on the GPU's generation (B200 picks the
    /// min-latency kernel for Mixtral's NVFP4 experts, measured on GB200 only).
    pub fn measures_moe(&self, shape: &MoeShape) -> bool {
        let op = KernelOp::Moe(*shape);
        self.measures_own_category(&op)
            || self
                .arch()
                .sibling
                .as_ref()
                .is_some_and(|s| s.measures(&op))
    }

    /// Whether measured rows of every part of an MLA block that SGLang composes its block of
    /// (attention over prompts and over the cache, the absorbed GEMMs) are present.
    pub fn measures_mla_parts(&self) -> bool {
        self.arch().mla_part.as_ref().is_some_and(|t| {
            MlaPart::ALL.iter().all(|&part| {
                t.categories()
                    .iter()
                    .any(|c| mla_part_of(*c) == mla_part_code(part))
            })
        })
    }

    /// Whether measured rows of `op`'s own category (dtype, kernel, model shape) exist.
    pub fn measures_own_category(&self, op: &KernelOp) -> bool {
        self.own_category(op) == Some(true)
    }

    /// Whether `op` is timed from measured rows (of its own category or the nearest one),
    /// rather than the roofline.
    pub fn is_measured(&self, op: &KernelOp) -> bool {
        self.sibling_for(op).is_some() || self.ratio(op, false).is_some()
    }

    /// Predicted time of `op` in ms.
    #[inline]
    pub fn time_ms(&self, op: &KernelOp) -> f64 {
        if let Some(s) = self.sibling_for(op) {
            return s.time_ms(op);
        }
        match self.ratio(op, false) {
            Some(r) => self.time_of_ratio(op, r, false),
            None => self.roofline.time_ms(op),
        }
    }

    /// The time of `op` whose log ratio to the base is `r`: the fixed cost of its module
    /// category apart, and no faster than that category's fastest call.
    fn time_of_ratio(&self, op: &KernelOp, r: f64, leave_out: bool) -> f64 {
        let Some((m, c, x, own)) = self.module_category(op) else {
            return base_ms(op, &self.target) * r.exp();
        };
        // What is left out is a row of the shape's own category only.
        let leave_out = leave_out && c == own;
        // The rows' ratios were stored with the category's fixed cost over all its rows (a
        // left-out row that set it still sets it: one number of hundreds of rows).
        let f = self.arch().floors.of(m);
        (f.fixed(c) + base_ms(op, &self.target) * r.exp()).max(f.of(c, &x, leave_out))
    }

    /// The fixed cost of a call of `op` (of the module category it is timed from; 0 for
    /// single kernels), ms, on the GPU the tables measured.
    pub(super) fn module_fixed_ms(&self, op: &KernelOp) -> f64 {
        self.module_category(op)
            .map_or(0.0, |(m, c, _, _)| self.arch().floors.of(m).fixed(c))
    }

    /// For a module call: the module, the category its time comes from, its coordinates and
    /// its own category.
    fn module_category(&self, op: &KernelOp) -> Option<(Module, u64, [f64; 3], u64)> {
        let (m, own, x) = module_key(op)?;
        let c = match m {
            Module::Moe => pick(self.arch().moe.as_ref()?, own, moe_dist)?,
            Module::MlaContext => pick(self.arch().mla_ctx.as_ref()?, own, mla_dist)?,
            Module::MlaGeneration => pick(self.arch().mla_gen.as_ref()?, own, mla_dist)?,
        };
        Some((m, c, x, own))
    }

    /// Leave-shape-out prediction: the time of `op` predicted with the measured row(s) of exactly
    /// this shape ignored. `None` when no other row of its family and category exists.
    pub fn time_ms_leave_out(&self, op: &KernelOp) -> Option<f64> {
        self.ratio(op, true)
            .map(|r| self.time_of_ratio(op, r, true))
    }
}

#[cfg(test)]
mod tests;

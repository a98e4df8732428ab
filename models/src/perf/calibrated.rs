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
use crate::perf::call_floor::{Module, ModuleFloors};
use crate::perf::dispatch;
use crate::perf::dtype_code::{dtype_code, dtype_dist};
use crate::perf::gdn;
use crate::perf::mla_key::{
    MLA_LEAVES, MLA_OUTER, mla_dist, mla_key, mla_part_code, mla_part_dist, mla_part_key,
    mla_part_of,
};
use crate::perf::moe_key::{MOE_LEAVES, MOE_OUTER, moe_dist, moe_key};
use crate::perf::ops::{AllReduceImpl, AttnShape, KernelOp, MlaPart, MoeShape, NcclOp};
use crate::perf::roofline::{RooflineTimer, base_ms};
use crate::perf::table::{InterpTable, ln};

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
    moe: Option<InterpTable<3>>,
    mla_ctx: Option<InterpTable<3>>,
    mla_gen: Option<InterpTable<3>>,
    mla_part: Option<InterpTable<3>>,
    dispatch: Option<InterpTable<2>>,
    gdn: Option<InterpTable<3>>,
    /// Fastest measured GEMM per dtype code (the per-call floor of the measured path), ms.
    gemm_floor_ms: Vec<(u64, f64)>,
    /// Fastest measured call per category of a multi-kernel module (a fused MoE layer, an MLA
    /// module), and from it the category's fixed cost per call (`call_floor.rs`: what
    /// that call took beyond its efficiency-free roofline). Such a module launches and
    /// synchronises the same kernel sequence whatever its work, so that cost is kept apart and
    /// only the rest is carried by the roofline to other sizes and splits
    /// (`t = fixed + e^r · base`). Carried by the roofline whole, a split the tables never
    /// measured scaled the fixed cost with the work: H100's gpt-oss-120b rows at EP 4
    /// carried to EP 2, median error 38 %; with the fixed cost apart, 14 % (throwaway
    /// comparison, session of 2026-12-04).
    floors: ModuleFloors,
    roofline: RooflineTimer,
    /// The MoE tables of another GPU of the target's generation, for the MoE kinds these
    /// tables lack ([`super::sources`]).
    sibling: Option<Box<Sibling>>,
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
        let mut gemm = Vec::new();
        let mut ctx = Vec::new();
        let mut gen_attn = Vec::new();
        let mut ar = Vec::new();
        let mut nccl = Vec::new();
        let mut p2p = Vec::new();
        let mut moe = Vec::new();
        let mut mla_ctx = Vec::new();
        let mut mla_gen = Vec::new();
        let mut mla_part = Vec::new();
        let mut disp = Vec::new();
        let mut gdn = Vec::new();
        let mut gemm_floor_ms: Vec<(u64, f64)> = Vec::new();
        let mut floors = ModuleFloors::default();
        // The modules' floors (and fixed costs) first: every module row's ratio is stored
        // without its category's fixed cost.
        let tables: Vec<&CalibrationTable> = tables.into_iter().collect();
        for (op, lat) in tables.iter().flat_map(|t| t.rows.iter()) {
            if let Some((m, c, x)) = module_key(op) {
                floors.of_mut(m).note(c, x, *lat, base_ms(op, source));
            }
        }
        for t in tables {
            for (op, lat) in &t.rows {
                if let KernelOp::Gemm(g) = op {
                    let code = dtype_code(g.dtype);
                    match gemm_floor_ms.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, min)) => *min = min.min(*lat),
                        None => gemm_floor_ms.push((code, *lat)),
                    }
                }
                let base = base_ms(op, source);
                let k = key(op);
                // A module call's fixed cost apart (see `floors`).
                let fixed = k.module().map_or(0.0, |(m, c, _)| floors.of(m).fixed(c));
                let r = ((lat - fixed) / base).ln();
                match k {
                    Key::Gemm(c, x) => gemm.push((c, x, r)),
                    Key::Ctx(c, x) => ctx.push((c, x, r)),
                    Key::Gen(c, x) => gen_attn.push((c, x, r)),
                    Key::Ar(c, x) => ar.push((c, x, r)),
                    Key::Nccl(c, x) => nccl.push((c, x, r)),
                    Key::P2p(c, x) => p2p.push((c, x, r)),
                    Key::Moe(c, x) => moe.push((c, x, r)),
                    Key::MlaCtx(c, x) => mla_ctx.push((c, x, r)),
                    Key::MlaGen(c, x) => mla_gen.push((c, x, r)),
                    Key::MlaPart(c, x) => mla_part.push((c, x, r)),
                    Key::Disp(c, x) => disp.push((c, x, r)),
                    Key::Gdn(c, x) => gdn.push((c, x, r)),
                    Key::None => {}
                }
            }
        }
        fn mk<const D: usize>(
            v: Vec<(u64, [f64; D], f64)>,
            leaves: &[usize],
            outer: &[usize],
        ) -> Option<InterpTable<D>> {
            (!v.is_empty()).then(|| InterpTable::with_orderings(v, leaves, outer))
        }
        CalibratedTimer {
            target: target.clone(),
            source: source.clone(),
            gemm: mk(gemm, &[0, 1, 2], &[]),
            ctx: mk(ctx, ATTN_LEAVES, &[]),
            gen_attn: mk(gen_attn, ATTN_LEAVES, GEN_ATTN_OUTER),
            allreduce: mk(ar, &[1], &[]),
            nccl: mk(nccl, &[1], &[]),
            p2p: mk(p2p, &[0], &[]),
            moe: mk(moe, MOE_LEAVES, MOE_OUTER),
            mla_ctx: mk(mla_ctx, MLA_LEAVES, MLA_OUTER),
            mla_gen: mk(mla_gen, MLA_LEAVES, MLA_OUTER),
            mla_part: mk(mla_part, MLA_LEAVES, MLA_OUTER),
            dispatch: mk(disp, dispatch::LEAVES, dispatch::OUTER),
            gdn: mk(gdn, gdn::LEAVES, gdn::OUTER),
            gemm_floor_ms,
            floors,
            roofline: RooflineTimer::new(target.clone()),
            sibling: None,
        }
    }

    pub(super) fn with_sibling(mut self, sibling: Option<Sibling>) -> Self {
        self.sibling = sibling.map(Box::new);
        self
    }

    /// The sibling timer where it, and not these tables, measures `op`'s own MoE kind.
    fn sibling_for(&self, op: &KernelOp) -> Option<&Sibling> {
        let s = self.sibling.as_deref()?;
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
            Key::Moe(c, _) => has(&self.moe, c),
            Key::MlaCtx(c, _) => has(&self.mla_ctx, c),
            Key::MlaGen(c, _) => has(&self.mla_gen, c),
            Key::MlaPart(c, _) => has(&self.mla_part, c),
            Key::Disp(c, _) => has(&self.dispatch, c),
            Key::Gdn(c, _) => has(&self.gdn, c),
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
            Key::Moe(c, x) => lookup(&self.moe, c, &x, excl, moe_dist),
            Key::MlaCtx(c, x) => lookup(&self.mla_ctx, c, &x, excl, mla_dist),
            Key::MlaGen(c, x) => lookup(&self.mla_gen, c, &x, excl, mla_dist),
            Key::MlaPart(c, x) => {
                // Only from rows of the same part.
                let t = self.mla_part.as_ref()?;
                let p = pick(t, c, mla_part_dist)?;
                (mla_part_of(p) == mla_part_of(c)).then_some(())?;
                t.query(p, &x, excl && p == c)
            }
            Key::Disp(c, x) => {
                // Only from rows of the same kernel and stage.
                let t = self.dispatch.as_ref()?;
                let p = pick(t, c, |a, b| dispatch::dist(a, b, dtype_dist))?;
                dispatch::same_kernel(p, c).then_some(())?;
                t.query(p, &x, excl && p == c)
            }
            Key::Gdn(c, x) => {
                // Only from rows of the same kernel.
                let t = self.gdn.as_ref()?;
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
        self.measures_own_category(&op) || self.sibling.as_ref().is_some_and(|s| s.measures(&op))
    }

    /// Whether measured rows of every part of an MLA block that SGLang composes its block of
    /// (attention over prompts and over the cache, the absorbed GEMMs) are present.
    pub fn measures_mla_parts(&self) -> bool {
        self.mla_part.as_ref().is_some_and(|t| {
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
        let f = self.floors.of(m);
        (f.fixed(c) + base_ms(op, &self.target) * r.exp()).max(f.of(c, &x, leave_out))
    }

    /// The fixed cost of a call of `op` (of the module category it is timed from; 0 for
    /// single kernels), ms, on the GPU the tables measured.
    pub(super) fn module_fixed_ms(&self, op: &KernelOp) -> f64 {
        self.module_category(op)
            .map_or(0.0, |(m, c, _, _)| self.floors.of(m).fixed(c))
    }

    /// For a module call: the module, the category its time comes from, its coordinates and
    /// its own category.
    fn module_category(&self, op: &KernelOp) -> Option<(Module, u64, [f64; 3], u64)> {
        let (m, own, x) = module_key(op)?;
        let c = match m {
            Module::Moe => pick(self.moe.as_ref()?, own, moe_dist)?,
            Module::MlaContext => pick(self.mla_ctx.as_ref()?, own, mla_dist)?,
            Module::MlaGeneration => pick(self.mla_gen.as_ref()?, own, mla_dist)?,
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
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::calibration::{Family, shipped};
    use crate::hardware::GpuCatalog;
    use crate::perf::ops::GemmShape;

    fn gemm(dtype: Dtype, m: u64, n: u64, k: u64) -> KernelOp {
        KernelOp::Gemm(GemmShape { dtype, m, n, k })
    }

    #[test]
    fn exact_on_measured_rows_and_leave_out_close_on_a_subsample() {
        let cat = GpuCatalog::builtin();
        let t = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
        let tab = shipped::load("h100_sxm", "trtllm", Family::Gemm)
            .unwrap()
            .unwrap();
        let mut errs = Vec::new();
        for (op, lat) in tab.rows.iter().step_by(97) {
            assert!(((t.time_ms(op) - lat) / lat).abs() < 1e-9);
            errs.push(((t.time_ms_leave_out(op).unwrap() - lat) / lat).abs());
        }
        let s = crate::perf::evaluate::ErrorStats::from_errors(errs);
        assert!(s.median < 0.03 && s.p90 < 0.10, "{s:?}");
    }

    #[test]
    fn an_mla_part_is_timed_from_its_own_rows_only() {
        let cat = GpuCatalog::builtin();
        let sgl = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Sglang).unwrap();
        assert!(sgl.measures_mla_parts());
        let tab = shipped::load("h200_sxm", "sglang", Family::MlaParts)
            .unwrap()
            .unwrap();
        for (op, lat) in tab.rows.iter().step_by(41) {
            assert!(((sgl.time_ms(op) - lat) / lat).abs() < 1e-9, "{op:?}");
        }
        // Rows of the attention alone never stand for an absorbed GEMM: without the
        // `mla_bmm` rows, the GEMM falls to the roofline.
        let attention_only = CalibrationTable {
            rows: tab
                .rows
                .iter()
                .filter(|(op, _)| {
                    matches!(op, KernelOp::MlaPart(p) if p.part == MlaPart::GenerationAttention)
                })
                .copied()
                .collect(),
            ..tab.clone()
        };
        let h200 = cat.get("h200_sxm").unwrap();
        let t = CalibratedTimer::from_tables([&attention_only], h200, h200);
        let (bmm, _) = tab
            .rows
            .iter()
            .find(|(op, _)| matches!(op, KernelOp::MlaPart(p) if p.part == MlaPart::AbsorbQuery))
            .unwrap();
        assert!(t.has_table_for(bmm));
        assert!(!t.is_measured(bmm));
        assert!(!t.measures_mla_parts());
        // TensorRT-LLM and vLLM time whole blocks from their module tables.
        let trt = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        assert!(!trt.measures_mla_parts());
    }

    #[test]
    fn fp8_call_overhead_is_the_floor_excess_over_bf16() {
        let cat = GpuCatalog::builtin();
        let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        // TRT-LLM per-tensor FP8: fastest GEMM 11.8 µs against 2.4 µs for BF16.
        let fp8 = t.gemm_call_overhead_ms(Dtype::Fp8);
        assert!((0.008..0.011).contains(&fp8), "{fp8}");
        assert_eq!(t.gemm_call_overhead_ms(Dtype::Bf16), 0.0);
        // A dtype the tables never measured has no known overhead.
        assert_eq!(t.gemm_call_overhead_ms(Dtype::Fp32), 0.0);
        // The kernel timer itself still reproduces the isolated measurements.
        let tab = shipped::load("h200_sxm", "trtllm", Family::Gemm)
            .unwrap()
            .unwrap();
        let (op, lat) = tab
            .rows
            .iter()
            .find(|(op, _)| matches!(op, KernelOp::Gemm(g) if g.dtype == Dtype::Fp8))
            .unwrap();
        assert!(((t.time_ms(op) - lat) / lat).abs() < 1e-9);
    }

    #[test]
    fn blackwell_skus_without_tables_borrow_the_nearest_blackwell() {
        // B200 and GB200 are measured; B300 and GB300 (no tables) borrow the Blackwell of
        // the same HBM bandwidth and BF16 peak through their datasheet rooflines.
        let cat = GpuCatalog::builtin();
        for (gpu, source) in [
            ("b200_sxm", "b200_sxm"),
            ("gb200", "gb200"),
            ("b300_sxm", "b200_sxm"),
            ("gb300", "gb200"),
            ("a100_sxm", "h100_sxm"),
        ] {
            let sku = cat.get(gpu).unwrap();
            assert_eq!(
                crate::perf::sources::shipped_source(&cat, sku).unwrap(),
                source,
                "{gpu}"
            );
        }
        // Blackwell's own tables time NVFP4 GEMMs and MoE layers from measurements.
        let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
        let fp4 = gemm(Dtype::Nvfp4, 4096, 7168, 2048);
        assert!(b200.has_table_for(&fp4));
        let tab = shipped::load("b200_sxm", "trtllm", Family::Gemm)
            .unwrap()
            .unwrap();
        let (op, lat) = tab
            .rows
            .iter()
            .find(|(op, _)| matches!(op, KernelOp::Gemm(g) if g.dtype == Dtype::Nvfp4))
            .unwrap();
        assert!(((b200.time_ms(op) - lat) / lat).abs() < 1e-9);
    }

    #[test]
    fn unmeasured_dtype_gpu_and_family_are_still_predicted() {
        let cat = GpuCatalog::builtin();
        let h100 = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
        let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
        assert_eq!(b200.source_gpu().sku, "b200_sxm");
        let big = gemm(Dtype::Bf16, 8192, 8192, 8192);
        assert!(b200.time_ms(&big) < h100.time_ms(&big));
        // fp16 was never measured: scaled from bf16.
        let f16 = h100.time_ms(&gemm(Dtype::Fp16, 4096, 5120, 5120));
        let b16 = h100.time_ms(&gemm(Dtype::Bf16, 4096, 5120, 5120));
        assert!((f16 / b16 - 1.0).abs() < 0.05, "{f16} {b16}");
        // No p2p table: roofline.
        assert!(!h100.has_table_for(&KernelOp::P2pCopy {
            src_gpu: 0,
            dst_gpu: 1,
            bytes: 1 << 20
        }));
        assert!(
            h100.time_ms(&KernelOp::P2pCopy {
                src_gpu: 0,
                dst_gpu: 1,
                bytes: 1 << 20
            }) > 0.0
        );
        // Monotone in m between measured shapes.
        let mut last = 0.0;
        for m in [1000u64, 2000, 3000, 4000, 6000, 8000] {
            let v = h100.time_ms(&gemm(Dtype::Fp8, m, 10240, 5120));
            assert!(v > last);
            last = v;
        }
    }
}

#[cfg(test)]
mod attention_tests {
    use super::*;
    use crate::backend::Backend;
    use crate::hardware::GpuCatalog;
    use crate::llm::LlmSpec;
    use crate::perf::{IterationPredictor, KernelTimer};

    #[test]
    fn decode_attention_grows_with_the_batch_across_grid_holes() {
        // Llama-3.1-70B FP8 KV on one H200 (TRT-LLM): the table has batches 32 and 64 but no
        // (32, 2048) point. Batches 40 and 48 used to come out at 1.7× batch 64 (neighbours
        // taken from other head configurations), which slowed every 70B decode step of 33–63
        // sequences.
        let cat = GpuCatalog::builtin();
        let llm = LlmSpec::lookup("meta-llama/Llama-3.1-70B")
            .unwrap()
            .with_dtypes(Dtype::Fp8, Dtype::Fp8);
        let timer = KernelTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        let p = IterationPredictor::new(
            &llm,
            1,
            cat.get("h200_sxm").unwrap(),
            Backend::Trtllm,
            timer,
        )
        .unwrap();
        for kv in [1024, 3000, 4096] {
            let t: Vec<f64> = [32, 40, 48, 56, 64]
                .iter()
                .map(|&b| p.generation_attention_ms(b, kv))
                .collect();
            assert!(t.windows(2).all(|w| w[0] < w[1]), "kv {kv}: {t:?}");
        }
    }
}

#[cfg(test)]
mod set_tests {
    use super::*;
    use crate::backend::Backend;
    use crate::calibration::{Family, shipped};
    use crate::hardware::GpuCatalog;

    #[test]
    fn from_calibration_picks_gpu_backend_and_falls_back() {
        let cat = GpuCatalog::builtin();
        let mut gemm = shipped::load("h100_sxm", "vllm", Family::Gemm)
            .unwrap()
            .unwrap();
        gemm.rows.truncate(2000);
        let set = vec![gemm];
        let t = CalibratedTimer::from_calibration(&set, &cat, "a100_sxm", Backend::Sglang).unwrap();
        assert_eq!(t.source_gpu().sku, "h100_sxm");
        let (op, _) = set[0].rows[0];
        assert!(t.has_table_for(&op));
        // Attention has no table here: roofline.
        let attn = KernelOp::GenerationAttention(AttnShape {
            batch: 8,
            len: 1000,
            num_heads: 8,
            num_kv_heads: 1,
            head_dim: 128,
            window: 0,
            attn_dtype: Dtype::Bf16,
            kv_dtype: Dtype::Bf16,
        });
        assert!(!t.has_table_for(&attn) && t.time_ms(&attn) > 0.0);
        // trtllm asks for trtllm tables: none here.
        let t2 =
            CalibratedTimer::from_calibration(&set, &cat, "h100_sxm", Backend::Trtllm).unwrap();
        assert!(!t2.has_table_for(&op));
        assert!(CalibratedTimer::from_calibration(&[], &cat, "h100_sxm", Backend::Vllm).is_err());
    }
}

#[cfg(test)]
mod moe_tests {
    use super::*;
    use crate::backend::Backend;
    use crate::calibration::{Family, shipped};
    use crate::hardware::GpuCatalog;
    use crate::perf::evaluate::leave_shape_out;
    use crate::perf::ops::{ExpertRouting, MoeKernel, MoeQuant, MoeShape};

    #[test]
    fn moe_layers_are_exact_on_measured_shapes_and_close_when_left_out() {
        let cat = GpuCatalog::builtin();
        for (gpu, backend, dir) in [
            ("h100_sxm", Backend::Trtllm, "trtllm"),
            ("h200_sxm", Backend::Trtllm, "trtllm"),
            ("h100_sxm", Backend::Vllm, "vllm"),
            ("h200_sxm", Backend::Vllm, "vllm"),
        ] {
            let t = CalibratedTimer::shipped(&cat, gpu, backend).unwrap();
            let tab = shipped::load(gpu, dir, Family::Moe).unwrap().unwrap();
            // Shapes measured once (vLLM measures some twice, by two kernels: averaged).
            let once = |op: &KernelOp| tab.rows.iter().filter(|(o, _)| o == op).count() == 1;
            for (op, lat) in tab.rows.iter().step_by(41).filter(|(op, _)| once(op)) {
                assert!(t.has_table_for(op));
                assert!(((t.time_ms(op) - lat) / lat).abs() < 1e-9, "{op:?}");
            }
            let s = leave_shape_out(&t, &tab.rows);
            assert!(s.median < 0.05 && s.p90 < 0.15, "{gpu}/{dir}: {s:?}");
        }
    }

    #[test]
    fn a_split_never_measured_keeps_a_calls_fixed_cost_apart() {
        // H100's gpt-oss-120b rows under TensorRT-LLM without EP 2: carried from EP 4 by the
        // roofline, a call's fixed cost would double with its work (median error 38 %).
        let cat = GpuCatalog::builtin();
        let h100 = cat.get("h100_sxm").unwrap();
        let gpt_oss = |op: &KernelOp, ep| {
            matches!(op, KernelOp::Moe(m) if m.experts == 128 && m.hidden == 2880
                && m.routing == ExpertRouting::PowerLaw12 && m.moe_tp == 1 && m.moe_ep == ep)
        };
        let mut tab = shipped::load("h100_sxm", "trtllm", Family::Moe)
            .unwrap()
            .unwrap();
        let ep2: Vec<(KernelOp, f64)> = tab
            .rows
            .iter()
            .filter(|(op, _)| gpt_oss(op, 2))
            .copied()
            .collect();
        assert!(ep2.len() > 20);
        tab.rows.retain(|(op, _)| !gpt_oss(op, 2));
        let t = CalibratedTimer::from_tables([&tab], h100, h100);
        let mut e: Vec<f64> = ep2
            .iter()
            .map(|(op, lat)| ((t.time_ms(op) - lat) / lat).abs())
            .collect();
        e.sort_by(f64::total_cmp);
        assert!(e[e.len() / 2] < 0.2, "{e:?}");
    }

    #[test]
    fn an_mla_modules_fixed_cost_is_kept_apart() {
        // vLLM's MLA module on H200 launches some ten kernels whatever its work (0.07 ms at
        // one token): carried by the roofline whole, that cost shrank and grew with the work
        // (leave-shape-out p90 22 %).
        let cat = GpuCatalog::builtin();
        let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
        let tab = shipped::load("h200_sxm", "vllm", Family::MlaContext)
            .unwrap()
            .unwrap();
        let s = crate::perf::evaluate::leave_shape_out(&t, &tab.rows);
        assert!(s.n > 1000 && s.p90 < 0.15, "{s:?}");
    }

    #[test]
    fn min_latency_rows_time_only_their_own_kernel() {
        let cat = GpuCatalog::builtin();
        let b200 = CalibratedTimer::shipped(&cat, "b200_sxm", Backend::Trtllm).unwrap();
        let h100 = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
        let cutlass = MoeShape {
            quant: MoeQuant::Nvfp4,
            tokens: 8,
            hidden: 7168,
            inter: 2048,
            topk: 8,
            experts: 256,
            moe_tp: 4,
            moe_ep: 1,
            kernel: MoeKernel::Default,
            routing: ExpertRouting::Balanced,
        };
        let fast = MoeShape {
            kernel: MoeKernel::MinLatency,
            ..cutlass
        };
        assert!(b200.measures_moe(&fast) && b200.measures_moe(&cutlass));
        // The measured rows: 0.052 ms against CUTLASS's 0.242 ms.
        let time = |shape| b200.time_ms(&KernelOp::Moe(shape));
        assert!(time(fast) < 0.5 * time(cutlass));
        // Hopper has neither NVFP4 nor the kernel's rows.
        assert!(!h100.measures_moe(&fast));
    }

    #[test]
    fn each_routing_is_timed_by_its_own_rows() {
        // DeepSeek-V3's block-FP8 experts at EP 8 on H200 under TensorRT-LLM, 4,096 tokens:
        // measured 0.726 ms routed evenly, 1.168 ms under the power law of exponent 1.01.
        let cat = GpuCatalog::builtin();
        let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        let layer = |tokens, moe_ep, routing| {
            KernelOp::Moe(MoeShape {
                quant: MoeQuant::Fp8Block,
                tokens,
                hidden: 7168,
                inter: 2048,
                topk: 8,
                experts: 256,
                moe_tp: 1,
                moe_ep,
                kernel: MoeKernel::Default,
                routing,
            })
        };
        let shape = |routing| layer(4096, 8, routing);
        let ms = |routing| t.time_ms(&shape(routing));
        assert!((ms(ExpertRouting::Balanced) - 0.725787).abs() < 1e-9);
        assert!((ms(ExpertRouting::PowerLaw101) - 1.1681).abs() < 1e-9);
        assert!((ms(ExpertRouting::PowerLaw12) - 1.30575).abs() < 1e-9);
        // A table with balanced rows only times every routing with them, carried by the load
        // of the rank the layer waits for: at EP 64 and 8,192 tokens the busiest rank under
        // the power law computes some four times the even share (the call's fixed cost
        // does not grow with it).
        let mut tab = shipped::load("h200_sxm", "trtllm", Family::Moe)
            .unwrap()
            .unwrap();
        tab.rows.retain(
            |(op, _)| matches!(op, KernelOp::Moe(m) if m.routing == ExpertRouting::Balanced),
        );
        let h200 = cat.get("h200_sxm").unwrap();
        let only = CalibratedTimer::from_tables([&tab], h200, h200);
        let wide = |routing| only.time_ms(&layer(8192, 64, routing));
        assert!(wide(ExpertRouting::PowerLaw101) > 1.5 * wide(ExpertRouting::Balanced));
        assert!(wide(ExpertRouting::PowerLaw12) > wide(ExpertRouting::PowerLaw101));
    }

    #[test]
    fn moe_layer_time_grows_with_tokens() {
        // Qwen3-235B-A22B's experts in block FP8, TP 4 × EP 4 and TP 8 × EP 1, on H100 under
        // TensorRT-LLM; and gpt-oss-120b's MXFP4 experts on H200 under vLLM.
        let cat = GpuCatalog::builtin();
        let trt = CalibratedTimer::shipped(&cat, "h100_sxm", Backend::Trtllm).unwrap();
        let vllm = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Vllm).unwrap();
        let qwen = MoeShape {
            quant: MoeQuant::Fp8Block,
            tokens: 1,
            hidden: 4096,
            inter: 1536,
            topk: 8,
            experts: 128,
            moe_tp: 1,
            moe_ep: 4,
            kernel: MoeKernel::Default,
            routing: ExpertRouting::Balanced,
        };
        let oss = MoeShape {
            quant: MoeQuant::W4a16Mxfp4,
            hidden: 2880,
            inter: 2880,
            topk: 4,
            moe_tp: 2,
            moe_ep: 1,
            ..qwen
        };
        for (t, shape) in [
            (&trt, qwen),
            (
                &trt,
                MoeShape {
                    moe_tp: 8,
                    moe_ep: 1,
                    ..qwen
                },
            ),
            (&vllm, oss),
        ] {
            let mut last = 0.0;
            for tokens in [1u64, 3, 8, 20, 64, 100, 512, 1000, 4096, 6000, 16384] {
                let ms = t.time_ms(&KernelOp::Moe(MoeShape { tokens, ..shape }));
                assert!(
                    ms >= last * 0.99,
                    "{shape:?} at {tokens}: {ms} after {last}"
                );
                last = ms;
            }
        }
    }

    #[test]
    fn a_moe_split_never_measured_is_no_faster_than_a_measured_call() {
        // TensorRT-LLM's H200 MXFP4 rows are gpt-oss-20b's (32 experts) at MoE TP 1 only;
        // gpt-oss-120b at MoE TP 8 has an eighth of an expert per GPU, whose roofline the
        // measured efficiency alone would time at a fraction of any measured call.
        let cat = GpuCatalog::builtin();
        let t = CalibratedTimer::shipped(&cat, "h200_sxm", Backend::Trtllm).unwrap();
        let tab = shipped::load("h200_sxm", "trtllm", Family::Moe)
            .unwrap()
            .unwrap();
        let fastest = tab
            .rows
            .iter()
            .filter(|(op, _)| {
                matches!(op, KernelOp::Moe(m) if m.quant == MoeQuant::W4a16Mxfp4
                    && m.routing == ExpertRouting::PowerLaw12)
            })
            .map(|(_, ms)| *ms)
            .fold(f64::INFINITY, f64::min);
        let shape = MoeShape {
            quant: MoeQuant::W4a16Mxfp4,
            tokens: 4,
            hidden: 2880,
            inter: 2880,
            topk: 4,
            experts: 128,
            moe_tp: 8,
            moe_ep: 1,
            kernel: MoeKernel::Default,
            routing: ExpertRouting::PowerLaw12,
        };
        let ms = t.time_ms(&KernelOp::Moe(shape));
        assert!(
            fastest.is_finite() && ms >= fastest,
            "{ms} against {fastest}"
        );
        let ratio = t.ratio(&KernelOp::Moe(shape), false).unwrap();
        assert!(base_ms(&KernelOp::Moe(shape), &t.target) * ratio.exp() < 0.5 * fastest);
    }
}

//! The kernel timer of a deployment: the roofline or the calibrated tables.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::backend::Backend;
use crate::dtype::Dtype;
use crate::error::Result;
use crate::hardware::{GpuCatalog, GpuSku};
use crate::perf::calibrated::CalibratedTimer;
use crate::perf::dispatch::{DispatchQuery, DispatchSource, DispatchTimes};
use crate::perf::ops::{KernelOp, MoeShape};
use crate::perf::roofline::RooflineTimer;

/// Where each operation's time comes from.
#[derive(Debug, Clone)]
pub enum KernelTimer {
    /// From the SKU's datasheet with efficiencies.
    Roofline(RooflineTimer),
    /// From measured tables (interpolated; roofline-scaled outside them).
    Calibrated(Arc<CalibratedTimer>),
    /// The same measured tables, noting every operation timed (to tell which kernels a
    /// worker's steps run, and from what rows).
    Recording(Arc<CalibratedTimer>, Arc<Mutex<Vec<KernelOp>>>),
}

impl KernelTimer {
    /// The calibrated timer of the shipped tables for (`gpu`, `backend`); GPUs without tables
    /// borrow the closest measured GPU's achieved efficiencies (see [`CalibratedTimer::shipped`]).
    pub fn shipped(catalog: &GpuCatalog, gpu: &str, backend: Backend) -> Result<Self> {
        Ok(KernelTimer::Calibrated(Arc::new(CalibratedTimer::shipped(
            catalog, gpu, backend,
        )?)))
    }

    /// [`KernelTimer::shipped`] for a GPU of the built-in catalog, decoded once per process
    /// and shared: the tables take a fraction of a second to decode, and A/B runs and the
    /// profiler build many clusters of the same GPU and backend.
    pub fn shipped_builtin(gpu: &str, backend: Backend) -> Result<Self> {
        static CACHE: OnceLock<Mutex<BTreeMap<(String, Backend), KernelTimer>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
        let key = (gpu.to_string(), backend);
        if let Some(t) = cache.lock().expect("timer cache lock").get(&key) {
            return Ok(t.clone());
        }
        let timer = KernelTimer::shipped(&GpuCatalog::builtin(), gpu, backend)?;
        cache
            .lock()
            .expect("timer cache lock")
            .insert(key, timer.clone());
        Ok(timer)
    }

    /// Predicted time of `op` in ms.
    #[inline]
    pub fn time_ms(&self, op: &KernelOp) -> f64 {
        match self {
            KernelTimer::Roofline(r) => r.time_ms(op),
            KernelTimer::Calibrated(c) => c.time_ms(op),
            KernelTimer::Recording(c, seen) => {
                seen.lock().expect("recorded operations lock").push(*op);
                c.time_ms(op)
            }
        }
    }

    /// Whether measured rows of the MoE layer's own category back it
    /// ([`CalibratedTimer::measures_moe`]; never for the roofline).
    pub fn measures_moe(&self, shape: &MoeShape) -> bool {
        match self {
            KernelTimer::Roofline(_) => false,
            KernelTimer::Calibrated(c) | KernelTimer::Recording(c, _) => c.measures_moe(shape),
        }
    }

    /// Whether measured rows of every part of an MLA block back it
    /// ([`CalibratedTimer::measures_mla_parts`]; never for the roofline).
    pub fn measures_mla_parts(&self) -> bool {
        match self {
            KernelTimer::Roofline(_) => false,
            KernelTimer::Calibrated(c) | KernelTimer::Recording(c, _) => c.measures_mla_parts(),
        }
    }

    /// Per-call overhead of an isolated `dtype` GEMM that serving engines fuse away, in ms
    /// (see [`CalibratedTimer::gemm_call_overhead_ms`]; zero for the roofline).
    pub fn gemm_call_overhead_ms(&self, dtype: Dtype) -> f64 {
        match self {
            KernelTimer::Roofline(_) => 0.0,
            KernelTimer::Calibrated(c) | KernelTimer::Recording(c, _) => {
                c.gemm_call_overhead_ms(dtype)
            }
        }
    }

    /// One MoE layer's token dispatch and combine ([`DispatchQuery`]): from the measured
    /// neighbours of the kernel's table, else the network model, which the result names.
    /// Nothing moves (zero) when there are no tokens or one rank; a malformed query is an
    /// error naming the field.
    pub fn dispatch_combine(&self, q: &DispatchQuery) -> Result<DispatchTimes> {
        let (prepare, dispatch, combine) = q.stages()?;
        let measured = match self {
            KernelTimer::Roofline(_) => false,
            KernelTimer::Calibrated(c) | KernelTimer::Recording(c, _) => {
                c.is_measured(&KernelOp::MoeDispatch(dispatch))
            }
        };
        let source = if measured {
            DispatchSource::Measured
        } else {
            DispatchSource::NetworkModel
        };
        if q.tokens == 0 || q.moe_ep <= 1 {
            return Ok(DispatchTimes {
                dispatch_ms: 0.0,
                combine_ms: 0.0,
                source,
            });
        }
        let t = |d| self.time_ms(&KernelOp::MoeDispatch(d));
        Ok(DispatchTimes {
            dispatch_ms: prepare.map_or(0.0, t) + t(dispatch),
            combine_ms: t(combine),
            source,
        })
    }

    /// The GPU timed.
    pub fn gpu(&self) -> &GpuSku {
        match self {
            KernelTimer::Roofline(r) => &r.gpu,
            KernelTimer::Calibrated(c) | KernelTimer::Recording(c, _) => c.gpu(),
        }
    }
}

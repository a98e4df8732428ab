//! The tables only some model architectures read (fused MoE layers, MLA blocks and parts,
//! expert dispatch, linear attention), their module floors and the sibling GPU's MoE tables.
//!
//! A dense model never reads them, yet decoding them and drawing the expert loads their
//! MoE rows' rooflines need took about half of a timer's construction: 0.18 of 0.36 s of a
//! profile of Qwen3-32B-FP8 on H200 under vLLM (session of 2026-12-07). A timer of the
//! shipped tables therefore builds them when it first times such a kernel; one built from
//! given tables builds them at once.

use std::sync::{Arc, OnceLock};

use super::{Key, Sibling, architecture_specific, key, module_key};
use crate::calibration::CalibrationTable;
use crate::hardware::GpuSku;
use crate::perf::call_floor::ModuleFloors;
use crate::perf::mla_key::{MLA_LEAVES, MLA_OUTER};
use crate::perf::moe_key::{MOE_LEAVES, MOE_OUTER};
use crate::perf::roofline::base_ms;
use crate::perf::sources::ShippedArch;
use crate::perf::table::InterpTable;
use crate::perf::{dispatch, gdn};

/// The architecture-specific tables of a timer (see the module documentation).
#[derive(Debug, Clone)]
pub(in crate::perf) struct ArchTables {
    pub(in crate::perf) moe: Option<InterpTable<3>>,
    pub(in crate::perf) mla_ctx: Option<InterpTable<3>>,
    pub(in crate::perf) mla_gen: Option<InterpTable<3>>,
    pub(in crate::perf) mla_part: Option<InterpTable<3>>,
    pub(in crate::perf) dispatch: Option<InterpTable<2>>,
    pub(in crate::perf) gdn: Option<InterpTable<3>>,
    /// Fastest measured call per category of a multi-kernel module and its fixed cost per
    /// call (see `CalibratedTimer` and `call_floor.rs`).
    pub(in crate::perf) floors: ModuleFloors,
    /// The MoE tables of another GPU of the target's generation, for the MoE kinds these
    /// tables lack ([`crate::perf::sources`]).
    pub(in crate::perf) sibling: Option<Box<Sibling>>,
}

impl ArchTables {
    /// The architecture-specific rows of `tables`, measured on `source`, each stored as its
    /// log ratio to the efficiency-free roofline (a module call's fixed cost taken off first),
    /// and `sibling`.
    pub(in crate::perf) fn from_tables(
        tables: &[&CalibrationTable],
        source: &GpuSku,
        sibling: Option<Sibling>,
    ) -> ArchTables {
        let mut floors = ModuleFloors::default();
        // The modules' floors (and fixed costs) first: every module row's ratio is stored
        // without its category's fixed cost.
        let rows = || {
            (tables.iter().flat_map(|t| t.rows.iter())).filter(|(op, _)| architecture_specific(op))
        };
        for (op, lat) in rows() {
            if let Some((m, c, x)) = module_key(op) {
                floors.of_mut(m).note(c, x, *lat, base_ms(op, source));
            }
        }
        let (mut moe, mut mla_ctx, mut mla_gen, mut mla_part) = (vec![], vec![], vec![], vec![]);
        let (mut disp, mut gdn) = (vec![], vec![]);
        for (op, lat) in rows() {
            let k = key(op);
            let fixed = k.module().map_or(0.0, |(m, c, _)| floors.of(m).fixed(c));
            let r = ((lat - fixed) / base_ms(op, source)).ln();
            match k {
                Key::Moe(c, x) => moe.push((c, x, r)),
                Key::MlaCtx(c, x) => mla_ctx.push((c, x, r)),
                Key::MlaGen(c, x) => mla_gen.push((c, x, r)),
                Key::MlaPart(c, x) => mla_part.push((c, x, r)),
                Key::Disp(c, x) => disp.push((c, x, r)),
                Key::Gdn(c, x) => gdn.push((c, x, r)),
                _ => {}
            }
        }
        ArchTables {
            moe: super::table_of(moe, MOE_LEAVES, MOE_OUTER),
            mla_ctx: super::table_of(mla_ctx, MLA_LEAVES, MLA_OUTER),
            mla_gen: super::table_of(mla_gen, MLA_LEAVES, MLA_OUTER),
            mla_part: super::table_of(mla_part, MLA_LEAVES, MLA_OUTER),
            dispatch: super::table_of(disp, dispatch::LEAVES, dispatch::OUTER),
            gdn: super::table_of(gdn, gdn::LEAVES, gdn::OUTER),
            floors,
            sibling: sibling.map(Box::new),
        }
    }
}

/// A timer's [`ArchTables`]: built, or built from the shipped tables when first read.
/// Shared by the timer's clones, so that a clone made before the first read (a cluster's
/// pools) does not build them again.
#[derive(Debug, Clone)]
pub(in crate::perf) struct LazyArch(Arc<(OnceLock<ArchTables>, Option<ShippedArch>)>);

impl LazyArch {
    /// Tables built already.
    pub(in crate::perf) fn built(tables: ArchTables) -> LazyArch {
        LazyArch(Arc::new((OnceLock::from(tables), None)))
    }

    /// Tables of the shipped ones, built when first read.
    pub(in crate::perf) fn shipped(load: ShippedArch) -> LazyArch {
        LazyArch(Arc::new((OnceLock::new(), Some(load))))
    }

    /// The tables, built now if not yet.
    pub(in crate::perf) fn get(&self) -> &ArchTables {
        let (tables, load) = &*self.0;
        tables.get_or_init(|| {
            // Only `shipped` leaves the tables unbuilt, and it gives the loader. The shipped
            // tables are part of the binary, and a test decodes every one of them
            // (`calibration::shipped`): this cannot fail at run time.
            let load = load
                .as_ref()
                .expect("unbuilt tables come with their loader");
            load.load()
                .expect("the shipped architecture tables decode (tested)")
        })
    }
}

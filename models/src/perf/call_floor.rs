//! The least time a call of each category of a multi-kernel module was measured to take, and
//! from it the call's fixed cost.
//!
//! A fused MoE layer (routing, permutation, two grouped GEMMs, finalisation) and an MLA
//! module (the down and up projections, norms, rotary embedding, attention, output
//! projection; DeepSeek-V2 §2.1, `DeepseekV3Attention`) each launch and synchronise the same
//! kernel sequence whatever their work. That cost does not scale with a roofline: the
//! calibrated timer keeps it apart (`t = fixed + e^r · base`) and never times a call faster
//! than its category's fastest measured one.

/// Fastest measured call per category, with its coordinates and roofline.
#[derive(Debug, Clone, Default)]
pub(super) struct CallFloors(Vec<Floor>);

/// A category's fastest measured call (its coordinates, time and efficiency-free roofline)
/// and the next fastest (to leave the fastest out of a leave-shape-out check).
#[derive(Debug, Clone, Copy)]
struct Floor {
    cat: u64,
    x: [f64; 3],
    ms: f64,
    base_ms: f64,
    next_ms: f64,
}

impl CallFloors {
    /// Takes a measured call of category `cat` at coordinates `x` lasting `ms`, whose
    /// efficiency-free roofline is `base_ms`, into account.
    pub(super) fn note(&mut self, cat: u64, x: [f64; 3], ms: f64, base_ms: f64) {
        match self.0.iter_mut().find(|f| f.cat == cat) {
            // A repeated measurement of the fastest shape is still that shape.
            Some(f) if x == f.x => f.ms = f.ms.min(ms),
            Some(f) if ms < f.ms => {
                *f = Floor {
                    x,
                    ms,
                    base_ms,
                    next_ms: f.ms,
                    ..*f
                }
            }
            Some(f) => f.next_ms = f.next_ms.min(ms),
            None => self.0.push(Floor {
                cat,
                x,
                ms,
                base_ms,
                next_ms: f64::INFINITY,
            }),
        }
    }

    /// The fixed cost of a call of category `cat`, ms: what its fastest measured call took
    /// beyond its efficiency-free roofline (0 when none was measured, or where that call beat
    /// its roofline). Every call of the category takes at least its fastest, so a call's time
    /// less this cost is at least the fastest call's roofline: positive.
    pub(super) fn fixed(&self, cat: u64) -> f64 {
        self.0
            .iter()
            .find(|f| f.cat == cat)
            .map_or(0.0, |f| (f.ms - f.base_ms).max(0.0))
    }

    /// The fastest measured call of category `cat`, ms (0 when none was measured); with
    /// `leave_out`, not counting a call at coordinates `x`.
    pub(super) fn of(&self, cat: u64, x: &[f64; 3], leave_out: bool) -> f64 {
        let Some(f) = self.0.iter().find(|f| f.cat == cat) else {
            return 0.0;
        };
        let ms = if leave_out && *x == f.x {
            f.next_ms
        } else {
            f.ms
        };
        if ms.is_finite() { ms } else { 0.0 }
    }
}

/// The modules whose calls keep a fixed cost apart.
#[derive(Debug, Clone, Copy)]
pub(super) enum Module {
    /// A fused MoE layer.
    Moe,
    /// An MLA module over prompts (the module tables' context rows).
    MlaContext,
    /// An MLA module in a decode step.
    MlaGeneration,
}

/// The floors of each module's categories.
#[derive(Debug, Clone, Default)]
pub(super) struct ModuleFloors([CallFloors; 3]);

impl ModuleFloors {
    /// The floors of `module`'s categories.
    pub(super) fn of(&self, module: Module) -> &CallFloors {
        &self.0[module as usize]
    }

    /// The floors of `module`'s categories, to note calls in.
    pub(super) fn of_mut(&mut self, module: Module) -> &mut CallFloors {
        &mut self.0[module as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_is_the_fastest_call_and_the_next_one_when_that_is_left_out() {
        let at = |tokens: f64| [tokens.ln(), 0.0, 0.0];
        let mut f = CallFloors::default();
        for (tokens, ms) in [
            (8.0, 0.09),
            (1.0, 0.07),
            (64.0, 0.2),
            (2.0, 0.08),
            (1.0, 0.075),
        ] {
            f.note(7, at(tokens), ms, 0.01);
        }
        assert_eq!(f.of(7, &at(16.0), false), 0.07);
        assert_eq!(f.of(7, &at(16.0), true), 0.07);
        // Left out, the fastest shape's repeats are left out with it.
        assert_eq!(f.of(7, &at(1.0), true), 0.08);
        assert!((f.fixed(7) - 0.06).abs() < 1e-12);
        // Another category: none measured.
        assert_eq!(f.of(8, &at(1.0), false), 0.0);
        assert_eq!(f.fixed(8), 0.0);
    }
}

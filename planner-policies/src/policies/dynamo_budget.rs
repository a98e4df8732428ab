//! Dynamo 1.6's GPU budget for a prefill/decode pair, as `sla.sizing: capacity` applies it:
//! `fit_directional_budget_pair`, `guard_disagg_scaling_budget`, `proportional_clamp_pair` and
//! `bounds_for_total` of `dynamo/planner/core/budget.py` (ai-dynamo 1.6.1). servesim's
//! `cluster.gpu_budget` is Dynamo's `max_gpu_budget`, and `planner.sla.min_gpu_budget` its
//! `min_gpu_budget` (none by default, Dynamo's `-1`).
//!
//! Unlike a proportional cut of both pools, a change is only ever shortened, never reversed:
//! every count lands between the serving one and the proposed one, a pool that asked to grow
//! at a full budget is held rather than paid for by a pool that did not ask to shrink, and a
//! rebalance (one pool up, the other down) moves both legs or neither. A floor holds the
//! pools from shrinking below it together; with it equal to the ceiling, the total is pinned
//! and only rebalances move. The floor is relaxed by one worker's GPUs (the widest of the two
//! pools), since steps of unequal widths cannot always land on it exactly. It agrees with
//! Dynamo 1.6.1's own functions on the 600 cases of `data/dynamo/budget-cases.json`.

/// A prefill and a decode count.
pub(crate) type Pair = (u32, u32);

/// GPUs per worker, the budget's floor and ceiling (`None`: no bound) and each pool's fewest
/// workers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Band {
    pub gpus: Pair,
    pub min_gpus: Option<u32>,
    pub max_gpus: Option<u32>,
    pub min_workers: Pair,
}

/// A band in Dynamo's own terms: signed counts, `-1` for a bound that is off.
struct Signed {
    gp: i64,
    gd: i64,
    min: i64,
    max: i64,
    min_p: i64,
    min_d: i64,
}

impl Band {
    fn signed(&self) -> Signed {
        let bound = |b: Option<u32>| b.map_or(-1, i64::from);
        Signed {
            gp: i64::from(self.gpus.0),
            gd: i64::from(self.gpus.1),
            min: bound(self.min_gpus),
            max: bound(self.max_gpus),
            min_p: i64::from(self.min_workers.0),
            min_d: i64::from(self.min_workers.1),
        }
    }

    /// The band with its ceiling off (Dynamo's startup reductions) or its floor off (its
    /// throughput target's fit).
    pub(crate) fn without_ceiling(mut self) -> Band {
        self.max_gpus = None;
        self
    }

    pub(crate) fn without_floor(mut self) -> Band {
        self.min_gpus = None;
        self
    }
}

impl Signed {
    fn total(&self, (p, d): (i64, i64)) -> i64 {
        p * self.gp + d * self.gd
    }

    /// `compute_tolerance` of the two pools where both bounds are on (else 0).
    fn tolerance_if_both(&self) -> i64 {
        if self.min >= 0 && self.max >= 0 {
            self.gp.max(self.gd)
        } else {
            0
        }
    }

    /// `bounds_for_total`: within `[min − tolerance, max]`, each bound where it is on.
    fn in_band(&self, total: i64, tolerance: i64) -> bool {
        let over = self.max >= 0 && total > self.max;
        let under = self.min >= 0 && total < self.min - tolerance;
        !(over || under)
    }
}

fn wide((p, d): Pair) -> (i64, i64) {
    (i64::from(p), i64::from(d))
}

fn narrow((p, d): (i64, i64)) -> Pair {
    let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    (n(p), n(d))
}

/// Python's `-((-n) // d)` for a positive `d`.
fn ceil_div(n: i64, d: i64) -> i64 {
    -(-n).div_euclid(d)
}

/// `fit_directional_budget_pair`: the pair nearest to `proposed` within the band with each
/// count between its current and proposed one, ranked as Dynamo ranks them (distance to the
/// proposal, then the skew between the two pools' progress, then the most progress, then
/// the fewest workers); an opposing rebalance moves both pools or neither. `current` when no
/// pair fits.
pub(crate) fn fit_directional(current: Pair, proposed: Pair, band: &Band) -> Pair {
    let b = band.signed();
    if b.gp <= 0 || b.gd <= 0 {
        return proposed;
    }
    let tolerance = b.tolerance_if_both();
    let (cp, cd) = wide(current);
    let (pp, pd) = wide(proposed);
    let opposing = (pp < cp && pd > cd) || (pp > cp && pd < cd);
    let (asked_p, asked_d) = ((pp - cp).abs(), (pd - cd).abs());

    let mut p_low = cp.min(pp).max(b.min_p);
    let mut p_high = cp.max(pp);
    let mut d_low = cd.min(pd).max(b.min_d);
    let mut d_high = cd.max(pd);
    // Counts past these cannot fit the band (Python's `//` floors).
    if b.max >= 0 {
        p_high = p_high.min((b.max - d_low * b.gd).div_euclid(b.gp));
        d_high = d_high.min((b.max - p_low * b.gp).div_euclid(b.gd));
    }
    if b.min >= 0 {
        let lower = b.min - tolerance;
        p_low = p_low.max(ceil_div(lower - d_high * b.gd, b.gp));
        d_low = d_low.max(ceil_div(lower - p_high * b.gp, b.gd));
    }
    if p_low > p_high || d_low > d_high {
        return current;
    }
    if pp >= b.min_p && pd >= b.min_d && b.in_band(b.total((pp, pd)), tolerance) {
        return proposed;
    }

    // (distance, skew, −progress, prefill, decode), the lowest first.
    type Score = (i64, i64, i64, i64, i64);
    let mut best: Option<(Score, (i64, i64))> = None;
    let mut consider = |p: i64, d: i64| {
        if !b.in_band(b.total((p, d)), tolerance) {
            return;
        }
        let (moved_p, moved_d) = ((p - cp).abs(), (d - cd).abs());
        let score = (
            (pp - p).abs() + (pd - d).abs(),
            (moved_p * asked_d - moved_d * asked_p).abs(),
            -(moved_p + moved_d),
            p,
            d,
        );
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, (p, d)));
        }
    };
    let effective_min = (b.min >= 0).then_some(b.min - tolerance);
    // Enumerate the shorter range; for each value the band bounds the other pool, whose
    // point nearest the proposal is the only candidate that can be nearest overall.
    let swap = p_high - p_low > d_high - d_low;
    let (lo, hi) = if swap {
        (d_low, d_high)
    } else {
        (p_low, p_high)
    };
    // This pool's current count and width; the other's current, proposed, bounds and width.
    let (this_c, this_g) = if swap { (cd, b.gd) } else { (cp, b.gp) };
    let (other_c, other_p, other_lo, other_hi, other_g) = if swap {
        (cp, pp, p_low, p_high, b.gp)
    } else {
        (cd, pd, d_low, d_high, b.gd)
    };
    let mut pick = |v: i64, o: i64| if swap { consider(o, v) } else { consider(v, o) };
    for v in lo..=hi {
        let cost = v * this_g;
        let (mut o_lo, mut o_hi) = (other_lo, other_hi);
        if let Some(m) = effective_min {
            o_lo = o_lo.max(ceil_div(m - cost, other_g));
        }
        if b.max >= 0 {
            o_hi = o_hi.min((b.max - cost).div_euclid(other_g));
        }
        if opposing {
            if v == this_c {
                if o_lo <= other_c && other_c <= o_hi {
                    pick(v, other_c);
                }
                continue;
            }
            if other_p > other_c {
                o_lo = o_lo.max(other_c + 1);
            } else {
                o_hi = o_hi.min(other_c - 1);
            }
        }
        if o_lo <= o_hi {
            pick(v, other_p.max(o_lo).min(o_hi));
        }
    }
    best.map_or(current, |(_, pair)| narrow(pair))
}

/// `proportional_clamp_pair`: a pair outside the band brought into it, both pools scaled by
/// the bound's share of the total, each at least its minimum; `(0, 0)` when the minimums
/// alone overshoot the ceiling.
fn proportional_clamp(proposed: Pair, band: &Band) -> Pair {
    let b = band.signed();
    let (np, nd) = wide(proposed);
    if (b.min < 0 && b.max < 0) || b.gp <= 0 || b.gd <= 0 {
        return proposed;
    }
    let total = b.total((np, nd));
    if b.in_band(total, b.tolerance_if_both()) {
        return proposed;
    }
    if b.max >= 0 && total > b.max {
        if b.max < b.min_p * b.gp + b.min_d * b.gd {
            return (0, 0);
        }
        let scale = b.max as f64 / total as f64;
        let most_p = (b.max - b.min_d * b.gd).div_euclid(b.gp);
        let new_p = ((np as f64 * scale).floor() as i64)
            .min(most_p)
            .max(b.min_p);
        let new_d = (b.max - new_p * b.gp).div_euclid(b.gd).max(b.min_d);
        return narrow((new_p, new_d));
    }
    // Under the floor: grown toward it, prefill first, decode never cut for it.
    let floor = b.min as f64;
    let new_p = if total <= 0 {
        (floor / 2.0 / b.gp as f64).ceil() as i64
    } else {
        (np as f64 * (floor / total as f64)).ceil() as i64
    }
    .max(b.min_p);
    let remaining = (b.min - new_p * b.gp).max(0);
    let new_d = ((remaining as f64 / b.gd as f64).ceil() as i64).max(b.min_d);
    let decode_would_shrink = new_d < nd;
    let new_d = new_d.max(nd);
    if b.max >= 0 && b.total((new_p, new_d)) > b.max {
        if !decode_would_shrink {
            return proposed;
        }
        return fit_directional(proposed, narrow((new_p, nd)), band);
    }
    narrow((new_p, new_d))
}

/// `guard_disagg_scaling_budget`: the pair Dynamo 1.6 applies for a `proposed` pair when
/// `current` serve, and whether the budget held it back or changed it.
pub(crate) fn guard(current: Pair, proposed: Pair, band: &Band) -> (Pair, bool) {
    let b = band.signed();
    if b.gp <= 0 || b.gd <= 0 {
        let pair = proportional_clamp(proposed, band);
        return (pair, pair != proposed);
    }
    let tolerance = if b.max >= 0 { b.gp.max(b.gd) } else { 0 };
    let current_total = b.total(wide(current));
    if !b.in_band(current_total, tolerance) {
        // Outside the band already: brought back from the serving counts.
        return (proportional_clamp(current, band), true);
    }
    let (cp, cd) = current;
    let (pp, pd) = proposed;
    let any_up = pp > cp || pd > cd;
    let any_down = pp < cp || pd < cd;
    let opposing = (pp < cp && pd > cd) || (pp > cp && pd < cd);
    let at_floor = b.min >= 0 && current_total <= b.min;
    let at_ceiling = b.max >= 0 && current_total >= b.max;
    if at_floor && any_down && !any_up {
        return (current, true);
    }
    // At a bound no pool moves past it unless the other moves the other way for it.
    if (at_floor && opposing) || (at_ceiling && any_up) {
        if !opposing {
            return (current, true);
        }
        let fitted = fit_directional(current, proposed, band);
        return (fitted, fitted != proposed);
    }
    let (np, nd) = proportional_clamp(proposed, band);
    let between = |c: u32, p: u32, f: u32| c.min(p) <= f && f <= c.max(p);
    if !between(cp, pp, np)
        || !between(cd, pd, nd)
        || !b.in_band(b.total(wide((np, nd))), tolerance)
    {
        return (current, true);
    }
    ((np, nd), (np, nd) != proposed)
}

/// What `sla.sizing: capacity` applies once no worker is starting, as Dynamo 1.6's state
/// machine does: the throughput target fitted under the ceiling without changing its
/// directions (`_fit_disagg_throughput_ceiling`, no floor), then the budget guard
/// (`_apply_disagg_scaling_budget`), both from the serving counts.
pub(crate) fn apply(serving: Pair, proposed: Pair, band: &Band) -> (Pair, bool) {
    let fitted = fit_directional(serving, proposed, &band.without_floor());
    let (pair, held) = guard(serving, fitted, band);
    (pair, held || fitted != proposed)
}

/// Dynamo 1.6's reduction while workers start (`_startup_reduction`): a target below the
/// serving count, or equal to it with workers to cancel; `None` otherwise (nothing cancelled).
pub(crate) fn startup_reduction(target: u32, ready: u32, starting: u32) -> Option<u32> {
    (target <= ready && target < ready + starting).then_some(target)
}

/// `_startup_disagg_decision`: each pool's reduction while workers start, shortened so that
/// the two pools keep the floor (a pool that is not reduced counts its starting workers).
/// `None` for a pool left as it is.
pub(crate) fn startup_reductions(
    targets: Pair,
    ready: Pair,
    starting: Pair,
    band: &Band,
) -> (Option<u32>, Option<u32>) {
    let cut = (
        startup_reduction(targets.0, ready.0, starting.0),
        startup_reduction(targets.1, ready.1, starting.1),
    );
    if cut == (None, None) {
        return cut;
    }
    let current = (
        ready.0 + if cut.0.is_none() { starting.0 } else { 0 },
        ready.1 + if cut.1.is_none() { starting.1 } else { 0 },
    );
    let (p, d) = fit_directional(
        current,
        (cut.0.unwrap_or(current.0), cut.1.unwrap_or(current.1)),
        &band.without_ceiling(),
    );
    (
        cut.0
            .and_then(|_| startup_reduction(p, ready.0, starting.0)),
        cut.1
            .and_then(|_| startup_reduction(d, ready.1, starting.1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn band(gpus: Pair, max_gpus: u32) -> Band {
        Band {
            gpus,
            min_gpus: None,
            max_gpus: Some(max_gpus),
            min_workers: (1, 1),
        }
    }

    /// `(gpus, floor, ceiling, fewest workers)` as a band, Dynamo's `-1` as `None`.
    fn dynamo_band(gpus: Pair, min: i64, max: u32, min_workers: Pair) -> Band {
        Band {
            gpus,
            min_gpus: u32::try_from(min).ok(),
            max_gpus: Some(max),
            min_workers,
        }
    }

    /// Dynamo 1.6.1's own unit cases (`dynamo/planner/tests/unit/test_budget.py`), by name:
    /// current, proposed, GPUs per worker, floor, ceiling, fewest workers, expected pair.
    type Case = (&'static str, Pair, Pair, Pair, i64, u32, Pair, Pair);
    #[rustfmt::skip]
    const FIT_CASES: [Case; 4] = [
        ("holds_when_both_roles_scale_up_at_ceiling", (24, 40), (32, 48), (1, 1), 64, 64, (1, 1), (24, 40)),
        ("admits_only_funded_part_of_opposing_rebalance", (24, 40), (23, 48), (1, 1), 64, 64, (1, 1), (23, 41)),
        ("preserves_weighted_opposing_atomicity", (16, 16), (15, 24), (2, 1), 48, 48, (1, 1), (15, 18)),
        ("shares_available_headroom_between_two_scale_ups", (24, 36), (32, 44), (1, 1), -1, 64, (1, 1), (26, 38)),
    ];
    #[rustfmt::skip]
    const GUARD_CASES: [Case; 16] = [
        ("holds_scale_down_without_scale_up_at_floor", (28, 36), (27, 36), (1, 1), 64, 64, (1, 1), (28, 36)),
        ("holds_scale_down_without_scale_up_at_floor", (27, 36), (26, 35), (1, 1), 64, 64, (1, 1), (27, 36)),
        ("allows_explicit_opposing_swap_at_fixed_budget", (27, 37), (26, 38), (1, 1), 64, 64, (1, 1), (26, 38)),
        ("allows_reverse_explicit_opposing_swap_at_fixed_budget", (27, 37), (28, 36), (1, 1), 64, 64, (1, 1), (28, 36)),
        ("does_not_invent_donor_at_full_budget", (28, 36), (28, 37), (1, 1), 64, 64, (1, 1), (28, 36)),
        ("does_not_invent_donor_at_full_budget", (28, 36), (29, 37), (1, 1), 64, 64, (1, 1), (28, 36)),
        ("rejects_opposing_swap_that_does_not_fit", (2, 1), (1, 2), (1, 2), 4, 4, (1, 1), (2, 1)),
        ("does_not_execute_only_donor_leg_of_weighted_swap", (2, 1), (1, 2), (1, 3), 5, 6, (1, 1), (2, 1)),
        ("allows_scale_down_above_floor", (35, 35), (34, 35), (1, 1), 64, 80, (1, 1), (34, 35)),
        ("disabled_minimum_does_not_invent_ceiling_donor", (3, 1), (3, 2), (1, 1), -1, 4, (1, 1), (3, 1)),
        ("max_only_both_up_does_not_invent_donor", (4, 1), (5, 2), (1, 1), -1, 5, (1, 1), (4, 1)),
        ("weighted_tolerance_does_not_enable_donor_only_churn", (1, 1), (0, 1), (2, 2), 5, 5, (0, 1), (1, 1)),
        ("weighted_tolerance_allows_feasible_opposing_swap", (1, 1), (0, 2), (2, 2), 5, 5, (0, 1), (0, 2)),
        ("clamp_never_inverts_hold_into_scale_up", (4, 3), (1, 3), (1, 1), 6, 10, (1, 1), (4, 3)),
        ("holds_when_integer_width_clamp_cannot_reach_band", (1, 2), (2, 1), (1, 2), 7, 7, (1, 1), (1, 2)),
        ("below_floor_uses_explicit_reconcile_from_current", (1, 1), (0, 1), (1, 1), 4, 6, (1, 1), (2, 2)),
    ];

    #[test]
    fn agrees_with_dynamos_own_unit_cases() {
        for (name, current, proposed, gpus, min, max, fewest, want) in FIT_CASES {
            let b = dynamo_band(gpus, min, max, fewest);
            assert_eq!(fit_directional(current, proposed, &b), want, "{name}");
        }
        for (name, current, proposed, gpus, min, max, fewest, want) in GUARD_CASES {
            let b = dynamo_band(gpus, min, max, fewest);
            assert_eq!(guard(current, proposed, &b).0, want, "{name}");
        }
        // test_clamp_pair_preserves_asymmetric_component_minimums and
        // test_clamp_pair_ceiling_below_min_endpoint_returns_zero
        let b = dynamo_band((1, 1), -1, 5, (2, 1));
        assert_eq!(proportional_clamp((10, 10), &b), (2, 3));
        assert_eq!(proportional_clamp((5, 5), &band((1, 1), 1)), (0, 0));
    }

    #[test]
    fn within_the_budget_nothing_changes() {
        let b = band((1, 2), 8);
        assert_eq!(apply((2, 2), (3, 2), &b), ((3, 2), false));
        assert_eq!(apply((3, 2), (1, 1), &b), ((1, 1), false));
    }

    #[test]
    fn a_rebalance_at_the_ceiling_moves_both_legs() {
        // 4P + 2D of one GPU each fill 6; decode asks for 3 and prefill gives one back.
        assert_eq!(apply((4, 2), (3, 3), &band((1, 1), 6)), ((3, 3), false));
        // Prefill asks for two fewer and decode four more: only what is funded moves.
        assert_eq!(apply((4, 2), (2, 6), &band((1, 1), 6)), ((2, 4), true));
    }

    #[test]
    fn reductions_while_workers_start_keep_the_floor() {
        let floor = dynamo_band((2, 2), 8, 10, (1, 1));
        // Both pools asked down to one while a prefill worker starts: the starting one is
        // cancelled, the serving ones kept for the floor.
        assert_eq!(
            startup_reductions((1, 1), (2, 2), (1, 0), &floor),
            (Some(2), None)
        );
        let free = Band {
            min_gpus: None,
            ..floor
        };
        assert_eq!(
            startup_reductions((1, 1), (2, 2), (1, 0), &free),
            (Some(1), Some(1))
        );
        // A pool asked to grow keeps what it has, starting workers included.
        assert_eq!(
            startup_reductions((3, 2), (2, 2), (1, 0), &free),
            (None, None)
        );
    }

    /// Every case `scripts/dynamo-budget-cases/run` drew and ran through Dynamo 1.6.1's own
    /// `fit_directional_budget_pair` and `guard_disagg_scaling_budget` (`data/dynamo/`).
    #[test]
    fn agrees_with_dynamo_on_every_recorded_case() {
        #[derive(serde::Deserialize)]
        struct Case {
            current: Pair,
            proposed: Pair,
            gpus: Pair,
            min_gpus: Option<u32>,
            max_gpus: u32,
            min_workers: Pair,
            fit: Pair,
            fit_floor_only: Pair,
            guard: Pair,
        }
        let text = include_str!("../../../data/dynamo/budget-cases.json");
        let cases: Vec<Case> = serde_json::from_str(text).unwrap();
        assert_eq!(cases.len(), 600);
        for c in &cases {
            let b = Band {
                min_gpus: c.min_gpus,
                ..dynamo_band(c.gpus, -1, c.max_gpus, c.min_workers)
            };
            let at = format!("{:?} -> {:?} on {b:?}", c.current, c.proposed);
            assert_eq!(
                fit_directional(c.current, c.proposed, &b),
                c.fit,
                "fit: {at}"
            );
            assert_eq!(guard(c.current, c.proposed, &b).0, c.guard, "guard: {at}");
            let floor_only = b.without_ceiling();
            assert_eq!(
                fit_directional(c.current, c.proposed, &floor_only),
                c.fit_floor_only,
                "fit without a ceiling: {at}"
            );
        }
    }

    proptest! {
        // As Dynamo's test_throughput_fit_exhaustively_preserves_directions_and_budget: every
        // count between its current and proposed one, within the ceiling, and a rebalance
        // all or nothing.
        #[test]
        fn directions_and_budget_hold(
            cp in 1u32..6, cd in 1u32..6, pp in 0u32..9, pd in 0u32..9,
            gp in 1u32..4, gd in 1u32..4, slack in 0u32..6,
        ) {
            let b = band((gp, gd), cp * gp + cd * gd + slack);
            let max = cp * gp + cd * gd + slack;
            let (p, d) = fit_directional((cp, cd), (pp, pd), &b);
            prop_assert!(cp.min(pp.max(1)) <= p && p <= cp.max(pp));
            prop_assert!(cd.min(pd.max(1)) <= d && d <= cd.max(pd));
            prop_assert!(p * gp + d * gd <= max);
            let opposing = (pp < cp && pd > cd) || (pp > cp && pd < cd);
            if opposing {
                prop_assert_eq!(p == cp, d == cd);
            }
            let ((p, d), _) = apply((cp, cd), (pp, pd), &b);
            prop_assert!(p * gp + d * gd <= max);
            prop_assert!(cp.min(pp.max(1)) <= p && p <= cp.max(pp));
            prop_assert!(cd.min(pd.max(1)) <= d && d <= cd.max(pd));
        }
    }
}

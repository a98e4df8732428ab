//! Dynamo 1.6's GPU budget for a prefill/decode pair, as `sla.sizing: capacity` applies it:
//! `fit_directional_budget_pair`, `guard_disagg_scaling_budget` and `proportional_clamp_pair`
//! of `dynamo/planner/core/budget.py` (ai-dynamo 1.6.1), with the ceiling only: servesim's
//! `gpu_budget` is Dynamo's `max_gpu_budget`, and its `min_gpu_budget` is left at its default
//! (`-1`, no floor).
//!
//! Unlike a proportional cut of both pools, a change is only ever shortened, never reversed:
//! every count lands between the serving one and the proposed one, a pool that asked to grow
//! at a full budget is held rather than paid for by a pool that did not ask to shrink, and a
//! rebalance (one pool up, the other down) moves both legs or neither. It agrees with Dynamo
//! 1.6.1's own functions on the 600 cases of `data/dynamo/budget-cases.json`.

/// A prefill and a decode count.
pub(crate) type Pair = (u32, u32);

/// GPUs per worker, the budget's ceiling and each pool's fewest workers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Band {
    pub gpus: Pair,
    pub max_gpus: u32,
    pub min_workers: Pair,
}

impl Band {
    fn total(&self, (p, d): (i64, i64)) -> i64 {
        p * i64::from(self.gpus.0) + d * i64::from(self.gpus.1)
    }
}

fn wide((p, d): Pair) -> (i64, i64) {
    (i64::from(p), i64::from(d))
}

fn narrow((p, d): (i64, i64)) -> Pair {
    let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    (n(p), n(d))
}

/// `fit_directional_budget_pair`: the pair nearest to `proposed` within the ceiling with each
/// count between its current and proposed one, ranked as Dynamo ranks them (distance to the
/// proposal, then the skew between the two pools' progress, then the most progress, then
/// the fewest workers); an opposing rebalance moves both pools or neither. `current` when no
/// pair fits.
pub(crate) fn fit_directional(current: Pair, proposed: Pair, band: &Band) -> Pair {
    let (gp, gd) = (i64::from(band.gpus.0), i64::from(band.gpus.1));
    if gp == 0 || gd == 0 {
        return proposed;
    }
    let (cp, cd) = wide(current);
    let (pp, pd) = wide(proposed);
    let (min_p, min_d) = wide(band.min_workers);
    let max = i64::from(band.max_gpus);
    let opposing = (pp < cp && pd > cd) || (pp > cp && pd < cd);
    let (asked_p, asked_d) = ((pp - cp).abs(), (pd - cd).abs());

    let p_low = cp.min(pp).max(min_p);
    let d_low = cd.min(pd).max(min_d);
    // Counts past these cannot fit the ceiling (Python's `//` floors).
    let p_high = cp.max(pp).min((max - d_low * gd).div_euclid(gp));
    let d_high = cd.max(pd).min((max - p_low * gp).div_euclid(gd));
    if p_low > p_high || d_low > d_high {
        return current;
    }
    if pp >= min_p && pd >= min_d && band.total((pp, pd)) <= max {
        return proposed;
    }

    // (distance, skew, −progress, prefill, decode), the lowest first.
    type Score = (i64, i64, i64, i64, i64);
    let mut best: Option<(Score, (i64, i64))> = None;
    let mut consider = |p: i64, d: i64| {
        if band.total((p, d)) > max {
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
    // Enumerate the shorter range; for each value the ceiling bounds the other pool, whose
    // point nearest the proposal is the only candidate that can be nearest overall.
    let swap = p_high - p_low > d_high - d_low;
    let (lo, hi) = if swap {
        (d_low, d_high)
    } else {
        (p_low, p_high)
    };
    // (this pool's current and proposed, the other's current, proposed, bounds and width)
    let (this_c, other_c, other_p, other_lo, other_hi, this_g, other_g) = if swap {
        (cd, cp, pp, p_low, p_high, gd, gp)
    } else {
        (cp, cd, pd, d_low, d_high, gp, gd)
    };
    for v in lo..=hi {
        let (mut o_lo, mut o_hi) = (
            other_lo,
            other_hi.min((max - v * this_g).div_euclid(other_g)),
        );
        if opposing {
            if v == this_c {
                if o_lo <= other_c && other_c <= o_hi {
                    if swap {
                        consider(other_c, v)
                    } else {
                        consider(v, other_c)
                    }
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
            let o = other_p.max(o_lo).min(o_hi);
            if swap { consider(o, v) } else { consider(v, o) }
        }
    }
    best.map_or(current, |(_, pair)| narrow(pair))
}

/// `proportional_clamp_pair` with the ceiling only: both pools cut by the budget's share of
/// the total, prefill first, each at least its minimum; `(0, 0)` when the minimums alone do
/// not fit.
fn proportional_clamp(proposed: Pair, band: &Band) -> Pair {
    let (gp, gd) = (i64::from(band.gpus.0), i64::from(band.gpus.1));
    let (np, nd) = wide(proposed);
    let (min_p, min_d) = wide(band.min_workers);
    let max = i64::from(band.max_gpus);
    let total = band.total((np, nd));
    if gp == 0 || gd == 0 || total <= max {
        return proposed;
    }
    if max < min_p * gp + min_d * gd {
        return (0, 0);
    }
    let scale = max as f64 / total as f64;
    let most_p = (max - min_d * gd).div_euclid(gp);
    let new_p = ((np as f64 * scale).floor() as i64).min(most_p).max(min_p);
    let new_d = (max - new_p * gp).div_euclid(gd).max(min_d);
    narrow((new_p, new_d))
}

/// `guard_disagg_scaling_budget` with the ceiling only: the pair Dynamo 1.6 applies for a
/// `proposed` pair when `current` serve, and whether the budget held it back.
pub(crate) fn guard(current: Pair, proposed: Pair, band: &Band) -> (Pair, bool) {
    if band.gpus.0 == 0 || band.gpus.1 == 0 {
        return (proportional_clamp(proposed, band), false);
    }
    let max = i64::from(band.max_gpus);
    let current_total = band.total(wide(current));
    if current_total > max {
        // Over the budget already: brought back from the serving counts.
        return (proportional_clamp(current, band), true);
    }
    let (cp, cd) = current;
    let (pp, pd) = proposed;
    let any_up = pp > cp || pd > cd;
    let opposing = (pp < cp && pd > cd) || (pp > cp && pd < cd);
    if current_total >= max && any_up {
        // At the ceiling no pool grows unless another asked to shrink for it.
        if !opposing {
            return (current, true);
        }
        let fitted = fit_directional(current, proposed, band);
        return (fitted, fitted == current);
    }
    let (np, nd) = proportional_clamp(proposed, band);
    let between = |c: u32, p: u32, f: u32| c.min(p) <= f && f <= c.max(p);
    if !between(cp, pp, np) || !between(cd, pd, nd) || band.total(wide((np, nd))) > max {
        return (current, true);
    }
    ((np, nd), (np, nd) != proposed)
}

/// What `sla.sizing: capacity` applies over the budget, as Dynamo 1.6's state machine does
/// once no worker is starting: the throughput target fitted under the ceiling without
/// changing its directions (`_fit_disagg_throughput_ceiling`), then the budget guard
/// (`_apply_disagg_scaling_budget`), both from the serving counts.
pub(crate) fn apply(serving: Pair, proposed: Pair, band: &Band) -> (Pair, bool) {
    let fitted = fit_directional(serving, proposed, band);
    let (pair, held) = guard(serving, fitted, band);
    (pair, held || fitted != proposed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn band(gpus: Pair, max_gpus: u32) -> Band {
        Band {
            gpus,
            max_gpus,
            min_workers: (1, 1),
        }
    }

    // The cases of Dynamo 1.6.1's `tests/unit/test_budget.py` that run without a GPU floor.
    #[test]
    fn two_scale_ups_share_the_headroom() {
        // test_throughput_fit_shares_available_headroom_between_two_scale_ups
        assert_eq!(
            fit_directional((24, 36), (32, 44), &band((1, 1), 64)),
            (26, 38)
        );
    }

    #[test]
    fn a_full_budget_invents_no_donor() {
        // test_load_budget_disabled_minimum_does_not_invent_ceiling_donor
        assert_eq!(guard((3, 1), (3, 2), &band((1, 1), 4)), ((3, 1), true));
        // test_load_budget_max_only_both_up_does_not_invent_donor
        assert_eq!(guard((4, 1), (5, 2), &band((1, 1), 5)), ((4, 1), true));
    }

    #[test]
    fn proportional_clamp_keeps_each_minimum() {
        // test_clamp_pair_preserves_asymmetric_component_minimums
        let b = Band {
            gpus: (1, 1),
            max_gpus: 5,
            min_workers: (2, 1),
        };
        assert_eq!(proportional_clamp((10, 10), &b), (2, 3));
        // test_clamp_pair_ceiling_below_min_endpoint_returns_zero
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

    /// Every case `scripts/dynamo-budget-cases/run` drew and ran through Dynamo 1.6.1's own
    /// `fit_directional_budget_pair` and `guard_disagg_scaling_budget` (`data/dynamo/`).
    #[test]
    fn agrees_with_dynamo_on_every_recorded_case() {
        #[derive(serde::Deserialize)]
        struct Case {
            current: Pair,
            proposed: Pair,
            gpus: Pair,
            max_gpus: u32,
            min_workers: Pair,
            fit: Pair,
            guard: Pair,
        }
        let text = include_str!("../../../data/dynamo/budget-cases.json");
        let cases: Vec<Case> = serde_json::from_str(text).unwrap();
        assert_eq!(cases.len(), 600);
        for c in &cases {
            let b = Band {
                gpus: c.gpus,
                max_gpus: c.max_gpus,
                min_workers: c.min_workers,
            };
            let at = format!("{:?} -> {:?} on {b:?}", c.current, c.proposed);
            assert_eq!(
                fit_directional(c.current, c.proposed, &b),
                c.fit,
                "fit: {at}"
            );
            assert_eq!(guard(c.current, c.proposed, &b).0, c.guard, "guard: {at}");
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
            let (p, d) = fit_directional((cp, cd), (pp, pd), &b);
            prop_assert!(cp.min(pp.max(1)) <= p && p <= cp.max(pp));
            prop_assert!(cd.min(pd.max(1)) <= d && d <= cd.max(pd));
            prop_assert!(p * gp + d * gd <= b.max_gpus);
            let opposing = (pp < cp && pd > cd) || (pp > cp && pd < cd);
            if opposing {
                prop_assert_eq!(p == cp, d == cd);
            }
            let ((p, d), _) = apply((cp, cd), (pp, pd), &b);
            prop_assert!(p * gp + d * gd <= b.max_gpus);
            prop_assert!(cp.min(pp.max(1)) <= p && p <= cp.max(pp));
            prop_assert!(cd.min(pd.max(1)) <= d && d <= cd.max(pd));
        }
    }
}

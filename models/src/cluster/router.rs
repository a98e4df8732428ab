//! Routers: which worker of a pool gets a request.
//!
//! Each policy is a small function over read-only views of the candidate
//! workers; ties go to the lowest worker id, so routing is deterministic.

use std::fmt;
use std::str::FromStr;

use super::ids::WorkerId;
use crate::engine::EngineLoad;

/// The routing policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RouterKind {
    /// Each ready worker in turn.
    RoundRobin,
    /// The worker with the fewest outstanding tokens (queued prefill plus decode KV).
    #[default]
    LeastOutstandingTokens,
    /// The worker with the lowest KV-cache utilisation (for decode).
    KvLoad,
    /// The worker holding the longest cached prefix of the prompt, then the least loaded.
    PrefixAware,
}

impl RouterKind {
    /// Every policy, by its name in scenario files.
    pub const ALL: [(&'static str, RouterKind); 4] = [
        ("round_robin", RouterKind::RoundRobin),
        (
            "least_outstanding_tokens",
            RouterKind::LeastOutstandingTokens,
        ),
        ("kv_load", RouterKind::KvLoad),
        ("prefix_aware", RouterKind::PrefixAware),
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every kind is named")
    }
}

impl fmt::Display for RouterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RouterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown router '{s}' (known: {})", known.join(", "))
            })
    }
}

/// What a router may know of one candidate.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// The worker (its id breaks ties).
    pub worker: WorkerId,
    /// Its live figures.
    pub load: EngineLoad,
    /// Leading prompt blocks it holds in its prefix cache (0 unless prefix-aware).
    pub cached_prefix_blocks: usize,
}

fn outstanding(c: &Candidate) -> u64 {
    c.load.queued_prefill_tokens + c.load.decode_kv_tokens
}

/// Picks a candidate; `rr_counter` is the pool's round-robin position.
pub fn pick(kind: RouterKind, candidates: &[Candidate], rr_counter: &mut u64) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let best_by = |key: &dyn Fn(&Candidate) -> (u64, u64)| {
        (0..candidates.len()).min_by_key(|&i| (key(&candidates[i]), candidates[i].worker))
    };
    match kind {
        RouterKind::RoundRobin => {
            let i = (*rr_counter % candidates.len() as u64) as usize;
            *rr_counter += 1;
            Some(i)
        }
        RouterKind::LeastOutstandingTokens => best_by(&|c| (outstanding(c), 0)),
        RouterKind::KvLoad => best_by(&|c| ((c.load.kv_utilisation * 1e9) as u64, outstanding(c))),
        RouterKind::PrefixAware => {
            best_by(&|c| (u64::MAX - c.cached_prefix_blocks as u64, outstanding(c)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(worker: u32, queued: u64, kv: f64, cached: usize) -> Candidate {
        Candidate {
            worker: WorkerId(worker),
            load: EngineLoad {
                queued_prefill_tokens: queued,
                kv_utilisation: kv,
                ..EngineLoad::default()
            },
            cached_prefix_blocks: cached,
        }
    }

    #[test]
    fn each_policy_picks_what_it_says() {
        let cs = [
            cand(3, 500, 0.9, 0),
            cand(1, 100, 0.5, 2),
            cand(2, 100, 0.2, 4),
        ];
        let mut rr = 0;
        assert_eq!(
            pick(RouterKind::LeastOutstandingTokens, &cs, &mut rr),
            Some(1),
            "tie → lower id"
        );
        assert_eq!(pick(RouterKind::KvLoad, &cs, &mut rr), Some(2));
        assert_eq!(pick(RouterKind::PrefixAware, &cs, &mut rr), Some(2));
        let picks: Vec<_> = (0..4)
            .map(|_| pick(RouterKind::RoundRobin, &cs, &mut rr).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0]);
        assert_eq!(pick(RouterKind::KvLoad, &[], &mut rr), None);
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known() {
        for (name, kind) in RouterKind::ALL {
            assert_eq!(name.parse::<RouterKind>().unwrap(), kind);
        }
        let err = "fastest".parse::<RouterKind>().unwrap_err();
        assert!(
            err.contains("round_robin") && err.contains("prefix_aware"),
            "{err}"
        );
    }
}

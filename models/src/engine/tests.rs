use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;

use super::test_support::LinearTimer;

fn config() -> EngineConfig {
    EngineConfig {
        max_num_seqs: 64,
        max_batched_tokens: 2048,
        block_tokens: 16,
        kv_blocks: 10_000,
        state_blocks: 0,
        watermark_blocks: 0,
        chunked_prefill: true,
        mixed_batches: true,
        prefix_caching: true,
        prefix_block_tokens: 512,
        reserve_output: false,
        overlap_schedule: false,
        cuda_graphs: super::cuda_graph::CudaGraphs::none(),
        new_token_ratio: None,
        handed_first_token: HandedFirstToken::StreamedAfterFirstStep,
        header_tokens: 0,
    }
}

fn spec(request: u32, prompt: u32, output: u32) -> SeqSpec {
    SeqSpec {
        request: RequestHandle(request),
        prompt_tokens: prompt,
        output_tokens: output,
        prefix_blocks: Arc::from(vec![]),
        decode_here: true,
        continues: false,
    }
}

/// Runs the engine until idle; returns the events with their times.
fn drain(engine: &mut Engine, now: &mut SimTime) -> Vec<(SimTime, EngineEvent)> {
    let mut events = vec![];
    let mut out = IterationOutput::default();
    while let Some(d) = engine.start_iteration(*now, &LinearTimer, &mut out) {
        *now += d;
        engine.complete_iteration(*now, &mut out);
        events.extend(out.events.drain(..).map(|e| (*now, e)));
        out.itl_gaps.clear();
        assert!(engine.kv().in_use() <= engine.kv().total());
    }
    events.extend(out.events.drain(..).map(|e| (*now, e)));
    events
}

#[test]
fn one_request_prefills_then_decodes_one_token_per_step() {
    let mut e = Engine::new(config());
    let mut now = SimTime::ZERO;
    e.enqueue(spec(7, 100, 10), now);
    let mut out = IterationOutput::default();
    let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    assert_eq!(d, SimDuration::from_micros(2000).unwrap()); // 1 ms + 100 tokens × 10 µs
    now += d;
    e.complete_iteration(now, &mut out);
    assert_eq!(
        out.events,
        vec![
            EngineEvent::Admitted {
                request: RequestHandle(7)
            },
            EngineEvent::FirstToken {
                request: RequestHandle(7)
            }
        ]
    );
    let events = drain(&mut e, &mut now);
    // 9 more tokens, one per 1.01 ms step.
    assert_eq!(events.len(), 1);
    let (
        t,
        EngineEvent::Finished {
            request: RequestHandle(7),
            max_itl,
        },
    ) = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        *t,
        SimTime::ZERO + SimDuration::from_micros(2000 + 9 * 1010).unwrap()
    );
    assert_eq!(*max_itl, SimDuration::from_micros(1010).unwrap());
    assert!(e.is_empty());
    assert_eq!(e.kv().in_use(), 0);
}

#[test]
fn a_held_request_says_what_was_made_of_it_and_when() {
    // What a worker's death loses of a request: after its prefill (one token) and three
    // decode steps of 1.01 ms, four tokens, the last at the third step's end, gaps of 1.01 ms.
    let mut e = Engine::new(config());
    let mut now = SimTime::ZERO;
    e.enqueue(spec(7, 100, 10), now);
    let mut out = IterationOutput::default();
    for _ in 0..4 {
        let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
        now += d;
        e.complete_iteration(now, &mut out);
    }
    let step = SimDuration::from_micros(1010).unwrap();
    assert_eq!(
        e.held_requests(),
        [HeldRequest {
            request: RequestHandle(7),
            made: 4,
            last_token_at: now,
            longest_gap: step,
        }]
    );
    // Waiting, nothing made yet.
    let mut fresh = Engine::new(config());
    fresh.enqueue(spec(8, 100, 10), SimTime::ZERO);
    let held = fresh.held_requests();
    assert_eq!((held[0].made, held[0].longest_gap), (0, SimDuration::ZERO));
}

/// (time, request) pairs of events of one kind.
type Moments = Vec<(SimTime, u32)>;

/// (time, request) of each first token shown, and of each finish.
fn first_and_finished(events: &[(SimTime, EngineEvent)]) -> (Moments, Moments) {
    let (mut first, mut finished) = (vec![], vec![]);
    for (t, ev) in events {
        match ev {
            EngineEvent::FirstToken { request } => first.push((*t, request.0)),
            EngineEvent::Finished { request, .. } => finished.push((*t, request.0)),
            _ => {}
        }
    }
    (first, finished)
}

#[test]
fn a_response_header_shows_the_first_token_after_its_decode_steps() {
    let mut e = Engine::new(EngineConfig {
        header_tokens: 3,
        ..config()
    });
    let mut now = SimTime::ZERO;
    e.enqueue(spec(7, 100, 10), now);
    let (mut events, mut gaps) = (vec![], vec![]);
    let mut out = IterationOutput::default();
    while let Some(d) = e.start_iteration(now, &LinearTimer, &mut out) {
        now += d;
        e.complete_iteration(now, &mut out);
        gaps.append(&mut out.itl_gaps);
        events.extend(out.events.drain(..).map(|ev| (now, ev)));
    }
    let us = |n: u64| SimTime::ZERO + SimDuration::from_micros(n).unwrap();
    let (first, finished) = first_and_finished(&events);
    // The prefill (2 ms) makes the header's first token; the three decode steps after it
    // (1.01 ms each) make the rest of the header and the first token with text.
    assert_eq!(first, vec![(us(2000 + 3 * 1010), 7)]);
    // Nothing else moves: the tokens are the same ten.
    assert_eq!(finished, vec![(us(2000 + 9 * 1010), 7)]);
    // The client sees the gaps between its seven tokens with text, and only those.
    let step = SimDuration::from_micros(1010).unwrap();
    assert_eq!(gaps.iter().map(|g| g.1).sum::<u64>(), 6);
    assert!(gaps.iter().all(|g| g.0 == step), "{gaps:?}");
    let max_itl = events.iter().find_map(|(_, ev)| match ev {
        EngineEvent::Finished { max_itl, .. } => Some(*max_itl),
        _ => None,
    });
    assert_eq!(max_itl, Some(step));
}

#[test]
fn a_response_no_longer_than_its_header_shows_its_first_token_as_it_ends() {
    let mut e = Engine::new(EngineConfig {
        header_tokens: 3,
        ..config()
    });
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 100, 1), now);
    e.enqueue(spec(2, 100, 3), now);
    let events = drain(&mut e, &mut now);
    let (first, finished) = first_and_finished(&events);
    assert_eq!(first.iter().map(|f| f.1).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(first, finished, "shown with the last token");
    // And before the finish, in the same iteration.
    let order: Vec<_> = events
        .iter()
        .filter(|(_, ev)| {
            matches!(
                ev,
                EngineEvent::FirstToken { .. } | EngineEvent::Finished { .. }
            )
        })
        .map(|(_, ev)| ev.clone())
        .collect();
    assert!(matches!(
        order[2],
        EngineEvent::FirstToken {
            request: RequestHandle(2)
        }
    ));
    assert!(matches!(
        order[3],
        EngineEvent::Finished {
            request: RequestHandle(2),
            ..
        }
    ));
}

#[test]
fn long_prompts_are_chunked_under_the_budget() {
    let mut e = Engine::new(config());
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 5000, 2), now);
    let events = drain(&mut e, &mut now);
    // 2048 + 2048 + 904 tokens: three iterations to the first token, then one decode step.
    let first = events
        .iter()
        .find(|(_, ev)| matches!(ev, EngineEvent::FirstToken { .. }))
        .unwrap();
    assert_eq!(
        first.0,
        SimTime::ZERO + SimDuration::from_micros(3000 + 50_000).unwrap()
    );
}

#[test]
fn under_attention_dp_a_prompt_is_chunked_under_its_ranks_budget() {
    // Four ranks of 512 tokens each: a step takes 2,048 tokens, but one sequence's chunk
    // only 512, while other sequences fill the other ranks.
    let c = EngineConfig {
        cuda_graphs: super::cuda_graph::CudaGraphs::none().per_rank(4),
        ..config()
    };
    assert_eq!((c.attention_ranks(), c.rank_token_budget()), (4, 512));
    let mut e = Engine::new(c);
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 1200, 2), now);
    e.enqueue(spec(2, 300, 2), now);
    let mut out = IterationOutput::default();
    // 512 of the first prompt and the whole second: 1 ms + 812 tokens × 10 µs.
    let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    assert_eq!(d, SimDuration::from_micros(1000 + 8120).unwrap());
    now += d;
    e.complete_iteration(now, &mut out);
    let first = |r: u32| EngineEvent::FirstToken {
        request: RequestHandle(r),
    };
    assert!(out.events.contains(&first(2)) && !out.events.contains(&first(1)));
    let events = drain(&mut e, &mut now);
    assert!(events.iter().any(|(_, e)| *e == first(1)));
}

#[test]
fn decode_and_prefill_share_iterations_when_mixed() {
    let mut e = Engine::new(config());
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 10, 50), now);
    let mut out = IterationOutput::default();
    now += e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    e.complete_iteration(now, &mut out);
    e.enqueue(spec(2, 10, 5), now);
    let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    assert_eq!(d, SimDuration::from_micros(1000 + 10 * (1 + 10)).unwrap());
}

#[test]
fn unmixed_engines_run_prefill_first() {
    let mut e = Engine::new(EngineConfig {
        mixed_batches: false,
        ..config()
    });
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 10, 50), now);
    let mut out = IterationOutput::default();
    now += e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    e.complete_iteration(now, &mut out);
    e.enqueue(spec(2, 10, 5), now);
    let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    assert_eq!(
        d,
        SimDuration::from_micros(1000 + 10 * 10).unwrap(),
        "prefill alone"
    );
}

#[test]
fn the_overlap_schedule_admits_arrivals_one_iteration_later() {
    let overlap = EngineConfig {
        overlap_schedule: true,
        ..config()
    };
    // Request 1 decodes for a while; request 2 arrives during the first iteration.
    let admitted_at = |config: EngineConfig| {
        let mut e = Engine::new(config);
        let mut now = SimTime::ZERO;
        e.enqueue(spec(1, 10, 50), now);
        let mut out = IterationOutput::default();
        let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
        e.enqueue(spec(2, 10, 5), now + SimDuration::from_micros(10).unwrap());
        now += d;
        e.complete_iteration(now, &mut out);
        let mut iterations = 1;
        loop {
            out.events.clear();
            let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
            iterations += 1;
            if out.events.contains(&EngineEvent::Admitted {
                request: RequestHandle(2),
            }) {
                return iterations;
            }
            now += d;
            e.complete_iteration(now, &mut out);
        }
    };
    assert_eq!(admitted_at(config()), 2);
    assert_eq!(admitted_at(overlap.clone()), 3);
    // An idle engine plans at once, whatever the schedule.
    let mut e = Engine::new(overlap.clone());
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 10, 1), now);
    let mut out = IterationOutput::default();
    now += e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    e.complete_iteration(now, &mut out);
    e.enqueue(spec(2, 10, 1), now);
    assert!(e.start_iteration(now, &LinearTimer, &mut out).is_some());
    // The slot of a sequence that finished in the last iteration is still held: with two
    // slots, 3 waits one more iteration after 2 finishes while 1 keeps decoding.
    let prefills = |config: EngineConfig| {
        let mut e = Engine::new(EngineConfig {
            max_num_seqs: 2,
            ..config
        });
        let now = SimTime::ZERO;
        e.enqueue(spec(1, 10, 50), now);
        e.enqueue(spec(2, 10, 2), now);
        e.enqueue(spec(3, 10, 2), now);
        let (mut now, mut out, mut plan) = (now, IterationOutput::default(), vec![]);
        for _ in 0..4 {
            now += e.start_iteration(now, &LinearTimer, &mut out).unwrap();
            plan.push(e.last_batch().prefill_tokens);
            e.complete_iteration(now, &mut out);
        }
        plan
    };
    assert_eq!(prefills(config()), [20, 0, 10, 0]);
    assert_eq!(prefills(overlap), [20, 0, 0, 10]);
}

#[test]
fn prefix_cache_hits_skip_prefill() {
    let mut e = Engine::new(config());
    let mut now = SimTime::ZERO;
    let blocks: Arc<[u64]> = Arc::from(vec![11, 12, 13]);
    e.enqueue(
        SeqSpec {
            prefix_blocks: blocks.clone(),
            ..spec(1, 1600, 1)
        },
        now,
    );
    drain(&mut e, &mut now);
    assert_eq!(e.kv().cached(), 3 * 32);
    let mut out = IterationOutput::default();
    e.enqueue(
        SeqSpec {
            prefix_blocks: blocks,
            ..spec(2, 1600, 1)
        },
        now,
    );
    assert_eq!(e.load().queued_prefill_tokens, 1600);
    let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    // 3 × 512 tokens cached: only 64 computed.
    assert_eq!(d, SimDuration::from_micros(1000 + 10 * 64).unwrap());
    now += d;
    e.complete_iteration(now, &mut out);
    assert_eq!(e.kv().hit_stats(), (3, 6));
}

#[test]
fn kv_exhaustion_preempts_the_newest_and_recomputes_it() {
    // 20 blocks of 16 tokens: two requests of 150 tokens growing to 180 cannot both fit.
    let mut e = Engine::new(EngineConfig {
        kv_blocks: 20,
        prefix_caching: false,
        ..config()
    });
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 150, 30), now);
    e.enqueue(spec(2, 150, 30), now);
    let events = drain(&mut e, &mut now);
    let preempted: Vec<_> = events
        .iter()
        .filter(|(_, ev)| matches!(ev, EngineEvent::Preempted { .. }))
        .collect();
    assert!(!preempted.is_empty());
    assert!(matches!(
        preempted[0].1,
        EngineEvent::Preempted {
            request: RequestHandle(2)
        }
    ));
    let finished = events
        .iter()
        .filter(|(_, ev)| matches!(ev, EngineEvent::Finished { .. }))
        .count();
    assert_eq!(finished, 2);
    assert!(e.is_empty());
    assert_eq!(e.kv().in_use(), 0);
}

#[test]
fn under_the_overlap_schedule_a_landed_transfer_joins_one_iteration_later() {
    // A decode worker busy with request 1; request 2's KV lands during its first step.
    let joined_at = |overlap_schedule: bool| {
        let mut d = Engine::new(EngineConfig {
            overlap_schedule,
            ..config()
        });
        let mut now = SimTime::ZERO;
        d.enqueue(spec(1, 10, 50), now);
        let mut out = IterationOutput::default();
        let step = d.start_iteration(now, &LinearTimer, &mut out).unwrap();
        let slot = d.reserve_incoming(spec(2, 300, 4), now).unwrap();
        d.incoming_landed(slot, now + SimDuration::from_micros(10).unwrap());
        now += step;
        d.complete_iteration(now, &mut out);
        (2..10)
            .find(|_| {
                now += d.start_iteration(now, &LinearTimer, &mut out).unwrap();
                let joined = d.last_batch().decode_seqs == 2;
                d.complete_iteration(now, &mut out);
                joined
            })
            .unwrap()
    };
    assert_eq!(joined_at(false), 2);
    assert_eq!(joined_at(true), 3);
}

#[test]
fn disaggregated_handoff_parks_then_decodes_elsewhere() {
    let mut p = Engine::new(config());
    let mut now = SimTime::ZERO;
    p.enqueue(
        SeqSpec {
            decode_here: false,
            ..spec(5, 300, 4)
        },
        now,
    );
    // The prefill worker shows no token: the client's stream is the decode worker's.
    let events = drain(&mut p, &mut now);
    let [
        (
            _,
            EngineEvent::Admitted {
                request: RequestHandle(5),
            },
        ),
        (
            _,
            EngineEvent::PrefillDone {
                request: RequestHandle(5),
                slot,
            },
        ),
    ] = events[..]
    else {
        panic!("{events:?}")
    };
    assert!(p.kv().in_use() > 0, "parked KV stays until moved");
    now += SimDuration::from_millis(5).unwrap(); // the transfer
    p.release(slot);
    assert_eq!(p.kv().in_use(), 0);
    let landed = now;
    // Per backend: when the first token shows, how many decode steps the request takes,
    // and its output tokens in all (always the request's 4).
    for (way, first_at_step, steps) in [
        (HandedFirstToken::StreamedOnJoin, 0, 3),
        (HandedFirstToken::StreamedAfterFirstStep, 1, 3),
        (HandedFirstToken::Recomputed, 1, 4),
    ] {
        let mut d = Engine::new(EngineConfig {
            handed_first_token: way,
            ..config()
        });
        let incoming = d.reserve_incoming(spec(5, 300, 4), landed).unwrap();
        assert_eq!(d.load().incoming, 1);
        d.incoming_landed(incoming, landed);
        let (mut now, mut step, mut tokens) = (landed, 0, 0);
        let mut first = None;
        let mut out = IterationOutput::default();
        loop {
            let at_start = now;
            let Some(dt) = d.start_iteration(now, &LinearTimer, &mut out) else {
                break;
            };
            if out.events.contains(&EngineEvent::FirstToken {
                request: RequestHandle(5),
            }) {
                first = Some((step, at_start));
            }
            out.events.clear();
            now += dt;
            step += 1;
            d.complete_iteration(now, &mut out);
            if out.events.contains(&EngineEvent::FirstToken {
                request: RequestHandle(5),
            }) {
                first = Some((step, now));
            }
            tokens += out.tokens;
            out = IterationOutput::default();
        }
        let (first_step, first_time) = first.expect("a first token");
        assert_eq!(first_step, first_at_step, "{way:?}");
        assert!(first_time >= landed, "{way:?}");
        assert_eq!(step, steps, "{way:?}");
        assert_eq!(tokens, 4, "{way:?}");
        assert_eq!(d.kv().in_use(), 0);
    }
}

#[test]
fn reserve_incoming_refuses_when_full() {
    let mut d = Engine::new(EngineConfig {
        kv_blocks: 10,
        ..config()
    });
    assert!(d.reserve_incoming(spec(1, 160, 2), SimTime::ZERO).is_some());
    assert!(d.reserve_incoming(spec(2, 1, 2), SimTime::ZERO).is_none());
}

#[test]
fn reserving_output_admits_only_what_can_finish_and_never_preempts() {
    // 20 blocks of 16 tokens; each request needs 7 blocks for its prompt and 13 by its end.
    let run = |reserve_output: bool| {
        let mut e = Engine::new(EngineConfig {
            kv_blocks: 20,
            reserve_output,
            ..config()
        });
        let mut now = SimTime::ZERO;
        e.enqueue(spec(1, 100, 100), now);
        e.enqueue(spec(2, 100, 100), now);
        let events = drain(&mut e, &mut now);
        let at = |want: fn(&EngineEvent) -> bool| {
            events
                .iter()
                .filter(|(_, ev)| want(ev))
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
        };
        let admitted = at(|ev| matches!(ev, EngineEvent::Admitted { .. }));
        let finished = at(|ev| matches!(ev, EngineEvent::Finished { .. }));
        let preempted = at(|ev| matches!(ev, EngineEvent::Preempted { .. }));
        assert_eq!(e.kv().in_use(), 0);
        (admitted, finished, preempted)
    };
    // Reserved: the second waits for the first to finish; nothing is preempted.
    let (admitted, finished, preempted) = run(true);
    assert_eq!(admitted.len(), 2);
    assert!(admitted[1] >= finished[0], "{admitted:?} {finished:?}");
    assert!(preempted.is_empty());
    // Taken as made: both start at once, and the newest is preempted when blocks run out.
    let (admitted, _, preempted) = run(false);
    assert_eq!(admitted[0], admitted[1]);
    assert!(!preempted.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Every request ends, each makes exactly its output tokens, KV never overflows.
    #[test]
    fn every_request_finishes_and_kv_is_returned(
        reqs in prop::collection::vec((1u32..3000, 1u32..200, 0u64..4, any::<bool>()), 1..40),
        kv_blocks in 400u64..2000,
        mixed in any::<bool>(),
        chunked in any::<bool>(),
        reserve in any::<bool>(),
        overlap in any::<bool>(),
        header in 0u32..5,
        // Blocks of a Gated DeltaNet state each sequence holds besides its tokens.
        state in prop::sample::select(vec![0u64, 1, 7, 40]),
    ) {
        let mut e = Engine::new(EngineConfig {
            kv_blocks, mixed_batches: mixed, chunked_prefill: chunked, max_num_seqs: 16,
            reserve_output: reserve, overlap_schedule: overlap, header_tokens: header,
            state_blocks: state, ..config()
        });
        let mut now = SimTime::ZERO;
        let mut expected_tokens = 0u64;
        for (i, &(prompt, output, shared, _)) in reqs.iter().enumerate() {
            let blocks: Vec<u64> = (0..shared).chain(100 * i as u64..100 * i as u64 + 3).collect();
            e.enqueue(SeqSpec { prefix_blocks: Arc::from(blocks), ..spec(i as u32, prompt, output) }, now);
            expected_tokens += u64::from(output);
        }
        let mut out = IterationOutput::default();
        let mut finished = 0;
        let mut tokens = 0;
        let mut guard = 0;
        let mut shown = vec![0u32; reqs.len()];
        let mut gaps = 0u64;
        while let Some(d) = e.start_iteration(now, &LinearTimer, &mut out) {
            now += d;
            e.complete_iteration(now, &mut out);
            prop_assert!(e.kv().in_use() <= e.kv().total());
            // Each request shows one first token, header or not, before it finishes.
            for ev in &out.events {
                match ev {
                    EngineEvent::FirstToken { request } => shown[request.0 as usize] += 1,
                    EngineEvent::Finished { request, .. } => {
                        prop_assert_eq!(shown[request.0 as usize], 1);
                    }
                    _ => {}
                }
            }
            finished += out.events.iter().filter(|ev| matches!(ev, EngineEvent::Finished { .. })).count();
            let preempted = out.events.iter().any(|ev| matches!(ev, EngineEvent::Preempted { .. }));
            prop_assert!(!(reserve && preempted), "reserved output blocks never run out");
            tokens += out.tokens;
            gaps += out.itl_gaps.iter().map(|g| g.1).sum::<u64>();
            out = IterationOutput::default();
            guard += 1;
            prop_assert!(guard < 1_000_000, "engine does not make progress");
        }
        prop_assert_eq!(finished, reqs.len());
        // One gap between each pair of tokens the client sees: those after the header.
        let seen: u64 = reqs.iter().map(|r| u64::from(r.1.saturating_sub(header).max(1) - 1)).sum();
        prop_assert_eq!(gaps, seen);
        prop_assert_eq!(tokens, expected_tokens, "preemption recomputes KV but never makes a token twice");
        prop_assert!(e.is_empty());
        prop_assert_eq!(e.kv().in_use(), 0);
        prop_assert_eq!(e.load().queued_prefill_tokens, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Requests handed over to a decode worker, in any backend's way of showing their first
    /// token: each shows exactly one first token, before it finishes, and the worker makes
    /// the tokens the prefill worker did not, preempted or not.
    #[test]
    fn handed_over_requests_show_one_first_token_and_finish(
        // Outputs of two tokens at least: a prefill worker finishes a one-token request itself.
        reqs in prop::collection::vec((1u32..2000, 2u32..120, 0u64..3000), 1..30),
        kv_blocks in 300u64..1500,
        way in prop::sample::select(vec![
            HandedFirstToken::StreamedOnJoin,
            HandedFirstToken::StreamedAfterFirstStep,
            HandedFirstToken::Recomputed,
        ]),
        overlap in any::<bool>(),
        header in 0u32..5,
        state in prop::sample::select(vec![0u64, 1, 7, 40]),
    ) {
        let mut d = Engine::new(EngineConfig {
            kv_blocks, max_num_seqs: 8, overlap_schedule: overlap, handed_first_token: way,
            header_tokens: header, state_blocks: state, ..config()
        });
        let mut now = SimTime::ZERO;
        // Landings, in time order: (at, request, prompt, output).
        let mut landings: Vec<(SimTime, u32, u32, u32)> = reqs
            .iter()
            .enumerate()
            .map(|(i, &(p, o, at))| (SimTime::ZERO + SimDuration::from_micros(at * 100).unwrap(), i as u32, p, o))
            .collect();
        landings.sort();
        let mut expected_tokens = 0u64;
        let mut first = vec![0u32; reqs.len()];
        let mut done = vec![false; reqs.len()];
        let mut tokens = 0u64;
        let mut out = IterationOutput::default();
        let mut next = 0;
        let mut guard = 0;
        let mut gaps = 0u64;
        let mut record = |out: &mut IterationOutput, tokens: &mut u64| -> Result<(), TestCaseError> {
            for ev in out.events.drain(..) {
                match ev {
                    EngineEvent::FirstToken { request } => {
                        prop_assert!(!done[request.0 as usize]);
                        first[request.0 as usize] += 1;
                    }
                    EngineEvent::Finished { request, .. } => {
                        prop_assert_eq!(first[request.0 as usize], 1);
                        done[request.0 as usize] = true;
                    }
                    _ => {}
                }
            }
            *tokens += out.tokens;
            out.tokens = 0;
            gaps += out.itl_gaps.drain(..).map(|g| g.1).sum::<u64>();
            Ok(())
        };
        loop {
            // Land every transfer due by now that the worker can reserve.
            while next < landings.len() && landings[next].0 <= now {
                let (_, r, p, o) = landings[next];
                let Some(slot) = d.reserve_incoming(spec(r, p, o), now) else { break };
                d.incoming_landed(slot, now);
                // The prefill worker made the first token; the decode worker shows it.
                expected_tokens += u64::from(o) - u64::from(way != HandedFirstToken::Recomputed);
                next += 1;
            }
            match d.start_iteration(now, &LinearTimer, &mut out) {
                Some(dt) => {
                    now += dt;
                    d.complete_iteration(now, &mut out);
                }
                None if next < landings.len() => {
                    prop_assert!(landings[next].0 > now, "an idle worker reserves every landing");
                    now = landings[next].0;
                }
                None => break,
            }
            record(&mut out, &mut tokens)?;
            guard += 1;
            prop_assert!(guard < 1_000_000, "no progress");
        }
        prop_assert!(done.iter().all(|&f| f), "{:?}", done);
        // One gap between each pair of tokens the client sees: those after the header.
        let seen: u64 = reqs.iter().map(|r| u64::from(r.1.saturating_sub(header).max(1) - 1)).sum();
        prop_assert_eq!(gaps, seen);
        let shown = expected_tokens + if way == HandedFirstToken::Recomputed { 0 } else { reqs.len() as u64 };
        prop_assert_eq!(tokens, shown);
        prop_assert_eq!(d.kv().in_use(), 0);
    }
}

/// Records the shape of every batch it times.
struct ShapeRecorder(std::sync::Mutex<Vec<(u32, u64, bool)>>);

impl IterationTimer for ShapeRecorder {
    fn iteration_time(&self, b: &BatchShape<'_>) -> SimDuration {
        if b.prefill.is_empty() {
            let mut seen = self.0.lock().expect("not poisoned");
            seen.push((b.decode_seqs, b.decode_kv_tokens, b.eager));
        }
        LinearTimer.iteration_time(b)
    }
}

/// The decode-only steps of 37 one-token-prompt sequences under `graphs`.
fn decode_steps_of_37(graphs: cuda_graph::CudaGraphs) -> Vec<(u32, u64, bool)> {
    let mut e = Engine::new(EngineConfig {
        cuda_graphs: graphs,
        ..config()
    });
    let mut now = SimTime::ZERO;
    for r in 0..37 {
        e.enqueue(spec(r, 1, 3), now);
    }
    let timer = ShapeRecorder(std::sync::Mutex::new(Vec::new()));
    let mut out = IterationOutput::default();
    while let Some(d) = e.start_iteration(now, &timer, &mut out) {
        now += d;
        e.complete_iteration(now, &mut out);
        out = IterationOutput::default();
    }
    timer.0.into_inner().expect("not poisoned")
}

#[test]
fn a_decode_step_runs_the_next_captured_graph_or_eagerly() {
    use cuda_graph::CudaGraphs;
    // Padded: 37 sequences replay the graph of 40, three dummies of one token each.
    let padded = decode_steps_of_37(CudaGraphs::trtllm(128, true));
    assert!(!padded.is_empty());
    for &(seqs, _, eager) in &padded {
        assert_eq!((seqs, eager), (40, false));
    }
    // TensorRT-LLM's unpadded default captures no graph of 37: the step runs eagerly.
    let unpadded = decode_steps_of_37(CudaGraphs::trtllm(128, false));
    for &(seqs, _, eager) in &unpadded {
        assert_eq!((seqs, eager), (37, true));
    }
    // The padding adds one KV token per dummy and nothing else.
    assert_eq!(padded[0].1, unpadded[0].1 + 3);
}

/// Requests admitted in the first iteration: 20 prompts of 100 tokens, each to make 2,000,
/// on a worker of 16,000 KV tokens.
fn admitted_at_once(ratio: Option<new_token_ratio::NewTokenRatio>) -> usize {
    let mut e = Engine::new(EngineConfig {
        kv_blocks: 1000,
        new_token_ratio: ratio,
        ..config()
    });
    for r in 0..20 {
        e.enqueue(spec(r, 100, 2000), SimTime::ZERO);
    }
    let mut out = IterationOutput::default();
    e.start_iteration(SimTime::ZERO, &LinearTimer, &mut out)
        .unwrap();
    out.events
        .iter()
        .filter(|ev| matches!(ev, EngineEvent::Admitted { .. }))
        .count()
}

#[test]
fn sglang_admits_only_what_the_estimated_outputs_leave_room_for() {
    use new_token_ratio::NewTokenRatio;
    // Prompt blocks alone fit all 20; with their outputs (2,100 tokens each) 7 fit.
    assert_eq!(admitted_at_once(None), 20);
    assert_eq!(admitted_at_once(Some(NewTokenRatio::sglang(1.0))), 7);
}

#[test]
fn sglang_reserves_a_decaying_share_of_the_running_outputs() {
    use new_token_ratio::NewTokenRatio;
    let mut e = Engine::new(EngineConfig {
        kv_blocks: 1000,
        new_token_ratio: Some(NewTokenRatio::sglang(1.0)),
        ..config()
    });
    let mut now = SimTime::ZERO;
    let mut out = IterationOutput::default();
    for r in 0..7 {
        e.enqueue(spec(r, 100, 2000), now);
    }
    // Prefill, then decode a while: the running outputs to come shrink, and so does the ratio.
    let mut admitted_late = 0;
    for step in 0..700 {
        if step == 1 {
            for r in 7..20 {
                e.enqueue(spec(r, 100, 2000), now);
            }
        }
        let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
        now += d;
        e.complete_iteration(now, &mut out);
        admitted_late += out
            .events
            .iter()
            .filter(|ev| matches!(ev, EngineEvent::Admitted { .. }))
            .count();
        out = IterationOutput::default();
        if step == 2 {
            // Seven running with ~2,000 tokens to come each, at a ratio near 0.7, hold ~9,800
            // of the ~15,200 free tokens: two of the 13 waiting fit, each reserving its whole
            // 2,112 tokens. Once running, those two hold 0.7 of their outputs: one more fits.
            assert_eq!(admitted_late, 10);
        }
    }
    // At the ratio's floor (0.098) the waiting ones were admitted, KV permitting.
    assert!(admitted_late > 7, "{admitted_late}");
}

#[test]
fn a_fixed_state_per_sequence_bounds_how_many_run() {
    // 100 blocks; each one-block request also holds 30 blocks of state: three run at once.
    let mut e = Engine::new(EngineConfig {
        kv_blocks: 100,
        state_blocks: 30,
        ..config()
    });
    let mut now = SimTime::ZERO;
    for r in 0..6 {
        e.enqueue(spec(r, 8, 4), now);
    }
    let mut out = IterationOutput::default();
    let d = e.start_iteration(now, &LinearTimer, &mut out).unwrap();
    let admitted = out
        .events
        .iter()
        .filter(|ev| matches!(ev, EngineEvent::Admitted { .. }))
        .count();
    assert_eq!(admitted, 3);
    assert_eq!(e.kv().in_use(), 3 * 31);
    now += d;
    e.complete_iteration(now, &mut out);
    let events = drain(&mut e, &mut now);
    let finished = events
        .iter()
        .filter(|(_, ev)| matches!(ev, EngineEvent::Finished { .. }))
        .count();
    assert_eq!(finished, 6);
    assert_eq!(e.kv().in_use(), 0);
}

#[test]
fn a_preempted_requests_gaps_add_up_to_its_time_between_first_and_last_token() {
    // As in `kv_exhaustion_preempts_the_newest_and_recomputes_it`: the newest is preempted,
    // recomputed and decodes on. Its first gap after rejoining runs from its last token
    // before the preemption, not from its first token.
    let mut e = Engine::new(EngineConfig {
        kv_blocks: 20,
        prefix_caching: false,
        ..config()
    });
    let mut now = SimTime::ZERO;
    e.enqueue(spec(1, 150, 30), now);
    e.enqueue(spec(2, 150, 30), now);
    let mut out = IterationOutput::default();
    let (mut gaps, mut first, mut last) = (0u128, BTreeMap::new(), BTreeMap::new());
    let mut preempted = false;
    while let Some(d) = e.start_iteration(now, &LinearTimer, &mut out) {
        now += d;
        e.complete_iteration(now, &mut out);
        gaps += (out.itl_gaps.drain(..))
            .map(|(g, n)| g.as_nanos() as u128 * n as u128)
            .sum::<u128>();
        for ev in out.events.drain(..) {
            match ev {
                EngineEvent::FirstToken { request } => {
                    first.insert(request.0, now);
                }
                EngineEvent::Finished { request, .. } => {
                    last.insert(request.0, now);
                }
                EngineEvent::Preempted { .. } => preempted = true,
                _ => {}
            }
        }
    }
    assert!(preempted);
    let spans: u128 = (last.iter())
        .map(|(r, &t)| (t - first[r]).as_nanos() as u128)
        .sum();
    assert_eq!(gaps, spans);
}

#[test]
fn a_request_that_could_never_run_alone_is_named() {
    // 20 blocks of 16 tokens, one kept free: 304 tokens of KV at admission.
    let c = EngineConfig {
        kv_blocks: 20,
        watermark_blocks: 1,
        ..config()
    };
    assert_eq!(c.never_fits(200, 100, true), None);
    assert_eq!(c.never_fits(200, 120, true), Some("prompt and output"));
    // A prefill worker holds the prompt alone.
    assert_eq!(c.never_fits(300, 120, false), None);
    assert_eq!(c.never_fits(310, 0, false), Some("prompt"));
    let with_state = EngineConfig {
        state_blocks: 2,
        ..c.clone()
    };
    assert_eq!(
        with_state.never_fits(200, 100, true),
        Some("prompt, output and fixed state")
    );
    // SGLang admits the prompt beside its whole output clipped at 4,096 tokens.
    let sglang = EngineConfig {
        kv_blocks: 400,
        watermark_blocks: 0,
        new_token_ratio: Some(super::new_token_ratio::NewTokenRatio::sglang(1.0)),
        ..config()
    };
    assert_eq!(sglang.never_fits(2000, 4000, true), None);
    assert!(sglang.never_fits(2400, 4000, true).is_some());
    // Under attention DP a sequence must fit one rank's share: 80 blocks over 4 ranks.
    let ranks = EngineConfig {
        kv_blocks: 80,
        watermark_blocks: 4,
        cuda_graphs: super::cuda_graph::CudaGraphs::none().per_rank(4),
        ..config()
    };
    assert_eq!(ranks.never_fits(200, 100, true), None);
    assert_eq!(ranks.never_fits(200, 120, true), Some("prompt and output"));
}

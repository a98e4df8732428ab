//! Guardrails: what a finished run says about itself that a user might not see in its
//! figures (a pool that never had capacity, a queue that grew without bound, requests
//! longer than the model's context), as plain sentences in the summary, the HTML report
//! and Python; and what a scenario says before it runs (a run that will take long), which
//! the command line and Python tell before they start it.

use servesim_core::{SimDuration, SimTime};
use servesim_models::cluster::PoolRole;
use servesim_models::engine::cuda_graph::CudaGraphs;
use servesim_models::perf::provenance::{KernelProvenance, Steps};
use servesim_planner::PolicyKind;

use servesim_traffic::{ArrivalConfig, Preset};

use crate::scenario::Scenario;
use crate::world::World;
use crate::world::build::pool_predictors;

/// Fewest requests still waiting at the end before an unbounded queue is suspected.
const QUEUE_FLOOR: u64 = 100;
/// Requests waiting at the end, as a share of those completed, above which the queue is
/// taken to grow with the run rather than to hold a steady state.
const QUEUE_SHARE: f64 = 0.25;
/// The share of the run by whose end every request had finished, at or below which its
/// idle tail (a quarter of the run or more) is said to dilute its rates.
const IDLE_TAIL_START: f64 = 0.75;
/// Requests waiting at the end (in flight, not running), as a share of those the cluster
/// took, above which the latencies (of finished requests) leave out enough to say so.
const UNFINISHED_SHARE: f64 = 0.1;

/// Requests a run may see (its open streams at their peak rates over their windows) above
/// which it is said to take long: about a minute of wall time or more at the simulator's
/// usual pace (`servesim bench`).
pub const LONG_RUN_REQUESTS: f64 = 1_000_000.0;

/// What can be said of a run of `s` before it starts: that its model states no context
/// length, so no request is too long for it; that streams or segments of a schedule start
/// only after its end; and that it will take long, when its open
/// streams at their peak rates could bring more than [`LONG_RUN_REQUESTS`] requests (closed
/// loops, benchmark clients and traces are bounded by their users or files and not counted).
pub fn before_run(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    if s.llm().max_position_embeddings.is_none() {
        out.push(format!(
            "model {} states no context length (its config.json has no \
             max_position_embeddings): requests of any length are served, where a server \
             would refuse those longer than the model's context",
            s.llm().name
        ));
    }
    out.extend(long_run(s));
    out.extend(preset_after_end(s));
    out.extend(schedule_after_end(s));
    if let Some(p) = s.planner()
        && p.scrape_lag_s >= s.duration().as_secs_f64()
    {
        out.push(format!(
            "planner.scrape_lag_s: {} s is not shorter than the run ({} s, duration_s): the \
             planner sees no metrics within it",
            p.scrape_lag_s,
            s.duration().as_secs_f64()
        ));
    }
    out.extend(foreign_profile(s));
    if !s.unread_calibration().is_empty() {
        out.push(format!(
            "calibration: this run reads none of {} ({} on {}): another GPU's, or a backend \
             folder this backend does not read that family from",
            s.unread_calibration().join(", "),
            s.backend().name(),
            s.gpu().sku
        ));
    }
    if !s.roofline_only_calibration().is_empty() {
        out.push(format!(
            "calibration: {} has no shipped tables, so the folder's take the place of those \
             of the shipped GPU that timed it, and {} (which the folder lacks) are timed by the \
             roofline alone; measure them too, or leave the folder out",
            s.gpu().sku,
            s.roofline_only_calibration().join(", ")
        ));
    }
    out
}

/// How far a planner profile's decode KV capacity may be from the scenario's decode worker's
/// before the profile is said to be another deployment's. The same worker measured by its
/// engine and sized by the simulator differ by the engines' memory accounting (Dynamo's
/// profile of Llama-3.1-8B FP8 on one H200 holds 945,029 tokens, the simulated worker
/// 961,904); another KV dtype halves or doubles it, another GPU or model moves it further
/// (the same worker on an H100: 512,160).
const FOREIGN_PROFILE_RATIO: f64 = 1.5;

/// A `planner.profile_dir` whose decode worker holds far more or fewer KV tokens than the
/// scenario's decode pool: a profile measured for another model, GPU, parallelism or KV
/// dtype, by which a policy that reads it would size the pools. (Its files name no model or
/// GPU, Dynamo's format; a missing or unreadable one is the planner's error, not this.)
fn foreign_profile(s: &Scenario) -> Option<String> {
    let planner = s.planner()?;
    let dir = planner.profile_dir.as_ref()?;
    let reads = PolicyKind::parse_at(&planner.policy, "planner.policy")
        .is_ok_and(PolicyKind::reads_profile);
    let decode = s.pools().iter().find(|p| p.role == PoolRole::Decode)?;
    let profile = servesim_planner::Profile::read_dir(&s.base_dir().join(dir)).ok()?;
    let ours = decode.engine.kv_blocks * u64::from(decode.engine.block_tokens);
    let theirs = profile.max_kv_tokens();
    let ratio = theirs as f64 / ours.max(1) as f64;
    (reads && !(1.0 / FOREIGN_PROFILE_RATIO..=FOREIGN_PROFILE_RATIO).contains(&ratio)).then(|| {
        format!(
            "planner.profile_dir: its decode worker holds {theirs} KV tokens, pool {}'s {ours} \
             (×{ratio:.2}): a profile of another model, GPU, parallelism or KV dtype? The \
             planner sizes the pools by it",
            decode.name
        )
    })
}

/// The airline preset's streams that start at or after the run's end, so send nothing (a
/// run cut short of the storm, say): a user stream there is refused, but a preset's are the
/// preset's, and a short look at the rest is a run worth making.
fn preset_after_end(s: &Scenario) -> Vec<String> {
    let t = &s.config().traffic;
    if t.preset != Some(Preset::Airline) {
        return Vec::new();
    }
    let a = t.airline.clone().unwrap_or_default();
    let end = s.duration().as_secs_f64();
    [
        ("passengers", "passenger_start_s", a.passenger_start_s),
        ("storm", "storm_start_s", a.storm_start_s),
    ]
    .into_iter()
    .filter(|(_, _, start)| *start >= end)
    .map(|(name, field, start)| {
        format!(
            "traffic.airline.{field}: the airline preset's {name} start at {start} s, not \
             before the run's end at {end} s (duration_s): they send nothing"
        )
    })
    .collect()
}

/// The open streams whose rate schedules hold segments starting at or after the end of
/// their window (the run's, or their own `end_s` where earlier), which they never reach (a
/// day's schedule run for an hour, say): a stream that starts there is refused, a trace
/// that goes on past the run is said after it (`traces_cut_short`); a schedule's trailing
/// pauses are nothing to miss. Times are summed in the clock's nanoseconds, as the
/// arrivals run them.
fn schedule_after_end(s: &Scenario) -> Vec<String> {
    let at = |secs: f64| SimDuration::from_secs_f64_round(secs).ok();
    let streams = s.config().traffic.streams.iter().enumerate();
    streams
        .filter_map(|(i, st)| {
            let ArrivalConfig::Schedule { segments, .. } = &st.open.as_ref()?.arrival else {
                return None;
            };
            let (end, by) = match st.end_s.and_then(at) {
                Some(e) if e < s.duration() => (e, format!("its end_s at {} s", e.as_secs_f64())),
                _ => {
                    let end = s.duration();
                    let by = format!("the run's end at {} s (duration_s)", end.as_secs_f64());
                    (end, by)
                }
            };
            let mut start = at(st.start_s)?;
            let mut first = None;
            for (k, seg) in segments.iter().enumerate() {
                if start >= end {
                    first = Some((k, start));
                    break;
                }
                start += at(seg.duration_s)?;
            }
            let (first, start) = first?;
            let unreached = &segments[first..];
            let these = match unreached.len() - 1 {
                0 => "it sends".to_string(),
                1 => "it and the one after it send".to_string(),
                n => format!("it and the {n} after it send"),
            };
            unreached.iter().any(|seg| seg.rate_per_s > 0.0).then(|| {
                format!(
                    "traffic.streams[{i}].open.arrival.segments[{first}]: stream {}'s schedule \
                     reaches this segment at {} s, not before {by}: {these} nothing",
                    st.name,
                    start.as_secs_f64(),
                )
            })
        })
        .collect()
}

/// That a run of `s` will take long ([`before_run`]).
fn long_run(s: &Scenario) -> Option<String> {
    let duration = s.duration().as_secs_f64();
    let requests: f64 = s
        .config()
        .traffic
        .expanded_streams()
        .iter()
        .filter_map(|st| {
            let open = st.open.as_ref()?;
            let end = st.end_s.map_or(duration, |e| e.min(duration));
            Some(open.arrival.peak_rate_per_s() * (end - st.start_s).max(0.0))
        })
        .sum();
    if requests <= LONG_RUN_REQUESTS {
        return None;
    }
    Some(format!(
        "this run may see up to {:.1} million requests ({} s of simulated time at the \
         streams' peak rates): it will take long (minutes of wall time, memory with what is \
         in flight); shorten duration_s or lower the rates to try it first",
        requests / 1e6,
        duration
    ))
}

/// The warnings of a run of `s` in `w` at `now` (its end, or a stepped run's time so far):
/// `completed` requests completed and `in_flight` still in flight.
pub fn run_warnings(
    s: &Scenario,
    w: &World,
    now: SimTime,
    completed: u64,
    in_flight: u64,
) -> Vec<String> {
    let mut out = before_run(s);
    // `static` never changes a pool, as no planner does.
    let holds = w
        .planner_name()
        .is_none_or(|p| p == PolicyKind::Static.as_str());
    if holds {
        for p in s.pools().iter().filter(|p| p.workers == 0) {
            out.push(format!(
                "pool {} starts with no workers and no planner starts any: the requests it \
                 would serve wait until the end of the run",
                p.name
            ));
        }
    }
    // Those in flight but not running: waiting for a worker, in the engines' queues, in the
    // server's or their KV on its way. Requests running long answers are a steady state's
    // (Little's law: the arrival rate times their time in the system), not a growing queue.
    let running: u64 = w
        .cluster
        .pool_ids()
        .map(|p| w.cluster.pool_stats(p).running)
        .sum();
    let waiting = in_flight.saturating_sub(running);
    let ended = now >= SimTime::ZERO + s.duration();
    if waiting >= QUEUE_FLOOR && waiting as f64 > QUEUE_SHARE * completed as f64 {
        out.push(format!(
            "{waiting} requests are still waiting at the end ({in_flight} in flight) against \
             {completed} completed: the cluster does not keep up with the traffic and its \
             queue grows with the run (memory too); the figures describe a transient, not a \
             steady state"
        ));
    } else if ended
        && waiting >= QUEUE_FLOOR
        && waiting as f64 > UNFINISHED_SHARE * (completed + in_flight) as f64
    {
        // Not those running (a steady state's long answers, by Little's law), and only of a
        // run that has ended (a stepped run's summary so far has its requests under way).
        out.push(format!(
            "{waiting} of the {} requests the cluster took were still waiting to be served \
             at the end ({in_flight} in flight): the latencies above are of the {completed} \
             finished, and those waiting count against the SLO attainment only once late",
            completed + in_flight
        ));
    }
    // What the run's end left out, once it has ended (a stepped run's summary so far is not).
    if ended {
        out.extend(benchmarks_cut_short(s, w));
        out.extend(traces_cut_short(s, w));
    }
    for (name, &n) in w.workload.stream_names().iter().zip(w.emptied()) {
        if n > 0 {
            out.push(format!(
                "stream {name}: {n} requests asked for no prompt or no output tokens (a \
                 trace's rows of 0), which a server refuses: the simulation served each with \
                 one token in their place"
            ));
        }
    }
    // Of the world, not the file: a stepped world applies what it is given.
    if w.planner_advisory() {
        out.push(
            "planner.advisory: the planner's decisions are recorded, not applied: the pools \
             stay as given, as under static, so policies' runs are the same and only their \
             recorded decisions differ"
                .to_string(),
        );
    }
    out.extend(planner_after_end(s, w));
    out.extend(eager_decode(s, w));
    out.extend(idle_tail(s, w, in_flight));
    out.extend(kernel_warnings(s));
    if let Some(check) = w.context_check() {
        for (name, o) in w.workload.stream_names().iter().zip(&check.streams) {
            if o.over > 0 {
                let pct = 100.0 * o.over as f64 / o.arrived as f64;
                let share = if pct < 0.1 {
                    "under 0.1 %".to_string()
                } else {
                    format!("{pct:.1} %")
                };
                out.push(format!(
                    "stream {name}: {} of {} requests ({share}) are longer than the context of \
                     {} ({} tokens), up to {} tokens (prompt and output): a server would \
                     refuse them, the simulation did not (it served those a worker's KV cache \
                     holds; the others are among the rejected)",
                    o.over,
                    o.arrived,
                    s.llm().name,
                    check.context,
                    o.longest
                ));
            }
        }
    }
    out
}

/// The benchmark clients whose measured requests were not all answered (or failed) within
/// the run: their figures are of part of the benchmark (`duration_s` or the stream's
/// `end_s` cut it short, or the cluster did not keep up). Said of a run that has ended.
fn benchmarks_cut_short(s: &Scenario, w: &World) -> Vec<String> {
    let names = w.workload.stream_names();
    w.workload
        .benchmarks_unfinished()
        .into_iter()
        .map(|(stream, done, measured)| {
            format!(
                "stream {}: {done} of its benchmark's {measured} measured requests were \
                 answered by the run's end at {} s (duration_s, or the stream's end_s): the \
                 figures are of part of the benchmark",
                names.get(stream).map_or("?", String::as_str),
                s.duration().as_secs_f64()
            )
        })
        .collect()
}

/// The trace streams with rows after the run's end, which it never replays: a trace longer
/// than `duration_s` is cut there.
fn traces_cut_short(s: &Scenario, w: &World) -> Vec<String> {
    let names = w.workload.stream_names();
    let end = s.duration().as_secs_f64();
    w.workload
        .traces_left()
        .into_iter()
        .map(|(stream, next)| {
            let name = names.get(stream).map_or("?", String::as_str);
            trace_cut(name, end, next, "replayed")
        })
        .collect()
}

/// That stream `stream`'s trace goes on past `end_s`, the end `duration_s` sets, with its
/// next row at `next`: its rows from there on are not `done` (replayed by a run, counted or
/// exported by `servesim traffic`).
pub fn trace_cut(stream: &str, end_s: f64, next: SimTime, done: &str) -> String {
    format!(
        "stream {stream}: its trace goes on past the run's end at {end_s} s (its next row at \
         {:.1} s): the rows from there on are not {done} (duration_s)",
        next.as_secs_f64()
    )
}

/// That the run's planner (its own policy, as `ab` and `report` give each run) first decides
/// at or after the run's end, so changes nothing: the first decision as the world placed it,
/// named by the setting that sets its cadence.
fn planner_after_end(s: &Scenario, w: &World) -> Option<String> {
    let p = s.planner().filter(|p| p.policy != "static")?;
    let first = w.first_planner_decision()?.as_secs_f64();
    let end = s.duration().as_secs_f64();
    let field = match p.policy.as_str() {
        "lookahead" if p.lookahead.interval_s.is_some() => "planner.lookahead.interval_s",
        _ => "planner.interval_s",
    };
    (first >= end).then(|| {
        format!(
            "{field}: the planner ({}) first decides at {first} s, not before the run's end at \
             {end} s (duration_s): it changes nothing in this run",
            p.policy
        )
    })
}

/// Share of a pool's decode-only steps launched eagerly above which the run says so.
const EAGER_SHARE: f64 = 0.1;

/// The pools whose decode-only steps often ran eagerly, their batch of no captured CUDA
/// graph size (TensorRT-LLM's default captures 1–32, 64 and 128 without padding): each such
/// step costs the host's launches of every layer ([`Backend::eager_layer_launch_ms`]), which
/// can set a run's ITL more than its GPUs do, and a deployment would capture its sizes.
/// Said only where the backend's steps pay for it (vLLM's piecewise graphs do not here).
///
/// [`Backend::eager_layer_launch_ms`]: servesim_models::backend::Backend::eager_layer_launch_ms
fn eager_decode(s: &Scenario, w: &World) -> Vec<String> {
    if s.backend().eager_layer_launch_ms() == 0.0 {
        return Vec::new();
    }
    w.cluster
        .pool_ids()
        .filter_map(|p| {
            let (eager, steps) = w.cluster.eager_decode_steps(p);
            let share = eager as f64 / steps.max(1) as f64;
            let graphs = &s.pools()[p.0 as usize].engine.cuda_graphs;
            (share > EAGER_SHARE).then(|| {
                format!(
                    "pool {}: {:.0} % of its {steps} decode-only steps ran eagerly, no CUDA \
                     graph being captured of their batch size ({} captures {}), each at the \
                     host's pace of launching every layer; set {} as the deployment runs",
                    w.cluster.pool_name(p),
                    100.0 * share,
                    s.backend().name(),
                    captured_sizes(graphs),
                    // Padded, only batches beyond the largest graph run eagerly.
                    if graphs.padding() {
                        "engine.cuda_graph_batch_sizes up to the batches it runs"
                    } else {
                        "engine.cuda_graph_padding or engine.cuda_graph_batch_sizes"
                    },
                )
            })
        })
        .collect()
}

/// The sizes `graphs` captures, runs of consecutive sizes as ranges ("1–32, 64, 128"),
/// and whether it pads.
fn captured_sizes(graphs: &CudaGraphs) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &s in graphs.sizes() {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => runs.push((s, s)),
        }
    }
    let sizes = runs
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect::<Vec<_>>();
    // A long list (SGLang's and vLLM's step through the hundreds) by its ends.
    let sizes = match sizes.len() {
        0 => "no graph".to_string(),
        n if n > 6 => format!(
            "{}, …, {} ({} sizes)",
            sizes[..3].join(", "),
            sizes[n - 1],
            graphs.sizes().len()
        ),
        _ => sizes.join(", "),
    };
    let padding = if graphs.padding() { "with" } else { "without" };
    format!("{sizes}, {padding} padding")
}

/// That the run's requests all finished by three quarters of it: the rates and GPU-hours of the
/// summary are over the whole run (`duration_s`), its idle tail included, which a user who
/// meant to measure the traffic alone would not see in them. Read from the requests
/// finished per sample interval (nothing in flight at the end, none finished after).
fn idle_tail(s: &Scenario, w: &World, in_flight: u64) -> Option<String> {
    let m = &w.metrics;
    let step = m.sample_interval_s();
    let last = m.finished_per_interval.iter().rposition(|&n| n > 0)?;
    // Entry k is the interval ending at k × step.
    let done_s = last as f64 * step;
    let end = s.duration().as_secs_f64();
    (in_flight == 0 && done_s <= IDLE_TAIL_START * end).then(|| {
        format!(
            "duration_s: every request had finished by {done_s:.0} s of the run's {end:.0} s: \
             the rates and GPU-hours above are over the whole run, its idle tail included \
             (set duration_s to about {done_s:.0} to measure the traffic alone)"
        )
    })
}

/// Where each pool's kernel times come from, where not from measurements of the kernels'
/// own shapes on the scenario's GPU ([`KernelProvenance`]): such times have no
/// leave-shape-out check behind them (`servesim perf check`).
fn pool_provenance(s: &Scenario) -> Vec<(String, KernelProvenance)> {
    // A scenario that runs has predictors; one that does not fails before any warning.
    let Ok(predictors) = pool_predictors(s) else {
        return Vec::new();
    };
    s.pools()
        .iter()
        .zip(&predictors)
        .map(|(p, pred)| {
            let steps = match p.role {
                PoolRole::Prefill => Steps::Prefill,
                PoolRole::Decode => Steps::Decode,
                PoolRole::Aggregated => Steps::Both,
            };
            (p.name.clone(), KernelProvenance::of(pred, steps))
        })
        .collect()
}

/// One warning for the pools whose kernels are not all measured (one for all of them when
/// they say the same).
pub fn kernel_warnings(s: &Scenario) -> Vec<String> {
    let pools = pool_provenance(s);
    let where_ = format!("{} under {}", s.gpu().sku, s.backend().name());
    let said: Vec<_> = pools
        .iter()
        .filter_map(|(name, p)| p.sentence().map(|t| (name, t)))
        .collect();
    let tail = "expect larger errors there than the measured kernels' (servesim perf check)";
    match said.as_slice() {
        [] => Vec::new(),
        [(_, first), ..] if said.len() == pools.len() && said.iter().all(|(_, t)| t == first) => {
            vec![format!("every pool, {where_}: {first}; {tail}")]
        }
        _ => said
            .iter()
            .map(|(name, t)| format!("pool {name}, {where_}: {t}; {tail}"))
            .collect(),
    }
}

/// What the kernels of every pool of `s` together are timed from, where not all from
/// measurements of their own shapes (`servesim validate`'s `note`).
pub fn kernel_note(s: &Scenario) -> Option<String> {
    let mut all = KernelProvenance::default();
    for (_, p) in pool_provenance(s) {
        all.merge(p);
    }
    all.sentence()
}

/// The warnings of several runs of one scenario (`ab`'s policies × seeds, `report`'s
/// policies), each once with the runs that gave it, less those `before` (the scenario's
/// [`before_run`] warnings, told before the runs started) already said: `policy: text`, or
/// `policy (k of n runs): text` where the policy ran more than once, the policies in the
/// order they ran. Warnings that differ only in their figures (a count, a time: each seed's
/// own) are one, told in the words of the first run that gave it, and say so.
pub fn of_runs(before: &[String], runs: &[(&str, &[String])]) -> Vec<String> {
    // A warning's words without its figures: each run of digits one `#`.
    let shape = |text: &str| -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '0'..='9' if out.ends_with('#') => {}
                '0'..='9' => out.push('#'),
                c => out.push(c),
            }
        }
        out
    };
    // Each policy's runs, in the order the policies first ran.
    let mut policies: Vec<(&str, usize)> = Vec::new();
    // Each warning's shape, in the order first given: its first text, whether another run
    // gave other figures, and its count per policy.
    let mut texts: Vec<(String, &str, bool, Vec<usize>)> = Vec::new();
    for &(policy, warnings) in runs {
        let p = match policies.iter().position(|(name, _)| *name == policy) {
            Some(p) => p,
            None => {
                policies.push((policy, 0));
                policies.len() - 1
            }
        };
        policies[p].1 += 1;
        for w in warnings.iter().filter(|w| !before.contains(w)) {
            let key = shape(w);
            let t = match texts.iter().position(|(k, ..)| *k == key) {
                Some(t) => t,
                None => {
                    texts.push((key, w, false, Vec::new()));
                    texts.len() - 1
                }
            };
            let (_, first, varies, counts) = &mut texts[t];
            *varies |= *first != w.as_str();
            counts.resize(counts.len().max(p + 1), 0);
            counts[p] += 1;
        }
    }
    texts
        .into_iter()
        .map(|(_, text, varies, counts)| {
            let from: Vec<String> = (policies.iter().zip(&counts))
                .filter(|(_, k)| **k > 0)
                .map(|((policy, n), k)| match n {
                    1 => policy.to_string(),
                    n => format!("{policy} ({k} of {n} runs)"),
                })
                .collect();
            let figures = if varies {
                " (the first run's figures; the others' differ)"
            } else {
                ""
            };
            format!("{}: {text}{figures}", from.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{captured_sizes, of_runs};
    use servesim_models::backend::Backend;
    use servesim_models::engine::cuda_graph::CudaGraphs;

    #[test]
    fn captured_sizes_read_as_runs_and_a_long_list_by_its_ends() {
        let trtllm = CudaGraphs::for_backend(Backend::Trtllm, 128, 8);
        assert_eq!(captured_sizes(&trtllm), "1–32, 64, 128, without padding");
        let sglang = CudaGraphs::for_backend(Backend::Sglang, 256, 8);
        let said = captured_sizes(&sglang);
        let n = sglang.sizes().len();
        assert!(
            said.starts_with("1–2, 4, 8, …, ") && said.contains(&format!("({n} sizes)")),
            "{said}"
        );
        assert_eq!(
            captured_sizes(&CudaGraphs::none()),
            "no graph, without padding"
        );
    }

    #[test]
    fn each_warning_of_several_runs_is_told_once_with_the_runs_that_gave_it() {
        let (late, idle, long) = (
            "planner late".to_string(),
            "idle tail".to_string(),
            "long run".to_string(),
        );
        let a = [late.clone(), long.clone()];
        let b = [late.clone(), idle.clone(), long.clone()];
        let none: [String; 0] = [];
        let runs: [(&str, &[String]); 4] = [
            ("sla", &a),
            ("static", &none),
            ("sla", &b),
            ("static", &none),
        ];
        assert_eq!(
            of_runs(std::slice::from_ref(&long), &runs),
            [
                "sla (2 of 2 runs): planner late",
                "sla (1 of 2 runs): idle tail"
            ]
        );
        // Each seed's own figures: one warning, in the first run's words.
        let (q1, q2) = (["17 in flight".to_string()], ["1793 in flight".to_string()]);
        let seeds: [(&str, &[String]); 3] = [("static", &q1), ("static", &q2), ("sla", &q2)];
        assert_eq!(
            of_runs(&[], &seeds),
            [
                "static (2 of 2 runs), sla: 17 in flight (the first run's figures; the others' differ)"
            ]
        );
        // One run per policy: the policies alone.
        let once: [(&str, &[String]); 2] = [("lookahead", &b), ("sla", &a)];
        assert_eq!(
            of_runs(&[], &once),
            [
                "lookahead, sla: planner late",
                "lookahead: idle tail",
                "lookahead, sla: long run"
            ]
        );
    }
}

//! What the profiler writes ([`OUTPUT_FILES`]): `dgd.yaml` (a DynamoGraphDeployment of the
//! chosen deployment), `dgd-agg.yaml` (the best aggregated one, when a disaggregated one is
//! chosen), the planner profile (`prefill_raw_data.json`, `decode_raw_data.json`, Dynamo's
//! layout, through [`servesim_planner::Profile::write_dir`]), `pareto.csv`, `summary.json`
//! (whose `timings_s` is the one part that differs from run to run) and `report.html`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use super::candidate::{Candidate, Mode};
use super::dgd::{CONTAINER_PROFILE_DIR, dgd};
use super::{Outcome, ProfileMode};
use crate::Error;
use crate::html::{escape, page};

/// Every file the profiler writes into its output folder.
pub const OUTPUT_FILES: [&str; 7] = [
    "dgd.yaml",
    "dgd-agg.yaml",
    "prefill_raw_data.json",
    "decode_raw_data.json",
    "pareto.csv",
    "summary.json",
    "report.html",
];

fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.3}"))
}

/// `pareto.csv`: every sampled deployment, one row each.
pub fn pareto_csv(o: &Outcome) -> String {
    let mut s = String::from(
        "mode,prefill_tp,prefill_workers,decode_tp,decode_workers,agg_tp,agg_workers,batch,gpus,ttft_ms,itl_ms,request_rate,tokens_per_s,tokens_per_s_per_gpu,tokens_per_s_per_user,meets_slo,on_frontier,prefill_split,decode_split,agg_split,concurrency\n",
    );
    for p in &o.points {
        let c = &p.candidate;
        let pool = |x: Option<super::PoolShape>| {
            x.map_or((String::new(), String::new(), String::new()), |p| {
                (
                    // GPUs a worker (its TP where it has no attention DP), as the pins and
                    // `summary.json` count them; the split says how they are used.
                    p.split.gpus().to_string(),
                    p.workers.to_string(),
                    p.split.label(),
                )
            })
        };
        let (ptp, pw, ps) = pool(c.prefill);
        let (dtp, dw, ds) = pool(c.decode);
        let (atp, aw, as_) = pool(c.aggregated);
        let _ = writeln!(
            s,
            "{},{ptp},{pw},{dtp},{dw},{atp},{aw},{},{},{},{:.3},{:.4},{:.2},{:.2},{:.2},{},{},{ps},{ds},{as_},{}",
            c.mode.short(),
            c.batch,
            c.gpus,
            // A queue that never settles reads as `inf` (pandas and Python's float() take
            // it); a figure the model could not give stays empty.
            if c.ttft_ms == f64::INFINITY {
                "inf".to_string()
            } else {
                opt(Some(c.ttft_ms).filter(|v| v.is_finite()))
            },
            c.itl_ms,
            c.request_rate,
            c.tokens_per_s,
            c.tokens_per_s_per_gpu,
            c.tokens_per_s_per_user,
            c.meets_slo(),
            p.on_frontier,
            // The requests in flight it is planned for: deployments of one batch label
            // (their `max_num_seqs`) planned for different loads differ here.
            if c.concurrency == f64::INFINITY {
                "inf".to_string()
            } else {
                opt(Some(c.concurrency).filter(|v| v.is_finite()))
            }
        );
    }
    s
}

/// The figures the choice was judged on, in words.
fn judge(o: &Outcome) -> &'static str {
    match o.choice.judged_by {
        "simulation" => "simulation",
        _ => "fast model",
    }
}

/// `summary.json`.
pub fn summary_json(o: &Outcome) -> Value {
    let frontier: Vec<&Candidate> = o
        .points
        .iter()
        .filter(|p| p.on_frontier)
        .map(|p| &p.candidate)
        .collect();
    let verdict = if o.chosen.meets_slo() {
        format!(
            "the chosen deployment meets both SLOs on mean TTFT and mean ITL (judged by the \
             {}); the share of requests within both is each simulated candidate's \
             sim_slo_attainment (--mode simulate)",
            judge(o)
        )
    } else {
        let misses: Vec<String> = o
            .chosen
            .misses
            .iter()
            .map(|m| {
                let (estimate, target) = m.shown();
                format!(
                    "{} {estimate} vs {target} ({:+.0} %)",
                    m.slo,
                    m.over * 100.0
                )
            })
            .collect();
        format!(
            "no deployment meets both SLOs (judged by the {}); the closest misses {}",
            judge(o),
            misses.join(", ")
        )
    };
    json!({
        "request": o.request,
        "mode": o.mode,
        "meets_slo": o.chosen.meets_slo(),
        "verdict": verdict,
        "chosen": o.chosen,
        "chosen_label": o.chosen.label(),
        "choice": o.choice,
        "best_aggregated": o.best_aggregated,
        "best_disaggregated": o.best_disaggregated,
        "better_mode": o.choice.better_mode,
        "profile": {"prefill_tp": o.profile_tp.0, "decode_tp": o.profile_tp.1, "max_kv_tokens": o.decode_kv_tokens},
        "candidates": o.candidates,
        "frontier": frontier,
        "skipped_tp": o.skipped,
        "kernels": o.kernels,
        "simulated": o.comparisons,
        "timings_s": o.timings,
    })
}

const COLORS: [(&str, Mode, &str); 2] = [
    ("aggregated", Mode::Aggregated, "#2563eb"),
    ("disaggregated", Mode::Disaggregated, "#dc2626"),
];

/// Each mode's Pareto front of the points in `pts` (more tokens/s/GPU at more tokens/s/user),
/// by tokens/s/user.
fn pareto_front<'a>(pts: impl Iterator<Item = &'a Candidate>, mode: Mode) -> Vec<&'a Candidate> {
    let mut v: Vec<&Candidate> = pts.filter(|c| c.mode == mode).collect();
    v.sort_by(|a, b| {
        b.tokens_per_s_per_user
            .total_cmp(&a.tokens_per_s_per_user)
            .then(b.tokens_per_s_per_gpu.total_cmp(&a.tokens_per_s_per_gpu))
    });
    let mut best = f64::NEG_INFINITY;
    v.retain(|c| {
        let keep = c.tokens_per_s_per_gpu.is_finite() && c.tokens_per_s_per_gpu > best;
        if keep {
            best = c.tokens_per_s_per_gpu;
        }
        keep
    });
    v.reverse();
    v
}

/// The frontier chart: tokens/s/GPU against tokens/s/user, both modes. Solid lines and filled
/// points: the frontier of deployments meeting both SLOs; dashed lines and hollow points,
/// apart from it: the front of those missing one (they would otherwise form its top). The
/// chosen point is ringed, the ITL target a vertical line.
pub fn frontier_svg(o: &Outcome) -> String {
    let (w, h, l, r, t, b) = (720.0, 380.0, 64.0, 16.0, 28.0, 44.0);
    let meets: Vec<&Candidate> = o
        .points
        .iter()
        .filter(|p| p.on_frontier)
        .map(|p| &p.candidate)
        .collect();
    // A candidate whose queue never settles serves its rate only while its queue grows:
    // no trade-off to draw.
    let missing = || {
        o.points
            .iter()
            .map(|p| &p.candidate)
            .filter(|c| !c.meets_slo() && c.ttft_ms.is_finite())
    };
    let fronts: Vec<(Vec<&Candidate>, Vec<&Candidate>)> = COLORS
        .iter()
        .map(|(_, mode, _)| {
            let mut m: Vec<&Candidate> =
                meets.iter().copied().filter(|c| c.mode == *mode).collect();
            m.sort_by(|a, b| a.tokens_per_s_per_user.total_cmp(&b.tokens_per_s_per_user));
            (m, pareto_front(missing(), *mode))
        })
        .collect();
    let all = || fronts.iter().flat_map(|(a, b)| a.iter().chain(b)).copied();
    let xmax = all()
        .map(|c| c.tokens_per_s_per_user)
        .filter(|v| v.is_finite())
        .fold(1e3 / o.request.itl_ms, f64::max)
        * 1.05;
    let ymax = all()
        .map(|c| c.tokens_per_s_per_gpu)
        .chain([o.chosen.tokens_per_s_per_gpu])
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.1;
    let x = |v: f64| l + (v / xmax).clamp(0.0, 1.0) * (w - l - r);
    let y = |v: f64| h - b - (v / ymax).clamp(0.0, 1.0) * (h - t - b);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-size=\"11\">"
    );
    let _ = write!(
        s,
        "<text x=\"{l}\" y=\"16\" font-size=\"13\">Pareto frontier: output tokens/s/GPU vs tokens/s/user</text>"
    );
    let _ = write!(
        s,
        "<line x1=\"{l}\" y1=\"{yb}\" x2=\"{xr}\" y2=\"{yb}\" stroke=\"#333\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{yb}\" stroke=\"#333\"/>",
        yb = h - b,
        xr = w - r
    );
    for i in 0..=5 {
        let fx = xmax * f64::from(i) / 5.0;
        let fy = ymax * f64::from(i) / 5.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{fx:.0}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{fy:.0}</text>",
            x(fx),
            h - b + 14.0,
            l - 4.0,
            y(fy) + 4.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">tokens/s/user</text><text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">tokens/s/GPU</text>",
        (l + w - r) / 2.0,
        h - 8.0,
        (t + h - b) / 2.0,
        (t + h - b) / 2.0
    );
    let sx = x(1e3 / o.request.itl_ms);
    let _ = write!(
        s,
        "<line x1=\"{sx:.1}\" y1=\"{t}\" x2=\"{sx:.1}\" y2=\"{:.1}\" stroke=\"#6b7280\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#6b7280\">ITL {} ms</text>",
        h - b,
        sx + 4.0,
        t + 12.0,
        o.request.itl_ms
    );
    let mut legend = 0;
    for ((name, _, color), (meet, miss)) in COLORS.iter().zip(&fronts) {
        for (line, ok) in [(miss, false), (meet, true)] {
            let d: Vec<String> = line
                .iter()
                .map(|c| {
                    format!(
                        "{:.1},{:.1}",
                        x(c.tokens_per_s_per_user),
                        y(c.tokens_per_s_per_gpu)
                    )
                })
                .collect();
            let (dash, fill, opacity) = if ok {
                ("", *color, "1")
            } else {
                (" stroke-dasharray=\"3 3\"", "none", "0.55")
            };
            if !d.is_empty() {
                let _ = write!(
                    s,
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" opacity=\"{opacity}\"{dash} points=\"{}\"/>",
                    d.join(" ")
                );
            }
            for c in line {
                let _ = write!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{fill}\" stroke=\"{color}\" opacity=\"{opacity}\"><title>{}{}</title></circle>",
                    x(c.tokens_per_s_per_user),
                    y(c.tokens_per_s_per_gpu),
                    escape(&c.label()),
                    if ok { "" } else { ": misses an SLO" }
                );
            }
            let ly = t + 14.0 + 14.0 * f64::from(legend);
            legend += 1;
            let label = if ok {
                format!("{name}, meets the SLOs")
            } else {
                format!("{name}, misses an SLO")
            };
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{fill}\" stroke=\"{color}\" opacity=\"{opacity}\"/><text x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
                w - r - 190.0,
                ly - 4.0,
                w - r - 180.0,
                ly
            );
        }
    }
    let c = &o.chosen;
    let _ = write!(
        s,
        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"8\" fill=\"none\" stroke=\"#111\" stroke-width=\"2\"><title>chosen: {}</title></circle><text x=\"{:.1}\" y=\"{:.1}\">chosen</text></svg>",
        x(c.tokens_per_s_per_user),
        y(c.tokens_per_s_per_gpu),
        escape(&c.label()),
        x(c.tokens_per_s_per_user) + 10.0,
        y(c.tokens_per_s_per_gpu) - 8.0
    );
    s
}

/// `report.html`.
pub fn report_html(o: &Outcome) -> String {
    let r = &o.request;
    let mut body = String::new();
    let _ = write!(body, "<section>{}</section>", frontier_svg(o));
    let _ = write!(
        body,
        "<section><h2>Chosen deployment</h2><p><b>{}</b>: {:.0} output tokens/s/GPU, {:.1} tokens/s/user, TTFT {:.0} ms, ITL {:.1} ms, {} GPUs.</p>",
        escape(&o.chosen.label()),
        o.chosen.tokens_per_s_per_gpu,
        o.chosen.tokens_per_s_per_user,
        o.chosen.ttft_ms,
        o.chosen.itl_ms,
        o.chosen.gpus
    );
    if !o.choice.meets_slo && o.chosen.misses_only_budget() {
        let _ = write!(
            body,
            "<p><b>No deployment meets both SLOs within the request's GPUs and nodes</b> (judged by the {}): this is the closest, and it meets them on more than the request gives.</p>",
            judge(o)
        );
    } else if !o.choice.meets_slo {
        let _ = write!(
            body,
            "<p><b>No deployment meets both SLOs</b> (judged by the {}): this is the closest, not a working answer.</p>",
            judge(o)
        );
    }
    let _ = write!(
        body,
        "<p>Chosen by the rule <code>--prefer {}</code>, judged by the {}: {}.</p>",
        o.choice.prefer,
        judge(o),
        escape(&o.choice.reason)
    );
    if let Some(f) = &o.choice.fast_choice {
        let _ = write!(
            body,
            "<p>The simulation re-ranked the candidates: the fast model alone would have chosen {}.</p>",
            escape(f)
        );
    }
    if let Some(k) = &o.kernels {
        let _ = write!(
            body,
            "<p><b>Kernels</b>: {}; expect larger errors there than the measured kernels'.</p>",
            escape(k)
        );
    }
    for m in &o.chosen.misses {
        let (estimate, target) = m.shown();
        let _ = write!(
            body,
            "<p><b>Misses {}</b>: {estimate} against {target} ({:+.0} %).</p>",
            m.slo,
            m.over * 100.0
        );
    }
    body.push_str("</section><section><h2>Best per configuration</h2><table><tr><th>deployment</th><th>GPUs</th><th>TTFT ms</th><th>ITL ms</th><th>tokens/s/GPU</th><th>tokens/s/user</th><th>meets SLO</th></tr>");
    for c in &o.candidates {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.1}</td><td>{:.0}</td><td>{:.1}</td><td>{}</td></tr>",
            escape(&c.label()),
            c.gpus,
            c.ttft_ms,
            c.itl_ms,
            c.tokens_per_s_per_gpu,
            c.tokens_per_s_per_user,
            if c.meets_slo() { "yes" } else { "no" }
        );
    }
    body.push_str("</table></section>");
    if o.mode == ProfileMode::Simulate {
        let _ = write!(
            body,
            "<section><h2>Fast estimate vs simulation</h2><table><tr><th>deployment</th><th>workload</th><th>TTFT fast / sim ms [seeds]</th><th>ITL fast / sim ms [seeds]</th><th>tokens/s/GPU fast / sim</th><th>SLO attainment</th><th>disagree (&gt;{:.0} %)</th></tr>",
            super::simulate::DISAGREEMENT * 100.0
        );
        for c in &o.comparisons {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{:.0} / {}</td><td>{:.1} / {}</td><td>{:.0} / {:.0}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.label),
                escape(&c.workload),
                c.fast_ttft_ms,
                super::simulate::with_seeds(c.sim_ttft_ms, c.sim_ttft_ms_seeds, 0),
                c.fast_itl_ms,
                super::simulate::with_seeds(c.sim_itl_ms, c.sim_itl_ms_seeds, 1),
                c.fast_tokens_per_s_per_gpu,
                c.sim_tokens_per_s_per_gpu,
                c.sim_slo_attainment
                    .map_or("-".into(), |v| format!("{:.1} %", v * 100.0)),
                escape(&c.disagreement_text())
            );
        }
        body.push_str("</table></section>");
    }
    if !r.ignored.is_empty() || !r.assumed.is_empty() {
        body.push_str("<section><h2>Request</h2>");
        for (what, items, sep) in [
            ("Ignored fields", &r.ignored, ", "),
            ("Assumed", &r.assumed, "; "),
        ] {
            if !items.is_empty() {
                let _ = write!(body, "<p>{what}: {}</p>", escape(&items.join(sep)));
            }
        }
        body.push_str("</section>");
    }
    let intro = format!(
        "{} on {} × {} ({}), ISL {}, OSL {}, TTFT ≤ {} ms, ITL ≤ {} ms.",
        r.model,
        r.total_gpus,
        r.gpu,
        r.backend.name(),
        r.isl,
        r.osl,
        r.ttft_ms,
        r.itl_ms
    );
    page(&format!("servesim profile: {}", r.name), &intro, &body)
}

/// Writes every output into `dir` (created if missing).
pub fn write_all(o: &Outcome, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    o.profile.write_dir(dir).map_err(Error::Planner)?;
    let yaml = |v: &Value, p: &Path| -> Result<(), Error> {
        let text = serde_norway::to_string(v).map_err(|e| Error::Config {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        let note = if v["spec"]["services"]["Planner"].is_null() {
            String::new()
        } else {
            format!(
                "# The Planner reads its profile from {CONTAINER_PROFILE_DIR} in its container:\n\
                 # copy prefill_raw_data.json and decode_raw_data.json (written beside this file)\n\
                 # there, e.g. onto a volume mounted at /data.\n"
            )
        };
        write(p, &format!("{note}{text}"))
    };
    yaml(
        &dgd(o, &o.chosen, CONTAINER_PROFILE_DIR),
        &dir.join("dgd.yaml"),
    )?;
    let agg = dir.join("dgd-agg.yaml");
    if let Some(a) = &o.best_aggregated
        && o.chosen.mode != Mode::Aggregated
    {
        yaml(&dgd(o, a, CONTAINER_PROFILE_DIR), &agg)?;
    } else {
        // A reused folder must not keep the alternative of an earlier request.
        match std::fs::remove_file(&agg) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&agg, e)),
            _ => {}
        }
    }
    write(&dir.join("pareto.csv"), &pareto_csv(o))?;
    let json = serde_json::to_string_pretty(&summary_json(o)).map_err(|e| Error::Config {
        path: "summary.json".into(),
        message: e.to_string(),
    })?;
    write(&dir.join("summary.json"), &json)?;
    write(&dir.join("report.html"), &report_html(o))
}

//! Self-contained HTML reports with inline SVG charts (no scripts, no network).

use std::fmt::Write;

use crate::report::Summary;
use crate::world::World;

/// One line of a chart.
pub struct Line<'a> {
    /// Legend.
    pub name: String,
    /// Values at `x_step` intervals from zero (NaN: no value, the line breaks).
    pub values: &'a [f64],
    /// CSS colour.
    pub color: &'static str,
}

/// A line chart over time.
pub struct Chart<'a> {
    /// Title.
    pub title: String,
    /// Unit of the y axis.
    pub y_label: &'static str,
    /// Seconds between consecutive values.
    pub x_step_s: f64,
    /// The lines.
    pub lines: Vec<Line<'a>>,
    /// Horizontal reference lines (e.g. an SLO): label and value.
    pub targets: Vec<(String, f64)>,
    /// A shaded time window, s (e.g. the storm).
    pub shade: Option<(f64, f64)>,
    /// Events to mark with a vertical tick (a planner's decision): time, s, and what it was
    /// (shown on hover).
    pub markers: Vec<(f64, String)>,
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 34.0;

fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// The chart as an SVG element.
pub fn svg(c: &Chart<'_>) -> String {
    let n = c
        .lines
        .iter()
        .map(|l| l.values.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let x_max = (n - 1) as f64 * c.x_step_s;
    let data_max = c
        .lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let target_max = c.targets.iter().map(|t| t.1).fold(0.0, f64::max);
    let y_max = nice_max(data_max.max(target_max * 1.2));
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * t / x_max.max(1e-9);
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v.min(y_max) / y_max);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"><title>{}</title>"#,
        escape(&c.title)
    );
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{}</text>"##,
        escape(&c.title)
    );
    if let Some((a, b)) = c.shade {
        let (xa, xb) = (x(a.clamp(0.0, x_max)), x(b.clamp(0.0, x_max)));
        let _ = write!(
            s,
            r##"<rect x="{xa:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#fde68a" opacity="0.5"/>"##,
            xb - xa,
            H - TOP - BOTTOM
        );
    }
    for (t, what) in &c.markers {
        let xx = x(t.clamp(0.0, x_max));
        let _ = write!(
            s,
            r##"<g><title>{}</title><line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{:.1}" stroke="#6b7280" stroke-width="1" stroke-dasharray="2 2"/><polygon points="{xx:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="#6b7280"/></g>"##,
            escape(what),
            H - BOTTOM,
            TOP + 6.0,
            xx - 4.0,
            TOP,
            xx + 4.0,
            TOP
        );
    }
    let (intervals, decimals) = y_ticks(y_max);
    for k in 0..=intervals {
        let v = y_max * f64::from(k) / f64::from(intervals);
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e5e7eb"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{v:.decimals$}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 3.0,
        );
    }
    for k in 0..=6 {
        let t = x_max * f64::from(k) / 6.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{:.0}</text>"##,
            x(t),
            H - BOTTOM + 14.0,
            t
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">time (s)</text>"##,
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0
    );
    let _ = write!(
        s,
        r##"<text x="12" y="{:.1}" font-size="10" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        c.y_label
    );
    for (label, v) in &c.targets {
        let yy = y(*v);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#dc2626" stroke-dasharray="5 3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#dc2626" text-anchor="end">{}</text>"##,
            W - RIGHT,
            W - RIGHT - 2.0,
            yy - 3.0,
            escape(label)
        );
    }
    let count = c.lines.len();
    for (i, line) in c.lines.iter().enumerate() {
        // Lines that coincide (two pools with as many workers, policies that agree) must not
        // hide each other: each is nudged a pixel or two off the others, has its own dash
        // pattern, and is drawn a little transparent, so that one over another still shows.
        let nudge = LINE_NUDGE_PX * (i as f64 - (count as f64 - 1.0) / 2.0);
        let dash = DASHES[i % DASHES.len()];
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let mut d = String::new();
        let mut pen_down = false;
        for (k, v) in line.values.iter().enumerate() {
            if !v.is_finite() {
                pen_down = false;
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if pen_down { "L" } else { "M" },
                x(k as f64 * c.x_step_s),
                y(*v) + nudge
            );
            pen_down = true;
        }
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6" stroke-opacity="0.85"{dash_attr}/>"#,
            line.color
        );
        let lx = LEFT + 8.0 + 150.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{lx:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{dash_attr}/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
            lx + 14.0,
            TOP + 5.0,
            TOP + 5.0,
            line.color,
            lx + 18.0,
            TOP + 8.0,
            escape(&line.name)
        );
    }
    s.push_str("</svg>");
    s
}

/// The intervals of a y axis up to `y_max` (a [`nice_max`]) and the decimals that print
/// its ticks exactly: steps of 1, 2, 2.5 or 5 times a power of ten, so that no two ticks
/// read the same (a 0.025 axis in quarters read 0.01 twice at two decimals).
fn y_ticks(y_max: f64) -> (u32, usize) {
    let p = 10f64.powf(y_max.log10().floor());
    let mantissa = y_max / p;
    // 2.5 and 5 in fifths (steps of 0.5 and 1); 1, 2 and 10 in quarters.
    let intervals = if (mantissa - 2.5).abs() < 1e-9 || (mantissa - 5.0).abs() < 1e-9 {
        5
    } else {
        4
    };
    let step = y_max / f64::from(intervals);
    let decimals = (0..=12)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            // A whole number of its last digit, that digit shown.
            scaled > 0.999 && (scaled - scaled.round()).abs() < 1e-6 * scaled
        })
        .unwrap_or(12);
    (intervals, decimals)
}

/// Pixels between the lines of a chart, so that lines with equal values lie side by side.
const LINE_NUDGE_PX: f64 = 1.5;

/// Dash patterns of a chart's lines, in order (the first solid), so that coinciding lines
/// remain distinguishable where their colours overlap.
const DASHES: [&str; 4] = ["", "6 3", "2 2", "8 3 2 3"];

const COLORS: [&str; 6] = [
    "#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be123c",
];

/// The charts of one run: workers per pool, TTFT and ITL p90 against the SLO,
/// queue depth and KV utilisation per pool.
pub fn run_charts(
    world: &World,
    slo_ttft_ms: f64,
    slo_itl_ms: f64,
    shade: Option<(f64, f64)>,
) -> String {
    let m = &world.metrics;
    let step = m.sample_interval_s();
    let names: Vec<String> = world
        .cluster
        .pool_ids()
        .map(|p| world.cluster.pool_name(p).to_string())
        .collect();
    // The planner's actions (decisions that started or stopped a worker) and the decisions it
    // recorded without applying them (advisory, or held back by the policy), marked on the
    // workers chart with what it decided and why.
    let actions: Vec<(f64, String)> = world
        .scaling_events()
        .iter()
        .filter(|e| e.started > 0 || e.pending > 0 || e.stopped > 0 || !e.applied)
        .map(|e| {
            let why = if e.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", e.reason)
            };
            let not_applied = if e.applied { "" } else { " (not applied)" };
            let pending = match e.pending {
                0 => String::new(),
                n => format!(" ({n} waiting for GPUs)"),
            };
            (
                e.time_s,
                format!(
                    "{:.0} s, {} {} -> {}{not_applied}{pending}{why}",
                    e.time_s, e.pool, e.active_before, e.target
                ),
            )
        })
        .collect();
    let chart = |title: &str,
                 unit: &'static str,
                 lines: Vec<(String, &[f64])>,
                 targets: Vec<(String, f64)>,
                 markers: Vec<(f64, String)>| {
        let lines = lines
            .into_iter()
            .enumerate()
            .map(|(k, (name, values))| Line {
                name,
                values,
                color: COLORS[k % COLORS.len()],
            })
            .collect();
        svg(&Chart {
            title: title.to_string(),
            y_label: unit,
            x_step_s: step,
            lines,
            targets,
            shade,
            markers,
        })
    };
    let mut workers = Vec::new();
    let mut queues = Vec::new();
    let mut kv = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let s = &m.series[i];
        workers.push((format!("{n} ready"), s.ready.values()));
        workers.push((format!("{n} starting"), s.starting.values()));
        queues.push((n.clone(), s.queue_depth.values()));
        kv.push((n.clone(), s.kv_utilisation.values()));
    }
    let title = if actions.is_empty() {
        "Workers per pool"
    } else {
        "Workers per pool (ticks: the planner's decisions; hover for what and why, or open the list below)"
    };
    // The same decisions as a list to read (and to search and copy), not only on hover.
    let listed = if actions.is_empty() {
        String::new()
    } else {
        let items: String = (actions.iter())
            .map(|(_, what)| format!("<li>{}</li>", escape(what)))
            .collect();
        let these = match actions.len() {
            1 => "one decision that changed a pool or was not applied".to_string(),
            n => format!("{n} decisions that changed a pool or were not applied"),
        };
        format!(
            "<details><summary>The planner's {these}, and why</summary><ol>{items}</ol></details>"
        )
    };
    let mut out = chart(title, "workers", workers, vec![], actions);
    out += &listed;
    out += &chart(
        "TTFT p90 per interval",
        "ms",
        vec![("TTFT p90".into(), &m.ttft_p90_ms)],
        vec![(format!("SLO {slo_ttft_ms:.0} ms"), slo_ttft_ms)],
        vec![],
    );
    out += &chart(
        "ITL p90 per interval (per-request mean)",
        "ms",
        vec![("ITL p90".into(), &m.itl_p90_ms)],
        vec![(format!("SLO {slo_itl_ms:.0} ms"), slo_itl_ms)],
        vec![],
    );
    out += &chart("Queue depth", "requests", queues, vec![], vec![]);
    out += &chart("KV-cache utilisation", "share", kv, vec![], vec![]);
    out
}

/// A summary table row per run.
pub fn summary_table(runs: &[(String, &Summary)]) -> String {
    let mut s = String::from(
        "<table><tr><th>run</th><th>SLO attainment</th><th>TTFT p90 (ms)</th><th>ITL p90 (ms)</th>\
         <th>seconds with the TTFT p90 over the SLO (whole run after any warm-up)</th><th>goodput (req/s)</th><th>GPU-hours</th>\
         <th>workers started</th><th>stopped</th></tr>",
    );
    for (name, r) in runs {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            r.slo_attainment
                .map_or("-".into(), |a| format!("{:.1}%", a * 100.0)),
            r.all.ttft_ms.p90.map_or("-".into(), |v| format!("{v:.0}")),
            r.all
                .itl_mean_ms
                .p90
                .map_or("-".into(), |v| format!("{v:.1}")),
            r.ttft_over_slo_s,
            r.goodput_rps,
            r.gpu_hours,
            r.workers_started,
            r.workers_stopped
        );
    }
    s.push_str("</table>");
    for (name, r) in runs {
        for w in &r.warnings {
            let _ = write!(
                s,
                "<p class=\"warning\">{}: {}</p>",
                escape(name),
                escape(w)
            );
        }
    }
    s
}

/// A whole page: `title` and `intro` are plain text (escaped here), `body` is HTML.
pub fn page(title: &str, intro: &str, body: &str) -> String {
    page_with_style(title, intro, "", body)
}

/// [`page`] with more CSS rules after the shared ones.
pub fn page_with_style(title: &str, intro: &str, css: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:24px;max-width:1400px;color:#111}}\
         table{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #ddd;padding:4px 10px;text-align:right}}\
         th{{background:#f3f4f6}}td:first-child{{text-align:left}}section{{margin-top:28px}}.warning{{color:#9a3412}}\
         svg{{margin:6px 12px 6px 0;border:1px solid #eee}}{css}</style></head><body><h1>{t}</h1><p>{intro}</p>{body}</body></html>",
        t = escape(title),
        intro = escape(intro)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg_with_breaks_at_missing_values() {
        let values = [1.0, 2.0, f64::NAN, 4.0];
        let s = svg(&Chart {
            title: "A <b>".into(),
            y_label: "ms",
            x_step_s: 10.0,
            lines: vec![Line {
                name: "x".into(),
                values: &values,
                color: "#000",
            }],
            targets: vec![("SLO".into(), 3.0)],
            shade: Some((10.0, 20.0)),
            markers: vec![(20.0, "prefill 1 -> 2: queue > 5 <ok>".into())],
        });
        assert!(s.contains("<g><title>prefill 1 -&gt; 2: queue &gt; 5 &lt;ok&gt;</title><line"));
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("A &lt;b&gt;"));
        assert_eq!(
            s.matches(" M").count() + s.matches("\"M").count(),
            2,
            "the NaN breaks the line: {s}"
        );
        assert!(s.contains("<rect") && s.contains("stroke-dasharray"));
    }

    #[test]
    fn coinciding_lines_stay_apart_and_distinguishable() {
        let same = [2.0, 2.0, 3.0, 3.0];
        let lines = (0..3)
            .map(|k| Line {
                name: format!("policy {k}"),
                values: &same,
                color: COLORS[k],
            })
            .collect();
        let s = svg(&Chart {
            title: "workers".into(),
            y_label: "workers",
            x_step_s: 10.0,
            lines,
            targets: vec![],
            shade: None,
            markers: vec![],
        });
        let paths: Vec<&str> = s
            .split("<path d=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap())
            .collect();
        assert_eq!(paths.len(), 3);
        assert!(paths[0] != paths[1] && paths[1] != paths[2], "{paths:?}");
        // The first solid, the others each dashed its own way, the legend likewise.
        assert_eq!(s.matches(r#"stroke-dasharray="6 3""#).count(), 2);
        assert_eq!(s.matches(r#"stroke-dasharray="2 2""#).count(), 2);
        assert_eq!(s.matches(r#"stroke-opacity="0.85""#).count(), 3);
    }

    #[test]
    fn page_text_is_escaped_and_the_body_is_not() {
        let p = page("<t>", "scenario <b>x</b> & more", "<section>ok</section>");
        assert!(p.contains("<h1>&lt;t&gt;</h1>"));
        assert!(p.contains("<p>scenario &lt;b&gt;x&lt;/b&gt; &amp; more</p>"));
        assert!(p.contains("<section>ok</section>"));
    }

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(480.0), 500.0);
        assert_eq!(nice_max(1001.0), 2000.0);
    }

    #[test]
    fn axis_ticks_read_distinct_and_exact() {
        for (y_max, want) in [
            (
                0.025,
                vec!["0.000", "0.005", "0.010", "0.015", "0.020", "0.025"],
            ),
            (2.0, vec!["0.0", "0.5", "1.0", "1.5", "2.0"]),
            (500.0, vec!["0", "100", "200", "300", "400", "500"]),
            (1.0, vec!["0.00", "0.25", "0.50", "0.75", "1.00"]),
            (
                2e-6,
                vec![
                    "0.0000000",
                    "0.0000005",
                    "0.0000010",
                    "0.0000015",
                    "0.0000020",
                ],
            ),
        ] {
            let (n, d) = y_ticks(y_max);
            let ticks: Vec<String> = (0..=n)
                .map(|k| format!("{:.d$}", y_max * f64::from(k) / f64::from(n)))
                .collect();
            assert_eq!(ticks, want, "{y_max}");
        }
    }
}

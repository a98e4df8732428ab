//! The suite's report as one self-contained HTML page (no scripts, no network), built like
//! `servesim airline`'s report ([`crate::html`]): a summary of every workload side by side,
//! then a card per workload with its table, a chart of goodput per GPU and the search.

use std::fmt::Write;

use crate::experiment::Estimate;
use crate::html::{escape, page_with_style};

use super::table::{estimate, seed_range};
use super::{BEST_FIXED, Row, SuiteReport, WorkloadReport};

const CSS: &str = ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(660px,1fr));gap:18px}\
.card{border:1px solid #e5e7eb;border-radius:6px;padding:4px 14px 10px}\
td.wins{background:#dcfce7}td.loses{background:#fee2e2}td.trades{background:#fef3c7}td.base{background:#f3f4f6}\
.note{color:#92400e}table.small td,table.small th{padding:2px 6px;font-size:12px}";

fn pct(e: &Estimate) -> String {
    if e.mean.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", e.mean * 100.0)
    }
}

/// The summary cell's class: the row's verdict against the best fixed deployment.
fn verdict(r: &Row) -> &'static str {
    r.vs_best_fixed.verdict.map_or("", |v| v.as_str())
}

fn summary(report: &SuiteReport) -> String {
    let Some(first) = report.workloads.first() else {
        return String::new();
    };
    let mut s = String::from(
        "<section><h2>All workloads</h2><p>Goodput per GPU relative to the best fixed \
         deployment, and SLO attainment (means over the seeds), then the verdict by the paired \
         95 % intervals. Wins (green): more goodput per GPU, attainment not shown lower; \
         trades (amber): better on one, worse on the other; loses (red); even: no difference \
         shown in goodput per GPU.</p><table><tr><th>workload</th>",
    );
    for r in &first.rows {
        let _ = write!(s, "<th>{}</th>", escape(&r.policy));
    }
    s.push_str("</tr>");
    for w in &report.workloads {
        let _ = write!(
            s,
            "<tr><td><a href=\"#{id}\">{name}</a></td><td class=\"base\">{} · {}</td>",
            escape(&w.best_fixed),
            pct(&w.rows[0].slo_attainment),
            id = anchor(&w.name),
            name = escape(&w.name)
        );
        for r in w.rows.iter().skip(1) {
            let ratio = r.vs_best_fixed.goodput_per_gpu_ratio;
            let _ = write!(
                s,
                "<td class=\"{v}\">{} · {} {v}</td>",
                if ratio.is_finite() {
                    format!("{ratio:.2}×")
                } else {
                    "-".into()
                },
                pct(&r.slo_attainment),
                v = verdict(r),
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table></section>");
    s
}

fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Horizontal bars of goodput per GPU per row, with the 95 % interval as a whisker.
fn bars(w: &WorkloadReport) -> String {
    const WIDTH: f64 = 620.0;
    const LEFT: f64 = 110.0;
    const ROW: f64 = 20.0;
    let height = ROW * w.rows.len() as f64 + 34.0;
    let top = w
        .rows
        .iter()
        .flat_map(|r| [r.goodput_per_gpu.mean, r.goodput_per_gpu.high])
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9);
    let x = |v: f64| LEFT + (WIDTH - LEFT - 60.0) * (v.max(0.0) / top);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img"><title>Goodput per GPU</title><text x="8" y="14" font-size="12" font-weight="bold">Goodput per GPU (req/s per GPU), 95 % interval</text>"#
    );
    for (i, r) in w.rows.iter().enumerate() {
        let y = 24.0 + ROW * i as f64;
        let e = &r.goodput_per_gpu;
        let color = if r.policy == BEST_FIXED {
            "#6b7280"
        } else {
            "#2563eb"
        };
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 12.0,
            escape(&r.policy)
        );
        if e.mean.is_finite() {
            let _ = write!(
                s,
                r#"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="10">{:.3}</text>"#,
                y + 2.0,
                x(e.mean) - LEFT,
                ROW - 6.0,
                x(e.high.max(e.mean).min(top)) + 4.0,
                y + 12.0,
                e.mean
            );
        }
        if e.low.is_finite() && e.high.is_finite() {
            let yy = y + ROW / 2.0 - 1.0;
            let _ = write!(
                s,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#111"/>"##,
                x(e.low),
                x(e.high)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn card(w: &WorkloadReport) -> String {
    let mut s = format!(
        "<div class=\"card\" id=\"{}\"><h3>{}</h3><p>{}: {} GPUs, seeds {}. Best fixed \
         deployment: <b>{}</b>, the best of {} tried on seed {}.</p>",
        anchor(&w.name),
        escape(&w.name),
        escape(&w.origin),
        w.gpu_budget,
        seed_range(&w.seeds),
        escape(&w.best_fixed),
        w.candidates.len(),
        w.search_seed
    );
    s.push_str(
        "<table><tr><th>policy</th><th>SLO attainment</th><th>goodput/GPU</th>\
         <th>GPU-hours</th><th>Δattainment (pp)</th><th>Δgoodput/GPU</th><th>ΔGPU-hours</th></tr>",
    );
    for r in &w.rows {
        let d = &r.vs_best_fixed;
        let base = r.policy == BEST_FIXED;
        let diff = |e: &Estimate, k: f64, dec: usize| {
            if base {
                String::new()
            } else {
                estimate(e, k, dec, true)
            }
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.policy),
            estimate(&r.slo_attainment, 100.0, 1, false),
            estimate(&r.goodput_per_gpu, 1.0, 3, false),
            estimate(&r.gpu_hours, 1.0, 3, false),
            diff(&d.slo_attainment, 100.0, 1),
            diff(&d.goodput_per_gpu, 1.0, 3),
            diff(&d.gpu_hours, 1.0, 3),
        );
    }
    s.push_str("</table>");
    if let Some(why) = &w.no_interval {
        let _ = write!(s, "<p class=\"note\">No interval: {}</p>", escape(why));
    }
    s += &bars(w);
    s.push_str(
        "<details><summary>Fixed deployments searched</summary><table class=\"small\">\
         <tr><th>deployment</th><th>GPUs</th><th>SLO attainment</th><th>goodput/GPU</th></tr>",
    );
    for c in &w.candidates {
        let _ = write!(
            s,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
            escape(&c.label),
            if c.label == w.best_fixed {
                " (best)"
            } else {
                ""
            },
            c.gpus,
            if c.slo_attainment.is_nan() {
                "-".to_string()
            } else {
                format!("{:.1}%", c.slo_attainment * 100.0)
            },
            c.goodput_per_gpu
        );
    }
    s.push_str("</table></details></div>");
    s
}

/// The whole page.
pub fn render(report: &SuiteReport) -> String {
    let intro = format!(
        "{} workloads, each under every policy and under the best fixed deployment within its \
         GPU budget (the most goodput per GPU at >= {} SLO attainment, DistServe's \
         per-GPU goodput), on {} each. Differences are paired by seed against the best \
         fixed deployment, with 95 % t-intervals.",
        report.workloads.len(),
        super::table::percent(report.attainment_target),
        crate::text::counted(report.seeds, "seed")
    );
    let mut body = summary(report);
    body.push_str("<section><h2>Per workload</h2><div class=\"grid\">");
    for w in &report.workloads {
        body += &card(w);
    }
    body.push_str("</div></section>");
    page_with_style("Planner suite", &intro, CSS, &body)
}

//! A dry-run's summary as one self-contained HTML page: inline CSS and SVG
//! charts, no script, font or anything else fetched from elsewhere, so it
//! opens on an offline machine and can be mailed or archived as it is.

use crate::dryrun::{Projection, Summary};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What the page says the run was about.
#[derive(Debug, Clone, Default)]
pub struct About {
    pub policy: String,
    pub baseline: Option<String>,
    pub release: String,
    pub now: String,
    pub fleet: String,
}

const ALLOW: &str = "#2e7d32";
const DEFER: &str = "#f2a900";
const DENY: &str = "#c62828";
const DECISIONS: [(&str, &str); 3] = [("allow", ALLOW), ("defer", DEFER), ("deny", DENY)];
/// Rows shown per breakdown; the rest are summed into one row.
const MAX_ROWS: usize = 25;

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 { "–".into() } else { format!("{:.1} %", 100.0 * n as f64 / of as f64) }
}

/// The whole page.
pub fn html(s: &Summary, about: &About) -> String {
    let mut o = String::new();
    let title = format!("Dry-run of release {}", about.release);
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>
body{{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;background:#f6f7f9;margin:0}}
main{{max-width:1040px;margin:0 auto;padding:24px}}
h1{{font-size:24px;margin:0 0 4px}} h2{{font-size:18px;margin:28px 0 10px}}
.meta{{color:#555;font-size:13px}} .meta code{{font-size:12px}}
section{{background:#fff;border:1px solid #e2e4e8;border-radius:8px;padding:16px 20px;margin:16px 0}}
.tiles{{display:flex;gap:12px;flex-wrap:wrap}}
.tile{{flex:1;min-width:150px;border-radius:6px;padding:10px 14px;background:#f0f1f4}}
.tile b{{display:block;font-size:26px}} .tile span{{color:#555;font-size:13px}}
table{{border-collapse:collapse;width:100%;font-size:13px}}
th,td{{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:middle}}
td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
.warn{{background:#fff4e5;border-color:#f2a900}}
.legend span{{display:inline-block;margin-right:14px;font-size:13px}}
.legend i{{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}}
svg text{{font:12px system-ui,sans-serif;fill:#333}}
</style></head><body><main>
<h1>{t}</h1>
<div class="meta">policy <code>{p}</code>{b} · at {now} · fleet {fleet} · {mode} evaluation</div>
"#,
        t = esc(&title),
        p = esc(&about.policy),
        b = about.baseline.as_deref().map(|b| format!(" · baseline <code>{}</code>", esc(b))).unwrap_or_default(),
        now = esc(&about.now),
        fleet = esc(&about.fleet),
        mode = esc(&s.mode),
    );
    decisions(&mut o, s);
    notices(&mut o, s);
    if let Some(p) = &s.projection {
        projection(&mut o, p, s.devices, rampart_facts::Timestamp::parse(&about.now).ok());
    }
    if let Some(d) = &s.diff {
        let rows: Vec<(String, u64)> = sorted(&d.transitions);
        let _ = write!(
            o,
            "<section id=\"diff\"><h2>Against the policy in force</h2><p><b>{}</b> devices ({}) change their answer.</p>",
            group(d.changed),
            pct(d.changed, s.devices)
        );
        let _ = write!(o, "<p class=\"meta\">Under the baseline: {}</p>", counts_line(&d.baseline_decisions));
        bars(&mut o, &rows, "#5c6bc0", "old → new");
        o.push_str("</section>");
    }
    let top = s.top_reasons(MAX_ROWS);
    o.push_str("<section id=\"reasons\"><h2>Top reasons</h2>");
    bars(&mut o, &top, "#546e7a", "reason");
    o.push_str("</section>");
    for (id, title, map) in [
        ("by-model", "By hardware model", &s.by_model),
        ("by-region", "By region", &s.by_region),
        ("by-firmware", "By firmware version", &s.by_firmware),
    ] {
        breakdown(&mut o, id, title, map);
    }
    o.push_str("<p class=\"meta\">Made by <code>rampart dry-run</code>.</p></main></body></html>\n");
    o
}

fn counts_line(m: &BTreeMap<String, u64>) -> String {
    DECISIONS
        .iter()
        .map(|(d, _)| format!("{d} {}", group(m.get(*d).copied().unwrap_or(0))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sorted(m: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<_> = m.iter().map(|(k, n)| (k.clone(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(MAX_ROWS);
    v
}

fn decisions(o: &mut String, s: &Summary) {
    let get = |d: &str| s.decisions.get(d).copied().unwrap_or(0);
    let _ = write!(
        o,
        "<section id=\"decisions\"><h2>Decisions</h2><div class=\"tiles\"><div class=\"tile\"><b>{}</b><span>devices</span></div>",
        group(s.devices)
    );
    for (d, color) in DECISIONS {
        let _ = write!(
            o,
            "<div class=\"tile\" style=\"border-left:5px solid {color}\"><b id=\"{d}\">{}</b><span>{d} · {}</span></div>",
            group(get(d)),
            pct(get(d), s.devices)
        );
    }
    o.push_str("</div>");
    let counts = DECISIONS.map(|(d, _)| get(d));
    let _ = write!(
        o,
        "<svg width=\"100%\" height=\"28\" viewBox=\"0 0 1000 28\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"decisions\" style=\"margin-top:12px\">{}</svg>",
        stacked(counts, s.devices, 1000.0, 28.0)
    );
    legend(o);
    o.push_str("</section>");
}

fn legend(o: &mut String) {
    o.push_str("<div class=\"legend\">");
    for (d, color) in DECISIONS {
        let _ = write!(o, "<span><i style=\"background:{color}\"></i>{d}</span>");
    }
    o.push_str("</div>");
}

/// Rectangles for allow / defer / deny side by side.
fn stacked(counts: [u64; 3], total: u64, width: f64, height: f64) -> String {
    let mut x = 0.0;
    let mut out = String::new();
    for ((d, color), n) in DECISIONS.iter().zip(counts) {
        if total == 0 || n == 0 {
            continue;
        }
        let w = width * n as f64 / total as f64;
        let _ = write!(
            out,
            "<rect x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"{height}\" fill=\"{color}\"><title>{d}: {}</title></rect>",
            group(n)
        );
        x += w;
    }
    out
}

fn notices(o: &mut String, s: &Summary) {
    if s.stateful {
        let _ = write!(
            o,
            "<section class=\"warn\"><b>The policy is stateful</b>: it answered differently in a batch than alone ({}). Every device was asked again in a fresh instance.</section>",
            esc(s.stateful_example.as_deref().unwrap_or_default())
        );
    }
    if s.tight_limits {
        let _ = write!(
            o,
            "<section class=\"warn\"><b>The limits are tight</b>: a device failed alone that a batch answered ({}); a batch shares its limits among its devices, so batches could not predict a gateway. Every device was asked again in a fresh instance.</section>",
            esc(s.tight_limits_example.as_deref().unwrap_or_default())
        );
    }
    if !s.policy_failures.is_empty() {
        o.push_str("<section class=\"warn\" id=\"failures\"><h2>Policy failures (counted as deny)</h2><table>");
        for (cause, n) in &s.policy_failures {
            let _ = write!(o, "<tr><td>{}</td><td class=\"n\">{}</td></tr>", esc(cause), group(*n));
        }
        o.push_str("</table></section>");
    }
    if s.invalid_rows > 0 {
        let _ = write!(o, "<section class=\"warn\"><b>{}</b> invalid rows were skipped.<ul>", group(s.invalid_rows));
        for e in &s.invalid_examples {
            let _ = write!(o, "<li><code>{}</code></li>", esc(e));
        }
        o.push_str("</ul></section>");
    }
}

/// A horizontal bar per row, scaled to the largest.
fn bars(o: &mut String, rows: &[(String, u64)], color: &str, what: &str) {
    if rows.is_empty() {
        o.push_str("<p class=\"meta\">None.</p>");
        return;
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let _ =
        write!(o, "<table><tr><th>{}</th><th class=\"n\">devices</th><th style=\"width:45%\"></th></tr>", esc(what));
    for (label, n) in rows {
        let w = 100.0 * *n as f64 / max as f64;
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td><svg width=\"100%\" height=\"14\" viewBox=\"0 0 100 14\" preserveAspectRatio=\"none\"><rect width=\"{w:.2}\" height=\"14\" fill=\"{color}\"/></svg></td></tr>",
            esc(label),
            group(*n)
        );
    }
    o.push_str("</table>");
}

fn breakdown(o: &mut String, id: &str, title: &str, map: &BTreeMap<String, BTreeMap<String, u64>>) {
    let get = |c: &BTreeMap<String, u64>, d: &str| c.get(d).copied().unwrap_or(0);
    let mut rows: Vec<(&String, [u64; 3])> = map.iter().map(|(k, c)| (k, DECISIONS.map(|(d, _)| get(c, d)))).collect();
    rows.sort_by(|a, b| b.1.iter().sum::<u64>().cmp(&a.1.iter().sum::<u64>()).then(a.0.cmp(b.0)));
    let others: [u64; 3] =
        rows.iter().skip(MAX_ROWS).fold([0; 3], |acc, r| [acc[0] + r.1[0], acc[1] + r.1[1], acc[2] + r.1[2]]);
    let hidden = rows.len().saturating_sub(MAX_ROWS);
    let _ = write!(
        o,
        "<section id=\"{id}\"><h2>{}</h2><table><tr><th></th><th class=\"n\">devices</th><th class=\"n\">allow</th><th class=\"n\">defer</th><th class=\"n\">deny</th><th style=\"width:35%\"></th></tr>",
        esc(title)
    );
    let others_label = format!("{hidden} others");
    let shown = rows.iter().take(MAX_ROWS).map(|(k, c)| (k.as_str(), *c));
    for (key, c) in shown.chain((hidden > 0).then_some((others_label.as_str(), others))) {
        let total: u64 = c.iter().sum();
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><svg width=\"100%\" height=\"14\" viewBox=\"0 0 100 14\" preserveAspectRatio=\"none\">{}</svg></td></tr>",
            esc(key),
            group(total),
            group(c[0]),
            group(c[1]),
            group(c[2]),
            stacked(c, total, 100.0, 14.0)
        );
    }
    o.push_str("</table>");
    legend(o);
    o.push_str("</section>");
}

fn projection(o: &mut String, p: &Projection, devices: u64, now: Option<rampart_facts::Timestamp>) {
    let cum = p.cumulative();
    let hours = cum.len().saturating_sub(1).max(1);
    let reached = cum.last().copied().unwrap_or(0);
    let last = p.last_growth_hour();
    let _ = write!(
        o,
        "<section id=\"projection\"><h2>Wave projection</h2><p>From the rollout's start ({}), hour by hour for {} hours: <b id=\"reached\">{}</b> devices ({}) become eligible{}; {} never do within the horizon.</p>",
        esc(&p.start.to_string()),
        hours,
        group(reached),
        pct(reached, devices),
        match last {
            Some(h) => format!(", the last of them at hour {h}"),
            None => String::new(),
        },
        group(p.never()),
    );
    // The chart: devices eligible over time.
    let (w, h, left, bottom, top) = (960.0, 280.0, 70.0, 30.0, 10.0);
    let (pw, ph) = (w - left - 20.0, h - bottom - top);
    let ymax = devices.max(1) as f64;
    let x = |hour: usize| left + pw * hour as f64 / hours as f64;
    let y = |n: u64| top + ph * (1.0 - n as f64 / ymax);
    let _ = write!(
        o,
        "<svg width=\"100%\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"devices eligible over time\">"
    );
    for q in 0..=4 {
        let n = (ymax * q as f64 / 4.0) as u64;
        let _ = write!(
            o,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 6.0,
            y(n) + 4.0,
            group(n),
            y = y(n)
        );
    }
    let step = if hours <= 48 { 6 } else { 24 };
    for t in (0..=hours).step_by(step) {
        let label = if step == 24 { format!("day {}", t / 24) } else { format!("{t} h") };
        let _ = write!(o, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>", x(t), h - 8.0);
    }
    let mut points = String::new();
    for (i, n) in cum.iter().enumerate() {
        // A step line: the count holds until the next hour mark.
        if i > 0 {
            let _ = write!(points, "{:.1},{:.1} ", x(i), y(cum[i - 1]));
        }
        let _ = write!(points, "{:.1},{:.1} ", x(i), y(*n));
    }
    // The dry-run's own time, when it falls on the chart.
    if let Some(now) = now {
        let at = (now.0 - p.start.0) as f64 / 3600.0;
        if (0.0..=hours as f64).contains(&at) {
            let nx = left + pw * at / hours as f64;
            let _ = write!(
                o,
                "<line x1=\"{nx:.1}\" x2=\"{nx:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{}\">now</text>",
                top + ph,
                nx + 4.0,
                top + 12.0
            );
        }
    }
    let _ = write!(
        o,
        "<polygon points=\"{left},{b} {points}{:.1},{b}\" fill=\"{ALLOW}\" fill-opacity=\"0.15\"/><polyline points=\"{points}\" fill=\"none\" stroke=\"{ALLOW}\" stroke-width=\"2\"/></svg>",
        x(cum.len().saturating_sub(1)),
        b = top + ph
    );
    // The hours at which devices join, as a table.
    o.push_str("<table><tr><th>hour</th><th>time</th><th class=\"n\">newly eligible</th><th class=\"n\">eligible</th><th class=\"n\">of the fleet</th></tr>");
    let joins: Vec<usize> = (0..p.newly_eligible.len()).filter(|&i| p.newly_eligible[i] > 0).collect();
    for &i in joins.iter().take(60) {
        let at = rampart_facts::Timestamp(p.start.0 + i as i64 * 3600);
        let _ = write!(
            o,
            "<tr><td>{i}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&at.to_string()),
            group(p.newly_eligible[i]),
            group(cum[i]),
            pct(cum[i], devices)
        );
    }
    if joins.len() > 60 {
        let _ = write!(o, "<tr><td colspan=\"5\">… {} more hours</td></tr>", joins.len() - 60);
    }
    o.push_str("</table>");
    if !p.not_eligible.is_empty() {
        o.push_str("<h2>Not eligible within the horizon</h2>");
        bars(o, &sorted(&p.not_eligible), "#8d6e63", "last answer");
    }
    o.push_str("</section>");
}

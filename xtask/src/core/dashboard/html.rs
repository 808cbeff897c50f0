//! The dashboard as one self-contained HTML page: inline CSS and SVG, no script, no font and
//! nothing fetched, so it opens from `file://` and as a CI artifact. Every chart is a
//! `<figure data-chart=… data-points=…>` whose points are `<circle class="point">`, so that a
//! browser test can count what was drawn.

use super::{dora_rows, span, Dashboard, Series, GROWTH_MARK};
use crate::core::text::human;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 36.0;
const COLORS: [&str; 8] = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:780px;color:#111}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left;vertical-align:top}\
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}svg{background:#fafafa;border:1px solid #eee}\
.legend{list-style:none;padding:0;margin:.3rem 0;display:flex;flex-wrap:wrap;gap:.8rem;font-size:12px}\
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}.note{color:#555;font-size:13px}\
.grown{fill:none;stroke:#dc2626;stroke-width:2}";

/// The whole page; `host` is the platform built natively (the others were emulated).
pub fn page(d: &Dashboard, host: &str, generated: &str) -> String {
    let mut out = head("Images: builds, sizes and DORA");
    out.push_str(&format!(
        "<p class=\"note\">From target/xtask/metrics.jsonl and target/xtask/releases, {}.</p>\n",
        escape(generated)
    ));
    out.push_str(
        "<h2>DORA</h2>\n<table id=\"dora\"><tr><th>figure</th><th>value</th><th>definition</th><th>from</th></tr>\n",
    );
    for row in dora_rows(&d.dora) {
        out.push_str(&format!(
            "<tr>{}</tr>\n",
            row.iter().map(|c| format!("<td>{}</td>", escape(c))).collect::<String>()
        ));
    }
    out.push_str("</table>\n<h2>Build duration</h2>\n");
    for (platform, series) in &d.durations {
        let how = if platform == host { "native" } else { "emulated" };
        out.push_str(&line_chart(
            &format!("durations-{platform}"),
            &format!("{platform} ({how}), seconds"),
            series,
            None,
            &[],
            &|v| span(v),
        ));
    }
    if d.durations.is_empty() {
        out.push_str("<p class=\"note\">No build has been timed yet.</p>\n");
    }
    out.push_str("<h2>Success rate</h2>\n");
    let bars: Vec<(String, Vec<(&str, f64)>)> = d
        .success
        .iter()
        .map(|(command, runs, ok)| (command.clone(), vec![("succeeded", *ok as f64), ("failed", (*runs - *ok) as f64)]))
        .collect();
    out.push_str(&bar_chart("success", "runs per command", &bars, &|v| format!("{v:.0}")));
    out.push_str(&format!(
        "<h2>Compressed size</h2>\n<p class=\"note\">Dashed: the <code>[size] max</code> budget; ringed: growth over {:.0} %.</p>\n",
        GROWTH_MARK * 100.0
    ));
    let units: std::collections::BTreeSet<&str> = d.sizes.iter().map(|s| s.unit.as_str()).collect();
    for unit in units {
        let of_unit: Vec<&super::SizeSeries> = d.sizes.iter().filter(|s| s.unit == unit).collect();
        let series: Vec<Series> =
            of_unit.iter().map(|s| Series { label: s.platform.clone(), points: s.points.clone() }).collect();
        let marks: Vec<(usize, usize)> =
            of_unit.iter().enumerate().flat_map(|(i, s)| s.grown.iter().map(move |&p| (i, p))).collect();
        let budget = of_unit.iter().find_map(|s| s.budget).map(|b| b as f64);
        out.push_str(&line_chart(&format!("size-{unit}"), unit, &series, budget, &marks, &|v| human(v as u64)));
    }
    out.push_str("<h2>arm64 against amd64</h2>\n");
    let spread: Vec<(String, Vec<(&str, f64)>)> = d
        .spread
        .iter()
        .map(|(unit, amd64, arm64)| (unit.clone(), vec![("arm64 / amd64", *arm64 as f64 / (*amd64).max(1) as f64)]))
        .collect();
    out.push_str(&bar_chart("spread", "compressed size, arm64 / amd64", &spread, &|v| format!("{v:.2}")));
    out.push_str("<h2>No-op and real builds</h2>\n");
    let noop: Vec<(String, Vec<(&str, f64)>)> = d
        .noop
        .iter()
        .map(|(run, built, skipped)| (run.clone(), vec![("built", *built as f64), ("up to date", *skipped as f64)]))
        .collect();
    out.push_str(&bar_chart("noop", "platform builds per run", &noop, &|v| format!("{v:.0}")));
    out.push_str(
        "<h2>Cache hits</h2>\n<p class=\"note\">Not charted: the engines report no per-step cache hits to xtask. \
         An unchanged unit is not built at all (\"up to date\" above).</p>\n</body></html>\n",
    );
    out
}

/// The page's head and title: the style is the same for every page.
fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{0}</h1>\n",
        escape(title)
    )
}

/// `analytics --format html`: pulls per image and platform, the arm64 share, and per day.
pub fn pulls_page(report: &crate::core::analytics::PullReport, generated: &str) -> String {
    let mut out = head("Image pulls per architecture");
    let share = report.arm64_share.map_or_else(|| "no pulls yet".to_string(), |s| format!("{:.0} %", s * 100.0));
    out.push_str(&format!(
        "<p class=\"note\">From target/xtask/pulls.jsonl, {}. arm64 share: <strong>{}</strong>.</p>\n",
        escape(generated),
        escape(&share)
    ));
    let mut images: Vec<(String, Vec<(&str, f64)>)> = Vec::new();
    for count in &report.counts {
        let segment = (count.platform.as_str(), count.pulls as f64);
        match images.iter_mut().find(|(image, _)| *image == count.image) {
            Some((_, segments)) => segments.push(segment),
            None => images.push((count.image.clone(), vec![segment])),
        }
    }
    out.push_str(&bar_chart("pulls", "pulls per image, by platform", &images, &|v| format!("{v:.0}")));
    let top: Vec<(String, Vec<(&str, f64)>)> =
        report.top_arm64.iter().map(|c| (c.image.clone(), vec![("linux/arm64", c.pulls as f64)])).collect();
    out.push_str(&bar_chart("top-arm64", "most pulled on arm64", &top, &|v| format!("{v:.0}")));
    out.push_str(
        "<h2>Per day</h2>\n<table><tr><th>day</th><th>image</th><th>tag</th><th>platform</th><th>pulls</th></tr>\n",
    );
    for d in &report.days {
        let cells = [d.day.as_str(), &d.image, &d.tag, &d.platform, &d.pulls.to_string()];
        out.push_str(&format!(
            "<tr>{}</tr>\n",
            cells.iter().map(|c| format!("<td>{}</td>", escape(c))).collect::<String>()
        ));
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// A line per series over the union of their x labels, with an optional dashed `budget` and
/// rings on the `marks` (series, point).
fn line_chart(
    id: &str,
    title: &str,
    series: &[Series],
    budget: Option<f64>,
    marks: &[(usize, usize)],
    format: &dyn Fn(f64) -> String,
) -> String {
    let mut xs: Vec<&str> = series.iter().flat_map(|s| s.points.iter().map(|(x, _)| x.as_str())).collect();
    xs.sort_unstable();
    xs.dedup();
    let top = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).chain(budget).fold(0.0, f64::max).max(1.0) * 1.1;
    let x_of = |x: &str| {
        let i = xs.iter().position(|v| *v == x).unwrap_or(0);
        match xs.len() {
            1 => LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            n => LEFT + (WIDTH - LEFT - RIGHT) * i as f64 / (n - 1) as f64,
        }
    };
    let y_of = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / top);
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    let mut svg = axes(top, format);
    if let Some(budget) = budget {
        let y = y_of(budget);
        svg.push_str(&format!(
            "<line class=\"budget\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#111\" stroke-dasharray=\"5 4\"/>",
            WIDTH - RIGHT
        ));
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<String> = s.points.iter().map(|(x, v)| format!("{:.1},{:.1}", x_of(x), y_of(*v))).collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            line.join(" ")
        ));
        for (p, (x, v)) in s.points.iter().enumerate() {
            let (cx, cy) = (x_of(x), y_of(*v));
            svg.push_str(&format!(
                "<circle class=\"point\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"{color}\"><title>{}: {}, {}</title></circle>",
                escape(&s.label),
                escape(x),
                escape(&format(*v))
            ));
            if marks.contains(&(i, p)) {
                svg.push_str(&format!("<circle class=\"grown\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"7\"/>"));
            }
        }
    }
    if let (Some(first), Some(last)) = (xs.first(), xs.last()) {
        let y = HEIGHT - 12.0;
        svg.push_str(&format!("<text x=\"{LEFT}\" y=\"{y}\" font-size=\"11\">{}</text>", escape(first)));
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            escape(last)
        ));
    }
    let legend: Vec<(String, &str)> =
        series.iter().enumerate().map(|(i, s)| (s.label.clone(), COLORS[i % COLORS.len()])).collect();
    figure(id, title, points, &svg, &legend)
}

/// Horizontal bars, each of one or more stacked segments.
fn bar_chart(id: &str, title: &str, bars: &[(String, Vec<(&str, f64)>)], format: &dyn Fn(f64) -> String) -> String {
    let top = bars.iter().map(|(_, segments)| segments.iter().map(|s| s.1).sum::<f64>()).fold(0.0, f64::max).max(1.0);
    let row = 22.0;
    let height = TOP + row * bars.len().max(1) as f64 + 8.0;
    // Room on the right for the total.
    let scale = (WIDTH - 220.0 - RIGHT - 48.0) / top;
    let mut svg = String::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, (label, segments)) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        svg.push_str(&format!(
            "<text x=\"212\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            y + 14.0,
            escape(&shorten(label, 32))
        ));
        let mut x = 220.0;
        for (name, _) in segments {
            if !names.contains(name) {
                names.push(name);
            }
        }
        // A segment of nothing is not drawn (and is no point); its color stays its own.
        for (name, value) in segments.iter().filter(|(_, v)| *v > 0.0) {
            let color = COLORS[names.iter().position(|n| n == name).unwrap_or(0) % COLORS.len()];
            let w = value * scale;
            svg.push_str(&format!(
                "<rect class=\"point\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"16\" fill=\"{color}\"><title>{}: {} {}</title></rect>",
                escape(label),
                escape(name),
                escape(&format(*value))
            ));
            x += w;
        }
        let total: f64 = segments.iter().map(|s| s.1).sum();
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            x + 4.0,
            y + 13.0,
            escape(&format(total))
        ));
    }
    let legend: Vec<(String, &str)> =
        names.iter().enumerate().map(|(i, n)| (n.to_string(), COLORS[i % COLORS.len()])).collect();
    let body = format!(
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\">{svg}</svg>"
    );
    let points: usize = bars.iter().map(|(_, s)| s.iter().filter(|(_, v)| *v > 0.0).count()).sum();
    wrap(id, title, points, &body, &legend)
}

/// The y axis with four gridlines up to `top`.
fn axes(top: f64, format: &dyn Fn(f64) -> String) -> String {
    let mut svg = String::new();
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / top);
        svg.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&format(v))
        ));
    }
    svg
}

fn figure(id: &str, title: &str, points: usize, svg: &str, legend: &[(String, &str)]) -> String {
    let body =
        format!("<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\">{svg}</svg>");
    wrap(id, title, points, &body, legend)
}

fn wrap(id: &str, title: &str, points: usize, body: &str, legend: &[(String, &str)]) -> String {
    let items: String = legend
        .iter()
        .map(|(label, color)| format!("<li><i style=\"background:{color}\"></i>{}</li>", escape(label)))
        .collect();
    format!(
        "<figure class=\"chart\" data-chart=\"{}\" data-points=\"{points}\"><figcaption>{}</figcaption>{body}<ul class=\"legend\">{items}</ul></figure>\n",
        escape(id),
        escape(title)
    )
}

fn shorten(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => format!("{}…", text.chars().take(max - 1).collect::<String>()),
        false => text.to_string(),
    }
}

/// Text from records and image.toml, safe in HTML text and attributes.
pub fn escape(text: &str) -> String {
    crate::core::text::markup(text, true)
}

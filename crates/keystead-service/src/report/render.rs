//! Rendering helpers shared by the reports: CSV cells, HTML escaping, and inline SVG bar
//! charts (no scripts, no external assets: a report is one file that opens anywhere).

use std::fmt::Write as _;

/// The bar colour of charts that are not coloured by state.
pub const BAR_COLOUR: &str = "#2f6db5";

/// Escapes text for HTML element content and attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// One CSV cell: quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or carriage return
/// neutralized with `'` so a spreadsheet never runs a key name or label as a formula.
pub fn csv_cell(text: &str) -> String {
    let text =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A CSV line from cells.
pub fn csv_line<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(csv_cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// The colour of a version state in charts.
pub fn state_colour(state: &str) -> &'static str {
    match state {
        "active" => "#2e8b57",
        "pre-active" => "#7aa6d6",
        "suspended" => "#e0a800",
        "deactivated" => "#8c8c8c",
        "compromised" => "#c62828",
        "destroyed" => "#4a4a4a",
        "destroyed-compromised" => "#7b1f1f",
        _ => BAR_COLOUR,
    }
}

/// A horizontal bar chart as inline SVG: one bar per (label, value), longest first as given.
/// `colour` picks each bar's colour from its label.
pub fn bar_chart(title: &str, bars: &[(String, u64)], colour: &dyn Fn(&str) -> &'static str) -> String {
    const LABEL_WIDTH: u64 = 190;
    const BAR_SPACE: u64 = 330;
    const ROW: u64 = 26;
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = 34 + ROW * bars.len().max(1) as u64;
    let mut svg = format!(
        "<figure class=\"chart\"><svg role=\"img\" width=\"600\" height=\"{height}\" viewBox=\"0 0 600 {height}\" aria-labelledby=\"t-{id}\"><title id=\"t-{id}\">{title}</title>\
         <text x=\"0\" y=\"18\" class=\"chart-title\">{title}</text>",
        id = html(&title.replace(' ', "-")),
        title = html(title)
    );
    if bars.is_empty() {
        let _ = write!(svg, "<text x=\"0\" y=\"48\" class=\"empty\">none</text>");
    }
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 30 + ROW * i as u64;
        let width = (BAR_SPACE * value).div_ceil(max).max(2);
        let _ = write!(
            svg,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" class=\"label\">{label}</text>\
             <rect x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{width}\" height=\"18\" fill=\"{fill}\" class=\"bar\"><title>{label}: {value}</title></rect>\
             <text x=\"{vx}\" y=\"{ty}\" class=\"value\">{value}</text>",
            lx = LABEL_WIDTH - 8,
            ty = y + 14,
            vx = LABEL_WIDTH + width + 6,
            label = html(label),
            fill = colour(label),
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The page around a report body: inline CSS, print-friendly.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        title = html(title)
    )
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#1d1d1f;padding:0 1rem}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}\
.meta{color:#555;font-size:.9rem}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}\
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:120px}.card b{display:block;font-size:1.5rem}\
.card.alert b{color:#c62828}.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{margin:0}\
.chart-title{font-weight:600;font-size:14px}.label,.value{font-size:12px}.empty{fill:#777;font-size:12px}\
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}th,td{border-bottom:1px solid #eee;text-align:left;padding:.3rem .4rem;vertical-align:top}\
th{background:#f6f6f6}.status-met{color:#2e7d32;font-weight:600}.status-partly{color:#b26a00;font-weight:600}.status-not{color:#c62828;font-weight:600}\
.more{color:#555;font-style:italic}code{font-size:.85em}@media print{body{margin:0}}";

/// An HTML table with a header row; at most `cap` rows, then a note of how many more.
pub fn table(headers: &[&str], rows: &[Vec<String>], cap: usize) -> String {
    if rows.is_empty() {
        return "<p class=\"more\">none</p>".to_owned();
    }
    let mut out = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", html(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows.iter().take(cap) {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", html(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if rows.len() > cap {
        let _ = write!(
            out,
            "<p class=\"more\">and {} more (the CSV and JSON formats hold every row)</p>",
            rows.len() - cap
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_csv_escape_what_they_must() {
        assert_eq!(html("<script>\"&'"), "&lt;script&gt;&quot;&amp;&#39;");
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_line(["a", "b"]), "a,b\r\n");
    }

    #[test]
    fn charts_scale_bars_and_escape_labels() {
        let svg = bar_chart("Keys by owner", &[("<b>".into(), 10), ("x".into(), 5)], &|_| BAR_COLOUR);
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert!(svg.contains("width=\"330\"") && svg.contains("width=\"165\""), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(bar_chart("Empty", &[], &|_| BAR_COLOUR).contains("none"));
    }
}

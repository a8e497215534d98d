//! Charts drawn on the server as SVG with plotters: bars for the three rates of a node's
//! children, a line for weekly volume. The page needs no chart library and the same
//! figures are in a table beside each chart.

use plotters::coord::Shift;
use plotters::prelude::*;

/// One bar group: a child node (or unit) and its three rates (0..=1).
pub struct RateRow {
    pub name: String,
    pub rates: [Option<f64>; 3],
}

/// The lettering of the axes, legends and group names. The SVG backend writes a font of
/// size n as about 0.8 n px, so 15 comes out at 12 px: legible at the chart's own size,
/// which a phone keeps (the chart scrolls sideways instead of shrinking).
const LABEL_FONT: (&str, u32) = ("sans-serif", 15);

/// The titles' lettering (about 16 px as drawn).
const TITLE_FONT: (&str, u32) = ("sans-serif", 20);

const COLOURS: [RGBColor; 3] = [
    RGBColor(0x1a, 0x73, 0xe8),
    RGBColor(0x18, 0x80, 0x38),
    RGBColor(0xf9, 0xa8, 0x25),
];

/// Text from the data goes into SVG: keep it to what cannot break the markup.
fn clean(label: &str) -> String {
    label
        .chars()
        .filter(|c| !matches!(c, '<' | '>' | '&' | '"' | '\'') && !c.is_control())
        .take(16)
        .collect()
}

/// Marks the SVG as one image with an accessible name.
fn labelled(svg: String, label: &str) -> String {
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{}\" ", clean(label)),
        1,
    )
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Grouped bars: for each row, its response, resolution and satisfaction rates in %.
pub fn rate_bars(title: &str, series: [&str; 3], rows: &[RateRow]) -> String {
    let mut svg = String::new();
    let width = (160 + 90 * rows.len() as u32).clamp(640, 960);
    {
        let root = SVGBackend::with_string(&mut svg, (width, 340)).into_drawing_area();
        if let Err(e) = draw_bars(&root, title, series, rows) {
            tracing::warn!(error = %e, "rate chart not drawn");
        }
    }
    labelled(svg, title)
}

fn draw_bars(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    series: [&str; 3],
    rows: &[RateRow],
) -> Drawn {
    root.fill(&WHITE)?;
    let n = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(clean(title), TITLE_FONT)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..n, 0f64..100f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("%")
        .y_labels(6)
        .label_style(LABEL_FONT)
        .axis_desc_style(LABEL_FONT)
        .draw()?;
    for (k, name) in series.iter().enumerate() {
        let colour = COLOURS[k];
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, row)| {
                let rate = row.rates[k]?;
                let left = i as f64 + 0.12 + 0.26 * k as f64;
                Some(Rectangle::new(
                    [(left, 0.0), (left + 0.24, rate * 100.0)],
                    colour.filled(),
                ))
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(LABEL_FONT)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    // The group names under the bars, placed by hand: plotters labels a numeric axis
    // at round numbers, not at the groups.
    let style = LABEL_FONT
        .into_font()
        .color(&BLACK)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
    for (i, row) in rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(clean(&row.name), (x, y + 6), style.clone()))?;
    }
    root.present()?;
    Ok(())
}

/// A line of counts per week, labelled with each week's Monday.
pub fn weekly_line(title: &str, points: &[(String, i64)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        if let Err(e) = draw_line(&root, title, points) {
            tracing::warn!(error = %e, "volume chart not drawn");
        }
    }
    labelled(svg, title)
}

fn draw_line(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    points: &[(String, i64)],
) -> Drawn {
    root.fill(&WHITE)?;
    let top = points.iter().map(|p| p.1).max().unwrap_or(0).max(4) as f64 * 1.15;
    let last = points.len().saturating_sub(1).max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(clean(title), TITLE_FONT)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(44)
        .build_cartesian_2d(-0.3f64..last + 0.3, 0f64..top)?;
    let label_of = |x: &f64| {
        let i = x.round();
        if (x - i).abs() > 0.01 || i < 0.0 {
            return String::new();
        }
        points
            .get(i as usize)
            .map(|p| p.0.clone())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(points.len().min(13))
        .x_label_formatter(&label_of)
        .y_labels(5)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(LABEL_FONT)
        .draw()?;
    let line = COLOURS[0];
    chart.draw_series(LineSeries::new(
        points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.1 as f64)),
        line.stroke_width(2),
    ))?;
    chart.draw_series(
        points
            .iter()
            .enumerate()
            .map(|(i, p)| Circle::new((i as f64, p.1 as f64), 3, line.filled())),
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_one_rectangle_per_known_rate_and_labels_are_escaped() {
        let rows = vec![
            RateRow {
                name: "望京<script>".into(),
                rates: [Some(0.5), Some(1.0), None],
            },
            RateRow {
                name: "酒仙桥".into(),
                rates: [Some(0.25), Some(0.0), Some(0.75)],
            },
        ];
        let svg = rate_bars("三率", ["响应率", "解决率", "满意率"], &rows);
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"三率\""));
        assert!(!svg.contains("<script"), "data text must not open a tag");
        assert!(svg.contains("望京script"));
        assert!(svg.contains("酒仙桥"));
        // 5 known rates → 5 bars, plus 3 legend swatches (plotters draws the background
        // and the legend box as rects too, so count the filled bar colours instead).
        let blue = svg.matches("fill=\"#1A73E8\"").count();
        let green = svg.matches("fill=\"#188038\"").count();
        let yellow = svg.matches("fill=\"#F9A825\"").count();
        assert_eq!((blue, green, yellow), (2 + 1, 2 + 1, 1 + 1), "{svg}");
    }

    #[test]
    fn the_line_has_a_point_per_week_and_labels_the_weeks() {
        let points: Vec<(String, i64)> = (0..12)
            .map(|i| (format!("11-{:02}", i + 1), i64::from(i % 4)))
            .collect();
        let svg = weekly_line("每周受理量", &points);
        assert_eq!(svg.matches("<circle").count(), 12, "{svg}");
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("11-01"));
    }
}

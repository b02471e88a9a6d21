//! The SVG plots of the report, drawn with plotters (SVG backend only, so no font
//! files or system libraries are needed: text is laid out by estimate).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::results::{Histogram, Throughput};
use crate::stats::Stat;

fn err<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("plot: {error:?}")
}

const KITH: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const BASE: RGBColor = RGBColor(0x9a, 0xa5, 0xb1);
const GOOD: RGBColor = RGBColor(0x2f, 0x9e, 0x44);
const MARK: RGBColor = RGBColor(0xd9, 0x48, 0x0f);

/// Connect attempts per 100 ms of a fleet through a server restart.
pub fn reconnect_histogram(path: &Path, h: &Histogram, clients: u64) -> Result<()> {
    let bin_s = h.bin_ms / 1000.0;
    let x_max = (h.attempts.len() as f64 * bin_s).max(h.restart_at_ms / 1000.0 + 1.0);
    let peak = h
        .attempts
        .iter()
        .chain(&h.resynced)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = peak * 1.35;
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{clients} sessions through a server restart: connect attempts per 100 ms"),
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("seconds since the server went down")
        .y_desc("per 100 ms window")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    let bars = |counts: &[u32], color: RGBColor, width: f64| {
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(move |(i, c)| {
                let x0 = i as f64 * bin_s;
                Rectangle::new(
                    [(x0, 0.0), (x0 + bin_s * width, f64::from(*c))],
                    color.mix(0.75).filled(),
                )
            })
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(bars(&h.attempts, KITH, 0.9))
        .map_err(err)?
        .label("connect attempts (Connecting events), with full jitter")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], KITH.mix(0.75).filled()));
    chart
        .draw_series(bars(&h.resynced, GOOD, 0.45))
        .map_err(err)?
        .label("sessions resynced")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], GOOD.mix(0.75).filled()));
    chart
        .draw_series(h.unjittered_ms.iter().map(|t| {
            PathElement::new(
                vec![(t / 1000.0, 0.0), (t / 1000.0, y_max)],
                BASE.stroke_width(2),
            )
        }))
        .map_err(err)?
        .label(format!(
            "without jitter: all {clients} retry at once here (off the scale)"
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BASE.stroke_width(2)));
    let up = h.restart_at_ms / 1000.0;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(up, 0.0), (up, y_max)],
            MARK.stroke_width(2),
        )))
        .map_err(err)?
        .label("server accepting again")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], MARK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Messages per second of each client, median bars with min–max whiskers (clients
/// not measured in these results are left out).
pub fn throughput_bars(path: &Path, t: &Throughput) -> Result<()> {
    let rows: Vec<(&str, &Stat, RGBColor)> = [
        ("(a) tungstenite read loop, no parsing", &t.raw, BASE),
        (
            "(b) tungstenite + serde_json flat struct + HashMap",
            &t.serde,
            BASE,
        ),
        (
            "(c) tungstenite + serde_json tagged enum + HashMap",
            &t.tagged,
            BASE,
        ),
        ("Kith: Session → take_events()", &t.kith, KITH),
        ("Kith through a [messages] mapping", &t.kith_mapped, KITH),
    ]
    .into_iter()
    .filter(|(_, stat, _)| !stat.runs.is_empty())
    .collect();
    let x_max = rows.iter().map(|(_, s, _)| s.max).fold(0.0, f64::max) / 1e6 * 1.15;
    let height = 120 + 60 * rows.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "status_update frames per second over loopback ({} frames, median of {} runs, min–max)",
                crate::report::thousands(t.frames),
                t.kith.runs.len()
            ),
            ("sans-serif", 16),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..x_max, 0f64..rows.len() as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("million messages per second")
        .draw()
        .map_err(err)?;
    for (i, (label, stat, color)) in rows.iter().enumerate() {
        let y = (rows.len() - 1 - i) as f64;
        let (lo, hi) = (y + 0.1, y + 0.55);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, lo), (stat.median / 1e6, hi)],
                color.mix(0.8).filled(),
            )))
            .map_err(err)?;
        let whisker = vec![(stat.min / 1e6, y + 0.325), (stat.max / 1e6, y + 0.325)];
        chart
            .draw_series(std::iter::once(PathElement::new(
                whisker,
                BLACK.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{label}: {:.2} M/s", stat.median / 1e6),
                (x_max * 0.005, y + 0.92),
                ("sans-serif", 14).into_font().color(&BLACK),
            )))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

//! The DET curve (FNMR against FMR, both on log axes) drawn with `plotters` into a PNG.
//! Axis labels need a TrueType font: DejaVu Sans from the system (Debian
//! `fonts-dejavu-core`) is registered when present; without it the curve is drawn unlabelled.
//!
//! It does not compute the rates (that is `eval`).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::FaceError;
use crate::eval::{Report, det_points};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws `report`'s DET curves into `path`.
pub fn det_png(report: &Report, path: &Path) -> Result<(), FaceError> {
    let (w, h) = (800u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let labels = font_ready();
    let err = |e: &dyn std::fmt::Display| FaceError::Image(format!("DET plot: {e}"));
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let floor = 1e-4f64;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if labels {
            builder
                .caption("DET curve", ("sans-serif", 24))
                .x_label_area_size(45)
                .y_label_area_size(60);
        }
        let mut chart = builder
            .build_cartesian_2d((floor..1.0f64).log_scale(), (floor..1.0f64).log_scale())
            .map_err(|e| err(&e))?;
        if labels {
            chart
                .configure_mesh()
                .x_desc("FMR")
                .y_desc("FNMR")
                .draw()
                .map_err(|e| err(&e))?;
        } else {
            chart
                .configure_mesh()
                .disable_x_mesh()
                .disable_y_mesh()
                .draw()
                .map_err(|e| err(&e))?;
        }
        let colours = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];
        for (i, m) in report.results.iter().enumerate() {
            let sim = |v: &[f32]| {
                v.iter()
                    .map(|s| m.metric.as_similarity(*s))
                    .collect::<Vec<f32>>()
            };
            let pts: Vec<(f64, f64)> =
                det_points(&sim(&m.genuine_scores), &sim(&m.impostor_scores))
                    .into_iter()
                    .map(|(a, b)| (a.max(floor), b.max(floor)))
                    .collect();
            let c = colours[i % colours.len()];
            let series = chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(|e| err(&e))?;
            if labels {
                series
                    .label(format!("{:?} {}", m.model, m.condition))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
            }
        }
        if labels {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    let img = image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| FaceError::Image("DET plot buffer".into()))?;
    img.save(path)
        .map_err(|e| FaceError::Image(format!("{}: {e}", path.display())))
}

//! `metrics.csv` (one row per epoch) and `curves.png` (loss and validation NME).
use std::path::Path;

use plotters::prelude::*;

use crate::error::{write_atomic, Error, Result};

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// Mean validation NME in %.
    pub val_nme: f64,
    /// FR@0.10 in %.
    pub val_fr10: f64,
    pub val_auc10: f64,
    /// ACR variance share or ASM α in force (NaN when none).
    pub schedule: f64,
    pub seconds: f64,
    pub img_per_s: f64,
}

const HEADER: &str =
    "epoch,lr,train_loss,val_nme_pct,val_fr10_pct,val_auc10,schedule,seconds,img_per_s";

/// Read the rows of epochs `1..=upto` (a resumed run keeps its history).
pub fn read_rows(path: &Path, upto: usize) -> Result<Vec<Row>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<f64> = line
            .split(',')
            .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
            .collect();
        if f.len() != 9 {
            return Err(Error::parse(
                path,
                format!("line {}", n + 1),
                "expected 9 columns",
            ));
        }
        let row = Row {
            epoch: f[0] as usize,
            lr: f[1],
            train_loss: f[2],
            val_nme: f[3],
            val_fr10: f[4],
            val_auc10: f[5],
            schedule: f[6],
            seconds: f[7],
            img_per_s: f[8],
        };
        if row.epoch <= upto {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Write all rows atomically.
pub fn write_rows(path: &Path, rows: &[Row]) -> Result<()> {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{:e},{:.6},{:.4},{:.3},{:.5},{},{:.2},{:.2}\n",
            r.epoch,
            r.lr,
            r.train_loss,
            r.val_nme,
            r.val_fr10,
            r.val_auc10,
            r.schedule,
            r.seconds,
            r.img_per_s
        ));
    }
    write_atomic(path, s.as_bytes())
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Draw training loss (left) and validation NME (right) against epochs.
pub fn plot(path: &Path, rows: &[Row]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    facealign_core::ensure_font()?;
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let (left, right) = root.split_horizontally(480);
        let n = rows.last().map_or(1, |r| r.epoch).max(2) as f64;
        let panel = |area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
                     title: &str,
                     ys: Vec<(f64, f64)>,
                     color: RGBColor|
         -> std::result::Result<(), String> {
            let lo = ys.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
            let hi = ys.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo).abs() * 0.1).max(1e-6);
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(1.0..n, (lo - pad)..(hi + pad))
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .draw()
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(ys.clone(), &color))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(ys.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
            Ok(())
        };
        let loss: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.epoch as f64, r.train_loss))
            .collect();
        let nme: Vec<(f64, f64)> = rows.iter().map(|r| (r.epoch as f64, r.val_nme)).collect();
        panel(&left, "training loss", loss, BLUE).map_err(|e| plot_err(path, e))?;
        panel(&right, "validation NME (%)", nme, RED).map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_truncate_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        let mk = |e| Row {
            epoch: e,
            lr: 1e-3,
            train_loss: 0.5 / e as f64,
            val_nme: 10.0 / e as f64,
            val_fr10: 5.0,
            val_auc10: 0.3,
            schedule: 0.8,
            seconds: 1.0,
            img_per_s: 10.0,
        };
        write_rows(&p, &[mk(1), mk(2), mk(3)]).unwrap();
        let back = read_rows(&p, 2).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].epoch, 2);
        assert!((back[1].val_nme - 5.0).abs() < 1e-9);
        plot(&dir.path().join("curves.png"), &back).unwrap();
        assert!(image::open(dir.path().join("curves.png")).is_ok());
    }
}

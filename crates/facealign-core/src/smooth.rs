//! One-euro filter for landmark sequences (Casiez, Roussel & Vogel, CHI 2012).
//!
//! Each coordinate is low-pass filtered with a cutoff that rises with its speed:
//! `cutoff = min_cutoff + beta·|ẋ|`, so slow jitter is smoothed strongly and fast motion follows
//! with little lag. `α(fc) = 1 / (1 + τ/Δt)` with `τ = 1/(2π fc)`; the speed ẋ is itself low-pass
//! filtered with cutoff `d_cutoff`.
use serde::{Deserialize, Serialize};

use crate::sample::Point;

/// Filter settings (frequencies in Hz, `beta` in 1/pixel).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneEuroConfig {
    pub min_cutoff: f64,
    pub beta: f64,
    pub d_cutoff: f64,
    /// Frames per second of the sequence.
    pub fps: f64,
}

impl Default for OneEuroConfig {
    fn default() -> Self {
        OneEuroConfig {
            min_cutoff: 1.0,
            beta: 0.05,
            d_cutoff: 1.0,
            fps: 30.0,
        }
    }
}

fn alpha(cutoff: f64, dt: f64) -> f64 {
    let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

/// A one-euro filter over a fixed number of landmarks.
#[derive(Debug, Clone)]
pub struct LandmarkSmoother {
    cfg: OneEuroConfig,
    prev: Option<Vec<f64>>,
    dprev: Vec<f64>,
}

impl LandmarkSmoother {
    pub fn new(cfg: OneEuroConfig) -> LandmarkSmoother {
        LandmarkSmoother {
            cfg,
            prev: None,
            dprev: Vec::new(),
        }
    }

    /// Filter the next frame's landmarks; the first frame passes through unchanged.
    pub fn filter(&mut self, points: &[Point]) -> Vec<Point> {
        let x: Vec<f64> = points
            .iter()
            .flat_map(|p| [p[0] as f64, p[1] as f64])
            .collect();
        let dt = 1.0 / self.cfg.fps;
        let out = match &self.prev {
            Some(prev) if prev.len() == x.len() => {
                let ad = alpha(self.cfg.d_cutoff, dt);
                let mut out = Vec::with_capacity(x.len());
                for i in 0..x.len() {
                    let dx = (x[i] - prev[i]) / dt;
                    let dhat = ad * dx + (1.0 - ad) * self.dprev[i];
                    self.dprev[i] = dhat;
                    let a = alpha(self.cfg.min_cutoff + self.cfg.beta * dhat.abs(), dt);
                    out.push(a * x[i] + (1.0 - a) * prev[i]);
                }
                out
            }
            _ => {
                self.dprev = vec![0.0; x.len()];
                x
            }
        };
        self.prev = Some(out.clone());
        out.chunks(2).map(|c| [c[0] as f32, c[1] as f32]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With beta = 0 the filter is an exponential average with α = 1/(1 + τ/Δt):
    /// fc = 1 Hz, fps = 2π·… take fps = 1/(2π·0.25)… use numbers: τ = 1/(2π), Δt = 1/(2π) → α = 0.5.
    #[test]
    fn beta_zero_is_an_exponential_average() {
        let fps = 2.0 * std::f64::consts::PI; // Δt = 1/(2π) = τ for fc = 1 → α = 1/2
        let mut f = LandmarkSmoother::new(OneEuroConfig {
            min_cutoff: 1.0,
            beta: 0.0,
            d_cutoff: 1.0,
            fps,
        });
        assert_eq!(f.filter(&[[0.0, 0.0]]), vec![[0.0, 0.0]]);
        let y = f.filter(&[[10.0, -4.0]]);
        assert!(
            (y[0][0] - 5.0).abs() < 1e-5 && (y[0][1] + 2.0).abs() < 1e-5,
            "{y:?}"
        );
        let y = f.filter(&[[10.0, -4.0]]);
        assert!((y[0][0] - 7.5).abs() < 1e-5, "{y:?}");
    }

    #[test]
    fn reduces_jitter_and_follows_a_step() {
        let mut f = LandmarkSmoother::new(OneEuroConfig::default());
        // ±1 px alternating jitter around 100: the output varies much less.
        let outs: Vec<f32> = (0..60)
            .map(|i| f.filter(&[[100.0 + if i % 2 == 0 { 1.0 } else { -1.0 }, 0.0]])[0][0])
            .collect();
        let spread = outs[30..]
            .iter()
            .fold(0f32, |m, v| m.max((v - 100.0).abs()));
        assert!(spread < 0.5, "{spread}");
        // A 50 px jump is followed within a few frames thanks to the speed term.
        let mut last = 0.0;
        for _ in 0..10 {
            last = f.filter(&[[150.0, 0.0]])[0][0];
        }
        assert!((last - 150.0).abs() < 2.0, "{last}");
    }
}

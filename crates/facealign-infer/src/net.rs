//! The seam between inference and the tensor engines: a [`CropNet`] maps a batch of face crops to
//! landmarks in crop units. The pure-Rust runtime (tract) and the training runtime (libtorch, in
//! the `facealign` crate) both implement it, so prediction, refinement, evaluation and the photo
//! pipeline are written once.
use crate::error::Result;

/// A landmark network as inference sees it.
pub trait CropNet: Send {
    /// The runtime's name (`tract`, `torch`), for reports.
    fn runtime(&self) -> &'static str;

    /// Run `n` crops and return their landmarks.
    ///
    /// # Shapes
    /// `chw`: `[n, 3, S, S]` RGB in [0, 1], channel-major per crop (what
    /// `facealign_core::loader::to_chw` gives) → `[n, 2M]` crop_u (u = crop_px / S − 0.5),
    /// interleaved `x0, y0, x1, y1, …`.
    fn run(&self, chw: &[f32], n: usize) -> Result<Vec<f32>>;
}

impl<T: CropNet + ?Sized> CropNet for Box<T> {
    fn runtime(&self) -> &'static str {
        (**self).runtime()
    }
    fn run(&self, chw: &[f32], n: usize) -> Result<Vec<f32>> {
        (**self).run(chw, n)
    }
}

impl<T: CropNet + Sync + ?Sized> CropNet for &T {
    fn runtime(&self) -> &'static str {
        (**self).runtime()
    }
    fn run(&self, chw: &[f32], n: usize) -> Result<Vec<f32>> {
        (**self).run(chw, n)
    }
}

/// Mirror `n` channel-major crops of side `s` left to right (column x ↦ s − 1 − x).
///
/// # Shapes
/// `[n, 3, s, s]` → `[n, 3, s, s]`.
pub fn mirror_chw(chw: &[f32], s: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(chw.len());
    for row in chw.chunks(s.max(1)) {
        out.extend(row.iter().rev());
    }
    out
}

/// The largest `|a_i − b_i|` of two runtimes' outputs (crop_u): how their agreement is measured
/// (issue 17: within 1e-4 on the shipped models). Panics if the lengths differ.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "outputs of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_reverses_each_row_of_each_channel() {
        // One crop of side 2, three channels: rows [0,1],[2,3] | [4,5],[6,7] | [8,9],[10,11].
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let m = mirror_chw(&x, 2);
        assert_eq!(
            m,
            vec![1.0, 0.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0, 9.0, 8.0, 11.0, 10.0]
        );
        assert_eq!(mirror_chw(&m, 2), x);
    }

    #[test]
    fn max_abs_diff_is_the_largest_absolute_difference() {
        assert_eq!(max_abs_diff(&[1.0, -2.0, 3.0], &[1.5, -2.0, 0.5]), 2.5);
        assert_eq!(max_abs_diff(&[], &[]), 0.0);
    }
}

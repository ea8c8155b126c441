//! A light heatmap model for the STAR loss: MobileNetV2 encoder + U-Net-style bilinear decoder.
//!
//! Source of the idea: Zhou et al., "STAR Loss: Reducing Semantic Ambiguity in Facial Landmark
//! Detection", CVPR 2023 (arXiv 2306.02763), which trains 64×64 heatmaps (for 256 inputs) and reads
//! coordinates by soft-argmax of the heatmap normalised by its sum (`p = H / max(ΣH, 1e-6)`). The
//! authors use a 4-stack hourglass (13.37 M params, SPEC §3.2); **this model is our light substitute**,
//! not their network: MobileNetV2 `features.0..=17` (320 ch, stride 32) with skips from
//! `features.13` (96 ch, stride 16), `features.6` (32, 8) and `features.3` (24, 4); three decoder
//! stages `decoder.k` = bilinear upsampling to the skip's size → concat → 3×3 conv + BN + ReLU
//! (128, 96, 64 ch); a 1×1 conv `head` to M maps at stride 4 (S/4), optionally resized bilinearly
//! to `heatmap_size`; softplus (default) or ReLU keeps the maps non-negative. No AAM / edge maps.
//! `decoder = "separable"` replaces each stage's dense 3×3 conv by a depthwise 3×3 conv + BN + ReLU
//! (`decoder.k.dw`) and a 1×1 conv + BN + ReLU (`decoder.k.pw`), as MobileNet's blocks: at 96 px
//! the decoder falls from 77.0 M to 9.5 M multiply-adds (the encoder has ~55 M).
//!
//! Coordinates: heatmap cell j (0-based, of w cells) is centred at crop_px `(j + 0.5)·S/w − 0.5`
//! (pixel centres at integers, align_corners = false), and crop_u = crop_px / S − 0.5 (SPEC Decision
//! 1). With the expected cell `E[j]` this gives `u = (E[j] + 0.5)/w − 0.5/S − 0.5`; likewise for y.
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use super::blocks::{Act, Conv, ConvBnAct, ConvSpec};
use super::mobilenet_v2::{MobileNetV2Config, MobileNetV2Features};
use super::summary::Rec;
use super::ModelOutput;
use crate::{Error, Result};

/// Encoder layers used: skips at stride 4, 8, 16 and the stride-32 output.
const TAPS: [usize; 4] = [3, 6, 13, 17];
/// Decoder channels (stride 16, 8, 4).
const DECODER_CHANNELS: [i64; 3] = [128, 96, 64];

/// The non-negative output activation of the heatmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeatmapActivation {
    /// `ln(1 + eˣ)`: strictly positive, so the soft-argmax normalisation never divides by ~0.
    #[default]
    Softplus,
    /// `max(x, 0)`.
    Relu,
}

/// The convolutions of each decoder stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeatmapDecoder {
    /// One dense 3×3 conv + BN + ReLU (`decoder.k.0`, `decoder.k.1`).
    #[default]
    Dense,
    /// Depthwise 3×3 conv + BN + ReLU (`decoder.k.dw`), then 1×1 conv + BN + ReLU (`decoder.k.pw`).
    Separable,
}

/// Configuration of the heatmap model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeatmapConfig {
    /// Side of the heatmaps; `None` = S/4 (64 for S = 256).
    pub heatmap_size: Option<i64>,
    /// Output activation.
    pub activation: HeatmapActivation,
    /// Coordinates are the soft-argmax of `H^k / ΣH^k` with this k (an integer in 1..=16;
    /// default 1, STAR's decoder). Maps trained toward peak-1 Gaussians over a near-zero
    /// background (Adaptive Wing) need k > 1: with k = 1 the background's total mass pulls every
    /// point toward the crop centre. The heatmaps themselves (what heatmap losses see) are
    /// unchanged.
    pub decode_power: u32,
    /// The decoder stages' convolutions (dense by default; separable is ~8× cheaper).
    pub decoder: HeatmapDecoder,
}

impl Default for HeatmapConfig {
    fn default() -> Self {
        HeatmapConfig {
            heatmap_size: None,
            activation: HeatmapActivation::default(),
            decode_power: 1,
            decoder: HeatmapDecoder::default(),
        }
    }
}

impl HeatmapConfig {
    /// Builds the model at `p` (`features.*` as torchvision MobileNetV2, `decoder.k`, `head`).
    pub fn build(&self, p: nn::Path, n_points: i64) -> Result<HeatmapModel> {
        super::check_points(n_points)?;
        if let Some(h) = self.heatmap_size {
            if h < 1 {
                return Err(Error::invalid(
                    "heatmap.heatmap_size",
                    format!("must be ≥ 1, got {h}"),
                ));
            }
        }
        if !(1..=16).contains(&self.decode_power) {
            return Err(Error::invalid(
                "model.decode_power",
                format!("must be in 1..=16, got {}", self.decode_power),
            ));
        }
        let encoder = MobileNetV2Config::default().build_features(p.clone(), TAPS[3] + 1)?;
        let ch = encoder.channels();
        let skips = [ch[TAPS[2]], ch[TAPS[1]], ch[TAPS[0]]];
        let mut cin = ch[TAPS[3]];
        let dp = &p / "decoder";
        let mut decoder = Vec::new();
        for (k, (&skip, &cout)) in skips.iter().zip(DECODER_CHANNELS.iter()).enumerate() {
            let sp = &dp / k;
            decoder.push(match self.decoder {
                HeatmapDecoder::Dense => DecoderStage {
                    depthwise: None,
                    conv: ConvBnAct::new(sp, ConvSpec::dense(cin + skip, cout, 3, 1), Act::Relu),
                },
                HeatmapDecoder::Separable => DecoderStage {
                    depthwise: Some(ConvBnAct::new(
                        &sp / "dw",
                        ConvSpec::depthwise(cin + skip, 3, 1),
                        Act::Relu,
                    )),
                    conv: ConvBnAct::new(
                        &sp / "pw",
                        ConvSpec::pointwise(cin + skip, cout),
                        Act::Relu,
                    ),
                },
            });
            cin = cout;
        }
        let head = Conv::new(&p / "head", ConvSpec::pointwise(cin, n_points), true);
        Ok(HeatmapModel {
            encoder,
            decoder,
            head,
            heatmap_size: self.heatmap_size,
            activation: self.activation,
            decode_power: self.decode_power,
        })
    }
}

/// One decoder stage (see [`HeatmapDecoder`]): the separable stage's depthwise conv, if any, then
/// the stage's conv (dense 3×3, or the separable stage's 1×1).
#[derive(Debug)]
struct DecoderStage {
    depthwise: Option<ConvBnAct>,
    conv: ConvBnAct,
}

impl DecoderStage {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match &self.depthwise {
            None => self.conv.forward_t(xs, train),
            Some(dw) => self.conv.forward_t(&dw.forward_t(xs, train), train),
        }
    }
}

/// The heatmap model.
#[derive(Debug)]
pub struct HeatmapModel {
    encoder: MobileNetV2Features,
    decoder: Vec<DecoderStage>,
    head: Conv,
    heatmap_size: Option<i64>,
    activation: HeatmapActivation,
    decode_power: u32,
}

impl HeatmapModel {
    /// Heatmaps and their soft-argmax landmarks.
    ///
    /// # Shapes
    /// `xs`: `[N, 3, S, S]` RGB in [0, 1] → heatmaps `[N, M, h, w]` ≥ 0 with h = w = heatmap_size
    /// or ⌈S/4⌉, landmarks `[N, 2M]` crop_u interleaved.
    pub(crate) fn forward_rec(&self, xs: &Tensor, train: bool, mut rec: Rec) -> ModelOutput {
        let taps = self
            .encoder
            .forward_taps_rec(xs, train, &TAPS, rec.as_deref_mut(), "features");
        let mut h = taps[3].shallow_clone();
        for (k, dec) in self.decoder.iter().enumerate() {
            let skip = &taps[2 - k];
            let sz = skip.size();
            let up = h.upsample_bilinear2d([sz[2], sz[3]], false, None, None);
            h = dec.forward_t(&Tensor::cat(&[up, skip.shallow_clone()], 1), train);
            if let Some(r) = rec.as_deref_mut() {
                r.step(format!("decoder.{k}"), &h);
            }
        }
        if let Some(s) = self.heatmap_size {
            let sz = h.size();
            if sz[2] != s || sz[3] != s {
                h = h.upsample_bilinear2d([s, s], false, None, None);
            }
        }
        let logits = self.head.forward(&h);
        let hm = match self.activation {
            HeatmapActivation::Softplus => logits.softplus(),
            HeatmapActivation::Relu => logits.relu(),
        };
        if let Some(r) = rec {
            r.step("head", &hm);
        }
        let size = xs.size();
        let lm = if self.decode_power == 1 {
            soft_argmax_crop_u(&hm, (size[2], size[3]))
        } else {
            soft_argmax_crop_u(
                &hm.pow_tensor_scalar(i64::from(self.decode_power)),
                (size[2], size[3]),
            )
        };
        ModelOutput {
            landmarks: lm,
            heatmaps: Some(hm),
            pose: None,
        }
    }
}

/// The one soft-argmax of facealign (the model's decoding and STAR's means call it): each map
/// normalised by `max(ΣH, 1e-6)` (STAR's rule), then the expected cell indices `(E[j], E[i])`.
/// An all-zero map gives `p = 0` and `E = 0`.
///
/// # Shapes
/// `heatmaps`: `[N, M, h, w]` → `(p [N, M, h, w], E[j] [N, M], E[i] [N, M])`.
pub fn expected_cells(heatmaps: &Tensor) -> (Tensor, Tensor, Tensor) {
    let size = heatmaps.size();
    assert_eq!(size.len(), 4, "heatmaps must be [N, M, h, w], got {size:?}");
    let (h, w) = (size[2], size[3]);
    let kind = heatmaps.kind();
    let opts = (kind, heatmaps.device());
    let total = heatmaps
        .sum_dim_intlist([2i64, 3].as_slice(), true, kind)
        .clamp_min(HEATMAP_SUM_MIN);
    let p = heatmaps / total;
    let jx = Tensor::arange(w, opts).view([1, 1, w]);
    let iy = Tensor::arange(h, opts).view([1, 1, h]);
    let ex = (p.sum_dim_intlist([2i64].as_slice(), false, kind) * jx).sum_dim_intlist(
        [2i64].as_slice(),
        false,
        kind,
    );
    let ey = (p.sum_dim_intlist([3i64].as_slice(), false, kind) * iy).sum_dim_intlist(
        [2i64].as_slice(),
        false,
        kind,
    );
    (p, ex, ey)
}

/// The floor of a heatmap's sum before normalising (STAR authors' `max(ΣH, 1e-6)`).
pub const HEATMAP_SUM_MIN: f64 = 1e-6;

/// Soft-argmax of non-negative heatmaps, in crop_u units: [`expected_cells`], then the inverse of
/// `facealign_core::coords::crop_u_to_cell` per axis (crop_px `(E + 0.5)·S/w − 0.5`, then
/// `crop_px / S − 0.5`). `input_hw` is the model input size (S_h, S_w).
///
/// # Shapes
/// `heatmaps`: `[N, M, h, w]` → `[N, 2M]` interleaved `x0, y0, x1, …`.
pub fn soft_argmax_crop_u(heatmaps: &Tensor, input_hw: (i64, i64)) -> Tensor {
    let size = heatmaps.size();
    let (n, m, h, w) = (size[0], size[1], size[2], size[3]);
    let (_, ex, ey) = expected_cells(heatmaps);
    // Expected cells → crop_u (`facealign_core::coords`), per axis.
    let cell_to_u = |cells: i64, size: i64| {
        facealign_core::coords::crop_u_to_cell(size as f64, cells as f64).inverse()
    };
    let ux = crate::objective::apply_affine(&ex, cell_to_u(w, input_hw.1));
    let uy = crate::objective::apply_affine(&ey, cell_to_u(h, input_hw.0));
    Tensor::stack(&[ux, uy], 2)
        .view([n, 2 * m])
        .to_kind(Kind::Float)
}

/// crop_u → continuous heatmap cell coordinate (inverse of the soft-argmax mapping for one axis):
/// crop_px = (u + 0.5)·S, cell = (crop_px + 0.5)·w/S − 0.5. Useful to render target heatmaps.
pub fn heatmap_cell_from_crop_u(u: f64, input_size: i64, heatmap_size: i64) -> f64 {
    let s = input_size as f64;
    let px = (u + 0.5) * s;
    (px + 0.5) * heatmap_size as f64 / s - 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tch::Device;

    fn maps_and_points(out: ModelOutput) -> (Tensor, Tensor) {
        (
            out.heatmaps.expect("the heatmap model returns heatmaps"),
            out.landmarks,
        )
    }

    #[test]
    fn soft_argmax_of_a_peak_and_a_flat_map() {
        // One-hot at column j = 3, row i = 5 of a 16×16 map, S = 64 (4 px per cell):
        // x = 3.5·4 − 0.5 = 13.5 px → u = 13.5/64 − 0.5 = −0.2890625;
        // y = 5.5·4 − 0.5 = 21.5 px → u = 21.5/64 − 0.5 = −0.1640625.
        let hm = Tensor::zeros([1, 2, 16, 16], (Kind::Float, Device::Cpu));
        let _ = hm.get(0).get(0).get(5).get(3).fill_(2.0);
        // Map 2 flat: E[j] = 7.5 → x = 8·4 − 0.5 = 31.5 px (image centre) → u = −0.0078125.
        let _ = hm.get(0).get(1).fill_(0.3);
        let u = soft_argmax_crop_u(&hm, (64, 64));
        let got: Vec<f32> = Vec::try_from(u.view([-1])).unwrap();
        let want = [-0.289_062_5f32, -0.164_062_5, -0.007_812_5, -0.007_812_5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn model_shapes_at_64_and_112() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = HeatmapConfig::default().build(vs.root(), 68).unwrap();
        for s in [64i64, 112] {
            let x = Tensor::rand([1, 3, s, s], (Kind::Float, Device::Cpu));
            let (hm, lm) = maps_and_points(m.forward_rec(&x, false, None));
            assert_eq!(hm.size(), vec![1, 68, s / 4, s / 4]);
            assert_eq!(lm.size(), vec![1, 136]);
            assert!(hm.min().double_value(&[]) >= 0.0);
            // Soft-argmax stays inside the crop: |u| ≤ 0.5.
            assert!(lm.abs().max().double_value(&[]) <= 0.5);
        }
        // decode_power k: the landmarks are the soft-argmax of H^k, the heatmaps unchanged.
        let vs = nn::VarStore::new(Device::Cpu);
        let m = HeatmapConfig {
            decode_power: 3,
            ..HeatmapConfig::default()
        }
        .build(vs.root(), 4)
        .unwrap();
        let x = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu));
        let (hm, lm) = maps_and_points(m.forward_rec(&x, false, None));
        let want = soft_argmax_crop_u(&hm.pow_tensor_scalar(3), (32, 32));
        assert!((lm - &want).abs().max().double_value(&[]) < 1e-6);
        assert!(
            (want - soft_argmax_crop_u(&hm, (32, 32)))
                .abs()
                .max()
                .double_value(&[])
                > 1e-4,
            "k = 3 moves the decoded points"
        );
        let bad = HeatmapConfig {
            decode_power: 0,
            ..HeatmapConfig::default()
        };
        assert!(bad
            .build(nn::VarStore::new(Device::Cpu).root(), 4)
            .is_err_and(|e| e.to_string().contains("decode_power")));
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = HeatmapConfig {
            heatmap_size: Some(20),
            activation: HeatmapActivation::Relu,
            ..HeatmapConfig::default()
        };
        let m = cfg.build(vs.root(), 5).unwrap();
        let (hm, lm) = maps_and_points(m.forward_rec(
            &Tensor::rand([2, 3, 64, 64], (Kind::Float, Device::Cpu)),
            true,
            None,
        ));
        assert_eq!((hm.size(), lm.size()), (vec![2, 5, 20, 20], vec![2, 10]));
        assert!(hm.min().double_value(&[]) >= 0.0);
    }

    #[test]
    fn the_separable_decoder_has_depthwise_and_pointwise_stages() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = HeatmapConfig {
            decoder: HeatmapDecoder::Separable,
            ..HeatmapConfig::default()
        };
        let m = cfg.build(vs.root(), 68).unwrap();
        let vars = vs.variables();
        // Stage 0 sees 320 (upsampled stride 32) + 96 (features.13) channels; stage 2 sees
        // 96 + 24 (features.3) and writes 64.
        let shape = |k: &str| vars.get(k).map(Tensor::size);
        assert_eq!(shape("decoder.0.dw.0.weight"), Some(vec![416, 1, 3, 3]));
        assert_eq!(shape("decoder.0.pw.0.weight"), Some(vec![128, 416, 1, 1]));
        assert_eq!(shape("decoder.2.dw.1.running_mean"), Some(vec![120]));
        assert_eq!(shape("decoder.2.pw.0.weight"), Some(vec![64, 120, 1, 1]));
        assert_eq!(shape("decoder.0.0.weight"), None);
        let x = Tensor::rand([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let (hm, lm) = maps_and_points(m.forward_rec(&x, true, None));
        assert_eq!((hm.size(), lm.size()), (vec![2, 68, 16, 16], vec![2, 136]));
        assert!(hm.min().double_value(&[]) >= 0.0);
        // The decoder's multiply-adds at 96 px, by hand: per stage positions × (9·cin + cin·cout):
        // 36·(9·416 + 416·128) + 144·(9·160 + 160·96) + 576·(9·120 + 120·64) = 9,516,672 for the
        // separable decoder vs 36·9·416·128 + 144·9·160·96 + 576·9·120·64 = 76,972,032 dense.
        let macs = |decoder| {
            let cfg = super::super::ModelConfig::Heatmap(HeatmapConfig {
                decoder,
                ..HeatmapConfig::default()
            });
            super::super::summary::summary(&cfg, 96, 68)
                .unwrap()
                .mult_adds
        };
        let (dense, separable) = (macs(HeatmapDecoder::Dense), macs(HeatmapDecoder::Separable));
        assert_eq!(dense - separable, 76_972_032 - 9_516_672);
    }

    proptest! {
        #[test]
        fn peak_at_the_cell_of_u_decodes_to_u(ci in 0i64..16, cj in 0i64..16) {
            // Put a one-hot at cell (ci, cj); decode; map back with heatmap_cell_from_crop_u: same cell.
            let hm = Tensor::zeros([1, 1, 16, 16], (Kind::Float, Device::Cpu));
            let _ = hm.get(0).get(0).get(ci).get(cj).fill_(1.0);
            let u = soft_argmax_crop_u(&hm, (64, 64));
            let ux = u.double_value(&[0, 0]);
            let uy = u.double_value(&[0, 1]);
            prop_assert!((heatmap_cell_from_crop_u(ux, 64, 16) - cj as f64).abs() < 1e-5);
            prop_assert!((heatmap_cell_from_crop_u(uy, 64, 16) - ci as f64).abs() < 1e-5);
        }
    }
}

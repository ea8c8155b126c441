//! ASMNet: a truncated MobileNetV2 with multi-scale pooled features and landmark + pose heads.
//!
//! Source: Fard, Abdollahi & Mahoor, "ASMNet: a Lightweight Deep Neural Network for Face Alignment and
//! Pose Estimation", CVPRW (AMFG) 2021, arXiv 2103.00119; authors' `cnn_model.py` (SPEC §2.3).
//! The Keras model uses MobileNetV2 (α = 1) blocks `expanded_conv`, `block_1` … `block_15` and taps
//! `block_1_project_BN`, `block_3_project_BN`, `block_6_project_BN`, `block_10_project_BN`,
//! `block_13_project_BN`, `block_15_add`. Keras `block_k` is torchvision `features.{k+1}`
//! (`expanded_conv` = `features.1`), so the backbone here is `features.0 ..= features.16` and the taps
//! are `features.2` (24 ch, stride 4), `.4` (32, 8), `.7` (64, 16), `.11` (96, 16), `.14` (160, 32)
//! and `.16` (160, 32, after its residual add). Each tap → global average pooling → concatenation
//! (24+32+64+96+160+160 = 536) → dropout 0.3 → `landmarks` `Linear(536 → 2M)` and optional `pose`
//! `Linear(536 → 3)` (yaw, pitch, roll), both linear.
//!
//! Deviations: torchvision layout, padding and BN hyper-parameters (see `mobilenet_v2.rs`); the
//! authors' L2(0.01) kernel/bias regularisers belong in the optimiser / loss, not here. Parameter
//! count with 68 points and pose: 1,412,435 trainable; the paper's 1.43 M is matched by Keras' count,
//! which adds BN moving statistics (27,072 here) → 1,439,507.
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::Tensor;

use super::blocks::{global_avg_pool, Linear, HE_UNIFORM};
use super::mobilenet_v2::{MobileNetV2Config, MobileNetV2Features};
use super::summary::Rec;
use super::ModelOutput;
use crate::{Error, Result};

/// torchvision feature layers tapped by ASMNet (Keras block_1, 3, 6, 10, 13 project BN, block_15 add).
pub const ASMNET_TAPS: [usize; 6] = [2, 4, 7, 11, 14, 16];

/// Configuration of ASMNet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsmNetConfig {
    /// Build the pose head (yaw, pitch, roll).
    pub pose: bool,
    /// Dropout probability before the heads.
    pub dropout: f64,
}

impl Default for AsmNetConfig {
    fn default() -> Self {
        AsmNetConfig {
            pose: true,
            dropout: 0.3,
        }
    }
}

impl AsmNetConfig {
    /// Builds ASMNet at `p`: backbone `features.0..=16`, heads `landmarks` and (optional) `pose`.
    pub fn build(&self, p: nn::Path, n_points: i64) -> Result<AsmNet> {
        super::check_points(n_points)?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(
                "asmnet.dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        let features = MobileNetV2Config::default().build_features(p.clone(), 17)?;
        let dim: i64 = ASMNET_TAPS.iter().map(|&k| features.channels()[k]).sum();
        let landmarks = Linear::new(&p / "landmarks", dim, 2 * n_points, HE_UNIFORM);
        let pose = self
            .pose
            .then(|| Linear::new(&p / "pose", dim, 3, HE_UNIFORM));
        Ok(AsmNet {
            features,
            dropout: self.dropout,
            landmarks,
            pose,
        })
    }
}

/// ASMNet model.
#[derive(Debug)]
pub struct AsmNet {
    features: MobileNetV2Features,
    dropout: f64,
    landmarks: Linear,
    pose: Option<Linear>,
}

impl AsmNet {
    /// Landmarks and (if configured) pose.
    ///
    /// # Shapes
    /// `xs`: `[N, 3, S, S]` RGB in [0, 1] → landmarks `[N, 2M]` crop_u interleaved, pose `[N, 3]`
    /// or `None`.
    pub(crate) fn forward_rec(&self, xs: &Tensor, train: bool, mut rec: Rec) -> ModelOutput {
        let taps =
            self.features
                .forward_taps_rec(xs, train, &ASMNET_TAPS, rec.as_deref_mut(), "features");
        let pooled: Vec<Tensor> = taps.iter().map(global_avg_pool).collect();
        let h = Tensor::cat(&pooled, 1);
        if let Some(r) = rec.as_deref_mut() {
            r.step("pool_concat", &h);
        }
        let h = h.dropout(self.dropout, train);
        let lm = self.landmarks.forward(&h);
        if let Some(r) = rec.as_deref_mut() {
            r.step("landmarks", &lm);
        }
        let pose = self.pose.as_ref().map(|p| p.forward(&h));
        if let (Some(r), Some(pz)) = (rec, &pose) {
            r.step("pose", pz);
        }
        ModelOutput {
            landmarks: lm,
            heatmaps: None,
            pose,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn count_trainable(vs: &nn::VarStore) -> i64 {
        crate::model::count_trainable(vs, "")
    }

    #[test]
    fn taps_have_the_published_channels() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = AsmNetConfig::default().build(vs.root(), 68).unwrap();
        let ch: Vec<i64> = ASMNET_TAPS
            .iter()
            .map(|&k| m.features.channels()[k])
            .collect();
        let st: Vec<i64> = ASMNET_TAPS
            .iter()
            .map(|&k| m.features.strides()[k])
            .collect();
        // SPEC §2.3 at 224: 56×56×24, 28×28×32, 14×14×64, 14×14×96, 7×7×160, 7×7×160.
        assert_eq!(ch, vec![24, 32, 64, 96, 160, 160]);
        assert_eq!(st, vec![4, 8, 16, 16, 32, 32]);
        assert_eq!(m.features.len(), 17);
    }

    #[test]
    fn param_count_68_points_with_pose() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = AsmNetConfig::default().build(vs.root(), 68).unwrap();
        // Backbone = torchvision features (2,223,872) − features.18 (320·1280 + 2·1280 = 412,160)
        // − features.17 (expand 160·960 + 1,920; dw 960·9 + 1,920; project 960·320 + 640 = 473,920)
        // = 1,337,792. Heads: landmarks 536·136 + 136 = 73,032; pose 536·3 + 3 = 1,611.
        assert_eq!(count_trainable(&vs), 1_337_792 + 73_032 + 1_611);
        // Paper: 1.43 M (Keras count incl. BN moving stats); ours is within 1.5 %.
        let n = count_trainable(&vs) as f64;
        assert!((n - 1.43e6).abs() / 1.43e6 < 0.015);
    }

    #[test]
    fn forward_shapes_with_and_without_pose() {
        let x = Tensor::rand([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let vs = nn::VarStore::new(Device::Cpu);
        let m = AsmNetConfig::default().build(vs.root(), 68).unwrap();
        let ModelOutput {
            landmarks: lm,
            pose,
            ..
        } = m.forward_rec(&x, false, None);
        assert_eq!(lm.size(), vec![2, 136]);
        assert_eq!(pose.map(|p| p.size()), Some(vec![2, 3]));
        let vs = nn::VarStore::new(Device::Cpu);
        let m = AsmNetConfig {
            pose: false,
            dropout: 0.3,
        }
        .build(vs.root(), 5)
        .unwrap();
        let ModelOutput {
            landmarks: lm,
            pose,
            ..
        } = m.forward_rec(&x, true, None);
        assert_eq!(lm.size(), vec![2, 10]);
        assert!(pose.is_none());
    }
}

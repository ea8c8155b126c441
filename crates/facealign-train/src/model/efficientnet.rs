//! EfficientNet-B0 / B3 backbones and the direct-regression landmark model.
//!
//! Source: Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019 (arXiv 1905.11946):
//! MBConv blocks with squeeze-and-excitation (SE ratio 0.25 of the block input) and SiLU (swish),
//! B0 stage table (expand, kernel, stride, in, out, repeats), width / depth coefficients 1.0 / 1.0 (B0)
//! and 1.2 / 1.4 (B3), channels rounded with `_make_divisible(c·w, 8)`, repeats `⌈n·d⌉`, head conv to
//! 4× the last stage's channels, stochastic depth with a rate growing linearly over blocks (0.2 at
//! the end). Layout and variable names follow torchvision `models/efficientnet.py` (`features.0` stem,
//! `features.1..=7` stages, `features.8` head conv; `block.k` inside an MBConv), BN eps 1e-5 and
//! momentum 0.1 as torchvision B0–B4.
//!
//! Landmark head as in the ACR paper (authors' `cnn.py` on `efficientnet.tfkeras`, weights=None):
//! global average pooling → dropout 0.5 → `Linear(C → 2M)` with he_uniform init. Random init only
//! (no ImageNet weights are shipped). Deviations from the Keras model: symmetric "same" padding and
//! torchvision BN hyper-parameters.
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use super::blocks::{
    imagenet_normalize, make_divisible, module_t_via_forward_rec, pooled_head, Act, Bottleneck,
    Conv, ConvBnAct, ConvSpec, Linear, HE_UNIFORM,
};
use super::summary::Rec;
use crate::{Error, Result};

/// B0 stages: (expand ratio, kernel, stride, input channels, output channels, repeats).
pub const B0_STAGES: [(i64, i64, i64, i64, i64, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// Configuration of an EfficientNet regression model. Use [`EfficientNetConfig::b0`] or
/// [`EfficientNetConfig::b3`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficientNetConfig {
    /// Width coefficient (channel multiplier).
    pub width: f64,
    /// Depth coefficient (repeat multiplier).
    pub depth: f64,
    /// Dropout probability before the landmark head.
    pub dropout: f64,
    /// Final stochastic-depth drop rate (block b of B drops its residual branch with rate·b/B in
    /// training); 0 disables it.
    pub stochastic_depth: f64,
}

impl EfficientNetConfig {
    /// EfficientNet-B0 (width 1.0, depth 1.0), dropout 0.5, stochastic depth 0.2.
    pub fn b0() -> Self {
        EfficientNetConfig {
            width: 1.0,
            depth: 1.0,
            dropout: 0.5,
            stochastic_depth: 0.2,
        }
    }

    /// EfficientNet-B3 (width 1.2, depth 1.4), dropout 0.5, stochastic depth 0.2.
    pub fn b3() -> Self {
        EfficientNetConfig {
            width: 1.2,
            depth: 1.4,
            ..Self::b0()
        }
    }

    fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("efficientnet.width", self.width),
            ("efficientnet.depth", self.depth),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(what, format!("must be > 0, got {v}")));
            }
        }
        for (what, v) in [
            ("efficientnet.dropout", self.dropout),
            ("efficientnet.stochastic_depth", self.stochastic_depth),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::invalid(what, format!("must be in [0, 1), got {v}")));
            }
        }
        Ok(())
    }

    /// The headless backbone (`features.0..=8`) at `p`.
    pub fn build_features(&self, p: nn::Path) -> Result<EfficientNetFeatures> {
        self.validate()?;
        let f = &p / "features";
        let ch = |c: i64| make_divisible(c as f64 * self.width, 8);
        let reps = |n: usize| (n as f64 * self.depth).ceil() as usize;
        let total_blocks: usize = B0_STAGES.iter().map(|s| reps(s.5)).sum();
        let stem = ConvBnAct::new(
            &f / 0,
            ConvSpec::dense(3, ch(B0_STAGES[0].3), 3, 2),
            Act::Silu,
        );
        let mut stages = Vec::new();
        let mut block_id = 0;
        for (i, &(t, k, s, cin, cout, n)) in B0_STAGES.iter().enumerate() {
            let sp = &f / (i + 1);
            let mut blocks = Vec::new();
            for j in 0..reps(n) {
                let (bin, bs) = if j == 0 { (ch(cin), s) } else { (ch(cout), 1) };
                let sd = self.stochastic_depth * block_id as f64 / total_blocks as f64;
                blocks.push(MbConv::new(&sp / j, bin, ch(cout), k, bs, t, sd));
                block_id += 1;
            }
            stages.push(blocks);
        }
        let last = ch(B0_STAGES[6].4);
        let head = ConvBnAct::new(&f / 8, ConvSpec::pointwise(last, 4 * last), Act::Silu);
        Ok(EfficientNetFeatures {
            stem,
            stages,
            head,
            out_channels: 4 * last,
        })
    }

    /// The regression model: backbone → GAP → dropout → `head` `Linear(C → 2·n_points)`.
    pub fn build(&self, p: nn::Path, n_points: i64) -> Result<EfficientNet> {
        super::check_points(n_points)?;
        let features = self.build_features(p.clone())?;
        let head = Linear::new(&p / "head", features.out_channels, 2 * n_points, HE_UNIFORM);
        Ok(EfficientNet {
            features,
            dropout: self.dropout,
            head,
        })
    }
}

/// Squeeze-and-excitation: GAP → 1×1 conv `fc1` → SiLU → 1×1 conv `fc2` → sigmoid → scale.
#[derive(Debug)]
struct SqueezeExcitation {
    fc1: Conv,
    fc2: Conv,
}

impl SqueezeExcitation {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let s = xs.adaptive_avg_pool2d([1, 1]);
        let s = self.fc2.forward(&self.fc1.forward(&s).silu()).sigmoid();
        xs * s
    }
}

/// torchvision's `MBConv`: [1×1 expand] → k×k depthwise → SE → 1×1 project (+ stochastic-depth
/// residual when stride 1 and channels equal).
#[derive(Debug)]
pub struct MbConv {
    body: Bottleneck,
    se: SqueezeExcitation,
    use_res: bool,
    drop_rate: f64,
}

impl MbConv {
    fn new(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, t: i64, drop_rate: f64) -> Self {
        let b = &p / "block";
        let hidden = make_divisible((cin * t) as f64, 8);
        let mut i = 0;
        let expand = (hidden != cin).then(|| {
            i += 1;
            ConvBnAct::new(&b / 0, ConvSpec::pointwise(cin, hidden), Act::Silu)
        });
        let depthwise = ConvBnAct::new(&b / i, ConvSpec::depthwise(hidden, k, stride), Act::Silu);
        let squeeze = (cin / 4).max(1);
        let se_p = &b / (i + 1);
        let se = SqueezeExcitation {
            fc1: Conv::new(&se_p / "fc1", ConvSpec::pointwise(hidden, squeeze), true),
            fc2: Conv::new(&se_p / "fc2", ConvSpec::pointwise(squeeze, hidden), true),
        };
        let project = ConvBnAct::new(&b / (i + 2), ConvSpec::pointwise(hidden, cout), Act::Linear);
        MbConv {
            body: Bottleneck {
                expand,
                depthwise,
                project,
            },
            se,
            use_res: stride == 1 && cin == cout,
            drop_rate,
        }
    }
}

/// Stochastic depth, "row" mode: in training each sample's branch is kept with probability 1 − p
/// and scaled by 1/(1 − p).
fn stochastic_depth(xs: Tensor, p: f64, train: bool) -> Tensor {
    if !train || p <= 0.0 {
        return xs;
    }
    let keep = 1.0 - p;
    let n = xs.size()[0];
    let mask = Tensor::empty([n, 1, 1, 1], (Kind::Float, xs.device()))
        .bernoulli_float_(keep)
        .to_kind(xs.kind());
    xs * mask / keep
}

impl ModuleT for MbConv {
    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, ⌈H/s⌉, ⌈W/s⌉]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let h = self.body.forward_t(xs, train, |h| self.se.forward(&h));
        if self.use_res {
            stochastic_depth(h, self.drop_rate, train) + xs
        } else {
            h
        }
    }
}

/// The headless EfficientNet (ImageNet normalisation included).
#[derive(Debug)]
pub struct EfficientNetFeatures {
    stem: ConvBnAct,
    stages: Vec<Vec<MbConv>>,
    head: ConvBnAct,
    out_channels: i64,
}

impl EfficientNetFeatures {
    /// Channels of the output map (1280 for B0, 1536 for B3).
    pub fn out_channels(&self) -> i64 {
        self.out_channels
    }

    /// Number of MBConv blocks per stage.
    pub fn stage_depths(&self) -> Vec<usize> {
        self.stages.iter().map(Vec::len).collect()
    }

    pub(crate) fn forward_rec(&self, xs: &Tensor, train: bool, mut rec: Rec) -> Tensor {
        let mut h = self.stem.forward_t(&imagenet_normalize(xs), train);
        if let Some(r) = rec.as_deref_mut() {
            r.step("features.0", &h);
        }
        for (i, stage) in self.stages.iter().enumerate() {
            for b in stage {
                h = b.forward_t(&h, train);
            }
            if let Some(r) = rec.as_deref_mut() {
                r.step(format!("features.{}", i + 1), &h);
            }
        }
        let h = self.head.forward_t(&h, train);
        if let Some(r) = rec {
            r.step("features.8", &h);
        }
        h
    }
}

module_t_via_forward_rec!(
    EfficientNetFeatures,
    "`[N, 3, S, S]` RGB in [0, 1] → `[N, C, ⌈S/32⌉, ⌈S/32⌉]`."
);

/// EfficientNet regression model (ACR "efNb0" / "efNb3").
#[derive(Debug)]
pub struct EfficientNet {
    features: EfficientNetFeatures,
    dropout: f64,
    head: Linear,
}

impl EfficientNet {
    pub(crate) fn forward_rec(&self, xs: &Tensor, train: bool, mut rec: Rec) -> Tensor {
        let f = self.features.forward_rec(xs, train, rec.as_deref_mut());
        pooled_head(&f, self.dropout, &self.head, train, rec)
    }
}

module_t_via_forward_rec!(
    EfficientNet,
    "`[N, 3, S, S]` RGB in [0, 1] → `[N, 2M]` landmarks in crop_u, interleaved."
);

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    use crate::model::count_trainable;
    #[test]
    fn b0_backbone_params_match_torchvision() {
        // torchvision efficientnet_b0().features: 4,007,548 = 5,288,548 − (1280·1000 + 1000).
        let vs = nn::VarStore::new(Device::Cpu);
        let f = EfficientNetConfig::b0().build_features(vs.root()).unwrap();
        assert_eq!(count_trainable(&vs, "features."), 4_007_548);
        assert_eq!(f.stage_depths(), vec![1, 2, 2, 3, 3, 4, 1]);
        assert_eq!(f.out_channels(), 1280);
    }

    #[test]
    fn b3_backbone_params_match_torchvision() {
        // torchvision efficientnet_b3().features: 10,696,232 = 12,233,232 − (1536·1000 + 1000).
        // Depths ⌈n·1.4⌉: 1→2, 2→3, 2→3, 3→5, 3→5, 4→6, 1→2; last channels 4·make_divisible(384) = 1536.
        let vs = nn::VarStore::new(Device::Cpu);
        let f = EfficientNetConfig::b3().build_features(vs.root()).unwrap();
        assert_eq!(f.stage_depths(), vec![2, 3, 3, 5, 5, 6, 2]);
        assert_eq!(f.out_channels(), 1536);
        assert_eq!(count_trainable(&vs, "features."), 10_696_232);
    }

    #[test]
    fn b0_names_follow_torchvision() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = EfficientNetConfig::b0().build(vs.root(), 68).unwrap();
        let v = vs.variables();
        // Stage 1 has no expansion: block.0 depthwise, block.1 SE, block.2 projection.
        assert_eq!(v["features.1.0.block.0.0.weight"].size(), vec![32, 1, 3, 3]);
        assert_eq!(
            v["features.1.0.block.1.fc1.weight"].size(),
            vec![8, 32, 1, 1]
        );
        // Stage 2 block 0: expand 16 → 96, SE squeeze 16/4 = 4.
        assert_eq!(
            v["features.2.0.block.0.0.weight"].size(),
            vec![96, 16, 1, 1]
        );
        assert_eq!(
            v["features.2.0.block.2.fc1.weight"].size(),
            vec![4, 96, 1, 1]
        );
        assert_eq!(v["features.2.0.block.3.1.running_mean"].size(), vec![24]);
        assert_eq!(v["head.weight"].size(), vec![136, 1280]);
    }

    #[test]
    fn b0_forward_shapes_train_and_eval() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = EfficientNetConfig::b0().build(vs.root(), 68).unwrap();
        let x = Tensor::rand([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        assert_eq!(m.forward_t(&x, false).size(), vec![2, 136]);
        assert_eq!(m.forward_t(&x, true).size(), vec![2, 136]);
        assert_eq!(m.features.forward_t(&x, false).size(), vec![2, 1280, 2, 2]);
    }

    #[test]
    fn stochastic_depth_keeps_expectation() {
        tch::manual_seed(7);
        let x = Tensor::ones([4000, 1, 1, 1], (Kind::Float, Device::Cpu));
        // Eval: identity. Train with p = 0.25: entries are 0 or 1/0.75, mean ≈ 1.
        assert!(stochastic_depth(x.shallow_clone(), 0.25, false).equal(&x));
        let y = stochastic_depth(x, 0.25, true);
        let mean = y.mean(Kind::Float).double_value(&[]);
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        let zeros = y.eq(0.0).sum(Kind::Int64).int64_value(&[]) as f64 / 4000.0;
        assert!((zeros - 0.25).abs() < 0.03, "{zeros}");
    }

    #[test]
    fn invalid_config_is_error() {
        let vs = nn::VarStore::new(Device::Cpu);
        let bad = EfficientNetConfig {
            stochastic_depth: 1.5,
            ..EfficientNetConfig::b0()
        };
        assert!(bad.build(vs.root(), 68).is_err());
    }
}

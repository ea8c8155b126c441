//! Building blocks shared by the networks: conv + batch-norm + activation with torchvision's variable
//! names, linear layers, ImageNet normalisation and the multiply-accumulate (MAC) counter used by
//! [`super::summary`].
//!
//! Layout and defaults follow torchvision's `Conv2dNormActivation` (conv without bias at `{p}.0`,
//! `BatchNorm2d` at `{p}.1`, eps 1e-5, momentum 0.1, weight 1 and bias 0 at init).
use std::cell::Cell;

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use super::summary::Rec;

/// ImageNet channel means (RGB, inputs in [0, 1]).
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB, inputs in [0, 1]).
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// `(x − mean) / std` per channel: the first op of every model.
///
/// # Shapes
/// `xs`: `[N, 3, H, W]` RGB in [0, 1] → `[N, 3, H, W]`.
pub fn imagenet_normalize(xs: &Tensor) -> Tensor {
    let opts = (xs.kind(), xs.device());
    let mean = Tensor::from_slice(&IMAGENET_MEAN)
        .to_kind(opts.0)
        .to_device(opts.1)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&IMAGENET_STD)
        .to_kind(opts.0)
        .to_device(opts.1)
        .view([1, 3, 1, 1]);
    (xs - mean) / std
}

/// The activation after a conv + BN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// No activation (projection convs).
    Linear,
    /// `min(max(x, 0), 6)` (MobileNetV2).
    Relu6,
    /// `x·σ(x)` (EfficientNet).
    Silu,
    /// `max(x, 0)` (heatmap decoder).
    Relu,
}

impl Act {
    /// ReLU and ReLU6 run in place on the conv + BN output (as torchvision's `inplace=True`): no
    /// new activation buffer per layer, which matters at 224 px where each one is megabytes of
    /// first-touched memory. Autograd allows it: BN's backward does not need its output, and the
    /// backward of `relu_`/`hardtanh_` uses their own result. SiLU's backward needs its input, so
    /// it stays out of place.
    pub(crate) fn apply(self, mut xs: Tensor) -> Tensor {
        match self {
            Act::Linear => xs,
            Act::Relu6 => xs.relu6_(),
            Act::Silu => xs.silu(),
            Act::Relu => xs.relu_(),
        }
    }
}

/// torchvision's conv init: Kaiming normal, fan-out, ReLU gain.
pub(crate) const CONV_INIT: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Normal,
    fan: nn::init::FanInOut::FanOut,
    non_linearity: nn::init::NonLinearity::ReLU,
};

/// He-uniform (Keras `he_uniform`: U(±√(6/fan_in))), the authors' init for the dense heads.
pub(crate) const HE_UNIFORM: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Uniform,
    fan: nn::init::FanInOut::FanIn,
    non_linearity: nn::init::NonLinearity::ReLU,
};

/// The shape of a 2-D convolution: channels in and out, kernel side, stride, groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvSpec {
    pub cin: i64,
    pub cout: i64,
    pub k: i64,
    pub stride: i64,
    pub groups: i64,
}

impl ConvSpec {
    /// A dense `k×k` conv (every input channel to every output channel).
    pub(crate) fn dense(cin: i64, cout: i64, k: i64, stride: i64) -> Self {
        ConvSpec {
            cin,
            cout,
            k,
            stride,
            groups: 1,
        }
    }

    /// A 1×1 conv, stride 1 (expansion, projection, squeeze-excitation, heads).
    pub(crate) fn pointwise(cin: i64, cout: i64) -> Self {
        Self::dense(cin, cout, 1, 1)
    }

    /// A depthwise `k×k` conv over `c` channels (one group per channel).
    pub(crate) fn depthwise(c: i64, k: i64, stride: i64) -> Self {
        ConvSpec {
            groups: c,
            ..Self::dense(c, c, k, stride)
        }
    }
}

/// A 2-D convolution that reports its MACs to the counter.
#[derive(Debug)]
pub(crate) struct Conv(nn::Conv2D);

impl Conv {
    /// `spec` with "same" padding `(k−1)/2`, at path `p` (variables `p.weight`, `p.bias`).
    pub(crate) fn new(p: nn::Path, spec: ConvSpec, bias: bool) -> Self {
        let cfg = nn::ConvConfig {
            stride: spec.stride,
            padding: (spec.k - 1) / 2,
            groups: spec.groups,
            bias,
            ws_init: CONV_INIT,
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        Conv(nn::conv2d(p, spec.cin, spec.cout, spec.k, cfg))
    }
}

impl Module for Conv {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let ys = self.0.forward(xs);
        macs::record_conv(&self.0.ws, &ys);
        ys
    }
}

/// A fully connected layer that reports its MACs to the counter.
#[derive(Debug)]
pub(crate) struct Linear(nn::Linear);

impl Linear {
    /// `Linear(cin → cout)` at path `p` (variables `p.weight` `[cout, cin]`, `p.bias`).
    pub(crate) fn new(p: nn::Path, cin: i64, cout: i64, init: nn::Init) -> Self {
        let cfg = nn::LinearConfig {
            ws_init: init,
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        };
        Linear(nn::linear(p, cin, cout, cfg))
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let ys = self.0.forward(xs);
        macs::record_linear(&self.0.ws);
        ys
    }
}

/// torchvision's `BatchNorm2d` defaults.
pub(crate) fn batch_norm(p: nn::Path, c: i64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        eps: 1e-5,
        momentum: 0.1,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, c, cfg)
}

/// Conv (no bias) `{p}.0` → BatchNorm `{p}.1` → activation (torchvision `Conv2dNormActivation`).
#[derive(Debug)]
pub(crate) struct ConvBnAct {
    conv: Conv,
    bn: nn::BatchNorm,
    act: Act,
}

impl ConvBnAct {
    /// Conv at `{p}.0`, batch norm at `{p}.1`.
    pub(crate) fn new(p: nn::Path, spec: ConvSpec, act: Act) -> Self {
        Self::at(&p / "0", &p / "1", spec, act)
    }

    /// Conv at `conv`, batch norm at `bn` (torchvision's `InvertedResidual` keeps its projection's
    /// two as siblings, `conv.{i}` and `conv.{i+1}`).
    pub(crate) fn at(conv: nn::Path, bn: nn::Path, spec: ConvSpec, act: Act) -> Self {
        ConvBnAct {
            conv: Conv::new(conv, spec, false),
            bn: batch_norm(bn, spec.cout),
            act,
        }
    }
}

impl ModuleT for ConvBnAct {
    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, ⌈H/stride⌉, ⌈W/stride⌉]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.act
            .apply(self.bn.forward_t(&self.conv.forward(xs), train))
    }
}

/// The inverted bottleneck of MobileNetV2's `InvertedResidual` and EfficientNet's `MBConv`:
/// optional 1×1 expansion, k×k depthwise conv, a block-specific middle (identity or
/// squeeze-and-excitation), 1×1 linear projection. The residual is the block's.
#[derive(Debug)]
pub(crate) struct Bottleneck {
    pub expand: Option<ConvBnAct>,
    pub depthwise: ConvBnAct,
    pub project: ConvBnAct,
}

impl Bottleneck {
    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, ⌈H/s⌉, ⌈W/s⌉]`.
    pub(crate) fn forward_t(
        &self,
        xs: &Tensor,
        train: bool,
        middle: impl FnOnce(Tensor) -> Tensor,
    ) -> Tensor {
        let h = match &self.expand {
            Some(e) => e.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        let h = middle(self.depthwise.forward_t(&h, train));
        self.project.forward_t(&h, train)
    }
}

/// Global average pooling.
///
/// # Shapes
/// `[N, C, H, W]` → `[N, C]`.
pub(crate) fn global_avg_pool(xs: &Tensor) -> Tensor {
    xs.mean_dim([2i64, 3].as_slice(), false, xs.kind())
}

/// The regression head of MobileNetV2 and EfficientNet: global average pooling of the last
/// feature map, dropout, then `head`; records `pool` and `head`.
///
/// # Shapes
/// `features`: `[N, C, H, W]` → `[N, 2M]`.
pub(crate) fn pooled_head(
    features: &Tensor,
    dropout: f64,
    head: &Linear,
    train: bool,
    mut rec: Rec,
) -> Tensor {
    let pooled = global_avg_pool(features);
    if let Some(r) = rec.as_deref_mut() {
        r.step("pool", &pooled);
    }
    let y = head.forward(&pooled.dropout(dropout, train));
    if let Some(r) = rec {
        r.step("head", &y);
    }
    y
}

/// `ModuleT` for a network whose `forward_rec(xs, train, rec)` returns one tensor: `forward_t`
/// is `forward_rec` without a recorder.
macro_rules! module_t_via_forward_rec {
    ($ty:ty, $shapes:literal) => {
        impl tch::nn::ModuleT for $ty {
            #[doc = "# Shapes"]
            #[doc = $shapes]
            fn forward_t(&self, xs: &tch::Tensor, train: bool) -> tch::Tensor {
                self.forward_rec(xs, train, None)
            }
        }
    };
}
pub(crate) use module_t_via_forward_rec;

/// torchvision's `_make_divisible`: round `v` to the nearest multiple of `divisor` (at least
/// `divisor`), never going more than 10 % below `v`.
pub fn make_divisible(v: f64, divisor: i64) -> i64 {
    let d = divisor as f64;
    let mut new_v = divisor.max(((v + d / 2.0) / d).floor() as i64 * divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// Counting multiply-accumulates of conv and linear layers during one forward pass.
///
/// Counted per sample (batch size ignored): conv `H_out·W_out·C_out·(C_in/groups)·k_h·k_w`, linear
/// `in·out`. Not counted: biases, batch-norm, activations, pooling, residual additions, SE products,
/// upsampling, normalisation and soft-argmax.
pub(crate) mod macs {
    use super::{Cell, Tensor};

    thread_local! {
        static COUNTER: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// Start counting on this thread (resets to 0).
    pub(crate) fn start() {
        COUNTER.with(|c| c.set(Some(0)));
    }

    /// MACs counted since [`start`] (0 when not counting).
    pub(crate) fn get() -> u64 {
        COUNTER.with(|c| c.get().unwrap_or(0))
    }

    /// Stop counting and return the total.
    pub(crate) fn stop() -> u64 {
        COUNTER.with(|c| c.take().unwrap_or(0))
    }

    fn add(n: u64) {
        COUNTER.with(|c| {
            if let Some(v) = c.get() {
                c.set(Some(v + n));
            }
        });
    }

    pub(crate) fn record_conv(weight: &Tensor, output: &Tensor) {
        if COUNTER.with(|c| c.get().is_none()) {
            return;
        }
        let w = weight.size(); // [C_out, C_in/groups, k_h, k_w]
        let y = output.size(); // [N, C_out, H_out, W_out]
        let n: i64 = w.iter().product::<i64>() * y[2] * y[3];
        add(n as u64);
    }

    pub(crate) fn record_linear(weight: &Tensor) {
        if COUNTER.with(|c| c.get().is_none()) {
            return;
        }
        add(weight.size().iter().product::<i64>() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_torchvision() {
        // 32·1.0 = 32 → 32; 16·0.75 = 12 → (12+4)//8·8 = 16; 24·0.35 = 8.4 → (8.4+4)//8·8 = 8;
        // 1280·1.4 = 1792 → 1792; 40·1.2 = 48 → 48; 112·1.2 = 134.4 → (138.4)//8·8 = 136;
        // 3·1 → max(8, 0) = 8; 92·1 → (96)//8·8 = 96.
        for (v, want) in [
            (32.0, 32),
            (12.0, 16),
            (8.4, 8),
            (1792.0, 1792),
            (48.0, 48),
            (134.4, 136),
            (3.0, 8),
            (92.0, 96),
        ] {
            assert_eq!(make_divisible(v, 8), want, "v = {v}");
        }
        // The 10 % rule: v = 23, divisor 16: (23+8)//16·16 = 16 < 0.9·23 = 20.7 → 16 + 16 = 32.
        assert_eq!(make_divisible(23.0, 16), 32);
    }

    #[test]
    fn imagenet_normalize_per_channel() {
        // A constant image 0.485/0.456/0.406 normalises to 0; 1.0 in channel 0 → (1−0.485)/0.229 = 2.2489.
        let x = Tensor::from_slice(&[0.485f32, 0.456, 0.406]).view([1, 3, 1, 1]);
        let y = imagenet_normalize(&x);
        assert!(y.abs().max().double_value(&[]) < 1e-6);
        let x = Tensor::ones([1, 3, 1, 1], (tch::Kind::Float, tch::Device::Cpu));
        let y = imagenet_normalize(&x);
        assert!((y.double_value(&[0, 0, 0, 0]) - 2.248_908).abs() < 1e-5);
    }

    #[test]
    fn mac_counter_counts_conv_and_linear() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let conv = Conv::new(
            vs.root() / "c",
            ConvSpec {
                groups: 2,
                ..ConvSpec::dense(4, 6, 3, 2)
            },
            false,
        );
        let lin = Linear::new(vs.root() / "l", 5, 7, HE_UNIFORM);
        macs::start();
        let y = conv.forward(&Tensor::zeros(
            [2, 4, 8, 8],
            (tch::Kind::Float, tch::Device::Cpu),
        ));
        // stride 2, pad 1 on 8×8 → 4×4; weight [6, 4/2, 3, 3] = 108 → 108·16 = 1728 (batch ignored).
        assert_eq!(y.size(), vec![2, 6, 4, 4]);
        assert_eq!(macs::get(), 1728);
        let _ = lin.forward(&Tensor::zeros([3, 5], (tch::Kind::Float, tch::Device::Cpu)));
        // + 5·7 = 35
        assert_eq!(macs::stop(), 1763);
        // Not counting any more.
        let _ = lin.forward(&Tensor::zeros([3, 5], (tch::Kind::Float, tch::Device::Cpu)));
        assert_eq!(macs::get(), 0);
    }
}

//! MobileNetV2 backbone and the direct-regression landmark model.
//!
//! Source: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
//! (arXiv 1801.04381), as implemented by torchvision `models/mobilenetv2.py` (inverted-residual table
//! t, c, n, s; ReLU6; BN eps 1e-5, momentum 0.1; `_make_divisible` channel rounding). Every variable
//! has the name of torchvision's `mobilenet_v2` state_dict (`features.0.0.weight`,
//! `features.1.conv.0.0.weight`, …), so ImageNet weights load by name with [`load_imagenet`].
//!
//! Landmark head as in the ACR / ASMNet papers (authors' `cnn.py`): global average pooling of the
//! 1280-d features → dropout (0.1) → `Linear(1280 → 2M)`, linear output in crop_u units.
//! Deviations from the authors' Keras model: PyTorch symmetric "same" padding instead of Keras'
//! asymmetric stride-2 padding, and torchvision's BN eps / momentum (Keras uses 1e-3 / 0.999).
//! The ImageNet normalisation (mean/std) is the backbone's first op; inputs are RGB in [0, 1].
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::blocks::{
    imagenet_normalize, make_divisible, module_t_via_forward_rec, pooled_head, Act, Bottleneck,
    ConvBnAct, ConvSpec, Linear, HE_UNIFORM,
};
use super::summary::Rec;
use crate::{Error, Result};

/// The inverted-residual table of the paper (Table 2), shared with the pure-Rust runtime.
pub use facealign_infer::graph::MNV2_SETTING as INVERTED_RESIDUAL_SETTING;

/// Number of torchvision feature layers: stem `features.0`, 17 blocks, last 1×1 conv `features.18`.
pub const N_FEATURE_LAYERS: usize = 19;

/// Configuration of the MobileNetV2 regression model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MobileNetV2Config {
    /// Width multiplier α (channels × α rounded to multiples of 8).
    pub width: f64,
    /// Dropout probability before the landmark head.
    pub dropout: f64,
}

impl Default for MobileNetV2Config {
    fn default() -> Self {
        MobileNetV2Config {
            width: 1.0,
            dropout: 0.1,
        }
    }
}

impl MobileNetV2Config {
    fn validate(&self) -> Result<()> {
        if !(self.width.is_finite() && self.width > 0.0) {
            return Err(Error::invalid(
                "mobilenet_v2.width",
                format!("must be > 0, got {}", self.width),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(
                "mobilenet_v2.dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        Ok(())
    }

    /// The headless backbone: torchvision's `features.0 ..= features.{n_layers − 1}` at `p`.
    /// `n_layers = 19` is the full backbone (1280 channels, stride 32).
    pub fn build_features(&self, p: nn::Path, n_layers: usize) -> Result<MobileNetV2Features> {
        self.validate()?;
        if !(1..=N_FEATURE_LAYERS).contains(&n_layers) {
            return Err(Error::invalid(
                "mobilenet_v2 feature layers",
                format!("must be in 1..=19, got {n_layers}"),
            ));
        }
        let f = &p / "features";
        let mut cin = make_divisible(32.0 * self.width, 8);
        let mut layers = vec![FeatureLayer::Conv(ConvBnAct::new(
            &f / 0,
            ConvSpec::dense(3, cin, 3, 2),
            Act::Relu6,
        ))];
        let mut channels = vec![cin];
        let mut strides = vec![2];
        let mut stride = 2;
        'outer: for &(t, c, n, s) in &INVERTED_RESIDUAL_SETTING {
            let (t, c, s) = (t as i64, c as i64, s as i64);
            let cout = make_divisible(c as f64 * self.width, 8);
            for i in 0..n {
                if layers.len() == n_layers {
                    break 'outer;
                }
                let st = if i == 0 { s } else { 1 };
                let k = layers.len();
                let block = InvertedResidual::new(&f / k, cin, cout, st, t);
                layers.push(FeatureLayer::Block(block));
                stride *= st;
                channels.push(cout);
                strides.push(stride);
                cin = cout;
            }
        }
        if layers.len() < n_layers {
            let last = make_divisible(1280.0 * self.width.max(1.0), 8);
            layers.push(FeatureLayer::Conv(ConvBnAct::new(
                &f / 18,
                ConvSpec::pointwise(cin, last),
                Act::Relu6,
            )));
            channels.push(last);
            strides.push(stride);
        }
        Ok(MobileNetV2Features {
            layers,
            channels,
            strides,
        })
    }

    /// The regression model: full backbone → GAP → dropout → `head` `Linear(1280 → 2·n_points)`.
    pub fn build(&self, p: nn::Path, n_points: i64) -> Result<MobileNetV2> {
        super::check_points(n_points)?;
        let features = self.build_features(p.clone(), N_FEATURE_LAYERS)?;
        let head = Linear::new(
            &p / "head",
            features.out_channels(),
            2 * n_points,
            HE_UNIFORM,
        );
        Ok(MobileNetV2 {
            features,
            dropout: self.dropout,
            head,
        })
    }
}

/// torchvision's `InvertedResidual`: optional 1×1 expansion (`conv.0`), 3×3 depthwise, 1×1 linear
/// projection + BN; residual when stride 1 and channels are equal.
#[derive(Debug)]
pub struct InvertedResidual {
    body: Bottleneck,
    use_res: bool,
}

impl InvertedResidual {
    fn new(p: nn::Path, cin: i64, cout: i64, stride: i64, t: i64) -> Self {
        let conv = &p / "conv";
        let hidden = cin * t;
        let (expand, i) = if t != 1 {
            (
                Some(ConvBnAct::new(
                    &conv / 0,
                    ConvSpec::pointwise(cin, hidden),
                    Act::Relu6,
                )),
                1,
            )
        } else {
            (None, 0)
        };
        let project = ConvSpec::pointwise(hidden, cout);
        InvertedResidual {
            body: Bottleneck {
                expand,
                depthwise: ConvBnAct::new(
                    &conv / i,
                    ConvSpec::depthwise(hidden, 3, stride),
                    Act::Relu6,
                ),
                project: ConvBnAct::at(&conv / (i + 1), &conv / (i + 2), project, Act::Linear),
            },
            use_res: stride == 1 && cin == cout,
        }
    }
}

impl ModuleT for InvertedResidual {
    /// # Shapes
    /// `[N, cin, H, W]` → `[N, cout, ⌈H/s⌉, ⌈W/s⌉]`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let h = self.body.forward_t(xs, train, |h| h);
        if self.use_res {
            h + xs
        } else {
            h
        }
    }
}

/// One `features.k` layer (a handful per model, so the size difference of the variants is moot).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum FeatureLayer {
    Conv(ConvBnAct),
    Block(InvertedResidual),
}

impl FeatureLayer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            FeatureLayer::Conv(c) => c.forward_t(xs, train),
            FeatureLayer::Block(b) => b.forward_t(xs, train),
        }
    }
}

/// The headless MobileNetV2 (torchvision `features[0..n]`), ImageNet normalisation included.
#[derive(Debug)]
pub struct MobileNetV2Features {
    layers: Vec<FeatureLayer>,
    channels: Vec<i64>,
    strides: Vec<i64>,
}

impl MobileNetV2Features {
    /// Number of feature layers built.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Always false (at least the stem is built).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Output channels of each layer `features.k`.
    pub fn channels(&self) -> &[i64] {
        &self.channels
    }

    /// Total stride of each layer's output relative to the input.
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }

    /// Channels of the last layer.
    pub fn out_channels(&self) -> i64 {
        *self
            .channels
            .last()
            .expect("a backbone has at least the stem layer")
    }

    /// Runs the backbone and returns the outputs of the layers listed in `taps` (indices `k` of
    /// `features.k`, increasing), stopping after the last tap.
    ///
    /// # Shapes
    /// `xs`: `[N, 3, S, S]` RGB in [0, 1] → one `[N, channels[k], S/strides[k], …]` per tap
    /// (sizes rounded up at each stride-2 layer).
    pub fn forward_taps(&self, xs: &Tensor, train: bool, taps: &[usize]) -> Vec<Tensor> {
        self.forward_taps_rec(xs, train, taps, None, "features")
    }

    pub(crate) fn forward_taps_rec(
        &self,
        xs: &Tensor,
        train: bool,
        taps: &[usize],
        mut rec: Rec,
        name: &str,
    ) -> Vec<Tensor> {
        let last = taps
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .min(self.layers.len() - 1);
        let mut out = Vec::with_capacity(taps.len());
        let mut h = imagenet_normalize(xs);
        for (k, layer) in self.layers.iter().enumerate().take(last + 1) {
            h = layer.forward_t(&h, train);
            if let Some(r) = rec.as_deref_mut() {
                r.step(format!("{name}.{k}"), &h);
            }
            if taps.contains(&k) {
                out.push(h.shallow_clone());
            }
        }
        out
    }
}

impl ModuleT for MobileNetV2Features {
    /// # Shapes
    /// `[N, 3, S, S]` RGB in [0, 1] → `[N, C, S/32, S/32]` (C = 1280 for the full width-1 backbone).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let last = self.layers.len() - 1;
        self.forward_taps(xs, train, &[last])
            .pop()
            .expect("the last layer is always tapped")
    }
}

/// MobileNetV2 regression model (ACR / ASMNet "mnv2" baseline).
#[derive(Debug)]
pub struct MobileNetV2 {
    features: MobileNetV2Features,
    dropout: f64,
    head: Linear,
}

impl MobileNetV2 {
    pub(crate) fn forward_rec(&self, xs: &Tensor, train: bool, mut rec: Rec) -> Tensor {
        let f = self.features.forward_taps_rec(
            xs,
            train,
            &[self.features.len() - 1],
            rec.as_deref_mut(),
            "features",
        );
        pooled_head(&f[0], self.dropout, &self.head, train, rec)
    }
}

module_t_via_forward_rec!(
    MobileNetV2,
    "`[N, 3, S, S]` RGB in [0, 1] → `[N, 2M]` landmarks in crop_u, interleaved `x0, y0, x1, …`."
);

/// What [`load_imagenet`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagenetLoad {
    /// Number of tensors copied into the model.
    pub loaded: usize,
    /// File tensors not used: `classifier.*` and layers beyond a truncated backbone.
    pub skipped: Vec<String>,
}

/// Copies torchvision MobileNetV2 ImageNet weights (a safetensors file written by
/// `scripts/convert_mobilenet_v2.py`) into the backbone variables `{prefix}features.*` of `vs`.
///
/// `classifier.*` is skipped, as are `features.k.*` for layers the model does not have (ASMNet and the
/// heatmap encoder truncate the backbone). Every backbone variable (incl. BN running statistics) must
/// be in the file with the same shape; a missing name, an unexpected `features.*` name inside the
/// built range or a shape mismatch is an error naming the file and the tensor.
pub fn load_imagenet(vs: &nn::VarStore, prefix: &str, file: &Path) -> Result<ImagenetLoad> {
    if !file.is_file() {
        return Err(Error::io(
            file,
            std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
        ));
    }
    let tensors = Tensor::read_safetensors(file)
        .map_err(|e| Error::parse(file, "safetensors", e.to_string()))?;
    let vars: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .filter(|s| s.starts_with("features."))
                .map(|s| (s.to_string(), v))
        })
        .collect();
    if vars.is_empty() {
        return Err(Error::invalid(
            "imagenet weights",
            format!("no variables `{prefix}features.*` in the var store"),
        ));
    }
    let layer_of = |name: &str| name.split('.').nth(1).and_then(|s| s.parse::<usize>().ok());
    let max_layer = vars.keys().filter_map(|k| layer_of(k)).max().unwrap_or(0);
    let mut seen = BTreeSet::new();
    let mut skipped = Vec::new();
    for (name, src) in &tensors {
        if name.starts_with("classifier.") || name.ends_with("num_batches_tracked") {
            skipped.push(name.clone());
            continue;
        }
        match vars.get(name) {
            Some(dst) => {
                if dst.size() != src.size() {
                    return Err(Error::parse(
                        file,
                        format!("tensor `{name}`"),
                        format!(
                            "shape {:?} in the file, {:?} in the model (width multiplier ≠ 1?)",
                            src.size(),
                            dst.size()
                        ),
                    ));
                }
                let mut dst = dst.shallow_clone();
                tch::no_grad(|| dst.copy_(&src.to_kind(dst.kind()).to_device(dst.device())));
                seen.insert(name.as_str());
            }
            None if name.starts_with("features.")
                && layer_of(name).is_some_and(|k| k > max_layer) =>
            {
                skipped.push(name.clone())
            }
            None => {
                return Err(Error::parse(
                    file,
                    format!("tensor `{name}`"),
                    "unexpected: the model has no such variable",
                ))
            }
        }
    }
    let mut missing: Vec<&String> = vars.keys().filter(|k| !seen.contains(k.as_str())).collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(Error::parse(
            file,
            format!("tensor `{}`", missing[0]),
            format!("missing from the file ({} missing in all)", missing.len()),
        ));
    }
    skipped.sort();
    Ok(ImagenetLoad {
        loaded: seen.len(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    use crate::model::count_trainable;
    #[test]
    fn backbone_params_match_torchvision() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = MobileNetV2Config::default()
            .build_features(vs.root(), N_FEATURE_LAYERS)
            .unwrap();
        // torchvision mobilenet_v2().features: 2,223,872 parameters (published, and the converter
        // script asserts it on the real state_dict).
        assert_eq!(count_trainable(&vs, "features."), 2_223_872);
        assert_eq!(
            f.channels(),
            &[32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320, 1280]
        );
        assert_eq!(
            f.strides(),
            &[2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32]
        );
    }

    #[test]
    fn full_model_params_with_imagenet_classifier_size() {
        // Our model with 500 points has head Linear(1280 → 1000): exactly torchvision's classifier,
        // so the total is torchvision's published 3,504,872 = 2,223,872 + 1280·1000 + 1000.
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = MobileNetV2Config::default().build(vs.root(), 500).unwrap();
        assert_eq!(count_trainable(&vs, ""), 3_504_872);
    }

    #[test]
    fn variable_names_follow_torchvision() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = MobileNetV2Config::default()
            .build(vs.root() / "net", 68)
            .unwrap();
        let vars = vs.variables();
        for name in [
            "net.features.0.0.weight",
            "net.features.0.1.running_var",
            "net.features.1.conv.0.0.weight", // t = 1: depthwise first
            "net.features.1.conv.1.weight",
            "net.features.1.conv.2.bias",
            "net.features.2.conv.0.0.weight", // t = 6: expansion first
            "net.features.2.conv.3.running_mean",
            "net.features.18.1.weight",
            "net.head.weight",
        ] {
            assert!(vars.contains_key(name), "missing {name}");
        }
        assert_eq!(
            vars["net.features.2.conv.1.0.weight"].size(),
            vec![96, 1, 3, 3]
        );
        assert_eq!(vars["net.head.weight"].size(), vec![136, 1280]);
    }

    #[test]
    fn width_multiplier_changes_channels() {
        // α = 0.5: stem 16, c = 8, 16, 16, 32, 48, 80, 160; last conv stays 1280 (max(1, α)).
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = MobileNetV2Config {
            width: 0.5,
            dropout: 0.1,
        };
        let f = cfg.build_features(vs.root(), N_FEATURE_LAYERS).unwrap();
        assert_eq!(f.channels()[..2], [16, 8]);
        assert_eq!(f.channels()[17..], [160, 1280]);
    }

    #[test]
    fn forward_shapes_and_taps() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = MobileNetV2Config::default().build(vs.root(), 68).unwrap();
        let x = Tensor::rand([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        assert_eq!(m.forward_t(&x, false).size(), vec![2, 136]);
        assert_eq!(m.forward_t(&x, true).size(), vec![2, 136]);
        // 64 → stride 4: 16, stride 32: 2.
        let taps = m.features.forward_taps(&x, false, &[3, 18]);
        assert_eq!(taps[0].size(), vec![2, 24, 16, 16]);
        assert_eq!(taps[1].size(), vec![2, 1280, 2, 2]);
    }

    #[test]
    fn invalid_configs_are_errors() {
        let vs = nn::VarStore::new(Device::Cpu);
        assert!(MobileNetV2Config {
            width: 0.0,
            dropout: 0.1
        }
        .build(vs.root(), 68)
        .is_err());
        assert!(MobileNetV2Config {
            width: 1.0,
            dropout: 1.0
        }
        .build(vs.root() / "a", 68)
        .is_err());
        assert!(MobileNetV2Config::default()
            .build(vs.root() / "b", 0)
            .is_err());
        assert!(MobileNetV2Config::default()
            .build_features(vs.root() / "c", 20)
            .is_err());
    }

    #[test]
    fn load_imagenet_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let _f = MobileNetV2Config::default()
            .build_features(vs.root(), 2)
            .unwrap();
        // Missing file.
        let err = load_imagenet(&vs, "", &dir.path().join("none.safetensors")).unwrap_err();
        assert!(err.to_string().contains("none.safetensors"), "{err}");
        // A file with a wrong shape for features.0.0.weight.
        let bad = dir.path().join("bad.safetensors");
        let w = Tensor::zeros([8, 3, 3, 3], (Kind::Float, Device::Cpu));
        Tensor::write_safetensors(&[("features.0.0.weight", &w)], &bad).unwrap();
        let err = load_imagenet(&vs, "", &bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.safetensors") && err.contains("features.0.0.weight"),
            "{err}"
        );
        // Right shape, but the rest of the backbone is missing.
        let w = Tensor::zeros([32, 3, 3, 3], (Kind::Float, Device::Cpu));
        Tensor::write_safetensors(&[("features.0.0.weight", &w)], &bad).unwrap();
        let err = load_imagenet(&vs, "", &bad).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        // An unexpected name inside the built range.
        let ok = dir.path().join("extra.safetensors");
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.push((
            "features.1.conv.9.weight".into(),
            Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        ));
        Tensor::write_safetensors(&named, &ok).unwrap();
        let err = load_imagenet(&vs, "", &ok).unwrap_err().to_string();
        assert!(
            err.contains("features.1.conv.9.weight") && err.contains("unexpected"),
            "{err}"
        );
    }

    #[test]
    fn imagenet_weights_match_torchvision_reference() {
        // Fixture and weights from scripts/convert_mobilenet_v2.py (float64 torch reference of
        // torchvision's mobilenet_v2 in eval mode, cross-checked against torchvision 0.29.2).
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let weights = Path::new(root).join("models/imagenet/mobilenet_v2.safetensors");
        let fixture =
            Path::new(root).join("crates/facealign-train/tests/fixtures/mnv2_ref.safetensors");
        let vs = nn::VarStore::new(Device::Cpu);
        let m = MobileNetV2Config::default()
            .build(vs.root() / "net", 68)
            .unwrap();
        let report = load_imagenet(&vs, "net.", &weights).unwrap();
        // 262 f32 tensors in the file: 2 classifier tensors skipped, 260 loaded (52 BN × 4 + 52 convs).
        assert_eq!(report.loaded, 260);
        assert_eq!(
            report.skipped,
            vec![
                "classifier.1.bias".to_string(),
                "classifier.1.weight".to_string()
            ]
        );
        let refs: HashMap<String, Tensor> = Tensor::read_safetensors(&fixture)
            .unwrap()
            .into_iter()
            .collect();
        let pooled = tch::no_grad(|| {
            crate::model::blocks::global_avg_pool(&m.features.forward_t(&refs["input"], false))
        });
        let diff = (&pooled - refs["pooled"].to_kind(Kind::Float))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "pooled features differ by {diff}");
        // Logits = pooled · Wᵀ + b with the file's ImageNet classifier.
        let file: HashMap<String, Tensor> = Tensor::read_safetensors(&weights)
            .unwrap()
            .into_iter()
            .collect();
        let logits = pooled.matmul(&file["classifier.1.weight"].tr()) + &file["classifier.1.bias"];
        let diff = (&logits - refs["logits"].to_kind(Kind::Float))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "logits differ by {diff}");
        assert_eq!(
            logits.argmax(1, false).int64_value(&[0]),
            refs["logits"].argmax(1, false).int64_value(&[0])
        );
    }
}

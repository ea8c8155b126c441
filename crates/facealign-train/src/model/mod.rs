//! The landmark networks (tch): MobileNetV2 and EfficientNet-B0/B3 regression models, ASMNet and a
//! light heatmap model for STAR, built from one serialisable [`ModelConfig`].
//!
//! Every model takes RGB crops in [0, 1] (`[N, 3, S, S]`, f32), applies ImageNet mean/std
//! normalisation itself and predicts landmarks in crop_u units (u = crop_px / S − 0.5, SPEC
//! Decision 1), interleaved `x0, y0, x1, y1, …`.
pub mod asmnet;
mod blocks;
pub mod efficientnet;
pub mod heatmap;
pub mod mobilenet_v2;
mod summary;

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

pub use asmnet::{AsmNet, AsmNetConfig, ASMNET_TAPS};
pub use blocks::{imagenet_normalize, make_divisible, IMAGENET_MEAN, IMAGENET_STD};
pub use efficientnet::{EfficientNet, EfficientNetConfig};
pub use heatmap::{
    heatmap_cell_from_crop_u, soft_argmax_crop_u, HeatmapActivation, HeatmapConfig, HeatmapDecoder,
    HeatmapModel,
};
pub use mobilenet_v2::{
    load_imagenet, ImagenetLoad, MobileNetV2, MobileNetV2Config, MobileNetV2Features,
};
pub use summary::{summary, Summary, SummaryRow};

use crate::{Error, Result};

/// Options of the EfficientNet presets (width and depth come from the preset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EfficientNetOptions {
    /// Dropout before the head (0.5 in the ACR paper).
    pub dropout: f64,
    /// Final stochastic-depth rate (0.2 as Keras / torchvision; 0 disables).
    pub stochastic_depth: f64,
}

impl Default for EfficientNetOptions {
    fn default() -> Self {
        let b0 = EfficientNetConfig::b0();
        EfficientNetOptions {
            dropout: b0.dropout,
            stochastic_depth: b0.stochastic_depth,
        }
    }
}

/// Which network to build, tagged by `arch` (e.g. TOML `arch = "asmnet"`, `pose = true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch")]
pub enum ModelConfig {
    /// MobileNetV2 regression (`width`, `dropout`).
    #[serde(rename = "mobilenet_v2", alias = "mobilenetv2", alias = "mobilenet-v2")]
    MobilenetV2(MobileNetV2Config),
    /// EfficientNet-B0 regression.
    #[serde(
        rename = "efficientnet_b0",
        alias = "efficientnet-b0",
        alias = "efficientnetb0"
    )]
    EfficientnetB0(EfficientNetOptions),
    /// EfficientNet-B3 regression.
    #[serde(
        rename = "efficientnet_b3",
        alias = "efficientnet-b3",
        alias = "efficientnetb3"
    )]
    EfficientnetB3(EfficientNetOptions),
    /// ASMNet (`pose`, `dropout`).
    #[serde(rename = "asmnet")]
    Asmnet(AsmNetConfig),
    /// Heatmap model for STAR (`heatmap_size`, `activation`).
    #[serde(rename = "heatmap")]
    Heatmap(HeatmapConfig),
}

impl ModelConfig {
    /// The architecture's name as `model.arch` spells it.
    pub fn arch(&self) -> &'static str {
        match self {
            ModelConfig::MobilenetV2(_) => "mobilenet_v2",
            ModelConfig::EfficientnetB0(_) => "efficientnet_b0",
            ModelConfig::EfficientnetB3(_) => "efficientnet_b3",
            ModelConfig::Asmnet(_) => "asmnet",
            ModelConfig::Heatmap(_) => "heatmap",
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::MobilenetV2(MobileNetV2Config::default())
    }
}

/// What every model returns.
#[derive(Debug)]
pub struct ModelOutput {
    /// `[N, 2M]` landmarks in crop_u, interleaved.
    pub landmarks: Tensor,
    /// `[N, M, h, w]` non-negative heatmaps (heatmap model only).
    pub heatmaps: Option<Tensor>,
    /// `[N, 3]` yaw, pitch, roll (ASMNet with `pose = true` only).
    pub pose: Option<Tensor>,
}

/// The torch runtime of inference: `chw` is `[n, 3, S, S]` RGB in [0, 1] (S from its length),
/// the result `[n, 2M]` crop_u, computed without gradients in evaluation mode.
impl facealign_infer::CropNet for LandmarkModel {
    fn runtime(&self) -> &'static str {
        "torch"
    }
    fn run(&self, chw: &[f32], n: usize) -> facealign_infer::Result<Vec<f32>> {
        let err = |m: String| facealign_infer::Error::runtime("torch", m);
        let per = chw.len() / n.max(1);
        let s = (per as f64 / 3.0).sqrt().round() as usize;
        if n == 0 || chw.len() != n * 3 * s * s {
            return Err(err(format!(
                "{} input values are not {n} square RGB crops",
                chw.len()
            )));
        }
        let s = s as i64;
        let xs = Tensor::from_slice(chw).view([n as i64, 3, s, s]);
        let pred = tch::no_grad(|| self.forward_t(&xs, false)).landmarks;
        Vec::<f32>::try_from(&pred.flatten(0, -1).to_kind(tch::Kind::Float))
            .map_err(|e| err(e.to_string()))
    }
}

/// A built landmark model: one architecture, its number of landmarks and where in the var store
/// it lives.
#[derive(Debug)]
pub struct LandmarkModel {
    arch: Architecture,
    n_points: i64,
    /// The var-store prefix the model was built under (`""` at the root, else `"name."`).
    prefix: String,
}

#[derive(Debug)]
enum Architecture {
    MobilenetV2(MobileNetV2),
    EfficientNet(Box<EfficientNet>),
    AsmNet(AsmNet),
    Heatmap(HeatmapModel),
}

impl LandmarkModel {
    /// Runs the model.
    ///
    /// # Shapes
    /// `xs`: `[N, 3, S, S]` RGB in [0, 1] → landmarks `[N, 2M]`, heatmaps `[N, M, h, w]`, pose `[N, 3]`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> ModelOutput {
        self.forward_rec(xs, train, None)
    }

    pub(crate) fn forward_rec(&self, xs: &Tensor, train: bool, rec: summary::Rec) -> ModelOutput {
        let landmarks_only = |landmarks| ModelOutput {
            landmarks,
            heatmaps: None,
            pose: None,
        };
        match &self.arch {
            Architecture::MobilenetV2(m) => landmarks_only(m.forward_rec(xs, train, rec)),
            Architecture::EfficientNet(m) => landmarks_only(m.forward_rec(xs, train, rec)),
            Architecture::AsmNet(m) => m.forward_rec(xs, train, rec),
            Architecture::Heatmap(m) => m.forward_rec(xs, train, rec),
        }
    }

    /// Number of landmarks M.
    pub fn n_points(&self) -> i64 {
        self.n_points
    }

    /// Loads torchvision ImageNet MobileNetV2 weights (see [`load_imagenet`]) into the backbone of a
    /// MobileNetV2-based model (MobileNetV2 width 1, ASMNet, heatmap); EfficientNet has none.
    pub fn load_imagenet(&self, vs: &nn::VarStore, file: &std::path::Path) -> Result<ImagenetLoad> {
        if let Architecture::EfficientNet(_) = self.arch {
            return Err(Error::invalid(
                "pretrained weights",
                "no ImageNet weights are available for EfficientNet",
            ));
        }
        load_imagenet(vs, &self.prefix, file)
    }
}

/// Builds the model described by `config` under `p` for `n_points` landmarks.
pub fn build(config: &ModelConfig, p: nn::Path, n_points: i64) -> Result<LandmarkModel> {
    let prefix = path_prefix(&p);
    let arch = match config {
        ModelConfig::MobilenetV2(c) => Architecture::MobilenetV2(c.build(p, n_points)?),
        ModelConfig::EfficientnetB0(o) => {
            let c = EfficientNetConfig {
                dropout: o.dropout,
                stochastic_depth: o.stochastic_depth,
                ..EfficientNetConfig::b0()
            };
            Architecture::EfficientNet(Box::new(c.build(p, n_points)?))
        }
        ModelConfig::EfficientnetB3(o) => {
            let c = EfficientNetConfig {
                dropout: o.dropout,
                stochastic_depth: o.stochastic_depth,
                ..EfficientNetConfig::b3()
            };
            Architecture::EfficientNet(Box::new(c.build(p, n_points)?))
        }
        ModelConfig::Asmnet(c) => Architecture::AsmNet(c.build(p, n_points)?),
        ModelConfig::Heatmap(c) => Architecture::Heatmap(c.build(p, n_points)?),
    };
    Ok(LandmarkModel {
        arch,
        n_points,
        prefix,
    })
}

impl ModuleT for LandmarkModel {
    /// The landmarks only.
    ///
    /// # Shapes
    /// `[N, 3, S, S]` → `[N, 2M]` crop_u.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        LandmarkModel::forward_t(self, xs, train).landmarks
    }
}

pub(crate) fn check_points(n_points: i64) -> Result<()> {
    if n_points < 1 {
        return Err(Error::invalid(
            "number of landmarks",
            format!("must be ≥ 1, got {n_points}"),
        ));
    }
    Ok(())
}

/// Number of trainable parameters whose var-store names start with `prefix` (`""`: all).
#[cfg(test)]
pub(crate) fn count_trainable(vs: &nn::VarStore, prefix: &str) -> i64 {
    vs.variables()
        .iter()
        .filter(|(k, v)| k.starts_with(prefix) && v.requires_grad())
        .map(|(_, v)| v.numel() as i64)
        .sum()
}

/// The var-store name prefix of `p`: `""` at the root, else `"a.b."`.
pub(crate) fn path_prefix(p: &nn::Path) -> String {
    p.components().map(|c| format!("{c}.")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn config_serde_round_trip_and_defaults() {
        let c: ModelConfig = toml::from_str("arch = \"asmnet\"\npose = false\n").unwrap();
        assert_eq!(
            c,
            ModelConfig::Asmnet(AsmNetConfig {
                pose: false,
                dropout: 0.3
            })
        );
        let c: ModelConfig = toml::from_str("arch = \"efficientnet_b3\"").unwrap();
        assert_eq!(
            c,
            ModelConfig::EfficientnetB3(EfficientNetOptions {
                dropout: 0.5,
                stochastic_depth: 0.2
            })
        );
        let c: ModelConfig = toml::from_str("arch = \"heatmap\"\nheatmap_size = 64\n").unwrap();
        assert_eq!(
            c,
            ModelConfig::Heatmap(HeatmapConfig {
                heatmap_size: Some(64),
                activation: HeatmapActivation::Softplus,
                decode_power: 1,
                decoder: HeatmapDecoder::Dense,
            })
        );
        let c: ModelConfig =
            toml::from_str("arch = \"heatmap\"\ndecoder = \"separable\"\n").unwrap();
        assert_eq!(
            c,
            ModelConfig::Heatmap(HeatmapConfig {
                decoder: HeatmapDecoder::Separable,
                ..HeatmapConfig::default()
            })
        );
        assert!(
            toml::from_str::<ModelConfig>("arch = \"heatmap\"\ndecoder = \"sparse\"\n")
                .is_err_and(|e| e.to_string().contains("separable"))
        );
        let c: ModelConfig =
            serde_json::from_str(r#"{"arch":"mobilenet_v2","width":0.75}"#).unwrap();
        assert_eq!(
            c,
            ModelConfig::MobilenetV2(MobileNetV2Config {
                width: 0.75,
                dropout: 0.1
            })
        );
        let s = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<ModelConfig>(&s).unwrap(), c);
        // Unknown architecture and unknown field are errors.
        assert!(toml::from_str::<ModelConfig>("arch = \"resnet\"").is_err());
        assert!(toml::from_str::<ModelConfig>("arch = \"asmnet\"\nposes = true\n").is_err());
    }

    #[test]
    fn every_model_output_shapes_at_64_and_112() {
        // EfficientNet-B3 is only counted (test in efficientnet.rs), not run.
        let configs = [
            ModelConfig::MobilenetV2(MobileNetV2Config::default()),
            ModelConfig::EfficientnetB0(EfficientNetOptions::default()),
            ModelConfig::Asmnet(AsmNetConfig::default()),
            ModelConfig::Heatmap(HeatmapConfig::default()),
        ];
        for cfg in &configs {
            let vs = nn::VarStore::new(Device::Cpu);
            let m = build(cfg, vs.root() / "model", 68).unwrap();
            assert_eq!(m.n_points(), 68);
            for s in [64i64, 112] {
                let x = Tensor::rand([2, 3, s, s], (Kind::Float, Device::Cpu));
                let out = tch::no_grad(|| m.forward_t(&x, false));
                assert_eq!(out.landmarks.size(), vec![2, 136], "{cfg:?} at {s}");
                assert_eq!(
                    out.pose.as_ref().map(Tensor::size),
                    matches!(cfg, ModelConfig::Asmnet(_)).then(|| vec![2, 3])
                );
                let want_hm =
                    matches!(cfg, ModelConfig::Heatmap(_)).then(|| vec![2, 68, s / 4, s / 4]);
                assert_eq!(out.heatmaps.as_ref().map(Tensor::size), want_hm);
            }
        }
    }

    #[test]
    fn training_step_reaches_every_parameter() {
        // Gradients flow from the landmark output into the backbone's stem and the head.
        let vs = nn::VarStore::new(Device::Cpu);
        let m = build(&ModelConfig::Asmnet(AsmNetConfig::default()), vs.root(), 3).unwrap();
        let x = Tensor::rand([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let out = m.forward_t(&x, true);
        let loss =
            out.landmarks.square().sum(Kind::Float) + out.pose.unwrap().square().sum(Kind::Float);
        loss.backward();
        let vars = vs.variables();
        for name in [
            "features.0.0.weight",
            "features.16.conv.2.weight",
            "landmarks.weight",
            "pose.bias",
        ] {
            let g = vars[name].grad();
            assert!(
                g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{name}"
            );
        }
    }

    #[test]
    fn truncated_backbones_load_imagenet_weights() {
        let file = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/imagenet/mobilenet_v2.safetensors"
        ));
        let vs = nn::VarStore::new(Device::Cpu);
        let m = build(
            &ModelConfig::Asmnet(AsmNetConfig::default()),
            vs.root() / "model",
            68,
        )
        .unwrap();
        let report = m.load_imagenet(&vs, file).unwrap();
        // features.17 (3 convs + 3 BN × 4 = 15 tensors) and features.18 (1 + 4 = 5) and the
        // classifier (2) are skipped: 262 − 22 = 240 loaded.
        assert_eq!((report.loaded, report.skipped.len()), (240, 22));
        assert!(report
            .skipped
            .iter()
            .any(|n| n == "features.17.conv.0.0.weight"));
        let file_w: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(file)
            .unwrap()
            .into_iter()
            .collect();
        let ours = &vs.variables()["model.features.16.conv.1.1.running_var"];
        assert!(ours.equal(&file_w["features.16.conv.1.1.running_var"]));
        // The heatmap encoder (features.0..=17) skips features.18 and the classifier only.
        let vs = nn::VarStore::new(Device::Cpu);
        let m = build(
            &ModelConfig::Heatmap(HeatmapConfig::default()),
            vs.root(),
            68,
        )
        .unwrap();
        assert_eq!(m.load_imagenet(&vs, file).unwrap().skipped.len(), 7);
    }

    #[test]
    fn efficientnet_has_no_imagenet_weights() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = build(
            &ModelConfig::EfficientnetB0(EfficientNetOptions::default()),
            vs.root(),
            2,
        )
        .unwrap();
        assert!(m
            .load_imagenet(&vs, std::path::Path::new("x.safetensors"))
            .is_err());
    }

    #[test]
    fn path_prefix_of_root_and_sub_paths() {
        let vs = nn::VarStore::new(Device::Cpu);
        assert_eq!(path_prefix(&vs.root()), "");
        assert_eq!(path_prefix(&(vs.root() / "a" / "b")), "a.b.");
    }
}

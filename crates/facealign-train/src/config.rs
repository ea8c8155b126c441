//! The one serialisable training configuration (TOML), saved as a run directory's first file.
//!
//! Unknown keys are errors naming the key (`deny_unknown_fields`), and [`TrainConfig::validate`]
//! checks ranges before any work starts. `--set key=value` overrides use dotted paths into the
//! same TOML tree, so every field can be overridden from the command line.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::objective::LossConfig;
use facealign_core::augment::AugmentConfig;
use facealign_core::metrics::Normalizer;

/// Everything a training run needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Free-form name shown in reports.
    #[serde(default)]
    pub name: String,
    pub data: DataConfig,
    pub model: ModelConfig,
    /// Initial weights: `random` or `imagenet` (MobileNetV2-based models).
    #[serde(default)]
    pub init: Init,
    /// How the landmark regression head starts: `default` (the architecture's own init, the
    /// authors' he_uniform) or `mean-shape` (weights ×0.01, bias = the mean training shape in
    /// crop_u, so training starts from the mean face instead of outputs far outside the crop).
    #[serde(default)]
    pub head_init: HeadInit,
    /// Fine-tune: start from every weight of this trained model (a run directory, a
    /// `.safetensors` file or a shipped model name, e.g. `adult68`), which must have the same
    /// architecture and landmark scheme. Replaces `init`; the head keeps its trained weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// Transfer learning across heads: start the MobileNetV2 encoder (`features.*`) from this
    /// trained model (a run directory, a `.safetensors` file or a shipped model name) and the
    /// rest from `init`/`head_init`. The source may have another architecture built on the same
    /// MobileNetV2 (e.g. a regression model for a heatmap model) and another landmark scheme;
    /// every encoder weight of this run must exist in it with the same shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_backbone_from: Option<String>,
    pub loss: LossConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    /// Number of epochs.
    pub epochs: usize,
    /// Mini-batch size.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Seed for data order, augmentation, initialisation and dropout.
    #[serde(default)]
    pub seed: u64,
    /// CPU threads for libtorch and the data pipeline.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// The normaliser of the validation NME that picks the best epoch: `ocular` (default) or
    /// `box` (AFLW-Full protocol, `sqrt(w·h)`, defined for profiles that lack an eye corner).
    /// Faces that cannot be normalised are skipped (their count is logged).
    #[serde(default, skip_serializing_if = "is_ocular")]
    pub val_norm: Normalizer,
    /// The PCA shape model of the ACR and ASM-assisted losses.
    #[serde(default, skip_serializing_if = "ShapeConfig::is_default")]
    pub shape: ShapeConfig,
    /// Knowledge distillation: also match a trained teacher's predictions on the same
    /// (augmented) crops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillConfig>,
}

/// `[distill]`: learn from a trained model's predictions as well as from the labels. Each step
/// runs the teacher (inference mode, no gradient) on the batch the student sees and adds
/// `weight` × the mean squared difference between the student's and the teacher's outputs over
/// every coordinate of every face, labelled or not, to the loss over the labelled ones. The
/// teacher must predict the same landmark scheme from the same crop (input size and enlargement);
/// its architecture and width may differ (a small student from a large teacher).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// The teacher: a run directory, a `.safetensors` model file or a shipped model name.
    pub teacher: String,
    /// Weight of the distillation term (crop units squared, like the L2 loss).
    #[serde(default = "default_distill_weight")]
    pub weight: f64,
}

fn default_distill_weight() -> f64 {
    1.0
}

/// `[shape]`: how the PCA shape model is built.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ShapeConfig {
    /// `none` (the papers' and authors' un-aligned PCA; the default of the presets) or
    /// `procrustes` (classical ASM: shapes aligned to the mean by a similarity before the PCA, a
    /// face projected in the aligned frame and mapped back; issue 16).
    #[serde(default)]
    pub align: facealign_core::shape::ShapeAlign,
}

impl ShapeConfig {
    fn is_default(&self) -> bool {
        *self == ShapeConfig::default()
    }
}

fn is_ocular(n: &Normalizer) -> bool {
    *n == Normalizer::Ocular
}

fn default_batch() -> usize {
    16
}
fn default_threads() -> usize {
    2
}

/// Initial weights.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The model's own random initialisation (seeded).
    #[default]
    Random,
    /// torchvision's ImageNet MobileNetV2 weights (`models/imagenet/mobilenet_v2.safetensors`).
    Imagenet,
}

/// Start of the regression head.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HeadInit {
    /// The architecture's own initialisation.
    #[default]
    Default,
    /// Small weights and the mean training shape as bias.
    MeanShape,
}

/// One training source of a mixed config (`data.train = [...]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TrainSource {
    /// A data spec `FORMAT:PATH[#SUBSET]`, weight 1.
    Spec(String),
    /// A data spec with options.
    Table(TrainSourceTable),
}

/// A training source with options.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSourceTable {
    /// Data spec `FORMAT:PATH[#SUBSET]`.
    pub spec: String,
    /// Weight of its labelled points in the loss (default 1).
    #[serde(default = "one")]
    pub weight: f32,
    /// A file of sample ids to leave out of training (ids absent from this source are fine),
    /// e.g. the test split of another source that holds the same faces.
    #[serde(default)]
    pub exclude_ids: Option<String>,
    /// Crop this source from its labelled-landmark box moved and scaled by this calibration
    /// (`{ dx, dy, scale }`), for schemes whose points span less of the face than the model's
    /// (MTFL's 5 points for a 68-point model: `{ dx = 0.0, dy = 0.19, scale = 2.02 }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_calibration: Option<facealign_core::BoxCalibration>,
    /// Take each of its training faces this many times per epoch (default 1), each copy with its
    /// own augmentation: a small set (e.g. hand-annotated faces beside large teacher-labelled
    /// ones) then appears in a useful share of the batches (mmpose's `RepeatDataset`).
    #[serde(default = "once", skip_serializing_if = "is_once")]
    pub repeat: usize,
    /// Crop this source's faces (training and held-out) as a cascade's refinement pass would:
    /// this model (a run directory, .safetensors file or shipped name predicting the run's
    /// scheme) predicts each face from its usual crop once, before training, and the face is
    /// then cropped around that prediction aligned with its eye line
    /// (`geometry::crop_aligned_to_shape`; `predict --refine-model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_model: Option<String>,
}

fn one() -> f32 {
    1.0
}

fn once() -> usize {
    1
}

fn is_once(r: &usize) -> bool {
    *r == 1
}

impl TrainSource {
    /// The data spec.
    pub fn spec(&self) -> &str {
        match self {
            TrainSource::Spec(s) => s,
            TrainSource::Table(t) => &t.spec,
        }
    }
    /// The loss weight.
    pub fn weight(&self) -> f32 {
        match self {
            TrainSource::Spec(_) => 1.0,
            TrainSource::Table(t) => t.weight,
        }
    }
    /// The crop of this source's faces.
    pub fn crop_source(&self) -> facealign_core::CropSource {
        match self {
            TrainSource::Table(TrainSourceTable {
                crop_calibration: Some(c),
                ..
            }) => facealign_core::CropSource::LandmarksCalibrated(*c),
            _ => facealign_core::CropSource::Landmarks,
        }
    }
    /// The model whose predictions place this source's crops (`crop_model`), if any.
    pub fn crop_model(&self) -> Option<&str> {
        match self {
            TrainSource::Spec(_) => None,
            TrainSource::Table(t) => t.crop_model.as_deref(),
        }
    }
    /// How many times each training face is taken per epoch.
    pub fn repeat(&self) -> usize {
        match self {
            TrainSource::Spec(_) => 1,
            TrainSource::Table(t) => t.repeat,
        }
    }
    /// The ids to leave out of training.
    pub fn exclude_ids(&self) -> Option<&str> {
        match self {
            TrainSource::Spec(_) => None,
            TrainSource::Table(t) => t.exclude_ids.as_deref(),
        }
    }
}

/// `data.train`: one spec (the classic form) or a list of sources of any landmark schemes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TrainData {
    One(String),
    Many(Vec<TrainSource>),
}

impl TrainData {
    /// The sources, in order.
    pub fn sources(&self) -> Vec<TrainSource> {
        match self {
            TrainData::One(s) => vec![TrainSource::Spec(s.clone())],
            TrainData::Many(v) => v.clone(),
        }
    }
}

impl From<&str> for TrainData {
    fn from(s: &str) -> TrainData {
        TrainData::One(s.to_string())
    }
}

/// Data settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Training data: a spec `FORMAT:PATH[#SUBSET]`, or a list of sources (specs or
    /// `{ spec, weight, exclude_ids }` tables) of any landmark schemes: each supervises the
    /// points of `data.scheme` its scheme maps to (`facealign_core::scheme_map`). `val_ids`
    /// holds the listed faces out of *every* source (strictly for the first: each id must
    /// exist there); each source's held-out faces are its validation set, scored in its own
    /// scheme; the first source's picks the best epoch.
    pub train: TrainData,
    /// The scheme the model predicts (default: the first source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<facealign_core::SchemeId>,
    /// More training data specs, appended to the training side after the validation split (same
    /// landmark scheme), e.g. to mix InfAnFace's infants into an adult set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_train: Vec<String>,
    /// Validation data spec. If absent, `val_ids` or `val_fraction` carve validation out of `train`.
    #[serde(default)]
    pub val: Option<String>,
    /// A text file with one sample id per line: those training samples form the validation split.
    #[serde(default)]
    pub val_ids: Option<String>,
    /// A seeded random share of `train` held out for validation (used when neither `val` nor `val_ids`).
    #[serde(default)]
    pub val_fraction: Option<f64>,
    /// Model input side in pixels.
    #[serde(default = "default_size")]
    pub input_size: u32,
    /// Crop enlargement of the landmark box (SPEC Decision 8).
    #[serde(default = "default_enlarge")]
    pub enlarge: f32,
    /// Use at most this many training samples (smoke runs).
    #[serde(default)]
    pub max_samples: Option<usize>,
    /// Training augmentation.
    #[serde(default)]
    pub augment: AugmentConfig,
    /// Byte budget of the decoded-image cache.
    #[serde(default = "default_cache")]
    pub cache_mb: usize,
}

fn default_size() -> u32 {
    224
}
fn default_enlarge() -> f32 {
    1.25
}
fn default_cache() -> usize {
    1024
}

/// Optimiser kinds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    Adam,
    AdamW,
}

/// Learning-rate schedules (applied per epoch after warm-up).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    /// Constant learning rate.
    Constant,
    /// Multiply by `gamma` at each milestone epoch.
    Step { milestones: Vec<usize>, gamma: f64 },
    /// Cosine decay to `min_lr` at the last epoch.
    Cosine {
        #[serde(default)]
        min_lr: f64,
    },
}

/// Optimiser settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    #[serde(default = "default_kind")]
    pub kind: OptimKind,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// L2 penalty (Adam) or decoupled decay (AdamW).
    #[serde(default)]
    pub weight_decay: f64,
    /// Linear warm-up length in epochs (fractional allowed).
    #[serde(default)]
    pub warmup_epochs: f64,
    #[serde(default = "default_schedule")]
    pub schedule: Schedule,
}

fn default_kind() -> OptimKind {
    OptimKind::Adam
}
fn default_lr() -> f64 {
    1e-3
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_schedule() -> Schedule {
    Schedule::Constant
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            kind: default_kind(),
            lr: default_lr(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: 0.0,
            warmup_epochs: 0.0,
            schedule: default_schedule(),
        }
    }
}

impl OptimConfig {
    /// Learning rate at fractional epoch `t` (0-based) of `epochs`.
    pub fn lr_at(&self, t: f64, epochs: usize) -> f64 {
        let base = if self.warmup_epochs > 0.0 && t < self.warmup_epochs {
            self.lr * (t + 1e-3).min(self.warmup_epochs) / self.warmup_epochs
        } else {
            self.lr
        };
        match &self.schedule {
            Schedule::Constant => base,
            Schedule::Step { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| t >= m as f64).count();
                base * gamma.powi(passed as i32)
            }
            Schedule::Cosine { min_lr } => {
                let frac = (t / epochs.max(1) as f64).clamp(0.0, 1.0);
                min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
            }
        }
    }
}

impl TrainConfig {
    /// Parse a TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<TrainConfig> {
        let cfg: TrainConfig =
            toml::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read and validate a TOML file, applying `key=value` overrides first.
    pub fn load(path: &Path, overrides: &[String]) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let mut value: toml::Value =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        let cfg: TrainConfig = value
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a TrainConfig should always serialise to TOML")
    }

    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: String| Err(Error::Config(format!("`{key}`: {msg}")));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.threads == 0 {
            return bad("threads", "must be at least 1".into());
        }
        if let Some(from) = &self.init_from {
            if self.init != Init::Random {
                return bad(
                    "init_from",
                    format!("`{from}` gives every initial weight; remove `init`"),
                );
            }
            if self.head_init == HeadInit::MeanShape {
                return bad(
                    "init_from",
                    format!("`{from}` gives the head its trained weights; remove `head_init = \"mean-shape\"`"),
                );
            }
        }
        if let Some(from) = &self.init_backbone_from {
            if self.init_from.is_some() {
                return bad(
                    "init_backbone_from",
                    format!("`init_from` already gives every weight; remove `init_backbone_from = \"{from}\"`"),
                );
            }
            if self.init != Init::Random {
                return bad(
                    "init_backbone_from",
                    format!("`{from}` gives the encoder's initial weights; remove `init`"),
                );
            }
        }
        if let Some(d) = &self.distill {
            if !(d.weight.is_finite() && d.weight >= 0.0) {
                return bad(
                    "distill.weight",
                    format!("{} must be finite and >= 0", d.weight),
                );
            }
            if d.teacher.trim().is_empty() {
                return bad("distill.teacher", "names no model".into());
            }
        }
        if !(16..=1024).contains(&self.data.input_size) {
            return bad(
                "data.input_size",
                format!("{} is outside 16..=1024", self.data.input_size),
            );
        }
        if !(self.data.enlarge >= 1.0 && self.data.enlarge <= 3.0) {
            return bad(
                "data.enlarge",
                format!("{} is outside [1, 3]", self.data.enlarge),
            );
        }
        let sources = self.data.train.sources();
        if sources.is_empty() {
            return bad("data.train", "lists no source".into());
        }
        if let Some((k, w)) = sources
            .iter()
            .map(TrainSource::weight)
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && *w > 0.0))
        {
            return bad(
                &format!("data.train[{k}].weight"),
                format!("{w} must be finite and > 0"),
            );
        }
        if let Some(k) = sources.iter().position(|s| s.repeat() == 0) {
            return bad(
                &format!("data.train[{k}].repeat"),
                "must be at least 1".into(),
            );
        }
        if sources.len() > 1 && (self.data.val.is_some() || self.data.val_fraction.is_some()) {
            return bad(
                "data.val / data.val_fraction",
                "with several training sources, hold validation out with data.val_ids".into(),
            );
        }
        if let Some(f) = self.data.val_fraction {
            if !(f > 0.0 && f < 1.0) {
                return bad("data.val_fraction", format!("{f} is outside (0, 1)"));
            }
        }
        if !(self.optim.lr > 0.0 && self.optim.lr.is_finite()) {
            return bad("optim.lr", format!("{} must be positive", self.optim.lr));
        }
        if !(0.0..1.0).contains(&self.optim.beta1) || !(0.0..1.0).contains(&self.optim.beta2) {
            return bad("optim.beta1/beta2", "must be in [0, 1)".into());
        }
        if !(self.optim.warmup_epochs.is_finite() && self.optim.warmup_epochs >= 0.0) {
            return bad(
                "optim.warmup_epochs",
                format!("{} must be finite and ≥ 0", self.optim.warmup_epochs),
            );
        }
        if self.data.max_samples == Some(0) {
            return bad("data.max_samples", "must be at least 1".into());
        }
        if self.optim.weight_decay < 0.0 {
            return bad("optim.weight_decay", "must be non-negative".into());
        }
        self.loss.validate()?;
        if self.loss.needs_heatmaps() && !matches!(self.model, ModelConfig::Heatmap(_)) {
            return bad(
                "loss.kind",
                format!(
                    "`{}` supervises heatmaps: it needs model.arch = \"heatmap\", got `{}`",
                    self.loss.name(),
                    self.model.arch()
                ),
            );
        }
        Ok(())
    }
}

/// Apply one `a.b.c=value` override to a TOML tree. The value is parsed as TOML (number, bool,
/// string, array); anything that does not parse is taken as a string.
pub fn apply_override(root: &mut toml::Value, item: &str) -> Result<()> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set `{item}`: expected key=value")))?;
    let key = key.trim();
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let table = node.as_table_mut().ok_or_else(|| {
            Error::Config(format!(
                "--set `{key}`: `{}` is not a table",
                parts[..i].join(".")
            ))
        })?;
        if i + 1 == parts.len() {
            table.insert(part.to_string(), value);
            return Ok(());
        }
        node = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    Err(Error::Config(format!("--set `{item}`: empty key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_step_schedule() {
        let o = OptimConfig {
            lr: 1.0,
            warmup_epochs: 0.0,
            schedule: Schedule::Step {
                milestones: vec![2, 4],
                gamma: 0.1,
            },
            ..OptimConfig::default()
        };
        assert_eq!(o.lr_at(0.0, 6), 1.0);
        assert!((o.lr_at(2.0, 6) - 0.1).abs() < 1e-12);
        assert!((o.lr_at(5.5, 6) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn cosine_ends_at_min_lr() {
        let o = OptimConfig {
            lr: 1.0,
            schedule: Schedule::Cosine { min_lr: 0.0 },
            ..OptimConfig::default()
        };
        // halfway: 0.5 * (1 + cos(pi/2)) = 0.5
        assert!((o.lr_at(5.0, 10) - 0.5).abs() < 1e-12);
        assert!(o.lr_at(10.0, 10).abs() < 1e-12);
    }

    #[test]
    fn override_sets_nested_values() {
        let mut v: toml::Value = toml::from_str("epochs = 3\n[data]\ninput_size = 64\n").unwrap();
        apply_override(&mut v, "data.input_size=96").unwrap();
        apply_override(&mut v, "optim.lr=0.01").unwrap();
        apply_override(&mut v, "name=hello world").unwrap();
        assert_eq!(v["data"]["input_size"].as_integer(), Some(96));
        assert_eq!(v["optim"]["lr"].as_float(), Some(0.01));
        assert_eq!(v["name"].as_str(), Some("hello world"));
    }
}

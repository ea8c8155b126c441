//! Building an ONNX graph (opset 13) of a facealign landmark network from its safetensors file.
//!
//! The graph mirrors the tch models of `facealign::model` op for op, in inference mode: dropout and
//! stochastic depth are the identity, and every BatchNorm (eps 1e-5, running statistics) is folded
//! into the convolution before it (in f64, stored as f32). The ImageNet normalisation stays the
//! graph's first ops (`Sub`, `Div`): folding it into the stem conv would be inexact at the borders,
//! where the conv's zero padding pads the *normalised* image.
//!
//! Input `input`: `[N, 3, S, S]` f32 RGB in [0, 1], `N` symbolic (dim_param `N`). Output
//! `landmarks`: `[N, 2M]` crop_u (u = crop_px / S − 0.5), interleaved `x0, y0, x1, …`; ASMNet with
//! a pose head has a second output `pose` `[N, 3]`.
//!
//! The architecture comes from the metadata `facealign.config` (the training config as TOML): its
//! `[model]` table, tagged by `arch`, and `data.input_size`. Channel counts are read from the weight
//! shapes, strides and block layouts from the architecture tables (the same as the tch models').
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use prost::Message;
use tract_onnx::pb;

use crate::error::{Error, Result};
use crate::weights::{WeightTensor, Weights};

/// ONNX opset of the exported graphs.
pub const OPSET: i64 = 13;
/// ONNX IR version of the exported graphs (7 goes with opset 13).
pub const IR_VERSION: i64 = 7;
/// Name of the graph input.
pub const INPUT: &str = "input";
/// Name of the landmark output.
pub const OUTPUT: &str = "landmarks";
/// Name of ASMNet's optional pose output.
pub const POSE_OUTPUT: &str = "pose";
/// The batch dimension's parameter name.
pub const BATCH_DIM: &str = "N";
pub use crate::model_file::{META_CONFIG, META_SCHEME};

/// ImageNet channel means (RGB, inputs in [0, 1]), as the tch models.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// BatchNorm epsilon of every model (torchvision's default).
pub const BN_EPS: f64 = 1e-5;

/// MobileNetV2's inverted-residual table (paper Table 2): expansion t, output channels c, repeats n,
/// first stride s. Feature layer `features.k` for k = 1..=17 are these blocks in order. The one
/// table of both runtimes (the tch model in `facealign::model::mobilenet_v2` builds from it too).
pub const MNV2_SETTING: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];
/// EfficientNet-B0 stages (expand, kernel, stride, in, out, repeats); only strides and repeats are
/// used here (kernels and channels come from the weights).
const EFFNET_STAGES: [(usize, usize); 7] = [(1, 1), (2, 2), (2, 2), (2, 3), (1, 3), (2, 4), (1, 1)];
/// ASMNet's tapped feature layers.
const ASMNET_TAPS: [usize; 6] = [2, 4, 7, 11, 14, 16];
/// The heatmap model's encoder taps (strides 4, 8, 16, 32).
const HEATMAP_TAPS: [usize; 4] = [3, 6, 13, 17];

/// The non-negative output activation of the heatmap model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatmapActivation {
    Softplus,
    Relu,
}

/// The landmark network of a model file.
#[derive(Debug, Clone, PartialEq)]
pub enum Arch {
    /// MobileNetV2 regression (any width: channels come from the weights).
    MobilenetV2,
    /// EfficientNet-B0 regression.
    EfficientnetB0,
    /// EfficientNet-B3 regression.
    EfficientnetB3,
    /// ASMNet; `pose` adds the `pose` output.
    Asmnet { pose: bool },
    /// The MobileNetV2 + decoder heatmap model with soft-argmax.
    Heatmap {
        heatmap_size: Option<usize>,
        activation: HeatmapActivation,
        /// Soft-argmax of `H^k / ΣH^k` (k ≥ 1; `model.decode_power`, default 1).
        decode_power: u32,
        /// `model.decoder = "separable"`: each decoder stage is a depthwise 3×3 conv
        /// (`decoder.k.dw`) then a 1×1 conv (`decoder.k.pw`), each + BN + ReLU; else one dense 3×3
        /// conv + BN + ReLU (`decoder.k`).
        separable: bool,
    },
}

impl Arch {
    /// The config's `arch` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Arch::MobilenetV2 => "mobilenet_v2",
            Arch::EfficientnetB0 => "efficientnet_b0",
            Arch::EfficientnetB3 => "efficientnet_b3",
            Arch::Asmnet { .. } => "asmnet",
            Arch::Heatmap { .. } => "heatmap",
        }
    }
}

/// What a model file describes: the network and its input.
#[derive(Debug, Clone, PartialEq)]
pub struct NetSpec {
    pub arch: Arch,
    /// Input side S in pixels (`data.input_size`, default 224 as the training config).
    pub input_size: usize,
    /// Number of landmarks M (from the head's weights).
    pub n_points: usize,
    /// The landmark scheme (`facealign.scheme`), if recorded.
    pub scheme: Option<String>,
}

/// A built ONNX model and what it computes.
#[derive(Debug, Clone)]
pub struct LandmarkGraph {
    pub proto: pb::ModelProto,
    pub spec: NetSpec,
}

/// Reads the architecture and input size from the weights' metadata (`facealign.config`) and the
/// number of landmarks from the head's shape.
pub fn net_spec(weights: &Weights) -> Result<NetSpec> {
    let path = weights.path();
    let loc = format!("metadata {META_CONFIG}");
    let text = weights.metadata().get(META_CONFIG).ok_or_else(|| {
        Error::model(
            path,
            &loc,
            "missing: no facealign training config in the file (not a facealign model?)",
        )
    })?;
    let cfg: toml::Table = toml::from_str(text)
        .map_err(|e| Error::model(path, &loc, format!("not valid TOML: {e}")))?;
    let field_err = |field: &str, msg: String| Error::model(path, format!("{loc}: {field}"), msg);
    let input_size = match cfg.get("data").and_then(|d| d.get("input_size")) {
        None => 224,
        Some(v) => v
            .as_integer()
            .filter(|s| (16..=1024).contains(s))
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| {
                field_err(
                    "data.input_size",
                    format!("must be an integer in 16..=1024, got {v}"),
                )
            })?,
    };
    let empty = toml::Table::new();
    let model = match cfg.get("model") {
        None => &empty,
        Some(toml::Value::Table(t)) => t,
        Some(v) => return Err(field_err("model", format!("must be a table, got {v}"))),
    };
    let arch_name = match model.get("arch") {
        None => "mobilenet_v2",
        Some(v) => v
            .as_str()
            .ok_or_else(|| field_err("model.arch", format!("must be a string, got {v}")))?,
    };
    let bool_opt = |key: &str, default: bool| -> Result<bool> {
        match model.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| {
                field_err(
                    &format!("model.{key}"),
                    format!("must be true or false, got {v}"),
                )
            }),
        }
    };
    // A string option of `choices` (the first is the default); its index.
    let choice = |key: &str, choices: &[&str]| -> Result<usize> {
        let Some(v) = model.get(key) else {
            return Ok(0);
        };
        v.as_str()
            .and_then(|s| choices.iter().position(|c| *c == s))
            .ok_or_else(|| {
                let names: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
                field_err(
                    &format!("model.{key}"),
                    format!("must be {}, got {v}", names.join(" or ")),
                )
            })
    };
    let arch = match arch_name {
        "mobilenet_v2" => Arch::MobilenetV2,
        "efficientnet_b0" => Arch::EfficientnetB0,
        "efficientnet_b3" => Arch::EfficientnetB3,
        "asmnet" => Arch::Asmnet {
            pose: bool_opt("pose", true)?,
        },
        "heatmap" => {
            let heatmap_size = match model.get("heatmap_size") {
                None => None,
                Some(v) => Some(
                    v.as_integer()
                        .filter(|&h| h >= 1)
                        .and_then(|h| usize::try_from(h).ok())
                        .ok_or_else(|| {
                            field_err(
                                "model.heatmap_size",
                                format!("must be an integer ≥ 1, got {v}"),
                            )
                        })?,
                ),
            };
            let activation = [HeatmapActivation::Softplus, HeatmapActivation::Relu]
                [choice("activation", &["softplus", "relu"])?];
            let decode_power = match model.get("decode_power") {
                None => 1,
                Some(v) => v
                    .as_integer()
                    .filter(|&k| (1..=16).contains(&k))
                    .map(|k| k as u32)
                    .ok_or_else(|| {
                        field_err(
                            "model.decode_power",
                            format!("must be an integer in 1..=16, got {v}"),
                        )
                    })?,
            };
            let separable = choice("decoder", &["dense", "separable"])? == 1;
            Arch::Heatmap {
                heatmap_size,
                activation,
                decode_power,
                separable,
            }
        }
        other => {
            return Err(field_err(
                "model.arch",
                format!(
                    "architecture `{other}` is not supported by the tract runtime (it builds \
                     mobilenet_v2, efficientnet_b0, efficientnet_b3, asmnet and heatmap)"
                ),
            ))
        }
    };
    let n_points = match &arch {
        Arch::Heatmap { .. } => weights.get_rank("head.weight", 4)?.shape[0],
        Arch::Asmnet { .. } => weights.get_rank("landmarks.weight", 2)?.shape[0] / 2,
        _ => weights.get_rank("head.weight", 2)?.shape[0] / 2,
    };
    if n_points == 0 {
        return Err(Error::model(
            path,
            "landmark head",
            "has no outputs (0 landmarks)",
        ));
    }
    // The scheme decides how the points are used (eye corners, flip pairs): a scheme of another
    // size than the head would index past the prediction.
    if let Some(name) = weights.metadata().get(META_SCHEME) {
        if let Some(id) = facealign_core::SchemeId::parse(name) {
            if id.n_points() != n_points {
                return Err(Error::model(
                    path,
                    format!("metadata {META_SCHEME}"),
                    format!(
                        "scheme `{name}` has {} landmarks but the network's head predicts {n_points}",
                        id.n_points()
                    ),
                ));
            }
        }
    }
    Ok(NetSpec {
        arch,
        input_size,
        n_points,
        scheme: weights.metadata().get(META_SCHEME).cloned(),
    })
}

/// Builds the ONNX graph of the network in `weights`.
pub fn build_graph(weights: &Weights) -> Result<LandmarkGraph> {
    let spec = net_spec(weights)?;
    let mut b = Builder::new(weights);
    let s = spec.input_size;
    let x = b.input(s)?;
    let mut outputs = vec![(OUTPUT.to_string(), 2 * spec.n_points)];
    match &spec.arch {
        Arch::MobilenetV2 => {
            let f = b.mobilenet_v2_features(&x, 19)?;
            b.regression_head(&f[18], "head", OUTPUT)?;
        }
        Arch::EfficientnetB0 | Arch::EfficientnetB3 => {
            let depth = if spec.arch == Arch::EfficientnetB0 {
                1.0
            } else {
                1.4
            };
            let f = b.efficientnet_features(&x, depth)?;
            b.regression_head(&f, "head", OUTPUT)?;
        }
        Arch::Asmnet { pose } => {
            let f = b.mobilenet_v2_features(&x, 17)?;
            let pooled: Vec<Val> = ASMNET_TAPS
                .iter()
                .map(|&k| b.global_avg_pool(&f[k], &format!("pool.{k}")))
                .collect();
            let refs: Vec<&Val> = pooled.iter().collect();
            let cat = b.concat(&refs, 1, "pool_concat");
            b.gemm_head(&cat, "landmarks", OUTPUT)?;
            if *pose {
                b.gemm_head(&cat, "pose", POSE_OUTPUT)?;
                outputs.push((POSE_OUTPUT.to_string(), 3));
            }
        }
        Arch::Heatmap {
            heatmap_size,
            activation,
            decode_power,
            separable,
        } => {
            let f = b.mobilenet_v2_features(&x, HEATMAP_TAPS[3] + 1)?;
            b.heatmap_head(&f, s, *heatmap_size, *activation, *decode_power, *separable)?;
        }
    }
    b.check_all_used()?;
    let proto = b.finish(&spec, &outputs);
    Ok(LandmarkGraph { proto, spec })
}

/// Reads a facealign model file and builds its ONNX graph.
pub fn build_graph_from_file(model_path: &Path) -> Result<LandmarkGraph> {
    build_graph(&Weights::read(model_path)?)
}

/// Writes the ONNX model of the facealign model file `model_path` to `out_path` (atomically: a
/// temporary file renamed over the target). Returns the number of bytes written.
pub fn export_onnx(model_path: &Path, out_path: &Path) -> Result<u64> {
    let graph = build_graph_from_file(model_path)?;
    let bytes = graph.proto.encode_to_vec();
    facealign_core::fsio::write_atomic(out_path, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Folds an inference-mode BatchNorm into the convolution before it, in f64:
/// `W'[o] = W[o]·γ[o]/√(σ²[o] + eps)`, `b'[o] = (b[o] − μ[o])·γ[o]/√(σ²[o] + eps) + β[o]`.
///
/// `weight` is `[C_out, …]` row-major with `c_out` rows; `bias` the conv's own bias (if any). Returns
/// the folded weight and bias as f32.
pub fn fold_batch_norm(
    weight: &[f32],
    c_out: usize,
    bias: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let per = weight.len() / c_out.max(1);
    let mut w = Vec::with_capacity(weight.len());
    let mut b = Vec::with_capacity(c_out);
    for o in 0..c_out {
        let scale = f64::from(gamma[o]) / (f64::from(var[o]) + eps).sqrt();
        w.extend(
            weight[o * per..(o + 1) * per]
                .iter()
                .map(|&x| (f64::from(x) * scale) as f32),
        );
        let b0 = bias.map_or(0.0, |b| f64::from(b[o]));
        b.push(((b0 - f64::from(mean[o])) * scale + f64::from(beta[o])) as f32);
    }
    (w, b)
}

/// A value of the graph: its name, channels and spatial size (square maps; 1 after pooling).
#[derive(Debug, Clone)]
struct Val {
    name: String,
    c: usize,
    hw: usize,
}

/// The activation after a conv (+ folded BN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Linear,
    Relu6,
    Silu,
    Relu,
}

/// Accumulates nodes and initializers, reading (and marking as used) the weights by name.
struct Builder<'a> {
    w: &'a Weights,
    used: BTreeSet<String>,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    names: BTreeSet<String>,
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints,
        ..Default::default()
    }
}

fn float_value_info(
    name: &str,
    dims: &[pb::tensor_shape_proto::dimension::Value],
) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| pb::tensor_shape_proto::Dimension {
                            value: Some(d.clone()),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn i64_dim(n: usize) -> i64 {
    i64::try_from(n).expect("tensor dimensions fit in i64")
}

impl<'a> Builder<'a> {
    fn new(w: &'a Weights) -> Self {
        Builder {
            w,
            used: BTreeSet::new(),
            nodes: Vec::new(),
            inits: Vec::new(),
            names: BTreeSet::new(),
        }
    }

    /// A weight tensor by name, marked as used.
    fn take(&mut self, name: &str, rank: usize) -> Result<&'a WeightTensor> {
        let t = self.w.get_rank(name, rank)?;
        self.used.insert(name.to_string());
        Ok(t)
    }

    /// The error for a weight of the wrong shape.
    fn shape_err(&self, name: &str, t: &WeightTensor, want: &str) -> Error {
        Error::model(
            self.w.path(),
            format!("tensor `{name}`"),
            format!("shape {:?}, the network wants {want}", t.shape),
        )
    }

    /// A fresh value name based on `base`.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn init_f32(&mut self, base: &str, dims: &[usize], data: &[f32]) -> String {
        let name = self.fresh(base);
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| i64_dim(d)).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    fn init_i64(&mut self, base: &str, data: &[i64]) -> String {
        let name = self.fresh(base);
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![i64_dim(data.len())],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Adds a node with one output named after `base`; returns the output name.
    fn node(
        &mut self,
        op: &str,
        base: &str,
        inputs: &[&str],
        attribute: Vec<pb::AttributeProto>,
    ) -> String {
        let out = self.fresh(base);
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| (*s).to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        out
    }

    /// The graph input and the ImageNet normalisation `(x − mean) / std`.
    fn input(&mut self, s: usize) -> Result<Val> {
        self.names.insert(INPUT.to_string());
        let mean = self.init_f32("imagenet_mean", &[1, 3, 1, 1], &IMAGENET_MEAN);
        let std = self.init_f32("imagenet_std", &[1, 3, 1, 1], &IMAGENET_STD);
        let centred = self.node("Sub", "normalize.sub", &[INPUT, &mean], vec![]);
        let name = self.node("Div", "normalize", &[&centred, &std], vec![]);
        Ok(Val { name, c: 3, hw: s })
    }

    fn act(&mut self, x: String, act: Act, base: &str) -> String {
        match act {
            Act::Linear => x,
            Act::Relu => self.node("Relu", &format!("{base}.relu"), &[&x], vec![]),
            Act::Relu6 => {
                let lo = self.shared_scalar("relu6_min", 0.0);
                let hi = self.shared_scalar("relu6_max", 6.0);
                self.node("Clip", &format!("{base}.relu6"), &[&x, &lo, &hi], vec![])
            }
            Act::Silu => {
                let s = self.node("Sigmoid", &format!("{base}.sigmoid"), &[&x], vec![]);
                self.node("Mul", &format!("{base}.silu"), &[&x, &s], vec![])
            }
        }
    }

    /// A scalar f32 initializer created once under `name`.
    fn shared_scalar(&mut self, name: &str, v: f32) -> String {
        if !self.inits.iter().any(|t| t.name == name) {
            let got = self.init_f32(name, &[], &[v]);
            debug_assert_eq!(got, name);
        }
        name.to_string()
    }

    /// `k×k` conv `{conv}.weight` (+ `{conv}.bias` when `bias`) with "same" padding `(k−1)/2`,
    /// BatchNorm `{bn}.*` folded in when given, then `act`. `depthwise` sets groups = channels.
    fn conv(
        &mut self,
        x: &Val,
        conv: &str,
        bias: bool,
        bn: Option<&str>,
        stride: usize,
        depthwise: bool,
        act: Act,
    ) -> Result<Val> {
        let wname = format!("{conv}.weight");
        let w = self.take(&wname, 4)?;
        let (c_out, c_in_g, k, k2) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let groups = if depthwise { x.c } else { 1 };
        if k != k2 || k % 2 == 0 || c_in_g * groups != x.c || (depthwise && c_out != x.c) {
            let want = if depthwise {
                format!("[{}, 1, k, k] (depthwise, odd k)", x.c)
            } else {
                format!("[C_out, {}, k, k] (odd k)", x.c)
            };
            return Err(self.shape_err(&wname, w, &want));
        }
        let conv_bias = if bias {
            let bname = format!("{conv}.bias");
            let b = self.take(&bname, 1)?;
            if b.shape[0] != c_out {
                return Err(self.shape_err(&bname, b, &format!("[{c_out}]")));
            }
            Some(b.data.as_slice())
        } else {
            None
        };
        let (wf, bf) = match bn {
            Some(bn) => {
                let mut p = Vec::with_capacity(4);
                for part in ["weight", "bias", "running_mean", "running_var"] {
                    let n = format!("{bn}.{part}");
                    let t = self.take(&n, 1)?;
                    if t.shape[0] != c_out {
                        return Err(self.shape_err(&n, t, &format!("[{c_out}]")));
                    }
                    p.push(t.data.as_slice());
                }
                fold_batch_norm(&w.data, c_out, conv_bias, p[0], p[1], p[2], p[3], BN_EPS)
            }
            None => (
                w.data.clone(),
                conv_bias.map_or_else(|| vec![0.0; c_out], <[f32]>::to_vec),
            ),
        };
        let base = bn.map_or(conv, |b| {
            // `features.3.conv.1.0` + `features.3.conv.1.1` → `features.3.conv.1`.
            b.rsplit_once('.').map_or(conv, |(head, _)| head)
        });
        let wi = self.init_f32(&format!("{base}.w"), &w.shape, &wf);
        let bi = self.init_f32(&format!("{base}.b"), &[c_out], &bf);
        let pad = i64_dim((k - 1) / 2);
        let attrs = vec![
            attr_ints("kernel_shape", vec![i64_dim(k), i64_dim(k)]),
            attr_ints("strides", vec![i64_dim(stride), i64_dim(stride)]),
            attr_ints("pads", vec![pad, pad, pad, pad]),
            attr_ints("dilations", vec![1, 1]),
            attr_int("group", i64_dim(groups)),
        ];
        let y = self.node("Conv", base, &[&x.name, &wi, &bi], attrs);
        let name = self.act(y, act, base);
        let hw = (x.hw + 2 * (k - 1) / 2 - k) / stride + 1;
        Ok(Val { name, c: c_out, hw })
    }

    /// torchvision `Conv2dNormActivation` at `p`: conv `{p}.0`, BN `{p}.1`, activation.
    fn conv_bn_act(&mut self, x: &Val, p: &str, stride: usize, dw: bool, act: Act) -> Result<Val> {
        self.conv(
            x,
            &format!("{p}.0"),
            false,
            Some(&format!("{p}.1")),
            stride,
            dw,
            act,
        )
    }

    fn add(&mut self, a: &Val, b: &Val, base: &str) -> Val {
        let name = self.node("Add", base, &[&a.name, &b.name], vec![]);
        Val { name, ..a.clone() }
    }

    /// `[N, C, H, W]` → `[N, C, 1, 1]`.
    fn global_avg_pool(&mut self, x: &Val, base: &str) -> Val {
        let name = self.node("GlobalAveragePool", base, &[&x.name], vec![]);
        Val {
            name,
            c: x.c,
            hw: 1,
        }
    }

    fn concat(&mut self, xs: &[&Val], axis: i64, base: &str) -> Val {
        let names: Vec<&str> = xs.iter().map(|v| v.name.as_str()).collect();
        let name = self.node("Concat", base, &names, vec![attr_int("axis", axis)]);
        Val {
            name,
            c: xs.iter().map(|v| v.c).sum(),
            hw: xs[0].hw,
        }
    }

    /// torchvision's MobileNetV2 `features.0 ..= features.{n_layers − 1}` (ImageNet-normalised input
    /// `x`); returns every layer's output.
    fn mobilenet_v2_features(&mut self, x: &Val, n_layers: usize) -> Result<Vec<Val>> {
        let mut outs = vec![self.conv_bn_act(x, "features.0", 2, false, Act::Relu6)?];
        'table: for &(t, _c, n, s) in &MNV2_SETTING {
            for i in 0..n {
                let k = outs.len();
                if k == n_layers {
                    break 'table;
                }
                let stride = if i == 0 { s } else { 1 };
                let p = format!("features.{k}.conv");
                let input = outs[k - 1].clone();
                let (h, j) = if t == 1 {
                    (input.clone(), 0)
                } else {
                    let e = self.conv_bn_act(&input, &format!("{p}.0"), 1, false, Act::Relu6)?;
                    (e, 1)
                };
                let h = self.conv_bn_act(&h, &format!("{p}.{j}"), stride, true, Act::Relu6)?;
                let h = self.conv(
                    &h,
                    &format!("{p}.{}", j + 1),
                    false,
                    Some(&format!("{p}.{}", j + 2)),
                    1,
                    false,
                    Act::Linear,
                )?;
                let out = if stride == 1 && input.c == h.c {
                    self.add(&h, &input, &format!("features.{k}"))
                } else {
                    h
                };
                outs.push(out);
            }
        }
        if outs.len() < n_layers {
            let last = outs[outs.len() - 1].clone();
            outs.push(self.conv_bn_act(&last, "features.18", 1, false, Act::Relu6)?);
        }
        Ok(outs)
    }

    /// torchvision's EfficientNet `features.0 ..= features.8` with depth coefficient `depth`.
    fn efficientnet_features(&mut self, x: &Val, depth: f64) -> Result<Val> {
        let mut h = self.conv_bn_act(x, "features.0", 2, false, Act::Silu)?;
        for (i, &(s, n)) in EFFNET_STAGES.iter().enumerate() {
            let reps = (n as f64 * depth).ceil() as usize;
            for j in 0..reps {
                let stride = if j == 0 { s } else { 1 };
                let p = format!("features.{}.{j}.block", i + 1);
                let input = h.clone();
                // With an expansion conv the projection is `block.3`, else `block.2`.
                let expand = self.w.contains(&format!("{p}.3.0.weight"));
                let (mut e, k) = if expand {
                    let e = self.conv_bn_act(&input, &format!("{p}.0"), 1, false, Act::Silu)?;
                    (e, 1)
                } else {
                    (input.clone(), 0)
                };
                e = self.conv_bn_act(&e, &format!("{p}.{k}"), stride, true, Act::Silu)?;
                // Squeeze-and-excitation: GAP → fc1 → SiLU → fc2 → sigmoid → scale.
                let se = format!("{p}.{}", k + 1);
                let g = self.global_avg_pool(&e, &format!("{se}.pool"));
                let g = self.conv(&g, &format!("{se}.fc1"), true, None, 1, false, Act::Silu)?;
                let g = self.conv(&g, &format!("{se}.fc2"), true, None, 1, false, Act::Linear)?;
                if g.c != e.c {
                    return Err(Error::model(
                        self.w.path(),
                        format!("tensor `{se}.fc2.weight`"),
                        format!("{} output channels for a block of {}", g.c, e.c),
                    ));
                }
                let sig = self.node("Sigmoid", &format!("{se}.gate"), &[&g.name], vec![]);
                let scaled = self.node("Mul", &format!("{se}.scale"), &[&e.name, &sig], vec![]);
                e = Val { name: scaled, ..e };
                let out = self.conv_bn_act(&e, &format!("{p}.{}", k + 2), 1, false, Act::Linear)?;
                h = if stride == 1 && input.c == out.c {
                    self.add(&out, &input, &format!("features.{}.{j}", i + 1))
                } else {
                    out
                };
            }
        }
        self.conv_bn_act(&h, "features.8", 1, false, Act::Silu)
    }

    /// `[N, C, 1, 1]` → `[N, C]` → `Linear` `{p}.weight` `[O, C]`, `{p}.bias`, output named `out`.
    fn gemm_head(&mut self, pooled: &Val, p: &str, out: &str) -> Result<()> {
        let wname = format!("{p}.weight");
        let w = self.take(&wname, 2)?;
        if w.shape[1] != pooled.c {
            return Err(self.shape_err(&wname, w, &format!("[O, {}]", pooled.c)));
        }
        let bname = format!("{p}.bias");
        let b = self.take(&bname, 1)?;
        if b.shape[0] != w.shape[0] {
            return Err(self.shape_err(&bname, b, &format!("[{}]", w.shape[0])));
        }
        let flat = self.node(
            "Flatten",
            &format!("{p}.flatten"),
            &[&pooled.name],
            vec![attr_int("axis", 1)],
        );
        let wi = self.init_f32(&format!("{p}.w"), &w.shape, &w.data);
        let bi = self.init_f32(&format!("{p}.b"), &b.shape, &b.data);
        self.names.insert(out.to_string());
        self.nodes.push(pb::NodeProto {
            input: vec![flat, wi, bi],
            output: vec![out.to_string()],
            name: p.to_string(),
            op_type: "Gemm".into(),
            attribute: vec![attr_int("transB", 1)],
            ..Default::default()
        });
        Ok(())
    }

    /// GAP → (dropout = identity) → `Linear` `{p}` to the output `out`.
    fn regression_head(&mut self, features: &Val, p: &str, out: &str) -> Result<()> {
        let pooled = self.global_avg_pool(features, "pool");
        self.gemm_head(&pooled, p, out)
    }

    /// Bilinear resize of `x` to `size × size` as PyTorch's `upsample_bilinear2d` with
    /// align_corners = false (ONNX `half_pixel`), written as two MatMuls with constant
    /// interpolation matrices, `y = A·x·Bᵀ` ([`bilinear_matrix`]): tract's `Resize` op resamples
    /// generically (~10 ns per output value; 0.82 of adult68-heatmap's 6.6 ms at 96 px), the
    /// matmuls run on its matrix kernels.
    fn resize(&mut self, x: &Val, size: usize, base: &str) -> Val {
        let a = bilinear_matrix(x.hw, size);
        let mut at = vec![0f32; a.len()];
        for o in 0..size {
            for i in 0..x.hw {
                at[i * size + o] = a[o * x.hw + i];
            }
        }
        let bt = self.init_f32(&format!("{base}.cols"), &[x.hw, size], &at);
        let a = self.init_f32(&format!("{base}.rows"), &[size, x.hw], &a);
        // [N, C, h, w] · [w, W] → [N, C, h, W]; then [H, h] · [N, C, h, W] → [N, C, H, W].
        let cols = self.node("MatMul", &format!("{base}.w"), &[&x.name, &bt], vec![]);
        let name = self.node("MatMul", base, &[&a, &cols], vec![]);
        Val {
            name,
            c: x.c,
            hw: size,
        }
    }

    /// The heatmap model's decoder, head, activation and soft-argmax (output `landmarks`).
    fn heatmap_head(
        &mut self,
        f: &[Val],
        s: usize,
        heatmap_size: Option<usize>,
        activation: HeatmapActivation,
        decode_power: u32,
        separable: bool,
    ) -> Result<()> {
        let mut h = f[HEATMAP_TAPS[3]].clone();
        for (k, &tap) in [HEATMAP_TAPS[2], HEATMAP_TAPS[1], HEATMAP_TAPS[0]]
            .iter()
            .enumerate()
        {
            let skip = f[tap].clone();
            let up = self.resize(&h, skip.hw, &format!("decoder.{k}.up"));
            let cat = self.concat(&[&up, &skip], 1, &format!("decoder.{k}.cat"));
            h = if separable {
                let dw = self.conv_bn_act(&cat, &format!("decoder.{k}.dw"), 1, true, Act::Relu)?;
                self.conv_bn_act(&dw, &format!("decoder.{k}.pw"), 1, false, Act::Relu)?
            } else {
                self.conv_bn_act(&cat, &format!("decoder.{k}"), 1, false, Act::Relu)?
            };
        }
        if let Some(size) = heatmap_size {
            if size != h.hw {
                h = self.resize(&h, size, "heatmap.resize");
            }
        }
        let logits = self.conv(&h, "head", true, None, 1, false, Act::Linear)?;
        let hm = match activation {
            HeatmapActivation::Softplus => self.stable_softplus(&logits.name, "heatmaps"),
            HeatmapActivation::Relu => self.node("Relu", "heatmaps", &[&logits.name], vec![]),
        };
        let hm = if decode_power > 1 {
            let k = self.init_f32("heatmap.decode_power", &[], &[decode_power as f32]);
            self.node("Pow", "heatmaps.powered", &[&hm, &k], vec![])
        } else {
            hm
        };
        self.soft_argmax(&hm, logits.hw, s);
        Ok(())
    }

    /// softplus(x) = ln(1 + eˣ) written as max(x, 0) + ln(1 + e^−|x|), the form that cannot
    /// overflow: tract's `Softplus` computes ln(1 + eˣ) as written, which is +∞ from x ≈ 89 on
    /// (f32), and a sharp heatmap's logits get there (the soft-argmax then divides ∞ by ∞: NaN
    /// landmarks), while PyTorch's softplus returns x itself above 20. Equal to both elsewhere
    /// to f32 rounding.
    fn stable_softplus(&mut self, x: &str, out: &str) -> String {
        let pos = self.node("Relu", &format!("{out}.pos"), &[x], vec![]);
        let abs = self.node("Abs", &format!("{out}.abs"), &[x], vec![]);
        let neg = self.node("Neg", &format!("{out}.neg_abs"), &[&abs], vec![]);
        let soft = self.node("Softplus", &format!("{out}.tail"), &[&neg], vec![]);
        self.node("Add", out, &[&pos, &soft], vec![])
    }

    /// Soft-argmax of `[N, M, w, w]` maps `hm` to the output `landmarks` `[N, 2M]` crop_u, as
    /// `facealign::model::soft_argmax_crop_u`: p = H / max(ΣH, 1e-6), E[j] and E[i] the expected
    /// column and row, u = ((E + 0.5)·S/w − 0.5)/S − 0.5.
    fn soft_argmax(&mut self, hm: &str, w: usize, s: usize) {
        let axes23 = self.init_i64("softargmax.axes23", &[2, 3]);
        let total = self.node(
            "ReduceSum",
            "softargmax.total",
            &[hm, &axes23],
            vec![attr_int("keepdims", 1)],
        );
        let floor = self.shared_scalar("softargmax.min_total", 1e-6);
        let total = self.node("Max", "softargmax.total_clamped", &[&total, &floor], vec![]);
        let p = self.node("Div", "softargmax.p", &[hm, &total], vec![]);
        let axis2 = self.init_i64("softargmax.axis2", &[2]);
        let axis3 = self.init_i64("softargmax.axis3", &[3]);
        // Column marginal (sum over rows) · j and row marginal (sum over columns) · i.
        let px = self.node(
            "ReduceSum",
            "softargmax.px",
            &[&p, &axis2],
            vec![attr_int("keepdims", 0)],
        );
        let py = self.node(
            "ReduceSum",
            "softargmax.py",
            &[&p, &axis3],
            vec![attr_int("keepdims", 0)],
        );
        let idx: Vec<f32> = (0..w).map(|j| j as f32).collect();
        let idx = self.init_f32("softargmax.index", &[w, 1], &idx);
        let ex = self.node("MatMul", "softargmax.ex", &[&px, &idx], vec![]);
        let ey = self.node("MatMul", "softargmax.ey", &[&py, &idx], vec![]);
        let e = self.node(
            "Concat",
            "softargmax.e",
            &[&ex, &ey],
            vec![attr_int("axis", 2)],
        );
        // Expected cells → crop_u: the affine map of `facealign_core::coords`, computed in f64.
        let to_u = facealign_core::coords::crop_u_to_cell(s as f64, w as f64).inverse();
        let a = to_u.scale as f32;
        let c = to_u.offset as f32;
        let a = self.init_f32("softargmax.scale", &[], &[a]);
        let c = self.init_f32("softargmax.offset", &[], &[c]);
        let scaled = self.node("Mul", "softargmax.scaled", &[&e, &a], vec![]);
        let u = self.node("Add", "softargmax.u", &[&scaled, &c], vec![]);
        let shape = self.init_i64("softargmax.out_shape", &[0, -1]);
        self.names.insert(OUTPUT.to_string());
        self.nodes.push(pb::NodeProto {
            input: vec![u, shape],
            output: vec![OUTPUT.to_string()],
            name: OUTPUT.to_string(),
            op_type: "Reshape".into(),
            ..Default::default()
        });
    }

    /// Every tensor of the file must have been used: an unused one means the config and the
    /// weights describe different networks.
    fn check_all_used(&self) -> Result<()> {
        match self.w.tensors().keys().find(|k| !self.used.contains(*k)) {
            Some(extra) => Err(Error::model(
                self.w.path(),
                format!("tensor `{extra}`"),
                "not part of the network the config describes (a different model?)",
            )),
            None => Ok(()),
        }
    }

    fn finish(self, spec: &NetSpec, outputs: &[(String, usize)]) -> pb::ModelProto {
        use pb::tensor_shape_proto::dimension::Value as Dim;
        let s = i64_dim(spec.input_size);
        let batch = Dim::DimParam(BATCH_DIM.into());
        let input = float_value_info(
            INPUT,
            &[
                batch.clone(),
                Dim::DimValue(3),
                Dim::DimValue(s),
                Dim::DimValue(s),
            ],
        );
        let output = outputs
            .iter()
            .map(|(n, d)| float_value_info(n, &[batch.clone(), Dim::DimValue(i64_dim(*d))]))
            .collect();
        let mut meta: BTreeMap<String, String> = BTreeMap::new();
        meta.insert("facealign.arch".into(), spec.arch.name().into());
        meta.insert("facealign.input_size".into(), spec.input_size.to_string());
        meta.insert("facealign.n_points".into(), spec.n_points.to_string());
        for key in [META_SCHEME, META_CONFIG] {
            if let Some(v) = self.w.metadata().get(key) {
                meta.insert(key.into(), v.clone());
            }
        }
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "facealign-infer".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: "facealign landmark network: input [N,3,S,S] RGB in [0,1]; output \
                         landmarks [N,2M] crop units (u = crop_px/S - 0.5), x0,y0,x1,y1,..."
                .into(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: format!("facealign_{}", spec.arch.name()),
                initializer: self.inits,
                input: vec![input],
                output,
                ..Default::default()
            }),
            metadata_props: meta
                .into_iter()
                .map(|(key, value)| pb::StringStringEntryProto { key, value })
                .collect(),
            ..Default::default()
        }
    }
}

/// The `n_out × n_in` row-major matrix of 1-D linear interpolation with PyTorch's
/// align_corners = false rule: output `o` reads the source position
/// `max((o + 0.5)·n_in/n_out − 0.5, 0)` between its two neighbours (the last index repeats at
/// the far edge).
fn bilinear_matrix(n_in: usize, n_out: usize) -> Vec<f32> {
    let scale = n_in as f64 / n_out as f64;
    let mut m = vec![0f32; n_out * n_in];
    for o in 0..n_out {
        let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        let l1 = src - i0 as f64;
        m[o * n_in + i0] += (1.0 - l1) as f32;
        m[o * n_in + i1] += l1 as f32;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_option_outside_its_choices_is_a_named_error() {
        // A heatmap model file whose config names an unknown decoder or activation.
        let head = vec![0u8; 4 * 68 * 64];
        let spec = |model: &str| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![68, 64, 1, 1],
                &head,
            )
            .unwrap();
            let meta = std::collections::HashMap::from([(
                META_CONFIG.to_string(),
                format!("[data]\ninput_size = 96\n[model]\narch = \"heatmap\"\n{model}"),
            )]);
            let bytes = safetensors::serialize([("head.weight", view)], Some(meta)).unwrap();
            net_spec(&Weights::from_bytes(&bytes, Path::new("m.safetensors")).unwrap())
        };
        let ok = spec("decoder = \"separable\"\nactivation = \"relu\"").unwrap();
        assert!(matches!(
            ok.arch,
            Arch::Heatmap {
                separable: true,
                activation: HeatmapActivation::Relu,
                ..
            }
        ));
        let e = spec("decoder = \"sparse\"").unwrap_err().to_string();
        assert!(
            e.contains("model.decoder") && e.contains(r#"must be "dense" or "separable""#),
            "{e}"
        );
        let e = spec("activation = 1").unwrap_err().to_string();
        assert!(
            e.contains("model.activation") && e.contains(r#"must be "softplus" or "relu", got 1"#),
            "{e}"
        );
    }

    #[test]
    fn a_scheme_of_another_size_than_the_head_is_a_named_error() {
        // A 68-point regression head in a file whose metadata says `wflw98` (used to panic with
        // an index out of bounds when refinement looked up the eye corners).
        let head = vec![0u8; 4 * 136 * 8];
        let spec = |scheme: &str| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![136, 8], &head)
                    .unwrap();
            let meta = std::collections::HashMap::from([
                (
                    META_CONFIG.to_string(),
                    "[data]\ninput_size = 96\n".to_string(),
                ),
                (META_SCHEME.to_string(), scheme.to_string()),
            ]);
            let bytes = safetensors::serialize([("head.weight", view)], Some(meta)).unwrap();
            net_spec(&Weights::from_bytes(&bytes, Path::new("m.safetensors")).unwrap())
        };
        assert_eq!(spec("ibug68").expect("68 points match").n_points, 68);
        let e = spec("wflw98").unwrap_err();
        assert!(
            matches!(&e, Error::Model { location, .. } if location == "metadata facealign.scheme")
        );
        assert_eq!(
            e.to_string(),
            "m.safetensors: metadata facealign.scheme: scheme `wflw98` has 98 landmarks but the \
             network's head predicts 68"
        );
        assert!(spec("five")
            .unwrap_err()
            .to_string()
            .contains("`five` has 5 landmarks"));
    }

    #[test]
    fn bilinear_matrix_by_hand() {
        // 2 → 4 (scale 1/2): sources max(−0.25, 0) = 0, 0.25, 0.75, 1.25 (past the last index).
        assert_eq!(
            bilinear_matrix(2, 4),
            vec![1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0]
        );
        // 4 → 2 (scale 2): sources 0.5 and 2.5.
        assert_eq!(
            bilinear_matrix(4, 2),
            vec![0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]
        );
        // Same size: the identity.
        assert_eq!(bilinear_matrix(2, 2), vec![1.0, 0.0, 0.0, 1.0]);
        // 3 → 5 (scale 0.6): o = 1 reads 0.4, o = 2 reads 1.0, o = 4 reads 2.2 → clamped to 2.
        let m = bilinear_matrix(3, 5);
        assert!(
            (m[3] - 0.6).abs() < 1e-7 && (m[4] - 0.4).abs() < 1e-7,
            "{m:?}"
        );
        assert_eq!(&m[6..9], &[0.0, 1.0, 0.0]);
        assert_eq!(&m[12..15], &[0.0, 0.0, 1.0]);
    }

    #[test]
    fn batch_norm_folds_by_hand() {
        // Two output channels, one 1×1 input channel:
        // o = 0: w = 2, conv bias 1, γ = 3, β = 0.5, μ = 1, σ² = 4 − eps → scale = 3/2 = 1.5:
        //        w' = 3, b' = (1 − 1)·1.5 + 0.5 = 0.5.
        // o = 1: w = −1, no conv bias (0), γ = 1, β = −2, μ = 0.5, σ² = 0.25 − eps → scale = 2:
        //        w' = −2, b' = (0 − 0.5)·2 − 2 = −3.
        let eps = 1e-5;
        let var = [(4.0 - eps) as f32, (0.25 - eps) as f32];
        let (w, b) = fold_batch_norm(
            &[2.0, -1.0],
            2,
            Some(&[1.0, 0.0]),
            &[3.0, 1.0],
            &[0.5, -2.0],
            &[1.0, 0.5],
            &var,
            eps,
        );
        for (got, want) in w.iter().chain(&b).zip([3.0f32, -2.0, 0.5, -3.0]) {
            assert!((got - want).abs() < 1e-6, "{w:?} {b:?}");
        }
        // A 2-channel 1×2 kernel: every weight of a row scales alike; no bias → b' = β − μ·scale.
        let (w, b) = fold_batch_norm(
            &[1.0, 2.0, 3.0, 4.0],
            1,
            None,
            &[2.0],
            &[1.0],
            &[0.5],
            &[(1.0 - eps) as f32],
            eps,
        );
        assert!(w
            .iter()
            .zip([2.0f32, 4.0, 6.0, 8.0])
            .all(|(g, w)| (g - w).abs() < 1e-6));
        assert!((b[0] - 0.0).abs() < 1e-6, "{b:?}");
    }
}

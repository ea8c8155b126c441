//! A thin wrapper over `tract-onnx`: load a model with a fixed input shape, run it on one
//! f32 tensor, and read the outputs back as flat vectors.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use facealign_core::{Error, Result};
use tract_onnx::prelude::*;

/// A loaded, optimised ONNX model with one fixed-shape f32 input.
pub(crate) struct OnnxModel {
    path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
    output_names: Vec<String>,
}

/// One output: its shape and values (row-major).
pub(crate) struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl OnnxModel {
    /// Load `path`, fix input 0 to `input_shape` (f32), optimise. `ConstantOfShape` nodes
    /// without a fill value get the ONNX default first (see [`default_fill_f32`]).
    pub fn load(path: &Path, input_shape: &[usize]) -> Result<OnnxModel> {
        crate::kernels::choose_tract_kernels();
        if !path.is_file() {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "detector model file not found",
                ),
            ));
        }
        let bad = |e: TractError| Error::parse(path, "onnx model", format!("{e:#}"));
        let onnx = tract_onnx::onnx();
        let mut proto = onnx.proto_model_for_path(path).map_err(bad)?;
        default_fill_f32(&mut proto);
        let model = onnx.model_for_proto_model(&proto).map_err(bad)?;
        let output_names = model
            .output_outlets()
            .map_err(bad)?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .unwrap_or(&model.node(o.node).name)
                    .to_string()
            })
            .collect();
        let plan = model
            .with_input_fact(0, f32::fact(input_shape).into())
            .map_err(bad)?
            .into_optimized()
            .map_err(bad)?
            .into_runnable()
            .map_err(bad)?;
        Ok(OnnxModel {
            path: path.to_path_buf(),
            plan,
            input_shape: input_shape.to_vec(),
            output_names,
        })
    }

    /// Run on `input` (row-major, `input_shape` elements); outputs in the model's order.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Output>> {
        if input.len() != self.input_shape.iter().product::<usize>() {
            return Err(Error::invalid(
                "detector input",
                format!("{} values for shape {:?}", input.len(), self.input_shape),
            ));
        }
        let bad = |e: TractError| Error::parse(&self.path, "onnx inference", format!("{e:#}"));
        let tensor = Tensor::from_shape(&self.input_shape, &input).map_err(bad)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(bad)?;
        outputs
            .iter()
            .map(|t| {
                let view = t.to_plain_array_view::<f32>().map_err(bad)?;
                Ok(Output {
                    shape: view.shape().to_vec(),
                    data: view.iter().copied().collect(),
                })
            })
            .collect()
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index of the output called `name`; an error naming the file if absent.
    pub fn output_index(&self, name: &str) -> Result<usize> {
        self.output_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| {
                Error::parse(
                    &self.path,
                    "onnx outputs",
                    format!("no output `{name}` (has {:?})", self.output_names),
                )
            })
    }
}

/// Give every `ConstantOfShape` node without a `value` attribute the ONNX default (a
/// float32 zero); returns how many were changed.
///
/// tract-onnx 0.23 fills such nodes with an **f64** zero (`rctensor0(0.0)` in
/// `ops/array/mod.rs`), so a graph that concatenates that fill with f32 activations (the
/// tf2onnx BlazeFace export pads channels this way) fails to load with "Impossible to unify
/// F32 with F64". Setting the default explicitly gives the spec's behaviour.
pub(crate) fn default_fill_f32(proto: &mut tract_onnx::pb::ModelProto) -> usize {
    use tract_onnx::pb;
    const FLOAT: i32 = 1;
    const TENSOR: i32 = 4;
    let mut n = 0;
    let Some(graph) = proto.graph.as_mut() else {
        return 0;
    };
    for node in graph
        .node
        .iter_mut()
        .filter(|n| n.op_type == "ConstantOfShape")
    {
        if node.attribute.iter().any(|a| a.name == "value") {
            continue;
        }
        node.attribute.push(pb::AttributeProto {
            name: "value".into(),
            r#type: TENSOR,
            t: Some(pb::TensorProto {
                dims: vec![1],
                data_type: FLOAT,
                float_data: vec![0.0],
                ..Default::default()
            }),
            ..Default::default()
        });
        n += 1;
    }
    n
}

/// Resize `img` to `rw × rh` (bilinear) and write it into a `in_w × in_h` canvas at the
/// top-left, channels mapped by `f(r, g, b) -> [c0, c1, c2]`, padding filled with `pad`.
/// Returns the canvas as HWC (`nchw = false`) or CHW (`nchw = true`) f32.
pub(crate) fn to_tensor(
    img: &image::RgbImage,
    rw: u32,
    rh: u32,
    in_w: u32,
    in_h: u32,
    nchw: bool,
    pad: [f32; 3],
    f: impl Fn([u8; 3]) -> [f32; 3],
) -> Vec<f32> {
    let resized = if (img.width(), img.height()) == (rw, rh) {
        img.clone()
    } else {
        resize_bilinear(img, rw.max(1), rh.max(1))
    };
    let (w, h) = (in_w as usize, in_h as usize);
    let mut out = vec![0.0f32; 3 * w * h];
    for y in 0..h {
        for x in 0..w {
            let v = if (x as u32) < resized.width() && (y as u32) < resized.height() {
                f(resized.get_pixel(x as u32, y as u32).0)
            } else {
                pad
            };
            for c in 0..3 {
                let i = if nchw {
                    c * w * h + y * w + x
                } else {
                    (y * w + x) * 3 + c
                };
                out[i] = v[c];
            }
        }
    }
    out
}

/// Resize with the bilinear (triangle) convolution filter, the filter `image::imageops::resize`'s
/// `Triangle` applies (support widened by the scale when shrinking), on `fast_image_resize`'s SIMD
/// kernels (several times faster than the image crate; within one grey level of it, the test below).
pub fn resize_bilinear(img: &image::RgbImage, w: u32, h: u32) -> image::RgbImage {
    use fast_image_resize::{images::Image, images::ImageRef, FilterType, PixelType};
    use fast_image_resize::{ResizeAlg, ResizeOptions, Resizer};
    let fallback = || image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
    let Ok(src) = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x3) else {
        return fallback();
    };
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    match Resizer::new().resize(&src, &mut dst, &opts) {
        Ok(()) => image::RgbImage::from_raw(w, h, dst.into_vec()).unwrap_or_else(fallback),
        Err(_) => fallback(),
    }
}

/// Check that output `name` of `path` has `len` values.
pub(crate) fn expect_len(path: &Path, name: &str, out: &Output, len: usize) -> Result<()> {
    if out.data.len() == len {
        Ok(())
    } else {
        Err(Error::parse(
            path,
            format!("output {name}"),
            format!("expected {len} values, got shape {:?}", out.shape),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_resize_matches_the_image_crates_triangle_filter() {
        // A real photo shrunk to the detectors' inputs (and a synthetic gradient enlarged): the SIMD
        // kernel is the same bilinear convolution, within rounding of the image crate's.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/fixtures/dlib/2008_001322.jpg"
        );
        let photo = facealign_core::imageio::decode_rgb(path.as_ref()).unwrap();
        let grad = image::RgbImage::from_fn(37, 23, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 11) as u8, ((x + y) * 3) as u8])
        });
        for (img, w, h) in [(&photo, 320, 240), (&photo, 128, 128), (&grad, 80, 61)] {
            let ours = resize_bilinear(img, w, h);
            let theirs = image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
            let d: Vec<i32> = ours
                .as_raw()
                .iter()
                .zip(theirs.as_raw())
                .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
                .collect();
            let max = *d.iter().max().unwrap();
            let mean = d.iter().map(|&v| f64::from(v)).sum::<f64>() / d.len() as f64;
            eprintln!("{w}x{h}: max {max}, mean {mean:.4}");
            assert!(max <= 1 && mean < 0.2, "{w}x{h}: max {max}, mean {mean}");
        }
    }

    #[test]
    fn missing_fill_gets_f32_zero() {
        use tract_onnx::pb;
        // Node 0: ConstantOfShape without `value` (gets f32 0); node 1: one with an explicit
        // f64 value (kept); node 2: another op (kept).
        let explicit = pb::AttributeProto {
            name: "value".into(),
            t: Some(pb::TensorProto {
                data_type: 11,
                double_data: vec![2.0],
                ..Default::default()
            }),
            ..Default::default()
        };
        let node = |op: &str, attribute: Vec<pb::AttributeProto>| pb::NodeProto {
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        };
        let graph = pb::GraphProto {
            node: vec![
                node("ConstantOfShape", vec![]),
                node("ConstantOfShape", vec![explicit]),
                node("Relu", vec![]),
            ],
            ..Default::default()
        };
        let mut proto = pb::ModelProto {
            graph: Some(graph),
            ..Default::default()
        };
        assert_eq!(default_fill_f32(&mut proto), 1);
        let g = proto.graph.as_ref().expect("graph");
        let t0 = g.node[0].attribute[0].t.clone().expect("tensor");
        assert_eq!(
            (t0.data_type, t0.float_data, t0.dims),
            (1, vec![0.0], vec![1])
        );
        assert_eq!(
            g.node[1].attribute[0].t.as_ref().map(|t| t.data_type),
            Some(11)
        );
        assert!(g.node[2].attribute.is_empty());
    }

    #[test]
    fn to_tensor_layout_and_padding() {
        // A 2×1 image [red, blue] into a 3×2 canvas, no resize: CHW channel 0 row 0 is
        // [255, 0, pad]; row 1 is all padding.
        let mut img = image::RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([0, 0, 255]));
        let f = |p: [u8; 3]| [p[0] as f32, p[1] as f32, p[2] as f32];
        let chw = to_tensor(&img, 2, 1, 3, 2, true, [-1.0; 3], f);
        assert_eq!(&chw[0..6], &[255.0, 0.0, -1.0, -1.0, -1.0, -1.0]);
        assert_eq!(&chw[12..15], &[0.0, 255.0, -1.0]); // channel 2 (blue), row 0
        let hwc = to_tensor(&img, 2, 1, 3, 2, false, [-1.0; 3], f);
        assert_eq!(&hwc[0..6], &[255.0, 0.0, 0.0, 0.0, 0.0, 255.0]);
        assert_eq!(&hwc[6..9], &[-1.0, -1.0, -1.0]);
    }
}

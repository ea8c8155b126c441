//! Probe (issue 17): UltraFace's stride-2 depthwise convolutions run on tract's scalar path (its
//! x86 depthwise kernel vectorises only unit input strides). Rewrite each as a stride-1
//! depthwise convolution followed by a Slice with steps 2 (the same taps in the same order, so
//! the same outputs), and time the two plans interleaved.
//! `cargo run --release -p facealign-infer --example dw_stride_probe [-- ROUNDS]`
use std::time::Instant;

use tract_onnx::pb;
use tract_onnx::prelude::*;

fn attr<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn i64_tensor(name: &str, v: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// Rewrites every grouped (depthwise) Conv with strides [2, 2]; returns how many.
fn rewrite(proto: &mut pb::ModelProto) -> usize {
    let g = proto.graph.as_mut().expect("graph");
    let mut nodes = Vec::new();
    let mut k = 0;
    for (j, mut n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        // The file's own opset-9 Slices (attributes) become opset-10 ones (inputs).
        if n.op_type == "Slice" && attr(&n, "starts").is_some() {
            for key in ["starts", "ends", "axes"] {
                if let Some(a) = attr(&n, key) {
                    let name = format!("dwprobe_own{j}_{key}");
                    g.initializer.push(i64_tensor(&name, &a.ints));
                    n.input.push(name);
                }
            }
            n.attribute.clear();
            nodes.push(n);
            continue;
        }
        let dw = n.op_type == "Conv"
            && attr(&n, "group").is_some_and(|a| a.i > 1)
            && attr(&n, "strides").is_some_and(|a| a.ints == [2, 2]);
        if !dw {
            nodes.push(n);
            continue;
        }
        for a in n.attribute.iter_mut().filter(|a| a.name == "strides") {
            a.ints = vec![1, 1];
        }
        let out = n.output[0].clone();
        let mid = format!("{out}__stride1");
        n.output[0] = mid.clone();
        nodes.push(n);
        let p = format!("dwprobe{k}");
        g.initializer
            .push(i64_tensor(&format!("{p}_starts"), &[0, 0]));
        g.initializer
            .push(i64_tensor(&format!("{p}_ends"), &[i64::MAX, i64::MAX]));
        g.initializer
            .push(i64_tensor(&format!("{p}_axes"), &[2, 3]));
        g.initializer
            .push(i64_tensor(&format!("{p}_steps"), &[2, 2]));
        nodes.push(pb::NodeProto {
            name: format!("{p}_slice"),
            op_type: "Slice".into(),
            input: vec![
                mid,
                format!("{p}_starts"),
                format!("{p}_ends"),
                format!("{p}_axes"),
                format!("{p}_steps"),
            ],
            output: vec![out],
            ..Default::default()
        });
        k += 1;
    }
    g.node = nodes;
    // Slice takes steps (as inputs) from opset 10 on; this file's ops mean the same at 11.
    for o in proto
        .opset_import
        .iter_mut()
        .filter(|o| o.domain.is_empty())
    {
        println!("opset {} -> 11", o.version);
        o.version = o.version.max(11);
    }
    k
}

fn plan(proto: &pb::ModelProto, shape: &[usize]) -> TractResult<Arc<TypedRunnableModel>> {
    tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> TractResult<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!(
        "tract kernels: {}",
        facealign_detect::kernels::choose_tract_kernels()
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/detectors/version-RFB-320.onnx"
    );
    let shape = [1usize, 3, 240, 320];
    let proto = tract_onnx::onnx().proto_model_for_path(path)?;
    let mut rewritten = proto.clone();
    let n = rewrite(&mut rewritten);
    let a = plan(&proto, &shape)?;
    let b = plan(&rewritten, &shape)?;
    // A deterministic, photo-like input in [-1, 1].
    let len: usize = shape.iter().product();
    let x: Vec<f32> = (0..len)
        .map(|i| {
            ((i as f32 * 0.013).sin() * 0.7 + (i as f32 * 0.0007).cos() * 0.3).clamp(-1.0, 1.0)
        })
        .collect();
    let input =
        || -> TractResult<TVec<TValue>> { Ok(tvec!(Tensor::from_shape(&shape, &x)?.into())) };
    let oa = a.run(input()?)?;
    let ob = b.run(input()?)?;
    let mut maxd = 0f32;
    for (p, q) in oa.iter().zip(&ob) {
        let p = p.to_plain_array_view::<f32>()?;
        let q = q.to_plain_array_view::<f32>()?;
        for (u, v) in p.iter().zip(q.iter()) {
            maxd = maxd.max((u - v).abs());
        }
    }
    println!("{n} stride-2 depthwise convolutions rewritten; outputs differ by at most {maxd:e}");
    let time = |p: &Arc<TypedRunnableModel>| -> TractResult<f64> {
        let mut t = Vec::new();
        for _ in 0..10 {
            p.run(input()?)?;
        }
        for _ in 0..100 {
            let t0 = Instant::now();
            p.run(input()?)?;
            t.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median(t))
    };
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (x, y) = (time(&a)?, time(&b)?);
        println!("round {r}: stride 2 {x:.3} ms, stride 1 + slice {y:.3} ms");
        ta.push(x);
        tb.push(y);
    }
    let wins = ta.iter().zip(&tb).filter(|(x, y)| y < x).count();
    println!(
        "medians: stride 2 {:.3} ms, stride 1 + slice {:.3} ms; rewritten faster in {wins} of {rounds}",
        median(ta),
        median(tb)
    );
    Ok(())
}

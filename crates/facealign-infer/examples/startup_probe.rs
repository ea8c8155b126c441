//! Probe (issue 17): where a landmark network's start-up goes, and what two alternatives would
//! save. Times, per stage, the median of ROUNDS builds of MODEL: reading the safetensors,
//! generating the ONNX graph, tract's ONNX import + typing, declutter, the batch-1 plan (batch
//! fixed, channel-last, optimise), as `TractNet` builds it; then (a) one declutter only, with the
//! batch fixed and channel-last applied to the typed graph (its output is compared with the
//! plan's), and (b) the typed graph written as an NNEF tar to memory, loaded back and planned
//! (tract 0.23.9 cannot write the decluttered graph: `DepthWiseConv` has no NNEF serialiser).
//! `PROBE_DECLUTTER_ONLY=N`: only import and declutter N times (for `perf record`).
//!
//! `cargo run --release -p facealign-infer --example startup_probe -- [MODEL] [ROUNDS]`
use std::collections::HashMap;
use std::time::Instant;

use facealign_infer::{graph, Locations, Weights};
use tract_nnef::prelude::Framework;
use tract_onnx::prelude::*;

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn conv_nhwc(mut m: TypedModel) -> TractResult<TypedModel> {
    let t = tract_onnx::tract_core::transform::get_transform("conv_nhwc")?.unwrap();
    m.transform(&*t)?;
    m.declutter()?;
    Ok(m)
}

fn fix_batch(m: &TypedModel) -> TractResult<TypedModel> {
    let sym = m.input_fact(0)?.shape[0]
        .symbols()
        .into_iter()
        .next()
        .unwrap();
    m.set_symbols(&HashMap::from([(sym, TDim::from(1i64))]))
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("adult68-heatmap-lite");
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(7);
    let path = Locations::discover()
        .resolve(name)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let nnef = tract_nnef::nnef();
    if let Ok(n) = std::env::var("PROBE_DECLUTTER_ONLY") {
        let w = Weights::read(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let g = graph::build_graph(&w).map_err(|e| anyhow::anyhow!("{e}"))?;
        for _ in 0..n.parse::<usize>()? {
            let m = tract_onnx::onnx()
                .model_for_proto_model(&g.proto)?
                .into_typed()?;
            drop(m.into_decluttered()?);
        }
        return Ok(());
    }
    let mut t: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut push = |k: &'static str, s: Instant| -> Instant {
        t.entry(k)
            .or_default()
            .push(s.elapsed().as_secs_f64() * 1e3);
        Instant::now()
    };
    let mut tar_bytes = 0;
    let mut maxdiff = 0f32;
    for _ in 0..rounds {
        let s = Instant::now();
        let w = Weights::read(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let s = push("1 read safetensors", s);
        let g = graph::build_graph(&w).map_err(|e| anyhow::anyhow!("{e}"))?;
        let s = push("2 build ONNX graph", s);
        let m = tract_onnx::onnx()
            .model_for_proto_model(&g.proto)?
            .into_typed()?;
        let s = push("3 ONNX import + typing", s);
        let m = m.into_decluttered()?;
        let s = push("4 declutter", s);
        let one = conv_nhwc(fix_batch(&m)?)?;
        let s = push("5a batch 1 + channel-last", s);
        let plan = one.clone().into_optimized()?.into_runnable()?;
        push("5b optimise + runnable", s);
        // (a) One declutter: batch fixed and channel-last on the typed graph, then declutter once.
        let s = Instant::now();
        let typed = tract_onnx::onnx()
            .model_for_proto_model(&g.proto)?
            .into_typed()?;
        let v = conv_nhwc(fix_batch(&typed)?)?;
        let s = push("8a one declutter: typed, batch 1, channel-last", s);
        let p1 = v.into_optimized()?.into_runnable()?;
        push("8b  + optimise + runnable", s);
        let side = usize::try_from(one.input_fact(0)?.shape[2].to_i64()?)?;
        let x = Tensor::from_shape(
            &[1, 3, side, side],
            &(0..3 * side * side)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
                .collect::<Vec<_>>(),
        )?;
        let a0 = plan.run(tvec!(x.clone().into_tvalue()))?;
        let a1 = p1.run(tvec!(x.into_tvalue()))?;
        let d = a0[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .zip(a1[0].to_plain_array_view::<f32>()?.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        maxdiff = maxdiff.max(d);
        // (b) NNEF of the typed graph before declutter.
        let typed = tract_onnx::onnx()
            .model_for_proto_model(&g.proto)?
            .into_typed()?;
        let mut a = Vec::new();
        nnef.write_to_tar(&typed, &mut a)?;
        tar_bytes = a.len();
        let s = Instant::now();
        let m2 = nnef.model_for_read(&mut &a[..])?;
        let s = push("6a load NNEF (typed)", s);
        let m2 = m2.into_decluttered()?;
        let s = push("6b  + declutter", s);
        let p = conv_nhwc(fix_batch(&m2)?)?
            .into_optimized()?
            .into_runnable()?;
        push("6c  + batch 1, channel-last, plan", s);
        drop(p);
    }
    let mut keys: Vec<_> = t.keys().copied().collect();
    keys.sort();
    println!("{name}: median of {rounds} rounds (ms); NNEF tar {tar_bytes} bytes");
    println!("max |difference| of the one-declutter plan from the current one: {maxdiff:e}");
    for k in keys {
        println!("{k:40} {:8.2}", med(t[k].clone()));
    }
    Ok(())
}

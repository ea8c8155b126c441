//! Running a landmark network on tract: [`TractNet`].
//!
//! The graph is decluttered once with a symbolic batch `N`; runnable plans are then either one
//! optimised plan for every batch size ([`BatchPlans::Symbolic`]) or one plan per batch size,
//! optimised with `N` fixed, its convolutions moved channel-last, and cached on first use
//! ([`BatchPlans::PerSize`], the default). Measured at batch 1 on one core (`benches/latency.rs`,
//! 2-core AMD EPYC shared with two trainings): the symbolic plan is 5–7× slower (mtfl68 at 96 px
//! 36 ms vs 6.5 ms; tract picks its fast im2col / depthwise kernels only for concrete shapes), and
//! channel-last halves the depthwise convolutions' time (2.8 → 1.4 ms of the 96 px MobileNetV2),
//! bringing it to 5.3 ms. Building a plan takes a fraction of a second, once per batch size.
//!
//! Threads: tract's matrix products and depthwise convolutions run on the executor of the plan
//! (`tract_linalg::multithread::Executor`, a rayon pool, enabled by tract-linalg's `multithread-mm`
//! feature). One thread uses the calling thread only; more threads get a private rayon pool per
//! [`TractNet`]. The process-wide default executor is never changed.
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_linalg::multithread::Executor;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::RunOptions;

use crate::error::{Error, Result};
use crate::graph;

/// How runnable plans cover batch sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchPlans {
    /// One plan per batch size, optimised with the batch fixed and cached on first use.
    #[default]
    PerSize,
    /// One plan optimised with a symbolic batch, for every batch size.
    Symbolic,
}

/// Options of a [`TractNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TractOptions {
    /// Threads per run (1 = the calling thread only).
    pub threads: usize,
    /// Plans per batch size or one symbolic plan.
    pub batch_plans: BatchPlans,
    /// With one thread per run: split a batch of several crops into one part per thread of
    /// rayon's global pool (one per core) and run the parts side by side. A photo's faces, or an
    /// evaluation batch, then use every core, while a single crop still runs on the calling
    /// thread alone (docs/PERFORMANCE.md).
    pub split_crops: bool,
}

impl Default for TractOptions {
    fn default() -> Self {
        TractOptions {
            threads: 1,
            batch_plans: BatchPlans::PerSize,
            split_crops: true,
        }
    }
}

impl TractOptions {
    /// Default options with `threads` threads.
    pub fn with_threads(threads: usize) -> Self {
        TractOptions {
            threads,
            ..Self::default()
        }
    }
}

type Plan = Arc<TypedRunnableModel>;

/// A landmark network ready to run on tract. `Send + Sync`: plans are immutable and shared, each
/// run gets its own state, and the per-batch-size plan cache sits behind a mutex (held only to
/// look up or insert a plan, not while one runs).
pub struct TractNet {
    origin: String,
    /// Decluttered, batch symbolic: the template of every plan.
    model: TypedModel,
    batch: Option<Symbol>,
    input_size: usize,
    n_points: usize,
    threads: usize,
    options: TractOptions,
    run_options: RunOptions,
    symbolic: Option<Plan>,
    plans: Mutex<HashMap<usize, Plan>>,
}

impl std::fmt::Debug for TractNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractNet")
            .field("origin", &self.origin)
            .field("input_size", &self.input_size)
            .field("n_points", &self.n_points)
            .field("threads", &self.threads)
            .field("batch_plans", &self.options.batch_plans)
            .finish_non_exhaustive()
    }
}

impl TractNet {
    /// Builds the network of a facealign safetensors model file.
    pub fn from_model_file(path: &Path, options: TractOptions) -> Result<TractNet> {
        Self::from_weights(&crate::weights::Weights::read(path)?, options)
    }

    /// Reads a facealign safetensors model file once: what it says ([`crate::ModelFile`]) and
    /// its network.
    pub fn open(path: &Path, options: TractOptions) -> Result<(crate::ModelFile, TractNet)> {
        let w = crate::weights::Weights::read(path)?;
        let file = crate::ModelFile::from_metadata(path, w.metadata().clone())?;
        Ok((file, Self::from_weights(&w, options)?))
    }

    /// Builds the network of a model file already read (its metadata also gives the
    /// [`crate::ModelFile`], so a caller reads the file once).
    pub fn from_weights(w: &crate::weights::Weights, options: TractOptions) -> Result<TractNet> {
        let g = graph::build_graph(w)?;
        Self::from_proto(&g.proto, &w.path().display().to_string(), options)
    }

    /// Loads an ONNX file (e.g. one written by [`graph::export_onnx`]).
    pub fn from_onnx_file(path: &Path, options: TractOptions) -> Result<TractNet> {
        let origin = path.display().to_string();
        if !path.is_file() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "ONNX model not found"),
            ));
        }
        let proto = tract_onnx::onnx()
            .proto_model_for_path(path)
            .map_err(|e| Error::tract(&origin, &e))?;
        Self::from_proto(&proto, &origin, options)
    }

    /// Builds from an ONNX model with one input `[N, 3, S, S]` and the landmarks `[N, 2M]` as its
    /// first output; `origin` names it in errors.
    pub fn from_proto(
        proto: &pb::ModelProto,
        origin: &str,
        options: TractOptions,
    ) -> Result<TractNet> {
        if !(1..=256).contains(&options.threads) {
            return Err(Error::invalid(
                "threads",
                format!("must be in 1..=256, got {}", options.threads),
            ));
        }
        facealign_detect::kernels::choose_tract_kernels();
        let bad = |e: TractError| Error::tract(origin, &e);
        let model = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(bad)?
            .into_typed()
            .map_err(bad)?
            .into_decluttered()
            .map_err(bad)?;
        let (input_size, batch) = {
            let fact = model.input_fact(0).map_err(bad)?;
            let dims = &fact.shape;
            let s = if dims.len() == 4 && dims[1].to_i64().ok() == Some(3) {
                dims[2]
                    .to_i64()
                    .ok()
                    .filter(|&s| dims[3].to_i64().ok() == Some(s))
            } else {
                None
            };
            let s = s.and_then(|s| usize::try_from(s).ok()).ok_or_else(|| {
                Error::tract(
                    origin,
                    &anyhow_msg(format!("input must be [N, 3, S, S], got {dims:?}")),
                )
            })?;
            let syms: Vec<Symbol> = dims[0].symbols().into_iter().collect();
            (s, syms.into_iter().next())
        };
        let n_points = {
            let fact = model.output_fact(0).map_err(bad)?;
            let dims = &fact.shape;
            dims.last()
                .and_then(|d| d.to_i64().ok())
                .filter(|&d| dims.len() == 2 && d >= 2 && d % 2 == 0)
                .and_then(|d| usize::try_from(d / 2).ok())
                .ok_or_else(|| {
                    Error::tract(
                        origin,
                        &anyhow_msg(format!("output 0 must be [N, 2M], got {dims:?}")),
                    )
                })?
        };
        let executor = if options.threads == 1 {
            Executor::SingleThread
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(options.threads)
                .thread_name(|k| format!("facealign-tract-{k}"))
                .build()
                .map_err(|e| {
                    Error::invalid(
                        "threads",
                        format!("cannot start {} threads: {e}", options.threads),
                    )
                })?;
            Executor::MultiThread(Arc::new(pool))
        };
        let run_options = RunOptions {
            executor: Some(executor),
            ..RunOptions::default()
        };
        let mut net = TractNet {
            origin: origin.to_string(),
            model,
            batch,
            input_size,
            n_points,
            threads: options.threads,
            options,
            run_options,
            symbolic: None,
            plans: Mutex::new(HashMap::new()),
        };
        if options.batch_plans == BatchPlans::Symbolic || net.batch.is_none() {
            let plan = net
                .model
                .clone()
                .into_optimized()
                .and_then(|m| m.into_runnable_with_options(&net.run_options))
                .map_err(bad)?;
            net.symbolic = Some(plan);
        } else {
            // Batch 1 is the common case: build its plan now so the first run is not slow.
            net.plan(1)?;
        }
        Ok(net)
    }

    /// Model input side S.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Number of landmarks M.
    pub fn n_points(&self) -> usize {
        self.n_points
    }

    /// Threads per run.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The options the network was built with.
    pub fn options(&self) -> TractOptions {
        self.options
    }

    /// The plan for batch size `n` (built and cached on first use in per-size mode).
    fn plan(&self, n: usize) -> Result<Plan> {
        if let Some(p) = &self.symbolic {
            return Ok(p.clone());
        }
        let batch = self
            .batch
            .as_ref()
            .expect("a network without a symbolic batch has a symbolic plan");
        if let Some(p) = self.lock_plans().get(&n) {
            return Ok(p.clone());
        }
        let bad = |e: TractError| Error::tract(&self.origin, &e);
        let n_dim = i64::try_from(n)
            .map_err(|_| Error::invalid("batch size", format!("{n} is too large")))?;
        let subs = HashMap::from([(batch.clone(), TDim::from(n_dim))]);
        let plan = self
            .model
            .set_symbols(&subs)
            .and_then(channels_last)
            .and_then(TypedModel::into_optimized)
            .and_then(|m| m.into_runnable_with_options(&self.run_options))
            .map_err(bad)?;
        Ok(self.lock_plans().entry(n).or_insert(plan).clone())
    }

    fn lock_plans(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Plan>> {
        // A panic while holding the lock cannot leave the map half-updated (single insert).
        self.plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs the network on `n` crops, `chw` = `[n, 3, S, S]` row-major RGB in [0, 1]. Returns
    /// `n × 2M` landmarks in crop_u, interleaved `x0, y0, x1, …` per crop.
    pub fn run(&self, chw: &[f32], n: usize) -> Result<Vec<f32>> {
        let s = self.input_size;
        let per = 3 * s * s;
        if n == 0 || chw.len() != n * per {
            return Err(Error::invalid(
                "network input",
                format!(
                    "{} values for {n} crop(s) of 3×{s}×{s} ({} expected, n ≥ 1)",
                    chw.len(),
                    n * per
                ),
            ));
        }
        let parts = if self.options.split_crops && self.threads == 1 {
            rayon::current_num_threads().min(n)
        } else {
            1
        };
        if parts > 1 {
            use rayon::prelude::*;
            let chunk = n.div_ceil(parts) * per;
            let outs: Vec<Result<Vec<f32>>> = chw
                .par_chunks(chunk)
                .map(|c| self.run_batch(c, c.len() / per))
                .collect();
            let mut flat = Vec::with_capacity(n * 2 * self.n_points);
            for o in outs {
                flat.extend(o?);
            }
            return Ok(flat);
        }
        self.run_batch(chw, n)
    }

    /// [`TractNet::run`] of one batch on one plan (`chw` already checked).
    fn run_batch(&self, chw: &[f32], n: usize) -> Result<Vec<f32>> {
        let s = self.input_size;
        let bad = |e: TractError| Error::tract(&self.origin, &e);
        let plan = self.plan(n)?;
        let input = Tensor::from_shape(&[n, 3, s, s], chw).map_err(bad)?;
        let out = plan.run(tvec!(input.into_tvalue())).map_err(bad)?;
        let view = out[0].to_plain_array_view::<f32>().map_err(bad)?;
        let flat: Vec<f32> = view.iter().copied().collect();
        if flat.len() != n * 2 * self.n_points {
            return Err(Error::tract(
                &self.origin,
                &anyhow_msg(format!(
                    "output has {} values, {} expected",
                    flat.len(),
                    n * 2 * self.n_points
                )),
            ));
        }
        Ok(flat)
    }
}

/// Time spent in one kind of operator of a [`TractNet`]'s batch-1 plan ([`TractNet::profile`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpTime {
    /// tract's operator name after optimisation (e.g. `Conv`, `Resize`, `OptMatMul`).
    pub op: String,
    /// Plan nodes running this operator.
    pub nodes: usize,
    /// Median over the timed runs of the time spent in those nodes per run, ms.
    pub ms: f64,
}

impl TractNet {
    /// Where the time of one batch-1 run goes: every node of the optimised plan timed on its own
    /// (`reps` timed runs after one warm-up, on a mid-grey crop), summed per operator kind,
    /// slowest first. The sum is close to [`TractNet::run`]'s latency (the timer adds ~0.1 µs
    /// per node).
    pub fn profile(&self, reps: usize) -> Result<Vec<OpTime>> {
        use std::time::Instant;
        use tract_onnx::tract_core::plan::{eval, SimpleState};
        let bad = |e: TractError| Error::tract(&self.origin, &e);
        let plan = self.plan(1)?;
        let s = self.input_size;
        let input = Tensor::from_shape(&[1, 3, s, s], &vec![0.5f32; 3 * s * s]).map_err(bad)?;
        let mut state = SimpleState::new(&plan).map_err(bad)?;
        // Per op name: nodes, and the time of each timed run.
        let mut per_op: HashMap<String, (usize, Vec<f64>)> = HashMap::new();
        let reps = reps.max(1);
        for r in 0..=reps {
            let mut this_run: HashMap<String, (usize, f64)> = HashMap::new();
            state
                .run_plan_with_eval(tvec!(input.clone().into_tvalue()), |ctx, st, node, xs| {
                    let t0 = Instant::now();
                    let out = eval(ctx, st, node, xs);
                    let e = this_run.entry(node.op().name().to_string()).or_default();
                    e.0 += 1;
                    e.1 += t0.elapsed().as_secs_f64() * 1e3;
                    out
                })
                .map_err(bad)?;
            if r > 0 {
                for (op, (nodes, ms)) in this_run {
                    let e = per_op.entry(op).or_default();
                    e.0 = nodes;
                    e.1.push(ms);
                }
            }
        }
        let mut rows: Vec<OpTime> = per_op
            .into_iter()
            .map(|(op, (nodes, mut t))| {
                t.sort_by(f64::total_cmp);
                OpTime {
                    op,
                    nodes,
                    ms: t[t.len() / 2],
                }
            })
            .collect();
        rows.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.op.cmp(&b.op)));
        Ok(rows)
    }
}

/// Runs the convolutions channel-last (tract's `conv_nhwc` transform, then a declutter pass that
/// cancels the layout moves between consecutive convs): tract's depthwise kernel vectorises over
/// channels in that layout, which halves the depthwise time of MobileNetV2 at batch 1. Depthwise
/// convs are only lowered this way when every shape is concrete (per-size plans).
fn channels_last(mut model: TypedModel) -> TractResult<TypedModel> {
    let transform = tract_onnx::tract_core::transform::get_transform("conv_nhwc")?
        .ok_or_else(|| TractError::msg("tract has no conv_nhwc transform"))?;
    model.transform(&*transform)?;
    model.declutter()?;
    Ok(model)
}

fn anyhow_msg(msg: String) -> TractError {
    TractError::msg(msg)
}

impl crate::net::CropNet for TractNet {
    fn runtime(&self) -> &'static str {
        "tract"
    }
    fn run(&self, chw: &[f32], n: usize) -> Result<Vec<f32>> {
        TractNet::run(self, chw, n)
    }
}

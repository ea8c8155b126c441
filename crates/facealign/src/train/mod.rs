//! `facealign train`: the training loop.
//!
//! Every epoch: shuffled, augmented batches → forward → loss → Adam; validation NME on the
//! validation split; one row appended to `metrics.csv`; `curves.png` redrawn; `last` and `best`
//! checkpoints written atomically. Randomness is a pure function of (seed, epoch, step, sample),
//! so a run stopped at any step and resumed with `--resume` reaches the same weights.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tch::{nn::VarStore, Device, Tensor};

use crate::adam::Adam;
use crate::checkpoint::{self, META_CONFIG, META_STATE};
use crate::config::{HeadInit, Init, TrainConfig};
use crate::error::{write_atomic, Error, Result};
use crate::eval::predict_crops;
use crate::model;
use crate::objective::{scalar, with_input_size, BatchTargets, CleanShapes, Objective};
use facealign_core::data::DataSpec;
use facealign_core::geometry::{landmarks_to_crop_u, CropSpec};
use facealign_core::loader::{sample_crop, CropLoader, CropSource, LoaderConfig};
use facealign_core::metrics::{self, FaceScore};
use facealign_core::mixed::{MixedLoader, MixedSource};
use facealign_core::scheme_map::SchemeMap;
use facealign_core::shape::ShapeModel;
use facealign_core::{Dataset, Scheme};

mod curves;
mod split;

pub use split::split_train_val;

/// Options of one `train` call that are not part of the config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Run directory; default `runs/<config name>` (suffixed to be new).
    pub out: Option<PathBuf>,
    /// Continue the run in this directory.
    pub resume: Option<PathBuf>,
    /// Set to true (e.g. by Ctrl-C) to stop after a consistent checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop after this many optimiser steps of this call (tests of interrupt + resume).
    pub stop_after_steps: Option<usize>,
    /// No progress bar or per-epoch lines.
    pub quiet: bool,
    /// Start a new run in `out` even if it already holds one (its run files are removed first).
    pub force: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub run_dir: PathBuf,
    pub epochs_done: usize,
    pub best_val_nme: f64,
    pub best_epoch: usize,
    pub last_val_nme: f64,
    pub first_val_nme: f64,
    pub seconds: f64,
}

/// Persisted run state (in the checkpoint metadata).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunState {
    /// Epoch in progress (0-based).
    epoch: usize,
    /// Batches of `epoch` already done.
    step_in_epoch: usize,
    adam_step: i64,
    best_val_nme: f64,
    best_epoch: usize,
    first_val_nme: f64,
    last_val_nme: f64,
    /// Loss sum and sample count of the unfinished epoch (so its mean survives an interrupt).
    #[serde(default)]
    partial_loss_sum: f64,
    #[serde(default)]
    partial_loss_n: usize,
}

/// One training source after splitting.
pub struct PreparedSource {
    pub train: Arc<Dataset>,
    /// Its held-out faces (scored in its own scheme), if any.
    pub val: Option<Arc<Dataset>>,
    pub weight: f32,
    /// Its scheme → the model's scheme.
    pub map: SchemeMap,
    /// How its faces are cropped.
    pub crop_source: facealign_core::CropSource,
}

/// The training data after splitting, ready for loaders.
pub struct PreparedData {
    /// The first source's training side (with `extra_train` appended).
    pub train: Arc<Dataset>,
    /// The first source's validation side: it picks the best epoch.
    pub val: Arc<Dataset>,
    /// Every source, the first included.
    pub sources: Vec<PreparedSource>,
    /// The scheme the model predicts.
    pub target: Scheme,
}

impl PreparedData {
    /// True when every source is of the target scheme (no mapped or averaged points).
    pub fn single_scheme(&self) -> bool {
        self.sources.iter().all(|s| s.map.from == s.map.to)
    }
}

/// Load and split the data of a config.
pub fn prepare_data(cfg: &TrainConfig) -> Result<PreparedData> {
    let specs = cfg.data.train.sources();
    let first = &specs[0];
    let full = DataSpec::parse(first.spec())?.load()?;
    let (mut train, val) = match (&cfg.data.val, &cfg.data.val_ids) {
        (Some(v), _) => (full, DataSpec::parse(v)?.load()?),
        (None, Some(list)) => split::split_by_ids(full, Path::new(list))?,
        (None, None) => split_train_val(full, cfg.data.val_fraction.unwrap_or(0.1), cfg.seed)?,
    };
    if let Some(list) = first.exclude_ids() {
        train = split::exclude_ids(train, Path::new(list))?;
    }
    for spec in &cfg.data.extra_train {
        train.append(DataSpec::parse(spec)?.load()?)?;
    }
    if let Some(max) = cfg.data.max_samples {
        train.samples.truncate(max.max(1));
        train.subsets.clear();
    }
    if train.scheme.id != val.scheme.id {
        return Err(Error::Config(format!(
            "training data is {} but validation data is {}",
            train.scheme.name(),
            val.scheme.name()
        )));
    }
    let target = Scheme::get(cfg.data.scheme.unwrap_or(train.scheme.id));
    let map_of = |ds: &Dataset| {
        SchemeMap::get(ds.scheme.id, target.id).ok_or_else(|| {
            Error::Config(format!(
                "{}: no map from {} to the model's scheme {} (facealign_core::scheme_map)",
                ds.source,
                ds.scheme.name(),
                target.name()
            ))
        })
    };
    let train = Arc::new(train);
    let val = Arc::new(val);
    let mut sources = vec![PreparedSource {
        map: map_of(&train)?,
        train: train.clone(),
        val: Some(val.clone()),
        weight: first.weight(),
        crop_source: first.crop_source(),
    }];
    for src in &specs[1..] {
        let mut ds = DataSpec::parse(src.spec())?.load()?;
        if let Some(list) = src.exclude_ids() {
            ds = split::exclude_ids(ds, Path::new(list))?;
        }
        let (t, v) = match &cfg.data.val_ids {
            Some(list) => split::hold_out_ids(ds, Path::new(list))?,
            None => (ds, None),
        };
        let mut t = t;
        if let Some(max) = cfg.data.max_samples {
            t.samples.truncate(max.max(1));
            t.subsets.clear();
        }
        sources.push(PreparedSource {
            map: map_of(&t)?,
            train: Arc::new(t),
            val: v.map(Arc::new),
            weight: src.weight(),
            crop_source: src.crop_source(),
        });
    }
    Ok(PreparedData {
        train,
        val,
        sources,
        target,
    })
}

/// The un-augmented crop_u shape of every training sample (NaN at unlabelled points), in
/// dataset order, cropped by `crop`.
pub fn clean_shapes(train: &Dataset, spec: &CropSpec, crop: &CropSource) -> Result<Vec<Vec<f32>>> {
    Ok(train
        .samples
        .iter()
        .map(|s| {
            let t = sample_crop(s, spec, crop)?;
            Ok(landmarks_to_crop_u(&s.landmarks, &t, spec.size)
                .into_iter()
                .flatten()
                .collect())
        })
        .collect::<facealign_core::Result<_>>()?)
}

/// Fit the PCA shape model on the (unaugmented) training crops (`facealign_core::shape::fit_on_crops`).
pub fn fit_shape_model(
    train: &Dataset,
    spec: &CropSpec,
    align: facealign_core::shape::ShapeAlign,
) -> Result<ShapeModel> {
    Ok(facealign_core::shape::fit_on_crops(train, spec, align)?)
}

/// Scale the landmark head's weights by 0.01 and set its bias to the mean training shape (crop_u),
/// for regression heads (`head` of MobileNetV2/EfficientNet, `landmarks` of ASMNet). Heatmap models
/// have no such head and are left as they are.
fn init_head_to_mean_shape(vs: &VarStore, data: &PreparedData, spec: &CropSpec) -> Result<()> {
    let vars = vs.variables();
    let m = data.target.n_points();
    let Some(prefix) = ["head", "landmarks"].into_iter().find(|p| {
        vars.get(&format!("{p}.bias"))
            .is_some_and(|b| b.size() == [2 * m as i64])
    }) else {
        return Ok(());
    };
    // Every source point mapped one-to-one onto a target point counts toward that point's mean.
    // (Two passes, adding v / count, so a single fully labelled source gives the same bits as
    // the mean over samples always did.)
    let shapes: Vec<(&SchemeMap, Vec<Vec<f32>>)> = data
        .sources
        .iter()
        .map(|src| Ok((&src.map, clean_shapes(&src.train, spec, &src.crop_source)?)))
        .collect::<Result<_>>()?;
    let slots = |map: &SchemeMap, shape: &[f32]| -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        for (p, t) in map.targets.iter().enumerate() {
            let [t] = t.as_slice() else { continue };
            for c in 0..2 {
                let v = shape[2 * p + c];
                if v.is_finite() {
                    out.push((2 * t + c, f64::from(v)));
                }
            }
        }
        out
    };
    let mut count = vec![0usize; 2 * m];
    for (map, list) in &shapes {
        for shape in list {
            for (k, _) in slots(map, shape) {
                count[k] += 1;
            }
        }
    }
    // A coordinate no sample labels starts at the crop centre (0).
    let mut mean = vec![0f64; 2 * m];
    for (map, list) in &shapes {
        for shape in list {
            for (k, v) in slots(map, shape) {
                mean[k] += v / count[k] as f64;
            }
        }
    }
    let mean: Vec<f32> = mean.into_iter().map(|v| v as f32).collect();
    let mut w = vars[&format!("{prefix}.weight")].shallow_clone();
    let mut b = vars[&format!("{prefix}.bias")].shallow_clone();
    tch::no_grad(|| {
        let _ = w.g_mul_scalar_(0.01);
        b.copy_(&Tensor::from_slice(&mean));
    });
    Ok(())
}

fn mix_seed(seed: u64, a: u64, b: u64) -> i64 {
    // SplitMix64 over the three words: a well-spread, reproducible seed per (seed, epoch, step).
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

fn new_run_dir(cfg: &TrainConfig, config_path: Option<&Path>) -> PathBuf {
    let stem = if !cfg.name.is_empty() {
        cfg.name.clone()
    } else {
        config_path
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into())
    };
    let base = PathBuf::from("runs").join(&stem);
    if !base.exists() {
        return base;
    }
    (2..)
        .map(|k| PathBuf::from("runs").join(format!("{stem}-{k}")))
        .find(|p| !p.exists())
        .expect("some suffix is free")
}

/// Train from a config. `config_path` only names the default run directory.
pub fn train(
    cfg: TrainConfig,
    config_path: Option<&Path>,
    opts: &TrainOptions,
) -> Result<TrainReport> {
    let started = Instant::now();
    let (cfg, run_dir, resume_state) = match &opts.resume {
        Some(dir) => {
            let text = std::fs::read_to_string(dir.join("config.toml"))
                .map_err(|e| Error::io(dir.join("config.toml"), e))?;
            let cfg =
                TrainConfig::from_toml(&text, &dir.join("config.toml").display().to_string())?;
            remove_stale_temp_files(dir);
            if dir.join("last.safetensors").is_file() {
                (cfg, dir.clone(), Some(()))
            } else {
                // Killed before its first checkpoint: nothing to continue, so start it afresh.
                eprintln!(
                    "note: {} has no checkpoint yet (stopped before the end of its first epoch); starting it afresh",
                    dir.display()
                );
                let _ = std::fs::remove_file(dir.join("metrics.csv"));
                (cfg, dir.clone(), None)
            }
        }
        None => {
            let dir = opts
                .out
                .clone()
                .unwrap_or_else(|| new_run_dir(&cfg, config_path));
            if let Some(found) = RUN_FILES.iter().find(|f| dir.join(f).exists()) {
                if !opts.force {
                    return Err(Error::Config(format!(
                        "{} already holds a run ({found}): continue it with --resume, choose another --out, or give --force to start it over",
                        dir.display()
                    )));
                }
            }
            (cfg, dir, None)
        }
    };
    // One process per run folder (issue 14, item 8). A resumed run is locked before anything is
    // read from it; a new one once its data and config have passed their checks, so a config that
    // fails leaves no folder behind.
    let mut lock = match resume_state {
        Some(()) => Some(RunLock::acquire(&run_dir)?),
        None => None,
    };
    tch::set_num_threads(cfg.threads as i32);

    // The data pipeline uses rayon's global pool; its size is set once per process (later
    // calls keep the first size, which only matters for in-process tests).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build_global();

    let data = prepare_data(&cfg)?;
    let scheme = data.target.clone();
    let n_points = scheme.n_points();
    if !data.single_scheme() && (cfg.loss.needs_shape_model() || cfg.loss.needs_heatmaps()) {
        return Err(Error::Config(format!(
            "loss `{}` needs every training source in the model's scheme {} (mapped points \
             have no shape model or heatmap); use l2, l1, smooth_l1 or wing with mixed schemes",
            cfg.loss.name(),
            scheme.name()
        )));
    }
    let spec = CropSpec {
        size: cfg.data.input_size,
        enlarge: cfg.data.enlarge,
    };
    if lock.is_none() {
        std::fs::create_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
        lock = Some(RunLock::acquire(&run_dir)?);
        if opts.force && opts.resume.is_none() {
            for f in RUN_FILES {
                let _ = std::fs::remove_file(run_dir.join(f));
            }
        }
        // The config is the run directory's first file.
        write_atomic(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
    }
    let _lock = lock;

    let shape = if cfg.loss.needs_shape_model() {
        let m = fit_shape_model(&data.train, &spec, cfg.shape.align)?;
        m.save(run_dir.join("shape.json"))?;
        Some(m)
    } else {
        None
    };
    let mut objective = Objective::new(
        with_input_size(cfg.loss.clone(), cfg.data.input_size),
        shape,
        cfg.data.input_size,
        cfg.epochs,
    )?;
    if cfg.loss.needs_shape_model() {
        objective = objective.with_clean_shapes(CleanShapes::new(
            clean_shapes(&data.train, &spec, &data.sources[0].crop_source)?,
            scheme.flip.clone(),
        ));
    }

    tch::manual_seed(mix_seed(cfg.seed, u64::MAX, 0));
    let device = Device::Cpu;
    let vs = VarStore::new(device);
    let net = model::build(&cfg.model, vs.root(), n_points as i64)?;
    if cfg.init == Init::Imagenet {
        let path = crate::bundle::imagenet_weights_path();
        let report = net.load_imagenet(&vs, &path)?;
        if !opts.quiet {
            eprintln!(
                "ImageNet init: {} tensors from {}",
                report.loaded,
                path.display()
            );
        }
    }
    if let Some(from) = &cfg.init_from {
        // Fine-tuning: every weight from a trained model of the same architecture and scheme.
        let path = crate::bundle::resolve(from)?;
        let src = crate::bundle::ModelFile::open(&path)?;
        if src.scheme.id != scheme.id {
            return Err(Error::Config(format!(
                "`init_from`: {} predicts {} landmarks, this run trains {}",
                path.display(),
                src.scheme.name(),
                scheme.name()
            )));
        }
        let loaded = checkpoint::load(&path)?;
        checkpoint::copy_into(&vs, &loaded.tensors, &path)?;
        if !opts.quiet {
            eprintln!("fine-tuning from {}", path.display());
        }
    }
    if cfg.head_init == HeadInit::MeanShape {
        init_head_to_mean_shape(&vs, &data, &spec)?;
    }
    let mut opt = Adam::new(&vs, &cfg.optim);

    let mut state = RunState {
        epoch: 0,
        step_in_epoch: 0,
        adam_step: 0,
        best_val_nme: f64::INFINITY,
        best_epoch: 0,
        first_val_nme: f64::NAN,
        last_val_nme: f64::NAN,
        partial_loss_sum: 0.0,
        partial_loss_n: 0,
    };
    let last_path = run_dir.join("last.safetensors");
    let best_path = run_dir.join("best.safetensors");
    if resume_state.is_some() {
        let loaded = checkpoint::load(&last_path)?;
        checkpoint::copy_into(&vs, &loaded.tensors, &last_path)?;
        state = serde_json::from_str(
            loaded
                .meta
                .get(META_STATE)
                .ok_or_else(|| Error::ckpt(&last_path, "no run state in the checkpoint"))?,
        )
        .map_err(|e| Error::ckpt(&last_path, format!("run state: {e}")))?;
        opt.restore(&loaded.tensors, state.adam_step)
            .map_err(|e| Error::ckpt(&last_path, e))?;
        if !opts.quiet {
            eprintln!(
                "resuming {} at epoch {} step {}",
                run_dir.display(),
                state.epoch + 1,
                state.step_in_epoch
            );
        }
    }

    let cache_bytes = cfg.data.cache_mb * 1024 * 1024;
    let mixed_sources = data
        .sources
        .iter()
        .map(|src| {
            Ok(MixedSource {
                loader: CropLoader::new(
                    src.train.clone(),
                    LoaderConfig {
                        crop: spec,
                        crop_source: src.crop_source,
                        batch_size: cfg.batch_size,
                        shuffle: true,
                        seed: cfg.seed,
                        augment: Some(cfg.data.augment),
                        cache_bytes,
                        ..LoaderConfig::default()
                    },
                )?,
                map: src.map.clone(),
                weight: src.weight,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let train_loader = MixedLoader::new(mixed_sources, data.target.clone())?;
    if !opts.quiet && data.sources.len() > 1 {
        for (k, src) in data.sources.iter().enumerate() {
            eprintln!(
                "source {k}: {} ({}): {} training, {} validation faces, weight {}, {} of {} points mapped to {}",
                src.train.source,
                src.train.scheme.name(),
                src.train.samples.len(),
                src.val.as_ref().map_or(0, |v| v.samples.len()),
                src.weight,
                src.map.n_mapped(),
                src.train.scheme.n_points(),
                scheme.name()
            );
        }
    }
    objective = objective.with_virtual_points(train_loader.virtual_points());
    // Validation: every source with held-out faces, each in its own scheme; the first picks the
    // best epoch.
    let val_loaders = data
        .sources
        .iter()
        .filter_map(|src| src.val.as_ref().map(|v| (src, v)))
        .map(|(src, v)| {
            Ok((
                CropLoader::new(
                    v.clone(),
                    LoaderConfig {
                        cache_bytes,
                        crop_source: src.crop_source,
                        ..LoaderConfig::eval(spec, cfg.batch_size.max(16))
                    },
                )?,
                src.map.clone(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let metrics_path = run_dir.join("metrics.csv");
    let mut rows = curves::read_rows(&metrics_path, state.epoch)?;

    let save_ckpt = |vs: &VarStore,
                     opt: &Adam,
                     state: &RunState,
                     path: &Path,
                     with_optim: bool|
     -> Result<()> {
        let mut tensors = checkpoint::model_tensors(vs);
        if with_optim {
            tensors.extend(opt.state().0);
        }
        let mut meta = BTreeMap::new();
        meta.insert(META_CONFIG.to_string(), cfg.to_toml());
        meta.insert(
            META_STATE.to_string(),
            serde_json::to_string(state).expect("state serialises"),
        );
        meta.insert("facealign.scheme".to_string(), scheme.name().to_string());
        checkpoint::save(path, &tensors, &meta, false)
    };

    let n_train = train_loader.n_samples();
    let steps_per_epoch = n_train.div_ceil(cfg.batch_size);
    let n_slots = train_loader.n_slots() as i64;
    let mut steps_this_call = 0usize;
    let stop_requested = |steps: usize| {
        opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
            || opts.stop_after_steps.is_some_and(|k| steps >= k)
    };

    while state.epoch < cfg.epochs {
        let epoch = state.epoch;
        let epoch_start = Instant::now();
        let bar = progress_bar(opts.quiet, steps_per_epoch, epoch, cfg.epochs);
        let mut loss_sum = state.partial_loss_sum;
        let mut loss_n = state.partial_loss_n;
        let mut images = 0usize;
        let mut schedule_value = None;
        let order = train_loader.order(epoch as u64);
        for (step, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if step < state.step_in_epoch {
                continue;
            }
            let batch = train_loader.batch_of(epoch as u64, chunk)?;
            let n = chunk.len() as i64;
            let s = cfg.data.input_size as i64;
            let xs = Tensor::from_slice(&batch.images).view([n, 3, s, s]);
            let ys = Tensor::from_slice(&batch.landmarks).view([n, 2 * n_slots]);
            tch::manual_seed(mix_seed(cfg.seed, epoch as u64, step as u64));
            let lr = cfg.optim.lr_at(
                epoch as f64 + step as f64 / steps_per_epoch as f64,
                cfg.epochs,
            );
            let out = net.forward_t(&xs, true);
            let targets = BatchTargets {
                gt: &ys,
                gt_host: &batch.landmarks,
                labelled: &batch.weights,
                indices: &batch.indices,
                flipped: &batch.flipped,
            };
            let lv = objective.compute(&out, &targets, epoch)?;
            let loss_value = scalar(&lv.loss);
            if !loss_value.is_finite() {
                return Err(Error::Config(format!(
                    "the loss became {loss_value} at epoch {} step {step}; lower optim.lr",
                    epoch + 1
                )));
            }
            opt.zero_grad();
            lv.loss.backward();
            opt.step(lr);
            schedule_value = lv.schedule_value;
            loss_sum += loss_value * n as f64;
            loss_n += n as usize;
            images += n as usize;
            state.step_in_epoch = step + 1;
            state.adam_step = opt.step;
            steps_this_call += 1;
            if let Some(b) = &bar {
                let rate = images as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
                b.set_message(format!(
                    "loss {:.5} {rate:.1} img/s",
                    loss_sum / loss_n as f64
                ));
                b.inc(1);
            }
            state.partial_loss_sum = loss_sum;
            state.partial_loss_n = loss_n;
            if stop_requested(steps_this_call) && state.step_in_epoch < steps_per_epoch {
                save_ckpt(&vs, &opt, &state, &last_path, true)?;
                if let Some(b) = bar {
                    b.abandon();
                }
                return Err(Error::Interrupted);
            }
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        // Validation.
        let mut per_source = Vec::with_capacity(val_loaders.len());
        for (loader, map) in &val_loaders {
            let val = loader.dataset();
            let preds = predict_crops(&net, loader)?;
            let mut nmes = Vec::with_capacity(preds.len());
            for (s, p) in val.samples.iter().zip(&preds) {
                let p = map.apply(p);
                match metrics::score_face(&p, &s.landmarks, &val.scheme, cfg.val_norm)? {
                    FaceScore::Nme(v) => nmes.push(v),
                    FaceScore::Unscorable(_) => {}
                }
            }
            per_source.push((val.source.clone(), val.samples.len(), nmes));
        }
        let (val_source, val_n, nmes) = per_source.first().cloned().ok_or_else(|| {
            Error::Config(
                "no validation data (set data.val_ids, data.val or data.val_fraction)".into(),
            )
        })?;
        if nmes.is_empty() {
            return Err(Error::Config(format!(
                "no validation face of {val_source} can be normalised by `{}`; set val_norm = \"box\"",
                cfg.val_norm.name()
            )));
        }
        if !opts.quiet && (nmes.len() < val_n || per_source.len() > 1) {
            for (src, n, v) in &per_source {
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                eprintln!(
                    "  validation {src}: NME {:.3}% ({}) over {} of {n} faces",
                    mean * 100.0,
                    cfg.val_norm.name(),
                    v.len()
                );
            }
        }
        let val_nme = nmes.iter().sum::<f64>() / nmes.len() as f64;
        let fr10 = metrics::failure_rate(&nmes, 0.10)?;
        let auc10 = metrics::auc(&nmes, 0.10)?;
        if epoch == 0 || state.first_val_nme.is_nan() {
            state.first_val_nme = val_nme;
        }
        state.last_val_nme = val_nme;
        state.epoch = epoch + 1;
        state.step_in_epoch = 0;
        state.partial_loss_sum = 0.0;
        state.partial_loss_n = 0;
        let improved = val_nme < state.best_val_nme;
        if improved {
            state.best_val_nme = val_nme;
            state.best_epoch = epoch + 1;
        }
        let row = curves::Row {
            epoch: epoch + 1,
            lr: cfg.optim.lr_at(epoch as f64, cfg.epochs),
            train_loss: loss_sum / loss_n.max(1) as f64,
            val_nme: val_nme * 100.0,
            val_fr10: fr10 * 100.0,
            val_auc10: auc10,
            schedule: schedule_value.unwrap_or(f64::NAN),
            seconds: epoch_start.elapsed().as_secs_f64(),
            img_per_s: images as f64 / train_seconds.max(1e-9),
        };
        rows.push(row.clone());
        curves::write_rows(&metrics_path, &rows)?;
        curves::plot(&run_dir.join("curves.png"), &rows)?;
        if improved {
            save_ckpt(&vs, &opt, &state, &best_path, false)?;
        }
        save_ckpt(&vs, &opt, &state, &last_path, true)?;
        if !opts.quiet {
            eprintln!(
                "epoch {:>3}/{}  loss {:.5}  val NME {:.3}%  FR@10 {:.1}%  AUC@10 {:.4}  {:.1} img/s  {:.0}s{}",
                epoch + 1,
                cfg.epochs,
                row.train_loss,
                row.val_nme,
                row.val_fr10,
                row.val_auc10,
                row.img_per_s,
                row.seconds,
                if improved { "  *best" } else { "" }
            );
        }
        if stop_requested(steps_this_call) && state.epoch < cfg.epochs {
            return Err(Error::Interrupted);
        }
    }
    Ok(TrainReport {
        run_dir,
        epochs_done: state.epoch,
        best_val_nme: state.best_val_nme,
        best_epoch: state.best_epoch,
        last_val_nme: state.last_val_nme,
        first_val_nme: state.first_val_nme,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Remove what an interrupted atomic write can leave in a run directory (`.X.tmpPID-N`,
/// `X.tmp.png`, ...): every file whose name contains `.tmp`.
/// The files a run writes into its folder (what `--force` removes; any one marks a folder as a run).
const RUN_FILES: [&str; 6] = [
    "config.toml",
    "last.safetensors",
    "best.safetensors",
    "metrics.csv",
    "curves.png",
    "shape.json",
];

/// `RUN/.lock` while a process trains the run: created exclusively, holding the owner's pid,
/// removed when dropped. A lock whose process is gone (killed) is taken over.
struct RunLock(PathBuf);

impl RunLock {
    fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(".lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
                    return Ok(RunLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = owner.trim().parse::<u32>().ok();
                    let alive = pid.is_some_and(|p| {
                        p == std::process::id() || Path::new(&format!("/proc/{p}")).exists()
                    });
                    if alive || !Path::new("/proc/self").exists() {
                        return Err(Error::Config(format!(
                            "{} is being trained by another process (pid {}; lock file {}): one process per run folder",
                            dir.display(),
                            owner.trim(),
                            path.display()
                        )));
                    }
                    // The owner is gone: a stale lock.
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Config(format!(
            "{}: cannot take the run lock {}",
            dir.display(),
            path.display()
        )))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().contains(".tmp") && e.path().is_file() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn progress_bar(
    quiet: bool,
    steps: usize,
    epoch: usize,
    epochs: usize,
) -> Option<indicatif::ProgressBar> {
    if quiet {
        return None;
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {}/{}", epoch + 1, epochs));
    Some(bar)
}

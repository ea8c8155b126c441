//! `facealign train`: the training loop.
//!
//! Every epoch: shuffled, augmented batches → forward → loss → Adam; validation NME on the
//! validation split; one row appended to `metrics.csv`; `curves.png` redrawn; `last` and `best`
//! checkpoints written atomically. Randomness is a pure function of (seed, epoch, step, sample),
//! so a run stopped at any step and resumed with `--resume` reaches the same weights.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tch::{nn::VarStore, Device, Tensor};

use crate::adam::Adam;
use crate::checkpoint;
use crate::config::{HeadInit, Init, TrainConfig};
use crate::error::{write_atomic, Error, Result};
use crate::model;
use crate::objective::{with_input_size, CleanShapes, Objective};
use facealign_core::data::DataSpec;
use facealign_core::geometry::{landmarks_to_crop_u, CropSpec};
use facealign_core::loader::{sample_crop, CropLoader, CropSource, LoaderConfig};
use facealign_core::mixed::{MixedLoader, MixedSource};
use facealign_core::scheme_map::SchemeMap;
use facealign_core::shape::ShapeModel;
use facealign_core::{Dataset, Scheme};
use facealign_infer::Locations;

mod curves;
mod run_dir;
mod split;
mod step;
mod validate;

pub use run_dir::{RunDir, RunLock, RunState, RUN_FILES};
pub use split::split_train_val;
use step::mix_seed;
pub use step::{StepOutcome, TrainStep};
pub use validate::{validate, ValSource, Validation};

/// Options of one `train` call that are not part of the config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Run directory of a new run; default `runs/<config name>` (suffixed to be new).
    pub out: Option<PathBuf>,
    /// Set to true (e.g. by Ctrl-C) to stop after a consistent checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop after this many optimiser steps of this call (tests of interrupt + resume).
    pub stop_after_steps: Option<usize>,
    /// No progress bar or per-epoch lines.
    pub quiet: bool,
    /// Start a new run in `out` even if it already holds one (its run files are removed first).
    pub force: bool,
    /// Where `init = "imagenet"` weights and `init_from` model names are found; `None`:
    /// [`Locations::discover`] (the CLI passes the locations it resolved).
    pub locations: Option<Locations>,
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

/// Load and split the data of a config (models named by `crop_model` found by
/// [`Locations::discover`]).
pub fn prepare_data(cfg: &TrainConfig) -> Result<PreparedData> {
    prepare_data_with(cfg, &Locations::discover())
}

/// Give every face of `ds` the square a cascade's refinement pass would crop it from: `model`
/// predicts it from its `crop` (no augmentation), and the square is the one
/// [`facealign_core::geometry::crop_aligned_to_shape`] takes around that prediction. Returns
/// the dataset, now cropped by [`CropSource::Aligned`].
pub fn align_crops(
    mut ds: Dataset,
    crop: &CropSource,
    model: &str,
    target: &Scheme,
    loc: &Locations,
) -> Result<Dataset> {
    let path = loc.resolve(model)?;
    let (file, net) = facealign_infer::TractNet::open(&path, Default::default())?;
    if file.scheme.id != target.id {
        return Err(Error::Config(format!(
            "`crop_model`: {} predicts {} landmarks, this run trains {}",
            path.display(),
            file.scheme.name(),
            target.name()
        )));
    }
    let lc = LoaderConfig {
        crop_source: *crop,
        ..LoaderConfig::eval(file.crop, 32)
    };
    let loader = CropLoader::new(ds.clone(), lc)?;
    let preds = facealign_infer::predict::predict_crops(&net, &loader)?;
    for (s, p) in ds.samples.iter_mut().zip(preds) {
        let sq = facealign_core::geometry::AlignedSquare::around(&p, file.scheme.roll(&p))
            .map_err(|e| facealign_core::loader::for_sample(s, &e))?;
        s.crop_square = Some(sq);
    }
    ds.source = format!("{} cropped around {}'s predictions", ds.source, file.name);
    Ok(ds)
}

/// [`prepare_data`] with models found in `loc`.
pub fn prepare_data_with(cfg: &TrainConfig, loc: &Locations) -> Result<PreparedData> {
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
    // Exact: the first `max_samples` of the repeated, extended side below are among these.
    split::truncated(&mut train, cfg.data.max_samples);
    if train.scheme.id != val.scheme.id {
        return Err(Error::Data(format!(
            "training data is {} but validation data is {}",
            train.scheme.name(),
            val.scheme.name()
        )));
    }
    let target = Scheme::get(cfg.data.scheme.unwrap_or(train.scheme.id));
    // A source cropped by a first model's predictions (a cascade's second model): its faces
    // carry their squares and are cropped by them, held-out faces too.
    let aligned = |ds: Dataset, src: &crate::config::TrainSource| -> Result<Dataset> {
        match src.crop_model() {
            Some(m) => align_crops(ds, &src.crop_source(), m, &target, loc),
            None => Ok(ds),
        }
    };
    let crop_of = |src: &crate::config::TrainSource| match src.crop_model() {
        Some(_) => CropSource::Aligned,
        None => src.crop_source(),
    };
    // Aligned before they are repeated: each face is predicted once, not once per copy.
    let mut train = split::repeated(aligned(train, first)?, first.repeat());
    for spec in &cfg.data.extra_train {
        train.append(aligned(DataSpec::parse(spec)?.load()?, first)?)?;
    }
    split::truncated(&mut train, cfg.data.max_samples);
    let val = aligned(val, first)?;
    let map_of = |ds: &Dataset| {
        SchemeMap::get(ds.scheme.id, target.id).ok_or_else(|| {
            Error::Data(format!(
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
        crop_source: crop_of(first),
    }];
    for src in &specs[1..] {
        let mut ds = DataSpec::parse(src.spec())?.load()?;
        if let Some(list) = src.exclude_ids() {
            ds = split::exclude_ids(ds, Path::new(list))?;
        }
        let (mut t, v) = match &cfg.data.val_ids {
            Some(list) => split::hold_out_ids(ds, Path::new(list))?,
            None => (ds, None),
        };
        split::truncated(&mut t, cfg.data.max_samples);
        let t = split::repeated(aligned(t, src)?, src.repeat());
        let v = v.map(|v| aligned(v, src)).transpose()?;
        sources.push(PreparedSource {
            map: map_of(&t)?,
            train: Arc::new(t),
            val: v.map(Arc::new),
            weight: src.weight(),
            crop_source: crop_of(src),
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

/// Train a new run from a config, in `opts.out` (default: a new folder under `runs/` named
/// after the config, or `config_path`'s stem). A folder that already holds a run is refused
/// unless `opts.force`.
pub fn train(
    cfg: TrainConfig,
    config_path: Option<&Path>,
    opts: &TrainOptions,
) -> Result<TrainReport> {
    let dir = match &opts.out {
        Some(p) => RunDir::new(p),
        None => RunDir::fresh(&cfg, config_path),
    };
    if let Some(found) = dir.holds_run() {
        if !opts.force {
            return Err(Error::RunFolder {
                path: dir.path().to_path_buf(),
                message: format!("already holds a run ({found}): continue it with --resume, choose another --out, or give --force to start it over"),
            });
        }
    }
    run(cfg, dir, None, opts)
}

/// Continue the run in `dir` with its own config (read once, here), bit-identically to an
/// uninterrupted run. A run stopped before its first checkpoint starts afresh.
pub fn resume(dir: &Path, opts: &TrainOptions) -> Result<TrainReport> {
    let dir = RunDir::new(dir);
    let cfg = dir.read_config()?;
    dir.remove_stale_temp_files();
    if dir.last().is_file() {
        // One process per run folder (issue 14, item 8): locked before anything else is read.
        let lock = dir.lock()?;
        run(cfg, dir, Some(lock), opts)
    } else {
        eprintln!(
            "note: {} has no checkpoint yet (stopped before the end of its first epoch); starting it afresh",
            dir.path().display()
        );
        let _ = std::fs::remove_file(dir.metrics());
        run(cfg, dir, None, opts)
    }
}

fn locations(opts: &TrainOptions) -> Locations {
    opts.locations.clone().unwrap_or_else(Locations::discover)
}

/// Everything a run needs before its first step: data, loaders, the step (model, objective,
/// optimiser) and its state, fresh or restored from `last.safetensors` (when `lock` is held:
/// a resumed run).
fn run(
    cfg: TrainConfig,
    dir: RunDir,
    lock: Option<RunLock>,
    opts: &TrainOptions,
) -> Result<TrainReport> {
    let started = Instant::now();
    let resuming = lock.is_some();
    tch::set_num_threads(cfg.threads as i32);
    // The data pipeline uses rayon's global pool; its size is set once per process (later
    // calls keep the first size, which only matters for in-process tests).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build_global();

    let data = prepare_data_with(&cfg, &locations(opts))?;
    let scheme = data.target.clone();
    if !data.single_scheme() && cfg.loss.needs_shape_model() {
        return Err(Error::Config(format!(
            "loss `{}` needs every training source in the model's scheme {} (mapped points \
             have no shape model); use l2, l1, smooth_l1, wing, star or awing with mixed schemes",
            cfg.loss.name(),
            scheme.name()
        )));
    }
    if !data.single_scheme() && cfg.loss.needs_heatmaps() && !opts.quiet {
        if cfg.loss.virtual_weight() > 0.0 {
            eprintln!(
                "note: loss `{}` supervises the points that map to one {} point each by their \
                 heatmaps, and a point mapped to the mean of several (e.g. an eye centre) by the \
                 distance of that mean, weight {}",
                cfg.loss.name(),
                scheme.name(),
                cfg.loss.virtual_weight()
            );
        } else {
            eprintln!(
            "note: loss `{}` supervises the points that map to one {} point each; a point mapped \
             to the mean of several (e.g. an eye centre) has no heatmap and is not used \
             (STAR's `virtual_weight` supervises it)",
                cfg.loss.name(),
                scheme.name()
            );
        }
    }
    let spec = CropSpec {
        size: cfg.data.input_size,
        enlarge: cfg.data.enlarge,
    };
    // A new run is locked once its data and config have passed their checks, so a config that
    // fails leaves no folder behind.
    let _lock = match lock {
        Some(l) => l,
        None => {
            std::fs::create_dir_all(dir.path()).map_err(|e| Error::io(dir.path(), e))?;
            let l = dir.lock()?;
            if opts.force {
                dir.remove_run_files();
            }
            // The config is the run directory's first file.
            write_atomic(&dir.config(), cfg.to_toml().as_bytes())?;
            l
        }
    };

    let train_loader = training_loader(&cfg, &data, &spec)?;
    let (mut step, mut state) = build_step(&cfg, &data, &spec, &dir, resuming, opts)?;
    step.objective
        .set_virtual_points(train_loader.virtual_points());
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
    let val_sources = validation_sources(&cfg, &data, &spec)?;
    let mut rows = curves::read_rows(&dir.metrics(), state.epoch)?;
    let save = |step: &TrainStep, state: &RunState, path: &Path, with_optim: bool| {
        RunDir::save_checkpoint(
            path,
            &step.vs,
            with_optim.then_some(&step.opt),
            &cfg,
            state,
            scheme.name(),
        )
    };

    let steps_per_epoch = train_loader.n_samples().div_ceil(cfg.batch_size);
    let mut steps_this_call = 0usize;
    let stop_requested = |steps: usize| {
        opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
            || opts.stop_after_steps.is_some_and(|k| steps >= k)
    };

    while state.epoch < cfg.epochs {
        let epoch = state.epoch;
        let epoch_start = Instant::now();
        let bar = progress_bar(opts.quiet, steps_per_epoch, epoch, cfg.epochs);
        let mut images = 0usize;
        let mut schedule_value = None;
        let order = train_loader.order(epoch as u64);
        for (k, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if k < state.step_in_epoch {
                continue;
            }
            let batch = train_loader.batch_of(epoch as u64, chunk)?;
            let lr = cfg
                .optim
                .lr_at(epoch as f64 + k as f64 / steps_per_epoch as f64, cfg.epochs);
            let out = step.run(&batch, epoch, k, lr)?;
            schedule_value = out.schedule_value;
            state.partial_loss_sum += out.loss * batch.len() as f64;
            state.partial_loss_n += batch.len();
            images += batch.len();
            state.step_in_epoch = k + 1;
            state.adam_step = step.opt.step;
            steps_this_call += 1;
            if let Some(b) = &bar {
                let rate = images as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
                b.set_message(format!(
                    "loss {:.5} {rate:.1} img/s",
                    state.partial_loss_sum / state.partial_loss_n as f64
                ));
                b.inc(1);
            }
            if stop_requested(steps_this_call) && state.step_in_epoch < steps_per_epoch {
                save(&step, &state, &dir.last(), true)?;
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
        let v = validate(&step.net, &val_sources, cfg.val_norm)?;
        if !opts.quiet && (v.per_source[0].2.len() < v.per_source[0].1 || v.per_source.len() > 1) {
            for (src, n, nmes) in &v.per_source {
                let mean = nmes.iter().sum::<f64>() / nmes.len().max(1) as f64;
                eprintln!(
                    "  validation {src}: NME {:.3}% ({}) over {} of {n} faces",
                    mean * 100.0,
                    cfg.val_norm.name(),
                    nmes.len()
                );
            }
        }
        let train_loss = state.partial_loss_sum / state.partial_loss_n.max(1) as f64;
        if epoch == 0 || state.first_val_nme.is_nan() {
            state.first_val_nme = v.nme;
        }
        state.last_val_nme = v.nme;
        state.epoch = epoch + 1;
        state.step_in_epoch = 0;
        state.partial_loss_sum = 0.0;
        state.partial_loss_n = 0;
        let improved = v.nme < state.best_val_nme;
        if improved {
            state.best_val_nme = v.nme;
            state.best_epoch = epoch + 1;
        }
        let row = curves::Row {
            epoch: epoch + 1,
            lr: cfg.optim.lr_at(epoch as f64, cfg.epochs),
            train_loss,
            val_nme: v.nme * 100.0,
            val_fr10: v.fr10 * 100.0,
            val_auc10: v.auc10,
            schedule: schedule_value.unwrap_or(f64::NAN),
            seconds: epoch_start.elapsed().as_secs_f64(),
            img_per_s: images as f64 / train_seconds.max(1e-9),
        };
        rows.push(row.clone());
        curves::write_rows(&dir.metrics(), &rows)?;
        curves::plot(&dir.curves(), &rows)?;
        if improved {
            save(&step, &state, &dir.best(), false)?;
        }
        save(&step, &state, &dir.last(), true)?;
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
        run_dir: dir.path().to_path_buf(),
        epochs_done: state.epoch,
        best_val_nme: state.best_val_nme,
        best_epoch: state.best_epoch,
        last_val_nme: state.last_val_nme,
        first_val_nme: state.first_val_nme,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The model (initialised as the config says, or restored from the run's last checkpoint), its
/// objective (with the shape model written to the run folder when the loss needs one) and Adam.
fn build_step(
    cfg: &TrainConfig,
    data: &PreparedData,
    spec: &CropSpec,
    dir: &RunDir,
    resuming: bool,
    opts: &TrainOptions,
) -> Result<(TrainStep, RunState)> {
    let scheme = &data.target;
    let shape = if cfg.loss.needs_shape_model() {
        let m = fit_shape_model(&data.train, spec, cfg.shape.align)?;
        m.save(dir.shape())?;
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
            clean_shapes(&data.train, spec, &data.sources[0].crop_source)?,
            scheme.flip.clone(),
        ));
    }

    tch::manual_seed(mix_seed(cfg.seed, u64::MAX, 0));
    let vs = VarStore::new(Device::Cpu);
    let net = model::build(&cfg.model, vs.root(), scheme.n_points() as i64)?;
    if cfg.init == Init::Imagenet {
        let path = locations(opts).imagenet_mobilenet_v2();
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
        let path = locations(opts).resolve(from)?;
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
    if let Some(from) = &cfg.init_backbone_from {
        let path = locations(opts).resolve(from)?;
        let loaded = checkpoint::load(&path)?;
        let n = checkpoint::copy_prefixed_into(&vs, &loaded.tensors, &path, "features.")?;
        if !opts.quiet {
            eprintln!("encoder ({n} tensors) from {}", path.display());
        }
    }
    if cfg.head_init == HeadInit::MeanShape {
        init_head_to_mean_shape(&vs, data, spec)?;
    }
    let mut opt = Adam::new(&vs, &cfg.optim);
    let mut state = RunState::start();
    if resuming {
        state = dir.restore_last(&vs, &mut opt)?;
        if !opts.quiet {
            eprintln!(
                "resuming {} at epoch {} step {}",
                dir.path().display(),
                state.epoch + 1,
                state.step_in_epoch
            );
        }
    }
    let mut step = TrainStep::new(vs, net, objective, opt, cfg.seed, cfg.data.input_size);
    if let Some(d) = &cfg.distill {
        step = step.with_teacher(load_teacher(d, scheme, spec, opts)?);
    }
    Ok((step, state))
}

/// `[distill]`'s teacher, checked to predict the run's scheme from the run's crop.
fn load_teacher(
    d: &crate::config::DistillConfig,
    scheme: &Scheme,
    spec: &CropSpec,
    opts: &TrainOptions,
) -> Result<step::Teacher> {
    let path = locations(opts).resolve(&d.teacher)?;
    let t = crate::bundle::LoadedModel::load_path(&path)?;
    if t.file.scheme.id != scheme.id {
        return Err(Error::Config(format!(
            "`distill.teacher`: {} predicts {} landmarks, this run trains {}",
            path.display(),
            t.file.scheme.name(),
            scheme.name()
        )));
    }
    if t.crop_spec() != *spec {
        return Err(Error::Config(format!(
            "`distill.teacher`: {} was trained on {}-px crops enlarged {}, this run uses {}-px crops enlarged {}",
            path.display(),
            t.crop_spec().size,
            t.crop_spec().enlarge,
            spec.size,
            spec.enlarge
        )));
    }
    if !opts.quiet {
        eprintln!("distilling from {} (weight {})", path.display(), d.weight);
    }
    Ok(step::Teacher::new(t.vs, t.net, d.weight))
}

/// Shuffled, augmented batches over every training source, mapped to the model's scheme.
fn training_loader(cfg: &TrainConfig, data: &PreparedData, spec: &CropSpec) -> Result<MixedLoader> {
    let cache_bytes = cfg.data.cache_mb * 1024 * 1024;
    let sources = data
        .sources
        .iter()
        .map(|src| {
            Ok(MixedSource {
                loader: CropLoader::new(
                    src.train.clone(),
                    LoaderConfig {
                        crop: *spec,
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
    Ok(MixedLoader::new(sources, data.target.clone())?)
}

/// Validation: every source with held-out faces, each in its own scheme; the first picks the
/// best epoch.
fn validation_sources(
    cfg: &TrainConfig,
    data: &PreparedData,
    spec: &CropSpec,
) -> Result<Vec<ValSource>> {
    let cache_bytes = cfg.data.cache_mb * 1024 * 1024;
    data.sources
        .iter()
        .filter_map(|src| src.val.as_ref().map(|v| (src, v)))
        .map(|(src, v)| {
            Ok(ValSource {
                loader: CropLoader::new(
                    v.clone(),
                    LoaderConfig {
                        cache_bytes,
                        crop_source: src.crop_source,
                        ..LoaderConfig::eval(*spec, cfg.batch_size.max(16))
                    },
                )?,
                map: src.map.clone(),
            })
        })
        .collect()
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

//! The `facealign` command: a thin CLI over the facealign libraries. The default build predicts
//! and evaluates on the pure-Rust runtime (`facealign-infer`, no libtorch); the `train` feature
//! adds libtorch for `train`, `bench`, `model summary`/`export` and `--runtime torch`.
//!
//! Flags are parsed by clap into the library's settings structs before any work starts; `main`
//! prints the whole error chain and returns a non-zero exit code on failure.
use std::path::PathBuf;
use std::process::ExitCode;
#[cfg(feature = "train")]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "train")]
use std::sync::Arc;

#[cfg(feature = "train")]
use anyhow::Context;
use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(
    name = "facealign",
    version,
    about = "Face alignment: train, evaluate and run facial landmark models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Datasets: inspect a data spec FORMAT:PATH[#SUBSET][#origin=0|1].
    #[command(subcommand)]
    Data(DataCmd),
    /// The PCA shape model (Active Shape Model / Smooth-Faces).
    #[command(subcommand)]
    Shape(ShapeCmd),
    /// Train a landmark model from a TOML config.
    Train(TrainArgs),
    /// Evaluate models with the field's protocol (NME, FR, AUC, CED).
    Eval(commands::eval::EvalArgs),
    /// Landmarks on photos: face detection, landmarks, JSON and overlays.
    Predict(commands::predict::PredictArgs),
    /// Model architectures.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Speed: training and inference of an architecture (torch), or batch-1 latency of trained
    /// models on the pure-Rust runtime (`--runtime tract`).
    Bench(commands::bench::BenchArgs),
}

#[derive(Subcommand)]
enum DataCmd {
    /// Count samples, points and subsets; check images and coordinates; draw overlays.
    Inspect {
        /// Data spec FORMAT:PATH[#SUBSET][#origin=0|1], e.g. pts:../shared/data/infanface/train
        spec: String,
        /// Write overlay PNGs (points coloured by group) into this folder.
        #[arg(long)]
        draw: Option<PathBuf>,
        /// At most this many overlays.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ShapeCmd {
    /// Fit the PCA shape model on training landmarks (in the model's crop coordinates).
    Fit {
        /// Data spec of the training shapes.
        spec: String,
        /// Output JSON.
        #[arg(long)]
        out: PathBuf,
        /// Also draw the mean shape with the first three modes at ±3σ.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Crop side in pixels (the model input size; stored with the model).
        #[arg(long, default_value_t = 224)]
        size: u32,
        /// Crop enlargement of the landmark box.
        #[arg(long, default_value_t = 1.25)]
        enlarge: f32,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Training config (TOML). Optional with --resume (the run directory holds its config).
    config: Option<PathBuf>,
    /// Override a config value: --set optim.lr=3e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Run directory (default runs/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this directory exactly where it stopped.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Override the number of epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Use at most this many training samples.
    #[arg(long)]
    max_samples: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Start over in an --out folder that already holds a run (its run files are replaced).
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Layers, parameter count and multiply-adds of an architecture.
    Summary {
        /// mobilenet_v2, efficientnet_b0, efficientnet_b3, asmnet, heatmap
        name: String,
        #[arg(long, default_value_t = 224)]
        size: u32,
        #[arg(long, default_value_t = 68)]
        points: usize,
        /// MobileNetV2's width multiplier (`model.width`; default 1.0)
        #[arg(long)]
        width: Option<f64>,
        /// The heatmap model's decoder stages (`model.decoder`): dense (default) or separable
        #[arg(long)]
        decoder: Option<String>,
    },
    /// Fit the detector-box → crop calibration on annotated faces and store it in the model file.
    Calibrate {
        /// A .safetensors model file (rewritten with the calibration in its metadata).
        model: PathBuf,
        /// Annotated faces to fit on (training data, never the test split); several specs pool.
        #[arg(long, num_args = 1.., required = true)]
        data: Vec<String>,
        #[arg(long, default_value = facealign::infer::detect::DEFAULT_DETECTOR)]
        detector: String,
    },
    /// Write a trained model as one compact file: facealign's safetensors (weights + config, no
    /// optimiser state) or a standard ONNX graph (BatchNorm folded; input N×3×S×S RGB in [0, 1],
    /// output N×2M crop units).
    Export {
        /// Run directory, weights file or shipped model name.
        model: String,
        /// Output file.
        out: PathBuf,
        /// safetensors (facealign's format; needs the `train` feature) or onnx.
        #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
        format: ExportFormat,
        /// Keep f32 weights in a safetensors export (default: f16, half the size).
        #[arg(long)]
        full: bool,
    },
}

/// `model export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Safetensors,
    Onnx,
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Data(DataCmd::Inspect {
            spec,
            draw,
            limit,
            json,
        }) => commands::data::inspect(&spec, draw, limit, json),
        Command::Shape(ShapeCmd::Fit {
            spec,
            out,
            plot,
            size,
            enlarge,
        }) => commands::shape::fit(&spec, &out, plot, size, enlarge),
        #[cfg(feature = "train")]
        Command::Train(a) => train(a),
        #[cfg(not(feature = "train"))]
        Command::Train(_) => bail!("{}", commands::needs_train("`facealign train`")),
        Command::Eval(a) => commands::eval::run(a),
        Command::Predict(a) => commands::predict::run(a),
        #[cfg(feature = "train")]
        Command::Model(ModelCmd::Summary {
            name,
            size,
            points,
            width,
            decoder,
        }) => commands::model::summary(&name, size, points, width, decoder.as_deref()),
        #[cfg(not(feature = "train"))]
        Command::Model(ModelCmd::Summary { .. }) => {
            bail!("{}", commands::needs_train("`facealign model summary`"))
        }
        Command::Model(ModelCmd::Calibrate {
            model,
            data,
            detector,
        }) => {
            let ds = commands::load_data(&data)?;
            let mut det = facealign::infer::detect::open(
                &detector,
                &commands::locations().detector_dir(&detector),
            )?;
            let (c, n) = facealign::infer::predictor::calibrate(det.as_mut(), &ds)?;
            facealign::infer::model_file::store_calibration(&model, &detector, &c)?;
            println!(
                "{detector}: matched {n} of {} faces; centre shift ({:+.3}·w, {:+.3}·h), side ×{:.3}; stored in {}",
                ds.samples.len(),
                c.dx,
                c.dy,
                c.scale,
                model.display()
            );
            Ok(())
        }
        Command::Model(ModelCmd::Export {
            model,
            out,
            format: ExportFormat::Onnx,
            ..
        }) => {
            let src = commands::locations().resolve(&model)?;
            facealign::infer::export_onnx(&src, &out)?;
            let bytes = std::fs::metadata(&out)?.len();
            println!("wrote {} ({:.1} MB)", out.display(), bytes as f64 / 1e6);
            Ok(())
        }
        #[cfg(feature = "train")]
        Command::Model(ModelCmd::Export {
            model, out, full, ..
        }) => {
            let src = commands::locations().resolve(&model)?;
            let bytes = facealign::bundle::export(&src, &out, !full)?;
            println!("wrote {} ({:.1} MB)", out.display(), bytes as f64 / 1e6);
            Ok(())
        }
        #[cfg(not(feature = "train"))]
        Command::Model(ModelCmd::Export { .. }) => {
            bail!(
                "{}",
                commands::needs_train("`facealign model export` to safetensors")
            )
        }
        Command::Bench(a) => commands::bench::run(a),
    }
}

#[cfg(feature = "train")]
fn train(a: TrainArgs) -> Result<()> {
    let mut overrides = a.set.clone();
    if let Some(e) = a.epochs {
        overrides.push(format!("epochs={e}"));
    }
    if a.max_samples == Some(0) {
        bail!("--max-samples 0: expected at least 1");
    }
    if let Some(m) = a.max_samples {
        overrides.push(format!("data.max_samples={m}"));
    }
    // A resumed run reads its own config, once, in the library.
    let cfg = match (&a.config, &a.resume) {
        (Some(path), None) => Some(facealign::config::TrainConfig::load(path, &overrides)?),
        (_, Some(_)) => {
            if !overrides.is_empty() {
                bail!("--resume continues a run exactly; --set/--epochs/--max-samples cannot change it");
            }
            None
        }
        (None, None) => bail!("give a CONFIG.toml (or --resume RUN_DIR)"),
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting now");
                facealign::alloc::exit_now(130);
            }
            eprintln!("\nCtrl-C: stopping after a consistent checkpoint (Ctrl-C again to abort)");
        })
        .context("installing the Ctrl-C handler")?;
    }
    let opts = facealign::train::TrainOptions {
        out: a.out,
        stop: Some(stop),
        stop_after_steps: None,
        quiet: a.quiet,
        force: a.force,
        locations: Some(commands::locations().clone()),
    };
    let report = match (cfg, &a.resume) {
        (Some(cfg), _) => facealign::train::train(cfg, a.config.as_deref(), &opts),
        (None, Some(dir)) => facealign::train::resume(dir, &opts),
        (None, None) => unreachable!("checked above"),
    };
    match report {
        Ok(r) => {
            println!("run directory: {}", r.run_dir.display());
            println!(
                "best validation NME {:.3}% at epoch {} (first epoch {:.3}%, last {:.3}%), {:.0} s",
                r.best_val_nme * 100.0,
                r.best_epoch,
                r.first_val_nme * 100.0,
                r.last_val_nme * 100.0,
                r.seconds
            );
            Ok(())
        }
        Err(facealign::TrainError::Interrupted) => {
            eprintln!("stopped; continue with: facealign train --resume <run directory>");
            Err(facealign::TrainError::Interrupted.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The text printed for a failed command: the error, then each cause not already spelled out by
/// the line before it (an I/O error's message ends with its source: `path: Is a directory`).
fn error_report(e: &anyhow::Error) -> String {
    let mut out = format!("error: {e}\n");
    let mut last = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            out.push_str(&format!("  caused by: {text}\n"));
        }
        last = text;
    }
    out
}

fn main() -> ExitCode {
    // libtorch's OpenMP threads sleep instead of spinning while they wait (re-executes once).
    #[cfg(feature = "train")]
    facealign::alloc::passive_openmp();
    // Keep libtorch's freed activations in the heap instead of re-faulting them every step.
    #[cfg(feature = "train")]
    facealign::alloc::tune_allocator();
    // `facealign ... | head` closes stdout early: end quietly instead of panicking in println!.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", error_report(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_report_skips_a_cause_the_message_already_gives() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(facealign::Error::io("ids.txt", io));
        assert_eq!(
            error_report(&e),
            "error: ids.txt: No such file or directory\n"
        );
        let e = anyhow::anyhow!("invalid float literal").context("--box a: expected x,y,w,h");
        assert_eq!(
            error_report(&e),
            "error: --box a: expected x,y,w,h\n  caused by: invalid float literal\n"
        );
    }
}

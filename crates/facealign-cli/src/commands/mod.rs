//! One module per subcommand: each turns parsed flags into library calls and prints results.
pub mod bench;
pub mod data;
pub mod eval;
#[cfg(feature = "train")]
pub mod model;
pub mod predict;
pub mod runtime;
pub mod shape;

use std::path::Path;

use facealign::draw::{overlay, save_png_atomic, DrawOptions};
use facealign::{BoxXywh, Point, Scheme};

/// The refinement flags of `eval` and `predict` (issue 13, item 3).
#[derive(clap::Args)]
pub struct RefineArgs {
    /// Re-crop each face aligned with its predicted eye line and re-centred on the prediction,
    /// then predict again, N times (faces tilted in the photo; 0 = off). Default: 1 for
    /// `predict`, 0 for `eval` (the benchmark protocol: one crop per face).
    #[arg(long, value_name = "N")]
    refine: Option<u32>,
    /// Average each refinement pass with the prediction on the mirrored crop.
    #[arg(long)]
    flip_average: bool,
    /// Skip a face's (next) refinement pass when its re-crop would move no crop corner by this
    /// many crop pixels against its last crop (0 = every face runs every pass). Default: an
    /// eighth of the model's input size for `predict` (12 px at 96 px: upright, well-framed faces
    /// skip the pass, turned ones never do), 0 for `eval`.
    #[arg(
        long,
        value_name = "PX",
        value_parser = finite_non_negative,
        allow_negative_numbers = true
    )]
    refine_still: Option<f32>,
    /// Run the refinement passes with this second model (a run directory, .safetensors file or
    /// shipped name predicting the same scheme; a cascade: the main model finds the face's
    /// shape from the first box, this one places the points on the re-crop, on its own crop
    /// protocol). Implies at least one pass; its first pass is never skipped by --refine-still.
    /// Default: the shipped default model's own refine model (`[refine]` of
    /// models/defaults.toml) when --model is not given and a pass runs; `none`: no refine model.
    #[arg(long, value_name = "MODEL")]
    refine_model: Option<String>,
}

impl RefineArgs {
    /// The refinement asked for; `default` when a flag is not given (at least one pass with
    /// `--flip-average`).
    pub fn refine(&self, default: facealign::infer::Refine) -> facealign::infer::Refine {
        facealign::infer::Refine {
            passes: self.refine.unwrap_or(default.passes).max(u32::from(
                self.flip_average || self.explicit_refine_model().is_some(),
            )),
            flip: self.flip_average,
            still_px: self.refine_still.unwrap_or(default.still_px),
        }
    }

    /// The refine model named by `--refine-model` (`none` names none).
    fn explicit_refine_model(&self) -> Option<&str> {
        self.refine_model.as_deref().filter(|m| *m != "none")
    }

    /// The refine model to run, loaded on `rt`: `--refine-model` when given; else, when the
    /// main model is the shipped default for `default_for` and `refine` runs a pass, that
    /// default's refine model (if models/defaults.toml names one). `--refine 0` with
    /// `--refine-model` is an error (it would never run).
    pub fn refine_model(
        &self,
        rt: runtime::Runtime,
        refine: facealign::infer::Refine,
        default_for: Option<facealign::SchemeId>,
    ) -> anyhow::Result<
        Option<(
            facealign::infer::ModelFile,
            Box<dyn facealign::infer::CropNet>,
        )>,
    > {
        let name = match (self.refine_model.as_deref(), default_for) {
            (Some("none"), _) => return Ok(None),
            (Some(m), _) => {
                if self.refine == Some(0) {
                    anyhow::bail!(
                        "--refine-model {m} with --refine 0: the refine model would never run"
                    );
                }
                m.to_string()
            }
            (None, Some(scheme)) if refine.passes > 0 => {
                match locations().default_refine_model(scheme)? {
                    Some(path) => path.display().to_string(),
                    None => return Ok(None),
                }
            }
            (None, _) => return Ok(None),
        };
        let loaded = runtime::load(&name, rt)
            .map_err(|e| anyhow::anyhow!("--refine-model {name}: {e:#}"))?;
        Ok(Some(loaded))
    }
}

/// clap's parser for a finite number ≥ 0.
fn finite_non_negative(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a finite number >= 0".into()),
    }
}

/// clap's parser for a count ≥ 1 (`--batch`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err("expected a whole number >= 1".into()),
    }
}

/// The message of a command or flag that needs the training runtime.
#[cfg(not(feature = "train"))]
pub fn needs_train(what: &str) -> String {
    format!(
        "{what} needs libtorch, and this facealign was built without it: build with `cargo build --release -p facealign-cli --features train` after ./setup.sh (the README's second command)"
    )
}

/// Draw `points` (coloured by group) and optionally `reference` points and a box on `img`, and
/// save the PNG atomically.
pub fn save_overlay(
    path: &Path,
    img: &image::RgbImage,
    scheme: &Scheme,
    points: &[Point],
    reference: Option<&[Point]>,
    bbox: Option<&BoxXywh>,
) -> anyhow::Result<()> {
    let out = overlay(
        img,
        scheme,
        points,
        reference,
        bbox,
        &DrawOptions::default(),
    )?;
    save_png_atomic(&out, path)?;
    Ok(())
}

/// One dataset from one or more specs; with several, each spec's samples also form a subset named
/// after the spec, so the table shows every source beside the pooled numbers.
/// Where the shipped models and detectors are: found once per process
/// ([`facealign::infer::Locations::discover`]: `$FACEALIGN_HOME`, else the repository the binary
/// was built from) and passed to every library call that needs them.
pub fn locations() -> &'static facealign::infer::Locations {
    static LOCATIONS: std::sync::OnceLock<facealign::infer::Locations> = std::sync::OnceLock::new();
    LOCATIONS.get_or_init(facealign::infer::Locations::discover)
}

pub fn load_data(specs: &[String]) -> anyhow::Result<facealign::Dataset> {
    let mut all: Option<facealign::Dataset> = None;
    for spec in specs {
        let mut ds = facealign::data::DataSpec::parse(spec)?.load()?;
        if specs.len() > 1 {
            ds.subsets
                .insert(spec.clone(), (0..ds.samples.len()).collect());
        }
        match &mut all {
            None => all = Some(ds),
            Some(a) => a.append(ds)?,
        }
    }
    anyhow::Context::context(all, "--data: no data spec given")
}

/// Check, before any work, that an output file can be written: its folder is created if missing
/// (as `--draw DIR` is), then probed; errors name the path given.
pub fn prepare_output(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if path.as_os_str() != "-" && !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|e| {
                anyhow::anyhow!("{}: cannot create its folder: {e}", path.display())
            })?;
        }
    }
    facealign::fsio::check_writable(path)?;
    Ok(())
}

/// Create the folder `dir` given to `flag` (`--draw`, `--worst`), parents included; a file
/// already at that path is named as such (not the OS's "File exists").
pub fn create_output_dir(flag: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "{flag} {}: a file is there, not a folder (overlays go into a folder)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("{flag} {}: cannot create the folder: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_folder_that_is_a_file_is_named_and_left_alone() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let file = tmp.path().join("out.json");
        std::fs::write(&file, b"keep").unwrap();
        let e = create_output_dir("--draw", &file).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "--draw {}: a file is there, not a folder (overlays go into a folder)",
                file.display()
            )
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
        let dir = tmp.path().join("a/b");
        create_output_dir("--draw", &dir).expect("nested folders are created");
        assert!(dir.is_dir());
    }
}

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

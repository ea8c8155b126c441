//! Which engine runs the landmark network (`--runtime tract|torch`): the pure-Rust runtime of
//! `facealign-infer` (tract; always built) or libtorch (the `train` feature).
use anyhow::Result;
use facealign::infer::{CropNet, ModelFile};

/// The landmark runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// Pure Rust (tract), no libtorch.
    Tract,
    /// libtorch, the training engine (needs a build with `--features train`).
    Torch,
}

impl Runtime {
    /// The default: tract.
    pub const DEFAULT: Runtime = Runtime::Tract;
}

/// Load a model file and its network on `runtime`.
pub fn load(spec: &str, runtime: Runtime) -> Result<(ModelFile, Box<dyn CropNet>)> {
    let path = super::locations().resolve(spec)?;
    match runtime {
        Runtime::Tract => {
            // One read of the file gives both the metadata and the weights.
            let (file, net) = facealign::infer::TractNet::open(&path, Default::default())?;
            Ok((file, Box::new(net)))
        }
        Runtime::Torch => torch(&path),
    }
}

#[cfg(feature = "train")]
fn torch(path: &std::path::Path) -> Result<(ModelFile, Box<dyn CropNet>)> {
    let m = facealign::bundle::LoadedModel::load_path(path)?;
    Ok((m.file.clone(), Box::new(m)))
}

#[cfg(not(feature = "train"))]
fn torch(_path: &std::path::Path) -> Result<(ModelFile, Box<dyn CropNet>)> {
    anyhow::bail!("{}", super::needs_train("--runtime torch"))
}

//! Loading a trained model for evaluation and inference.
//!
//! A model is one safetensors file whose metadata carries the training config (so the network is
//! rebuilt exactly as trained) and the landmark scheme. `MODEL` on the command line may be:
//! a run directory (its `best.safetensors`), a `.safetensors` file, or the name of a shipped model
//! under `models/` (e.g. `infanface-mnv2-acr`); the program resolves it with its
//! [`Locations`] (`Locations::resolve`) and the functions here take the resulting path.
use std::path::Path;

use tch::{nn::VarStore, Device};

use crate::checkpoint::{self, META_CONFIG};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{self, LandmarkModel};
use facealign_core::geometry::CropSpec;
pub use facealign_infer::model_file::{Locations, ModelFile};
use facealign_infer::CropNet;

/// A model ready to predict on the torch runtime.
pub struct LoadedModel {
    /// What the file says: name, path, scheme, crop protocol, metadata.
    pub file: ModelFile,
    /// The training config the network is rebuilt from.
    pub cfg: TrainConfig,
    pub vs: VarStore,
    pub net: LandmarkModel,
}

impl LoadedModel {
    /// Load from a weights file.
    pub fn load_path(path: &Path) -> Result<LoadedModel> {
        let loaded = checkpoint::load(path)?;
        let file = ModelFile::from_metadata(path, loaded.meta)?;
        let text = &file.meta[META_CONFIG];
        let cfg = TrainConfig::from_toml(text, &format!("{} (metadata)", path.display()))?;
        let vs = VarStore::new(Device::Cpu);
        let net = model::build(&cfg.model, vs.root(), file.scheme.n_points() as i64)?;
        checkpoint::copy_into(&vs, &loaded.tensors, path)?;
        Ok(LoadedModel { file, cfg, vs, net })
    }

    /// The crop the model was trained on.
    pub fn crop_spec(&self) -> CropSpec {
        self.file.crop
    }
}

impl CropNet for LoadedModel {
    fn runtime(&self) -> &'static str {
        "torch"
    }
    fn run(&self, chw: &[f32], n: usize) -> facealign_infer::Result<Vec<f32>> {
        self.net.run(chw, n)
    }
}

/// Write a model's weights (no optimiser state) with its metadata to `out`, in f16 when `half`
/// (half the size; predictions change by far less than a pixel). Returns the file size in bytes.
pub fn export(src: &Path, out: &Path, half: bool) -> Result<u64> {
    let loaded = checkpoint::load(src)?;
    if !loaded.meta.contains_key(META_CONFIG) {
        return Err(Error::ckpt(src, "no facealign config in the metadata"));
    }
    let tensors: Vec<(String, tch::Tensor)> = loaded
        .tensors
        .into_iter()
        .filter(|(k, _)| !k.starts_with("optim."))
        .collect();
    let mut meta = loaded.meta;
    meta.insert("facealign.exported_from".into(), src.display().to_string());
    checkpoint::save(out, &tensors, &meta, half)?;
    Ok(std::fs::metadata(out).map_err(|e| Error::io(out, e))?.len())
}

//! Loading a trained model for evaluation and inference.
//!
//! A model is one safetensors file whose metadata carries the training config (so the network is
//! rebuilt exactly as trained) and the landmark scheme. `MODEL` on the command line may be:
//! a run directory (its `best.safetensors`), a `.safetensors` file, or the name of a shipped model
//! under `models/` (e.g. `infanface-mnv2-acr`). Relative paths are tried from the current folder
//! and then from the repository the binary was built in.
use std::path::{Path, PathBuf};

use tch::{nn::VarStore, Device};

use crate::checkpoint::{self, META_CONFIG};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{self, LandmarkModel};
use facealign_core::geometry::CropSpec;
pub use facealign_infer::model_file::{default_model, repo_root, resolve, ModelFile};
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

/// The converted torchvision ImageNet MobileNetV2 weights shipped in the repository.
pub fn imagenet_weights_path() -> PathBuf {
    let rel = Path::new("models/imagenet/mobilenet_v2.safetensors");
    match repo_root() {
        Some(root) if root.join(rel).exists() => root.join(rel),
        _ => rel.to_path_buf(),
    }
}

impl LoadedModel {
    /// Load a model from a MODEL argument.
    pub fn load(spec: &str) -> Result<LoadedModel> {
        Self::load_path(&resolve(spec)?)
    }

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
pub fn export(model: &str, out: &Path, half: bool) -> Result<u64> {
    let src = resolve(model)?;
    let loaded = checkpoint::load(&src)?;
    if !loaded.meta.contains_key(META_CONFIG) {
        return Err(Error::ckpt(&src, "no facealign config in the metadata"));
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

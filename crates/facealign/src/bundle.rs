//! Loading a trained model for evaluation and inference.
//!
//! A model is one safetensors file whose metadata carries the training config (so the network is
//! rebuilt exactly as trained) and the landmark scheme. `MODEL` on the command line may be:
//! a run directory (its `best.safetensors`), a `.safetensors` file, or the name of a shipped model
//! under `models/` (e.g. `infanface-mnv2-acr`). Relative paths are tried from the current folder
//! and then from the repository the binary was built in.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{nn::VarStore, Device};

use crate::checkpoint::{self, META_CONFIG};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{self, LandmarkModel};
use facealign_core::geometry::CropSpec;
use facealign_core::{Scheme, SchemeId};

/// A model ready to predict.
pub struct LoadedModel {
    /// Display name (file stem or run directory name).
    pub name: String,
    pub path: PathBuf,
    pub cfg: TrainConfig,
    pub scheme: Scheme,
    pub vs: VarStore,
    pub net: LandmarkModel,
    pub meta: BTreeMap<String, String>,
}

/// The repository root the binary was built from (for shipped models), if it still exists.
pub fn repo_root() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().ok()
}

/// The converted torchvision ImageNet MobileNetV2 weights shipped in the repository.
pub fn imagenet_weights_path() -> PathBuf {
    let rel = Path::new("models/imagenet/mobilenet_v2.safetensors");
    match repo_root() {
        Some(root) if root.join(rel).exists() => root.join(rel),
        _ => rel.to_path_buf(),
    }
}

/// Resolve a MODEL argument to a weights file.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    let p = PathBuf::from(spec);
    candidates.push(p.clone());
    if let Some(root) = repo_root() {
        if p.is_relative() {
            candidates.push(root.join(&p));
        }
        candidates.push(root.join("models").join(format!("{spec}.safetensors")));
    }
    candidates.push(PathBuf::from("models").join(format!("{spec}.safetensors")));
    for c in &candidates {
        if c.is_dir() {
            let best = c.join("best.safetensors");
            if best.exists() {
                return Ok(best);
            }
            let last = c.join("last.safetensors");
            if last.exists() {
                return Ok(last);
            }
        } else if c.is_file() {
            return Ok(c.clone());
        }
    }
    Err(Error::ckpt(spec, "no such model: not a run directory, a .safetensors file or a shipped model name under models/"))
}

/// The shipped default model for a landmark scheme (`models/defaults.toml`).
pub fn default_model(scheme: SchemeId) -> Result<PathBuf> {
    let root = repo_root().unwrap_or_else(|| PathBuf::from("."));
    let table_path = root.join("models/defaults.toml");
    let text = std::fs::read_to_string(&table_path).map_err(|e| Error::io(&table_path, e))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| Error::ckpt(&table_path, e.to_string()))?;
    let name = table
        .get(scheme.name())
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            Error::ckpt(
                &table_path,
                format!("no default model for the {} scheme", scheme.name()),
            )
        })?;
    resolve(name)
}

impl LoadedModel {
    /// Load a model from a MODEL argument.
    pub fn load(spec: &str) -> Result<LoadedModel> {
        Self::load_path(&resolve(spec)?)
    }

    /// Load from a weights file.
    pub fn load_path(path: &Path) -> Result<LoadedModel> {
        let loaded = checkpoint::load(path)?;
        let text = loaded.meta.get(META_CONFIG).ok_or_else(|| {
            Error::ckpt(
                path,
                "no facealign config in the file's metadata (not a facealign model?)",
            )
        })?;
        let cfg = TrainConfig::from_toml(text, &format!("{} (metadata)", path.display()))?;
        let scheme_name = loaded
            .meta
            .get("facealign.scheme")
            .cloned()
            .unwrap_or_default();
        let scheme_id = SchemeId::parse(&scheme_name).ok_or_else(|| {
            Error::ckpt(
                path,
                format!("unknown landmark scheme `{scheme_name}` in the metadata"),
            )
        })?;
        let scheme = Scheme::get(scheme_id);
        let vs = VarStore::new(Device::Cpu);
        let net = model::build(&cfg.model, vs.root(), scheme.n_points() as i64)?;
        checkpoint::copy_into(&vs, &loaded.tensors, path)?;
        let name = if path
            .file_name()
            .is_some_and(|f| f == "best.safetensors" || f == "last.safetensors")
        {
            path.parent()
                .and_then(|d| d.file_name())
                .map(|s| s.to_string_lossy().into_owned())
        } else {
            path.file_stem().map(|s| s.to_string_lossy().into_owned())
        }
        .unwrap_or_else(|| "model".into());
        Ok(LoadedModel {
            name,
            path: path.to_path_buf(),
            cfg,
            scheme,
            vs,
            net,
            meta: loaded.meta,
        })
    }

    /// The crop the model was trained on.
    pub fn crop_spec(&self) -> CropSpec {
        CropSpec {
            size: self.cfg.data.input_size,
            enlarge: self.cfg.data.enlarge,
        }
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

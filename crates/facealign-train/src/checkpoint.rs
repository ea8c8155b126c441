//! Weights and checkpoints: one safetensors file each, self-describing through its metadata.
//!
//! A file holds the model's variables under their VarStore names, optionally the optimiser's
//! moments (`optim.*`), and string metadata: `facealign.config` (the training config as TOML),
//! `facealign.state` (JSON: epoch, step, best NME ...), `facealign.format` = `facealign-v1`.
//! Files are written to a temporary name and renamed, so a crash never leaves a torn file.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use tch::{nn::VarStore, Kind, Tensor};

use crate::error::{write_atomic, Error, Result};

/// Metadata key of the training config (TOML).
pub const META_CONFIG: &str = "facealign.config";
/// Metadata key of the run state (JSON).
pub const META_STATE: &str = "facealign.state";
/// Metadata key of the format tag.
pub const META_FORMAT: &str = "facealign.format";
/// The format tag.
pub const FORMAT: &str = "facealign-v1";

/// Save named tensors (converted to f32, or f16 when `half`) with metadata, atomically.
pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    meta: &BTreeMap<String, String>,
    half: bool,
) -> Result<()> {
    let kind = if half { Kind::Half } else { Kind::Float };
    let dtype = if half { Dtype::F16 } else { Dtype::F32 };
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.detach().to_kind(kind).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * kind.elt_size_in_bytes()];
        t.copy_data_u8(&mut bytes, numel);
        data.push((name.clone(), shape, bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| {
            let view = TensorView::new(dtype, s.clone(), b)
                .map_err(|e| Error::ckpt(path, e.to_string()))?;
            Ok((n.clone(), view))
        })
        .collect::<Result<_>>()?;
    let mut m: HashMap<String, String> = meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    m.insert(META_FORMAT.into(), FORMAT.into());
    let bytes = safetensors::tensor::serialize(views, Some(m))
        .map_err(|e| Error::ckpt(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// A loaded file: tensors by name (f32 on CPU) and metadata.
pub struct Loaded {
    pub tensors: BTreeMap<String, Tensor>,
    pub meta: BTreeMap<String, String>,
}

/// Read a safetensors file written by [`save`] (or any f32/f16 safetensors file).
pub fn load(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::ckpt(path, format!("not a safetensors file: {e}")))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::ckpt(path, format!("bad safetensors header: {e}")))?;
    let meta: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::F64 => Kind::Double,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::I64 => Kind::Int64,
            other => {
                return Err(Error::ckpt(
                    path,
                    format!("tensor `{name}` has unsupported dtype {other:?}"),
                ))
            }
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)
            .map_err(|e| Error::ckpt(path, format!("tensor `{name}`: {e}")))?;
        let t = if kind == Kind::Int64 {
            t
        } else {
            t.to_kind(Kind::Float)
        };
        tensors.insert(name, t);
    }
    Ok(Loaded { tensors, meta })
}

/// The model variables of `vs` (BatchNorm statistics included), sorted by name.
pub fn model_tensors(vs: &VarStore) -> Vec<(String, Tensor)> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    vars.into_iter().collect()
}

/// Copies `tensors[name]` into `var`; `what` names the variable's kind in errors and `hint` says
/// what a missing or misshapen one suggests.
fn copy_var(
    var: &Tensor,
    name: &str,
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
    what: &str,
    hint: &str,
) -> Result<()> {
    let src = tensors
        .get(name)
        .ok_or_else(|| Error::ckpt(path, format!("{what} `{name}` is missing ({hint})")))?;
    if src.size() != var.size() {
        return Err(Error::ckpt(
            path,
            format!(
                "{what} `{name}` has shape {:?}, the model wants {:?} ({hint})",
                src.size(),
                var.size()
            ),
        ));
    }
    let mut var = var.shallow_clone();
    tch::no_grad(|| var.copy_(src));
    Ok(())
}

/// Copy every variable of `vs` from `tensors`. Every variable must be present with the same shape;
/// extra `optim.*` entries are ignored, other extra entries are an error (a different model).
pub fn copy_into(vs: &VarStore, tensors: &BTreeMap<String, Tensor>, path: &Path) -> Result<()> {
    let vars = vs.variables();
    for (name, var) in &vars {
        copy_var(var, name, tensors, path, "variable", "a different model?")?;
    }
    if let Some(extra) = tensors
        .keys()
        .find(|k| !k.starts_with("optim.") && !vars.contains_key(*k))
    {
        return Err(Error::ckpt(
            path,
            format!("unexpected variable `{extra}` (a different model?)"),
        ));
    }
    Ok(())
}

/// Copies the variables of `vs` whose names start with `prefix` (e.g. `features.`, the
/// MobileNetV2 encoder) from `tensors`; the other variables keep their values and the other
/// tensors are ignored. Every selected variable must exist with the same shape. Returns how many
/// were copied (an error if none).
pub fn copy_prefixed_into(
    vs: &VarStore,
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
    prefix: &str,
) -> Result<usize> {
    let mut copied = 0;
    for (name, var) in vs.variables() {
        if name.starts_with(prefix) {
            let hint = "not a MobileNetV2-based model of the same width?";
            copy_var(&var, &name, tensors, path, "encoder variable", hint)?;
            copied += 1;
        }
    }
    if copied == 0 {
        return Err(Error::ckpt(
            path,
            format!("this run's model has no variable under `{prefix}` to start from it"),
        ));
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    #[test]
    fn round_trip_with_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let vs = VarStore::new(Device::Cpu);
        let _a = vs
            .root()
            .var_copy("a", &Tensor::from_slice(&[1.5f32, -2.0, 3.25]).view([3, 1]));
        let _b = vs
            .root()
            .sub("blk")
            .var_copy("b", &Tensor::from_slice(&[7.0f32]));
        let mut meta = BTreeMap::new();
        meta.insert(META_CONFIG.to_string(), "epochs = 3".to_string());
        save(&path, &model_tensors(&vs), &meta, false).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.meta[META_CONFIG], "epochs = 3");
        assert_eq!(loaded.meta[META_FORMAT], FORMAT);
        let vs2 = VarStore::new(Device::Cpu);
        let a2 = vs2.root().zeros("a", &[3, 1]);
        let b2 = vs2.root().sub("blk").zeros("b", &[1]);
        copy_into(&vs2, &loaded.tensors, &path).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(&a2.flatten(0, -1)).unwrap(),
            vec![1.5, -2.0, 3.25]
        );
        assert_eq!(b2.double_value(&[0]), 7.0);
        assert!(!dir.path().join("w.safetensors.tmp").exists());
    }

    #[test]
    fn shape_mismatch_and_garbage_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let vs = VarStore::new(Device::Cpu);
        let _a = vs.root().zeros("a", &[2]);
        save(&path, &model_tensors(&vs), &BTreeMap::new(), true).unwrap();
        let vs2 = VarStore::new(Device::Cpu);
        let _a = vs2.root().zeros("a", &[3]);
        let err = copy_into(&vs2, &load(&path).unwrap().tensors, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.safetensors") && err.contains("`a`"),
            "{err}"
        );
        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, b"not a tensor file").unwrap();
        let err = load(&bad).err().unwrap().to_string();
        assert!(err.contains("bad.safetensors"), "{err}");
        let _ = nn::VarStore::new(Device::Cpu);
    }

    #[test]
    fn an_encoder_is_copied_alone_and_its_mismatches_are_named() {
        let path = Path::new("src.safetensors");
        let mut src = BTreeMap::new();
        src.insert(
            "features.0.w".to_string(),
            Tensor::from_slice(&[1.0f32, 2.0]),
        );
        src.insert("features.18.w".to_string(), Tensor::from_slice(&[9.0f32]));
        src.insert(
            "head.w".to_string(),
            Tensor::from_slice(&[5.0f32, 6.0, 7.0]),
        );
        let vs = VarStore::new(Device::Cpu);
        let enc = vs.root().sub("features").sub("0").zeros("w", &[2]);
        let head = vs.root().sub("head").zeros("w", &[4]);
        assert_eq!(copy_prefixed_into(&vs, &src, path, "features.").unwrap(), 1);
        assert_eq!(Vec::<f32>::try_from(&enc).unwrap(), vec![1.0, 2.0]);
        // The head (another shape in the source) keeps its own values.
        assert_eq!(Vec::<f32>::try_from(&head).unwrap(), vec![0.0; 4]);

        let wider = VarStore::new(Device::Cpu);
        let _w = wider.root().sub("features").sub("0").zeros("w", &[3]);
        let err = copy_prefixed_into(&wider, &src, path, "features.")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("src.safetensors") && err.contains("features.0.w") && err.contains("[3]"),
            "{err}"
        );
        let deeper = VarStore::new(Device::Cpu);
        let _d = deeper.root().sub("features").sub("1").zeros("w", &[2]);
        let err = copy_prefixed_into(&deeper, &src, path, "features.")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("features.1.w") && err.contains("missing"),
            "{err}"
        );
        let no_encoder = VarStore::new(Device::Cpu);
        let _h = no_encoder.root().sub("head").zeros("w", &[3]);
        let err = copy_prefixed_into(&no_encoder, &src, path, "features.")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no variable under `features.`"), "{err}");
    }
}

//! Reading a facealign safetensors model file into plain `f32` tensors and its string metadata.
//!
//! Shipped models store their tensors in F16, run checkpoints in F32; BF16 is read too. Optimiser
//! moments (`optim.*`, present in run checkpoints) are skipped: inference never needs them.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use tract_onnx::prelude::f16;

use crate::error::{Error, Result};

/// One tensor: its shape and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The tensors and metadata of one model file.
#[derive(Debug, Clone)]
pub struct Weights {
    path: PathBuf,
    tensors: BTreeMap<String, WeightTensor>,
    meta: BTreeMap<String, String>,
}

impl Weights {
    /// Reads `path`. Errors name the file (and the tensor, for a bad one).
    pub fn read(path: &Path) -> Result<Weights> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Weights::from_bytes(&bytes, path)
    }

    /// Parses the bytes of a safetensors file; `path` is only used to name it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Weights> {
        let meta = crate::model_file::read_metadata(path, bytes)?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::model(path, "header", format!("not a safetensors file: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if name.starts_with("optim.") {
                continue;
            }
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                    .collect(),
                // bfloat16 is the upper half of an f32.
                Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                    .collect(),
                other => {
                    return Err(Error::model(
                        path,
                        format!("tensor `{name}`"),
                        format!("unsupported dtype {other:?} (F32, F16 or BF16 expected)"),
                    ))
                }
            };
            let shape = view.shape().to_vec();
            if shape.iter().product::<usize>() != data.len() {
                return Err(Error::model(
                    path,
                    format!("tensor `{name}`"),
                    format!("{} values for shape {shape:?}", data.len()),
                ));
            }
            tensors.insert(name, WeightTensor { shape, data });
        }
        Ok(Weights {
            path: path.to_path_buf(),
            tensors,
            meta,
        })
    }

    /// The file the weights came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `__metadata__` map (e.g. `facealign.config`, `facealign.scheme`).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.meta
    }

    /// All tensors by name (`optim.*` left out).
    pub fn tensors(&self) -> &BTreeMap<String, WeightTensor> {
        &self.tensors
    }

    /// Whether the file has a tensor `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`; an error naming the file and the tensor if it is missing.
    pub fn get(&self, name: &str) -> Result<&WeightTensor> {
        self.tensors.get(name).ok_or_else(|| {
            Error::model(
                &self.path,
                format!("tensor `{name}`"),
                "missing (a different model, or a config that does not match the weights?)",
            )
        })
    }

    /// The tensor `name`, checked to have `rank` dimensions.
    pub fn get_rank(&self, name: &str, rank: usize) -> Result<&WeightTensor> {
        let t = self.get(name)?;
        if t.shape.len() != rank {
            return Err(Error::model(
                &self.path,
                format!("tensor `{name}`"),
                format!("shape {:?}, expected {rank} dimensions", t.shape),
            ));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use safetensors::tensor::TensorView;

    fn write(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], meta: &[(&str, &str)]) -> Vec<u8> {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| ((*n).to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let m: HashMap<String, String> = meta
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        safetensors::tensor::serialize(views, Some(m)).unwrap()
    }

    #[test]
    fn f16_bf16_and_f32_read_exactly() {
        // f16 bit patterns: 0x3C00 = 1.0, 0xC000 = −2.0, 0x3555 = 0.333251953125 (nearest f16 to 1/3),
        // 0x0001 = 2⁻²⁴ (smallest subnormal), 0x7BFF = 65504 (largest finite).
        let f16_bits: [u16; 5] = [0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF];
        let want_f16 = [1.0f32, -2.0, 0.333_251_95, 5.960_464_5e-8, 65504.0];
        // bf16: 0x3F80 = 1.0, 0xC0A0 = −5.0.
        let bf16_bits: [u16; 2] = [0x3F80, 0xC0A0];
        let f32_vals = [0.1f32, -7.25];
        let le16 = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let bytes = write(
            &[
                ("a", Dtype::F16, vec![5], le16(&f16_bits)),
                ("b", Dtype::BF16, vec![2, 1], le16(&bf16_bits)),
                (
                    "c",
                    Dtype::F32,
                    vec![1, 2],
                    f32_vals.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                (
                    "optim.m.a",
                    Dtype::F32,
                    vec![1],
                    1f32.to_le_bytes().to_vec(),
                ),
            ],
            &[("facealign.scheme", "five")],
        );
        let w = Weights::from_bytes(&bytes, Path::new("m.safetensors")).unwrap();
        assert_eq!(w.get("a").unwrap().data, want_f16);
        assert_eq!(w.get("a").unwrap().shape, vec![5]);
        assert_eq!(w.get("b").unwrap().data, vec![1.0, -5.0]);
        assert_eq!(w.get("b").unwrap().shape, vec![2, 1]);
        assert_eq!(w.get("c").unwrap().data, f32_vals);
        assert!(!w.contains("optim.m.a"));
        assert_eq!(w.metadata()["facealign.scheme"], "five");
        // Every f16 value converts exactly (f32 holds all of them): check a sweep of bit patterns.
        for bits in (0u16..0x7C00).step_by(37) {
            let x = f16::from_bits(bits);
            assert_eq!(f64::from(x.to_f32()), x.to_f64());
        }
    }

    #[test]
    fn errors_name_the_file_and_the_tensor() {
        let err = Weights::from_bytes(b"garbage", Path::new("bad.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.safetensors"), "{err}");
        let bytes = write(&[("i", Dtype::I32, vec![1], vec![0; 4])], &[]);
        let err = Weights::from_bytes(&bytes, Path::new("int.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("int.safetensors") && err.contains("`i`"),
            "{err}"
        );
        let bytes = write(&[("x", Dtype::F32, vec![2], vec![0; 8])], &[]);
        let w = Weights::from_bytes(&bytes, Path::new("w.safetensors")).unwrap();
        let err = w.get("head.weight").unwrap_err().to_string();
        assert!(
            err.contains("w.safetensors") && err.contains("head.weight"),
            "{err}"
        );
        let err = w.get_rank("x", 4).unwrap_err().to_string();
        assert!(err.contains("4 dimensions"), "{err}");
        let err = Weights::read(Path::new("/nonexistent/none.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.safetensors"), "{err}");
    }
}

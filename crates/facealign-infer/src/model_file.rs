//! Model files as inference needs them, without a tensor engine: where a MODEL argument points,
//! the landmark scheme and crop protocol a model was trained with, and its detector calibrations.
//!
//! A model is one safetensors file whose metadata carries the training config (`facealign.config`,
//! TOML), the landmark scheme (`facealign.scheme`) and, per detector, a box calibration
//! (`facealign.calibration.<detector>`). `MODEL` on the command line may be a run directory (its
//! `best.safetensors`, else `last.safetensors`), a `.safetensors` file, or the name of a shipped
//! model under `models/` (e.g. `aflw19`). Relative paths are tried from the current folder and then
//! from the repository the binary was built in.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use facealign_core::geometry::CropSpec;
use facealign_core::{BoxCalibration, Scheme, SchemeId};

/// Metadata key of the training config (TOML).
pub const META_CONFIG: &str = "facealign.config";
/// Metadata key of the landmark scheme name.
pub const META_SCHEME: &str = "facealign.scheme";
/// Metadata key prefix of detector calibrations (`facealign.calibration.<detector>`, JSON).
pub const META_CALIBRATION: &str = "facealign.calibration.";
/// Metadata key of the file a shipped model was exported from.
pub const META_EXPORTED_FROM: &str = "facealign.exported_from";

/// Largest `|dx|`, `|dy|` of a stored detector calibration (in box widths / heights).
const MAX_CALIBRATION_SHIFT: f32 = 10.0;
/// A stored calibration's scale must lie in (1 / this, this].
const MAX_CALIBRATION_SCALE: f32 = 100.0;

/// Input side when a config does not say (the config's own default).
const DEFAULT_INPUT_SIZE: u32 = 224;
/// Crop enlargement when a config does not say (SPEC Decision 8).
const DEFAULT_ENLARGE: f32 = 1.25;

/// What a model file says about the model, read from its metadata alone.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Display name (file stem, or the run directory's name for `best`/`last.safetensors`).
    pub name: String,
    pub path: PathBuf,
    pub scheme: Scheme,
    /// The crop the model was trained on.
    pub crop: CropSpec,
    /// The architecture tag of the config's `[model]` table (`mobilenet_v2` when absent).
    pub arch: String,
    pub meta: BTreeMap<String, String>,
}

impl ModelFile {
    /// Resolve a MODEL argument and read its metadata.
    pub fn load(spec: &str, loc: &Locations) -> Result<ModelFile> {
        Self::open(&loc.resolve(spec)?)
    }

    /// Read a model file's metadata.
    pub fn open(path: &Path) -> Result<ModelFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// Read the metadata of a model file already in memory (`path` names it in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<ModelFile> {
        Self::from_metadata(path, read_metadata(path, bytes)?)
    }

    /// Interpret a model file's metadata (`path` names it in errors).
    pub fn from_metadata(path: &Path, meta: BTreeMap<String, String>) -> Result<ModelFile> {
        let text = meta.get(META_CONFIG).ok_or_else(|| {
            Error::model(
                path,
                format!("metadata {META_CONFIG}"),
                "missing: not a facealign model?",
            )
        })?;
        let cfg: toml::Table = toml::from_str(text)
            .map_err(|e| Error::model(path, format!("metadata {META_CONFIG}"), e.to_string()))?;
        let data = cfg.get("data").and_then(|d| d.as_table());
        let size = match data.and_then(|d| d.get("input_size")) {
            None => DEFAULT_INPUT_SIZE,
            Some(v) => v
                .as_integer()
                .and_then(|i| u32::try_from(i).ok())
                .filter(|s| (16..=1024).contains(s))
                .ok_or_else(|| {
                    Error::model(
                        path,
                        format!("metadata {META_CONFIG}: data.input_size"),
                        format!("`{v}` is not in 16..=1024"),
                    )
                })?,
        };
        let enlarge = match data.and_then(|d| d.get("enlarge")) {
            None => DEFAULT_ENLARGE,
            Some(v) => v
                .as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .map(|f| f as f32)
                .filter(|e| (1.0..=3.0).contains(e))
                .ok_or_else(|| {
                    Error::model(
                        path,
                        format!("metadata {META_CONFIG}: data.enlarge"),
                        format!("`{v}` is not in [1, 3]"),
                    )
                })?,
        };
        let arch = cfg
            .get("model")
            .and_then(|m| m.get("arch"))
            .and_then(|a| a.as_str())
            .unwrap_or("mobilenet_v2")
            .to_string();
        let scheme_name = meta.get(META_SCHEME).cloned().ok_or_else(|| {
            Error::model(
                path,
                format!("metadata {META_SCHEME}"),
                "missing: the file does not say which landmark scheme it predicts",
            )
        })?;
        let scheme_id = SchemeId::parse(&scheme_name).ok_or_else(|| {
            Error::model(
                path,
                format!("metadata {META_SCHEME}"),
                format!("unknown landmark scheme `{scheme_name}`"),
            )
        })?;
        Ok(ModelFile {
            name: display_name(path),
            path: path.to_path_buf(),
            scheme: Scheme::get(scheme_id),
            crop: CropSpec { size, enlarge },
            arch,
            meta,
        })
    }

    /// The stored calibration of a detector's boxes, if the model has one.
    pub fn calibration(&self, detector: &str) -> Result<Option<BoxCalibration>> {
        let key = format!("{META_CALIBRATION}{detector}");
        let Some(text) = self.meta.get(&key) else {
            return Ok(None);
        };
        let c: BoxCalibration = serde_json::from_str(text)
            .map_err(|e| Error::model(&self.path, format!("metadata {key}"), e.to_string()))?;
        // A fitted calibration moves the box by a fraction of its size and scales it by about 1;
        // anything far outside that (or not finite) is a corrupt file, and used to surface only
        // as a singular crop transform naming no file.
        let plausible = c.dx.abs() <= MAX_CALIBRATION_SHIFT
            && c.dy.abs() <= MAX_CALIBRATION_SHIFT
            && c.scale > 1.0 / MAX_CALIBRATION_SCALE
            && c.scale <= MAX_CALIBRATION_SCALE;
        if !plausible {
            return Err(Error::model(
                &self.path,
                format!("metadata {key}"),
                format!(
                    "dx {:?}, dy {:?}, scale {:?}: expected |dx|, |dy| ≤ {MAX_CALIBRATION_SHIFT} and \
                     scale in ({}, {MAX_CALIBRATION_SCALE}]",
                    c.dx,
                    c.dy,
                    c.scale,
                    1.0 / MAX_CALIBRATION_SCALE
                ),
            ));
        }
        Ok(Some(c))
    }
}

/// The name a model is reported under: the run directory's for `best`/`last.safetensors`, else
/// the file stem.
pub fn display_name(path: &Path) -> String {
    if path
        .file_name()
        .is_some_and(|f| f == "best.safetensors" || f == "last.safetensors")
    {
        path.parent()
            .and_then(|d| d.file_name())
            .map(|s| s.to_string_lossy().into_owned())
    } else {
        path.file_stem().map(|s| s.to_string_lossy().into_owned())
    }
    .unwrap_or_else(|| "model".into())
}

/// The `__metadata__` of a safetensors file.
pub fn read_metadata(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::model(path, "header", format!("not a safetensors file: {e}")))?;
    Ok(header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect())
}

/// Where shipped files live: the models (`<name>.safetensors`, `defaults.toml`, `imagenet/`) and
/// the face detectors. A program finds them **once** ([`Locations::discover`], or
/// [`Locations::at`] for a known root) and passes them down; nothing below it guesses paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    /// The shipped models folder.
    pub models: PathBuf,
    /// Folders searched, in order, for a detector's model file.
    pub detectors: Vec<PathBuf>,
}

impl Locations {
    /// The repository layout under `root`: `root/models`, detectors in `root/models/detectors`
    /// (the default ships there) then `root/../shared/models/detectors` (the others).
    pub fn at(root: &Path) -> Locations {
        Locations {
            models: root.join("models"),
            detectors: vec![
                root.join("models/detectors"),
                root.join("../shared/models/detectors"),
            ],
        }
    }

    /// The one place that guesses: `$FACEALIGN_HOME` when set, else the repository the binary
    /// was built from (`cargo install` keeps pointing at the checkout), else the working directory.
    pub fn discover() -> Locations {
        if let Some(home) = std::env::var_os("FACEALIGN_HOME") {
            return Locations::at(Path::new(&home));
        }
        Locations::at(&repo_root().unwrap_or_else(|| PathBuf::from(".")))
    }

    /// Resolve a MODEL argument to a weights file: a `.safetensors` file, a run folder (its
    /// `best`, else `last` checkpoint), or a shipped model name under [`Locations::models`].
    /// A relative path is tried as given, then under the models folder's parent (the root).
    pub fn resolve(&self, spec: &str) -> Result<PathBuf> {
        let p = PathBuf::from(spec);
        let mut candidates = vec![p.clone()];
        if p.is_relative() {
            if let Some(root) = self.models.parent() {
                candidates.push(root.join(&p));
            }
        }
        candidates.push(self.models.join(format!("{spec}.safetensors")));
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
        Err(Error::model(
            spec,
            "MODEL",
            format!(
                "no such model: not a run directory, a .safetensors file or a shipped model name under {}",
                self.models.display()
            ),
        ))
    }

    /// The shipped default model for a landmark scheme (`defaults.toml` of the models folder).
    pub fn default_model(&self, scheme: SchemeId) -> Result<PathBuf> {
        default_model_in(&self.models, scheme)
    }

    /// The shipped refine model of the default model for a landmark scheme (`[refine]` of
    /// `defaults.toml`: the second model of a cascade, `predict --refine-model`), if it names
    /// one.
    pub fn default_refine_model(&self, scheme: SchemeId) -> Result<Option<PathBuf>> {
        default_refine_model_in(&self.models, scheme)
    }

    /// The folder holding detector `name`'s model file: the first of [`Locations::detectors`]
    /// that has it (the first folder when none has it, or for an embedded detector, so that the
    /// error names the expected path).
    pub fn detector_dir(&self, name: &str) -> PathBuf {
        let first = self.detectors.first().cloned().unwrap_or_default();
        match facealign_detect::model_file(name) {
            Some(file) => self
                .detectors
                .iter()
                .find(|d| d.join(file).is_file())
                .cloned()
                .unwrap_or(first),
            None => first,
        }
    }

    /// The converted torchvision ImageNet MobileNetV2 weights (training's `init = "imagenet"`).
    pub fn imagenet_mobilenet_v2(&self) -> PathBuf {
        self.models.join("imagenet/mobilenet_v2.safetensors")
    }
}

/// The repository root the binary was built from, if it still exists (used by
/// [`Locations::discover`] and by tests).
pub fn repo_root() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().ok()
}

/// The default model for a landmark scheme in a folder of shipped models: `<name>.safetensors`
/// in `models_dir`, `name` from its `defaults.toml` (for installs without a repository, e.g. the
/// Python package).
pub fn default_model_in(models_dir: &Path, scheme: SchemeId) -> Result<PathBuf> {
    let name = default_model_name(models_dir, scheme)?;
    shipped_file(
        models_dir,
        &name,
        &format!("the default {} model", scheme.name()),
    )
}

/// `models_dir/<name>.safetensors`; an I/O error naming it and saying it is `what` when missing.
fn shipped_file(models_dir: &Path, name: &str, what: &str) -> Result<PathBuf> {
    let path = models_dir.join(format!("{name}.safetensors"));
    if !path.is_file() {
        return Err(Error::io(
            &path,
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("{what} is missing")),
        ));
    }
    Ok(path)
}

/// The refine model `models_dir/defaults.toml` names for `scheme`'s default (its `[refine]`
/// table), if any: `<name>.safetensors` in `models_dir`, which must exist.
pub fn default_refine_model_in(models_dir: &Path, scheme: SchemeId) -> Result<Option<PathBuf>> {
    let (table_path, table) = defaults_table(models_dir)?;
    let Some(refine) = table.get("refine") else {
        return Ok(None);
    };
    let Some(refine) = refine.as_table() else {
        return Err(Error::model(
            &table_path,
            "refine",
            "expected a table `[refine]` of scheme = \"model name\"",
        ));
    };
    let Some(name) = refine.get(scheme.name()) else {
        return Ok(None);
    };
    let name = name.as_str().ok_or_else(|| {
        Error::model(
            &table_path,
            format!("refine.{}", scheme.name()),
            "expected a model name (a string)",
        )
    })?;
    let what = format!("the default {} refine model", scheme.name());
    Ok(Some(shipped_file(models_dir, name, &what)?))
}

/// `models_dir/defaults.toml` (its path and table).
fn defaults_table(models_dir: &Path) -> Result<(PathBuf, toml::Table)> {
    let table_path = models_dir.join("defaults.toml");
    let text = std::fs::read_to_string(&table_path).map_err(|e| Error::io(&table_path, e))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| Error::model(&table_path, "TOML", e.to_string()))?;
    Ok((table_path, table))
}

/// The model name `models_dir/defaults.toml` gives for `scheme`.
fn default_model_name(models_dir: &Path, scheme: SchemeId) -> Result<String> {
    let (table_path, table) = defaults_table(models_dir)?;
    let name = table
        .get(scheme.name())
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            Error::model(
                &table_path,
                scheme.name(),
                format!("no default model for the {} scheme", scheme.name()),
            )
        })?;
    Ok(name.to_string())
}

/// Rewrite a model file with one metadata entry set (tensors byte for byte as they were),
/// atomically.
pub fn set_metadata(path: &Path, key: &str, value: &str) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::model(path, "header", format!("not a safetensors file: {e}")))?;
    let mut meta: std::collections::HashMap<String, String> =
        read_metadata(path, &bytes)?.into_iter().collect();
    meta.insert(key.to_string(), value.to_string());
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let out = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::model(path, "metadata", format!("cannot serialise: {e}")))?;
    facealign_core::fsio::write_atomic(path, &out)?;
    Ok(())
}

/// Store a detector calibration in a model file's metadata.
pub fn store_calibration(path: &Path, detector: &str, c: &BoxCalibration) -> Result<()> {
    set_metadata(
        path,
        &format!("{META_CALIBRATION}{detector}"),
        &serde_json::to_string(c).expect("calibration serialises"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_missing_scheme_is_named_as_missing() {
        let p = Path::new("m.safetensors");
        let e = ModelFile::from_metadata(p, meta(&[(META_CONFIG, "")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.safetensors: metadata facealign.scheme: missing: the file does not say which \
             landmark scheme it predicts"
        );
    }

    #[test]
    fn an_implausible_calibration_names_the_file_and_key() {
        let p = Path::new("m.safetensors");
        let key = format!("{META_CALIBRATION}ultraface-rfb");
        let model = |calib: &str| {
            ModelFile::from_metadata(
                p,
                meta(&[(META_CONFIG, ""), (META_SCHEME, "five"), (&key, calib)]),
            )
            .expect("the metadata is otherwise valid")
        };
        let ok = model(r#"{"dx":0.005,"dy":0.13,"scale":0.77}"#);
        assert_eq!(
            ok.calibration("ultraface-rfb").unwrap(),
            Some(BoxCalibration {
                dx: 0.005,
                dy: 0.13,
                scale: 0.77
            })
        );
        assert_eq!(ok.calibration("yunet").unwrap(), None);
        for bad in [
            r#"{"dx":0,"dy":0,"scale":0}"#,
            r#"{"dx":0,"dy":0,"scale":-1}"#,
            r#"{"dx":1e30,"dy":0,"scale":1}"#,
            r#"{"dx":0,"dy":0,"scale":1e30}"#,
        ] {
            let e = model(bad).calibration("ultraface-rfb").unwrap_err();
            assert!(
                matches!(&e, Error::Model { location, .. } if *location == format!("metadata {key}")),
                "{bad}: {e:?}"
            );
            assert!(
                e.to_string().starts_with(
                    "m.safetensors: metadata facealign.calibration.ultraface-rfb: dx "
                ) && e.to_string().contains("scale in (0.01, 100]"),
                "{e}"
            );
        }
    }

    #[test]
    fn locations_resolve_names_run_folders_and_paths_under_their_root() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let r = &tmp.path().join("repo");
        std::fs::create_dir_all(r.join("models/detectors")).unwrap();
        std::fs::create_dir_all(r.join("runs/a")).unwrap();
        std::fs::write(r.join("models/m.safetensors"), b"x").unwrap();
        std::fs::write(r.join("models/defaults.toml"), "five = \"m\"\n").unwrap();
        std::fs::write(r.join("runs/a/last.safetensors"), b"x").unwrap();
        std::fs::write(r.join("models/detectors/version-RFB-320.onnx"), b"x").unwrap();
        let loc = Locations::at(r);
        assert_eq!(loc.resolve("m").unwrap(), r.join("models/m.safetensors"));
        // A run folder without best.safetensors gives its last checkpoint; a relative path is
        // tried under the root.
        assert_eq!(
            loc.resolve("runs/a").unwrap(),
            r.join("runs/a/last.safetensors")
        );
        std::fs::write(r.join("runs/a/best.safetensors"), b"x").unwrap();
        assert_eq!(
            loc.resolve("runs/a").unwrap(),
            r.join("runs/a/best.safetensors")
        );
        let e = loc.resolve("nope").expect_err("unknown");
        assert!(
            e.to_string()
                .contains(&r.join("models").display().to_string()),
            "{e}"
        );
        assert_eq!(
            loc.default_model(SchemeId::Five).unwrap(),
            r.join("models/m.safetensors")
        );
        // The detector folders are searched in order; a missing file gives the first folder.
        assert_eq!(
            loc.detector_dir("ultraface-rfb"),
            r.join("models/detectors")
        );
        assert_eq!(loc.detector_dir("yunet"), r.join("models/detectors"));
        let shared = tmp.path().join("shared/models/detectors");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(shared.join("face_detection_yunet.onnx"), b"x").unwrap();
        assert_eq!(
            loc.detector_dir("yunet"),
            r.join("../shared/models/detectors")
        );
        assert_eq!(
            loc.imagenet_mobilenet_v2(),
            r.join("models/imagenet/mobilenet_v2.safetensors")
        );
    }

    #[test]
    fn default_model_in_reads_defaults_toml_of_the_given_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("defaults.toml"),
            "ibug68 = \"m68\"\naflw19 = \"gone\"\n",
        )
        .expect("write defaults.toml");
        std::fs::write(dir.path().join("m68.safetensors"), b"x").expect("write model");
        assert_eq!(
            default_model_in(dir.path(), SchemeId::Ibug68).expect("ibug68 has a default"),
            dir.path().join("m68.safetensors")
        );
        // Named but missing: an I/O error naming the file.
        let err = default_model_in(dir.path(), SchemeId::Aflw19).expect_err("file is missing");
        assert!(
            matches!(&err, Error::Core(facealign_core::Error::Io { path, .. }) if path.ends_with("gone.safetensors")),
            "{err}"
        );
        // Not named at all.
        let err = default_model_in(dir.path(), SchemeId::Five).expect_err("no default for five");
        assert!(err.to_string().contains("no default model"), "{err}");
    }

    #[test]
    fn default_refine_model_in_reads_the_refine_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |text: &str| {
            std::fs::write(dir.path().join("defaults.toml"), text).expect("write defaults.toml")
        };
        std::fs::write(dir.path().join("r68.safetensors"), b"x").expect("write model");
        write("ibug68 = \"m68\"\n\n[refine]\nibug68 = \"r68\"\naflw19 = \"gone\"\n");
        assert_eq!(
            default_refine_model_in(dir.path(), SchemeId::Ibug68).expect("reads"),
            Some(dir.path().join("r68.safetensors"))
        );
        // The table does not disturb the defaults beside it.
        assert_eq!(
            default_model_name(dir.path(), SchemeId::Ibug68).expect("default"),
            "m68"
        );
        // A scheme without a refine model has none; a named one that is missing is an error.
        assert_eq!(
            default_refine_model_in(dir.path(), SchemeId::Five).expect("reads"),
            None
        );
        let err = default_refine_model_in(dir.path(), SchemeId::Aflw19).expect_err("missing");
        assert!(
            matches!(&err, Error::Core(facealign_core::Error::Io { path, .. }) if path.ends_with("gone.safetensors")),
            "{err}"
        );
        // No table: none; a `refine` that is not a table, or a name that is not a string: errors
        // naming the key.
        write("ibug68 = \"m68\"\n");
        assert_eq!(
            default_refine_model_in(dir.path(), SchemeId::Ibug68).expect("reads"),
            None
        );
        write("refine = \"r68\"\n");
        let err = default_refine_model_in(dir.path(), SchemeId::Ibug68).expect_err("not a table");
        assert!(err.to_string().contains("refine"), "{err}");
        write("[refine]\nibug68 = 3\n");
        let err = default_refine_model_in(dir.path(), SchemeId::Ibug68).expect_err("not a name");
        assert!(err.to_string().contains("refine.ibug68"), "{err}");
        // The repository's 68-point default has its refine model.
        let root = repo_root().expect("the repository should exist in tests");
        let shipped = Locations::at(&root)
            .default_refine_model(SchemeId::Ibug68)
            .expect("reads")
            .expect("the default has a refine model");
        assert!(shipped.ends_with("adult68-refine.safetensors"));
    }

    #[test]
    fn default_model_in_agrees_with_default_model_for_the_repository() {
        let root = repo_root().expect("the repository should exist in tests");
        assert_eq!(
            default_model_in(&root.join("models"), SchemeId::Ibug68)
                .expect("shipped default")
                .canonicalize()
                .expect("exists"),
            Locations::at(&root)
                .default_model(SchemeId::Ibug68)
                .expect("shipped default")
                .canonicalize()
                .expect("exists")
        );
    }
}

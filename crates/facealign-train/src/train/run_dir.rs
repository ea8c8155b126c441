//! A run folder: its files, their names, the checkpoint metadata, and the one-process lock.
//!
//! ```text
//! RUN/config.toml        the run's config (its first file; `--resume` reads only this)
//! RUN/last.safetensors   weights + Adam state + run state, after every epoch (and on Ctrl-C)
//! RUN/best.safetensors   weights of the best validation epoch
//! RUN/metrics.csv        one row per epoch;  RUN/curves.png  its plot
//! RUN/shape.json         the PCA shape model (ACR, ASM-assisted)
//! RUN/.lock              the pid of the process training it
//! ```
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;

use crate::adam::Adam;
use crate::checkpoint::{self, META_CONFIG, META_STATE};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use facealign_infer::model_file::META_SCHEME;

/// The files a run writes into its folder (what `--force` removes; any one marks a folder as a run).
pub const RUN_FILES: [&str; 6] = [
    "config.toml",
    "last.safetensors",
    "best.safetensors",
    "metrics.csv",
    "curves.png",
    "shape.json",
];

/// Persisted run state (in the checkpoint metadata under [`META_STATE`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunState {
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of `epoch` already done.
    pub step_in_epoch: usize,
    pub adam_step: i64,
    pub best_val_nme: f64,
    pub best_epoch: usize,
    pub first_val_nme: f64,
    pub last_val_nme: f64,
    /// Loss sum and sample count of the unfinished epoch (so its mean survives an interrupt).
    #[serde(default)]
    pub partial_loss_sum: f64,
    #[serde(default)]
    pub partial_loss_n: usize,
}

impl RunState {
    /// The state of a run that has not started.
    pub fn start() -> RunState {
        RunState {
            epoch: 0,
            step_in_epoch: 0,
            adam_step: 0,
            best_val_nme: f64::INFINITY,
            best_epoch: 0,
            first_val_nme: f64::NAN,
            last_val_nme: f64::NAN,
            partial_loss_sum: 0.0,
            partial_loss_n: 0,
        }
    }
}

/// A run folder and the names of its files.
#[derive(Debug, Clone)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir(path.into())
    }

    /// `runs/<config name>` (or the config file's stem), suffixed `-2`, `-3`, ... to be new.
    pub fn fresh(cfg: &TrainConfig, config_path: Option<&Path>) -> RunDir {
        let stem = if !cfg.name.is_empty() {
            cfg.name.clone()
        } else {
            config_path
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        };
        let base = PathBuf::from("runs").join(&stem);
        if !base.exists() {
            return RunDir(base);
        }
        RunDir(
            (2..)
                .map(|k| PathBuf::from("runs").join(format!("{stem}-{k}")))
                .find(|p| !p.exists())
                .expect("some suffix is free"),
        )
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }
    pub fn last(&self) -> PathBuf {
        self.0.join("last.safetensors")
    }
    pub fn best(&self) -> PathBuf {
        self.0.join("best.safetensors")
    }
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.csv")
    }
    pub fn curves(&self) -> PathBuf {
        self.0.join("curves.png")
    }
    pub fn shape(&self) -> PathBuf {
        self.0.join("shape.json")
    }

    /// The first run file the folder holds, if any.
    pub fn holds_run(&self) -> Option<&'static str> {
        RUN_FILES.into_iter().find(|f| self.0.join(f).exists())
    }

    /// Remove every run file (`--force`).
    pub fn remove_run_files(&self) {
        for f in RUN_FILES {
            let _ = std::fs::remove_file(self.0.join(f));
        }
    }

    /// The run's own config (`--resume` reads it once, here).
    pub fn read_config(&self) -> Result<TrainConfig> {
        let path = self.config();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        TrainConfig::from_toml(&text, &path.display().to_string())
    }

    /// Remove what an interrupted atomic write can leave (`.X.tmpPID-N`, `X.tmp.png`, ...):
    /// every file whose name contains `.tmp`.
    pub fn remove_stale_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().contains(".tmp") && e.path().is_file() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Take the one-process lock (`RUN/.lock`).
    pub fn lock(&self) -> Result<RunLock> {
        RunLock::acquire(&self.0)
    }

    /// Write a checkpoint: the model's weights (plus Adam's state when `opt` is given) with the
    /// config, the run state and the scheme in its metadata.
    pub fn save_checkpoint(
        path: &Path,
        vs: &VarStore,
        opt: Option<&Adam>,
        cfg: &TrainConfig,
        state: &RunState,
        scheme: &str,
    ) -> Result<()> {
        let mut tensors = checkpoint::model_tensors(vs);
        if let Some(opt) = opt {
            tensors.extend(opt.state().0);
        }
        let mut meta = BTreeMap::new();
        meta.insert(META_CONFIG.to_string(), cfg.to_toml());
        meta.insert(
            META_STATE.to_string(),
            serde_json::to_string(state).expect("state serialises"),
        );
        meta.insert(META_SCHEME.to_string(), scheme.to_string());
        checkpoint::save(path, &tensors, &meta, false)
    }

    /// Load `last.safetensors` into the model and the optimiser; returns the run state.
    pub fn restore_last(&self, vs: &VarStore, opt: &mut Adam) -> Result<RunState> {
        let last = self.last();
        let loaded = checkpoint::load(&last)?;
        checkpoint::copy_into(vs, &loaded.tensors, &last)?;
        let state: RunState = serde_json::from_str(
            loaded
                .meta
                .get(META_STATE)
                .ok_or_else(|| Error::ckpt(&last, "no run state in the checkpoint"))?,
        )
        .map_err(|e| Error::ckpt(&last, format!("run state: {e}")))?;
        opt.restore(&loaded.tensors, state.adam_step)
            .map_err(|e| Error::ckpt(&last, e))?;
        Ok(state)
    }
}

/// `RUN/.lock` while a process trains the run: created exclusively, holding the owner's pid,
/// removed when dropped. A lock whose process is gone (killed) is taken over.
pub struct RunLock(PathBuf);

impl RunLock {
    fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(".lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
                    return Ok(RunLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = owner.trim().parse::<u32>().ok();
                    let alive = pid.is_some_and(|p| {
                        p == std::process::id() || Path::new(&format!("/proc/{p}")).exists()
                    });
                    if alive || !Path::new("/proc/self").exists() {
                        return Err(Error::RunFolder {
                            path: dir.to_path_buf(),
                            message: format!(
                                "is being trained by another process (pid {}; lock file {}): one process per run folder",
                                owner.trim(),
                                path.display()
                            ),
                        });
                    }
                    // The owner is gone: a stale lock.
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::RunFolder {
            path: dir.to_path_buf(),
            message: format!("cannot take the run lock {}", path.display()),
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

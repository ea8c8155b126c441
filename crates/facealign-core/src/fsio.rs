//! Small file-system helpers: atomic writes.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over `path`. A reader never sees a half-written file. Errors name the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        // Best effort: the temp file may not exist; the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.tmp<pid>-<n>` next to `path`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        Error::invalid(
            "output path",
            format!("`{}` has no file name", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!(
        ".{}.tmp{}-{n}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"first").expect("first write");
        write_atomic(&p, b"second").expect("second write");
        assert_eq!(fs::read(&p).expect("read back"), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "only the target remains: {names:?}");
    }

    #[test]
    fn write_atomic_missing_dir_names_file() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let p = dir.path().join("no/such/dir/out.txt");
        let err = write_atomic(&p, b"x").expect_err("missing directory must fail");
        assert!(err.to_string().contains("out.txt"), "{err}");
    }
}

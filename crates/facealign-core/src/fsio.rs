//! Small file-system helpers: writing outputs without destroying what the path points to.
//!
//! [`write_atomic`] treats its path the way a shell redirection does, but keeps a regular file's
//! update atomic:
//! - `-` is standard output;
//! - a symlink is followed (to the end of the chain) and the file it points to is replaced, so the
//!   link stays a link;
//! - a target that exists but is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO, a socket)
//!   is opened and written directly, never replaced;
//! - otherwise (a regular file, or nothing yet) the bytes go to a temporary file in the target's
//!   folder, synced, then renamed over the target, so a reader never sees a half-written file.
//!
//! Errors always name the path the user gave (plus the resolved file for a symlink), never the
//! temporary file. [`check_writable`] runs the same resolution and probes the folder, so a command
//! can refuse a bad output path before it starts hours of work.
//!
//! [`read_text`] reads an input text file (lists, JSON): bytes that are not UTF-8 are an error
//! naming the line and byte offset, not the OS-level "stream did not contain valid UTF-8".
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Longest symlink chain followed (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// Where the bytes of an output path go.
#[derive(Debug)]
enum Target {
    /// `-`.
    Stdout,
    /// An existing non-regular file (device, FIFO, socket) or a `/proc` fd link: written in place.
    Direct(PathBuf),
    /// A regular file (or a path with nothing there yet): temporary file + rename.
    Replace(PathBuf),
}

/// An I/O error on the user's `path`; `resolved` is mentioned when a symlink led elsewhere.
fn output_error(path: &Path, resolved: &Path, what: &str, e: &io::Error) -> Error {
    let via = if resolved == path {
        String::new()
    } else {
        format!(" (symlink to {})", resolved.display())
    };
    Error::io(path, io::Error::new(e.kind(), format!("{what}{via}: {e}")))
}

/// Follow `path`'s symlink chain to the file that should receive the bytes. A dangling link
/// resolves to the file it names (writing creates it, as a shell redirection does). A link under
/// `/proc` (the kernel's `/proc/self/fd/1` behind `/dev/stdout`) names no real path (`pipe:[123]`)
/// and is left for `open` to follow: such a target is always written in place.
fn target_of(path: &Path) -> Result<Target> {
    if path.as_os_str() == "-" {
        return Ok(Target::Stdout);
    }
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                if p.starts_with("/proc") {
                    return Ok(Target::Direct(p));
                }
                let link =
                    fs::read_link(&p).map_err(|e| output_error(path, &p, "cannot follow", &e))?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(m) if m.is_dir() => {
                return Err(output_error(
                    path,
                    &p,
                    "cannot write",
                    &io::Error::other("is a directory"),
                ))
            }
            Ok(m) if m.is_file() => return Ok(Target::Replace(p)),
            Ok(_) => return Ok(Target::Direct(p)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Replace(p)),
            Err(e) => return Err(output_error(path, &p, "cannot inspect", &e)),
        }
    }
    Err(output_error(
        path,
        &p,
        "cannot follow",
        &io::Error::other(format!("more than {MAX_LINKS} levels of symbolic links")),
    ))
}

/// The folder a regular target lives in (`.` for a bare file name).
fn folder_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write `bytes` to `path` without destroying what the path points to (see the module docs):
/// stdout for `-`, in place for devices and FIFOs, else atomically through a temporary file renamed
/// over the (symlink-resolved) target. An existing file's permissions are kept. Errors name `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    match target_of(path)? {
        Target::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(|e| output_error(path, path, "cannot write standard output", &e))
        }
        Target::Direct(resolved) => {
            // Append: through `/dev/stdout` redirected to a file, keep what was printed before.
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(&resolved)
                .map_err(|e| output_error(path, &resolved, "cannot open", &e))?;
            f.write_all(bytes)
                .and_then(|()| f.flush())
                .map_err(|e| output_error(path, &resolved, "cannot write", &e))
        }
        Target::Replace(resolved) => replace(path, &resolved, bytes),
    }
}

fn replace(path: &Path, resolved: &Path, bytes: &[u8]) -> Result<()> {
    let name = resolved.file_name().ok_or_else(|| {
        Error::invalid(
            "output path",
            format!("`{}` has no file name", path.display()),
        )
    })?;
    let dir = folder_of(resolved);
    let (tmp, mut f) = create_temp(&dir, &name.to_string_lossy()).map_err(|e| {
        output_error(
            path,
            resolved,
            &format!("cannot create a temporary file in {}", dir.display()),
            &e,
        )
    })?;
    let result = (|| {
        if let Ok(m) = fs::metadata(resolved) {
            // Keep the mode of the file being replaced (best effort, like an editor's save).
            let _ = f.set_permissions(m.permissions());
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, resolved)
    })()
    .map_err(|e| output_error(path, resolved, "cannot write", &e));
    if result.is_err() {
        // Best effort: the temp file may not exist; the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A new, exclusively created `dir/.name.tmp<pid>-<n>`.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp{}-{n}", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Check, before any work starts, that [`write_atomic`] can write `path`: `-` is always fine; a
/// directory is an error; an existing device or FIFO is accepted as it is (opening a FIFO would
/// block until it has a reader); otherwise the (symlink-resolved) target's folder must exist and
/// accept a new file, which is probed by creating and removing a temporary file there. Errors
/// name `path`.
pub fn check_writable(path: &Path) -> Result<()> {
    let resolved = match target_of(path)? {
        Target::Stdout | Target::Direct(_) => return Ok(()),
        Target::Replace(r) => r,
    };
    if resolved.file_name().is_none() {
        return Err(Error::invalid(
            "output path",
            format!("`{}` has no file name", path.display()),
        ));
    }
    let dir = folder_of(&resolved);
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(output_error(
                path,
                &resolved,
                "cannot write",
                &io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", dir.display()),
                ),
            ))
        }
        Err(e) => {
            return Err(output_error(
                path,
                &resolved,
                &format!("cannot write: folder {}", dir.display()),
                &e,
            ))
        }
    }
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, f) = create_temp(&dir, &name).map_err(|e| {
        output_error(
            path,
            &resolved,
            &format!("cannot create a file in {}", dir.display()),
            &e,
        )
    })?;
    drop(f);
    let _ = fs::remove_file(tmp);
    Ok(())
}

/// Read the file `path` whole. A folder is an [`Error::Io`] that says so ("is a folder, not a
/// file"), where the operating system's "Is a directory (os error 21)" would leave a user to
/// guess which of a spec's paths it meant.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(Error::io(
            path,
            io::Error::new(io::ErrorKind::IsADirectory, "is a folder, not a file"),
        ));
    }
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// Read the text file `path` (a leading UTF-8 byte-order mark is dropped). Bytes that are not
/// UTF-8 are an [`Error::Parse`] naming the line and byte offset of the first bad byte.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_file(path)?;
    let mut text =
        String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes(), e.utf8_error()))?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// `bytes` (of the file `path`) as UTF-8 text; otherwise an error as [`read_text`] gives.
pub fn utf8_text<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| not_utf8(path, bytes, e))
}

fn not_utf8(path: &Path, bytes: &[u8], e: std::str::Utf8Error) -> Error {
    let at = e.valid_up_to();
    let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    Error::parse(
        path,
        format!("line {line}"),
        format!("not UTF-8 text (invalid byte at offset {at})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn read_text_names_the_line_of_bytes_that_are_not_utf8_and_drops_a_bom() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let p = dir.path().join("list.txt");
        fs::write(&p, b"ok\nstill ok\nbad \xff here\n").expect("write");
        let err = read_text(&p).unwrap_err();
        assert!(
            matches!(&err, Error::Parse { location, .. } if location == "line 3"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: line 3: not UTF-8 text (invalid byte at offset 16)",
                p.display()
            )
        );
        fs::write(&p, "\u{feff}{\"a\": 1}").expect("write");
        assert_eq!(read_text(&p).expect("UTF-8 with a BOM"), "{\"a\": 1}");
    }

    #[test]
    fn a_folder_given_for_a_file_says_so_in_every_reader() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let d = dir.path();
        let want = format!("{}: is a folder, not a file", d.display());
        assert_eq!(read_text(d).unwrap_err().to_string(), want);
        assert_eq!(read_file(d).unwrap_err().to_string(), want);
        // The dataset specs whose path must be one file: coco and dlib said "Is a directory (os
        // error 21)"; wflw and mtfl have their own message naming the file they expect.
        for spec in ["coco", "dlib", "cofw"] {
            let err = crate::data::load(&format!("{spec}:{}", d.display())).unwrap_err();
            assert!(err.to_string().contains(&want), "{spec}: {err}");
        }
        for spec in ["wflw", "mtfl"] {
            let err = crate::data::load(&format!("{spec}:{}", d.display())).unwrap_err();
            assert!(err.to_string().ends_with("not a folder"), "{spec}: {err}");
        }
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let p = dir.path().join("out.txt");
        write_atomic(&p, b"first").expect("first write");
        write_atomic(&p, b"second").expect("second write");
        assert_eq!(fs::read(&p).expect("read back"), b"second");
        assert_eq!(names(dir.path()).len(), 1, "only the target remains");
    }

    #[test]
    fn write_atomic_missing_dir_names_file_not_temp() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let p = dir.path().join("no/such/dir/out.txt");
        let err = write_atomic(&p, b"x")
            .expect_err("missing directory must fail")
            .to_string();
        assert!(err.contains("no/such/dir/out.txt"), "{err}");
        assert!(
            !err.contains(".out.txt.tmp"),
            "the temp file is not the user's path: {err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_writes_through_symlinks() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        // t.json <- l.json <- ll.json (relative links), and a dangling link.
        fs::write(dir.path().join("t.json"), "keep").expect("write target");
        symlink("t.json", dir.path().join("l.json")).expect("link");
        symlink("l.json", dir.path().join("ll.json")).expect("link to link");
        write_atomic(&dir.path().join("ll.json"), b"new").expect("write through links");
        assert_eq!(fs::read(dir.path().join("t.json")).expect("read"), b"new");
        for l in ["l.json", "ll.json"] {
            let m = fs::symlink_metadata(dir.path().join(l)).expect("stat link");
            assert!(m.file_type().is_symlink(), "{l} must stay a symlink");
        }
        symlink("sub/made.json", dir.path().join("dangling.json")).expect("dangling link");
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        write_atomic(&dir.path().join("dangling.json"), b"x").expect("creates the link target");
        assert_eq!(
            fs::read(dir.path().join("sub/made.json")).expect("read"),
            b"x"
        );
        assert!(fs::symlink_metadata(dir.path().join("dangling.json"))
            .expect("stat")
            .file_type()
            .is_symlink());
        assert_eq!(
            names(dir.path()),
            ["dangling.json", "l.json", "ll.json", "sub", "t.json"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let p = dir.path().join("secret.json");
        fs::write(&p, "old").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomic(&p, b"new").expect("write");
        let mode = fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_writes_devices_and_fifos_in_place() {
        use std::os::unix::fs::FileTypeExt;
        // /dev/null stays a character device (as root, a rename would have replaced it).
        write_atomic(Path::new("/dev/null"), b"discarded").expect("write /dev/null");
        assert!(fs::metadata("/dev/null")
            .expect("stat")
            .file_type()
            .is_char_device());
        // A FIFO: the reader gets the bytes and the FIFO stays a FIFO.
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo should run");
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).expect("read the FIFO"))
        };
        write_atomic(&fifo, b"through the pipe").expect("write the FIFO");
        assert_eq!(reader.join().expect("reader thread"), b"through the pipe");
        assert!(fs::symlink_metadata(&fifo)
            .expect("stat")
            .file_type()
            .is_fifo());
        assert_eq!(names(dir.path()), ["pipe"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn write_atomic_writes_fd_links_in_place() {
        // `/dev/stdout` is `/proc/self/fd/1`; here an fd of our own, open on a regular file, stands
        // in for a redirected stdout: the same file (inode) is appended to, never replaced.
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let file = dir.path().join("redirected.txt");
        let mut f = fs::File::create(&file).expect("create");
        f.write_all(b"printed;").expect("write");
        let ino = fs::metadata(&file).expect("stat").ino();
        let link = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
        check_writable(&link).expect("an fd link is writable");
        write_atomic(&link, b"json").expect("write through the fd link");
        assert_eq!(fs::read(&file).expect("read"), b"printed;json");
        assert_eq!(fs::metadata(&file).expect("stat").ino(), ino, "same file");
        assert_eq!(names(dir.path()), ["redirected.txt"]);
    }

    #[test]
    fn write_atomic_refuses_a_directory() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        let e = write_atomic(dir.path(), b"x").expect_err("a directory is not a file");
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = check_writable(dir.path()).expect_err("a directory is not a file");
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn check_writable_names_the_path_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("temp dir should be creatable");
        check_writable(&dir.path().join("new.json")).expect("a fresh name in a folder");
        check_writable(Path::new("-")).expect("stdout");
        write_atomic(Path::new("-"), b"").expect("`-` is stdout, not a file named `-`");
        assert!(names(dir.path()).is_empty(), "the probe file is removed");
        let p = dir.path().join("missing/out.json");
        let e = check_writable(&p).expect_err("no such folder").to_string();
        assert!(
            e.contains("missing/out.json") && e.contains("folder"),
            "{e}"
        );
        // A file where the folder should be.
        fs::write(dir.path().join("file"), "").expect("write");
        let e = check_writable(&dir.path().join("file/out.json"))
            .expect_err("parent is a file")
            .to_string();
        assert!(e.contains("file/out.json"), "{e}");
        #[cfg(unix)]
        {
            check_writable(Path::new("/dev/null")).expect("a device is written in place");
        }
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_folder_names_the_user_path() {
        // /proc refuses new files even for root: the error names the user's path, not the
        // temporary file (which used to read `/proc/.x.json.tmp30675-0`).
        if !Path::new("/proc/self").exists() {
            return;
        }
        let p = Path::new("/proc/x.json");
        for e in [
            check_writable(p).expect_err("/proc is not writable"),
            write_atomic(p, b"x").expect_err("/proc is not writable"),
        ] {
            let e = e.to_string();
            assert!(e.starts_with("/proc/x.json:"), "{e}");
            assert!(!e.contains(".x.json.tmp"), "{e}");
        }
    }
}

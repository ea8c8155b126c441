//! glibc malloc settings for tensor workloads (issue 8).
//!
//! libtorch allocates every activation and gradient with `malloc`. glibc serves blocks above its
//! mmap threshold with `mmap` and hands freed memory at the top of the heap back to the kernel
//! beyond its trim threshold, so at 224 px every training step faulted tens of megabytes of fresh
//! zeroed pages in again: `perf` showed ~20 % of a step in the kernel's page-fault path. Keeping the
//! heap (mmap threshold at glibc's 32 MiB maximum, no trimming below 1 GiB, 256 MiB top pad) makes
//! a step reuse warm pages; docs/PERFORMANCE.md has the before/after. The cost is that the process
//! keeps its peak heap until exit, which suits a training or inference command.
//!
//! [`tune_allocator`] is called first thing by the `facealign` binary. `FACEALIGN_MALLOC=system`
//! leaves glibc's defaults (and `GLIBC_TUNABLES` alone) for comparison.

/// The settings applied: (mallopt parameter, value).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SETTINGS: [(libc::c_int, libc::c_int); 3] = [
    (libc::M_MMAP_THRESHOLD, 32 << 20),
    (libc::M_TRIM_THRESHOLD, 1 << 30),
    (libc::M_TOP_PAD, 256 << 20),
];

/// Apply the settings; true if every one was accepted. A no-op (false) off glibc or when
/// `FACEALIGN_MALLOC=system`. Call before the first large allocation.
pub fn tune_allocator() -> bool {
    if std::env::var("FACEALIGN_MALLOC").is_ok_and(|v| v == "system") {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        SETTINGS.iter().all(|&(param, value)| {
            // SAFETY: mallopt only changes allocator parameters, is thread-safe in glibc, and is
            // given glibc's documented parameter constants with in-range values.
            #[allow(unsafe_code)]
            let ok = unsafe { libc::mallopt(param, value) };
            ok == 1
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// End the process at once with `code`, running no exit handlers or static destructors (issue 14,
/// item 7).
///
/// `std::process::exit` runs the C library's exit handlers, which destroy libtorch's global state
/// while the training thread may still be inside a libtorch call: a second Ctrl-C in the first epoch
/// crashed with SIGSEGV that way. Every file facealign writes is a temporary file renamed into
/// place, so ending without clean-up cannot leave a half-written checkpoint (a stray `.tmp` is
/// removed by the next `--resume`). stdout/stderr are flushed first.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(unix)]
    {
        // SAFETY: `_exit` takes no pointers and never returns; it only ends the process.
        #[allow(unsafe_code)]
        unsafe {
            libc::_exit(code)
        }
    }
    #[cfg(not(unix))]
    std::process::exit(code)
}

/// Make libtorch's OpenMP threads sleep instead of spinning when they wait (issue 17).
///
/// libtorch (PyPI wheel, GNU OpenMP) spins its worker threads for a while at every barrier. On a
/// machine where other processes also want the cores (a second training run, a compile, rayon's
/// own pool) the spinning threads steal the cycles the working ones need: a 2-thread training run
/// at 96 px fell from 36 img/s to 11.6 img/s next to two compiles, and `predict` used 11× the
/// CPU per photo (docs/PERFORMANCE.md). `OMP_WAIT_POLICY=PASSIVE` makes waiting threads sleep.
///
/// GNU OpenMP reads its environment when the library is loaded, before `main`, so the variable
/// cannot simply be set here: when it is unset this re-executes the program once with it set
/// (`exec`, same arguments; a failure to exec is ignored). `OMP_WAIT_POLICY` given by the user is
/// kept; `FACEALIGN_OMP=active` opts out. Call first thing in `main`.
pub fn passive_openmp() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("OMP_WAIT_POLICY").is_some()
            || std::env::var("FACEALIGN_OMP").is_ok_and(|v| v == "active")
        {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let _err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .exec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_every_setting() {
        // One test process: the settings are global, and accepting them twice is fine.
        let applied = tune_allocator();
        if cfg!(all(target_os = "linux", target_env = "gnu"))
            && std::env::var("FACEALIGN_MALLOC").as_deref() != Ok("system")
        {
            assert!(applied, "glibc rejected a mallopt setting");
        } else {
            assert!(!applied);
        }
    }
}

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

/// Make libtorch's OpenMP threads sleep instead of spinning when they wait, on a busy machine
/// (issue 17).
///
/// libtorch (PyPI wheel, GNU OpenMP) spins its worker threads for a while at every barrier. On a
/// machine where other processes also want the cores the spinning threads steal the cycles the
/// working ones need (a 2-thread training run at 96 px fell from 36 img/s to 11.6 img/s next to
/// two compiles); `OMP_WAIT_POLICY=PASSIVE` makes waiting threads sleep. On a quiet machine the
/// same setting costs ~28 % of training throughput and makes batch-1 inference ~3× slower
/// (docs/PERFORMANCE.md), so it is applied only when the machine is busy: when the 1-minute
/// load average (`/proc/loadavg`, before this process does any work) is at least 1, i.e. another
/// process keeps a core busy. [`openmp_policy`] is the decision.
///
/// GNU OpenMP reads its environment when the library is loaded, before `main`, so the variable
/// cannot simply be set here: this re-executes the program once with it set (`exec`, same
/// arguments; a failure to exec is ignored). `OMP_WAIT_POLICY` given by the user is kept;
/// `FACEALIGN_OMP=active` never re-executes, `FACEALIGN_OMP=passive` always does. Call first
/// thing in `main`.
pub fn passive_openmp() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
        let policy = openmp_policy(
            std::env::var_os("OMP_WAIT_POLICY").is_some(),
            std::env::var("FACEALIGN_OMP").ok().as_deref(),
            load,
        );
        if !policy {
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

/// Whether to run with `OMP_WAIT_POLICY=PASSIVE`: never when the user set `OMP_WAIT_POLICY`;
/// as `FACEALIGN_OMP` says (`active` / `passive`); otherwise when the 1-minute load average is
/// at least 1 (unknown load: no).
pub fn openmp_policy(user_set: bool, facealign_omp: Option<&str>, load1: Option<f64>) -> bool {
    if user_set {
        return false;
    }
    match facealign_omp {
        Some("active") => false,
        Some("passive") => true,
        _ => load1.is_some_and(|l| l >= 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmp_goes_passive_only_on_a_busy_machine_unless_told() {
        assert!(
            !openmp_policy(false, None, Some(0.3)),
            "quiet: keep spinning"
        );
        assert!(
            openmp_policy(false, None, Some(1.0)),
            "one busy core elsewhere"
        );
        assert!(openmp_policy(false, None, Some(6.5)));
        assert!(!openmp_policy(false, None, None), "unknown load");
        assert!(
            !openmp_policy(true, Some("passive"), Some(9.0)),
            "the user's OMP_WAIT_POLICY wins"
        );
        assert!(!openmp_policy(false, Some("active"), Some(9.0)));
        assert!(openmp_policy(false, Some("passive"), Some(0.0)));
    }

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

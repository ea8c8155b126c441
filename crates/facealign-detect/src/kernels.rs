//! Which of tract's CPU kernels facealign runs on.
//!
//! tract picks its kernels from the instruction sets it probes (`tract_linalg::isa::native`,
//! probed once per process and then edited by tract's `TRACT_CPU_ISA` knob). On a CPU with
//! AVX-512, facealign's networks run faster on tract's 256-bit (AVX2 + FMA) kernels than on its
//! 512-bit ones: on the 2-core AMD EPYC (Zen 4) of docs/PERFORMANCE.md ("tract's AVX-512 kernels
//! off"), ten interleaved pairs of `facealign bench --runtime tract`, one thread, medians
//! 1.03 → 0.91 ms (adult68-fast), 5.16 → 4.61 ms (adult68-heatmap-lite), 4.40 → 3.94 ms
//! (adult68), and `predict` 10.05 → 9.25 ms per one-face photo. (The cause was not isolated: a
//! per-operator profile puts the gain in the depthwise convolutions and the ReLU6 clips.)
//! So, unless the environment sets `TRACT_CPU_ISA` itself (to anything, the empty string
//! included, which keeps tract's own choice), facealign takes `avx512f` out of tract's set before
//! the first network is built. Outputs of the two kernel sets agree to float rounding.
use std::sync::OnceLock;

/// tract's knob (an environment variable) that edits the instruction sets it dispatches on.
pub const ISA_KNOB: &str = "TRACT_CPU_ISA";

/// The edit facealign applies on AVX-512 CPUs when the environment leaves [`ISA_KNOB`] unset.
pub const WITHOUT_AVX512: &str = "-avx512f";

/// How tract's kernels were chosen in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelChoice {
    /// tract's own choice: no AVX-512 on this CPU, or not x86_64.
    TractDefault,
    /// The environment sets [`ISA_KNOB`] (its value); facealign left it alone.
    FromEnvironment(String),
    /// facealign turned tract's AVX-512 kernels off ([`WITHOUT_AVX512`]).
    Avx512Off,
}

impl std::fmt::Display for KernelChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelChoice::TractDefault => write!(f, "tract's own choice"),
            KernelChoice::FromEnvironment(v) => write!(f, "{ISA_KNOB}={v:?} from the environment"),
            KernelChoice::Avx512Off => write!(
                f,
                "AVX-512 kernels off ({ISA_KNOB}={WITHOUT_AVX512}, facealign's default on AVX-512 \
                 CPUs; set {ISA_KNOB} to override)"
            ),
        }
    }
}

/// Decides, once per process, which kernels tract may use, and returns the decision. Call before
/// building any tract model (the detectors and the landmark runtime do); later calls return the
/// first decision. tract reads the instruction sets once, at the first model it builds, so a
/// process that built a model before the first call keeps tract's own choice.
pub fn choose_tract_kernels() -> &'static KernelChoice {
    static CHOICE: OnceLock<KernelChoice> = OnceLock::new();
    CHOICE.get_or_init(|| {
        let env = std::env::var_os(ISA_KNOB).map(|v| v.to_string_lossy().into_owned());
        let choice = decide(env, has_avx512f());
        if choice == KernelChoice::Avx512Off {
            tract_linalg::knobs::TRACT_CPU_ISA.set(Some(WITHOUT_AVX512.to_string()));
        }
        choice
    })
}

/// The decision, from the environment's value of [`ISA_KNOB`] and whether the CPU has AVX-512.
fn decide(env: Option<String>, avx512f: bool) -> KernelChoice {
    match env {
        Some(v) => KernelChoice::FromEnvironment(v),
        None if avx512f => KernelChoice::Avx512Off,
        None => KernelChoice::TractDefault,
    }
}

fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_and_only_avx512_cpus_lose_it() {
        assert_eq!(decide(None, true), KernelChoice::Avx512Off);
        assert_eq!(decide(None, false), KernelChoice::TractDefault);
        for avx512f in [false, true] {
            assert_eq!(
                decide(Some(String::new()), avx512f),
                KernelChoice::FromEnvironment(String::new())
            );
            assert_eq!(
                decide(Some("+avx512f".into()), avx512f),
                KernelChoice::FromEnvironment("+avx512f".into())
            );
        }
    }

    #[test]
    fn the_choice_reaches_tracts_knob() {
        let choice = choose_tract_kernels();
        assert_eq!(choose_tract_kernels(), choice, "decided once");
        let knob = tract_linalg::knobs::TRACT_CPU_ISA.get();
        match choice {
            KernelChoice::Avx512Off => {
                assert_eq!(knob.as_deref(), Some(WITHOUT_AVX512));
                assert!(has_avx512f());
                assert!(std::env::var_os(ISA_KNOB).is_none());
                // tract's probed set, once edited, has no AVX-512 left.
                let isa = tract_linalg::isa::native();
                assert!(!isa.has(tract_linalg::isa::Isa::X86_64Avx512f), "{isa:?}");
            }
            KernelChoice::FromEnvironment(v) => {
                assert_eq!(std::env::var(ISA_KNOB).unwrap(), *v);
            }
            KernelChoice::TractDefault => {
                assert!(!has_avx512f());
                assert!(knob.is_none());
            }
        }
    }
}

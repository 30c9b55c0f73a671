//! The CPU time of the calling thread, which every figure of the library (CAQ, reports,
//! benchmarks) is measured in.

/// CPU time consumed by the calling thread, in seconds
/// (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`). Differences of two calls on the same thread time
/// the work in between, unaffected by other threads or processes. Returns 0 if the clock is
/// unavailable (never on Linux or macOS).
pub fn cpu_time_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

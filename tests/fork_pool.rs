//! No worker thread outlives the call that started it (`util/pool.rs`): after 2-thread
//! compressions the process has no `alcm-pool` thread left, and a process forked then (Python's
//! `multiprocessing` on Linux forks) compresses with 2 threads and gets the same frame, instead
//! of waiting on a worker that would exist only in the parent. One test in its own binary, so
//! that no other test's threads are mid-call at the fork or when the threads are counted.

use std::time::{Duration, Instant};

use alcm::{Encoder, EncoderConfig, Mode};

#[cfg(unix)]
#[test]
fn a_forked_child_compresses_with_two_threads() {
    let x: Vec<f32> = (0..(1usize << 18))
        .map(|i| ((i as f32 * 0.37).sin() * (1.0 + (i % 97) as f32)) * 1e-3)
        .collect();
    let shape = [512usize, 512];
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(Mode::RelativeL2(1e-2))
            .with_threads(2),
    )
    .unwrap();
    let want = enc.compress(&x, &shape, None).unwrap().bytes;
    assert_eq!(enc.compress(&x, &shape, None).unwrap().bytes, want);
    #[cfg(target_os = "linux")]
    assert_eq!(pool_threads(), 0, "a worker outlived its call");

    // SAFETY: the child only compresses (allocation and thread start are fine after fork on
    // glibc) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = (0..3).all(|_| {
            enc.compress(&x, &shape, None)
                .is_ok_and(|c| c.bytes == want)
        });
        // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is writable.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung (a deadlock on the parent's workers)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's frames differ or it failed (status {status})"
    );
}

/// Threads of this process named `alcm-pool` (the pool's workers), from `/proc/self/task`.
#[cfg(target_os = "linux")]
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = t.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|c| c.trim() == "alcm-pool")
        })
        .count()
}

//! Parked worker threads that `par` hands its runs to, instead of spawning and joining a thread
//! per parallel pass (a spawn costs a stack mapping and a clone, 40–50 µs on a loaded machine,
//! a dozen per compression). A task borrows from the caller's stack; [`join_all`] returns only
//! once every task it handed out has finished, also when the caller's own part panics.
//!
//! Callers never wait for a busy worker: they take an idle one or start a new one, so several
//! callers at once, and tasks that themselves call `par` (nested use), cannot deadlock; the
//! number of workers is the most that were ever busy at one time. Where the idle list cannot be
//! taken at once (another caller holds it for a moment, or a forked child inherited it locked),
//! the task gets a thread of its own that ends with it, as before the pool. A forked child does
//! not inherit the parent's workers, so the list is emptied when the process id changes.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};

type Payload = Box<dyn Any + Send>;
type Work = Box<dyn FnOnce() + Send + 'static>;

/// Locks, ignoring poisoning: nothing panics while holding these locks, and the data (a task
/// slot, a list of idle workers, a result) stays consistent either way.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set once when a task has finished: `Err` holds the panic it raised.
#[derive(Default)]
struct Latch {
    done: Mutex<Option<Result<(), Payload>>>,
    cv: Condvar,
}

impl Latch {
    fn set(&self, r: Result<(), Payload>) {
        *lock(&self.done) = Some(r);
        self.cv.notify_one();
    }

    fn wait(&self) -> Result<(), Payload> {
        let mut g = lock(&self.done);
        loop {
            if let Some(r) = g.take() {
                return r;
            }
            g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// One worker's inbox: the next task and the latch to set when it is done.
#[derive(Default)]
struct Worker {
    task: Mutex<Option<(Work, Arc<Latch>)>>,
    cv: Condvar,
}

/// The parked workers, and the process they were started in.
struct Idle {
    pid: u32,
    workers: Vec<Arc<Worker>>,
}

static IDLE: Mutex<Idle> = Mutex::new(Idle {
    pid: 0,
    workers: Vec::new(),
});

/// A parked worker if there is one (`Ok(None)`: none idle, so a new one joins the pool);
/// `Err` when the list is not free right now.
fn take_idle() -> Result<Option<Arc<Worker>>, ()> {
    let mut idle = match IDLE.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return Err(()),
    };
    let pid = std::process::id();
    if idle.pid != pid {
        // A forked child: the threads behind these entries exist only in the parent.
        std::mem::forget(std::mem::take(&mut idle.workers));
        idle.pid = pid;
    }
    Ok(idle.workers.pop())
}

fn worker_loop(w: Arc<Worker>, persistent: bool) {
    loop {
        let (work, latch) = {
            let mut g = lock(&w.task);
            loop {
                if let Some(t) = g.take() {
                    break t;
                }
                g = w.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let r = catch_unwind(AssertUnwindSafe(work));
        if persistent {
            // Back on the list before the caller learns the task is done, so that its next
            // pass finds this worker idle instead of starting another.
            lock(&IDLE).workers.push(Arc::clone(&w));
        }
        latch.set(r);
        if !persistent {
            return;
        }
    }
}

/// Starts `work` on another thread; the returned latch is set when it has finished.
///
/// # Safety
/// The caller must wait on the latch before anything `work` borrows goes away.
unsafe fn submit(work: Box<dyn FnOnce() + Send + '_>) -> Arc<Latch> {
    // SAFETY: only the lifetime changes; the caller's wait keeps the borrows alive long enough.
    let work: Work = unsafe { std::mem::transmute(work) };
    let latch = Arc::new(Latch::default());
    let taken = take_idle();
    if let Ok(Some(w)) = &taken {
        *lock(&w.task) = Some((work, Arc::clone(&latch)));
        w.cv.notify_one();
        return latch;
    }
    let persistent = taken.is_ok();
    let w = Arc::new(Worker::default());
    *lock(&w.task) = Some((work, Arc::clone(&latch)));
    let started = {
        let w = Arc::clone(&w);
        std::thread::Builder::new()
            .name("alcm-pool".into())
            .spawn(move || worker_loop(w, persistent))
    };
    if started.is_err() {
        // No thread to be had: run the task here (the same results, in the same order).
        let (work, _) = lock(&w.task).take().expect("the task just stored");
        latch.set(catch_unwind(AssertUnwindSafe(work)));
    }
    latch
}

/// Waits on every latch handed out, also while the caller unwinds.
struct Waiter(Vec<Arc<Latch>>);

impl Waiter {
    /// Waits for all; the first panic among the tasks, if any.
    fn wait_all(&mut self) -> Option<Payload> {
        let mut panic = None;
        for l in self.0.drain(..) {
            if let Err(p) = l.wait() {
                panic.get_or_insert(p);
            }
        }
        panic
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let _ = self.wait_all();
    }
}

/// Runs each of `others` on another thread and `own` on this one; returns `own`'s result, then
/// the others' in order. A panic in any of them is raised here once all have finished.
pub(crate) fn join_all<'a, T: Send + 'a, F: FnOnce() -> T + Send + 'a>(
    others: Vec<F>,
    own: impl FnOnce() -> T,
) -> Vec<T> {
    let mut slots: Vec<Option<T>> = others.iter().map(|_| None).collect();
    let mut waiter = Waiter(Vec::with_capacity(others.len()));
    for (f, slot) in others.into_iter().zip(slots.iter_mut()) {
        let work: Box<dyn FnOnce() + Send + '_> = Box::new(move || *slot = Some(f()));
        // SAFETY: `waiter` waits on the latch before `slots` and the borrows of `f` go away:
        // below, or in its drop if `own` (or a later submit) panics.
        waiter.0.push(unsafe { submit(work) });
    }
    let mine = own();
    if let Some(p) = waiter.wait_all() {
        std::panic::resume_unwind(p);
    }
    let mut out = Vec::with_capacity(slots.len() + 1);
    out.push(mine);
    out.extend(
        slots
            .into_iter()
            .map(|s| s.expect("a finished task stores its result")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// `f` on its own thread; fails instead of hanging if it does not finish within a minute.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(Duration::from_secs(60))
            .expect("deadlock: not finished within a minute")
    }

    #[test]
    fn results_in_order_on_pool_threads() {
        let name = || std::thread::current().name().map(str::to_owned);
        let runs: Vec<_> = (1..4).map(|k| move || (k, name())).collect();
        let out = join_all(runs, || (0, name()));
        assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        // The others ran on the pool's workers (or, the list being busy, a one-off thread of
        // the same name), never on the calling thread.
        for r in &out[1..] {
            assert_eq!(r.1.as_deref(), Some("alcm-pool"));
        }
    }

    #[test]
    fn workers_are_reused() {
        let mut ids = Vec::new();
        for _ in 0..20 {
            let id = || std::thread::current().id();
            ids.push(join_all(vec![id], id)[1]);
        }
        ids.sort_by_key(|id| format!("{id:?}"));
        ids.dedup();
        // Spawned per call, 20 calls would take 20 threads; other tests may hold a worker for
        // a moment, but not for most of the calls.
        assert!(ids.len() < 10, "{} threads for 20 calls", ids.len());
    }

    #[test]
    fn nested_use_and_concurrent_callers_do_not_deadlock() {
        let sums = within_a_minute(|| {
            let callers: Vec<_> = (0..4)
                .map(|c| {
                    std::thread::spawn(move || {
                        // Every task of the outer pass runs a pass of its own.
                        let outer = crate::util::par::map(3, 6, |i| {
                            crate::util::par::map(2, 50, |j| (c * 1000 + i * 50 + j) as u64)
                                .iter()
                                .sum::<u64>()
                        });
                        outer.iter().sum::<u64>()
                    })
                })
                .collect();
            callers
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        // Σ_{v=0}^{299} (c·1000 + v) = 300·1000·c + 44 850.
        let want: Vec<u64> = (0..4).map(|c| 300_000 * c + 44_850).collect();
        assert_eq!(sums, want);
    }

    #[test]
    fn a_panic_in_a_worker_reaches_the_caller_and_the_pool_survives() {
        let r = std::panic::catch_unwind(|| {
            join_all(vec![|| -> u32 { panic!("worker failed") }, || 2], || 0)
        });
        let p = r.expect_err("the worker's panic must come back");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"worker failed"));
        // The worker that panicked went back to work.
        for _ in 0..5 {
            assert_eq!(join_all(vec![|| 1, || 2], || 0), [0, 1, 2]);
        }
    }

    #[test]
    fn a_panic_on_the_calling_thread_waits_for_the_borrowing_tasks() {
        let finished = AtomicBool::new(false);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            join_all(
                vec![|| {
                    std::thread::sleep(Duration::from_millis(100));
                    finished.store(true, Ordering::SeqCst);
                }],
                || panic!("caller failed"),
            )
        }));
        assert!(r.is_err());
        // The task borrowed `finished`; it had to finish before the panic left `join_all`.
        assert!(finished.load(Ordering::SeqCst));
    }
}

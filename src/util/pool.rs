//! Worker threads that live for one library call: the parallel passes of a compression or a
//! decode (a dozen per compression) are handed to parked workers, instead of spawning and
//! joining a thread per pass (a spawn costs a stack mapping and a clone, 40–50 µs on a loaded
//! machine). A task borrows from the caller's stack; [`join_all`] returns only once every task
//! it handed out has finished, also when the caller's own part panics.
//!
//! The workers belong to a [`Scope`] that the call opens on its own thread: the first pass that
//! needs a worker starts it, later passes reuse it, and when the scope ends (the call returns
//! or unwinds) every worker is told to stop and is joined. Compression opens one; a decode has
//! a single parallel pass, which a scope would not shorten (its worker's start is the same,
//! and stopping it costs one more wake-up), so it spawns as before. So no thread of the library outlives
//! the call that started it: nothing is left running at `exit`, in a forked child or when the
//! library is unloaded, and valgrind sees no thread still holding its thread-local blocks.
//! (A process-wide pool whose workers stay parked after the call was tried and reverted for
//! that reason.) A 2-thread compression of a 1 M-value tensor now starts one thread instead of
//! 12 (`strace -f -e clone3` of `thread_scaling`).
//!
//! Outside a scope (a pass run directly, not under an API call), and for passes nested in a
//! worker's task, each task gets a scoped thread of its own, as before the pool. Each scope is
//! private to its thread, so concurrent callers never share or wait for workers.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

type Payload = Box<dyn Any + Send>;
type Work = Box<dyn FnOnce() + Send + 'static>;

/// Locks, ignoring poisoning: nothing panics while holding these locks (tasks run outside
/// them, under `catch_unwind`), and the data (a task slot, a result) stays consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a thread polls a flag before it blocks on a condition variable. A wake-up from a
/// futex (the parked thread's core idle, or its vCPU halted) costs some tens of microseconds,
/// a dozen times a compression, on the wall clock but on no thread's CPU time: the gap
/// between two threads' wall-clock speed-up and their CPU-time bound. The passes follow each
/// other within microseconds (the caller's serial work between them is short), so a thread
/// that polls briefly usually skips the sleep. A clock, not a count of polls, bounds it:
/// valgrind hands the CPU to another thread at every spin-loop hint, so 4096 polls made a
/// 2-thread C test under valgrind run for minutes.
const SPIN_FOR: std::time::Duration = std::time::Duration::from_micros(40);

/// Polls `ready` until it is true or [`SPIN_FOR`] has passed.
fn spin_until(ready: &AtomicBool) {
    let start = std::time::Instant::now();
    loop {
        // The clock read every 32 polls (a poll is a load and a spin-loop hint).
        for _ in 0..32 {
            if ready.load(Ordering::Acquire) {
                return;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN_FOR {
            return;
        }
    }
}

/// Set once when a task has finished: `Err` holds the panic it raised.
#[derive(Default)]
struct Latch {
    done: Mutex<Option<Result<(), Payload>>>,
    /// `done` holds the result (a waiter may poll this before locking).
    ready: AtomicBool,
    cv: Condvar,
}

impl Latch {
    fn set(&self, r: Result<(), Payload>) {
        *lock(&self.done) = Some(r);
        self.ready.store(true, Ordering::Release);
        self.cv.notify_one();
    }

    fn wait(&self) -> Result<(), Payload> {
        spin_until(&self.ready);
        let mut g = lock(&self.done);
        loop {
            if let Some(r) = g.take() {
                return r;
            }
            g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// What a parked worker waits for.
#[derive(Default)]
struct Inbox {
    task: Option<(Work, Arc<Latch>)>,
    stop: bool,
}

/// One worker's inbox.
#[derive(Default)]
struct Worker {
    inbox: Mutex<Inbox>,
    /// The inbox holds a task or the stop order (the worker may poll this before locking).
    ready: AtomicBool,
    cv: Condvar,
}

impl Worker {
    // `ready` changes under the inbox's lock only, so it is true exactly while the inbox
    // holds something.
    fn give(&self, work: Work, latch: Arc<Latch>) {
        let mut g = lock(&self.inbox);
        g.task = Some((work, latch));
        self.ready.store(true, Ordering::Release);
        drop(g);
        self.cv.notify_one();
    }

    /// The task still waiting in the inbox, taken back (`None` once the worker has taken it).
    fn take_back(&self) -> Option<(Work, Arc<Latch>)> {
        let mut g = lock(&self.inbox);
        let t = g.task.take()?;
        self.ready.store(g.stop, Ordering::Relaxed);
        Some(t)
    }

    fn stop(&self) {
        let mut g = lock(&self.inbox);
        g.stop = true;
        self.ready.store(true, Ordering::Release);
        drop(g);
        self.cv.notify_one();
    }

    fn run(&self) {
        loop {
            spin_until(&self.ready);
            let (work, latch) = {
                let mut g = lock(&self.inbox);
                loop {
                    if let Some(t) = g.task.take() {
                        self.ready.store(g.stop, Ordering::Relaxed);
                        break t;
                    }
                    if g.stop {
                        return;
                    }
                    g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
                }
            };
            latch.set(catch_unwind(AssertUnwindSafe(work)));
        }
    }
}

/// The workers of one scope. Only the scope's thread touches these lists.
#[derive(Default)]
struct Pool {
    idle: RefCell<Vec<Arc<Worker>>>,
    started: RefCell<Vec<(Arc<Worker>, JoinHandle<()>)>>,
}

impl Pool {
    /// Starts `work` on an idle worker, or on a new one that joins the pool; returns the
    /// worker (to put back on the idle list once the latch is set) and the latch.
    ///
    /// # Safety
    /// The caller must wait on the latch before anything `work` borrows goes away.
    unsafe fn submit(
        &self,
        work: Box<dyn FnOnce() + Send + '_>,
    ) -> (Option<Arc<Worker>>, Arc<Latch>) {
        // SAFETY: only the lifetime changes; the caller's wait keeps the borrows alive long enough.
        let work: Work = unsafe { std::mem::transmute(work) };
        let latch = Arc::new(Latch::default());
        let idle = self.idle.borrow_mut().pop();
        if let Some(w) = idle {
            w.give(work, Arc::clone(&latch));
            return (Some(w), latch);
        }
        let w = Arc::new(Worker::default());
        w.give(work, Arc::clone(&latch));
        let started = {
            let w = Arc::clone(&w);
            std::thread::Builder::new()
                .name("alcm-pool".into())
                .spawn(move || w.run())
        };
        match started {
            Ok(h) => {
                self.started.borrow_mut().push((Arc::clone(&w), h));
                (Some(w), latch)
            }
            Err(_) => {
                // No thread to be had: run the task here (the same results, in the same order).
                let (work, _) = lock(&w.inbox).task.take().expect("the task just stored");
                latch.set(catch_unwind(AssertUnwindSafe(work)));
                (None, latch)
            }
        }
    }

    /// Stops and joins every worker; they are all idle (each `join_all` waited on its tasks).
    fn shut_down(&self) {
        let started = std::mem::take(&mut *self.started.borrow_mut());
        for (w, _) in &started {
            w.stop();
        }
        for (_, h) in started {
            // A worker catches its tasks' panics, so its loop itself does not panic.
            let _ = h.join();
        }
        self.idle.borrow_mut().clear();
    }
}

thread_local! {
    /// The pool of the scope open on this thread, if any.
    static CURRENT: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
}

/// The workers of one library call on this thread, stopped and joined when dropped. Opened at
/// the entry of a call; inside an open scope, opening another is a no-op (nested calls share
/// the outer call's workers).
pub(crate) struct Scope {
    pool: Option<Box<Pool>>,
    /// The pool is this thread's: the scope must end on it.
    _not_send: PhantomData<*const ()>,
}

impl Scope {
    /// Opens a scope on this thread for a call on `threads` threads (no thread starts until
    /// a pass needs one; on one thread, nothing is opened).
    pub(crate) fn enter(threads: usize) -> Scope {
        let pool = CURRENT.with(|c| {
            (threads > 1 && c.get().is_null()).then(|| {
                let pool = Box::new(Pool::default());
                c.set(&*pool);
                pool
            })
        });
        Scope {
            pool,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            CURRENT.with(|c| c.set(std::ptr::null()));
            pool.shut_down();
        }
    }
}

/// Waits on every latch handed out, and puts the workers back on the idle list, also while
/// the caller unwinds.
struct Waiter<'p> {
    pool: &'p Pool,
    tasks: Vec<(Option<Arc<Worker>>, Arc<Latch>)>,
}

impl Waiter<'_> {
    /// Waits for all; the first panic among the tasks, if any. A task that its worker has not
    /// started yet is taken back and run here: a worker still being spawned or woken (a new
    /// thread's start lagged 0.5–2.7 ms on the loaded machine, a parked worker's wake-up tens
    /// of µs) would otherwise keep the caller waiting after it had done all the pass's work
    /// itself (the stealing passes leave such a late task nothing to do). Each task's result
    /// is its own, whichever thread runs it.
    fn wait_all(&mut self) -> Option<Payload> {
        let mut panic = None;
        for (w, l) in self.tasks.drain(..) {
            if let Some((work, latch)) = w.as_ref().and_then(|w| w.take_back()) {
                latch.set(catch_unwind(AssertUnwindSafe(work)));
            }
            if let Err(p) = l.wait() {
                panic.get_or_insert(p);
            }
            if let Some(w) = w {
                self.pool.idle.borrow_mut().push(w);
            }
        }
        panic
    }
}

impl Drop for Waiter<'_> {
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
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        return join_scoped(others, own);
    }
    // SAFETY: a non-null CURRENT points to the pool of a scope still open on this thread (the
    // scope clears it before dropping the pool), and the pool is only used from this thread.
    let pool = unsafe { &*current };
    let mut slots: Vec<Option<T>> = others.iter().map(|_| None).collect();
    let mut waiter = Waiter {
        pool,
        tasks: Vec::with_capacity(others.len()),
    };
    for (f, slot) in others.into_iter().zip(slots.iter_mut()) {
        let work: Box<dyn FnOnce() + Send + '_> = Box::new(move || *slot = Some(f()));
        // SAFETY: `waiter` waits on the latch before `slots` and the borrows of `f` go away:
        // below, or in its drop if `own` (or a later submit) panics.
        waiter.tasks.push(unsafe { pool.submit(work) });
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

/// [`join_all`] without a scope: a scoped thread per task.
fn join_scoped<'a, T: Send + 'a, F: FnOnce() -> T + Send + 'a>(
    others: Vec<F>,
    own: impl FnOnce() -> T,
) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = others.into_iter().map(|f| s.spawn(f)).collect();
        let mut out = vec![own()];
        for h in handles {
            out.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// `f` on its own thread; fails instead of hanging if it does not finish within a minute.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(Duration::from_secs(60))
            .expect("deadlock: not finished within a minute")
    }

    /// Workers started so far by the scope open on this thread.
    fn workers_started() -> usize {
        let p = CURRENT.with(Cell::get);
        assert!(!p.is_null());
        // SAFETY: the scope open on this thread keeps its pool alive (see `join_all`).
        unsafe { &*p }.started.borrow().len()
    }

    fn name() -> Option<String> {
        std::thread::current().name().map(str::to_owned)
    }

    /// Waits until `k` tasks have counted themselves in `started`: a pass's own part that lets
    /// the other tasks start on their workers (one not started when the caller's part is done
    /// is taken back and run on the caller), for the tests of where tasks run.
    fn wait_started(started: &AtomicUsize, k: usize) {
        let t0 = std::time::Instant::now();
        while started.load(Ordering::SeqCst) < k {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "tasks never started"
            );
            std::thread::yield_now();
        }
    }

    /// `f` counting itself in `started` first.
    fn counted<'a, T>(
        started: &'a AtomicUsize,
        f: impl FnOnce() -> T + Send + 'a,
    ) -> impl FnOnce() -> T + Send + 'a {
        move || {
            started.fetch_add(1, Ordering::SeqCst);
            f()
        }
    }

    #[test]
    fn results_in_order_on_pool_threads() {
        let _scope = Scope::enter(2);
        let started = AtomicUsize::new(0);
        let runs: Vec<_> = (1..4)
            .map(|k| counted(&started, move || (k, name())))
            .collect();
        let out = join_all(runs, || {
            wait_started(&started, 3);
            (0, name())
        });
        assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        // The others ran on the scope's workers, never on the calling thread.
        for r in &out[1..] {
            assert_eq!(r.1.as_deref(), Some("alcm-pool"));
        }
        assert_ne!(out[0].1.as_deref(), Some("alcm-pool"));
    }

    #[test]
    fn workers_are_reused_within_a_scope_and_new_per_scope() {
        let id = || std::thread::current().id();
        let ids_of_scope = || {
            let _scope = Scope::enter(2);
            let mut ids: Vec<_> = (0..20)
                .map(|_| {
                    let started = AtomicUsize::new(0);
                    let runs = vec![counted(&started, id), counted(&started, id)];
                    join_all(runs, || {
                        wait_started(&started, 2);
                        id()
                    })
                })
                .collect();
            ids.iter_mut()
                .for_each(|r| r[1..].sort_by_key(|i| format!("{i:?}")));
            ids
        };
        let a = ids_of_scope();
        // 20 passes of 2 tasks: the same 2 workers every time (spawned per pass: 40 threads).
        for r in &a {
            assert_eq!(&r[1..], &a[0][1..]);
            assert_ne!(r[1], r[2]);
            assert_ne!(r[0], r[1]);
        }
        // The next scope starts its own workers (the first scope's were joined).
        let b = ids_of_scope();
        assert!(!b[0][1..].contains(&a[0][1]) && !b[0][1..].contains(&a[0][2]));
    }

    #[test]
    fn no_worker_outlives_its_scope() {
        /// Set when the worker thread holding it exits (thread-local destructors run before a
        /// joined thread is reported finished).
        struct OnExit(Arc<AtomicBool>);
        impl Drop for OnExit {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        thread_local! {
            static GUARD: RefCell<Option<OnExit>> = const { RefCell::new(None) };
        }
        let exited = Arc::new(AtomicBool::new(false));
        {
            let _scope = Scope::enter(2);
            let e = Arc::clone(&exited);
            let set = move || GUARD.with(|g| *g.borrow_mut() = Some(OnExit(e)));
            let started = AtomicUsize::new(0);
            join_all(vec![counted(&started, set)], || wait_started(&started, 1));
            // The worker is parked, alive, between passes.
            assert!(!exited.load(Ordering::SeqCst));
            assert_eq!(join_all(vec![|| 1], || 0), [0, 1]);
        }
        assert!(exited.load(Ordering::SeqCst), "a worker outlived its scope");
        // And the scope is closed: a pass now runs on a one-off thread, no pool.
        assert!(CURRENT.with(Cell::get).is_null());
    }

    #[test]
    fn nested_scopes_share_the_outer_workers() {
        let _outer = Scope::enter(2);
        let id = || std::thread::current().id();
        // The worker's thread id (the task started there, not taken back).
        let on_worker = || {
            let started = AtomicUsize::new(0);
            join_all(vec![counted(&started, id)], || {
                wait_started(&started, 1);
                id()
            })[1]
        };
        let first = on_worker();
        assert_ne!(first, id());
        {
            let _inner = Scope::enter(2);
            assert_eq!(on_worker(), first);
        }
        // Closing the inner scope did not stop the outer one's worker.
        assert_eq!(on_worker(), first);
    }

    #[test]
    fn nested_use_and_concurrent_callers_do_not_deadlock() {
        let sums = within_a_minute(|| {
            let callers: Vec<_> = (0..4)
                .map(|c| {
                    std::thread::spawn(move || {
                        let _scope = Scope::enter(2);
                        // Every task of the outer pass runs a pass of its own (on a worker, or
                        // on the calling thread for the first run, re-entering the pool).
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
        let _scope = Scope::enter(2);
        let r = std::panic::catch_unwind(|| {
            join_all(vec![|| -> u32 { panic!("worker failed") }, || 2], || 0)
        });
        let p = r.expect_err("the worker's panic must come back");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"worker failed"));
        // The worker that panicked went back to work; no new worker was needed.
        let before = workers_started();
        for _ in 0..5 {
            assert_eq!(join_all(vec![|| 1, || 2], || 0), [0, 1, 2]);
        }
        let after = workers_started();
        assert_eq!((before, after), (2, 2));
    }

    #[test]
    fn a_panic_on_the_calling_thread_waits_for_the_borrowing_tasks() {
        for scoped in [true, false] {
            let _scope = scoped.then(|| Scope::enter(2));
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

    /// A task that no worker has started when the caller's part is done runs on the caller:
    /// here its worker has no thread at all (a worker still being spawned, or asleep), so
    /// without the take-back the pass never ends.
    #[test]
    fn a_task_not_started_is_run_by_the_caller() {
        let out = within_a_minute(|| {
            let _scope = Scope::enter(2);
            let pool = CURRENT.with(Cell::get);
            // SAFETY: the scope just opened on this thread keeps its pool alive.
            let pool = unsafe { &*pool };
            pool.idle.borrow_mut().push(Arc::new(Worker::default()));
            let me = std::thread::current().id();
            let id = || std::thread::current().id();
            let first = join_all(vec![id], id);
            // The worker went back to the idle list (no thread started): again.
            let second = join_all(vec![|| 2, || 3], || 1);
            let started = pool.started.borrow().len();
            (first == [me, me], second, started)
        });
        // The second pass's two tasks: one taken back from the thread-less worker, one on a
        // worker started for it (it may run there or be taken back too).
        assert_eq!(out, (true, vec![1, 2, 3], 1));
    }

    #[test]
    fn without_a_scope_each_task_gets_its_own_thread() {
        let n = AtomicUsize::new(0);
        let out = join_all(
            vec![|| {
                n.fetch_add(1, Ordering::SeqCst);
                name()
            }],
            || None,
        );
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // A scoped std thread (unnamed), not a pool worker.
        assert_eq!(out[1], None);
    }
}

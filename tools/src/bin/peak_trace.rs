//! What is live at a compress call's peak heap: every allocation of at least 4 KiB made during
//! the call, with the alcm frames of the stack that made it, snapshotted at each new peak
//! (within 1 KiB). For finding what holds the peak of one `peak_memory` case.
//!
//!     cargo run --release -p alcm-tools --bin peak_trace -- FILE.npy MODE THREADS [nan]
//!
//! MODE: `max_abs:E`, `rel:EPS`, `adaptive` or `lossless`; `nan` puts a NaN at index 12345
//! (kept).
use alcm::{Encoder, EncoderConfig, Mode, NonFinitePolicy};
use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

struct Tracing;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(false);
type Live = HashMap<usize, (usize, Arc<Backtrace>)>;
static LIVE: Mutex<Option<Live>> = Mutex::new(None);
/// The heap at the last snapshotted peak, and the big allocations then live.
type Snapshot = (usize, Vec<(usize, Arc<Backtrace>)>);
static SNAP: Mutex<Option<Snapshot>> = Mutex::new(None);
const BIG: usize = 4096;

thread_local! {
    static IN: Cell<bool> = const { Cell::new(false) };
}

fn hooked(f: impl FnOnce()) {
    let entered = IN.try_with(|c| !c.replace(true)).unwrap_or(false);
    if entered {
        f();
        let _ = IN.try_with(|c| c.set(false));
    }
}

fn on_alloc(p: *mut u8, size: usize) {
    if !ON.load(SeqCst) {
        return;
    }
    let c = CUR.fetch_add(size, SeqCst) + size;
    hooked(|| {
        if size >= BIG {
            let bt = Arc::new(Backtrace::force_capture());
            LIVE.lock()
                .unwrap()
                .get_or_insert_with(HashMap::new)
                .insert(p as usize, (size, bt));
        }
        let peak = PEAK.load(SeqCst);
        if c > peak {
            PEAK.store(c, SeqCst);
            let mut snap = SNAP.lock().unwrap();
            let newer = match snap.as_ref() {
                Some(s) => c > s.0 + 1024,
                None => true,
            };
            if newer {
                let live = LIVE.lock().unwrap();
                let v = live
                    .as_ref()
                    .map(|m| m.values().map(|(s, b)| (*s, b.clone())).collect())
                    .unwrap_or_default();
                *snap = Some((c, v));
            }
        }
    });
}

fn on_free(p: *mut u8, size: usize) {
    if !ON.load(SeqCst) {
        return;
    }
    CUR.fetch_sub(size, SeqCst);
    hooked(|| {
        if let Some(m) = LIVE.lock().unwrap().as_mut() {
            m.remove(&(p as usize));
        }
    });
}

// SAFETY: every call forwards to the system allocator unchanged; only bookkeeping is added.
unsafe impl GlobalAlloc for Tracing {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            on_alloc(p, l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        on_free(p, l.size());
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            on_free(p, l.size());
            on_alloc(q, new);
        }
        q
    }
}

#[global_allocator]
static A: Tracing = Tracing;

/// The alcm frames of a backtrace, innermost first, shortened.
fn frames(bt: &Backtrace) -> String {
    let text = format!("{bt}");
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let l = l.trim();
        let Some((_, name)) = l.split_once(": ") else {
            continue;
        };
        if !name.starts_with("alcm::") && !name.starts_with("<alcm::") {
            continue;
        }
        let at = lines
            .peek()
            .and_then(|n| n.trim().strip_prefix("at "))
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("");
        let name = name
            .trim_start_matches("alcm::")
            .replace("{{closure}}", "{c}");
        out.push(format!("{name} [{at}]"));
        if out.len() >= 5 {
            break;
        }
    }
    out.join(" < ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (x, shape) = alcm::read_npy_f32(std::path::Path::new(&args[1])).unwrap();
    let mode = match args[2].split_once(':') {
        Some(("max_abs", e)) => Mode::MaxAbs(e.parse().unwrap()),
        Some(("rel", e)) => Mode::RelativeL2(e.parse().unwrap()),
        _ if args[2] == "lossless" => Mode::Lossless,
        _ => Mode::Adaptive,
    };
    let threads: usize = args[3].parse().unwrap();
    let nan = args.get(4).is_some_and(|a| a == "nan");
    let mut x = x;
    if nan {
        x[12345] = f32::NAN;
    }
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(mode)
            .with_threads(threads)
            .with_non_finite(if nan {
                NonFinitePolicy::Keep
            } else {
                NonFinitePolicy::Refuse
            }),
    )
    .unwrap();
    enc.compress(&x, &shape, None).unwrap();
    ON.store(true, SeqCst);
    let c = enc.compress(&x, &shape, None).unwrap();
    ON.store(false, SeqCst);
    let n4 = 4 * x.len();
    let (peak, live) = SNAP.lock().unwrap().take().unwrap();
    println!(
        "peak {peak} = {:.3} × input (bound {}), frame {}",
        peak as f64 / n4 as f64,
        alcm::compress_bound(x.len()),
        c.bytes.len()
    );
    let mut by: HashMap<String, (usize, usize)> = HashMap::new();
    let mut big = 0;
    for (s, b) in &live {
        let e = by.entry(frames(b)).or_default();
        e.0 += s;
        e.1 += 1;
        big += s;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1 .0));
    for (f, (s, k)) in v {
        println!("{:8.3} × input {k:>4} allocs  {f}", s as f64 / n4 as f64);
    }
    println!(
        "{:8.3} × input in allocations below {BIG} bytes",
        (peak - big) as f64 / n4 as f64
    );
}

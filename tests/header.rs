//! The committed header `include/alcm.h` must be exactly what the pinned cbindgen generates
//! from `src/abi.rs` (ids and limits) and `src/ffi/` (types and functions), and every version
//! number must agree with Cargo.toml.
//!
//! Regenerate after changing the C API or the version:
//!     ALCM_BLESS_HEADER=1 cargo test --test header
//! (rewrites the version lines of cbindgen.toml from Cargo.toml, then include/alcm.h).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bless() -> bool {
    std::env::var_os("ALCM_BLESS_HEADER").is_some_and(|v| v == "1")
}

/// `version = "x.y.z"` of the [package] table, read as text (no toml dependency needed).
fn cargo_version() -> (String, u32, u32, u32) {
    let text = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut in_package = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_package = l == "[package]";
        } else if in_package && l.starts_with("version") {
            let v = l.split('"').nth(1).expect("version = \"...\"").to_string();
            let core = v.split(['-', '+']).next().unwrap();
            let n: Vec<u32> = core.split('.').map(|p| p.parse().unwrap()).collect();
            assert_eq!(n.len(), 3, "version {v} is not MAJOR.MINOR.PATCH");
            return (v, n[0], n[1], n[2]);
        }
    }
    panic!("no version in [package] of Cargo.toml");
}

/// The `#define ALCM_VERSION_*` lines the header must carry.
fn version_block() -> String {
    let (v, ma, mi, pa) = cargo_version();
    format!(
        "#define ALCM_VERSION_MAJOR {ma}\n#define ALCM_VERSION_MINOR {mi}\n\
         #define ALCM_VERSION_PATCH {pa}\n#define ALCM_VERSION_NUMBER {}\n\
         #define ALCM_VERSION_STRING \"{v}\"\n",
        ma * 10000 + mi * 100 + pa
    )
}

/// Replaces the `#define ALCM_VERSION_*` lines of cbindgen.toml (bless mode).
fn bless_cbindgen_toml(path: &Path) {
    let text = fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        if line.starts_with("#define ALCM_VERSION_") {
            if !done {
                out.push_str(&version_block());
                done = true;
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        done,
        "cbindgen.toml has no #define ALCM_VERSION_ lines in after_includes"
    );
    if out != text {
        fs::write(path, out).unwrap();
    }
}

/// Generates once per test process; in bless mode also rewrites cbindgen.toml and the header
/// (once, before any test reads them).
fn generated() -> &'static str {
    static GENERATED: OnceLock<String> = OnceLock::new();
    GENERATED.get_or_init(|| {
        let text = generate();
        if bless() {
            let path = root().join("include/alcm.h");
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &text).unwrap();
        }
        text
    })
}

fn generate() -> String {
    let cfg_path = root().join("cbindgen.toml");
    if bless() {
        bless_cbindgen_toml(&cfg_path);
    }
    let config = cbindgen::Config::from_file(&cfg_path).expect("cbindgen.toml");
    let after = config.after_includes.clone().unwrap_or_default();
    assert!(
        after.contains(&version_block()),
        "cbindgen.toml's after_includes does not carry the Cargo.toml version:\n{}\nrun: \
         ALCM_BLESS_HEADER=1 cargo test --test header",
        version_block()
    );
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root().join("src/abi.rs"))
        .with_src(root().join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen failed");
    let mut buf = Vec::new();
    bindings.write(&mut buf);
    String::from_utf8(buf).unwrap()
}

#[test]
fn committed_header_is_up_to_date() {
    let generated = generated();
    let path = root().join("include/alcm.h");
    let committed = fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        let show = |s: &str| s.lines().skip(first).take(6).collect::<Vec<_>>().join("\n");
        panic!(
            "include/alcm.h is stale (first difference at line {}).\n--- committed:\n{}\n\
             --- generated:\n{}\nRegenerate with: ALCM_BLESS_HEADER=1 cargo test --test header \
             (then review `git diff include/alcm.h`)",
            first + 1,
            show(&committed),
            show(generated)
        );
    }
}

fn header_define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} not defined in include/alcm.h"))
        .trim()
        .to_string()
}

#[test]
fn versions_agree_cargo_header_runtime() {
    let (v, ma, mi, pa) = cargo_version();
    generated(); // in bless mode, the header is rewritten first
    let header = fs::read_to_string(root().join("include/alcm.h")).unwrap();
    let num = |n: &str| header_define(&header, n).parse::<u32>().unwrap();
    assert_eq!(num("ALCM_VERSION_MAJOR"), ma);
    assert_eq!(num("ALCM_VERSION_MINOR"), mi);
    assert_eq!(num("ALCM_VERSION_PATCH"), pa);
    assert_eq!(num("ALCM_VERSION_NUMBER"), ma * 10000 + mi * 100 + pa);
    assert_eq!(
        header_define(&header, "ALCM_VERSION_STRING"),
        format!("\"{v}\"")
    );
    assert_eq!(alcm::ffi::alcm_version_number(), ma * 10000 + mi * 100 + pa);
    // SAFETY: alcm_version_string returns a static NUL-terminated string.
    let s = unsafe { std::ffi::CStr::from_ptr(alcm::ffi::alcm_version_string()) };
    assert_eq!(s.to_str().unwrap(), v);
    assert_eq!(num("ALCM_FORMAT_VERSION"), alcm::ffi::alcm_format_version());
    assert_eq!(
        alcm::ffi::ALCM_FORMAT_VERSION,
        alcm::ffi::alcm_format_version()
    );
}

/// (doc comment, prototype) of every function of the header, in order.
fn documented_functions(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut doc = String::new();
    let mut in_doc = false;
    let mut proto: Option<String> = None;
    for line in header.lines() {
        if let Some(p) = proto.as_mut() {
            p.push_str(line.trim());
            if line.trim_end().ends_with(';') {
                out.push((std::mem::take(&mut doc), proto.take().unwrap()));
            }
            continue;
        }
        if line.starts_with("/**") {
            in_doc = true;
            doc.clear();
        } else if in_doc {
            if line.starts_with(" */") {
                in_doc = false;
            } else {
                doc.push_str(line.strip_prefix(" *").unwrap_or(line).trim());
                doc.push('\n');
            }
        } else if line.contains("alcm_") && line.contains('(') && !line.starts_with([' ', '#']) {
            if line.trim_end().ends_with(';') {
                out.push((std::mem::take(&mut doc), line.to_string()));
            } else {
                proto = Some(line.to_string());
            }
        }
    }
    out
}

/// Issue 11: every function says what it returns, which statuses it can return, and its thread
/// rule; no Rust-only heading leaks into the C text; functions sit in their named sections.
#[test]
fn every_function_documents_returns_errors_memory_and_threads() {
    let header = generated();
    let funcs = documented_functions(header);
    assert_eq!(funcs.len(), 98, "prototypes found: {}", funcs.len());
    let statuses: Vec<&str> = header
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_suffix(',')
                .and_then(|l| l.split(" = ").next())
        })
        .filter(|n| n.starts_with("ALCM_OK") || n.starts_with("ALCM_ERR_"))
        .collect();
    assert!(statuses.contains(&"ALCM_ERR_PANIC") && statuses.len() == 19);
    let mut section = "";
    for (doc, proto) in &funcs {
        let name = proto
            .split('(')
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        let name = name.trim_start_matches('*');
        for title in [
            "ERRORS AND VERSIONS",
            "CODEC",
            "ERROR FEEDBACK",
            "PREDICTOR AND ALLOCATIONS",
            "SCHEDULER",
            "STATISTICS AND METRICS",
            "COMPRESSED COLLECTIVES",
            "ARCHIVES",
        ] {
            if doc.lines().any(|l| l == title) {
                section = title;
            }
        }
        let expected = match name {
            n if n.starts_with("alcm_feedback_") => "ERROR FEEDBACK",
            n if n.starts_with("alcm_exchange_")
                || n.starts_with("alcm_residual_store_")
                || n.starts_with("alcm_lowrank_") =>
            {
                "COMPRESSED COLLECTIVES"
            }
            n if n.starts_with("alcm_scheduler_") => "SCHEDULER",
            n if n.starts_with("alcm_archive_") => "ARCHIVES",
            n if n.starts_with("alcm_predictor_")
                || n.starts_with("alcm_empirical_")
                || n.starts_with("alcm_guard_") =>
            {
                "PREDICTOR AND ALLOCATIONS"
            }
            n if n.starts_with("alcm_encoder_")
                || n.starts_with("alcm_decompress")
                || [
                    "alcm_compress_bound",
                    "alcm_peek",
                    "alcm_compress_bound_typed",
                    "alcm_peek_dtype",
                ]
                .contains(&n) =>
            {
                "CODEC"
            }
            n if n.contains("stats")
                || ["alcm_channel_count", "alcm_error_metrics", "alcm_caq"].contains(&n)
                || n == "alcm_variance_percent" =>
            {
                "STATISTICS AND METRICS"
            }
            _ => "ERRORS AND VERSIONS",
        };
        assert_eq!(section, expected, "{name} is in the wrong section");
        assert!(
            !doc.contains("# Safety") && !doc.lines().any(|l| l.starts_with('#')),
            "{name}"
        );
        let returns_status = proto.starts_with("alcm_status ");
        let free = proto.starts_with("void ");
        assert_eq!(
            doc.contains("\nReturns: ") || doc.starts_with("Returns: "),
            !free,
            "{name}: Returns:"
        );
        assert_eq!(
            doc.contains("\nErrors: "),
            returns_status,
            "{name}: Errors:"
        );
        assert!(doc.contains("\nThreads: "), "{name}: Threads:");
        if proto.contains("**out") || free {
            assert!(doc.contains("\nMemory: "), "{name}: Memory:");
        }
        if proto.contains("**out") {
            assert!(doc.contains("_free"), "{name} names the free function");
        }
        // Every status named exists, and every status-returning function lists at least one.
        let named: Vec<&str> = doc
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("ALCM_ERR_") || *w == "ALCM_OK")
            .collect();
        for n in &named {
            assert!(statuses.contains(n), "{name} names unknown status {n}");
        }
        if returns_status {
            assert!(named.iter().any(|n| n.starts_with("ALCM_ERR_")), "{name}");
        }
    }
    assert_eq!(section, "ARCHIVES", "sections out of order");
}

//! Builds and runs the C tests (`tests/c/test_*.c`) against the library cargo just built, and
//! checks that `include/alcm.h` compiles cleanly as C99 and C++17.
//!
//! Run: `cargo test --test c_api` (add `--features test-panic` to also prove, from C, that a
//! panic becomes ALCM_ERR_PANIC). Needs gcc/g++ (override with CC/CXX). The library is looked
//! up next to this test binary (`target/<profile>/deps/`, where `cargo test` leaves the
//! staticlib/cdylib it builds for integration tests), then in `target/<profile>/`; set
//! `ALCM_LIB_DIR` to test other artifacts. A new C test is a new `tests/c/test_*.c` file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c_api");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "gcc".into())
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "g++".into())
}

/// Directory holding libalcm.a and libalcm.so built by this cargo invocation.
fn lib_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ALCM_LIB_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for d in [deps, deps.parent().unwrap()] {
        if d.join("libalcm.a").is_file() && d.join("libalcm.so").is_file() {
            return d.to_path_buf();
        }
    }
    panic!(
        "libalcm.a/libalcm.so not found in {} or its parent: is crate-type \
         [\"rlib\", \"cdylib\", \"staticlib\"] still set? Or set ALCM_LIB_DIR.",
        deps.display()
    );
}

fn c_tests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/c"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with("test_") && name.ends_with(".c")
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no tests/c/test_*.c");
    v
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{cmd:?}\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// Compiles and runs every C test, linked statically or dynamically.
fn build_and_run(shared: bool) {
    let lib = lib_dir();
    for src in c_tests() {
        let stem = src.file_stem().unwrap().to_str().unwrap();
        let exe = out_dir().join(format!(
            "{stem}-{}",
            if shared { "shared" } else { "static" }
        ));
        let mut cmd = Command::new(cc());
        cmd.args([
            "-std=c11",
            "-D_POSIX_C_SOURCE=200809L",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
        ])
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("tests/c"));
        if cfg!(feature = "test-panic") {
            cmd.arg("-DALCM_TEST_PANIC");
        }
        cmd.arg(&src).arg("-o").arg(&exe);
        if shared {
            cmd.arg("-L")
                .arg(&lib)
                .arg("-lalcm")
                .arg(format!("-Wl,-rpath,{}", lib.display()));
        } else {
            cmd.arg(lib.join("libalcm.a"));
        }
        cmd.args(["-lpthread", "-ldl", "-lm"]);
        run_ok(&mut cmd, &format!("compiling {}", src.display()));
        // cargo puts target/<profile> on LD_LIBRARY_PATH, which outranks the binary's RUNPATH:
        // name the library directory under test first, or a stale libalcm.so built with other
        // features could be loaded instead.
        let mut run = Command::new(&exe);
        // The C tests find tests/data and configs/ through ALCM_TEST_DATA_DIR (the repo root).
        run.env("ALCM_TEST_DATA_DIR", root());
        let mut paths = vec![lib.clone()];
        paths.extend(
            std::env::var_os("LD_LIBRARY_PATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        run.env("LD_LIBRARY_PATH", std::env::join_paths(paths).unwrap());
        let stdout = run_ok(&mut run, &format!("running {stem}"));
        assert!(stdout.contains(" passed, 0 failed"), "{stem}: {stdout}");
        eprintln!(
            "{stem} ({}): {}",
            if shared { "shared" } else { "static" },
            stdout.trim()
        );
    }
}

#[test]
fn c_tests_pass_linked_statically() {
    build_and_run(false);
}

#[test]
fn c_tests_pass_linked_dynamically() {
    build_and_run(true);
}

fn compile_header(compiler: &str, std: &str, ext: &str, extra: &[&str]) {
    let src = out_dir().join(format!(
        "header_check_{}.{ext}",
        std.replace(['+', '='], "_")
    ));
    std::fs::write(
        &src,
        "#include \"alcm.h\"\n#include \"alcm.h\" /* include guard */\n\
         int main(void) {\n\
         \x20   alcm_stats s;\n\
         \x20   const size_t shape[1] = {1};\n\
         \x20   const float x[1] = {0};\n\
         \x20   alcm_status st = alcm_tensor_stats(x, 1, shape, &s);\n\
         \x20   return st == ALCM_OK ? (int)alcm_version_number() - ALCM_VERSION_NUMBER : 1;\n\
         }\n",
    )
    .unwrap();
    let mut cmd = Command::new(compiler);
    cmd.arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only"])
        .args(extra)
        .arg("-I")
        .arg(root().join("include"))
        .arg(&src);
    run_ok(&mut cmd, &format!("header check {compiler} -std={std}"));
}

#[test]
fn header_compiles_as_c99_pedantic() {
    compile_header(&cc(), "c99", "c", &["-Wstrict-prototypes"]);
}

#[test]
fn header_compiles_as_c11_pedantic() {
    compile_header(&cc(), "c11", "c", &["-Wstrict-prototypes"]);
}

#[test]
fn header_compiles_as_cxx17_pedantic() {
    compile_header(&cxx(), "c++17", "cpp", &[]);
}

#[test]
fn lib_dir_holds_both_libraries() {
    let d = lib_dir();
    assert!(Path::new(&d.join("libalcm.a")).is_file());
    assert!(Path::new(&d.join("libalcm.so")).is_file());
}

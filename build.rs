//! Gives the shared library an ELF SONAME (`libalcm.so`) on Linux and an `@rpath` install name
//! on macOS, so programs record the library by name rather than by the path they were linked
//! against. The SONAME has no version suffix while the ABI is 0.x: the CMake version file and
//! `alcm_version_number()` state compatibility, and every consumer in this repository (cargo's C
//! tests, the CMake package, the Python wheel) links or loads the file `libalcm.so` itself.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(alcm_avx512)");
    // The AVX-512 decoder needs the intrinsics stabilised in Rust 1.89; older compilers (the
    // crate's MSRV is 1.75) build the AVX2 and scalar paths only.
    if rustc_minor().is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=alcm_avx512");
    }
    match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux") | Ok("android") | Ok("freebsd") | Ok("netbsd") | Ok("openbsd") => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libalcm.so");
        }
        Ok("macos") | Ok("ios") => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libalcm.dylib");
        }
        _ => {}
    }
}

/// The minor version of the compiler cargo runs (`rustc 1.N.…`), if it can be read.
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}

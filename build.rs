//! Gives the shared library an ELF SONAME (`libalcm.so`) on Linux and an `@rpath` install name
//! on macOS, so programs record the library by name rather than by the path they were linked
//! against. The SONAME has no version suffix while the ABI is 0.x: the CMake version file and
//! `alcm_version_number()` state compatibility, and every consumer in this repository (cargo's C
//! tests, the CMake package, the Python wheel) links or loads the file `libalcm.so` itself.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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

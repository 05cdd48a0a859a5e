//! Link settings of the WASI-free build (`wasm32-unknown-unknown`, see
//! `bench/plugins/build-lean.sh`): an initial linear memory of 2 MiB, so
//! that the heap (`src/heap.rs`) holds about 1 MiB before it has to grow the
//! memory. A growth costs the host an `mprotect` for the job and another
//! when the instance's memory is reset; untouched pages cost nothing.
fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "wasm32" && os == "unknown" {
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=2097152");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

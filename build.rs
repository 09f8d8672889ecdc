//! Link the server binary with packed relative relocations (DT_RELR) where
//! the platform has them: a position-independent executable otherwise
//! carries a 24-byte relocation for every pointer in its read-only data
//! (~28 KB here), which RELR packs into about a kilobyte. No run-time cost;
//! ASLR stays. Needs GNU ld >= 2.38 or lld >= 15 and glibc >= 2.36 (older
//! GNU linkers ignore the option with a warning, and the binary is merely
//! larger).
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

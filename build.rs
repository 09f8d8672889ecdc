//! Linker arguments for the server binary.
//!
//! - Packed relative relocations (DT_RELR) where the platform has them: a
//!   position-independent executable otherwise carries a 24-byte
//!   relocation for every pointer in its read-only data (~28 KB here),
//!   which RELR packs into about a kilobyte. No run-time cost; ASLR stays.
//!   Needs GNU ld >= 2.38 or lld >= 15 and glibc >= 2.36 (older GNU linkers
//!   ignore the option with a warning, and the binary is merely larger).
//! - No unwind tables in a release build without debug info (−134 KB).
//!   The release profile aborts on panic, so nothing unwinds; the tables'
//!   one remaining reader is a panic's backtrace, which in a stripped
//!   binary names no function anyway (its frames print as `<unknown>`).
//!   The panic message and its source location are printed as before.
//!   A build with debug info (for a profiler: `perf --call-graph dwarf`
//!   walks these tables) keeps them.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let debug_info = std::env::var("DEBUG").is_ok_and(|d| d != "false" && d != "0");
    if !release || debug_info {
        return;
    }
    // `INSERT` makes this an addition to the linker's own script (GNU ld
    // and lld both take it so), not a replacement.
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let script = out.join("no-unwind-tables.ld");
    let text = "SECTIONS { /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) *(.gcc_except_table*) } } INSERT AFTER .text;\n";
    if std::fs::write(&script, text).is_ok() {
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}

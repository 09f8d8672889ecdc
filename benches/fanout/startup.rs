//! Binary size (with an ELF section check) and start-up time.

use crate::*;

pub(crate) fn size_and_startup(bin: &str, runs: usize) -> io::Result<()> {
    let bytes = std::fs::read(bin)?;
    let sections = elf_section_names(&bytes);
    let stripped = if sections.is_empty() {
        "not an ELF file?"
    } else if sections
        .iter()
        .any(|s| s == ".symtab" || s.starts_with(".debug"))
    {
        "NOT stripped"
    } else {
        "stripped"
    };
    println!(
        "binary: {bin}\n  size {} bytes = {:.3} MiB ({}; goal <= 1 MiB stripped)",
        bytes.len(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        stripped
    );
    let mut times = Vec::with_capacity(runs);
    let mut idle = Vec::new();
    for _ in 0..runs {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--strict-port",
        ]);
        // Keep no sessions in the real home directory.
        cmd.env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join("lumora-hr-mini-bench-state"),
        );
        let target = spawn_child(cmd, port, "startup")?;
        times.push(target.startup.as_secs_f64() * 1000.0);
        if idle.len() < 3 {
            settle(100);
            if let (Probe::Process(pid), Some(kib)) = (&target.probe, target.probe.rss_kib()) {
                idle.push([
                    kib as f64,
                    status_kib(*pid, "RssAnon:").unwrap_or(0) as f64,
                    status_kib(*pid, "RssFile:").unwrap_or(0) as f64,
                ]);
            }
        }
        target.shutdown();
    }
    // What any dynamically linked glibc program costs here, for scale.
    let sleep_rss = Command::new("sleep")
        .arg("5")
        .spawn()
        .ok()
        .map(|mut child| {
            settle(100);
            let rss = [
                status_kib(child.id(), "VmRSS:"),
                status_kib(child.id(), "RssAnon:"),
                status_kib(child.id(), "RssFile:"),
            ];
            let _ = child.kill();
            let _ = child.wait();
            rss
        });
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  start-up (spawn -> port accepts), {runs} runs: median {:.2} ms, min {:.2} ms, max {:.2} ms (goal <= 10 ms)",
        median(times),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    let col = |k: usize| median(idle.iter().map(|r| r[k]).collect());
    println!(
        "  idle RSS after start-up: {:.0} KiB (goal <= 2048): {:.0} KiB anonymous + {:.0} KiB file-backed (median of {})",
        col(0),
        col(1),
        col(2),
        idle.len()
    );
    if let Some([Some(rss), anon, file]) = sleep_rss {
        println!(
            "  for scale, /bin/sleep: {rss} KiB: {} KiB anonymous + {} KiB file-backed (libc, ld.so)",
            anon.unwrap_or(0),
            file.unwrap_or(0)
        );
    }
    Ok(())
}

/// Section names of a 64-bit little-endian ELF file (empty if it is not one).
pub(crate) fn elf_section_names(elf: &[u8]) -> Vec<String> {
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    if !elf.starts_with(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Vec::new();
    }
    let (Some(shoff), Some(shentsize), Some(shnum), Some(shstrndx)) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e))
    else {
        return Vec::new();
    };
    let header = |i: usize| shoff + i * shentsize;
    let Some(strtab) = u64_at(header(shstrndx) + 0x18) else {
        return Vec::new();
    };
    (0..shnum)
        .filter_map(|i| {
            let name = strtab + u32_at(header(i))?;
            let bytes = elf.get(name..)?;
            let end = bytes.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
        })
        .collect()
}

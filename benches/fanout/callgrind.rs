//! `--push-cpu --callgrind`: pushes counted in instructions, which do not
//! move with the machine's load as CPU times do. The server runs under
//! `valgrind --tool=callgrind`; its counters are zeroed before a push and
//! dumped after it (`callgrind_control`), so a push's count is what the
//! server's threads executed in user space for it (system calls are one
//! instruction each: the kernel's work, such as socket writes, is not
//! counted). The floor is this tool re-executed under callgrind to scan
//! the body K times and 0 times: the difference over K.

use crate::*;

/// Prefix of the callgrind output files of this run (in the temp dir).
fn out_prefix() -> String {
    format!("lumora-fanout-{}-cg", std::process::id())
}

/// `valgrind --tool=callgrind ... program`: add the program's arguments.
pub(crate) fn callgrind_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!(
            "--callgrind-out-file={}",
            std::env::temp_dir()
                .join(format!("{}.%p.out", out_prefix()))
                .display()
        ))
        .arg(program);
    cmd
}

fn control(pid: u32, flag: &str) -> io::Result<()> {
    let out = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .map_err(|e| {
            io::Error::other(format!("callgrind_control: {e} (is valgrind installed?)"))
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "callgrind_control {flag} {pid}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The `totals:` (or `summary:`) count of a callgrind output file.
fn totals(path: &std::path::Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other(format!("{}: no totals line", path.display())))
}

/// Zeroes the counters of `pid` (a process under callgrind).
pub(crate) fn callgrind_zero(pid: u32) -> io::Result<()> {
    control(pid, "-z")
}

/// Instructions `pid` executed since its counters were last zeroed or
/// dumped; the dump file is removed.
pub(crate) fn callgrind_dump(pid: u32) -> io::Result<u64> {
    control(pid, "-d")?;
    let prefix = format!("{}.{pid}.out.", out_prefix());
    let newest = std::fs::read_dir(std::env::temp_dir())?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n: u64 = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)
        .ok_or_else(|| io::Error::other("callgrind wrote no dump"))?;
    let count = totals(&newest.1)?;
    let _ = std::fs::remove_file(&newest.1);
    Ok(count)
}

/// Removes what callgrind left of this run (the servers' final dumps).
pub(crate) fn callgrind_cleanup() {
    let prefix = out_prefix();
    if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// `--scan-floor FILE K [3]`: scans FILE K times (run under callgrind),
/// with the floor built at opt-level 3 when the third argument is `3`.
pub(crate) fn scan_floor_child(args: &[String]) {
    let (Some(path), Some(k)) = (
        args.first(),
        args.get(1).and_then(|k| k.parse::<usize>().ok()),
    ) else {
        eprintln!("scan-floor: FILE K");
        std::process::exit(2);
    };
    let body = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("scan-floor: {path}: {e}");
            std::process::exit(1);
        }
    };
    let opt3 = args.get(2).is_some_and(|a| a == "3");
    for _ in 0..k {
        let scanned = if opt3 {
            lumora_floor::scan(std::hint::black_box(&body)).map_err(io::Error::other)
        } else {
            floor_scan(std::hint::black_box(&body))
        };
        if let Err(e) = scanned {
            eprintln!("scan-floor: {e}");
            std::process::exit(1);
        }
    }
}

/// Instructions of one `IgnoredAny` scan of `body`, under callgrind (the
/// floor built at opt-level 3 with `opt3`).
pub(crate) fn callgrind_floor(body: &str, opt3: bool) -> io::Result<u64> {
    const K: usize = 3;
    let file = std::env::temp_dir().join(format!("{}-body.json", out_prefix()));
    std::fs::write(&file, body)?;
    let count = |k: usize| -> io::Result<u64> {
        let mut cmd = callgrind_command(std::env::current_exe()?);
        cmd.arg("--scan-floor")
            .arg(&file)
            .arg(k.to_string())
            .arg(if opt3 { "3" } else { "z" })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn()?;
        let pid = child.id();
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "scan-floor under callgrind: {}",
                out.status
            )));
        }
        let path = std::env::temp_dir().join(format!("{}.{pid}.out", out_prefix()));
        let n = totals(&path);
        let _ = std::fs::remove_file(&path);
        n
    };
    let result = (|| {
        let zero = count(0)?;
        let k = count(K)?;
        Ok(k.saturating_sub(zero) / K as u64)
    })();
    let _ = std::fs::remove_file(&file);
    result
}

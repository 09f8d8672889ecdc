//! Probes: a server's CPU time and memory from `/proc`, thread CPU clocks,
//! CPU pinning and the open-file limit.

/// Raises the soft limit on open files to the hard limit (children inherit
/// it); returns the new soft limit.
pub(crate) fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

/// How to read a server's CPU time and memory.
pub(crate) enum Probe {
    /// A child process: every thread's run time from schedstat; VmRSS.
    Process(u32),
    /// A thread of this process: its CPU-time clock.
    Thread(libc::clockid_t),
}

impl Probe {
    /// CPU time used so far (user + system), in nanoseconds.
    pub(crate) fn cpu_ns(&self) -> u64 {
        match self {
            Probe::Process(pid) => process_cpu_ns(*pid),
            Probe::Thread(clock) => clock_ns(*clock),
        }
    }

    /// Resident memory in KiB (processes only).
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        match self {
            Probe::Process(pid) => status_kib(*pid, "VmRSS:"),
            Probe::Thread(_) => None,
        }
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `RssAnon:`, `RssFile:`).
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sum of the first field of `/proc/<pid>/task/*/schedstat` (time on CPU,
/// ns); falls back to utime + stime from `/proc/<pid>/stat` (clock ticks).
pub(crate) fn process_cpu_ns(pid: u32) -> u64 {
    let mut total = 0u64;
    let mut any = false;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in dir.flatten() {
            let path = task.path().join("schedstat");
            if let Ok(s) = std::fs::read_to_string(path) {
                if let Some(ns) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    total += ns;
                    any = true;
                }
            }
        }
    }
    if any {
        return total;
    }
    proc_stat(pid).map_or(0, |s| s.user_ns + s.system_ns)
}

/// What `/proc/<pid>/stat` says of a process's CPU time (clock ticks, so
/// 10 ms steps) and page faults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcStat {
    pub(crate) user_ns: u64,
    pub(crate) system_ns: u64,
    /// Page faults served without I/O (e.g. fresh anonymous pages).
    pub(crate) minor_faults: u64,
}

pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" that ends the command name: minflt is the 8th,
    // utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ProcStat {
        user_ns: f.get(11)? * 1_000_000_000 / hz,
        system_ns: f.get(12)? * 1_000_000_000 / hz,
        minor_faults: *f.get(7)?,
    })
}

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a local timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub(crate) fn this_thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

pub(crate) fn thread_clock<T>(handle: &std::thread::JoinHandle<T>) -> libc::clockid_t {
    use std::os::unix::thread::JoinHandleExt;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive (joined only later) and `clock` is a local.
    unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t() as libc::pthread_t, &mut clock) };
    clock
}

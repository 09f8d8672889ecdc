//! The open-file limit: raised for the server's connections and the
//! `device` command's sockets, so that a soft limit of 1,024 does not cut
//! them short.

use std::io;

/// Raises the soft limit on open files to the hard limit and returns the
/// soft limit in force afterwards (`None` when it cannot be read). Best
/// effort: where it stays low, the server refuses sooner (accept errors are
/// retried, and capacity is answered with 503) and devices fail to connect.
pub fn raise() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        log::debug!(
            "cannot read the open-file limit: {}",
            io::Error::last_os_error()
        );
        return None;
    }
    if lim.rlim_cur >= lim.rlim_max {
        log::debug!("open-file limit: {} (already the hard limit)", lim.rlim_cur);
        return Some(lim.rlim_cur);
    }
    let old = lim.rlim_cur;
    let mut targets = vec![lim.rlim_max];
    if cfg!(target_os = "macos") {
        // macOS refuses more than OPEN_MAX (10,240) even when the hard
        // limit says "unlimited".
        targets.push(lim.rlim_max.min(10_240));
    }
    for target in targets {
        let new = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            log::debug!("open-file limit raised from {old} to {target}");
            return Some(target);
        }
    }
    log::debug!(
        "open-file limit stays at {old}: {}",
        io::Error::last_os_error()
    );
    Some(old)
}

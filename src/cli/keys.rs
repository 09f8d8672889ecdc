//! Keyboard shortcuts while the server runs in a terminal: `r` resyncs
//! every device, `d` lists them, `o` opens the landing page, `c` clears
//! the screen, `q` quits, `h`/`?` shows the list.
//!
//! Only when stdin is a terminal, and while this process is in its
//! foreground (a background job would be stopped by touching it; one
//! started with `&` takes the keys at `fg`). Then the terminal is
//! put in "cbreak" mode (no line buffering, no echo; signals and output
//! processing unchanged, so Ctrl-C still stops the server) and put back on
//! every way out: `q`, Ctrl-C, SIGTERM and a fatal error return through
//! [`RawMode`]'s `Drop`; a panic through the panic hook installed here
//! (release builds abort on panic, so no `Drop` would run).
//!
//! No thread is added: the main thread, which would otherwise only wait
//! for the server thread, polls stdin and a socket that the server thread
//! closes when it ends, and drives the server through its [`Handle`].

use super::banner::Banner;
use crate::hub::DeviceHealth;
use crate::server::Handle;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, Once};

/// The terminal settings to put back, for the panic hook.
static SAVED: Mutex<Option<(RawFd, libc::termios)>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// A terminal in cbreak mode while this process is in its foreground;
/// restores the saved settings on drop.
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    /// The settings to put back, taken the first time the process was in
    /// front (a job started in the background, `&`, takes them at `fg`:
    /// what the shell hands over then, not its line editor's).
    saved: Cell<Option<libc::termios>>,
}

impl RawMode {
    /// When `fd` is a terminal: cbreak mode now if this process is in its
    /// foreground, else at the first [`RawMode::resume`] that finds it
    /// there. `None` when `fd` is no terminal (nothing is changed).
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // Our controlling terminal only (a terminal on stdin that is not,
        // as after `setsid`, can never put us in its foreground).
        // SAFETY: isatty and tcgetpgrp take no pointer.
        if unsafe { libc::isatty(fd) != 1 || libc::tcgetpgrp(fd) < 0 } {
            return None;
        }
        let raw = RawMode {
            fd,
            saved: Cell::new(None),
        };
        if foreground(fd) && !raw.resume() {
            return None;
        }
        Some(raw)
    }

    /// Puts the saved settings back for a while (before the process stops
    /// on Ctrl-Z).
    fn suspend(&self) {
        if let Some(saved) = self.saved.get() {
            set_attr(self.fd, &saved);
        }
    }

    /// Cbreak mode (again), if the process is in the foreground (at start,
    /// after `fg`); false when it is not (in the background touching the
    /// terminal would stop it).
    fn resume(&self) -> bool {
        if !foreground(self.fd) {
            return false;
        }
        let saved = match self.saved.get() {
            Some(s) => s,
            None => {
                let Some(s) = get_attr(self.fd) else {
                    return false;
                };
                install_panic_hook();
                if let Ok(mut g) = SAVED.lock() {
                    *g = Some((self.fd, s));
                }
                self.saved.set(Some(s));
                s
            }
        };
        set_attr(self.fd, &cbreak(saved))
    }
}

/// Whether `fd` is a terminal whose foreground process group is ours.
fn foreground(fd: RawFd) -> bool {
    // SAFETY: isatty, tcgetpgrp and getpgrp take no pointers.
    unsafe { libc::isatty(fd) == 1 && libc::tcgetpgrp(fd) == libc::getpgrp() }
}

/// Whether `fd` is this process's controlling terminal and another process
/// group is in its foreground: setting its attributes would stop us.
fn in_background(fd: RawFd) -> bool {
    // SAFETY: tcgetpgrp and getpgrp take no pointers.
    unsafe {
        let front = libc::tcgetpgrp(fd);
        front >= 0 && front != libc::getpgrp()
    }
}

/// `saved` without line buffering and echo: one byte per read.
fn cbreak(saved: libc::termios) -> libc::termios {
    let mut raw = saved;
    raw.c_lflag &= !(libc::ICANON | libc::ECHO);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    raw
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // In the background the terminal has the shell's settings (they
        // were put back when the process stopped), and setting them would
        // stop the process instead of letting it exit.
        if let (Some(saved), false) = (self.saved.get(), in_background(self.fd)) {
            set_attr(self.fd, &saved);
        }
        forget_saved();
    }
}

/// The terminal settings of `fd`, if it is a terminal.
fn get_attr(fd: RawFd) -> Option<libc::termios> {
    // SAFETY: termios is plain data, for which all zeroes is a valid value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr only writes the struct we pass, valid for the call.
    (unsafe { libc::tcgetattr(fd, &mut t) } == 0).then_some(t)
}

/// Applies terminal settings to `fd` now; false when it fails.
fn set_attr(fd: RawFd, t: &libc::termios) -> bool {
    // SAFETY: tcsetattr only reads the struct we pass, valid for the call.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) == 0 }
}

fn forget_saved() {
    if let Ok(mut s) = SAVED.lock() {
        *s = None;
    }
}

/// Restores the terminal, if it is in cbreak mode, before the previous
/// hook reports the panic.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // try_lock: the panic may have happened while the lock was held.
            if let Ok(mut s) = SAVED.try_lock() {
                if let Some((fd, saved)) = s.take().filter(|&(fd, _)| !in_background(fd)) {
                    set_attr(fd, &saved);
                }
            }
            previous(info);
        }));
    });
}

/// The shortcut list `h` prints.
pub const HELP: &str = "
  Shortcuts
  press r to resync every device with a full update
  press d to list the devices
  press o to open the landing page in the browser
  press c to clear the screen
  press q to quit
  press h or ? to show this help
";

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `r`
    Resync,
    /// `d`
    Devices,
    /// `o`
    Open,
    /// `c`
    Clear,
    /// `q`
    Quit,
    /// `h` or `?`
    Help,
}

impl Key {
    /// The shortcut of a byte typed, if it is one (capitals too).
    pub fn from_byte(b: u8) -> Option<Key> {
        Some(match b.to_ascii_lowercase() {
            b'r' => Key::Resync,
            b'd' => Key::Devices,
            b'o' => Key::Open,
            b'c' => Key::Clear,
            b'q' => Key::Quit,
            b'h' | b'?' => Key::Help,
            _ => return None,
        })
    }
}

/// A socket that becomes readable when `signal` arrives.
fn on_signal(signal: libc::c_int) -> Option<UnixStream> {
    let (rx, tx) = UnixStream::pair().ok()?;
    rx.set_nonblocking(true).ok()?;
    signal_hook::low_level::pipe::register(signal, tx).ok()?;
    Some(rx)
}

/// Reads what a signal socket holds, so it is not readable again until the
/// next signal.
fn drain(s: &UnixStream) {
    let mut buf = [0u8; 16];
    while matches!((&*s).read(&mut buf), Ok(n) if n > 0) {}
}

/// Runs the shortcuts until the server thread ends (it closes its end of
/// `done`). Stdin at end of file or failing is simply no longer read.
///
/// Ctrl-Z (SIGTSTP) puts the terminal's settings back before the process
/// stops; when it is continued in the foreground (`fg`) cbreak mode
/// returns. While it runs in the background (`bg`) stdin is not read and
/// the terminal not touched; every 250 ms it looks whether it is back in
/// front.
pub fn run(raw: &RawMode, handle: &Handle, done: &UnixStream, banner: &mut Banner<'_>, page: &str) {
    let mut stdin_open = true;
    let mut in_front = foreground(libc::STDIN_FILENO);
    let mut openers: Vec<libc::pid_t> = Vec::new();
    let mut quitting = false;
    let stop = on_signal(libc::SIGTSTP);
    let cont = on_signal(libc::SIGCONT);
    let fd = |s: &Option<UnixStream>| s.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    loop {
        openers.retain(|&pid| running(pid));
        let poll = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            poll(if stdin_open && in_front {
                libc::STDIN_FILENO
            } else {
                -1
            }),
            poll(done.as_raw_fd()),
            poll(fd(&stop)),
            poll(fd(&cont)),
        ];
        // In the background, look every 250 ms whether `fg` brought the
        // process back (a running job gets no signal for that).
        let timeout = if in_front { -1 } else { 250 };
        // SAFETY: poll reads and writes the four structs of the array.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Cannot wait for keys: wait for the server alone.
            let _ = (&*done).read(&mut [0u8; 1]);
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if !in_front && foreground(libc::STDIN_FILENO) {
            in_front = raw.resume();
        }
        if let (Some(s), true) = (&stop, fds[2].revents != 0) {
            drain(s);
            raw.suspend();
            // SAFETY: raise only sends a signal to this process. SIGSTOP,
            // unlike the SIGTSTP we caught, always stops it.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
            // Continued: back in cbreak mode if in the foreground.
            in_front = raw.resume();
            continue;
        }
        if let (Some(s), true) = (&cont, fds[3].revents != 0) {
            drain(s);
            in_front = raw.resume();
            continue;
        }
        if fds[0].revents == 0 {
            continue;
        }
        if !foreground(libc::STDIN_FILENO) {
            // Sent to the background: reading would stop the process.
            in_front = false;
            continue;
        }
        let mut buf = [0u8; 64];
        let got = match io::stdin().lock().read(&mut buf) {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => None,
        };
        let Some(got) = got else {
            stdin_open = false;
            continue;
        };
        for key in buf[..got].iter().filter_map(|&b| Key::from_byte(b)) {
            if quitting {
                break;
            }
            match key {
                Key::Resync => match handle.resync_all() {
                    Ok(n) => log::info!(
                        "resync: sent the current schema in full to {n} device{}",
                        if n == 1 { "" } else { "s" }
                    ),
                    Err(e) => log::warn!("resync failed: {e}"),
                },
                Key::Devices => say!("{}", device_list(handle)),
                Key::Open => {
                    say!("  opening {page}");
                    if let Some(child) = open_in_browser(page) {
                        openers.push(child);
                    }
                }
                Key::Clear => {
                    banner.now_ms = crate::protocol::now_ms();
                    banner.columns = super::banner::terminal_columns();
                    say!(
                        "\x1b[2J\x1b[3J\x1b[H{}",
                        banner.render().trim_end_matches('\n')
                    );
                }
                Key::Quit => {
                    say!("  shutting down");
                    quitting = true;
                    handle.shutdown();
                }
                Key::Help => say!("{}", HELP.trim_end()),
            }
        }
    }
}

unsafe extern "C" {
    /// The process environment, passed on to the opener.
    static environ: *const *mut libc::c_char;
}

/// Starts the desktop's opener (`open` on macOS, `xdg-open` elsewhere)
/// with its standard streams on `/dev/null`; returns its pid, or `None`,
/// quietly, where there is none. `posix_spawnp` rather than
/// `std::process::Command`, which costs 33 KB of binary.
fn open_in_browser(url: &str) -> Option<libc::pid_t> {
    let opener: &CStr = if cfg!(target_os = "macos") {
        c"open"
    } else {
        c"xdg-open"
    };
    let url = CString::new(url).ok()?;
    let argv = [
        opener.as_ptr().cast_mut(),
        url.as_ptr().cast_mut(),
        std::ptr::null_mut(),
    ];
    let mut pid: libc::pid_t = 0;
    // SAFETY: the file actions are initialised before use and destroyed
    // after; every pointer (program, argv, environ, "/dev/null") stays valid
    // for the calls, and argv is null-terminated.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        if libc::posix_spawn_file_actions_init(&mut actions) != 0 {
            return None;
        }
        for (fd, flags) in [
            (libc::STDIN_FILENO, libc::O_RDONLY),
            (libc::STDOUT_FILENO, libc::O_WRONLY),
            (libc::STDERR_FILENO, libc::O_WRONLY),
        ] {
            libc::posix_spawn_file_actions_addopen(
                &mut actions,
                fd,
                c"/dev/null".as_ptr(),
                flags,
                0,
            );
        }
        let r = libc::posix_spawnp(
            &mut pid,
            opener.as_ptr(),
            &actions,
            std::ptr::null(),
            argv.as_ptr(),
            environ,
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        (r == 0).then_some(pid)
    }
}

/// Whether a child started by [`open_in_browser`] is still running; reaps
/// it once it has ended.
fn running(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on our own child, writing only `status`.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 }
}

/// The `d` listing: every registered device of every session.
fn device_list(handle: &Handle) -> String {
    let sessions = match handle.stats() {
        Ok(s) => s.session_details,
        Err(e) => return format!("  cannot list the devices: {e}"),
    };
    let mut rows = Vec::new();
    for s in &sessions {
        let Ok(health) = handle.session_health(&s.id) else {
            continue;
        };
        for d in &health.devices {
            rows.push(device_row(&s.id, d));
        }
    }
    format_devices(&rows, sessions.len())
}

/// One row of the listing: name, platform, session, health, last ack,
/// apply time.
fn device_row(session: &str, d: &DeviceHealth) -> [String; 6] {
    let ack = match (d.last_ack_sequence, d.last_ack_success) {
        (Some(n), Some(true)) => format!("#{n} ok"),
        (Some(n), _) => format!("#{n} failed"),
        (None, _) => "none".into(),
    };
    let apply = d
        .last_apply_time_ms
        .map(|ms| format!("{ms:.2} ms"))
        .unwrap_or_else(|| "-".into());
    let health = if d.healthy {
        "healthy".to_string()
    } else {
        format!("silent {:.0}s", d.time_since_last_ping_ms as f64 / 1000.0)
    };
    [
        printable(d.device_name.as_deref().unwrap_or("?")),
        printable(&d.platform),
        session.chars().take(8).collect(),
        health,
        ack,
        apply,
    ]
}

/// Text from outside (device names, interface names) made safe for the
/// terminal and short.
pub(crate) fn printable(s: &str) -> String {
    const MAX: usize = 24;
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX)
        .collect();
    if s.chars().count() > MAX {
        out.pop();
        out.push('…');
    }
    out
}

/// The listing as aligned columns.
fn format_devices(rows: &[[String; 6]], sessions: usize) -> String {
    let s = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut out = format!(
        "\n  {} in {}",
        s(rows.len(), "device", "devices"),
        s(sessions, "session", "sessions")
    );
    if rows.is_empty() {
        return out;
    }
    let header = ["NAME", "PLATFORM", "SESSION", "HEALTH", "LAST ACK", "APPLY"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        out.push_str("\n  ");
        for (i, (w, cell)) in widths.iter().zip(row).enumerate() {
            out.push_str(cell);
            if i < 5 {
                let pad = w - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str, platform: &str, healthy: bool) -> DeviceHealth {
        DeviceHealth {
            connection_id: "c".into(),
            device_id: "d".into(),
            device_name: Some(name.into()),
            platform: platform.into(),
            healthy,
            last_ping_ms: 0,
            time_since_last_ping_ms: 0,
            last_ack_sequence: None,
            last_ack_success: None,
            last_apply_time_ms: None,
            sequence_lag: None,
        }
    }

    #[test]
    fn keys() {
        assert_eq!(Key::from_byte(b'r'), Some(Key::Resync));
        assert_eq!(Key::from_byte(b'Q'), Some(Key::Quit));
        assert_eq!(Key::from_byte(b'?'), Some(Key::Help));
        assert_eq!(Key::from_byte(b'h'), Some(Key::Help));
        assert_eq!(Key::from_byte(b'\n'), None);
        assert_eq!(Key::from_byte(3), None);
    }

    #[test]
    fn device_rows_say_health_ack_and_apply_time() {
        let d = DeviceHealth {
            last_ack_sequence: Some(4),
            last_ack_success: Some(true),
            last_apply_time_ms: Some(0.4213),
            ..device("Pixel\x1b[31m 7", "android", true)
        };
        let row = device_row("2f6c1e2a-8d3b-4c5e-9f10-3a4b5c6d7e8f", &d);
        assert_eq!(
            row,
            [
                "Pixel?[31m 7",
                "android",
                "2f6c1e2a",
                "healthy",
                "#4 ok",
                "0.42 ms"
            ]
            .map(String::from)
        );
        let d = DeviceHealth {
            time_since_last_ping_ms: 61_000,
            ..device(&"x".repeat(40), "ios", false)
        };
        let row = device_row("s", &d);
        assert_eq!(row[0].chars().count(), 24);
        assert!(row[0].ends_with('…'));
        assert_eq!(
            (row[3].as_str(), row[4].as_str(), row[5].as_str()),
            ("silent 61s", "none", "-")
        );
        let text = format_devices(&[row], 1);
        assert!(text.contains("1 device in 1 session"));
        assert!(text.contains("NAME"));
        assert_eq!(format_devices(&[], 2), "\n  0 devices in 2 sessions");
    }

    #[test]
    fn not_a_terminal_changes_nothing() {
        let (a, _b) = UnixStream::pair().expect("socketpair");
        assert!(RawMode::enter(a.as_raw_fd()).is_none());
    }

    /// A pseudo-terminal whose settings we can read back.
    fn pty() -> (RawFd, RawFd) {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes the two descriptors; the rest may be null.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "openpty: {}", io::Error::last_os_error());
        (master, slave)
    }

    fn lflag(fd: RawFd) -> libc::tcflag_t {
        get_attr(fd).expect("tcgetattr").c_lflag
    }

    #[test]
    fn a_panic_restores_the_terminal() {
        let (master, slave) = pty();
        let before = lflag(slave);
        assert_ne!(before & libc::ICANON, 0);
        // The pty is not our controlling terminal, so enter() refuses it;
        // put it in cbreak mode the way enter() does and keep what to restore.
        let saved = get_attr(slave).expect("tcgetattr");
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        assert!(set_attr(slave, &raw));
        install_panic_hook();
        *SAVED.lock().unwrap() = Some((slave, saved));
        assert_eq!(lflag(slave) & libc::ICANON, 0);
        let caught = std::panic::catch_unwind(|| panic!("on purpose, to test the hook"));
        assert!(caught.is_err());
        assert_eq!(lflag(slave), before, "the hook restored the terminal");
        assert!(SAVED.lock().unwrap().is_none());
        // SAFETY: closes the two descriptors openpty gave us, used no more.
        unsafe {
            libc::close(master);
            libc::close(slave);
        }
    }
}

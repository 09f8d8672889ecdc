//! Keyboard shortcuts, driven for real: the binary runs in a tmux pane (a
//! pseudo-terminal), keys are sent with `send-keys` and the screen is read
//! with `capture-pane`. Every wait is bounded. After the server exits the
//! pane's shell records `stty -a`, to check the terminal was put back.
//! Without tmux these tests say so and do nothing.

use crate::common::{Device, http, schema, text};
use crate::support::SOON;
use serde_json::json;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, binary};

/// A tmux server of our own (its own socket) with one pane running the
/// binary; killed on drop.
struct Pane {
    socket: String,
    dir: PathBuf,
}

impl Pane {
    /// `None` (after saying why) when tmux cannot run here.
    fn start(args: &str) -> Option<Pane> {
        Pane::run(|dir| {
            // The inner shell prints its pid and becomes the server (exec),
            // in the foreground of the pane; the outer one records how it
            // ended.
            format!(
                "sh -c 'echo pid=$$; exec {BIN} --host 127.0.0.1 --port 0 --no-qr --coalesce-ms 0 {args}'; \
                 echo exit=$?; stty -a > {dir}/stty; echo recorded; sleep 600",
                dir = dir.display()
            )
        })
    }

    /// An interactive shell with job control (bash) in the pane, to type
    /// commands into.
    fn shell() -> Option<Pane> {
        Pane::run(|_| "PS1='$ ' bash --norc --noprofile -i".to_string())
    }

    fn run(script: impl FnOnce(&std::path::Path) -> String) -> Option<Pane> {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("SKIPPED: tmux is not installed; the keyboard shortcuts are not tested");
            return None;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("lumora-term-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // A stand-in for the desktop's opener: records what it was asked.
        let opener = dir.join("xdg-open");
        std::fs::write(
            &opener,
            format!("#!/bin/sh\necho \"$1\" > {}/opened\n", dir.display()),
        )
        .expect("opener");
        Command::new("chmod")
            .arg("+x")
            .arg(&opener)
            .status()
            .expect("chmod");
        let script = script(&dir);
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let socket = format!("lumora-{id}");
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "60",
            ])
            .arg(script)
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env_remove("LUMORA_TOKEN")
            .env_remove("TMUX")
            .status()
            .expect("tmux");
        assert!(status.success(), "tmux new-session failed");
        Some(Pane { socket, dir })
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-S", "-200"])
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "0", keys]);
    }

    /// Types `line` into the pane and presses Enter.
    fn type_line(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", line]);
        self.keys("Enter");
    }

    /// Waits until the terminal is in cbreak mode.
    fn wait_raw(&self, what: &str) {
        let deadline = Instant::now() + SOON;
        while !raw(&self.stty_now()) {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the screen shows `needle`; returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + SOON;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {needle:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits for the banner; returns the server's address and its pid.
    fn ready(&self) -> (SocketAddr, i32) {
        let screen = self.wait_for("press h for help");
        let addr = screen
            .lines()
            .find_map(|l| l.trim().strip_prefix("Listening  http://"))
            .and_then(|a| a.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no address:\n{screen}"));
        let pid = screen
            .lines()
            .find_map(|l| l.trim().strip_prefix("pid="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid:\n{screen}"));
        (addr, pid)
    }

    /// The pane's terminal settings, read from outside while it runs.
    fn stty_now(&self) -> String {
        let tty = self.tmux(&["display-message", "-p", "-t", "0", "#{pane_tty}"]);
        let out = Command::new("stty")
            .args(["-a", "-F", tty.trim()])
            .output()
            .expect("stty");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits for the server to exit; returns its exit code and the settings
    /// the terminal had afterwards.
    fn exited(&self) -> (i32, String) {
        let screen = self.wait_for("recorded");
        let code = screen
            .lines()
            .find_map(|l| l.trim().strip_prefix("exit="))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no exit code:\n{screen}"));
        let stty = std::fs::read_to_string(self.dir.join("stty")).expect("stty recorded");
        (code, stty)
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The flags that make a terminal line-buffered and echoing.
fn cooked(stty: &str) -> bool {
    let words: Vec<&str> = stty.split_whitespace().collect();
    words.contains(&"icanon") && words.contains(&"echo")
}

fn raw(stty: &str) -> bool {
    let words: Vec<&str> = stty.split_whitespace().collect();
    words.contains(&"-icanon") && words.contains(&"-echo")
}

#[test]
fn shortcuts_drive_the_server_and_q_restores_the_terminal() {
    let Some(pane) = Pane::start("") else { return };
    let (addr, _) = pane.ready();
    assert!(raw(&pane.stty_now()), "cbreak mode while serving");

    pane.keys("h");
    let screen = pane.wait_for("press q to quit");
    for key in ["press r", "press d", "press o", "press c", "press h or ?"] {
        assert!(screen.contains(key), "{key}:\n{screen}");
    }

    // A device with a schema: r sends it the schema again, in full.
    let (_, startup) = http(addr, "GET", "/session/startup", None);
    let session = startup["sessionId"].as_str().expect("session").to_string();
    let v1 = schema(json!([text("t", "one")]));
    let (status, _) = http(addr, "POST", &format!("/send/{session}"), Some(&v1));
    assert_eq!(status, 200);
    let mut msg = Device::connect_msg(&session, "phone-1");
    msg["payload"]["deviceName"] = json!("Term Phone");
    msg["payload"]["platform"] = json!("android");
    let mut device = Device::open(addr, &format!("/ws?session={session}"));
    device.send(&msg);
    device.recv_type("connected");
    pane.keys("r");
    pane.wait_for("sent the current schema in full to 1 device");
    let update = device.recv_type("update");
    assert_eq!(update["payload"]["type"], "full", "{update}");
    assert_eq!(update["payload"]["sequenceNumber"], 1, "{update}");

    pane.keys("d");
    let screen = pane.wait_for("1 device in 1 session");
    let row = screen
        .lines()
        .find(|l| l.trim_start().starts_with("Term Phone"))
        .unwrap_or_else(|| panic!("no row:\n{screen}"));
    assert!(
        row.contains("android") && row.contains(&session[..8]),
        "{row}"
    );
    assert!(row.contains("healthy"), "{row}");

    pane.keys("o");
    let opened = pane.dir.join("opened");
    let deadline = Instant::now() + SOON;
    while !opened.exists() {
        assert!(Instant::now() < deadline, "the opener was not run");
        std::thread::sleep(Duration::from_millis(30));
    }
    let deadline = Instant::now() + SOON;
    let url = loop {
        let url = std::fs::read_to_string(&opened).unwrap_or_default();
        if url.ends_with('\n') || Instant::now() > deadline {
            break url;
        }
        std::thread::sleep(Duration::from_millis(30));
    };
    assert_eq!(url.trim(), format!("http://{addr}/"));

    // c clears the screen (the help is gone) and reprints the banner.
    pane.keys("c");
    let deadline = Instant::now() + SOON;
    loop {
        let screen = pane.screen();
        if !screen.contains("press q to quit") && screen.contains("press h for help") {
            assert!(screen.contains("Listening  http://"), "{screen}");
            break;
        }
        assert!(Instant::now() < deadline, "not cleared:\n{screen}");
        std::thread::sleep(Duration::from_millis(30));
    }

    pane.keys("q");
    let (code, stty) = pane.exited();
    assert_eq!(code, 0);
    assert!(cooked(&stty), "terminal restored after q:\n{stty}");
    assert_eq!(device.expect_close().0, 1001);
}

#[test]
fn ctrl_c_and_sigterm_restore_the_terminal() {
    let Some(pane) = Pane::start("") else { return };
    pane.ready();
    assert!(raw(&pane.stty_now()));
    pane.keys("C-c");
    let (code, stty) = pane.exited();
    assert_eq!(code, 0);
    assert!(cooked(&stty), "terminal restored after Ctrl-C:\n{stty}");

    let Some(pane) = Pane::start("") else { return };
    let (_, pid) = pane.ready();
    assert!(raw(&pane.stty_now()));
    // SAFETY: kill sends a signal to the server we started in the pane.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let (code, stty) = pane.exited();
    assert_eq!(code, 0);
    assert!(cooked(&stty), "terminal restored after SIGTERM:\n{stty}");
}

/// The state letter of a process (`R`, `S`, `T` for stopped, ...).
fn process_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(") ")
        .next()
        .and_then(|rest| rest.chars().next())
        .unwrap_or('?')
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_z_gives_the_terminal_back_and_continuing_takes_it_again() {
    let Some(pane) = Pane::start("") else { return };
    let (_, pid) = pane.ready();
    assert!(raw(&pane.stty_now()));
    pane.keys("C-z");
    let deadline = Instant::now() + SOON;
    while process_state(pid) != 'T' {
        assert!(Instant::now() < deadline, "Ctrl-Z did not stop the server");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cooked(&pane.stty_now()), "settings put back while stopped");
    // SAFETY: kill sends a signal to the server we started in the pane.
    unsafe {
        libc::kill(pid, libc::SIGCONT);
    }
    pane.wait_raw("cbreak mode did not come back");
    pane.keys("h");
    pane.wait_for("press q to quit");
    pane.keys("q");
    let (code, stty) = pane.exited();
    assert_eq!(code, 0);
    assert!(cooked(&stty), "{stty}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_server_started_in_the_background_takes_the_keys_at_fg() {
    let Some(pane) = Pane::shell() else { return };
    pane.wait_for("$");
    pane.type_line(&format!(
        "{BIN} --host 127.0.0.1 --port 0 --no-qr & echo pid=$!"
    ));
    let (_, pid) = pane.ready();
    pane.type_line("fg");
    // In front now: cbreak mode within the 250 ms the server looks.
    pane.wait_raw("cbreak mode never came at fg");
    pane.keys("h");
    pane.wait_for("press q to quit");
    pane.keys("q");
    let deadline = Instant::now() + SOON;
    while process_state(pid) != '?' {
        assert!(Instant::now() < deadline, "q did not stop the server");
        std::thread::sleep(Duration::from_millis(20));
    }
    pane.type_line("echo done=$?");
    pane.wait_for("done=0");
}

/// A terminal on stdin that is not the process's own (it runs in a session
/// of its own, as after `setsid`) can never give it the keys: no promise of
/// them in the banner.
#[cfg(target_os = "linux")]
#[test]
fn a_terminal_that_is_not_ours_gets_no_shortcuts() {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
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
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are ours; the File owns (and closes) each.
    let (_master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut command = binary(&[
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-qr",
        "--no-state",
    ]);
    command.stdin(Stdio::from(slave)).stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn");
    let out = crate::common::lines(child.stdout.take().expect("stdout"));
    let mut banner = Vec::new();
    // The banner is one write: what follows its push line is there at once.
    while !banner.iter().any(|l: &String| l.contains("curl -X POST")) {
        banner.push(out.recv_timeout(SOON).expect("banner"));
    }
    while let Ok(line) = out.recv_timeout(Duration::from_millis(500)) {
        banner.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!banner.iter().any(|l| l.contains("press h")), "{banner:#?}");
}

#[test]
fn without_a_terminal_keys_are_ordinary_input_and_change_nothing() {
    let mut child = binary(&["--host", "127.0.0.1", "--port", "0", "--no-qr"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    let addr: SocketAddr = loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stdout, &mut line).expect("read");
        assert!(n > 0, "no banner: {banner}");
        banner.push_str(&line);
        if let Some(a) = line.trim().strip_prefix("Listening  http://") {
            break a.parse().expect("address");
        }
    };
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"q\nrdco\n").expect("write");
    stdin.flush().expect("flush");
    // Still serving, with stdin open and unread, then with it closed.
    let (status, _) = http(addr, "GET", "/health", None);
    assert_eq!(status, 200);
    drop(stdin);
    let (status, _) = http(addr, "GET", "/health", None);
    assert_eq!(status, 200);
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "q did not quit"
    );
    // SAFETY: signals our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + SOON;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The whole banner, now that stdout is closed: no shortcut hint.
    std::io::Read::read_to_string(&mut stdout, &mut banner).expect("read");
    assert!(banner.contains("Push"), "{banner}");
    assert!(!banner.contains("press h"), "{banner}");
    assert_eq!(status.code(), Some(0));
}

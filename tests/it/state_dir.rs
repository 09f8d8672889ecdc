//! Durable state against the real binary: `kill -9` and restart on the same
//! port and state directory, damaged state files, a state directory that
//! cannot be used, a disk that refuses writes.

use crate::common::{TempDir, binary, http, lines, wait_until};
use crate::resume::{Phone, new_state, v};
use lumora_hr_mini::client::Join;
use lumora_hr_mini::hub::persist::{SessionSnapshot, decode_session, encode_session};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const SOON: Duration = Duration::from_secs(15);

/// A `serve` process: its address, startup session and log lines.
struct Served {
    child: Child,
    addr: SocketAddr,
    session: String,
    err: Receiver<String>,
    err_seen: Vec<String>,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        Served::start_with(args, |_| {})
    }

    fn start_with(args: &[&str], tweak: impl FnOnce(&mut Command)) -> Served {
        Served::start_on([127, 0, 0, 1], args, tweak)
    }

    fn start_on(host: [u8; 4], args: &[&str], tweak: impl FnOnce(&mut Command)) -> Served {
        let ip = std::net::Ipv4Addr::from(host).to_string();
        let mut cmd = binary(&["serve", "--host", &ip, "--no-qr", "--coalesce-ms", "0"]);
        cmd.args(args);
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("spawn the server");
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        let listening = wait_line(&out, &mut seen, "Listening");
        let session = wait_line(&out, &mut seen, "Session ");
        let port: u16 = listening
            .rsplit(':')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let session = session.split_whitespace().nth(1).unwrap().to_string();
        Served {
            child,
            addr: SocketAddr::from((host, port)),
            session,
            err,
            err_seen: Vec::new(),
        }
    }

    fn stderr_line(&mut self, needle: &str) -> String {
        wait_line(&self.err, &mut self.err_seen, needle)
    }

    /// `kill -9`.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then every log line until exit.
    fn stop(mut self) -> Vec<String> {
        // SAFETY: kill only sends a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + SOON;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        while let Ok(l) = self.err.recv_timeout(SOON) {
            self.err_seen.push(l);
        }
        std::mem::take(&mut self.err_seen)
    }

    fn push(&self, schema: &Value) -> Value {
        let (status, body) = http(
            self.addr,
            "POST",
            &format!("/send/{}", self.session),
            Some(schema),
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    fn session_json(&self) -> Value {
        http(
            self.addr,
            "GET",
            &format!("/session/{}", self.session),
            None,
        )
        .1
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_line(rx: &Receiver<String>, seen: &mut Vec<String>, needle: &str) -> String {
    if let Some(l) = seen.iter().find(|l| l.contains(needle)) {
        return l.clone();
    }
    let deadline = Instant::now() + SOON;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("no line containing {needle:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

/// A push that reports a dead server as `None` instead of panicking.
fn try_push(addr: SocketAddr, path: &str, schema: &Value) -> Option<u16> {
    use std::io::{Read, Write};
    let body = schema.to_string();
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(SOON)).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    String::from_utf8_lossy(&out)
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn session_file(dir: &Path, port: u16, session: &str) -> PathBuf {
    dir.join(format!("port-{port}"))
        .join(format!("session-{session}.state"))
}

/// Waits until the session's file on disk holds sequence number `seq`.
fn wait_on_disk(file: &Path, seq: u64) -> SessionSnapshot {
    let mut last = None;
    crate::common::wait_for(
        SOON,
        &format!("#{seq} on disk in {}", file.display()),
        || {
            let s = std::fs::read(file)
                .ok()
                .and_then(|b| decode_session(&b).ok())?;
            last = Some(s.sequence);
            (s.sequence == seq).then_some(s)
        },
    )
}

#[test]
fn after_kill_9_the_same_session_resumes_and_up_to_date_devices_get_no_schema() {
    let dir = TempDir::new("state");
    let state_dir = dir.path().to_str().unwrap();
    let s = Served::start(&["--port", "0", "--state-dir", state_dir]);
    let port = s.addr.port();
    for n in 1..=5 {
        s.push(&v(n));
    }
    let mut phones: Vec<Phone> = (0..3)
        .map(|i| Phone::connect(s.addr, &s.session, new_state(&s.session, &format!("d{i}"))).0)
        .collect();
    for p in &mut phones {
        p.until(5);
    }
    let url = format!("ws://{}/ws?session={}", s.addr, s.session);
    let mut cli_device = binary(&["device", &url])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cli_out = lines(cli_device.stdout.take().unwrap());
    let mut cli_seen = Vec::new();
    wait_line(&cli_out, &mut cli_seen, "#5 full");

    let file = session_file(dir.path(), port, &s.session);
    let on_disk = wait_on_disk(&file, 5);
    assert_eq!(
        on_disk.schema.as_ref().unwrap().checksum(),
        phones[0].state.schema().unwrap().checksum()
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let session = s.session.clone();
    s.kill();

    let states: Vec<_> = phones.into_iter().map(Phone::until_closed).collect();
    let port_arg = port.to_string();
    let s = Served::start(&[
        "--port",
        &port_arg,
        "--strict-port",
        "--state-dir",
        state_dir,
    ]);
    assert_eq!(s.session, session, "the startup session keeps its id");
    assert_eq!(s.session_json()["sequenceNumber"], 5);
    for state in states {
        let (mut phone, join, connected) = Phone::connect(s.addr, &s.session, state);
        assert_eq!(join, Join::Resumed { at: 5, missed: 0 }, "{connected}");
        assert!(connected["payload"].get("initialSchema").is_none());
        phone.nothing_else_queued(&s.session);
        assert_eq!(phone.schema_bytes, 0);
    }
    wait_line(&cli_out, &mut cli_seen, "resumed at #5 (missed 0)");
    let reply = s.push(&v(6));
    assert_eq!(reply["updateType"], "incremental");
    let line = wait_line(&cli_out, &mut cli_seen, "#6 incremental");
    assert!(line.contains(reply["checksum"].as_str().unwrap()), "{line}");
    let _ = cli_device.kill();
    let _ = cli_device.wait();
}

#[test]
fn kill_9_in_the_middle_of_a_stream_of_pushes() {
    let dir = TempDir::new("state");
    let state_dir = dir.path().to_str().unwrap();
    let s = Served::start(&["--port", "0", "--state-dir", state_dir]);
    let port = s.addr.port();
    s.push(&v(1));
    let mut phones: Vec<Phone> = (0..4)
        .map(|i| Phone::connect(s.addr, &s.session, new_state(&s.session, &format!("d{i}"))).0)
        .collect();
    for p in &mut phones {
        p.until(1);
    }
    // Push as fast as the server answers until it is killed.
    let addr = s.addr;
    let path = format!("/send/{}", s.session);
    let pushed = Arc::new(std::sync::atomic::AtomicU32::new(1));
    let pusher = {
        let pushed = pushed.clone();
        std::thread::spawn(move || {
            for n in 2..2000 {
                if try_push(addr, &path, &v(n)) != Some(200) {
                    return;
                }
                pushed.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    // Kill once a few writes to disk have happened mid-stream.
    let file = session_file(dir.path(), port, &s.session);
    wait_until(SOON, "pushes written to disk", || {
        std::fs::read(&file)
            .ok()
            .and_then(|b| decode_session(&b).ok())
            .is_some_and(|x| x.sequence >= 30)
    });
    let session = s.session.clone();
    s.kill();
    let _ = pusher.join();
    let states: Vec<_> = phones.into_iter().map(Phone::until_closed).collect();

    let port_arg = port.to_string();
    let s = Served::start(&[
        "--port",
        &port_arg,
        "--strict-port",
        "--state-dir",
        state_dir,
    ]);
    assert_eq!(s.session, session);
    let restored = s.session_json();
    let r = restored["sequenceNumber"].as_u64().unwrap();
    let checksum = restored["checksum"].as_str().unwrap().to_string();
    assert!(r >= 30, "{restored}");
    assert!(r <= u64::from(pushed.load(std::sync::atomic::Ordering::SeqCst)) + 1);
    let mut phones = Vec::new();
    for state in states {
        let held = state.sequence();
        let (mut phone, join, _) = Phone::connect(s.addr, &s.session, state);
        match join {
            Join::Resumed { at, missed } => {
                assert_eq!((at, at + missed), (held, r));
                phone.until(r);
                assert_eq!(phone.schema_bytes, 0, "resumed without any schema");
            }
            Join::FullResync(why) => {
                // Only a device ahead of what reached the disk, or further
                // behind than the history, starts over.
                assert!(held > r || r - held >= 64, "#{held} vs #{r}: {why}");
            }
            Join::Fresh => panic!("the device held a schema"),
        }
        assert_eq!(phone.state.sequence(), r);
        assert_eq!(phone.state.schema().unwrap().checksum(), checksum);
        phones.push(phone);
    }
    let last = s.push(&v(5000));
    for p in &mut phones {
        p.until(r + 1);
        assert_eq!(
            p.state.schema().unwrap().checksum(),
            last["checksum"].as_str().unwrap()
        );
    }
}

/// A port directory holding `name` with `bytes`, for a server on `port`.
fn seeded(name: &str, bytes: &[u8]) -> (OnePort, PathBuf) {
    let one = OnePort::new();
    std::fs::create_dir_all(one.port_dir()).unwrap();
    let file = one.port_dir().join(name);
    std::fs::write(&file, bytes).unwrap();
    (one, file)
}

#[test]
fn damaged_state_files_are_moved_aside_and_the_server_starts_fresh() {
    let id = "6b1f3c2e-0d4a-4f5b-8c9d-0e1f2a3b4c5d";
    let good = encode_session(&SessionSnapshot {
        id: id.into(),
        created_at_ms: lumora_hr_mini::protocol::now_ms(),
        expires_at_ms: lumora_hr_mini::protocol::now_ms() + 3_600_000,
        sequence: 1,
        schema: Some(Arc::new(
            lumora_hr_mini::protocol::Schema::from_value(v(1)).unwrap(),
        )),
        schema_json: None,
        history: Vec::new(),
    });
    let session_name = format!("session-{id}.state");
    let cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
        (
            "empty session file",
            session_name.clone(),
            Vec::new(),
            "empty",
        ),
        (
            "truncated session file",
            session_name.clone(),
            good[..good.len() - 7].to_vec(),
            "truncated",
        ),
        (
            // A hand-edited number in the header: restored as it stood
            // before the header had a CRC of its own.
            "edited header",
            session_name.clone(),
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"sequenceNumber\":1", "\"sequenceNumber\":9", 1)
                .into_bytes(),
            "checksum does not match",
        ),
        (
            "garbage session file",
            session_name.clone(),
            b"\x7fELF\x02\x01 not state".to_vec(),
            "not a lumora-hr-mini state file",
        ),
        (
            "future version",
            session_name.clone(),
            b"lumora-hr-mini session state 7\n{}\n".to_vec(),
            "version 7",
        ),
        (
            "empty server.json",
            "server.json".into(),
            Vec::new(),
            "empty",
        ),
        (
            "garbage server.json",
            "server.json".into(),
            b"{\"format\": 1".to_vec(),
            "not a lumora-hr-mini state file",
        ),
        (
            "other server.json version",
            "server.json".into(),
            br#"{"format":"lumora-hr-mini server state","version":2,"serverEpoch":"e"}"#.to_vec(),
            "version 2",
        ),
    ];
    for (what, name, bytes, why) in cases {
        let (one, file) = seeded(&name, &bytes);
        let mut s = Served::start(&one.args());
        let line = s.stderr_line("moved it to");
        assert!(line.contains(why), "{what}: {line}");
        assert!(line.contains(file.to_str().unwrap()), "{what}: {line}");
        let aside: Vec<PathBuf> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_str().unwrap().contains(&format!("{name}.bad-")))
            .collect();
        assert_eq!(aside.len(), 1, "{what}: {aside:?}");
        assert_eq!(
            std::fs::read(&aside[0]).unwrap(),
            bytes,
            "{what}: kept as it was"
        );
        assert!(line.contains(aside[0].to_str().unwrap()), "{what}: {line}");
        // It serves, with a new startup session.
        assert_ne!(s.session, id, "{what}");
        assert_eq!(s.push(&v(2))["sequenceNumber"], 1, "{what}");
        assert_eq!(http(s.addr, "GET", "/health", None).0, 200, "{what}");
    }
}

/// A state directory and a free port kept for it (state is kept per port),
/// with the `serve` flags that use both.
struct OnePort {
    dir: TempDir,
    port: String,
}

impl OnePort {
    fn new() -> OnePort {
        OnePort {
            dir: TempDir::new("state"),
            port: free_port().to_string(),
        }
    }

    fn args(&self) -> [&str; 5] {
        [
            "--port",
            &self.port,
            "--strict-port",
            "--state-dir",
            self.dir.path().to_str().unwrap(),
        ]
    }

    /// The directory this port's state goes in.
    fn port_dir(&self) -> PathBuf {
        self.dir.path().join(format!("port-{}", self.port))
    }
}

/// More stored sessions than --max-sessions allows (the startup session
/// deleted and others made, or a lower limit than before): the server
/// starts, with the startup session (or room for a new one) and the newest,
/// and says once how many it left on disk.
#[test]
fn a_full_state_dir_still_starts_with_its_startup_session() {
    let one = OnePort::new();
    let with_limit = |n| [&one.args()[..], &["--max-sessions", n]].concat();
    let args = with_limit("5");
    // The startup session deleted, and the cap filled with others.
    let s = Served::start(&args);
    let (status, _) = http(s.addr, "DELETE", &format!("/session/{}", s.session), None);
    assert_eq!(status, 200);
    let mut made = Vec::new();
    for _ in 0..5 {
        let (status, r) = http(s.addr, "POST", "/session/new", None);
        assert_eq!(status, 201, "{r}");
        made.push(r["sessionId"].as_str().unwrap().to_string());
        // Creation times a millisecond apart: "the newest" is one answer.
        let t = crate::support::now_ms();
        while crate::support::now_ms() == t {
            std::hint::spin_loop();
        }
    }
    s.stop();
    let mut s = Served::start(&args);
    let line = s.stderr_line("not restored");
    assert!(line.contains("1 stored session(s)"), "{line}");
    assert!(line.contains("with a new startup session"), "{line}");
    assert!(!made.contains(&s.session), "a new startup session");
    for id in &made[1..] {
        assert_eq!(
            http(s.addr, "GET", &format!("/session/{id}"), None).0,
            200,
            "{id}"
        );
    }
    assert_eq!(
        http(s.addr, "GET", &format!("/session/{}", made[0]), None).0,
        404
    );
    let startup = s.session.clone();
    s.stop();
    // A lower limit: the startup session and the two newest (the oldest
    // one left on disk before is still there: three are left now).
    let args = with_limit("3");
    let mut s = Served::start(&args);
    assert_eq!(s.session, startup, "the startup session kept its id");
    let line = s.stderr_line("not restored");
    assert!(line.contains("3 stored session(s)"), "{line}");
    assert!(!line.contains("new startup session"), "{line}");
    for id in &made[3..] {
        assert_eq!(
            http(s.addr, "GET", &format!("/session/{id}"), None).0,
            200,
            "{id}"
        );
    }
    let (_, stats) = http(s.addr, "GET", "/stats", None);
    assert_eq!(stats["sessions"], 3, "{stats}");
    s.stop();
}

/// A port directory and session file open to other users (made by hand,
/// or by an older build) are made private again at start.
#[test]
fn a_state_dir_open_to_others_is_made_private_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let one = OnePort::new();
    let s = Served::start(&one.args());
    s.push(&v(1));
    let file = one.port_dir().join(format!("session-{}.state", s.session));
    wait_on_disk(&file, 1);
    s.stop();
    let set =
        |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    set(&one.port_dir(), 0o755);
    set(&file, 0o644);
    // And without the server's own file: one account of what follows.
    std::fs::remove_file(one.port_dir().join("server.json")).unwrap();
    let mut s = Served::start(&one.args());
    s.stderr_line("was open to other users (755); it is 700 now");
    let line = s.stderr_line("restored without it");
    assert!(
        line.contains("server.json is missing, so the 1 stored session(s)"),
        "{line}"
    );
    assert!(line.contains("a new startup session is made"), "{line}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&one.port_dir()), 0o700);
    assert_eq!(mode(&file), 0o600);
}

/// A `lock` that cannot be opened (a directory in its place): the warning
/// says the sessions are not kept and what to remove.
#[test]
fn an_unusable_lock_file_is_named_with_what_to_do() {
    let one = OnePort::new();
    let lock = one.port_dir().join("lock");
    std::fs::create_dir_all(&lock).unwrap();
    let mut s = Served::start(&one.args());
    let line = s.stderr_line("cannot lock state directory");
    assert!(line.contains("will not survive a restart"), "{line}");
    assert!(
        line.contains(&format!("remove {}", lock.display())),
        "{line}"
    );
    assert_eq!(s.push(&v(1))["sequenceNumber"], 1);
}

/// Two servers on one port (two addresses) given one state directory: the
/// second is told the directory is in use and keeps its sessions in memory,
/// so neither reads nor overwrites the other's files.
#[test]
fn a_state_dir_in_use_by_another_server_is_left_to_it() {
    let one = OnePort::new();
    let args = one.args();
    let first = Served::start(&args);
    assert_eq!(first.push(&v(1))["sequenceNumber"], 1);
    let mut second = Served::start_on([127, 0, 0, 2], &args, |_| {});
    let line = second.stderr_line("in use by another server");
    assert!(line.contains("--state-dir"), "{line}");
    // Not the first one's startup session: nothing was read.
    assert_ne!(second.session, first.session);
    assert_eq!(second.push(&v(2))["sequenceNumber"], 1);
    // The first one's file still holds its own push.
    let file = one
        .port_dir()
        .join(format!("session-{}.state", first.session));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read(&file).is_ok_and(|b| b.windows(9).any(|w| w == b"version 1")) {
        assert!(
            Instant::now() < deadline,
            "the first server's push never reached its file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A FIFO where a state file should be (as session file or server.json)
/// is moved aside like a damaged file; reading it must not hang the start.
#[test]
fn a_fifo_in_the_state_dir_is_moved_aside_without_hanging_the_start() {
    for name in [
        "session-6b1f3c2e-0d4a-4f5b-8c9d-0e1f2a3b4c5d.state",
        "server.json",
    ] {
        let (one, file) = seeded(name, b"");
        std::fs::remove_file(&file).unwrap();
        let path = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let mut s = Served::start(&one.args());
        let line = s.stderr_line("moved it to");
        assert!(line.contains("not a regular file"), "{name}: {line}");
        assert_eq!(s.push(&v(2))["sequenceNumber"], 1, "{name}");
    }
}

#[test]
fn a_state_dir_that_cannot_be_a_directory_warns_and_serves() {
    let dir = TempDir::new("state");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let mut roots = vec![file.clone(), file.join("below")];
    // Read-only: for root, permission bits do not stop writes, so a path
    // under /proc (where nothing can be created) plays the read-only disk.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!(
            "NOTE: running as root, chmod cannot make a directory read-only; \
             testing the read-only case with a directory under /proc instead"
        );
        roots.push(PathBuf::from("/proc/self/lumora-state"));
    } else {
        let ro = dir.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        roots.push(ro);
    }
    for root in roots {
        let mut s = Served::start(&["--port", "0", "--state-dir", root.to_str().unwrap()]);
        let line = s.stderr_line("cannot use state directory");
        assert!(
            line.contains("sessions will not survive a restart"),
            "{line}"
        );
        assert_eq!(s.push(&v(1))["sequenceNumber"], 1);
        let (_, join, c) = Phone::connect(s.addr, &s.session, new_state(&s.session, "d"));
        assert_eq!(join, Join::Fresh);
        assert_eq!(c["payload"]["sequenceNumber"], 1);
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"not a directory",
        "the file is untouched"
    );
}

#[test]
fn a_disk_that_refuses_writes_is_one_warning_and_the_server_keeps_serving() {
    let dir = TempDir::new("state");
    // RLIMIT_FSIZE plays the full disk (root ignores permissions, not
    // this): writes past 16 KiB fail with EFBIG. SIGXFSZ is ignored so the
    // write fails instead of killing the process.
    let s = Served::start_with(
        &["--port", "0", "--state-dir", dir.path().to_str().unwrap()],
        |cmd| unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 16 * 1024,
                    rlim_max: 16 * 1024,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        },
    );
    let big = |n: u32| {
        let nodes: Vec<Value> = (0..400)
            .map(|i| json!({"id": format!("n{i}"), "type": "Text", "props": {"text": format!("{n} {}", "x".repeat(60))}}))
            .collect();
        crate::common::schema(Value::Array(nodes))
    };
    let (mut phone, _, _) = Phone::connect(s.addr, &s.session, new_state(&s.session, "d"));
    let mut s = s;
    s.push(&big(1));
    s.stderr_line("cannot write to");
    for n in 2..=4 {
        s.push(&big(n));
        phone.until(u64::from(n));
    }
    let lines = s.stop();
    let warnings = lines
        .iter()
        .filter(|l| l.contains("cannot write to"))
        .count();
    assert_eq!(
        warnings,
        1,
        "one warning, not one per write:\n{}",
        lines.join("\n")
    );
}

/// A write that fails is tried again until it succeeds: a push
/// acknowledged while the file could not be written reaches the disk once
/// it can, and survives a crash after that.
#[test]
fn a_failed_write_is_retried_until_it_lands() {
    let one = OnePort::new();
    let args = one.args();
    let mut s = Served::start(&args);
    let port_dir = one.port_dir();
    let file = port_dir.join(format!("session-{}.state", s.session));
    // A directory where the file's temporary copy goes: its writes fail.
    let blocker = port_dir.join(format!(".session-{}.state.tmp", s.session));
    std::fs::create_dir(&blocker).unwrap();
    assert_eq!(s.push(&v(1))["sequenceNumber"], 1);
    s.stderr_line("cannot write to");
    std::fs::remove_dir(&blocker).unwrap();
    s.stderr_line("works again");
    let written = std::fs::read(&file).unwrap();
    assert!(
        written.windows(9).any(|w| w == b"version 1"),
        "the push is on disk"
    );
    s.kill();
    let s = Served::start(&args);
    let (_, info) = http(s.addr, "GET", &format!("/session/{}", s.session), None);
    assert_eq!(info["sequenceNumber"], 1, "{info}");
}

/// A session that expired while the server was down is answered as
/// expired (410, close 4410), as it would have been had the server run on:
/// an old QR code then says "expired", not "not found".
#[test]
fn a_session_that_expired_while_the_server_was_down_is_answered_as_expired() {
    let id = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";
    let now = lumora_hr_mini::protocol::now_ms();
    let bytes = encode_session(&SessionSnapshot {
        id: id.into(),
        created_at_ms: now - 7_200_000,
        expires_at_ms: now - 60_000,
        sequence: 0,
        schema: None,
        schema_json: None,
        history: Vec::new(),
    });
    let (one, file) = seeded(&format!("session-{id}.state"), &bytes);
    let s = Served::start(&one.args());
    let (status, body) = http(s.addr, "GET", &format!("/session/{id}"), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (410, Some("SESSION_EXPIRED")),
        "{body}"
    );
    let mut device = crate::common::Device::open(s.addr, &format!("/ws?session={id}"));
    assert_eq!(device.expect_close(), (4410, "Session expired".into()));
    wait_until(SOON, "the expired session's file to go", || !file.exists());
}

#[test]
fn expired_sessions_are_deleted_from_disk() {
    let dir = TempDir::new("state");
    let s = Served::start(&[
        "--port",
        "0",
        "--state-dir",
        dir.path().to_str().unwrap(),
        "--session-timeout",
        "2s",
    ]);
    let file = session_file(dir.path(), s.addr.port(), &s.session);
    wait_until(SOON, "the session file", || file.exists());
    wait_until(SOON, "the expired session's file to go", || !file.exists());
}

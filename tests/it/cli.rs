//! The command line as people use it: real processes on loopback.

use crate::common::{BIN, binary, http, lines, schema, text};
use lumora_hr_mini::cli::qr::{Ecc, QrCode};
use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(15);

/// A child process whose output lines are collected as they come; killed
/// on drop.
struct Proc {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    out_seen: Vec<String>,
    err_seen: Vec<String>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        Proc::spawn_command(binary(args))
    }

    fn spawn_command(mut command: Command) -> Proc {
        let mut child = command.spawn().expect("spawn lumora-hr-mini");
        let out = lines(child.stdout.take().expect("stdout"));
        let err = lines(child.stderr.take().expect("stderr"));
        Proc {
            child,
            out,
            err,
            out_seen: Vec::new(),
            err_seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `needle`; returns it.
    fn stdout_line(&mut self, needle: &str) -> String {
        wait_line(&self.out, &mut self.out_seen, needle, "stdout")
    }

    /// Waits for a stderr line containing `needle`; returns it.
    fn stderr_line(&mut self, needle: &str) -> String {
        wait_line(&self.err, &mut self.err_seen, needle, "stderr")
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit; returns its exit code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "process did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_line(rx: &Receiver<String>, seen: &mut Vec<String>, needle: &str, what: &str) -> String {
    if let Some(l) = seen.iter().find(|l| l.contains(needle)) {
        return l.clone();
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!(
                "no {what} line containing {needle:?}; saw:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// A server started with `serve --host 127.0.0.1 --port 0` and its banner.
struct Served {
    proc: Proc,
    addr: SocketAddr,
    session: String,
    url: String,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        Served::start_command(Served::command(extra))
    }

    /// The command `start` runs, to be adjusted before it is started.
    fn command(extra: &[&str]) -> Command {
        let mut args = vec![
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--coalesce-ms",
            "0",
        ];
        args.extend_from_slice(extra);
        binary(&args)
    }

    fn start_command(command: Command) -> Served {
        let mut proc = Proc::spawn_command(command);
        let listening = proc.stdout_line("Listening");
        let addr: SocketAddr = listening
            .split("http://")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no address in {listening:?}"));
        let devices = proc.stdout_line("Devices");
        let url = devices
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .expect("device URL")
            .to_string();
        let session = url
            .split("session=")
            .nth(1)
            .expect("session id")
            .to_string();
        Served {
            proc,
            addr,
            session,
            url,
        }
    }

    /// Waits until the startup session has `n` connected devices.
    fn wait_devices(&self, n: u64) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let (_, body) = http(
                self.addr,
                "GET",
                &format!("/session/{}", self.session),
                None,
            );
            if body["connectedDevices"] == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not {n} devices connected: {body}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn server_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn sequence(&self) -> u64 {
        let (status, body) = http(
            self.addr,
            "GET",
            &format!("/session/{}", self.session),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["sequenceNumber"].as_u64().expect("sequenceNumber")
    }
}

/// A temp file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "lumora-cli-{}-{}.json",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let f = TempFile(path);
        f.write(contents);
        f
    }

    fn write(&self, contents: &str) {
        std::fs::write(&self.0, contents).expect("write temp file");
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the binary to completion; returns exit code, stdout, stderr.
fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = binary(args).stdin(Stdio::piped()).spawn().expect("spawn");
    if let Some(input) = stdin {
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes());
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn v(n: u32) -> Value {
    schema(json!([{"id": "root", "type": "View", "children": [
        text("title", &format!("version {n}")),
        text("body", "unchanged"),
    ]}]))
}

#[test]
fn banner_shows_the_device_url_and_the_startup_session() {
    let mut s = Served::start(&["--no-qr"]);
    let expected = format!("ws://{}/ws?session={}", s.addr, s.session);
    assert_eq!(s.url, expected);
    assert!(uuid::Uuid::parse_str(&s.session).is_ok());
    let session_line = s.proc.stdout_line("Session");
    assert!(session_line.contains(&s.session) && session_line.contains("expires"));
    let push_line = s.proc.stdout_line("Push");
    assert!(push_line.contains(&format!("push --server http://{} ", s.addr)));
    assert!(!s.proc.out_seen.iter().any(|l| l.contains('█')), "--no-qr");
    let (status, body) = http(s.addr, "GET", "/session/startup", None);
    assert_eq!(status, 200);
    assert_eq!(body["sessionId"], s.session.as_str());
    assert_eq!(body["wsUrl"], expected.as_str());
}

#[test]
fn banner_qr_code_has_the_size_of_the_url() {
    let mut s = Served::start(&[]);
    s.proc.stdout_line("Session");
    let qr: Vec<&String> = s
        .proc
        .out_seen
        .iter()
        .filter(|l| l.contains(['█', '▀', '▄']))
        .collect();
    // Byte-mode capacities at level L for versions 1-10 (ISO/IEC 18004
    // table 7): the smallest version that holds the URL.
    let capacity = [17, 32, 53, 78, 106, 134, 154, 192, 230, 271];
    let version = 1 + capacity
        .iter()
        .position(|&c| c >= s.url.len())
        .expect("a short URL");
    let modules = 17 + 4 * version;
    let code = QrCode::encode(s.url.as_bytes(), Ecc::Low).expect("encodes");
    assert_eq!(code.size(), modules);
    // Two module rows per line, plus a two-module quiet zone all round.
    assert_eq!(qr.len(), (modules + 4).div_ceil(2));
    for line in qr {
        assert_eq!(
            line.trim_start_matches(' ').chars().count(),
            modules + 4,
            "{line:?}"
        );
    }
}

#[test]
fn push_exit_codes() {
    let s = Served::start(&["--no-qr"]);
    let server = s.server_url();
    let good = TempFile::with(&v(1).to_string());
    let (code, out, err) = run(&["push", "--server", &server, good.path()], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!(
            "full update #1 → 0 devices (checksum {})",
            calculate_checksum(&v(1))
        )
    );
    let (code, out, _) = run(&["push", "--server", &server, good.path()], None);
    assert_eq!(code, 0);
    assert!(out.starts_with("no change (update #1 is current"), "{out}");

    // Standard input, with an explicit session.
    let (code, out, err) = run(
        &["push", "--server", &server, "--session", &s.session, "-"],
        Some(&v(2).to_string()),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("incremental update #2 → 0 devices"),
        "{out}"
    );

    let bad = TempFile::with(r#"{"version": "1", "metadata": {}, "nodes": [{"id": "a"}]}"#);
    let (code, _, err) = run(&["push", "--server", &server, bad.path()], None);
    assert_eq!(code, 1);
    assert!(
        err.contains("SCHEMA_VALIDATION_FAILED") && err.contains("nodes[0]"),
        "{err}"
    );

    let (code, _, err) = run(
        &[
            "push",
            "--server",
            &server,
            "--session",
            "no-such-session",
            good.path(),
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("SESSION_NOT_FOUND"), "{err}");
    assert_eq!(s.sequence(), 2, "refused pushes change nothing");

    // Nothing listens on a port we just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", free.local_addr().expect("addr"));
    drop(free);
    let (code, _, err) = run(&["push", "--server", &dead, good.path()], None);
    assert_eq!(code, 2);
    assert!(err.contains("cannot connect"), "{err}");

    let (code, _, err) = run(&["push", "--server", &server, "/no/such/file.json"], None);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /no/such/file.json"), "{err}");
}

/// `push` says what is wrong with what it was given or what answered:
/// an argument that is not UTF-8, a file over the schema limit or empty, a program
/// on the port that is not lumora-hr-mini, a `--server` with a path.
#[test]
fn push_says_what_is_wrong_with_what_answered() {
    use std::os::unix::ffi::OsStrExt;
    let good = TempFile::with(&v(1).to_string());
    // A file name that is not UTF-8: a usage error, not a crash.
    let out = binary(&["push"])
        .arg(std::ffi::OsStr::from_bytes(b"n\xffa.json"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not valid UTF-8"), "{err}");

    // Over 10 MiB: refused here, with its real size.
    let big = TempFile::with(&" ".repeat(15_000_000));
    let (code, _, err) = run(
        &["push", "--server", "http://127.0.0.1:9", big.path()],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is 15000000 bytes, over the 10485760 bytes"),
        "{err}"
    );

    // Nothing to push (an empty file, empty standard input): said here,
    // before any server is asked (none listens on port 9).
    let empty = TempFile::with(" \n");
    let (code, _, err) = run(
        &["push", "--server", "http://127.0.0.1:9", empty.path()],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is empty: nothing pushed"), "{err}");
    let (code, _, err) = run(&["push", "--server", "http://127.0.0.1:9", "-"], Some(""));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("standard input is empty: nothing pushed"),
        "{err}"
    );

    // Another program answering 200 to everything.
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = other.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut c in other.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = std::io::Read::read(&mut c, &mut buf);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
            // Read the rest until the client is done, so that closing
            // never resets what it sent.
            let _ = c.shutdown(std::net::Shutdown::Write);
            while std::io::Read::read(&mut c, &mut buf).is_ok_and(|n| n > 0) {}
        }
    });
    let url = format!("http://{addr}");
    for extra in [&["--session", "abc"][..], &[][..]] {
        let mut args = vec!["push", "--server", &url];
        args.extend_from_slice(extra);
        args.push(good.path());
        let (code, out, err) = run(&args, None);
        assert_eq!(code, 2, "{extra:?}: {out} {err}");
        assert!(
            err.contains("not as lumora-hr-mini does"),
            "{extra:?}: {err}"
        );
    }

    // A path after the server's address.
    let s = Served::start(&["--no-qr"]);
    let prefixed = format!("{}/prefix", s.server_url());
    let (code, _, err) = run(&["push", "--server", &prefixed, good.path()], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no /session/startup at"), "{err}");
}

#[test]
fn push_replies_within_the_coalescing_window_promise_nothing() {
    let s = Served::start(&["--no-qr", "--coalesce-ms", "5000"]);
    let server = s.server_url();
    let (a, b) = (
        TempFile::with(&v(1).to_string()),
        TempFile::with(&v(2).to_string()),
    );
    let (ca, cb) = (calculate_checksum(&v(1)), calculate_checksum(&v(2)));
    let (code, out, _) = run(&["push", "--server", &server, a.path()], None);
    assert_eq!(
        (code, out.trim()),
        (0, &*format!("full update #1 → 0 devices (checksum {ca})"))
    );
    let (code, out, _) = run(&["push", "--server", &server, b.path()], None);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!(
            "held (checksum {cb}): within the coalescing window, so it will be compared with \
             update #1 (checksum {ca}) when the window ends, and sent only if it differs"
        )
    );
    assert!(!out.contains("#2"), "{out}");
    // Back to what devices hold: nothing will go out, and the reply names
    // the current update's own checksum.
    let (code, out, _) = run(&["push", "--server", &server, a.path()], None);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("no change (update #1 is current, checksum {ca})")
    );
}

#[test]
fn an_unknown_session_says_how_to_find_the_right_one() {
    let s = Served::start(&["--no-qr"]);
    let server = s.server_url();
    let file = TempFile::with(&v(1).to_string());
    let (code, _, err) = run(
        &[
            "push",
            "--server",
            &server,
            "--session",
            "nope",
            file.path(),
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("session not found (SESSION_NOT_FOUND, HTTP 404)"),
        "{err}"
    );
    assert!(err.contains(&format!("curl {server}/stats")), "{err}");
    assert!(err.contains("drop --session"), "{err}");
}

#[test]
fn the_banner_comes_first_and_its_push_command_works_as_printed() {
    // stdout and stderr into one file, to see their order.
    let path = std::env::temp_dir().join(format!("lumora-banner-{}.txt", uuid::Uuid::new_v4()));
    let out = std::fs::File::create(&path).expect("create");
    let mut child = binary(&[
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-qr",
        "--coalesce-ms",
        "0",
    ])
    .stdout(out.try_clone().expect("clone"))
    .stderr(out)
    .spawn()
    .expect("spawn");
    let deadline = Instant::now() + TIMEOUT;
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("\n  Push ") && text.contains(" or  curl") {
            break text;
        }
        assert!(Instant::now() < deadline, "no banner: {text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(first.trim_start().starts_with("lumora-hr-mini "), "{text}");
    assert!(
        !text.contains("press h"),
        "no shortcuts without a terminal: {text}"
    );
    // The printed push command, run as printed (from the same directory).
    let push = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Push"))
        .expect("push line");
    let words: Vec<&str> = push.split_whitespace().collect();
    assert_eq!(words[0], BIN, "{push}");
    assert_eq!(words.last(), Some(&"examples/app.json"), "{push}");
    let (code, printed, err) = run(&words[1..], None);
    assert_eq!(code, 0, "{err}");
    assert!(printed.starts_with("full update #1"), "{printed}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn device_follows_full_and_incremental_updates_to_the_last_checksum() {
    let s = Served::start(&["--no-qr"]);
    let mut device = Proc::spawn(&["device", &s.url, "--name", "tester"]);
    device.stdout_line("connected; the session has no schema yet (#0)");
    let server = s.server_url();
    let file = TempFile::with(&v(1).to_string());
    for n in 1..=3 {
        file.write(&v(n).to_string());
        let (code, out, err) = run(&["push", "--server", &server, file.path()], None);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("→ 1 device"), "{out}");
    }
    device.stdout_line("#1 full → checksum");
    let second = device.stdout_line("#2 incremental");
    assert!(
        second.contains("(+0 ~1 -0)") && second.contains(" ok ("),
        "{second}"
    );
    let last = device.stdout_line("#3 incremental");
    let checksum = calculate_checksum(&v(3));
    assert!(last.contains(&format!("checksum {checksum} ok")), "{last}");

    // The server saw the acks.
    let (_, health) = http(
        s.addr,
        "GET",
        &format!("/session/{}/health", s.session),
        None,
    );
    let deadline = Instant::now() + TIMEOUT;
    let mut health = health;
    while health["devices"][0]["lastAckSequence"] != 3 {
        assert!(Instant::now() < deadline, "no ack for #3: {health}");
        std::thread::sleep(Duration::from_millis(20));
        health = http(
            s.addr,
            "GET",
            &format!("/session/{}/health", s.session),
            None,
        )
        .1;
    }

    // Deleting the session ends the device cleanly.
    let (status, _) = http(s.addr, "DELETE", &format!("/session/{}", s.session), None);
    assert_eq!(status, 200);
    device.stdout_line("the session was closed");
    assert_eq!(device.exit_code(), 0);
}

#[test]
fn many_devices_in_one_process_print_a_summary() {
    let s = Served::start(&["--no-qr", "--quiet"]);
    // The session has a schema before the devices join: each gets it in
    // `connected`, and the summary counts those apart from updates.
    let file = TempFile::with(&v(1).to_string());
    let server = s.server_url();
    let (code, out, _) = run(&["push", "--server", &server, file.path()], None);
    assert_eq!(code, 0);
    assert!(out.contains("full update #1 → 0 devices"), "{out}");
    let mut fleet = Proc::spawn(&["device", &s.url, "--count", "50", "--quiet"]);
    s.wait_devices(50);
    file.write(&v(2).to_string());
    let (code, out, _) = run(&["push", "--server", &server, file.path()], None);
    assert_eq!(code, 0);
    assert!(out.contains("incremental update #2 → 50 devices"), "{out}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (_, body) = http(
            s.addr,
            "GET",
            &format!("/session/{}/health", s.session),
            None,
        );
        let acked = body["devices"]
            .as_array()
            .is_some_and(|d| d.len() == 50 && d.iter().all(|d| d["lastAckSequence"] == 2));
        if acked {
            break;
        }
        assert!(Instant::now() < deadline, "not all devices acked #2");
        std::thread::sleep(Duration::from_millis(20));
    }
    fleet.signal(libc::SIGINT);
    let summary = fleet.stdout_line("50 devices:");
    assert!(
        summary.contains(
            "50 initial schemas and 50 updates received, 0 checksum failures, 0 reconnects"
        ),
        "{summary}"
    );
    assert_eq!(fleet.exit_code(), 0);
}

/// `device … | head`: once its reader has gone, the device ends (at its
/// next line) instead of running on.
#[test]
fn a_device_whose_reader_goes_away_ends() {
    use std::io::BufRead;
    let s = Served::start(&["--no-qr", "--quiet"]);
    let mut device = binary(&["device", &s.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = std::io::BufReader::new(device.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("a line");
    assert!(first.contains("connecting to"), "{first}");
    s.wait_devices(1);
    // The reader goes; the next update gives the device a line to print.
    drop(out);
    let file = TempFile::with(&v(1).to_string());
    let server = s.server_url();
    let (code, _, err) = run(&["push", "--server", &server, file.path()], None);
    assert_eq!(code, 0, "{err}");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = device.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = device.kill();
            panic!("the device ran on after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// `device --quiet` still says why devices lost the server, once per
/// reason rather than once per device.
#[test]
fn quiet_devices_say_once_why_they_lost_the_server() {
    let s = Served::start(&["--no-qr", "--quiet"]);
    let mut fleet = Proc::spawn(&["device", &s.url, "--count", "20", "--quiet"]);
    s.wait_devices(20);
    s.proc.signal(libc::SIGTERM);
    fleet.stdout_line("said once with --quiet");
    fleet.signal(libc::SIGINT);
    fleet.stdout_line("20 devices:");
    let said = fleet
        .out_seen
        .iter()
        .filter(|l| l.contains("said once with --quiet"))
        .count();
    assert!(
        (1..=5).contains(&said),
        "{said} lines:\n{}",
        fleet.out_seen.join("\n")
    );
}

#[test]
fn watch_pushes_changes_and_refuses_a_broken_file() {
    let file = TempFile::with(&v(1).to_string());
    let mut s = Served::start(&["--no-qr", "--watch", file.path()]);
    let deadline = Instant::now() + TIMEOUT;
    while s.sequence() != 1 {
        assert!(Instant::now() < deadline, "not pushed at start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A different size too: file times can be as coarse as the kernel tick.
    file.write(&v(20).to_string());
    let deadline = Instant::now() + TIMEOUT;
    while s.sequence() != 2 {
        assert!(Instant::now() < deadline, "change not pushed");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.proc.stderr_line("changed");

    file.write(
        "{\"version\": \"1\", \"metadata\": {}, \"nodes\": [{\"id\": \"x\", \"type\": \"\"}]}",
    );
    let refused = s.proc.stderr_line("not pushed");
    assert!(refused.contains(file.path()), "{refused}");
    assert!(refused.contains("nodes[0].type"), "{refused}");
    assert_eq!(s.sequence(), 2);
}

#[test]
fn watch_says_it_stops_when_the_session_expires_and_what_to_do() {
    let file = TempFile::with(&v(1).to_string());
    let mut s = Served::start(&[
        "--no-qr",
        "--watch-poll",
        "--session-timeout",
        "1s",
        "--watch",
        file.path(),
    ]);
    let line = s.proc.stderr_line("no longer watched");
    assert!(line.contains(file.path()), "{line}");
    assert!(
        line.contains("its session expired (sessions live --session-timeout"),
        "{line}"
    );
    assert!(
        line.contains("restart the server to watch it in a new session"),
        "{line}"
    );
}

#[test]
fn pushes_refused_from_their_head_are_logged_by_the_server() {
    let mut s = Served::start(&["--no-qr", "--max-body-bytes", "1KiB"]);
    let big = TempFile::with(&schema(json!([text("t", &"x".repeat(2000))])).to_string());
    let (code, _, err) = run(&["push", "-s", &s.server_url(), big.path()], None);
    assert_eq!(code, 1, "{err}");
    let line = s.proc.stderr_line("push refused (413 PAYLOAD_TOO_LARGE)");
    assert!(line.contains("over the 1024-byte limit"), "{line}");
    // Who sent it is not logged (any web page could fill the terminal):
    // a browser's Origin, answered before the next request is sent.
    let (status, _, _) = crate::support::request(
        s.addr,
        "POST",
        &format!("/send/{}", s.session),
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://evil.example"),
        ],
        Some(b"{}"),
    );
    assert_eq!(status, 403);
    let (status, _) = http(s.addr, "POST", "/send/no-such-session", Some(&v(1)));
    assert_eq!(status, 404);
    s.proc
        .stderr_line("push refused (404 SESSION_NOT_FOUND): session not found");
    assert!(
        !s.proc
            .err_seen
            .iter()
            .any(|l| l.contains("push refused (403")),
        "{:?}",
        s.proc.err_seen
    );
}

#[test]
fn a_host_that_is_not_this_machine_says_so() {
    let (code, out, err) = run(
        &["--no-state", "--host", "192.0.2.123", "--port", "0"],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("192.0.2.123 is not an address of this machine"),
        "{err}"
    );
}

#[test]
fn watch_a_directory_is_refused_at_start() {
    let dir = std::env::temp_dir();
    let dir = dir.to_str().expect("utf-8 temp dir");
    let (code, out, err) = run(
        &["--host", "127.0.0.1", "--port", "0", "--watch", dir],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&format!("{dir} is a directory")), "{err}");
    assert!(!out.contains("Listening"), "refused before starting: {out}");
}

#[test]
fn several_watched_files_and_the_watcher_in_use_are_said_at_start() {
    let a = TempFile::with(&v(1).to_string());
    let b = TempFile::with(&v(2).to_string());
    let mut s = Served::start(&["--no-qr", "--watch", a.path(), "-w", b.path()]);
    s.proc.stdout_line(&format!("Watching   {}", a.path()));
    s.proc.stdout_line(&format!("           {}", b.path()));
    s.proc
        .stderr_line(&format!("watching {} (inotify)", a.path()));
    s.proc
        .stderr_line(&format!("watching {} (inotify)", b.path()));
    let deadline = Instant::now() + TIMEOUT;
    while s.sequence() != 2 {
        assert!(Instant::now() < deadline, "both files not pushed at start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut s = Served::start(&["--no-qr", "--watch", a.path(), "--watch-poll"]);
    s.proc.stderr_line(&format!(
        "watching {} (polling every 100 ms: as configured)",
        a.path()
    ));

    // Chosen by itself where inotify cannot watch: a folder not made yet.
    let missing = format!("{}.d/app.json", a.path());
    let mut s = Served::start(&["--no-qr", "--watch", &missing]);
    let line = s
        .proc
        .stderr_line(&format!("watching {missing} (polling every 100 ms: "));
    assert!(line.contains("does not exist"), "{line}");
}

#[test]
fn a_taken_port_is_reported_or_refused_with_strict_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let mut s = Proc::spawn(&["--host", "127.0.0.1", "--port", &port, "--no-qr"]);
    let line = s.stdout_line("Listening");
    assert!(
        line.contains(&format!("(port {port} was taken; using ")),
        "{line}"
    );

    let (code, out, err) = run(
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--strict-port",
            "--no-qr",
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("--strict-port"), "{err}");
}

#[test]
fn device_takes_the_web_device_page_url() {
    let s = Served::start(&["--no-qr"]);
    // What the QR code opens, as a phone user would copy it.
    let page = format!("http://{}/s/{}", s.addr, s.session);
    let mut device = Proc::spawn(&["device", &page]);
    device.stdout_line("connected; the session has no schema yet (#0)");
    s.wait_devices(1);
}

#[test]
fn device_warns_when_the_open_file_limit_is_below_its_count() {
    use std::os::unix::process::CommandExt;
    let s = Served::start(&["--no-qr"]);
    let mut command = binary(&["device", &s.url, "--count", "100", "--quiet"]);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut fleet = Proc::spawn_command(command);
    let warning = fleet.stderr_line("open files");
    assert!(
        warning.contains("100 devices need about 116 open files, but this process may open 64"),
        "{warning}"
    );
    // Those that fit still connect.
    fleet.stdout_line("starting 100 devices");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (_, body) = http(s.addr, "GET", &format!("/session/{}", s.session), None);
        if body["connectedDevices"].as_u64().is_some_and(|n| n > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "no device connected: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_stop_the_server_and_close_devices_a_closed_terminal_too_unless_nohup() {
    for (signal, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP (the terminal closed)"),
    ] {
        let mut s = Served::start(&["--no-qr"]);
        let mut device = Proc::spawn(&["device", &s.url]);
        device.stdout_line("connected");
        s.proc.signal(signal);
        s.proc
            .stderr_line(&format!("{name} received; shutting down"));
        assert_eq!(s.proc.exit_code(), 0, "{name}");
        device.stdout_line("1001 Server shutting down");
    }

    // Under nohup, SIGHUP stays ignored.
    use std::os::unix::process::CommandExt;
    let mut command = Served::command(&["--no-qr"]);
    // SAFETY: signal is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut s = Served::start_command(command);
    s.proc.signal(libc::SIGHUP);
    s.proc.signal(libc::SIGTERM);
    let line = s.proc.stderr_line("received; shutting down");
    assert!(line.contains("SIGTERM"), "{line}");
    assert_eq!(s.proc.exit_code(), 0);
}

#[test]
fn help_version_and_usage_errors() {
    for args in [
        &["--help"][..],
        &["push", "--help"],
        &["device", "--help"],
        &["help", "push"],
    ] {
        let (code, out, _) = run(args, None);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("DEFAULT"), "{args:?}: {out}");
    }
    let (code, out, _) = run(&["--version"], None);
    assert_eq!(
        (code, out.trim()),
        (0, concat!("lumora-hr-mini ", env!("CARGO_PKG_VERSION")))
    );
    for args in [
        &["--bogus"][..],
        &["push", "--bogus", "f"],
        &["device", "ws://h/ws?session=x", "--bogus"],
    ] {
        let (code, _, err) = run(args, None);
        assert_eq!(code, 2, "{args:?}");
        let mut lines = err.lines();
        assert_eq!(lines.next(), Some("error: unknown flag --bogus"));
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("usage: lumora-hr-mini"))
        );
    }
    // A URL that names no session is a usage error, with the usage line.
    let (code, _, err) = run(&["device", "ws://127.0.0.1:1/ws"], None);
    assert_eq!(code, 2);
    let mut lines = err.lines();
    assert!(
        lines.next().is_some_and(|l| l.contains("names no session")),
        "{err}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("usage: lumora-hr-mini device URL")),
        "{err}"
    );
    for (args, says) in [
        (&["help", "bogus"][..], "no help on \"bogus\""),
        (&["-v", "-q"], "--verbose and --quiet contradict"),
        (
            &["--public-host", "bad host!"],
            "--public-host: \"bad host!\" is not a host name",
        ),
    ] {
        let (code, out, err) = run(args, None);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(
            err.starts_with(&format!("error: {says}")),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_example_app_is_a_valid_schema_of_a_few_dozen_nodes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app.json");
    let bytes = std::fs::read(path).expect("examples/app.json");
    let schema = lumora_hr_mini::protocol::Schema::from_slice(&bytes).expect("valid schema");
    assert!(
        (30..=80).contains(&schema.node_count()),
        "{}",
        schema.node_count()
    );
}

#[test]
fn device_log_messages_are_printed_once_with_the_device_name() {
    let mut s = Served::start(&["--no-qr"]);
    let (mut device, _) = crate::common::Device::connected(s.addr, &s.session, "d1");
    device.send(&crate::common::Device::msg(
        &s.session,
        "log",
        json!({"message": "button tapped", "level": "warn"}),
    ));
    let line = s.proc.stderr_line("button tapped");
    assert!(line.contains("[WARN ] [test d1"), "{line:?}");
    assert!(!line.contains('\x1b'), "NO_COLOR is set: {line:?}");
    // A later line proves the first was not printed twice.
    device.send(&crate::common::Device::msg(
        &s.session,
        "log",
        json!({"message": "second", "level": "info"}),
    ));
    s.proc.stderr_line("second");
    let copies = s
        .proc
        .err_seen
        .iter()
        .filter(|l| l.contains("button tapped"))
        .count();
    assert_eq!(copies, 1);
}

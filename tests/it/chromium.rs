//! A headless Chromium driven over the DevTools protocol (a WebSocket
//! speaking JSON commands), for the web device's browser tests.
//!
//! Without a browser the tests say so loudly (naming the Debian packages)
//! and pass; with `LUMORA_REQUIRE_BROWSER=1` (CI sets it) a missing
//! browser fails them instead. The browser runs in its own process group
//! with a temporary profile, and is killed (group and all) on drop.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long any one step may take (start-up, a command, a page load).
const STEP: Duration = Duration::from_secs(20);

/// Where the browser is: `$LUMORA_CHROMIUM`, else the usual names on PATH.
fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LUMORA_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The browser process (leader of its own process group) and its
/// temporary profile; both gone on drop, even when start-up panics.
struct Proc {
    child: Child,
    profile: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The whole group: the browser and its renderer, GPU and zygote
        // processes.
        let pgid = self.child.id() as i32;
        // SAFETY: kill has no memory-safety preconditions; a negative pid
        // names the process group the browser leads.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A running browser with one page open.
pub struct Browser {
    page: WebSocket<TcpStream>,
    next_id: u64,
    // Dropped after `page`: the socket closes before the browser is killed.
    proc: Proc,
}

impl Browser {
    /// Starts Chromium, or returns `None` (after saying so on the terminal)
    /// when there is none and `LUMORA_REQUIRE_BROWSER` is not set.
    pub fn start(test: &str) -> Option<Browser> {
        let Some(exe) = find_browser() else {
            let required = std::env::var("LUMORA_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "LUMORA_REQUIRE_BROWSER=1 but no Chromium was found: install the Debian \
                 packages `chromium` and `chromium-driver` (apt-get install chromium \
                 chromium-driver) or set LUMORA_CHROMIUM to the browser"
            );
            // Written straight to the process's stderr, past the test
            // harness's capture, so a passing run still shows it.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! SKIPPED browser test {test}: no Chromium found. Install the Debian \
                 packages `chromium` and `chromium-driver` (or set LUMORA_CHROMIUM); \
                 LUMORA_REQUIRE_BROWSER=1 makes this a failure.\n"
            );
            return None;
        };
        let profile = std::env::temp_dir().join(format!(
            "lumora-chromium-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--headless=new",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=800,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.arg("--no-sandbox");
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let mut proc = Proc { child, profile };
        let page = attach(&mut proc);
        Some(Browser {
            page,
            next_id: 1,
            proc,
        })
    }

    /// Sends a command to the page and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        command(&mut self.page, self.next_id, method, params)
    }

    /// Opens `url` and waits until its document has loaded.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        let deadline = Instant::now() + STEP;
        while self.eval("document.readyState") != "complete" {
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Evaluates a JavaScript expression in the page (promises awaited) and
    /// returns its value as JSON; a thrown exception fails the test.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("page threw evaluating {expression:?}: {e}");
        }
        r["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Polls `expression` until it is `true`; panics with `what` and the
    /// last value of `debug` after 10 s.
    pub fn wait_true(&mut self, expression: &str, what: &str, debug: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.eval(expression) == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                let seen = self.eval(debug);
                panic!("timed out waiting for {what}; page shows {seen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.page.close(None);
    }
}

/// Reads the DevTools port, opens a new page target and connects to it.
fn attach(proc: &mut Proc) -> WebSocket<TcpStream> {
    let port_file = proc.profile.join("DevToolsActivePort");
    let deadline = Instant::now() + STEP;
    let (port, browser_path) = loop {
        let text = std::fs::read_to_string(&port_file).unwrap_or_default();
        let mut lines = text.lines();
        if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
            if let Ok(port) = port.trim().parse::<u16>() {
                break (port, path.trim().to_string());
            }
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("Chromium exited at start-up ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "Chromium wrote no DevToolsActivePort within {STEP:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut browser_ws = ws_connect(port, &browser_path);
    let reply = command(
        &mut browser_ws,
        1,
        "Target.createTarget",
        json!({"url": "about:blank"}),
    );
    let target = reply["targetId"].as_str().expect("targetId").to_string();
    let _ = browser_ws.close(None);
    ws_connect(port, &format!("/devtools/page/{target}"))
}

/// Opens a DevTools WebSocket; a handshake cut by a signal (other tests
/// in this process install handlers) is tried again, a few times.
fn ws_connect(port: u16, path: &str) -> WebSocket<TcpStream> {
    let url = format!("ws://127.0.0.1:{port}{path}");
    let mut attempts = 0;
    loop {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("DevTools port");
        stream.set_read_timeout(Some(STEP)).expect("timeout");
        match tungstenite::client::client(url.as_str(), stream) {
            Ok((ws, _)) => return ws,
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::Interrupted && attempts < 5 =>
            {
                attempts += 1;
            }
            Err(e) => panic!("DevTools handshake with {url}: {e}"),
        }
    }
}

/// One DevTools command: waits (bounded by the socket's read timeout) for
/// the reply with this id, skipping events.
fn command(ws: &mut WebSocket<TcpStream>, id: u64, method: &str, params: Value) -> Value {
    let msg = json!({"id": id, "method": method, "params": params}).to_string();
    ws.send(Message::text(msg))
        .unwrap_or_else(|e| panic!("DevTools send {method}: {e}"));
    let deadline = Instant::now() + STEP;
    loop {
        assert!(Instant::now() < deadline, "no DevTools reply to {method}");
        let m = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                continue;
            }
            Err(e) => panic!("DevTools read ({method}): {e}"),
        };
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(t.as_str()).expect("DevTools JSON");
        if v["id"] == id {
            if let Some(e) = v.get("error") {
                panic!("DevTools {method} failed: {e}");
            }
            return v["result"].clone();
        }
    }
}

/// The repository's path, for reading test data.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

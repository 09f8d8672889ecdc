//! The help texts of `lumora-hr-mini`, `push` and `device`. The defaults
//! are written out (a test in `args` checks them against
//! [`Config::default`](crate::server::Config)) so the text costs no
//! formatting code.

/// `lumora-hr-mini --help`: the subcommands and every `serve` flag.
pub const SERVE_HELP: &str = concat!(
    "lumora-hr-mini ",
    env!("CARGO_PKG_VERSION"),
    ": a hot-reload server pushing Lumora IR schemas to devices\n",
    "
USAGE:
    lumora-hr-mini [serve] [FLAGS]      run the server (the default)
    lumora-hr-mini push [FLAGS] FILE    push a schema to a running server
    lumora-hr-mini device URL [FLAGS]   run headless devices (testing, load)
    lumora-hr-mini help [push|device]   help on a subcommand

The server creates a startup session and prints the web device URL (a page
any phone browser opens; also as a QR code), the WebSocket URL native
devices connect to, and how to push. Durations: 500ms, 30s, 10m, 8h.
Sizes: 65536, 64KiB, 10MiB.

SERVE FLAGS:                               DEFAULT
    --host IP                  address to bind                       0.0.0.0
    -p, --port N               port; if taken, the next free one     3000
                               (0 = any free port)
    --strict-port              fail instead when the port is taken   off
    --public-host HOST         host name or IP put in device URLs    LAN address
    --no-qr                    do not print the QR code              off
    --qr page|ws               what the QR code opens: the web       page
                               device page, or the ws:// URL
    -w, --watch FILE           push FILE to the startup session now  none
                               and whenever it changes (repeatable)
    --watch-poll               watch by polling every 100 ms, not    off
                               inotify (network file systems)
    --session-timeout DUR      session lifetime (extend adds it)     8h
    --ping-interval DUR        WebSocket ping to each device         30s
    --idle-timeout DUR         close devices silent this long        60s
                               (longer than --ping-interval)
    --connect-timeout DUR      time to send `connect` after upgrade  10s
    --request-timeout DUR      time to send a whole HTTP request     10s
    --keep-alive-timeout DUR   idle HTTP keep-alive connection       30s
    --coalesce-ms MS           batch pushes within this window       100
                               (0 = send every push at once)
    --max-connections N        open connections (503 beyond)         10000
    --max-sessions N           sessions at once                      1000
    --max-message-bytes SIZE   largest message from a device         64KiB
    --max-body-bytes SIZE      largest HTTP request body             10MiB
    --max-body-buffer SIZE     request bodies buffered at once, all  40MiB
                               connections (beyond: 503, retry)
    --max-queued-updates N     updates queued per slow device        32
    --state-dir DIR            keep sessions across restarts in      see below
                               DIR/port-PORT/
    --no-state                 keep nothing on disk                  off
    --history-updates N        updates kept per session for devices  64
                               that resume
    --history-bytes SIZE       bytes of updates kept per session     4MiB
    --rate-limit N             messages per second per device        100
    --token TOKEN              open the control API to other hosts   $LUMORA_TOKEN or none
                               with `Authorization: Bearer TOKEN`
    --allowed-host HOST        accept this Host header (repeatable)  none
    --allowed-origin ORIGIN    accept this browser Origin on the     none
                               control API (repeatable)
    -v, --verbose              debug logging                         off
    -q, --quiet                warnings and errors only              off
    -h, --help                 this help
    -V, --version              print the version

Logs go to stderr, coloured on a terminal unless NO_COLOR is set. When
stdin is a terminal, keys act at once: r resync every device, d list the
devices, o open the landing page (http://127.0.0.1:PORT/), c clear the
screen, q quit, h or ? list them.

STATE: sessions (id, expiry, sequence number, schema, recent updates) are
kept in $XDG_STATE_HOME/lumora-hr-mini/port-PORT/ (else
~/.local/state/lumora-hr-mini/port-PORT/), so a restart on the same port
keeps the startup session's URL and devices resume where they were. With
--port 0 nothing is kept unless --state-dir is given.
"
);

/// `lumora-hr-mini push --help`.
pub const PUSH_HELP: &str = "\
Push a schema to a running lumora-hr-mini server.

USAGE:
    lumora-hr-mini push [--server URL] [--session ID] [--no-preserve-state] FILE

FILE is a Lumora IR JSON file, or - to read standard input. Without
--session the schema goes to the server's startup session (the one its
banner shows), found with GET /session/startup.

FLAGS:                                     DEFAULT
    -s, --server URL           the server                            http://127.0.0.1:3000
    --session ID               target session                        startup session
    --no-preserve-state        ask devices to reset their UI state   off
    --token TOKEN              bearer token for a remote server      $LUMORA_TOKEN or none
    -h, --help                 this help

Prints e.g. `incremental update #7 → 3 devices`. Exit status: 0 pushed
(or nothing to change), 1 refused by the server (the error is printed),
2 bad usage, unreadable file or no server.
";

/// `lumora-hr-mini device --help`.
pub const DEVICE_HELP: &str = "\
Run headless devices against a lumora-hr-mini server.

USAGE:
    lumora-hr-mini device URL [--count N] [--name NAME] [--platform P] [--quiet]

URL is one the server prints: ws://HOST:PORT/ws?session=ID, or the web
device page http://HOST:PORT/s/ID (the same session). Each device sends
`connect`, applies every full and incremental update with the library's
apply_schema_delta, checks the checksum (asking for a reload on a
mismatch), acks with the apply time, answers heartbeats and reconnects with
backoff. It prints one line per update, e.g.
`#2 incremental (+0 ~1 -0) → checksum 6e2bee6b ok (0.20 ms)`
(nodes added, modified, removed; time to apply and verify).
Ctrl-C, or the session being closed or expiring, ends it.

FLAGS:                                     DEFAULT
    -n, --count N              devices to run (one thread; a summary 1
                               is printed at the end)
    --name NAME                deviceName (NAME-1..NAME-N when N>1)  headless
    --platform P               platform sent in `connect`            headless
    --ping-interval DUR        protocol ping to the server           30s
    -q, --quiet                no line per update                    off
    -h, --help                 this help
";

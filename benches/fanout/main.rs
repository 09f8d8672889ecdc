//! `fanout`: the load tool behind the README's "Performance" table. It is
//! a bench target with `harness = false`, so it is built
//! with the release profile, never goes into the `lumora-hr-mini` binary,
//! and finds that binary through `CARGO_BIN_EXE_lumora-hr-mini`.
//!
//! ```text
//! cargo bench --bench fanout                                   # 1,000 devices, 200 updates, 1 run
//! cargo bench --bench fanout -- --devices 1000 --runs 5        # medians over 5 runs
//! cargo bench --bench fanout -- --devices 10000 --updates 30   # 10,000 devices
//! cargo bench --bench fanout -- --startup 20                   # binary size + start-up only
//! cargo bench --bench fanout -- --push-cpu --runs 3            # server CPU per big push vs reading it
//! cargo bench --bench fanout -- --push-stall --runs 3          # /health and ping waits during 10 MiB pushes
//! cargo bench --bench fanout -- --help
//! ```
//!
//! Every run has two phases over the same number of loopback sockets,
//! driven by the same client code on one thread (non-blocking sockets in a
//! `mio` loop, hand-written handshake, masked frames as RFC 6455 requires):
//!
//! - **floor**: a bare `mio` loop (in a child process) that, per update,
//!   writes one pre-framed ~600-byte WebSocket frame to every socket and
//!   reads whatever comes back (the devices' ~150-byte acks) until
//!   `WouldBlock`: the kernel cost of fan-out with no server logic at all
//!   (`--lean-floor`: it stops at a short read instead, one `recvfrom` per
//!   ack, as the server does);
//! - **server**: the real server, sent the same number of updates over
//!   HTTP (`POST /send/:id`, mostly one-node edits that go out as
//!   incremental updates, every `--full-every`th a full one).
//!
//! Devices ack every update: once every device has it by default (the
//! server then reads the acks one by one, woken for each, as with real
//! devices acking after applying an update), or with `--ack-at-once` as
//! soon as the client has read a batch. The tool prints the server's CPU
//! time (user + system, from `/proc/<pid>/task/*/schedstat`, nanoseconds)
//! per delivered update, attributed per update round and split by update
//! type; the latency from just before the POST (or floor trigger) is
//! written to the return of the client's `poll` that reported the frame;
//! when the push was answered (every socket written); the server's RSS idle
//! and with N devices (`/proc/<pid>/status`); delivered vs expected; and the
//! ratio server ÷ floor. Medians over `--runs`. The server (or floor) runs
//! on CPU 0 and the client on CPU 1 (`--no-pin` to turn off).
//!
//! The server runs as a child process by default (`--server bin`: the real
//! release binary with `--host 127.0.0.1 --port P --strict-port
//! --coalesce-ms 0`), so RSS is the server's alone and CPU is read the same
//! way as the floor's. `--server lib` runs the library's `Server::bind` in
//! a re-executed copy of this tool instead (immune to command-line changes,
//! and it can raise `max_connections` for 10,000 devices plus the HTTP
//! client); `--server thread` runs it in a thread of this process and reads
//! that thread's CPU clock (`pthread_getcpuclockid`); memory is then not
//! reported, and the floor also runs in a thread for a like-for-like ratio.
//!
//! `--push-cpu` and `--push-stall` measure pushes of big schemas instead
//! (see `push_cpu.rs` and `push_stall.rs`).
//!
//! Everything is on 127.0.0.1, bounded in count and time, and stops by
//! itself. Nothing here is asserted: numbers on a shared 2-core VM are
//! noisy, so repeat runs and compare medians.

use lumora_hr_mini::hub::encode_text_frame;
use lumora_hr_mini::hub::outbox::push_text_frame_header;
use lumora_hr_mini::server::{Config, Server};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_lumora-hr-mini");

const USAGE: &str = "\
fanout: fan-out CPU, latency and memory of lumora-hr-mini against a bare mio floor

usage: cargo bench --bench fanout -- [options]

  --devices N        WebSocket devices (default 1000; 100, 1000, 10000 are the reference sizes)
  --updates K        updates per phase (default 200)
  --runs R           repetitions; medians are reported (default 1)
  --server KIND      bin (default): the release binary as a child process
  --bin PATH         with --server bin (and --startup): run this binary instead, e.g. an
                     older build to compare against
                     lib: Server::bind in a child process (this tool re-executed)
                     thread: Server::bind in a thread of this process (no memory figures)
  --no-floor         skip the floor phase
  --lean-floor       the floor stops reading at a short read, as the server does (one
                     recvfrom per ack); by default it reads until WouldBlock (two)
  --no-pin           do not pin the server (or floor) to CPU 0 and the client to CPU 1
  --ack-at-once      devices ack as soon as the client has read a batch of updates, so
                     acks reach the server while it is still writing the broadcast; by
                     default they ack once every device has the update, and the server
                     reads them one by one, woken for each (as with real devices, which
                     ack after applying an update)
  --full-every F     every F-th update is a full one (default 25; 0 = never)
  --interval-ms MS   least time between two pushes (default 12; the server allows
                     100 messages/s per device, and every update is acked)
  --gap-ms MS        quiet time after every device has its update (default 3)
  --frame-bytes B    size of the floor's pre-framed update (default 600)
  --startup N        report the binary size and the median of N start-ups
                     (spawn -> port accepts); alone, skips the fan-out phases

big pushes (either skips the fan-out phases; the server runs with --no-state):
  --push-cpu         server CPU per push (from /proc/<pid>/task/*/schedstat, before each
                     POST and once it is answered and every device has the update; with
                     the acks: until the next POST) against the floor of serde_json reading the
                     same body once into IgnoredAny in this process, same run: a
                     10,000-node schema (1.6 MB) with a one-prop edit per push (incremental)
                     with 1 and 100 devices, and pretty-printed (3.6 MB) with 1; a
                     63,500-node schema (10.4 MB), first push and
                     pushes alternating with a copy 64 nodes apart (full), 1 device.
                     Medians over --runs. A first push (one per run) is also set
                     against the scans made right after it
  --push-stall       10 MiB pushes back to back (full updates) on one connection while
                     GET /health and two devices' pings (one of the pushed session, one of
                     another) measure how long their answers wait: p50, p99, longest
  --pushes K         pushes per case and run (default: 15 one-prop edits, 8 full updates
                     after the first push; 40 with --push-stall)
  --stall-seconds S  with --push-stall: stop pushing after S seconds (default 30)
  --callgrind        with --push-cpu: count instructions instead (the server under
                     valgrind --tool=callgrind, zeroed and dumped around each push with
                     callgrind_control; the floor is this tool scanning the body under
                     callgrind); user space only, the 1-device cases, fewer pushes
  --with-state       keep sessions on disk as the binary does by default (in a temporary
                     state directory): the state writer's CPU then counts too
";

mod big_schema;
mod callgrind;
mod client;
mod floor;
mod options;
mod probe;
mod push_cpu;
mod push_stall;
mod report;
#[path = "../shared/schemas.rs"]
mod schemas;
mod servers;
mod startup;
mod wire;
mod workload;
use big_schema::*;
use callgrind::*;
use client::*;
use floor::*;
use options::*;
use probe::*;
use push_cpu::*;
use push_stall::*;
use report::*;
use servers::*;
use startup::*;
use wire::*;
use workload::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Internal modes: this tool re-executed as a server child.
    match args.first().map(String::as_str) {
        Some("--serve-lib") => return serve_lib_child(&args[1..]),
        Some("--serve-floor") => return serve_floor_child(&args[1..]),
        Some("--scan-floor") => return scan_floor_child(&args[1..]),
        _ => {}
    }
    let opts = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let nofile = raise_nofile_limit();
    if opts.startup > 0 {
        if let Err(e) = size_and_startup(&opts.bin, opts.startup) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    if opts.push_cpu {
        if let Err(e) = push_cpu(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    if opts.push_stall {
        if let Err(e) = push_stall(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    if opts.fanout {
        let per_process = match opts.server {
            ServerKind::Thread => 2 * opts.devices + 64,
            _ => opts.devices + 64,
        };
        if (per_process as u64) > nofile {
            eprintln!(
                "error: {} devices need about {per_process} file descriptors in one process; \
                 the limit is {nofile} (use --server bin or lib, or fewer devices)",
                opts.devices
            );
            std::process::exit(1);
        }
        if let Err(e) = fanout(&opts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

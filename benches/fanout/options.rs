//! Command-line options of the load tool.

use crate::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerKind {
    Bin,
    Lib,
    Thread,
}

#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub(crate) devices: usize,
    pub(crate) updates: usize,
    pub(crate) runs: usize,
    pub(crate) server: ServerKind,
    pub(crate) floor: bool,
    pub(crate) full_every: usize,
    pub(crate) interval: Duration,
    pub(crate) gap: Duration,
    pub(crate) frame_bytes: usize,
    pub(crate) startup: usize,
    pub(crate) fanout: bool,
    pub(crate) bin: String,
    pub(crate) lean_floor: bool,
    pub(crate) pin: bool,
    pub(crate) ack_at_once: bool,
    /// `--push-cpu`: server CPU per push of big schemas (push_cpu.rs).
    pub(crate) push_cpu: bool,
    /// `--push-stall`: /health and ping waits during big pushes (push_stall.rs).
    pub(crate) push_stall: bool,
    /// Pushes per case and run of the two modes above.
    pub(crate) pushes: usize,
    /// Longest time the pushes of `--push-stall` go on.
    pub(crate) stall_time: Duration,
    /// Keep sessions on disk (the binary's default) in the push modes.
    pub(crate) with_state: bool,
    /// `--push-cpu --callgrind`: the server runs under callgrind and
    /// pushes are counted in instructions (callgrind.rs).
    pub(crate) callgrind: bool,
    /// How long a round waits for every device to get its update.
    pub(crate) round_timeout: Duration,
}

pub(crate) fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        devices: 1000,
        updates: 200,
        runs: 1,
        server: ServerKind::Bin,
        floor: true,
        full_every: 25,
        interval: Duration::from_millis(12),
        gap: Duration::from_millis(3),
        frame_bytes: 600,
        startup: 0,
        fanout: true,
        bin: SERVER_BIN.to_string(),
        lean_floor: false,
        pin: std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2),
        ack_at_once: false,
        push_cpu: false,
        push_stall: false,
        pushes: 0,
        stall_time: Duration::from_secs(30),
        with_state: false,
        callgrind: false,
        round_timeout: Duration::from_secs(10),
    };
    let mut devices_given = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .ok_or(format!("{name} needs a value"))?
                .parse::<usize>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match a.as_str() {
            "--bench" => {} // added by `cargo bench`
            "--devices" => {
                o.devices = num("--devices")?.max(1);
                devices_given = true;
            }
            "--updates" => o.updates = num("--updates")?.max(1),
            "--runs" => o.runs = num("--runs")?.max(1),
            "--no-floor" => o.floor = false,
            "--lean-floor" => o.lean_floor = true,
            "--no-pin" => o.pin = false,
            "--ack-at-once" => o.ack_at_once = true,
            "--floor" => o.floor = true,
            "--push-cpu" => o.push_cpu = true,
            "--push-stall" => o.push_stall = true,
            "--pushes" => o.pushes = num("--pushes")?.max(1),
            "--stall-seconds" => {
                o.stall_time = Duration::from_secs(num("--stall-seconds")?.clamp(1, 600) as u64)
            }
            "--with-state" => o.with_state = true,
            "--callgrind" => o.callgrind = true,
            "--full-every" => o.full_every = num("--full-every")?,
            "--interval-ms" => o.interval = Duration::from_millis(num("--interval-ms")? as u64),
            "--gap-ms" => o.gap = Duration::from_millis(num("--gap-ms")? as u64),
            "--frame-bytes" => o.frame_bytes = num("--frame-bytes")?.clamp(64, 60_000),
            "--startup" => o.startup = num("--startup")?.max(1),
            "--bin" => o.bin = it.next().ok_or("--bin needs a path")?.clone(),
            "--server" => {
                o.server = match it.next().map(String::as_str) {
                    Some("bin") => ServerKind::Bin,
                    Some("lib") => ServerKind::Lib,
                    Some("thread") => ServerKind::Thread,
                    other => return Err(format!("--server: bin, lib or thread, not {other:?}")),
                }
            }
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if o.callgrind {
        if !o.push_cpu || o.server != ServerKind::Bin {
            return Err("--callgrind goes with --push-cpu (and --server bin)".into());
        }
        // Everything runs ~50 times slower under callgrind.
        o.round_timeout = Duration::from_secs(300);
    }
    let push_modes = o.push_cpu || o.push_stall;
    o.fanout = !push_modes && (o.startup == 0 || devices_given);
    Ok(o)
}

//! `--push-cpu`: the server's CPU per push of a big schema over HTTP, from
//! the process's own CPU time, against the floor of reading the same body
//! bytes once (`serde_json` into `IgnoredAny`, in this process), measured
//! in the same run.
//!
//! Cases: a 10,000-node schema (about 1.6 MB) pushed again and again with
//! one leaf's text changed each time (incremental updates), with 1 and with
//! 100 devices connected, and the same pretty-printed (about 3.6 MB), as an
//! editor saves a file; and a 63,500-node schema (about 10.4 MB) pushed
//! first to an empty session and then alternating with a copy that differs
//! in 64 nodes (full updates), with 1 device. The schemas are
//! `schema_value` of `benches/protocol.rs`, so the figures compare with its
//! push table. The server's CPU (every thread's, from
//! `/proc/<pid>/task/*/schedstat`) is read just before the POST, once this
//! tool has the answer and every device has the update (the push's
//! figure: reading the request, parsing, validating, the checksum, the
//! delta, encoding, writing the update to every device, freeing the schema
//! it replaces), and just before the next POST ("with the acks": also
//! reading the devices' acks of it, which they send only then).

use crate::*;
use serde::de::IgnoredAny;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pushes {
    /// Each push changes one leaf's text of the one before.
    OnePropEdits,
    /// A first push, then two schemas in turn, each a full update.
    Alternating,
}

struct Case {
    name: &'static str,
    nodes: usize,
    devices: usize,
    pushes: Pushes,
    /// The texts are pushed pretty-printed (as an editor saves a file,
    /// and `push` and `--watch` send it).
    pretty: bool,
    /// Server CPU ÷ floor the project aims at.
    goal: f64,
}

const CASES: [Case; 4] = [
    Case {
        name: "10,000 nodes, one-prop edit, 1 device",
        nodes: 10_000,
        devices: 1,
        pushes: Pushes::OnePropEdits,
        pretty: false,
        goal: 2.0,
    },
    Case {
        name: "the same, pretty-printed, 1 device",
        nodes: 10_000,
        devices: 1,
        pushes: Pushes::OnePropEdits,
        pretty: true,
        goal: 2.0,
    },
    Case {
        name: "10,000 nodes, one-prop edit, 100 devices",
        nodes: 10_000,
        devices: 100,
        pushes: Pushes::OnePropEdits,
        pretty: false,
        goal: 2.0,
    },
    Case {
        name: "63,500 nodes (10 MiB), full update, 1 device",
        nodes: 63_500,
        devices: 1,
        pushes: Pushes::Alternating,
        pretty: false,
        goal: 3.0,
    },
];

/// Scans of each pushed body for the floor, right after its push.
const FLOOR_SCANS: usize = 3;

/// The largest body the server takes by default (`--max-body-bytes`).
pub(crate) const MAX_BODY: usize = 10 * 1024 * 1024;

/// One case in one run.
struct CaseRun {
    /// Server CPU (ns) of each measured push, in order, until it was
    /// answered and every device had the update.
    cpu: Vec<u64>,
    /// The same with reading the devices' acks of it.
    cpu_acked: Vec<u64>,
    /// Update type of each push (0 incremental, 1 full, 2 other).
    class: Vec<usize>,
    /// Time (ns) from writing each POST to its answer.
    answered: Vec<u64>,
    /// Median CPU (ns) of one `IgnoredAny` scan of a pushed body.
    floor: f64,
    /// The fastest of those scans.
    floor_min: f64,
    /// Median CPU (ns) of the same scan built at opt-level 3
    /// (`benches/floor`).
    floor3: f64,
    /// Full updates: server CPU (ns) of a first push to a second, empty
    /// session with no device, after the measured pushes (the heap has
    /// the pages by then: what a first push costs in a server that has
    /// run a while).
    warm_first: Option<u64>,
    /// Full updates: the floor and floor3 of the scans made right after
    /// the first push, and right after the push to the second session.
    /// A first push is one sample per run, and this machine has spells of
    /// some 100-200 ms in which everything runs up to 1.7x slower: the
    /// scans next to it see the machine as it did.
    first_floors: Option<[f64; 2]>,
    warm_floors: Option<[f64; 2]>,
    /// `/proc/<pid>/stat` over all the measured pushes.
    stat: ProcStat,
    /// With `--callgrind`: instructions of each push and of one scan.
    instructions: Vec<u64>,
    floor_instructions: u64,
    /// The same for the floor built at opt-level 3.
    floor3_instructions: u64,
    refused: usize,
    rss_kib: Option<u64>,
}

impl CaseRun {
    /// Median server CPU (ns) of the pushes in `range`.
    fn median_cpu(&self, range: std::ops::Range<usize>) -> f64 {
        median(self.cpu[range].iter().map(|&v| v as f64).collect())
    }

    /// The same, with the devices' acks.
    fn median_cpu_acked(&self, range: std::ops::Range<usize>) -> f64 {
        median(self.cpu_acked[range].iter().map(|&v| v as f64).collect())
    }
}

/// `POST /session/new`; the new session's id.
pub(crate) fn new_session(addr: SocketAddr) -> io::Result<String> {
    let (status, body) = http_once(addr, "POST", "/session/new", "")?;
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["sessionId"].as_str().map(str::to_string))
        .ok_or_else(|| io::Error::other(format!("POST /session/new: {status} {body}")))
}

/// The floor: reading the pushed bytes once, in this process.
#[inline(never)]
pub(crate) fn floor_scan(body: &[u8]) -> io::Result<IgnoredAny> {
    serde_json::from_slice::<IgnoredAny>(body).map_err(io::Error::other)
}

/// CPU (ns) of each of [`FLOOR_SCANS`] scans of `body`.
pub(crate) fn floor_samples(body: &str) -> io::Result<Vec<f64>> {
    scan_samples(body, floor_scan)
}

/// The same with the floor built at opt-level 3 (`benches/floor`).
fn floor3_samples(body: &str) -> io::Result<Vec<f64>> {
    scan_samples(body, |b| lumora_floor::scan(b).map_err(io::Error::other))
}

/// CPU (ns) of each of [`FLOOR_SCANS`] runs of `scan` over `body`.
fn scan_samples(
    body: &str,
    scan: impl Fn(&[u8]) -> io::Result<IgnoredAny>,
) -> io::Result<Vec<f64>> {
    (0..FLOOR_SCANS)
        .map(|_| {
            let t0 = this_thread_cpu_ns();
            std::hint::black_box(scan(std::hint::black_box(body.as_bytes()))?);
            Ok((this_thread_cpu_ns() - t0) as f64)
        })
        .collect()
}

/// The bodies a case pushes, the first one included.
fn case_bodies(case: &Case, pushes: usize) -> io::Result<Vec<String>> {
    let mut bodies: Vec<String> = match case.pushes {
        Pushes::OnePropEdits => one_prop_edits(case.nodes, pushes),
        Pushes::Alternating => {
            let [a, b] = two_full_schemas(case.nodes);
            (0..=pushes)
                .map(|i| if i % 2 == 0 { a.clone() } else { b.clone() })
                .collect()
        }
    };
    if case.pretty {
        bodies = bodies.iter().map(|b| pretty(b)).collect();
    }
    if let Some(big) = bodies.iter().find(|b| b.len() > MAX_BODY) {
        return Err(io::Error::other(format!(
            "a {} B schema is over the server's {MAX_BODY} B body limit",
            big.len()
        )));
    }
    Ok(bodies)
}

fn run_case(opts: &Opts, case: &Case, bodies: &[String]) -> io::Result<CaseRun> {
    let mut o = opts.clone();
    o.devices = case.devices;
    let target = start_server(&o)?;
    let result = (|| {
        settle(100);
        let addr = target.addr;
        let session = new_session(addr)?;
        let path = format!("/send/{session}");
        // One-prop edits start from a session holding the first schema;
        // the full updates start with the first push itself.
        let (measured, first_seq) = match case.pushes {
            Pushes::OnePropEdits => {
                let (status, body) = http_once(addr, "POST", &path, &bodies[0])?;
                if status != 200 {
                    return Err(io::Error::other(format!("first push: {status} {body}")));
                }
                (&bodies[1..], 2)
            }
            Pushes::Alternating => (bodies, 1),
        };
        let mut client = Client::new(addr, &session)?;
        // The acks are read after the push's own CPU is.
        client.hold_acks = true;
        let requests = measured
            .iter()
            .map(|b| post_request(addr, &path, b))
            .collect();
        client.set_trigger(TriggerKind::Http { requests })?;
        client.connect_all(case.devices)?;
        client.pump_until(Instant::now() + Duration::from_millis(200), |_| false)?;
        // The floor is measured after each push, while the server is idle,
        // by this thread moved to the server's CPU: both see the machine
        // (that core, at that time) alike.
        // Under callgrind: counters zeroed before each push, dumped after.
        let mut floor = Vec::new();
        let mut floor3 = Vec::new();
        let mut instructions = Vec::new();
        let pid = target.child.as_ref().map_or(0, |c| c.id());
        if o.callgrind {
            callgrind_zero(pid)?;
        }
        let stat0 = proc_stat(pid).unwrap_or_default();
        let rounds =
            client.rounds_with(measured.len(), first_seq, &target.probe, &o, &mut |r| {
                if o.callgrind {
                    instructions.push(callgrind_dump(pid)?);
                    return callgrind_zero(pid);
                }
                let samples = on_server_cpu(&o, || floor_samples(&measured[r]));
                floor.extend(samples?);
                let samples = on_server_cpu(&o, || floor3_samples(&measured[r]));
                floor3.extend(samples?);
                Ok(())
            })?;
        let stat1 = proc_stat(pid).unwrap_or_default();
        let stat = ProcStat {
            user_ns: stat1.user_ns.saturating_sub(stat0.user_ns),
            system_ns: stat1.system_ns.saturating_sub(stat0.system_ns),
            minor_faults: stat1.minor_faults.saturating_sub(stat0.minor_faults),
        };
        let (floor_instructions, floor3_instructions) = if o.callgrind {
            (
                callgrind_floor(&measured[0], false)?,
                callgrind_floor(&measured[0], true)?,
            )
        } else {
            (0, 0)
        };
        let warm_first = match case.pushes {
            Pushes::Alternating if !o.callgrind => {
                let second = format!("/send/{}", new_session(addr)?);
                let cpu0 = process_cpu_ns(pid);
                let (status, body) = http_once(addr, "POST", &second, &bodies[0])?;
                if status != 200 {
                    return Err(io::Error::other(format!("second session: {status} {body}")));
                }
                let cpu = process_cpu_ns(pid).saturating_sub(cpu0);
                let near = [
                    median(on_server_cpu(&o, || floor_samples(&bodies[0]))?),
                    median(on_server_cpu(&o, || floor3_samples(&bodies[0]))?),
                ];
                Some((cpu, near))
            }
            _ => None,
        };
        let (warm_first, warm_floors) = warm_first.unzip();
        // The first push's own scans: the first FLOOR_SCANS of each floor.
        let first_floors = (case.pushes == Pushes::Alternating && !o.callgrind).then(|| {
            let after_first = |f: &[f64]| median(f[..FLOOR_SCANS.min(f.len())].to_vec());
            [after_first(&floor), after_first(&floor3)]
        });
        let rss_kib = target.probe.rss_kib();
        let floor_min = floor.iter().copied().fold(f64::INFINITY, f64::min);
        let floor = median(floor);
        let floor3 = median(floor3);
        Ok(CaseRun {
            cpu: rounds.cpu_served,
            cpu_acked: rounds.cpu,
            class: rounds.class,
            answered: rounds.answered,
            floor,
            floor_min,
            floor3,
            warm_first,
            first_floors,
            warm_floors,
            stat,
            instructions,
            floor_instructions,
            floor3_instructions,
            refused: rounds.push_errors,
            rss_kib,
        })
    })();
    target.shutdown();
    result
}

fn class_name(class: usize) -> &'static str {
    match class {
        0 => "incremental",
        1 => "full",
        _ => "other",
    }
}

pub(crate) fn push_cpu(opts: &Opts) -> io::Result<()> {
    if opts.callgrind {
        let r = push_instructions(opts);
        callgrind_cleanup();
        return r;
    }
    println!(
        "push CPU: server CPU per push over HTTP (release binary, --coalesce-ms 0{}), {} run(s), {} CPUs{}",
        if opts.with_state { "" } else { ", --no-state" },
        opts.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if opts.pin {
            format!(" (server on CPU {SERVER_CPU}, this tool on CPU {CLIENT_CPU})")
        } else {
            " (not pinned)".to_string()
        },
    );
    println!(
        "floor: serde_json reading the same body once into IgnoredAny, in this process (median of {FLOOR_SCANS} scans of each body, right after its push, on the server's CPU), built as the server is (opt-level \"z\"); floor3: the same built at opt-level 3 (benches/floor)"
    );
    let wall = Instant::now();
    // Per case: per run (server median, floor, ratio, fastest push,
    // fastest scan) and first pushes.
    let mut summary: Vec<Vec<[f64; 7]>> = CASES.iter().map(|_| Vec::new()).collect();
    // [server CPU, ratio, ratio3, ratio and ratio3 to the scans right
    // after it]
    let mut firsts: Vec<Vec<[f64; 5]>> = CASES.iter().map(|_| Vec::new()).collect();
    let mut warm_firsts: Vec<Vec<[f64; 5]>> = CASES.iter().map(|_| Vec::new()).collect();
    let mut sizes = vec![0usize; CASES.len()];
    for (k, case) in CASES.iter().enumerate() {
        let pushes = match (opts.pushes, case.pushes) {
            (0, Pushes::OnePropEdits) => 15,
            (0, Pushes::Alternating) => 8,
            (n, _) => n,
        };
        let bodies = case_bodies(case, pushes)?;
        sizes[k] = bodies[0].len();
        for run in 1..=opts.runs {
            let r = run_case(opts, case, &bodies)?;
            let expected = match case.pushes {
                Pushes::OnePropEdits => 0,
                Pushes::Alternating => 1,
            };
            let unexpected = r.class.iter().filter(|&&c| c != expected).count();
            // The full updates' first push (to an empty session) on its own.
            let changing = match case.pushes {
                Pushes::OnePropEdits => 0..r.cpu.len(),
                Pushes::Alternating => 1..r.cpu.len(),
            };
            let server = r.median_cpu(changing.clone());
            let mut answered: Vec<u64> = r.answered[changing.clone()].to_vec();
            answered.sort_unstable();
            let mut cpu_sorted: Vec<u64> = r.cpu[changing.clone()].to_vec();
            cpu_sorted.sort_unstable();
            println!(
                "run {run}/{}: {} ({} B): server CPU per push median {} (min {}, max {}; {} pushes, {}{}{}), with the acks {}, POST answered after {} (median); floor {} (floor3 {}); ratio {:.1}x ({:.1}x; goal <= {}x){}",
                opts.runs,
                case.name,
                sizes[k],
                ms(server),
                ms(cpu_sorted[0] as f64),
                ms(*cpu_sorted.last().unwrap_or(&0) as f64),
                changing.len(),
                class_name(expected),
                if unexpected > 0 {
                    format!(", {unexpected} of another type")
                } else {
                    String::new()
                },
                if r.refused > 0 {
                    format!(", {} refused", r.refused)
                } else {
                    String::new()
                },
                ms(r.median_cpu_acked(changing.clone())),
                ms(percentile(&answered, 0.5)),
                ms(r.floor),
                ms(r.floor3),
                server / r.floor,
                server / r.floor3,
                case.goal,
                r.rss_kib
                    .map_or(String::new(), |kib| format!("; server RSS after {kib} KiB")),
            );
            let all = (r.stat.user_ns + r.stat.system_ns).max(1);
            // Clock ticks (10 ms) split the CPU time: too coarse for less
            // than ~20 of them.
            let kernel = if all >= 200_000_000 {
                format!(
                    "{:.0}% of the CPU in the kernel",
                    100.0 * r.stat.system_ns as f64 / all as f64
                )
            } else {
                "too short to split user and kernel time (clock ticks)".to_string()
            };
            println!(
                "          over all {} pushes (/proc/<pid>/stat): {kernel}, {} page faults per push",
                r.cpu.len(),
                r.stat.minor_faults / r.cpu.len().max(1) as u64
            );
            if let (Pushes::Alternating, Some(near)) = (case.pushes, r.first_floors) {
                // A first push against the run's floors and against the
                // scans made right after it.
                let row = |cpu: f64, near: [f64; 2]| {
                    let row = [
                        cpu,
                        cpu / r.floor,
                        cpu / r.floor3,
                        cpu / near[0],
                        cpu / near[1],
                    ];
                    let line = format!(
                        "server CPU {}; ratio {:.1}x ({:.1}x); to the scans right after it ({} / {}): {:.1}x ({:.1}x)",
                        ms(cpu),
                        row[1],
                        row[2],
                        ms(near[0]),
                        ms(near[1]),
                        row[3],
                        row[4],
                    );
                    (row, line)
                };
                let (first, line) = row(r.cpu[0] as f64, near);
                println!(
                    "          first push (empty session, answered after {}): {line}",
                    ms(r.answered[0] as f64),
                );
                firsts[k].push(first);
                if let (Some(warm), Some(near)) = (r.warm_first, r.warm_floors) {
                    let (warm, line) = row(warm as f64, near);
                    println!(
                        "          first push to a second empty session (no device, heap warm): {line}"
                    );
                    warm_firsts[k].push(warm);
                }
            }
            summary[k].push([
                server,
                r.floor,
                server / r.floor,
                cpu_sorted[0] as f64,
                r.floor_min,
                r.floor3,
                server / r.floor3,
            ]);
        }
    }
    println!(
        "\nmedians over {} run(s) ({:.0} s in all); ratios: the median of the runs' own (server over that run's floor); min/min: the fastest push of all runs over the fastest scan:",
        opts.runs,
        wall.elapsed().as_secs_f64()
    );
    let met = |ratio: f64, goal: f64| if ratio <= goal { "met" } else { "NOT met" };
    for (k, case) in CASES.iter().enumerate() {
        let col = |c: usize| median(summary[k].iter().map(|r| r[c]).collect());
        let ratio = col(2);
        let ratio3 = col(6);
        let least = |c: usize| {
            summary[k]
                .iter()
                .map(|r| r[c])
                .fold(f64::INFINITY, f64::min)
        };
        println!(
            "  {:<48} {:>9} B  server {:>10}  floor {:>9}  ratio {:>5.1}x (min/min {:.1}x)  floor3 {:>9}  ratio3 {:>5.1}x  goal <= {}x: {}; {}",
            case.name,
            sizes[k],
            ms(col(0)),
            ms(col(1)),
            ratio,
            least(3) / least(4),
            ms(col(5)),
            ratio3,
            case.goal,
            met(ratio, case.goal),
            met(ratio3, case.goal),
        );
        for (label, rows) in [
            ("  the same, first push to an empty session", &firsts[k]),
            (
                "  first push to a 2nd session (no device, warm)",
                &warm_firsts[k],
            ),
        ] {
            if rows.is_empty() {
                continue;
            }
            let fcol = |c: usize| median(rows.iter().map(|r| r[c]).collect());
            println!(
                "  {:<48} {:>9} B  server {:>10}  floor {:>9}  ratio {:>5.1}x                 floor3 {:>9}  ratio3 {:>5.1}x  goal <= {}x: {}; {}",
                label,
                sizes[k],
                ms(fcol(0)),
                ms(col(1)),
                fcol(1),
                ms(col(5)),
                fcol(2),
                case.goal,
                met(fcol(1), case.goal),
                met(fcol(2), case.goal),
            );
            println!(
                "  {:<48} {:>9}    to the scans right after each: ratio {:>5.1}x  ratio3 {:>5.1}x  goal <= {}x: {}; {}",
                "",
                "",
                fcol(3),
                fcol(4),
                case.goal,
                met(fcol(3), case.goal),
                met(fcol(4), case.goal),
            );
        }
    }
    Ok(())
}

/// `--push-cpu --callgrind`: the 1-device cases in instructions.
fn push_instructions(opts: &Opts) -> io::Result<()> {
    println!(
        "push instructions: the server under callgrind (user space only; --coalesce-ms 0{}), {} run(s); floor: serde_json reading the same body once into IgnoredAny, under callgrind, built as the server is (and floor3: at opt-level 3)",
        if opts.with_state { "" } else { ", --no-state" },
        opts.runs,
    );
    let wall = Instant::now();
    let mega = |n: f64| format!("{:.1} M", n / 1e6);
    for case in CASES.iter().filter(|c| c.devices == 1) {
        let pushes = match (opts.pushes, case.pushes) {
            (0, Pushes::OnePropEdits) => 5,
            (0, Pushes::Alternating) => 2,
            (n, _) => n,
        };
        let bodies = case_bodies(case, pushes)?;
        let (mut per_run, mut per_run3) = (Vec::new(), Vec::new());
        for run in 1..=opts.runs {
            let r = run_case(opts, case, &bodies)?;
            let changing = match case.pushes {
                Pushes::OnePropEdits => 0..r.instructions.len(),
                Pushes::Alternating => 1..r.instructions.len(),
            };
            let server = median(
                r.instructions[changing.clone()]
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
            );
            let floor = r.floor_instructions as f64;
            let floor3 = r.floor3_instructions as f64;
            println!(
                "run {run}/{}: {} ({} B): instructions per push median {} ({:?} M; {} pushes, types {:?}), floor {} (floor3 {}); ratio {:.2}x ({:.2}x; goal <= {}x)",
                opts.runs,
                case.name,
                bodies[0].len(),
                mega(server),
                r.instructions[changing.clone()]
                    .iter()
                    .map(|&v| (v as f64 / 1e5).round() / 10.0)
                    .collect::<Vec<_>>(),
                changing.len(),
                r.class[changing.clone()]
                    .iter()
                    .map(|&c| class_name(c))
                    .collect::<Vec<_>>(),
                mega(floor),
                mega(floor3),
                server / floor,
                server / floor3,
                case.goal,
            );
            if case.pushes == Pushes::Alternating {
                let first = r.instructions[0] as f64;
                println!(
                    "          first push (empty session): {}; ratio {:.2}x ({:.2}x)",
                    mega(first),
                    first / floor,
                    first / floor3
                );
            }
            per_run.push(server / floor);
            per_run3.push(server / floor3);
        }
        println!(
            "  {}: ratio {:.2}x, to floor3 {:.2}x (medians of {} run(s)), goal <= {}x",
            case.name,
            median(per_run),
            median(per_run3),
            opts.runs,
            case.goal
        );
    }
    println!("({:.0} s in all)", wall.elapsed().as_secs_f64());
    Ok(())
}

//! Phases (floor, server) and the statistics and report of a run.

use crate::*;

#[derive(Debug, Default)]
pub(crate) struct Rounds {
    /// Per round: server CPU ns, class (0 small, 1 full, 2 other),
    /// devices that got it, frame size.
    pub(crate) cpu: Vec<u64>,
    pub(crate) class: Vec<usize>,
    pub(crate) received: Vec<u64>,
    pub(crate) frame_bytes: Vec<usize>,
    /// Per round: server CPU ns until the push was answered and every
    /// device had the update, before the devices acked it.
    pub(crate) cpu_served: Vec<u64>,
    /// Latencies (ns) of small and of full updates.
    pub(crate) lat: [Vec<u64>; 2],
    /// Per round: time (ns) until the push was answered, i.e. until the
    /// server had written the update to every socket (or queued it).
    pub(crate) answered: Vec<u64>,
    pub(crate) client_cpu: u64,
    pub(crate) expected: u64,
    pub(crate) push_errors: usize,
}

impl Rounds {
    pub(crate) fn delivered(&self) -> u64 {
        self.received.iter().sum()
    }

    /// Server CPU µs per delivered update of `class` (None = all).
    pub(crate) fn cpu_per_msg_us(&self, class: Option<usize>) -> Option<f64> {
        let (mut ns, mut msgs) = (0u64, 0u64);
        for i in 0..self.cpu.len() {
            if class.is_none_or(|c| self.class[i] == c) {
                ns += self.cpu[i];
                msgs += self.received[i];
            }
        }
        (msgs > 0).then(|| ns as f64 / msgs as f64 / 1000.0)
    }

    pub(crate) fn mean_frame(&self, class: usize) -> Option<usize> {
        let sizes: Vec<usize> = (0..self.class.len())
            .filter(|&i| self.class[i] == class && self.frame_bytes[i] > 0)
            .map(|i| self.frame_bytes[i])
            .collect();
        (!sizes.is_empty()).then(|| sizes.iter().sum::<usize>() / sizes.len())
    }

    pub(crate) fn count(&self, class: usize) -> usize {
        self.class.iter().filter(|&&c| c == class).count()
    }

    pub(crate) fn latencies(&self, class: Option<usize>) -> Vec<u64> {
        let mut v: Vec<u64> = match class {
            Some(c) => self.lat[c].clone(),
            None => self.lat.concat(),
        };
        v.sort_unstable();
        v
    }
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Memory {
    pub(crate) idle_kib: u64,
    pub(crate) base_kib: u64,
    pub(crate) devices_kib: u64,
    pub(crate) after_kib: u64,
}

pub(crate) struct Phase {
    pub(crate) rounds: Rounds,
    pub(crate) connect: Duration,
    pub(crate) memory: Option<Memory>,
}

pub(crate) fn settle(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

pub(crate) fn floor_phase(opts: &Opts) -> io::Result<Phase> {
    let target = start_floor(opts)?;
    let result = (|| {
        let mut client = Client::new(target.addr, "floor")?;
        client.ack_at_once = opts.ack_at_once;
        client.set_trigger(TriggerKind::Floor)?;
        let connect = client.connect_all(opts.devices)?;
        let rounds = client.rounds(opts.updates, 1, &target.probe, opts)?;
        Ok(Phase {
            rounds,
            connect,
            memory: None,
        })
    })();
    target.shutdown();
    result
}

pub(crate) fn server_phase(opts: &Opts) -> io::Result<Phase> {
    let target = start_server(opts)?;
    let result = (|| {
        settle(200);
        let idle_kib = target.probe.rss_kib();
        let (status, body) = http_once(target.addr, "POST", "/session/new", "")?;
        let session = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["sessionId"].as_str().map(str::to_string))
            .ok_or_else(|| io::Error::other(format!("POST /session/new: {status} {body}")))?;
        let bodies = schemas(opts.updates, opts.full_every);
        let path = format!("/send/{session}");
        let (status, body) = http_once(target.addr, "POST", &path, &bodies[0])?;
        if status != 200 {
            return Err(io::Error::other(format!("initial push: {status} {body}")));
        }
        settle(50);
        let base_kib = target.probe.rss_kib();
        let mut client = Client::new(target.addr, &session)?;
        client.ack_at_once = opts.ack_at_once;
        let requests = bodies[1..]
            .iter()
            .map(|b| post_request(target.addr, &path, b))
            .collect();
        client.set_trigger(TriggerKind::Http { requests })?;
        let connect = client.connect_all(opts.devices)?;
        client.pump_until(Instant::now() + Duration::from_millis(200), |_| false)?;
        let devices_kib = target.probe.rss_kib();
        // The initial push was update 1.
        let rounds = client.rounds(opts.updates, 2, &target.probe, opts)?;
        let after_kib = target.probe.rss_kib();
        let memory = match (idle_kib, base_kib, devices_kib, after_kib) {
            (Some(idle_kib), Some(base_kib), Some(devices_kib), Some(after_kib)) => Some(Memory {
                idle_kib,
                base_kib,
                devices_kib,
                after_kib,
            }),
            _ => None,
        };
        Ok(Phase {
            rounds,
            connect,
            memory,
        })
    })();
    target.shutdown();
    result
}

pub(crate) fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

pub(crate) fn lat_line(r: &Rounds, class: Option<usize>) -> String {
    let v = r.latencies(class);
    format!(
        "p50 {} p99 {} max {}",
        ms(percentile(&v, 0.50)),
        ms(percentile(&v, 0.99)),
        ms(percentile(&v, 1.0))
    )
}

/// Median time from the push to its answer (every socket written).
pub(crate) fn answered_line(r: &Rounds) -> String {
    let mut v: Vec<u64> = r.answered.iter().copied().filter(|&a| a > 0).collect();
    v.sort_unstable();
    format!("push answered after {} (median)", ms(percentile(&v, 0.5)))
}

pub(crate) fn opt_us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} µs"))
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

pub(crate) fn fanout(opts: &Opts) -> io::Result<()> {
    let n = opts.devices;
    println!(
        "fan-out: {n} devices, {} updates per phase (every {} full), {} run(s), server = {:?}, floor = {}, acks {}, {} CPUs{}",
        opts.updates,
        if opts.full_every == 0 {
            "none".to_string()
        } else {
            format!("{}th", opts.full_every)
        },
        opts.runs,
        opts.server,
        if !opts.floor {
            "off"
        } else if opts.lean_floor {
            "lean (one read per ack)"
        } else {
            "reads until WouldBlock"
        },
        if opts.ack_at_once {
            "at once"
        } else {
            "after the round"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if opts.pin {
            format!(" (server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU})")
        } else {
            " (not pinned)".to_string()
        },
    );
    let mut floor_us = Vec::new();
    let mut server_small = Vec::new();
    let mut server_full = Vec::new();
    let mut server_all = Vec::new();
    let mut ratios = Vec::new();
    let mut lat_small = [Vec::new(), Vec::new(), Vec::new()];
    let mut lat_all = [Vec::new(), Vec::new(), Vec::new()];
    let mut lat_floor = [Vec::new(), Vec::new(), Vec::new()];
    let mut mem = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut undelivered = 0u64;
    let wall = Instant::now();
    for run in 1..=opts.runs {
        // Alternate the order so neither phase always runs on a warmer machine.
        let floor_first = run % 2 == 1;
        let mut floor = None;
        if opts.floor && floor_first {
            floor = Some(floor_phase(opts)?);
        }
        let server = server_phase(opts)?;
        if opts.floor && !floor_first {
            floor = Some(floor_phase(opts)?);
        }
        println!("run {run}/{}:", opts.runs);
        if let Some(f) = &floor {
            let r = &f.rounds;
            let cpu = r.cpu_per_msg_us(None);
            println!(
                "  floor : {}/{} delivered ({} B frames), CPU {} per message; latency {}; {}; client {:.2} µs/msg; connect {:.0} ms",
                r.delivered(),
                r.expected,
                r.mean_frame(0).unwrap_or(0),
                opt_us(cpu),
                lat_line(r, None),
                answered_line(r),
                r.client_cpu as f64 / r.delivered().max(1) as f64 / 1000.0,
                f.connect.as_secs_f64() * 1000.0
            );
            floor_us.push(cpu.unwrap_or(f64::NAN));
            let v = r.latencies(None);
            for (k, q) in [0.5, 0.99, 1.0].into_iter().enumerate() {
                lat_floor[k].push(percentile(&v, q) / 1e6);
            }
            undelivered += r.expected - r.delivered().min(r.expected);
        }
        let r = &server.rounds;
        let small = r.cpu_per_msg_us(Some(0));
        println!(
            "  server: {}/{} delivered ({} incremental of ~{} B, {} full of ~{} B{}), CPU per message: incremental {}, full {}, all {}",
            r.delivered(),
            r.expected,
            r.count(0),
            r.mean_frame(0).unwrap_or(0),
            r.count(1),
            r.mean_frame(1).unwrap_or(0),
            if r.push_errors > 0 {
                format!(", {} pushes refused", r.push_errors)
            } else {
                String::new()
            },
            opt_us(small),
            opt_us(r.cpu_per_msg_us(Some(1))),
            opt_us(r.cpu_per_msg_us(None)),
        );
        println!(
            "          latency incremental {}; all {}; {}; client {:.2} µs/msg; connect {:.0} ms",
            lat_line(r, Some(0)),
            lat_line(r, None),
            answered_line(r),
            r.client_cpu as f64 / r.delivered().max(1) as f64 / 1000.0,
            server.connect.as_secs_f64() * 1000.0
        );
        undelivered += r.expected - r.delivered().min(r.expected);
        server_small.push(small.unwrap_or(f64::NAN));
        server_full.push(r.cpu_per_msg_us(Some(1)).unwrap_or(f64::NAN));
        server_all.push(r.cpu_per_msg_us(None).unwrap_or(f64::NAN));
        for (k, q) in [0.5, 0.99, 1.0].into_iter().enumerate() {
            lat_small[k].push(percentile(&r.latencies(Some(0)), q) / 1e6);
            lat_all[k].push(percentile(&r.latencies(None), q) / 1e6);
        }
        if let Some(m) = server.memory {
            let per_device = (m.devices_kib as f64 - m.base_kib as f64) * 1024.0 / n as f64;
            println!(
                "          RSS idle {} KiB, with schema {} KiB, with {n} devices {} KiB (+{:.0} B/device), after updates {} KiB",
                m.idle_kib, m.base_kib, m.devices_kib, per_device, m.after_kib
            );
            mem[0].push(m.idle_kib as f64);
            mem[1].push(m.base_kib as f64);
            mem[2].push(m.devices_kib as f64);
            mem[3].push(per_device);
            mem[4].push(m.after_kib as f64);
        }
        if let (Some(f), Some(s)) = (
            floor.as_ref().and_then(|f| f.rounds.cpu_per_msg_us(None)),
            small,
        ) {
            println!("  ratio : server incremental / floor = {:.2}", s / f);
            ratios.push(s / f);
        }
    }
    println!(
        "\nmedians over {} run(s) at {n} devices ({:.0} s in all):",
        opts.runs,
        wall.elapsed().as_secs_f64()
    );
    if opts.floor {
        println!(
            "  floor CPU/message            {:.2} µs   latency p50 {:.2} / p99 {:.2} / max {:.2} ms",
            median(floor_us.clone()),
            median(lat_floor[0].clone()),
            median(lat_floor[1].clone()),
            median(lat_floor[2].clone())
        );
    }
    println!(
        "  server CPU/message           incremental {:.2} µs, full {:.2} µs, all {:.2} µs",
        median(server_small),
        median(server_full),
        median(server_all)
    );
    if opts.floor {
        println!(
            "  ratio incremental / floor    {:.2}   (goal <= 1.25)",
            median(ratios)
        );
    }
    println!(
        "  latency incremental          p50 {:.2} / p99 {:.2} / max {:.2} ms",
        median(lat_small[0].clone()),
        median(lat_small[1].clone()),
        median(lat_small[2].clone())
    );
    println!(
        "  latency all updates          p50 {:.2} / p99 {:.2} / max {:.2} ms   (goal p99 <= 10, max <= 15)",
        median(lat_all[0].clone()),
        median(lat_all[1].clone()),
        median(lat_all[2].clone())
    );
    if !mem[0].is_empty() {
        println!(
            "  server RSS                   idle {:.0} KiB (goal <= 2048), {n} devices {:.0} KiB, {:.0} B/device (goal <= 8192), after updates {:.0} KiB",
            median(mem[0].clone()),
            median(mem[2].clone()),
            median(mem[3].clone()),
            median(mem[4].clone())
        );
    }
    println!("  undelivered updates          {undelivered}");
    Ok(())
}

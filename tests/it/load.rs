//! 1,000 devices on one server (the goal is 10,000 on one thread;
//! this is the functional check that a broadcast reaches every one of a
//! thousand, not a benchmark).

use crate::common::{Device, TestServer, schema, text};
use crate::support::{SOON, stats, wait_until};
use lumora_hr_mini::protocol::calculate_checksum;
use serde_json::json;
use std::net::{SocketAddr, TcpStream};
use tungstenite::protocol::WebSocketConfig;

const WANTED: usize = 1000;
const THREADS: usize = 4;

/// How many devices fit in the descriptor limit: each device is two
/// descriptors in this process (client and server side), plus some spare.
/// The soft limit is raised towards the hard one when needed; if even that
/// is too low, the test runs with fewer devices and says so.
fn device_budget() -> usize {
    let spare = 128;
    let needed = (2 * WANTED + spare) as libc::rlim_t;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return WANTED;
        }
        if lim.rlim_cur < needed {
            let raised = libc::rlimit {
                rlim_cur: needed.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = raised.rlim_cur;
            }
        }
    }
    let fits = (lim.rlim_cur as usize).saturating_sub(spare) / 2;
    if fits < WANTED {
        eprintln!(
            "descriptor limit {}: running with {fits} devices",
            lim.rlim_cur
        );
    }
    fits.min(WANTED)
}

/// A device with small buffers (tungstenite's default read buffer is
/// 128 KiB, which a thousand idle clients do not need).
fn small_device(addr: SocketAddr, session: &str, id: &str) -> Device {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(SOON)).unwrap();
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let url = format!("ws://{addr}/ws?session={session}");
    let (ws, _) = tungstenite::client::client_with_config(url.as_str(), stream, Some(config))
        .expect("handshake");
    let mut d = Device { ws };
    d.send(&Device::connect_msg(session, id));
    let c = d.recv_type("connected");
    assert_eq!(c["payload"]["sequenceNumber"], 0);
    d
}

#[test]
fn a_thousand_devices_receive_every_broadcast() {
    let count = device_budget();
    let server = TestServer::start();
    let session = server.session();
    let addr = server.addr;

    // Connect from a few threads at once.
    let per = count.div_ceil(THREADS);
    let groups: Vec<Vec<Device>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let session = &session;
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(count))
                        .map(|i| small_device(addr, session, &format!("dev-{i}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut devices: Vec<Device> = groups.into_iter().flatten().collect();
    assert_eq!(devices.len(), count);
    wait_until(SOON, "every device to be registered", || {
        stats(&server).total_devices == count
    });

    // A full update, then an incremental one: each reaches every device
    // with the right number and checksum.
    let v1 = schema(
        json!([{"id": "root", "type": "View", "children": [text("a", "hello"), text("b", "world")]}]),
    );
    let mut v2 = v1.clone();
    v2["nodes"][0]["children"][1]["props"]["text"] = json!("everyone");
    for (seq, v, kind) in [(1, &v1, "full"), (2, &v2, "incremental")] {
        let (status, r) = server.push(&session, v);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["clientsUpdated"], count);
        assert_eq!(r["updateType"], kind);
        let sum = calculate_checksum(v);
        std::thread::scope(|s| {
            for chunk in devices.chunks_mut(per) {
                let sum = &sum;
                s.spawn(move || {
                    for d in chunk {
                        let u = d.recv_type("update");
                        assert_eq!(u["payload"]["sequenceNumber"], seq);
                        assert_eq!(u["payload"]["type"], kind);
                        assert_eq!(&u["payload"]["checksum"], sum);
                    }
                });
            }
        });
    }
    let s = stats(&server);
    assert_eq!(s.counters.updates_queued, 2 * count as u64);
    assert_eq!(s.counters.slow_device_resyncs, 0);

    // Everyone leaves; the server forgets them all.
    drop(devices);
    wait_until(SOON, "every device to be gone", || {
        stats(&server).total_devices == 0
    });
}

//! Connections that come and go leave nothing behind: no timers of theirs
//! stay in the wheel, whether they closed cleanly, were reset, upgraded to
//! WebSocket or not.

use crate::common::{Device, TestServer, http};
use crate::hostile::open_connections;
use crate::support::{RawWs, SOON, masked_frame, stats, wait_until};
use std::io::Write;
use std::net::TcpStream;

fn timers_pending(server: &TestServer) -> usize {
    stats(server).timers_pending
}

/// Closes `stream` with a reset (SO_LINGER 0) instead of a FIN.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads one `linger` of the size passed, on a socket
    // this function owns until it drops it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    drop(stream);
}

#[test]
fn connect_disconnect_churn_leaves_no_timers_behind() {
    let server = TestServer::start();
    let session = server.session();
    // Measured once the connection that made the session is gone: while
    // the server has not yet read its close, its timer counts too, and
    // the count after the churn could never come back to it.
    wait_until(SOON, "the session's connection closed", || {
        open_connections(&server) == 0
    });
    let idle = timers_pending(&server);
    let path = format!("/ws?session={session}");
    let connect = masked_frame(
        0x1,
        Device::connect_msg(&session, "churn")
            .to_string()
            .as_bytes(),
    );
    const CYCLES: usize = 1_500;
    for i in 0..CYCLES {
        match i % 5 {
            // A whole HTTP exchange.
            0 => assert_eq!(http(server.addr, "GET", "/health", None).0, 200),
            // Half a request, then a reset.
            1 => {
                let mut s = TcpStream::connect(server.addr).unwrap();
                s.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
                reset(s);
            }
            // A device that connects and leaves with a FIN.
            2 => {
                let mut d = RawWs::open_with(server.addr, &path, &connect);
                assert_eq!(d.recv_json(SOON)["type"], "connected");
            }
            // A device that is reset right after `connect`.
            3 => reset(RawWs::open_with(server.addr, &path, &connect).stream),
            // An upgrade without `connect`, reset.
            _ => reset(RawWs::open(server.addr, &path).stream),
        }
    }
    wait_until(SOON, "every churned connection closed", || {
        open_connections(&server) == 0
    });
    // Every timer of those connections went with them (no waiting for
    // 30 s pings and 60 s idle checks to fire).
    wait_until(SOON, "the timers back to their idle count", || {
        timers_pending(&server) == idle
    });
    let s = stats(&server);
    assert!(s.connections.accepted >= CYCLES as u64, "{s:?}");
    assert_eq!(s.total_devices, 0, "{s:?}");
}

//! Arbitrary bytes through the same request path the server takes
//! (`server::http::parse_head`, `server::api::admit` on the head alone,
//! then `server::api::handle` once the body is there, with a real `Hub`),
//! as one keep-alive connection would deliver them: requests are parsed
//! and routed one after another until the bytes run out or one is refused
//! with its body still to come. Nothing may panic, and `parse_request`
//! must agree with `parse_head`.
//!
//! The first byte picks the situation (which peer, whether a token is set);
//! the rest is the connection's input. `SID` in a path or query stands for
//! the id of a session that exists, so the fuzzer reaches the session
//! routes; after a WebSocket upgrade, the remaining bytes are fed to the
//! hub as device messages, one per line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lumora_hr_mini::hub::{ConnId, Hub, Now};
use lumora_hr_mini::server::Config;
use lumora_hr_mini::server::api::{self, Ctx, LoopStats, Routed};
use lumora_hr_mini::server::http::{Limits, Parsed, parse_head, parse_request};
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let mut config = Config::default();
    if flags & 1 != 0 {
        config.token = Some("s3cret".into());
    }
    if flags & 2 != 0 {
        config.allowed_origins.push("http://localhost:5173".into());
        config.allowed_hosts.push("dev.example".into());
    }
    let peer: SocketAddr = if flags & 4 != 0 {
        "192.168.1.20:50000".parse().unwrap()
    } else {
        "127.0.0.1:50000".parse().unwrap()
    };
    let limits = Limits {
        max_head: config.max_head_bytes,
        max_headers: config.max_headers,
        max_body: config.max_body_bytes,
    };
    let now = Now::current();
    let mut hub = Hub::new(config.hub.clone());
    let mut fx = Vec::new();
    let sid = hub.create_session(now).unwrap().session_id;
    let stats = LoopStats::default();
    let mut is_local = |name: &str| name == "192.168.1.10";

    let mut rest = input;
    loop {
        let parsed = parse_request(rest, &limits);
        let mut head = match parse_head(rest, &limits) {
            Ok(Some(head)) => head,
            Ok(None) => {
                assert_eq!(parsed, Ok(Parsed::Partial));
                return;
            }
            Err(e) => {
                assert_eq!(parsed, Err(e));
                return;
            }
        };
        head.request.path = head.request.path.replace("SID", &sid);
        head.request.query = head.request.query.replace("SID", &sid);
        let mut ctx = Ctx {
            hub: &mut hub,
            fx: &mut fx,
            now,
            config: &config,
            peer,
            advertised: "192.168.1.10:3000",
            is_local_host: &mut is_local,
            stats: &stats,
        };
        let admitted = api::admit(&head.request, head.body_len, &mut ctx);
        let whole = rest.len() >= head.total();
        assert_eq!(whole, matches!(parsed, Ok(Parsed::Complete { .. })));
        if !whole {
            // The server answers a refused head at once, or waits for the body.
            if let Err(resp) = admitted {
                let _ = resp.encode(false);
            }
            return;
        }
        let consumed = head.total();
        let mut request = head.into_request(rest);
        rest = &rest[consumed..];
        let routed = api::handle(&mut request, &mut ctx);
        // One policy: what the head refused, the whole request is refused for.
        if let Err(refused) = &admitted {
            match &routed {
                Routed::Respond(resp) => assert_eq!(resp.status, refused.status),
                Routed::Upgrade { .. } => panic!("refused head {} upgraded", refused.status),
            }
        }
        match routed {
            Routed::Respond(resp) => {
                let _ = resp.encode(request.keep_alive());
                if !request.keep_alive() {
                    return;
                }
            }
            Routed::Upgrade { session, .. } => {
                let conn = ConnId {
                    key: 1,
                    generation: 1,
                };
                hub.ws_opened(conn, session.as_deref(), peer, now, &mut fx);
                for line in rest.split(|&b| b == b'\n') {
                    let text = String::from_utf8_lossy(line).replace("SID", &sid);
                    hub.on_text(conn, text.as_bytes(), now, &mut fx);
                }
                hub.disconnect(conn);
                return;
            }
        }
    }
});

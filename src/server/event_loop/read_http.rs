//! Reading HTTP: heads judged first, bodies within the budget (a big one
//! in a buffer of its own, in huge pages where they fit), `100 Continue`,
//! routing; an upgrade is handed to `Conn::upgrade` and `read_ws`.

use super::*;
use crate::hub::sanitize::{TEXT_CHARS, printable};
use crate::server::http::{HttpError, Method};
use crate::server::outbound::OutQueue;
use std::borrow::Cow;

/// Request bodies above this size are read into a buffer of their own,
/// which becomes the request's body: never copied, nor moved to the front
/// of the connection's buffer.
const BIG_BODY: usize = 64 * 1024;

/// Unread answers at which an HTTP connection stops being read until they
/// drain (or `Config::max_pending_replies`, when lower). A client that
/// pipelines loses nothing by it (the kernel's buffers hold more), and
/// one that never reads holds little: all of them together stay small.
const PIPELINE_PAUSE: usize = 64 * 1024;

impl EventLoop {
    pub(super) fn read_http(&mut self, key: usize, now: Now) {
        let limits = Limits {
            max_head: self.config.max_head_bytes,
            max_headers: self.config.max_headers,
            max_body: self.config.max_body_bytes,
        };
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let generation = conn.generation;
        let Phase::Http(h) = &mut conn.phase else {
            return;
        };
        let was_between = h.between_requests();
        // A body is read only once its head was admitted.
        let cap = h.read_cap(limits.max_head);
        let read = match h.pending.as_mut().map(|p| (p.head.body_len, &mut p.body)) {
            Some((len, Some(body))) => conn::read_available(&mut conn.sock, body, len),
            _ => conn::read_available(&mut conn.sock, &mut h.inbuf, cap),
        };
        let status = match read {
            Ok(s) => s,
            Err(_) => return self.remove(key),
        };
        if was_between && !h.inbuf.is_empty() && h.served > 0 {
            // The next request's first byte starts its own 10 s clock.
            if h.set_deadline(now.mono + self.config.request_timeout) {
                self.wheel
                    .set(key, kind::HTTP, h.deadline, Timer::Http(key, generation));
            }
        }
        // Bytes of `inbuf` taken by the requests handled below, removed once
        // at the end: draining after each of many pipelined requests would
        // move the rest of a large buffer every time.
        let mut start = 0;
        loop {
            self.stats.connections_open = self.conns.len();
            self.stats.timers_pending = self.wheel.len();
            self.stats.buffered_body_bytes = self.body_budget.in_use();
            self.stats.uptime_ms = self.started.elapsed().as_millis() as u64;
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let Phase::Http(h) = &mut conn.phase else {
                break;
            };
            if conn.out.control_backlog() > self.config.max_pending_replies.min(PIPELINE_PAUSE) {
                // The peer pipelines requests without reading the answers:
                // stop until the queue drains.
                h.paused = true;
                break;
            }
            let peer = conn.peer;
            let local_hosts = &mut self.local_hosts;
            let mut is_local = |name: &str| is_local_address(local_hosts, name);
            let mut ctx = Ctx {
                hub: &mut self.hub,
                fx: &mut self.fx,
                now,
                config: &self.config,
                peer,
                advertised: &self.advertised,
                is_local_host: &mut is_local,
                stats: &self.stats,
            };
            let arrived = h.inbuf.len() - start;
            // The head of the request at the front: admitted earlier, or
            // parsed and judged now, before any of its body is buffered.
            let pending =
                match h.pending.take() {
                    Some(p) => Ok(p),
                    None => match http::parse_head(&h.inbuf[start..], &limits) {
                        Ok(None) => {
                            if status == ReadStatus::Eof {
                                self.begin_close(key, now);
                            }
                            break;
                        }
                        Err(e) => {
                            log::debug!("bad request from {}: {e:?}", conn.peer);
                            if let HttpError::BodyTooLarge { path, .. } = &e {
                                log_refused_push(path, &e.response());
                            }
                            conn.out.push_owned(e.response().encode(false));
                            self.begin_close(key, now);
                            break;
                        }
                        Ok(Some(head)) => {
                            let verdict = api::admit(&head.request, head.body_len, &mut ctx)
                                .and_then(|()| match head.body_len {
                                    0 => Ok(None),
                                    n => self.body_budget.reserve(n).map(Some),
                                });
                            match verdict {
                                Ok(room) => {
                                    if head.request.expects_continue && arrived < head.total() {
                                        conn.out.push_owned(CONTINUE.to_vec());
                                    }
                                    let body = if head.body_len > BIG_BODY {
                                        // What came with the head (a read's
                                        // worth at most) moves to the body's
                                        // own buffer; the rest is read there.
                                        let from = start + head.head_len;
                                        let to = (start + head.total()).min(h.inbuf.len());
                                        let mut body = Vec::with_capacity(head.body_len);
                                        lumora_index::pages::advise(&mut body);
                                        body.extend_from_slice(&h.inbuf[from..to]);
                                        start = to;
                                        Some(body)
                                    } else {
                                        h.inbuf.reserve_exact(
                                            (start + head.total()).saturating_sub(h.inbuf.len()),
                                        );
                                        None
                                    };
                                    Ok(Box::new(conn::Pending { head, room, body }))
                                }
                                Err(resp) => Err((head, resp)),
                            }
                        }
                    },
                };
            // Again: admitting a big body moved `start` past its head.
            let arrived = h.inbuf.len() - start;
            let (request, routed) = match pending {
                Ok(p) if p.missing(arrived) > 0 => {
                    h.pending = Some(p);
                    if status == ReadStatus::Eof {
                        self.begin_close(key, now);
                    }
                    break;
                }
                Ok(p) => {
                    let p = *p;
                    let mut request = match p.body {
                        Some(body) => {
                            let mut request = p.head.request;
                            request.body = body;
                            request
                        }
                        None => {
                            let at = start;
                            start += p.head.total();
                            p.head.into_request(&h.inbuf[at..])
                        }
                    };
                    let routed = api::handle(&mut request, &mut ctx);
                    drop(p.room);
                    (request, routed)
                }
                // Refused from its head, with the whole request here: it is
                // answered like any other.
                Err((head, resp)) if arrived >= head.total() => {
                    log_refused_push(&head.request.path, &resp);
                    start += head.total();
                    (head.request, Routed::Respond(resp))
                }
                // Refused with its body still to come: answered at once and
                // closed; what arrives meanwhile is read and thrown away.
                Err((head, resp)) => {
                    log::debug!(
                        "{} {} {} from {peer}, refused from its head",
                        head.request.method,
                        head.request.path,
                        resp.status
                    );
                    log_refused_push(&head.request.path, &resp);
                    h.served += 1;
                    self.stats.http_requests += 1;
                    conn.out.push_owned(resp.encode(false));
                    self.begin_close(key, now);
                    break;
                }
            };
            h.served += 1;
            self.stats.http_requests += 1;
            log::debug!(
                "{} {} {} from {peer}",
                request.method,
                request.path,
                match &routed {
                    Routed::Respond(r) => r.status,
                    Routed::Upgrade { .. } => 101,
                }
            );
            match routed {
                Routed::Respond(resp) => {
                    let keep = request.keep_alive() && self.shutdown_deadline.is_none();
                    queue_response(&mut conn.out, &resp, keep, request.method == Method::Head);
                    if !keep {
                        self.begin_close(key, now);
                        break;
                    }
                    let timeout = if start == h.inbuf.len() {
                        self.config.keep_alive_timeout
                    } else {
                        self.config.request_timeout
                    };
                    if h.set_deadline(now.mono + timeout) {
                        self.wheel
                            .set(key, kind::HTTP, h.deadline, Timer::Http(key, generation));
                    }
                }
                Routed::Upgrade { handshake, session } => {
                    // The bytes after the request are the device's first
                    // frames: they go with the connection to WebSocket.
                    let leftover = h.inbuf.split_off(start);
                    let unread = conn.upgrade(handshake, leftover, self.config.max_message_bytes);
                    self.websocket_opened(key, session.as_deref(), now, unread);
                    break;
                }
            }
        }
        if let Some(Phase::Http(h)) = self.conns.get_mut(key).map(|c| &mut c.phase) {
            h.consume(start);
            if status == ReadStatus::Capped && !h.paused {
                // Stopped at the cap: more may be waiting, with no new
                // readiness event to say so.
                self.again.push((key, generation));
            }
        }
        self.apply_effects(now);
        self.flush(key, now);
    }
}

/// True when `name` is an IP address of this machine: binding a UDP socket
/// to it succeeds only then, and sends nothing. Multicast and broadcast
/// addresses also bind but name no machine, so they are not local. Answers
/// are cached.
pub(super) fn is_local_address(cache: &mut HashMap<String, bool>, name: &str) -> bool {
    if let Some(&known) = cache.get(name) {
        return known;
    }
    let unicast = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    };
    let local = name
        .parse::<IpAddr>()
        .is_ok_and(|ip| !ip.is_unspecified() && unicast(&ip) && UdpSocket::bind((ip, 0)).is_ok());
    if cache.len() < 256 {
        cache.insert(name.to_string(), local);
    }
    local
}

/// Queues an answer: its head, then its body unless the request was
/// `HEAD`; a body built into the binary is queued by reference, so many
/// requests for a file cost its bytes once.
fn queue_response(out: &mut OutQueue, resp: &Response, keep_alive: bool, head_only: bool) {
    let mut bytes = resp.encode_head(keep_alive);
    match &resp.body {
        _ if head_only => out.push_owned(bytes),
        Cow::Borrowed(body) => {
            out.push_owned(bytes);
            out.push_static(body);
        }
        Cow::Owned(body) => {
            bytes.extend_from_slice(body);
            out.push_owned(bytes);
        }
    }
}

/// A push refused from its head for what it is (too large, not JSON,
/// compressed, an unknown or expired session) is logged as a refused
/// schema is, so the terminal says why a save did not arrive. Refusals of
/// who sent it (401, 403: a web page, another machine) stay at debug: any
/// page could otherwise fill the terminal.
fn log_refused_push(path: &str, resp: &Response) {
    if !path.starts_with("/send/") || !matches!(resp.status, 404 | 410 | 413 | 415) {
        return;
    }
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let text = |k: &str| body[k].as_str().unwrap_or("").to_string();
    log::warn!(
        "push refused ({} {}): {}",
        resp.status,
        text("code"),
        printable(&text("error"), TEXT_CHARS)
    );
}

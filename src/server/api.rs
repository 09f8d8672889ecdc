//! The HTTP API (SPEC §8): routing, the control-API guard (SPEC §9), and
//! the one place where hub and schema errors become HTTP statuses and codes.

use super::config::Config;
use super::http::{Method, Request, Response, percent_decode};
use super::replies::{
    Created, Deleted, Extended, Held, Pushed, ServerHealth, SessionPage, Startup,
};
pub use super::stats::{LoopStats, Stats};
use super::urls::{page_url, ws_url};
use super::{web, websocket};
use crate::hub::{Effect, Hub, HubError, Now};
use crate::protocol::{ErrorCode, Schema, SchemaError};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the connection should do with a request.
#[derive(Debug)]
pub enum Routed {
    /// Send this response.
    Respond(Response),
    /// Send these 101 bytes and switch to WebSocket for this session.
    Upgrade {
        /// The 101 response.
        handshake: Vec<u8>,
        /// The `session` query parameter.
        session: Option<String>,
    },
}

/// Everything a request handler may use.
pub struct Ctx<'a> {
    /// Sessions and devices.
    pub hub: &'a mut Hub,
    /// Effects of the request (broadcasts, closes, timers).
    pub fx: &'a mut Vec<Effect>,
    /// The time.
    pub now: Now,
    /// Server configuration.
    pub config: &'a Config,
    /// The peer.
    pub peer: SocketAddr,
    /// `host:port` devices use in `wsUrl`.
    pub advertised: &'a str,
    /// Whether a Host value names this machine.
    pub is_local_host: &'a mut dyn FnMut(&str) -> bool,
    /// Loop statistics, for `/stats`.
    pub stats: &'a LoopStats,
}

/// The routes, for matching and for `Allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Ws,
    Health,
    Stats,
    NewSession,
    Startup,
    Send(String),
    Session(String),
    SessionHealth(String),
    Extend(String),
    /// The landing page, `/`.
    Landing,
    /// The web device page, `/s/<id>`.
    Page,
    /// A file of the web device, `/web/<name>`.
    Asset(String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let id = |s: &str| super::http::percent_decode(s);
        Some(match segments.as_slice() {
            [] => Route::Landing,
            ["ws"] => Route::Ws,
            ["health"] => Route::Health,
            ["stats"] => Route::Stats,
            ["session", "new"] => Route::NewSession,
            ["session", "startup"] => Route::Startup,
            ["send", s] if !s.is_empty() => Route::Send(id(s)),
            ["session", s] if !s.is_empty() => Route::Session(id(s)),
            ["session", s, "health"] => Route::SessionHealth(id(s)),
            ["session", s, "extend"] => Route::Extend(id(s)),
            ["s", s] if !s.is_empty() => Route::Page,
            ["web", name] => Route::Asset((*name).to_string()),
            _ => return None,
        })
    }

    /// The methods served. `HEAD` goes wherever `GET` does (answered as
    /// `GET` without the body), but for the WebSocket upgrade.
    fn allow(&self) -> &'static [Method] {
        match self {
            Route::Ws => &[Method::Get],
            Route::Health
            | Route::Stats
            | Route::Startup
            | Route::SessionHealth(_)
            | Route::Landing
            | Route::Page
            | Route::Asset(_) => &[Method::Get, Method::Head],
            Route::NewSession | Route::Send(_) | Route::Extend(_) => &[Method::Post],
            Route::Session(_) => &[Method::Get, Method::Head, Method::Delete],
        }
    }

    /// Everything but `/ws`, `/health` and the web device is the control
    /// API.
    fn is_control(&self) -> bool {
        !matches!(
            self,
            Route::Ws | Route::Health | Route::Page | Route::Asset(_)
        )
    }
}

/// Decides from a request's head alone (the request with its body not yet
/// read, and the body's announced length) whether it can succeed: the one
/// place for that policy. A refusal is the final answer, sent before the
/// body is read (a client waiting on `Expect: 100-continue` never sends
/// it); only requests admitted here have their bodies buffered.
/// [`handle`] applies the same checks again once the body is there.
pub fn admit(req: &Request, body_len: usize, ctx: &mut Ctx<'_>) -> Result<(), Response> {
    check(req, body_len, ctx).map(|_| ())
}

/// Routes one request. A pushed schema's body is taken from `req` (it
/// becomes the schema's text, not copied).
pub fn handle(req: &mut Request, ctx: &mut Ctx<'_>) -> Routed {
    let route = match check(req, req.body.len(), ctx) {
        Ok(route) => route,
        Err(resp) => return Routed::Respond(resp),
    };
    Routed::Respond(match route {
        Route::Ws => return upgrade(req),
        Route::Health => Response::json(
            200,
            &ServerHealth {
                status: "ok",
                sessions: ctx.hub.session_count(),
                total_devices: ctx.hub.device_count(),
            },
        ),
        Route::Stats => stats(ctx),
        Route::NewSession => match ctx.hub.create_session(ctx.now) {
            Ok(s) => Response::json(
                201,
                &Created {
                    session_id: &s.session_id,
                    ws_url: ws_url(ctx.advertised, &s.session_id),
                    page_url: page_url(ctx.advertised, &s.session_id),
                    created_at_ms: s.created_at_ms,
                    expires_at_ms: s.expires_at_ms,
                },
            ),
            Err(e) => hub_error(e),
        },
        Route::Startup => startup(ctx),
        Route::Send(id) => send(req, &id, ctx),
        Route::Session(id) if req.method == Method::Delete => {
            match ctx.hub.delete_session(&id, ctx.fx) {
                Ok(()) => Response::json(200, &Deleted { success: true }),
                Err(e) => hub_error(e),
            }
        }
        Route::Session(id) => match ctx.hub.session_view(&id, ctx.now) {
            Ok(session) => Response::json(
                200,
                &SessionPage {
                    session: &session,
                    page_url: page_url(ctx.advertised, &id),
                },
            ),
            Err(e) => hub_error(e),
        },
        Route::SessionHealth(id) => match ctx.hub.health_view(&id, ctx.now) {
            Ok(health) => Response::json(200, &health),
            Err(e) => hub_error(e),
        },
        Route::Landing => super::landing::Landing {
            hub: ctx.hub,
            now: ctx.now,
            advertised: ctx.advertised,
        }
        .response(),
        Route::Page => web::page(req),
        Route::Asset(name) => web::asset(req, &name).unwrap_or_else(|| {
            Response::error(404, "NOT_FOUND", &format!("no such file: /web/{name}"))
        }),
        Route::Extend(id) => {
            let by = extension(req, ctx.config);
            match by.and_then(|by| ctx.hub.extend_session(&id, by, ctx.now).map_err(hub_error)) {
                Ok(expires_at_ms) => Response::json(
                    200,
                    &Extended {
                        success: true,
                        expires_at_ms,
                    },
                ),
                Err(resp) => resp,
            }
        }
    })
}

/// [`admit`]'s checks, in order: route (404), Host/Origin/peer/token (403,
/// 401), method (405), a body where none is taken (413), Content-Type
/// and Content-Encoding (415), the session named in the path (404/410),
/// the session cap (429).
fn check(req: &Request, body_len: usize, ctx: &mut Ctx<'_>) -> Result<Route, Response> {
    let Some(route) = Route::parse(&req.path) else {
        return Err(Response::error(
            404,
            "NOT_FOUND",
            &format!("no such endpoint: {} {}", req.method, req.path),
        ));
    };
    guard(req, &route, ctx)?;
    if !route.allow().contains(&req.method) {
        let allow = Method::allow_header(route.allow());
        return Err(Response::error(
            405,
            "METHOD_NOT_ALLOWED",
            &format!("{} is not served on {}; use {allow}", req.method, req.path),
        )
        .with_header("Allow", allow));
    }
    if req.method != Method::Post && body_len > 0 {
        return Err(Response::error(
            413,
            "PAYLOAD_TOO_LARGE",
            &format!(
                "{} {} takes no body; send it without one",
                req.method, req.path
            ),
        ));
    }
    // A body must be declared JSON; so must an empty one that declares a
    // type at all (a bodiless `<form enctype="text/plain">` post).
    let declared = req.header("content-type").is_some();
    if req.method == Method::Post && (declared || body_len > 0) && !is_json(req) {
        return Err(Response::error(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "request bodies must be sent as Content-Type: application/json",
        ));
    }
    // Bodies are read as they are: a compressed one would be refused as
    // malformed JSON (and told to the session's devices), only later.
    // Every Content-Encoding header counts: a second one is part of the
    // same list.
    let codings: Vec<&str> = req
        .header_values("content-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if let Some(coding) = codings.iter().find(|c| !c.eq_ignore_ascii_case("identity")) {
        let named = if coding.is_empty() {
            "an empty Content-Encoding is not accepted".to_string()
        } else {
            format!("Content-Encoding: {coding} is not accepted")
        };
        return Err(Response::error(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            &format!("request bodies must be sent uncompressed ({named}); send the JSON as it is"),
        ));
    }
    match &route {
        Route::Send(id) | Route::Session(id) | Route::SessionHealth(id) | Route::Extend(id) => {
            ctx.hub.check_session(id, ctx.now).map_err(hub_error)?;
        }
        Route::NewSession if ctx.hub.session_count() >= ctx.hub.config().max_sessions => {
            return Err(hub_error(HubError::TooManySessions(
                ctx.hub.config().max_sessions,
            )));
        }
        _ => {}
    }
    Ok(route)
}

fn upgrade(req: &Request) -> Routed {
    if !websocket::wants_upgrade(req) {
        return Routed::Respond(
            Response::error(
                426,
                "UPGRADE_REQUIRED",
                "this endpoint speaks WebSocket only",
            )
            .with_header("Upgrade", "websocket"),
        );
    }
    match websocket::accept_upgrade(req) {
        Ok(handshake) => Routed::Upgrade {
            handshake,
            session: req.query_param("session"),
        },
        Err(resp) => Routed::Respond(resp),
    }
}

/// `GET /session/startup`: the session the command line created at start,
/// so that `lumora-hr-mini push` can find it without being told its id.
fn startup(ctx: &Ctx<'_>) -> Response {
    let Some(id) = ctx.hub.startup_session() else {
        return Response::error(
            404,
            "SESSION_NOT_FOUND",
            "this server has no startup session; pass a session id",
        );
    };
    match ctx.hub.session_view(id, ctx.now) {
        Ok(s) => Response::json(
            200,
            &Startup {
                session_id: id,
                ws_url: ws_url(ctx.advertised, id),
                page_url: page_url(ctx.advertised, id),
                created_at_ms: s.created_at_ms,
                expires_at_ms: s.expires_at_ms,
                sequence_number: s.sequence_number,
            },
        ),
        Err(e) => hub_error(e),
    }
}

fn send(req: &mut Request, id: &str, ctx: &mut Ctx<'_>) -> Response {
    let preserve_state = req.query_param("preserveState").as_deref() != Some("false");
    // The session's latest schema: the pushed text is most often it
    // with a small edit, read as such.
    let latest = ctx.hub.session(id).and_then(|s| s.latest());
    let schema = match Schema::from_vec_after(std::mem::take(&mut req.body), latest.map(|s| &**s)) {
        Ok(s) => s,
        Err(e) => {
            let told = ctx.hub.push_refused(id, &e, ctx.now, ctx.fx);
            log::warn!("push refused: {e} ({told} device(s) told; they keep the last good schema)");
            return schema_error(&e);
        }
    };
    match ctx.hub.push(id, schema, preserve_state, ctx.now, ctx.fx) {
        // Held by coalescing: no sequence number or checksum is promised,
        // only what is known: the schema held, and the update it will be
        // compared with when the window ends (sent only if it differs).
        Ok(o) if o.batched => {
            let current = ctx.hub.session(id).and_then(|s| s.schema.as_ref());
            Response::json(
                202,
                &Held {
                    success: true,
                    batched: true,
                    update_type: o.update_type,
                    clients_updated: 0,
                    held_checksum: &o.checksum,
                    current_sequence_number: o.sequence_number,
                    current_checksum: current.map(|s| s.checksum()),
                },
            )
        }
        Ok(o) => Response::json(
            200,
            &Pushed {
                success: true,
                clients_updated: o.clients_updated,
                update_type: o.update_type,
                sequence_number: o.sequence_number,
                checksum: &o.checksum,
            },
        ),
        Err(e) => hub_error(e),
    }
}

/// `?seconds=N` or `{"seconds": N}` extends by N seconds; default (no
/// query, no body): the session lifetime. A body must be that object:
/// anything else is refused, not read as "no body".
fn extension(req: &Request, config: &Config) -> Result<Duration, Response> {
    let bad = |message: &str| Response::error(400, "BAD_REQUEST", message);
    // A mistyped parameter (`?sec=60`) must not quietly become the default.
    if let Some(key) = req
        .query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| percent_decode(pair.split_once('=').map_or(pair, |(k, _)| k)))
        .find(|k| k != "seconds")
    {
        return Err(bad(&format!(
            "unknown query parameter {key:?}: extend takes ?seconds=N"
        )));
    }
    let from_body = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value: Value = serde_json::from_slice(&req.body).map_err(|e| {
            Response::error(
                400,
                "INVALID_MESSAGE",
                &format!("the body is not JSON: {e}"),
            )
        })?;
        let Value::Object(fields) = value else {
            return Err(bad(r#"the body must be an object: {"seconds": N}"#));
        };
        if let Some(key) = fields.keys().find(|k| *k != "seconds") {
            return Err(bad(&format!(
                r#"unknown key {key:?}: the body takes only "seconds", as in {{"seconds": 3600}}"#
            )));
        }
        let Some(seconds) = fields.get("seconds") else {
            return Err(bad(
                r#"the body names no "seconds": send {"seconds": N}, or no body for the default"#,
            ));
        };
        Some(seconds.to_string())
    };
    let Some(raw) = req.query_param("seconds").or(from_body) else {
        return Ok(config.hub.session_ttl);
    };
    // At most a week, or the session lifetime when that is longer (what
    // an extension with no number gives).
    let most = config.hub.session_ttl.max(Duration::from_secs(7 * 86_400));
    match super::config::parse_decimal_seconds(&raw) {
        Some(s) if !s.is_zero() && s <= most => Ok(s),
        _ => Err(bad(&format!(
            "seconds must be a number above 0 and at most {} (7 days, or the session lifetime when longer)",
            most.as_secs()
        ))),
    }
}

fn stats(ctx: &Ctx<'_>) -> Response {
    Response::json(200, &Stats::new(ctx.hub, ctx.stats))
}

/// Declared `application/json`, and nothing else: a second
/// `Content-Type` header must say the same.
fn is_json(req: &Request) -> bool {
    let mut types = req.header_values("content-type").peekable();
    types.peek().is_some()
        && types.all(|ct| {
            let mime = ct.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        })
}

/// Hub errors as HTTP: the one mapping.
pub fn hub_error(e: HubError) -> Response {
    let (status, code) = match e {
        HubError::SessionNotFound => (404, "SESSION_NOT_FOUND"),
        HubError::SessionExpired => (410, "SESSION_EXPIRED"),
        HubError::TooManySessions(_) => (429, "RATE_LIMIT_EXCEEDED"),
        HubError::NoSchema => (409, "UPDATE_FAILED"),
        HubError::DeviceNotFound => (404, "NOT_FOUND"),
    };
    Response::error(status, code, &e.to_string())
}

/// Schema errors as HTTP.
pub fn schema_error(e: &SchemaError) -> Response {
    match (e, e.code()) {
        (SchemaError::TooLarge { .. }, _) => {
            Response::error(413, "PAYLOAD_TOO_LARGE", &e.to_string())
        }
        (_, code @ ErrorCode::InvalidMessage) => {
            Response::error(400, code.as_str(), &format!("body is not valid JSON: {e}"))
        }
        (_, code) => Response::error(400, code.as_str(), &e.to_string()),
    }
}

/// Host must name this machine; the control API answers loopback peers
/// (or bearers of the token) and refuses browser origins. A presented
/// bearer token that is wrong is refused from every peer.
fn guard(req: &Request, route: &Route, ctx: &mut Ctx<'_>) -> Result<(), Response> {
    if let Some(name) = req.authority.as_deref() {
        let allowed = ctx
            .config
            .allowed_hosts
            .iter()
            .chain(ctx.config.public_host.iter())
            .any(|h| h.eq_ignore_ascii_case(name));
        if !allowed && !is_loopback_name(name) && !(ctx.is_local_host)(name) {
            return Err(Response::error(
                403,
                "FORBIDDEN",
                &if name.is_empty() {
                    "an empty Host names no machine: send this machine's address or name"
                        .to_string()
                } else {
                    format!(
                        "Host {name:?} is not this machine; allow it with --allowed-host {name}"
                    )
                },
            ));
        }
    }
    if !route.is_control() {
        return Ok(());
    }
    if let Some(origin) = req.header("origin") {
        if !ctx.config.allowed_origins.iter().any(|o| o == origin) {
            return Err(Response::error(
                403,
                "FORBIDDEN",
                &format!(
                    "requests from web pages are refused (Origin {origin}); allow one with --allowed-origin"
                ),
            ));
        }
    }
    let token = ctx.config.token.as_deref();
    let local = (ctx.config.is_local_peer)(ctx.peer.ip());
    if let Some(given) = req.header("authorization").and_then(bearer) {
        match token {
            Some(t) if constant_time_eq(given.as_bytes(), t.as_bytes()) => return Ok(()),
            Some(_) => {
                return Err(wrong_token(
                    "wrong token: it does not match the server's --token (or $LUMORA_TOKEN)",
                ));
            }
            // Another machine learns first that it needs --token at all.
            None if local => {
                return Err(wrong_token(
                    "this server was started without --token, so no token is right; send none",
                ));
            }
            None => {}
        }
    }
    if local {
        return Ok(());
    }
    Err(Response::error(
        403,
        "FORBIDDEN",
        if token.is_some() {
            "the control API needs `Authorization: Bearer <token>` from other machines"
        } else {
            "the control API only answers this machine; start the server with --token to allow others"
        },
    ))
}

/// The credentials of `Authorization: Bearer <token>` (scheme name in any
/// case, RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn wrong_token(message: &str) -> Response {
    Response::error(401, "AUTHENTICATION_FAILED", message).with_header("WWW-Authenticate", "Bearer")
}

fn is_loopback_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Compares without an early exit, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("/send/abc"), Some(Route::Send("abc".into())));
        assert_eq!(Route::parse("/session/new"), Some(Route::NewSession));
        assert_eq!(Route::parse("/session/startup"), Some(Route::Startup));
        assert_eq!(
            Route::parse("/session/x/health"),
            Some(Route::SessionHealth("x".into()))
        );
        assert_eq!(
            Route::parse("/session/x/"),
            Some(Route::Session("x".into()))
        );
        assert_eq!(Route::parse("/s/abc"), Some(Route::Page));
        assert_eq!(
            Route::parse("/web/device.js"),
            Some(Route::Asset("device.js".into()))
        );
        assert!(!Route::Page.is_control() && !Route::Asset("x".into()).is_control());
        assert_eq!(Route::parse("/s/"), None);
        assert_eq!(Route::parse("/nope"), None);
        assert_eq!(Route::parse("/"), Some(Route::Landing));
        assert_eq!(Route::parse("/send/"), None);
        assert_eq!(Route::parse("/session/a/b/c"), None);
    }

    #[test]
    fn host_names() {
        use crate::server::http::parse_authority;
        assert_eq!(parse_authority("localhost:3000"), Some("localhost"));
        assert_eq!(parse_authority("[::1]:3000"), Some("::1"));
        assert_eq!(parse_authority("10.0.0.2"), Some("10.0.0.2"));
        for bad in [
            "::1",
            "[::1]evil",
            "[::1]@evil",
            "a@b",
            "a:b",
            "a:123456",
            "[x]",
        ] {
            assert_eq!(parse_authority(bad), None, "{bad}");
        }
        assert!(is_loopback_name("LOCALHOST"));
        assert!(is_loopback_name("127.0.0.2"));
        assert!(!is_loopback_name("evil.com"));
    }

    #[test]
    fn bearer_credentials() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}

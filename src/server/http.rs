//! HTTP/1.1 requests in, responses out: bytes only, no sockets.
//!
//! Requests are parsed incrementally with `httparse` from a connection's
//! input buffer; limits are checked as soon as what they bound is known, so
//! an oversized head or body is refused before it is buffered.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Size limits for a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of request line + headers.
    pub max_head: usize,
    /// Number of headers.
    pub max_headers: usize,
    /// Bytes of body.
    pub max_body: usize,
}

/// A request method (RFC 9110 §9), parsed once with the head. Methods are
/// case-sensitive: `get` is not `GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// Any other token, kept as sent (for messages).
    Other(String),
}

impl Method {
    /// The method named by a request line's token.
    pub fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        }
    }

    /// The token, as on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(token) => token,
        }
    }

    /// An `Allow` header value listing these methods, e.g. `GET, DELETE`.
    pub fn allow_header(methods: &[Method]) -> String {
        let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
        names.join(", ")
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// Path without the query, e.g. `/send/abc`.
    pub path: String,
    /// Query string without `?` (may be empty).
    pub query: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
    /// HTTP/1.x minor version.
    pub minor_version: u8,
    /// The host the request names, without port or IPv6 brackets: from an
    /// absolute-form target (`GET http://host:port/path`), else from the
    /// `Host` header; `None` for an HTTP/1.0 request without either.
    /// Always well-formed (a malformed one is refused while parsing).
    pub authority: Option<String>,
    /// The client sent `Expect: 100-continue` (HTTP/1.1) and waits for
    /// `100 Continue` before sending the body.
    pub expects_continue: bool,
}

impl Request {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }

    /// Every value of a header, in order (a header sent twice is one list).
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated header contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after the response.
    pub fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        self.minor_version >= 1 || self.header_has_token("connection", "keep-alive")
    }

    /// The value of a query parameter (first occurrence, percent-decoded).
    pub fn query_param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
    }
}

/// Decodes `%xx` escapes and `+`; invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request was refused before routing; each maps to one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Unparseable request (400).
    BadRequest(String),
    /// Head over the byte limit or too many headers (431).
    HeadTooLarge {
        /// The head's byte limit.
        max_head: usize,
        /// The header count limit.
        max_headers: usize,
    },
    /// `Content-Length` over the body limit (413).
    BodyTooLarge {
        /// The announced length.
        length: usize,
        /// The limit.
        limit: usize,
        /// The request's path (a push refused this way is logged).
        path: String,
    },
    /// Chunked or otherwise unsized body (411).
    LengthRequired,
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (505); a
    /// malformed one is a `BadRequest`.
    VersionNotSupported,
    /// An `Expect` other than `100-continue` (417).
    ExpectationFailed(String),
}

impl HttpError {
    /// The response for this error; the connection closes after it, since the
    /// rest of the input cannot be trusted to frame the next request.
    pub fn response(&self) -> Response {
        match self {
            HttpError::BadRequest(m) => Response::error(400, "BAD_REQUEST", m),
            HttpError::HeadTooLarge {
                max_head,
                max_headers,
            } => Response::error(
                431,
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
                &format!(
                    "request head too large (limit {max_head} bytes and {max_headers} headers): send fewer or shorter headers"
                ),
            ),
            HttpError::BodyTooLarge { length, limit, .. } => Response::error(
                413,
                "PAYLOAD_TOO_LARGE",
                &format!(
                    "body of {length} bytes is over the {limit}-byte limit (the server's --max-body-bytes; a schema may have 10 MiB)"
                ),
            ),
            HttpError::LengthRequired => Response::error(
                411,
                "LENGTH_REQUIRED",
                "a Content-Length header is required (Transfer-Encoding, chunked or any other, is not accepted): send the body with its length",
            ),
            HttpError::VersionNotSupported => Response::error(
                505,
                "HTTP_VERSION_NOT_SUPPORTED",
                "only HTTP/1.0 and HTTP/1.1 are served",
            ),
            HttpError::ExpectationFailed(e) => Response::error(
                417,
                "EXPECTATION_FAILED",
                &format!("unsupported expectation {e:?}; only Expect: 100-continue is understood"),
            ),
        }
    }
}

/// Result of looking at a buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A whole request, which used the first `consumed` bytes.
    Complete {
        /// The request.
        request: Request,
        /// Bytes of the buffer it took.
        consumed: usize,
    },
}

/// A request head, parsed and checked; its body (`body_len` bytes after
/// the head) may not have arrived yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The request, with an empty body.
    pub request: Request,
    /// Bytes of the request line and headers.
    pub head_len: usize,
    /// The body's `Content-Length` (within the limit).
    pub body_len: usize,
}

impl Head {
    /// Bytes of the whole request.
    pub fn total(&self) -> usize {
        self.head_len + self.body_len
    }

    /// The request with its body, from `buf` starting at the request's
    /// first byte and holding at least [`Head::total`] bytes.
    pub fn into_request(self, buf: &[u8]) -> Request {
        let end = self.total();
        let mut request = self.request;
        request.body = buf[self.head_len..end].to_vec();
        request
    }
}

/// Parses one request from the front of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed, HttpError> {
    match parse_head(buf, limits)? {
        Some(head) if buf.len() >= head.total() => Ok(Parsed::Complete {
            consumed: head.total(),
            request: head.into_request(buf),
        }),
        _ => Ok(Parsed::Partial),
    }
}

/// Parses and checks the head of the request at the front of `buf`
/// (`None`: more bytes are needed). Everything the head alone can refuse
/// is refused here: size limits, framing, version, Host, target, Expect.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HttpError> {
    let too_large = || HttpError::HeadTooLarge {
        max_head: limits.max_head,
        max_headers: limits.max_headers,
    };
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(too_large());
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(too_large()),
        Err(httparse::Error::Version) => return version_error(buf, limits),
        Err(e) => return Err(HttpError::BadRequest(format!("malformed request: {e}"))),
    };
    if head_len > limits.max_head {
        return Err(too_large());
    }
    let method = Method::parse(req.method.unwrap_or_default());
    let minor_version = req.version.unwrap_or(1);
    let (target_authority, target) = request_target(req.path.unwrap_or_default())?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if header("transfer-encoding").is_some() {
        return Err(HttpError::LengthRequired);
    }
    let all = |name: &'static str| headers.iter().filter(move |(n, _)| n == name);
    if all("host").count() > 1 {
        return Err(HttpError::BadRequest("more than one Host header".into()));
    }
    // RFC 9112 §3.2: an HTTP/1.1 request must carry Host, and a Host that
    // is not `host[:port]` is refused (it must never pass for loopback).
    let host = match header("host") {
        Some(v) => Some(
            parse_authority(v)
                .ok_or_else(|| HttpError::BadRequest(format!("malformed Host header {v:?}")))?,
        ),
        None if minor_version >= 1 => {
            return Err(HttpError::BadRequest(
                "an HTTP/1.1 request needs a Host header".into(),
            ));
        }
        None => None,
    };
    // RFC 9112 §3.2.2: for an absolute-form target, its authority is the
    // host and the Host header is ignored.
    let authority = target_authority.or(host).map(str::to_string);
    // RFC 9112 §6.3: digits only, and repeated values must agree; anything
    // else could be read differently by a proxy in front of us.
    let mut length = None;
    for (_, v) in all("content-length") {
        let parsed = content_length(v)
            .ok_or_else(|| HttpError::BadRequest(format!("invalid Content-Length {v:?}")))?;
        if length.is_some_and(|l| l != parsed) {
            return Err(HttpError::BadRequest(
                "conflicting Content-Length headers".into(),
            ));
        }
        length = Some(parsed);
    }
    let length = length.unwrap_or(0);
    if length > limits.max_body {
        return Err(HttpError::BodyTooLarge {
            length,
            limit: limits.max_body,
            path: path.to_string(),
        });
    }
    // RFC 9110 §10.1.1: 100-continue is the only expectation; an HTTP/1.0
    // client's is ignored.
    let mut expects_continue = false;
    for (_, v) in all("expect") {
        if !v.eq_ignore_ascii_case("100-continue") {
            return Err(HttpError::ExpectationFailed(v.clone()));
        }
        expects_continue = minor_version >= 1;
    }
    Ok(Some(Head {
        request: Request {
            method,
            path: path.to_string(),
            query: query.to_string(),
            headers,
            body: Vec::new(),
            minor_version,
            authority,
            expects_continue,
        },
        head_len,
        body_len: length,
    }))
}

/// httparse refuses any version but HTTP/1.0 and 1.1: a well-formed
/// `HTTP/d.d` is 505, anything else a malformed request (400). Needs the
/// whole request line.
fn version_error(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HttpError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_head {
            return Err(HttpError::HeadTooLarge {
                max_head: limits.max_head,
                max_headers: limits.max_headers,
            });
        }
        return Ok(None);
    };
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(HttpError::VersionNotSupported)
        }
        _ => Err(HttpError::BadRequest(format!(
            "malformed HTTP version {:?}",
            String::from_utf8_lossy(version)
        ))),
    }
}

/// Splits a request target into the authority of an absolute-form target
/// (`http://host:port/path?q`, RFC 9112 §3.2.2) and the origin-form rest
/// (`/path?q`). Other forms (`*`, `host:port`, a bare word) are refused.
fn request_target(target: &str) -> Result<(Option<&str>, String), HttpError> {
    if target.starts_with('/') {
        return Ok((None, target.to_string()));
    }
    let bad = || {
        HttpError::BadRequest(format!(
            "request target {target:?} is neither a path (/...) nor an http:// URL"
        ))
    };
    let scheme_end = target.find("://").ok_or_else(bad)?;
    let scheme = &target[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad());
    }
    let rest = &target[scheme_end + 3..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = parse_authority(&rest[..end])
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            HttpError::BadRequest(format!("malformed authority in request target {target:?}"))
        })?;
    let path = &rest[end..];
    let origin_form = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok((Some(host), origin_form))
}

/// The host of `host[:port]` (a Host header, or the authority of a URL
/// without user info), IPv6 brackets removed; `None` when malformed:
/// an IPv6 literal must be one and be followed by nothing or a port, a
/// name may hold only the characters RFC 3986 allows in one, and a port
/// is at most five digits.
pub fn parse_authority(value: &str) -> Option<&str> {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            a => Some(a.strip_prefix(':')?),
        };
        (inside, port)
    } else {
        let (host, port) = match value.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        };
        let name_byte = |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
        if !host.bytes().all(name_byte) {
            return None;
        }
        (host, port)
    };
    match port {
        Some(p) if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(host),
    }
}

/// A `Content-Length` value: digits only (no sign, no spaces inside); a
/// number too large for `usize` is `usize::MAX`, i.e. over any limit.
fn content_length(v: &str) -> Option<usize> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse().unwrap_or(usize::MAX))
}

/// A response about to be encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` of the body (`application/json` unless set).
    pub content_type: &'static str,
    /// Extra headers (Content-Type/Length and Connection are added; so is
    /// `Cache-Control: no-store` unless one is given here).
    pub headers: Vec<(&'static str, String)>,
    /// The body: JSON made for this answer, or a file built into the
    /// binary, borrowed (queued by reference, never copied per request).
    pub body: Cow<'static, [u8]>,
}

/// An error's body: `{"error": message, "code": code}`, in that order.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &impl Serialize) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Cow::Owned(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    /// `{"error": message, "code": code}`.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Response::json(
            status,
            &ErrorBody {
                error: message,
                code,
            },
        )
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Encodes status line, headers and body.
    pub fn encode(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = self.encode_head(keep_alive);
        out.extend_from_slice(&self.body);
        out
    }

    /// Encodes status line and headers (`Content-Length` says the body's
    /// length: what a `HEAD` answer sends).
    pub fn encode_head(&self, keep_alive: bool) -> Vec<u8> {
        let mut head = String::with_capacity(160);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nConnection: {}\r\n",
            self.status,
            reason(self.status),
            if keep_alive { "keep-alive" } else { "close" },
        );
        // A 304 has no body and describes the cached one: no length or type.
        if self.status != 304 {
            let _ = write!(
                head,
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                self.content_type,
                self.body.len()
            );
        }
        if !self.headers.iter().any(|(n, _)| *n == "Cache-Control") {
            head.push_str("Cache-Control: no-store\r\n");
        }
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 256,
        max_headers: 4,
        max_body: 10,
    };

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse_request(buf, &LIMITS) {
            Ok(Parsed::Complete { request, consumed }) => (request, consumed),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_pipelined_requests_with_bodies() {
        let buf = b"POST /send/a%20b?preserveState=false HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        let (r, n) = complete(buf);
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.path, "/send/a%20b");
        assert_eq!(r.query_param("preserveState").as_deref(), Some("false"));
        assert_eq!(r.body, b"{}");
        assert!(r.keep_alive());
        let (r2, _) = complete(&buf[n..]);
        assert_eq!(r2.path, "/health");
    }

    #[test]
    fn methods_are_parsed_once_and_case_sensitive() {
        for m in [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Patch,
        ] {
            assert_eq!(Method::parse(m.as_str()), m);
        }
        assert_eq!(Method::parse("get"), Method::Other("get".into()));
        let (r, _) = complete(b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.method, Method::Other("BREW".into()));
        assert_eq!(r.method.to_string(), "BREW");
        assert_eq!(
            Method::allow_header(&[Method::Get, Method::Delete]),
            "GET, DELETE"
        );
    }

    #[test]
    fn partial_until_body_complete() {
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n", &LIMITS),
            Ok(Parsed::Partial)
        );
        assert_eq!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab",
                &LIMITS
            ),
            Ok(Parsed::Partial)
        );
    }

    #[test]
    fn limits() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n", "a".repeat(300));
        assert_eq!(
            parse_request(long.as_bytes(), &LIMITS),
            Err(HttpError::HeadTooLarge {
                max_head: 256,
                max_headers: 4
            })
        );
        let many = "GET / HTTP/1.1\r\nHost: x\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n\r\n";
        // The message names the limits in force, not the defaults.
        let body = HttpError::HeadTooLarge {
            max_head: 256,
            max_headers: 4,
        }
        .response()
        .body;
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("256 bytes and 4 headers"), "{text}");
        assert_eq!(
            parse_request(many.as_bytes(), &LIMITS),
            Err(HttpError::HeadTooLarge {
                max_head: 256,
                max_headers: 4
            })
        );
        assert!(matches!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
                &LIMITS
            ),
            Err(HttpError::BodyTooLarge {
                length: 11,
                limit: 10,
                ..
            })
        ));
        assert_eq!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                &LIMITS
            ),
            Err(HttpError::LengthRequired)
        );
        assert!(matches!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
                &LIMITS
            ),
            Err(HttpError::BadRequest(_))
        ));
        for bad in ["+5", "-1", "1 2", "0x10", "", "5, 5"] {
            let req = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {bad}\r\n\r\n");
            assert!(
                matches!(
                    parse_request(req.as_bytes(), &LIMITS),
                    Err(HttpError::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                &LIMITS
            ),
            Err(HttpError::BodyTooLarge { .. })
        ));
        assert!(matches!(
            parse_request(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
                &LIMITS
            ),
            Err(HttpError::BadRequest(_))
        ));
        let (r, _) = complete(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        );
        assert_eq!(r.body, b"ab");
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &LIMITS),
            Err(HttpError::BadRequest(_))
        ));
        assert!(matches!(
            parse_request(b"\x00\x01garbage\r\n\r\n", &LIMITS),
            Err(HttpError::BadRequest(_))
        ));
    }

    #[test]
    fn heads_are_judged_before_their_bodies() {
        // The head is known while the body is still missing.
        let head = parse_head(
            b"POST /send/s HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n{",
            &LIMITS,
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.body_len, head.request.path.as_str()), (9, "/send/s"));
        assert!(head.request.expects_continue);
        assert_eq!(head.request.authority.as_deref(), Some("x"));
        // HTTP/1.0 expectations are ignored; others are refused.
        let (r, _) = complete(b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
        assert!(!r.expects_continue);
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n", &LIMITS),
            Err(HttpError::ExpectationFailed(_))
        ));
    }

    #[test]
    fn targets_hosts_and_versions() {
        let (r, _) = complete(b"GET http://[::1]:3000?a=1 HTTP/1.1\r\nHost: y\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/", "a=1"));
        assert_eq!(r.authority.as_deref(), Some("::1"));
        let (r, _) = complete(b"GET /a HTTP/1.0\r\n\r\n");
        assert_eq!(r.authority, None);
        for bad in [
            &b"GET /a HTTP/1.1\r\n\r\n"[..],
            b"GET /a HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
            b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://a@b/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/9.Z\r\n\r\n",
        ] {
            assert!(
                matches!(parse_request(bad, &LIMITS), Err(HttpError::BadRequest(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_request(b"GET / HTTP/2.0\r\n\r\n", &LIMITS),
            Err(HttpError::VersionNotSupported)
        );
        // The version is judged once its line is whole.
        assert_eq!(parse_request(b"GET / HTTP/2", &LIMITS), Ok(Parsed::Partial));
    }

    #[test]
    fn keep_alive_rules() {
        let (r, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!r.keep_alive());
        let (r, _) = complete(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(r.keep_alive());
        let (r, _) = complete(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(!r.keep_alive());
    }

    #[test]
    fn response_encoding() {
        let r = Response::error(405, "METHOD_NOT_ALLOWED", "no")
            .with_header("Allow", Method::allow_header(&[Method::Post]));
        let text = String::from_utf8(r.encode(true)).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nAllow: POST\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"error\":\"no\",\"code\":\"METHOD_NOT_ALLOWED\"}"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}

//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`: one request
//! per connection (`Connection: close`), JSON bodies, enough for `push`.

use crate::net::{Scheme, ServerUrl};
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response read (a session or error document is small).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// A parsed `http://host:port/base` URL ([`ServerUrl`] of scheme `http`;
/// `path` is the base the API's paths are appended to).
pub type HttpUrl = ServerUrl;

/// Parses the push client's `--server` URL.
pub fn parse_url(text: &str) -> Result<HttpUrl, String> {
    ServerUrl::parse(text, Scheme::Http)
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Why no response was had.
#[derive(Debug)]
pub enum RequestError {
    /// Could not connect (no server, refused, unreachable, bad host).
    Connect(String),
    /// Connected, but the exchange failed (timeout, reset, garbage).
    Exchange(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Connect(m) | RequestError::Exchange(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RequestError {}

/// Sends one request and reads the whole response. `body` is sent as
/// `application/json`; `token` as a bearer token.
pub fn request(
    url: &HttpUrl,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    token: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, RequestError> {
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| RequestError::Connect(format!("cannot resolve {}: {e}", url.host)))?;
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| {
        RequestError::Connect(match last {
            Some(e) => format!("cannot connect to {url}: {e}"),
            None => format!("cannot connect to {url}: no address"),
        })
    })?;
    let exchange = |e: std::io::Error| {
        RequestError::Exchange(match e.kind() {
            // What a read or write timeout reports.
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
                "{url} took the connection but gave no answer within {} s (is a lumora-hr-mini server running there, and not stopped or busy?)",
                timeout.as_secs()
            ),
            _ => format!("{url}: {e}"),
        })
    };
    stream.set_read_timeout(Some(timeout)).map_err(exchange)?;
    stream.set_write_timeout(Some(timeout)).map_err(exchange)?;
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: lumora-hr-mini/{}\r\n",
        url.path,
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(exchange)?;
    if let Some(b) = body {
        stream.write_all(b).map_err(exchange)?;
    }
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .map_err(exchange)?;
    parse_response(&raw).ok_or_else(|| {
        RequestError::Exchange(format!("{url} did not answer with an HTTP response"))
    })
}

/// Status and body of a complete `Connection: close` response.
pub fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = response.parse(raw).ok()? else {
        return None;
    };
    let status = response.code?;
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let rest = &raw[head_len..];
    let body = match length {
        Some(n) => rest.get(..n)?,
        None => rest,
    };
    Some(HttpResponse {
        status,
        body: body.to_vec(),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a
/// path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 3000, "")
        );
        let u = parse_url("localhost:4000/api/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 4000, "/api")
        );
        let u = parse_url("http://[::1]:5/").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.authority(), "[::1]:5");
        assert_eq!(u.to_string(), "http://[::1]:5");
        assert_eq!(parse_url("http://h").unwrap().port, 80);
        assert!(parse_url("https://h").unwrap_err().contains("only http://"));
        assert!(parse_url("http://h:x").is_err());
        assert!(parse_url("http://:1").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{}");
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nbody").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"body"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_none());
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn segments() {
        assert_eq!(encode_segment("a-b_c.d~1"), "a-b_c.d~1");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}

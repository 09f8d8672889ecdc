//! The web device: a page any phone browser opens (`GET /s/<sessionId>`)
//! that speaks the device protocol over `/ws` and renders the schema as
//! HTML. Its files live in `web/`; their gzip copies (made by
//! `web/gzip.sh`; a test checks they match) are what the binary embeds,
//! served as they are to browsers (all accept gzip) and decompressed once
//! for a client that does not.
//!
//! Device-facing like `/ws`: the session id in the URL is the only
//! credential, and nothing here reaches the control API. The page is the
//! same for every session (the script reads the id from its own URL), so
//! it is cached by ETag like the other files.

use super::http::{Request, Response};
use super::inflate::gunzip;
use std::borrow::Cow;
use std::sync::OnceLock;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Name under `/web/` (the page itself is served at `/s/<id>`).
    pub name: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The file, gzip-compressed.
    pub gzip: &'static [u8],
}

impl Asset {
    /// The CRC-32 of the file, from the gzip trailer: the `ETag`.
    pub fn crc(&self) -> u32 {
        let n = self.gzip.len();
        self.gzip
            .get(n.saturating_sub(8)..n.saturating_sub(4))
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The file as written, decompressed on first use.
    pub fn plain(&self) -> &'static [u8] {
        static PLAIN: [OnceLock<Vec<u8>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let i = ASSETS.iter().position(|a| a.name == self.name).unwrap_or(0);
        PLAIN[i].get_or_init(|| gunzip(self.gzip, 1 << 20).unwrap_or_default())
    }
}

/// Index of the page in [`ASSETS`].
const PAGE: usize = 0;

/// Every embedded file: the page, its script and its style sheet.
pub const ASSETS: [Asset; 3] = [
    Asset {
        name: "device.html",
        content_type: "text/html; charset=utf-8",
        gzip: include_bytes!("../../web/device.html.gz"),
    },
    Asset {
        name: "device.js",
        content_type: "text/javascript; charset=utf-8",
        gzip: include_bytes!("../../web/device.js.gz"),
    },
    Asset {
        name: "device.css",
        content_type: "text/css; charset=utf-8",
        gzip: include_bytes!("../../web/device.css.gz"),
    },
];

/// What the page may do: its own script and styles, style changes made by
/// the script, WebSocket back to this server, and images (a schema's
/// `src`/`uri` props name them; the script admits only http(s) and
/// `data:image/`). No inline or remote script, no frames, no forms, and
/// no referrer, so an image host never sees the session id.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src http: https: data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// `GET /web/<name>`: an embedded file, or `None` when there is no such.
pub fn asset(req: &Request, name: &str) -> Option<Response> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| serve(req, a))
}

/// `GET /s/<id>`: the device page.
pub fn page(req: &Request) -> Response {
    serve(req, &ASSETS[PAGE])
        .with_header("Content-Security-Policy", CSP)
        .with_header("Referrer-Policy", "no-referrer")
        .with_header("X-Frame-Options", "DENY")
}

/// A file with validators: `ETag` (the CRC-32 of the file, one per
/// encoding), `Cache-Control: no-cache` (the browser revalidates, so a new
/// build is picked up at once; an unchanged file costs a `304`), gzip when
/// the request accepts it.
fn serve(req: &Request, a: &Asset) -> Response {
    let gzip = accepts_gzip(req);
    let etag = format!("\"{:08x}{}\"", a.crc(), if gzip { "-gz" } else { "" });
    let fresh = req.header("if-none-match").is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    });
    let mut resp = Response::json(200, &());
    resp.content_type = a.content_type;
    resp.body = Cow::Borrowed(if fresh {
        resp.status = 304;
        &[]
    } else if gzip {
        a.gzip
    } else {
        a.plain()
    });
    if gzip && !fresh {
        resp = resp.with_header("Content-Encoding", "gzip");
    }
    resp.with_header("ETag", etag)
        .with_header("Cache-Control", "no-cache")
        .with_header("Vary", "Accept-Encoding")
        .with_header("X-Content-Type-Options", "nosniff")
}

/// `Accept-Encoding` lists `gzip` with a non-zero quality, or, when it
/// does not name `gzip`, `*` with one: `gzip;q=0, *` refuses gzip.
fn accepts_gzip(req: &Request) -> bool {
    let (mut gzip, mut any) = (None, None);
    for item in req
        .header_values("accept-encoding")
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        // `q=0`, `q=0.0`, `q=0.000` refuse; any other weight accepts.
        let accepted = !parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .is_some_and(|q| q.trim().bytes().all(|b| b == b'0' || b == b'.'));
        if coding.eq_ignore_ascii_case("gzip") {
            gzip = Some(gzip.unwrap_or(false) || accepted);
        } else if coding == "*" {
            any = Some(any.unwrap_or(false) || accepted);
        }
    }
    gzip.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::http::Method;

    fn get(headers: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            path: "/s/x".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            minor_version: 1,
            authority: Some("127.0.0.1".into()),
            expects_continue: false,
        }
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The sources in `web/`: only the tests embed them.
    const SOURCES: [&[u8]; 3] = [
        include_bytes!("../../web/device.html"),
        include_bytes!("../../web/device.js"),
        include_bytes!("../../web/device.css"),
    ];

    #[test]
    fn the_gzip_copies_match_the_sources() {
        for (a, src) in ASSETS.iter().zip(SOURCES) {
            assert!(
                a.plain() == src,
                "web/{}.gz does not match web/{}: run web/gzip.sh",
                a.name,
                a.name
            );
            assert_eq!(a.crc(), crc32fast::hash(src), "{}", a.name);
        }
    }

    #[test]
    fn gzip_only_when_accepted() {
        let page = &ASSETS[PAGE];
        for (value, gz) in [
            ("gzip, deflate, br", true),
            ("br;q=1, GZIP;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            // An explicit refusal is not overruled by the wildcard.
            ("gzip;q=0, *", false),
            ("*;q=0, gzip", true),
            ("br, *;q=0", false),
            ("identity", false),
            ("deflate", false),
        ] {
            let r = super::page(&get(&[("accept-encoding", value)]));
            assert_eq!(header(&r, "Content-Encoding").is_some(), gz, "{value}");
            assert_eq!(r.body, if gz { page.gzip } else { SOURCES[0] }, "{value}");
        }
        let r = super::page(&get(&[]));
        assert_eq!(r.body, SOURCES[0]);
        assert_eq!(r.content_type, "text/html; charset=utf-8");
    }

    #[test]
    fn etag_revalidates_per_encoding() {
        let plain = page(&get(&[]));
        let tag = header(&plain, "ETag").unwrap().to_string();
        let again = page(&get(&[("if-none-match", &tag)]));
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        let enc = String::from_utf8(again.encode(true)).unwrap();
        assert!(!enc.contains("Content-Length"), "{enc}");
        // The gzip copy has its own tag: the plain one does not validate it.
        let gz = page(&get(&[
            ("if-none-match", &tag),
            ("accept-encoding", "gzip"),
        ]));
        assert_eq!(gz.status, 200);
        let gz_tag = header(&gz, "ETag").unwrap().to_string();
        assert_ne!(gz_tag, tag);
        let list = format!("\"nope\", W/{gz_tag}");
        let gz2 = page(&get(&[
            ("if-none-match", &list),
            ("accept-encoding", "gzip"),
        ]));
        assert_eq!(gz2.status, 304);
    }

    #[test]
    fn page_headers_lock_it_down() {
        let r = page(&get(&[]));
        let csp = header(&r, "Content-Security-Policy").unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
        assert_eq!(header(&r, "Referrer-Policy"), Some("no-referrer"));
        let enc = String::from_utf8_lossy(&r.encode(true)).into_owned();
        assert!(enc.contains("Cache-Control: no-cache\r\n"));
        assert!(!enc.contains("no-store"));
        assert!(asset(&get(&[]), "device.js").is_some());
        assert!(asset(&get(&[]), "../Cargo.toml").is_none());
    }
}

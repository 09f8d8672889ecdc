//! The landing page, `GET /`, for the control side (this machine, or a
//! bearer of the token): the sessions with a QR code of their web device
//! page, links, the devices with their health, and the last updates.
//! Plain server-rendered HTML, no JavaScript; every text from outside
//! (device names, platforms, ids) is escaped.

use super::http::Response;
use super::urls::{page_path, page_url, ws_url};
use crate::cli::qr::{Ecc, QrCode};
use crate::hub::{DeviceHealth, Hub, Now, Session};
use std::fmt::Write as _;

/// Everything the page shows.
pub struct Landing<'a> {
    /// Sessions, devices and the last updates.
    pub hub: &'a Hub,
    /// The time.
    pub now: Now,
    /// `host:port` devices use.
    pub advertised: &'a str,
}

/// Sessions shown whole (QR code, URLs, devices): the startup session and
/// the newest. A QR code costs ~0.5 ms to draw, and the page is made on
/// the loop's thread, so a server holding hundreds of sessions must not
/// draw one for each on every load.
const SHOWN_WHOLE: usize = 8;
/// Further sessions listed one line each, at most.
const LISTED: usize = 100;
/// Devices listed per session, at most (`/session/:id/health` has all).
const DEVICES_LISTED: usize = 50;

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}\
h1{font-size:1.5em;margin:0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
section{display:flex;gap:1.5em;flex-wrap:wrap;margin:1em 0}section svg{width:180px;height:180px}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2em .8em .2em 0;border-bottom:1px solid #eee}\
code{font-size:.9em;word-break:break-all}.ok{color:#176b2c}.bad{color:#a51d1d}.dim{color:#777}";

impl Landing<'_> {
    /// The page.
    pub fn response(&self) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: self.html().into_bytes().into(),
        }
    }

    /// The page's HTML.
    pub fn html(&self) -> String {
        let hub = self.hub;
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>lumora-hr-mini</title><style>{STYLE}</style></head><body>\
             <h1>lumora-hr-mini {}</h1><p class=\"dim\">{} · {} · \
             <a href=\"/\">refresh</a> · <a href=\"/stats\">/stats</a> · <a href=\"/health\">/health</a></p>\
             <h2>Sessions</h2>",
            env!("CARGO_PKG_VERSION"),
            count(hub.session_count(), "session"),
            count(hub.device_count(), "device"),
        );
        // The startup session first, then the newest: only those shown are
        // kept in order (each put in place among at most 108).
        let startup = hub.startup_session();
        let mut shown: Vec<&Session> = Vec::new();
        for s in hub.sessions() {
            let first = |x: &Session| Some(x.id.as_ref()) == startup;
            let at = shown
                .iter()
                .position(|t| !first(t) && (first(s) || t.created_at_ms < s.created_at_ms))
                .unwrap_or(shown.len());
            if at < SHOWN_WHOLE + LISTED {
                shown.insert(at, s);
                shown.truncate(SHOWN_WHOLE + LISTED);
            }
        }
        if shown.is_empty() {
            out.push_str("<p>No sessions. <code>POST /session/new</code> creates one.</p>");
        }
        for s in shown.iter().take(SHOWN_WHOLE) {
            self.session(&mut out, &s.id);
        }
        let more = hub.session_count().saturating_sub(SHOWN_WHOLE);
        if more > 0 {
            let _ = write!(
                out,
                "<h3>{} more</h3><table><tr><th>session</th><th>state</th><th>devices</th><th>expires in</th></tr>",
                count(more, "session")
            );
            for s in shown.iter().skip(SHOWN_WHOLE) {
                let id = esc(&s.id);
                let state = match &s.schema {
                    Some(_) => format!("update #{}", s.sequence),
                    None => "no schema yet".into(),
                };
                let _ = write!(
                    out,
                    "<tr><td><a href=\"/session/{id}\"><code>{id}</code></a> · <a href=\"{}\">web device</a></td>\
                     <td>{state}</td><td>{}</td><td>{}</td></tr>",
                    esc(&page_path(s.id.as_ref())),
                    s.devices.len(),
                    self.now_until(s.expires_at_ms),
                );
            }
            out.push_str("</table>");
            if more > LISTED {
                let _ = write!(
                    out,
                    "<p class=\"dim\">and {} not listed here (<code>GET /session/:id</code> shows any).</p>",
                    count(more - LISTED, "more session")
                );
            }
        }
        out.push_str("<h2>Last updates</h2>");
        let mut any = false;
        for u in hub.recent_updates() {
            if !any {
                out.push_str(
                    "<table><tr><th>when</th><th>session</th><th>update</th><th>size</th>\
                     <th>devices</th><th>checksum</th></tr>",
                );
                any = true;
            }
            let _ = write!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>#{} {}</td><td>{} bytes</td><td>{}</td><td><code>{}</code></td></tr>",
                ago(self.now.wall_ms.saturating_sub(u.at_ms)),
                esc(short(&u.session)),
                u.sequence,
                u.kind,
                u.bytes,
                u.devices,
                esc(&u.checksum),
            );
        }
        out.push_str(if any {
            "</table>"
        } else {
            "<p>None yet: push a schema with <code>lumora-hr-mini push FILE</code>.</p>"
        });
        out.push_str("</body></html>\n");
        out
    }

    /// One session: its QR code, URLs, state and devices.
    fn session(&self, out: &mut String, id: &str) {
        let hub = self.hub;
        let Some(s) = hub.session(id) else { return };
        let page = page_url(self.advertised, id);
        let qr = QrCode::encode(page.as_bytes(), Ecc::Low)
            .map(|c| c.svg(4))
            .unwrap_or_default();
        let startup = if hub.startup_session() == Some(id) {
            " <span class=\"dim\">(startup session)</span>"
        } else {
            ""
        };
        let id = esc(id);
        let state = match &s.schema {
            Some(schema) => format!(
                "update #{}, checksum <code>{}</code>",
                s.sequence,
                esc(schema.checksum())
            ),
            None => "no schema yet".into(),
        };
        let expires = self.now_until(s.expires_at_ms);
        let _ = write!(
            out,
            "<section>{qr}<div><h3>Session <code>{id}</code>{startup}</h3>\
             <p>Web device: <a href=\"{}\">{}</a><br>Devices URL: <code>{}</code><br>\
             {state}; expires in {expires}<br>\
             <a href=\"/session/{id}\">session</a> · <a href=\"/session/{id}/health\">health</a> (JSON)</p>",
            esc(&page_path(s.id.as_ref())),
            esc(&page),
            esc(&ws_url(self.advertised, s.id.as_ref())),
        );
        let devices = hub
            .health_view(&s.id, self.now)
            .map(|h| h.devices)
            .unwrap_or_default();
        if devices.is_empty() {
            out.push_str("<p class=\"dim\">No devices connected.</p>");
        } else {
            out.push_str(
                "<table><tr><th>device</th><th>platform</th><th>health</th><th>last ack</th><th>apply time</th></tr>",
            );
            for d in devices.iter().take(DEVICES_LISTED) {
                device_row(out, d);
            }
            out.push_str("</table>");
            if devices.len() > DEVICES_LISTED {
                let _ = write!(
                    out,
                    "<p class=\"dim\">and {} not listed here (<a href=\"/session/{id}/health\">health</a> has them all).</p>",
                    count(devices.len() - DEVICES_LISTED, "more device")
                );
            }
        }
        out.push_str("</div></section>");
    }

    fn now_until(&self, at_ms: u64) -> String {
        let secs = at_ms.saturating_sub(self.now.wall_ms) / 1000;
        match (secs / 3600, secs / 60 % 60) {
            (0, 0) => format!("{secs}s"),
            (0, m) => format!("{m}m"),
            (h, m) => format!("{h}h {m}m"),
        }
    }
}

fn device_row(out: &mut String, d: &DeviceHealth) {
    let name = esc(d.device_name.as_deref().unwrap_or(&d.device_id));
    let health = if d.healthy {
        "<span class=\"ok\">healthy</span>".to_string()
    } else {
        format!(
            "<span class=\"bad\">silent {}</span>",
            ago(d.time_since_last_ping_ms)
        )
    };
    let ack = match (d.last_ack_sequence, d.last_ack_success) {
        (Some(n), Some(true)) => format!("#{n} ok"),
        (Some(n), _) => format!("<span class=\"bad\">#{n} failed</span>"),
        (None, _) => "none".into(),
    };
    let apply = d
        .last_apply_time_ms
        .map(|ms| format!("{ms:.2} ms"))
        .unwrap_or_else(|| "-".into());
    let _ = write!(
        out,
        "<tr><td>{name}</td><td>{}</td><td>{health}</td><td>{ack}</td><td>{apply}</td></tr>",
        esc(&d.platform)
    );
}

/// `1 session`, `3 devices`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `12 s ago`, `5 min ago`, `2 h ago`.
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// The first 8 characters of an id.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Text made safe for HTML content and quoted attribute values.
pub fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['<', '>', '&', '"', '\'']) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("plain"), "plain");
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn times_for_people() {
        assert_eq!(ago(12_400), "12 s ago");
        assert_eq!(ago(300_000), "5 min ago");
        assert_eq!(ago(7_300_000), "2 h ago");
        assert_eq!(count(1, "device"), "1 device");
        assert_eq!(count(0, "session"), "0 sessions");
    }
}

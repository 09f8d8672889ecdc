//! The URLs a device is given: one place that builds them, for the API
//! replies, the banner, its QR code and any page that links to a device.

/// Path prefix of the web device page: `GET /s/<sessionId>`.
pub const PAGE_PREFIX: &str = "/s/";

/// The WebSocket URL native devices connect to:
/// `ws://<advertised>/ws?session=<id>`.
pub fn ws_url(advertised: &str, session_id: &str) -> String {
    format!("ws://{advertised}/ws?session={session_id}")
}

/// The web device page a phone's browser opens:
/// `http://<advertised>/s/<id>`.
pub fn page_url(advertised: &str, session_id: &str) -> String {
    format!("http://{advertised}{PAGE_PREFIX}{session_id}")
}

/// The same page as a path on this server (for links on pages it serves).
pub fn page_path(session_id: &str) -> String {
    format!("{PAGE_PREFIX}{session_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            ws_url("10.0.0.2:3000", "abc"),
            "ws://10.0.0.2:3000/ws?session=abc"
        );
        assert_eq!(
            page_url("[fe80::1]:3000", "abc"),
            "http://[fe80::1]:3000/s/abc"
        );
        assert_eq!(page_path("abc"), "/s/abc");
    }
}

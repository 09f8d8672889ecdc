//! The workload: test schemas, and small HTTP requests to the server.

use crate::*;

/// Top-level nodes of the test schema; a one-node edit gives an incremental
/// update of about 600 bytes, a full update is a few KiB.
pub(crate) const NODES: usize = 12;

pub(crate) fn node(i: usize, text: &str) -> Value {
    json!({
        "id": format!("node-{i}"),
        "type": "Text",
        "props": {
            "text": text,
            "style": {"color": "#336699", "fontSize": 16, "fontWeight": "600", "padding": 12,
                      "margin": 8, "backgroundColor": "#ffffff", "borderRadius": 6,
                      "textAlign": "left", "lineHeight": 1.4},
            "accessibilityLabel": format!("Label for node {i}, read aloud by screen readers"),
        },
        "metadata": {"sourceLine": 10 + i, "component": "TextBlock"}
    })
}

/// The schemas pushed: [initial, update 1, ..., update K]. Update r edits
/// one node (incremental), except every `full_every`-th, which edits all
/// (more than the incremental threshold, so a full update).
pub(crate) fn schemas(updates: usize, full_every: usize) -> Vec<String> {
    let mut texts: Vec<String> = (0..NODES).map(|i| format!("initial text {i}")).collect();
    let mut out = Vec::with_capacity(updates + 1);
    for r in 0..=updates {
        if r > 0 {
            if full_every > 0 && r % full_every == 0 {
                for (i, t) in texts.iter_mut().enumerate() {
                    *t = format!("rewritten in update {r} ({i})");
                }
            } else {
                texts[r % NODES] = format!("edited in update {r}");
            }
        }
        let nodes: Vec<Value> = texts.iter().enumerate().map(|(i, t)| node(i, t)).collect();
        out.push(
            json!({
                "version": "1.0",
                "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": 1},
                "nodes": nodes,
            })
            .to_string(),
        );
    }
    out
}

pub(crate) fn post_request(addr: SocketAddr, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One blocking request with `Connection: close`; status and body.
pub(crate) fn http_once(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

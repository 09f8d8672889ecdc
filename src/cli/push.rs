//! `lumora-hr-mini push FILE`: POST a schema to a running server.
//!
//! Without `--session` the schema goes to the server's startup session,
//! found with `GET /session/startup`.

use super::args::PushOptions;
use super::http_client::{self, HttpResponse, HttpUrl, RequestError};
use crate::protocol::UpdateType;
use serde_json::Value;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

/// How long to wait on the server.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a push did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// Bad usage, unreadable file, or no server: exit status 2.
    Local(String),
    /// The server refused: exit status 1. The message includes its code.
    Refused(String),
}

impl PushError {
    /// The exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            PushError::Local(_) => 2,
            PushError::Refused(_) => 1,
        }
    }
}

/// Runs `push`; prints the outcome or the error.
pub fn run(opts: &PushOptions) -> ExitCode {
    match push(opts) {
        Ok(line) => {
            say!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            match &e {
                PushError::Local(m) | PushError::Refused(m) => complain!("error: {m}"),
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Pushes and returns the line describing the outcome.
pub fn push(opts: &PushOptions) -> Result<String, PushError> {
    let body = read_schema(&opts.file)?;
    let url = http_client::parse_url(&opts.server).map_err(PushError::Local)?;
    let token = opts.token.as_deref();
    let session = match &opts.session {
        Some(s) => s.clone(),
        None => startup_session(&url, token)?,
    };
    let mut path = format!("/send/{}", http_client::encode_segment(&session));
    if !opts.preserve_state {
        path.push_str("?preserveState=false");
    }
    let reply = http_client::request(&url, "POST", &path, Some(&body), token, TIMEOUT)
        .map_err(|e| connection_error(&url, e))?;
    match reply.status {
        200 | 202 => {
            let answer = json(&reply);
            if !answer["success"].is_boolean() {
                return Err(not_ours(&url, &reply));
            }
            Ok(describe_outcome(&answer))
        }
        410 if opts.session.is_some() => Err(PushError::Refused(format!(
            "{}\n(create a session with `curl -X POST {url}/session/new` and pass its sessionId, or drop --session to push to the startup session)",
            refusal_message(&reply)
        ))),
        404 if opts.session.is_some() => Err(PushError::Refused(format!(
            "{}\n{}",
            refusal_message(&reply),
            unknown_session_hint(&url)
        ))),
        _ => Err(refusal(&reply)),
    }
}

/// A 200 that is not a lumora-hr-mini reply: another program on the port.
fn not_ours(url: &HttpUrl, reply: &HttpResponse) -> PushError {
    let text: String = String::from_utf8_lossy(&reply.body)
        .chars()
        .take(80)
        .collect();
    PushError::Local(format!(
        "{url} answered HTTP {} but not as lumora-hr-mini does ({:?}): is another program on that port? pass --server URL",
        reply.status,
        text.trim()
    ))
}

/// What to do when `--session` names a session the server does not have.
fn unknown_session_hint(url: &HttpUrl) -> String {
    format!(
        "(the server's sessions are listed by `curl {url}/stats` under sessionDetails; \
         or drop --session to push to the startup session its banner shows)"
    )
}

/// Reads at most one byte more than a schema may have: the server refuses
/// anything larger, and an endless input must not fill memory.
fn read_schema(file: &str) -> Result<Vec<u8>, PushError> {
    let limit = crate::protocol::MAX_SCHEMA_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    let result = if file == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes).map(|_| ()))
    };
    match result {
        Ok(()) if bytes.len() as u64 >= limit => {
            // Over the limit the server would refuse: said here, with the
            // real size (only limit + 1 bytes were read).
            let what = match std::fs::metadata(file) {
                Ok(m) if file != "-" => format!("{file} is {} bytes, over", m.len()),
                _ if file == "-" => "standard input has more than".to_string(),
                _ => format!("{file} has more than"),
            };
            Err(PushError::Local(format!(
                "{what} the {} bytes (10 MiB) a schema may have: not pushed",
                limit - 1
            )))
        }
        Ok(()) if bytes.iter().all(u8::is_ascii_whitespace) => {
            // Nothing a server could take: said here, not sent.
            Err(PushError::Local(if file == "-" {
                "standard input is empty: nothing pushed (give the schema there: `push - < app.json`)"
                    .to_string()
            } else {
                format!("{file} is empty: nothing pushed (is it still being written?)")
            }))
        }
        Ok(()) => Ok(bytes),
        Err(e) => Err(PushError::Local(format!(
            "cannot read {}: {e}",
            if file == "-" { "standard input" } else { file }
        ))),
    }
}

/// The server's startup session id.
fn startup_session(url: &HttpUrl, token: Option<&str>) -> Result<String, PushError> {
    let reply = http_client::request(url, "GET", "/session/startup", None, token, TIMEOUT)
        .map_err(|e| connection_error(url, e))?;
    if reply.status == 401 {
        return Err(refusal(&reply));
    }
    if reply.status != 200 {
        let body = json(&reply);
        let hint = match (reply.status, body["code"].as_str()) {
            (410, _) => format!(
                "(the startup session expired: restart the server, which then makes a new one, or create one with `curl -X POST {url}/session/new` and pass its sessionId with --session)"
            ),
            (404, Some("SESSION_NOT_FOUND")) => {
                "(the server has no startup session to push to (it was deleted); pass --session ID)"
                    .into()
            }
            (404, _) => format!(
                "(no /session/startup at {url}: is lumora-hr-mini running there, and is --server its root, with no path?)"
            ),
            _ => String::new(),
        };
        let message = refusal_message(&reply);
        return Err(PushError::Refused(if hint.is_empty() {
            message
        } else {
            format!("{message}\n{hint}")
        }));
    }
    json(&reply)["sessionId"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| not_ours(url, &reply))
}

fn connection_error(url: &HttpUrl, e: RequestError) -> PushError {
    match e {
        RequestError::Connect(m) => PushError::Local(format!(
            "{m}\n(is lumora-hr-mini running there? start it, or pass --server URL; tried {url})"
        )),
        RequestError::Exchange(m) => PushError::Local(m),
    }
}

fn json(reply: &HttpResponse) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
}

fn refusal(reply: &HttpResponse) -> PushError {
    let mut message = refusal_message(reply);
    if reply.status == 401 {
        message.push_str(
            "\n(the server refused the token: pass the one it was started with, --token or $LUMORA_TOKEN, or none if it has none)",
        );
    }
    PushError::Refused(message)
}

/// The server's error message and code, e.g. `nodes[0].id: ...
/// (SCHEMA_VALIDATION_FAILED, HTTP 400)`.
fn refusal_message(reply: &HttpResponse) -> String {
    let body = json(reply);
    match (body["error"].as_str(), body["code"].as_str()) {
        (Some(m), Some(c)) => format!("{m} ({c}, HTTP {})", reply.status),
        (Some(m), None) => format!("{m} (HTTP {})", reply.status),
        _ => {
            let text = String::from_utf8_lossy(&reply.body);
            let text: String = text.chars().take(200).collect();
            format!("the server answered HTTP {}: {}", reply.status, text.trim())
        }
    }
}

/// `incremental update #7 → 3 devices (checksum 1a2b3c4d)`, `no change
/// (update #7 is current, checksum 1a2b3c4d)` or `held: ...`, from a
/// `/send` reply. Says only what the reply says: a held push promises no
/// sequence number or checksum.
pub fn describe_outcome(reply: &Value) -> String {
    let seq = reply["sequenceNumber"].as_u64().unwrap_or(0);
    let devices = reply["clientsUpdated"].as_u64().unwrap_or(0);
    let checksum = reply["checksum"].as_str().unwrap_or("?");
    let plural = if devices == 1 { "" } else { "s" };
    if reply["batched"] == true {
        let held = reply["heldChecksum"].as_str().unwrap_or("?");
        let current = match (
            reply["currentSequenceNumber"].as_u64(),
            reply["currentChecksum"].as_str(),
        ) {
            (Some(n), Some(c)) if n > 0 => format!("update #{n} (checksum {c})"),
            _ => "what devices hold".to_string(),
        };
        return format!(
            "held (checksum {held}): within the coalescing window, so it will be compared with {current} when the window ends, and sent only if it differs"
        );
    }
    match reply["updateType"].as_str().and_then(UpdateType::parse) {
        Some(UpdateType::None) => {
            format!("no change (update #{seq} is current, checksum {checksum})")
        }
        Some(kind) => {
            format!("{kind} update #{seq} → {devices} device{plural} (checksum {checksum})")
        }
        None => format!("pushed (update #{seq})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes() {
        let r = json!({"success": true, "updateType": "incremental", "sequenceNumber": 7, "clientsUpdated": 3, "checksum": "1a2b3c4d"});
        assert_eq!(
            describe_outcome(&r),
            "incremental update #7 → 3 devices (checksum 1a2b3c4d)"
        );
        let r = json!({"updateType": "full", "sequenceNumber": 1, "clientsUpdated": 1, "checksum": "x"});
        assert_eq!(
            describe_outcome(&r),
            "full update #1 → 1 device (checksum x)"
        );
        let r = json!({"updateType": "none", "sequenceNumber": 4, "clientsUpdated": 0, "checksum": "x"});
        assert!(describe_outcome(&r).starts_with("no change (update #4 is current"));
        let r = json!({"updateType": "pending", "batched": true, "clientsUpdated": 0,
                       "heldChecksum": "7cde3c2b", "currentSequenceNumber": 4, "currentChecksum": "255f35eb"});
        let text = describe_outcome(&r);
        assert_eq!(
            text,
            "held (checksum 7cde3c2b): within the coalescing window, so it will be compared with update #4 (checksum 255f35eb) when the window ends, and sent only if it differs"
        );
        assert!(!text.contains("#5"), "{text}");
        let r = json!({"updateType": "pending", "batched": true, "clientsUpdated": 0,
                       "heldChecksum": "7cde3c2b", "currentSequenceNumber": 0, "currentChecksum": null});
        assert!(describe_outcome(&r).contains("compared with what devices hold"));
    }

    #[test]
    fn refusals_carry_the_message_and_code() {
        let reply = HttpResponse {
            status: 400,
            body: br#"{"error": "nodes[0].id: missing", "code": "SCHEMA_VALIDATION_FAILED"}"#
                .to_vec(),
        };
        assert_eq!(
            refusal(&reply),
            PushError::Refused("nodes[0].id: missing (SCHEMA_VALIDATION_FAILED, HTTP 400)".into())
        );
        let reply = HttpResponse {
            status: 502,
            body: b"Bad gateway".to_vec(),
        };
        assert_eq!(refusal(&reply).exit_code(), 1);
    }
}

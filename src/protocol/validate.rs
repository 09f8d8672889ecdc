//! Message validation: every problem found, not just the first.

use super::error_code::ErrorCode;
use super::json::type_name;
use super::message::MessageType;
use serde_json::{Map, Value};

/// Checks a decoded JSON value against the envelope and per-type payload
/// rules. `Ok` when valid, else every problem found, each naming its field.
pub fn validate_message(value: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let Some(obj) = value.as_object() else {
        return Err(vec![format!(
            "message: expected an object, got {}",
            type_name(value)
        )]);
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) if !t.is_empty() => match MessageType::parse(t) {
            Some(k) => Some(k),
            None => {
                errors.push(format!("type: unknown message type {t:?}"));
                None
            }
        },
        other => {
            errors.push(problem("type", other, "a non-empty string"));
            None
        }
    };
    for key in ["sessionId", "version"] {
        match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            other => errors.push(problem(key, other, "a non-empty string")),
        }
    }
    if !matches!(obj.get("timestamp"), Some(Value::Number(_))) {
        errors.push(problem("timestamp", obj.get("timestamp"), "a number"));
    }
    match obj.get("payload") {
        Some(Value::Object(payload)) => {
            if let Some(kind) = kind {
                validate_payload(kind, payload, &mut errors);
            }
        }
        // Like the reference: a type with no required payload field (`ping`,
        // `pong`) may leave the payload out or send `null`.
        None | Some(Value::Null) if kind.is_some_and(payload_optional) => {}
        other => errors.push(problem("payload", other, "an object")),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn problem(path: &str, got: Option<&Value>, expected: &str) -> String {
    match got {
        None => format!("{path}: missing required field"),
        Some(v) => format!("{path}: expected {expected}, got {}", describe(v)),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "an empty string".into(),
        Value::String(s) => format!("{s:?}"),
        other => type_name(other).into(),
    }
}

/// What a payload field must be.
#[derive(Clone, Copy)]
enum Rule {
    Str,
    Bool,
    Number,
    /// A non-negative integer (sequence numbers).
    Count,
    Object,
    /// A string from a fixed list.
    OneOf(&'static [&'static str]),
    /// An error code of [`ErrorCode`].
    Code,
    Any,
}

impl Rule {
    fn check(self, v: &Value) -> Option<String> {
        let ok = match self {
            Rule::Str => v.is_string(),
            Rule::Bool => v.is_boolean(),
            Rule::Number => v.is_number(),
            Rule::Count => v.is_u64(),
            Rule::Object => v.is_object(),
            Rule::OneOf(allowed) => v.as_str().is_some_and(|s| allowed.contains(&s)),
            Rule::Code => v.as_str().and_then(ErrorCode::parse).is_some(),
            Rule::Any => true,
        };
        if ok {
            return None;
        }
        Some(match self {
            Rule::Str => "a string".to_string(),
            Rule::Bool => "a boolean".to_string(),
            Rule::Number => "a number".to_string(),
            Rule::Count => "a non-negative integer".to_string(),
            Rule::Object => "an object".to_string(),
            Rule::OneOf(allowed) => format!("one of {}", allowed.join("/")),
            Rule::Code => "a known error code".to_string(),
            Rule::Any => String::new(),
        })
    }
}

const REQUIRED: bool = true;
const OPTIONAL: bool = false;

fn fields(kind: MessageType) -> &'static [(&'static str, Rule, bool)] {
    use Rule::*;
    match kind {
        MessageType::Connect => &[
            ("deviceId", Str, REQUIRED),
            ("platform", Str, REQUIRED),
            ("deviceName", Str, OPTIONAL),
            ("clientVersion", Str, REQUIRED),
        ],
        MessageType::Connected => &[
            ("connectionId", Str, REQUIRED),
            ("initialSchema", Object, OPTIONAL),
            ("capabilities", Object, REQUIRED),
            ("sequenceNumber", Count, REQUIRED),
            ("checksum", Str, OPTIONAL),
        ],
        MessageType::Update => &[
            ("type", OneOf(&["full", "incremental"]), REQUIRED),
            ("preserveState", Bool, REQUIRED),
            ("sequenceNumber", Count, REQUIRED),
            ("checksum", Str, REQUIRED),
        ],
        MessageType::Ack => &[
            ("sequenceNumber", Count, REQUIRED),
            ("success", Bool, REQUIRED),
            ("error", Str, OPTIONAL),
            ("applyTime", Number, OPTIONAL),
        ],
        MessageType::Reload => &[
            (
                "reason",
                OneOf(&["error", "manual", "incompatible"]),
                REQUIRED,
            ),
            ("error", Str, OPTIONAL),
        ],
        MessageType::Error => &[
            ("code", Code, REQUIRED),
            ("message", Str, REQUIRED),
            ("severity", OneOf(&["warning", "error", "fatal"]), REQUIRED),
            ("recoverable", Bool, REQUIRED),
            ("details", Any, OPTIONAL),
        ],
        MessageType::Ping => &[(
            "status",
            OneOf(&["idle", "rendering", "updating"]),
            OPTIONAL,
        )],
        MessageType::Pong => &[("serverTime", Number, OPTIONAL)],
        MessageType::Log => &[
            ("message", Str, REQUIRED),
            (
                "level",
                OneOf(&["debug", "info", "warn", "error"]),
                REQUIRED,
            ),
        ],
    }
}

/// True when no field of the type's payload is required, so the payload
/// itself may be missing or `null`.
pub(crate) fn payload_optional(kind: MessageType) -> bool {
    fields(kind).iter().all(|&(_, _, required)| !required)
}

fn validate_payload(kind: MessageType, payload: &Map<String, Value>, errors: &mut Vec<String>) {
    for &(name, rule, required) in fields(kind) {
        match payload.get(name) {
            None if required => errors.push(format!("payload.{name}: missing required field")),
            // An optional field may be absent or `null`.
            None => {}
            Some(Value::Null) if !required => {}
            Some(v) => {
                if let Some(expected) = rule.check(v) {
                    errors.push(format!(
                        "payload.{name}: expected {expected}, got {}",
                        describe(v)
                    ));
                }
            }
        }
    }
    if kind == MessageType::Update {
        let body = match payload.get("type").and_then(Value::as_str) {
            Some("full") => Some("schema"),
            Some("incremental") => Some("delta"),
            _ => None,
        };
        if let Some(key) = body {
            match payload.get(key) {
                Some(Value::Object(_)) => {}
                other => errors.push(problem(&format!("payload.{key}"), other, "an object")),
            }
        }
    }
}

/// Compares protocol versions like the reference: a problem when the major
/// or the minor differs (a different patch is fine). Versions are read by
/// [`parse_version`], so `"1"`, `"1.0"` and `"1.0.0-beta"` all match
/// `"1.0.0"`.
pub fn validate_protocol_version(client: &str, server: &str) -> Result<(), String> {
    let c = parse_version(client);
    let s = parse_version(server);
    if c.major != s.major {
        return Err(format!(
            "protocol version mismatch: client {client} has major version {}, server {server} has {}",
            c.major, s.major
        ));
    }
    if c.minor != s.minor {
        return Err(format!(
            "protocol version mismatch: client {client} has minor version {}, server {server} has {}",
            c.minor, s.minor
        ));
    }
    Ok(())
}

/// A protocol version as the reference reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolVersion {
    /// Must match for the server to talk at all.
    pub major: u64,
    /// Another minor is accepted by the server with a warning.
    pub minor: u64,
    /// Never matters.
    pub patch: u64,
}

/// Reads a version the way the reference does: split on `.`, each of the
/// first three parts read as a number, a missing or non-numeric part
/// counting as 0 (`"1"` is 1.0.0, `"1.0.0-beta"` is 1.0.0, `"v1"` is
/// 0.0.0); parts after the third are ignored. Never fails, so the server and
/// [`validate_protocol_version`] always agree.
pub fn parse_version(v: &str) -> ProtocolVersion {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    ProtocolVersion {
        major: next(),
        minor: next(),
        patch: next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(kind: &str, payload: Value) -> Value {
        json!({"type": kind, "sessionId": "s", "timestamp": 1, "version": "1.0.0", "payload": payload})
    }

    fn errors(v: Value) -> Vec<String> {
        validate_message(&v).unwrap_err()
    }

    #[test]
    fn accepts_good_messages() {
        assert_eq!(validate_message(&env("ping", json!({}))), Ok(()));
        assert_eq!(
            validate_message(&env(
                "connect",
                json!({"deviceId": "d", "platform": "ios", "clientVersion": "1.0.0"})
            )),
            Ok(())
        );
        assert_eq!(
            validate_message(&env(
                "update",
                json!({"type": "full", "schema": {}, "preserveState": true, "sequenceNumber": 1, "checksum": "00000000"})
            )),
            Ok(())
        );
    }

    #[test]
    fn reports_every_envelope_problem() {
        let e = errors(json!({"payload": {}}));
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e.contains(&"type: missing required field".to_string()));
        assert!(e.contains(&"sessionId: missing required field".to_string()));
        assert!(e.contains(&"timestamp: missing required field".to_string()));
        assert_eq!(
            errors(json!("x")),
            vec!["message: expected an object, got string"]
        );
        let e = errors(
            json!({"type": "shout", "sessionId": "", "timestamp": "now", "version": 1, "payload": []}),
        );
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e.contains(&r#"type: unknown message type "shout""#.to_string()));
        assert!(
            e.contains(&"sessionId: expected a non-empty string, got an empty string".to_string())
        );
    }

    #[test]
    fn per_type_payload_rules() {
        assert_eq!(
            errors(env(
                "connect",
                json!({"platform": "ios", "clientVersion": "1"})
            )),
            vec!["payload.deviceId: missing required field"]
        );
        assert_eq!(
            errors(env(
                "update",
                json!({"type": "full", "preserveState": true, "sequenceNumber": 1, "checksum": "x"})
            )),
            vec!["payload.schema: missing required field"]
        );
        assert_eq!(
            errors(env(
                "update",
                json!({"type": "incremental", "preserveState": true, "sequenceNumber": 1, "checksum": "x"})
            )),
            vec!["payload.delta: missing required field"]
        );
        assert_eq!(
            errors(env("ack", json!({"sequenceNumber": -1, "success": "yes"}))).len(),
            2
        );
        assert_eq!(
            errors(env("log", json!({"message": "m", "level": "loud"}))),
            vec![r#"payload.level: expected one of debug/info/warn/error, got "loud""#]
        );
        assert_eq!(
            errors(env(
                "error",
                json!({"code": "NOPE", "message": "m", "severity": "error", "recoverable": true})
            )),
            vec![r#"payload.code: expected a known error code, got "NOPE""#]
        );
    }

    #[test]
    fn version_parsing_table() {
        let table: &[(&str, (u64, u64, u64))] = &[
            ("1.0.0", (1, 0, 0)),
            ("1", (1, 0, 0)),
            ("1.0", (1, 0, 0)),
            ("1.0.0-beta", (1, 0, 0)),
            ("1.0.7", (1, 0, 7)),
            ("1.2", (1, 2, 0)),
            ("2.0.0", (2, 0, 0)),
            ("1.2.3.4", (1, 2, 3)),
            ("1..3", (1, 0, 3)),
            ("1.x.3", (1, 0, 3)),
            ("1.2-rc1.3", (1, 0, 3)),
            ("v1.0.0", (0, 0, 0)),
            ("a.b.c", (0, 0, 0)),
            ("", (0, 0, 0)),
            (".", (0, 0, 0)),
            ("10.20.30", (10, 20, 30)),
            ("-1.0.0", (0, 0, 0)),
        ];
        for &(text, (major, minor, patch)) in table {
            assert_eq!(
                parse_version(text),
                ProtocolVersion {
                    major,
                    minor,
                    patch
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn version_rules() {
        let ok = [
            "1.0.0",
            "1.0.1",
            "1",
            "1.0",
            "1.0.0-beta",
            "1.0.7",
            "1.0.0.9",
        ];
        for v in ok {
            assert_eq!(validate_protocol_version(v, "1.0.0"), Ok(()), "{v}");
        }
        let minor = validate_protocol_version("1.2", "1.0.0").unwrap_err();
        assert!(minor.contains("minor version 2"), "{minor}");
        let major = validate_protocol_version("2.0.0", "1.0.0").unwrap_err();
        assert!(major.contains("major version 2"), "{major}");
        for v in ["1.1.0", "0.9.0", "a.b.c", "", "v1.0.0"] {
            assert!(validate_protocol_version(v, "1.0.0").is_err(), "{v}");
        }
    }

    #[test]
    fn payload_may_be_left_out_only_when_nothing_in_it_is_required() {
        let bare = |kind: &str, payload: Option<Value>| {
            let mut v = json!({"type": kind, "sessionId": "s", "timestamp": 1, "version": "1.0.0"});
            if let Some(p) = payload {
                v["payload"] = p;
            }
            v
        };
        for kind in ["ping", "pong"] {
            assert_eq!(validate_message(&bare(kind, None)), Ok(()), "{kind}");
            assert_eq!(
                validate_message(&bare(kind, Some(Value::Null))),
                Ok(()),
                "{kind}"
            );
        }
        for kind in [
            "connect",
            "connected",
            "update",
            "ack",
            "reload",
            "error",
            "log",
        ] {
            assert_eq!(
                errors(bare(kind, None)),
                vec!["payload: missing required field"],
                "{kind}"
            );
            assert_eq!(
                errors(bare(kind, Some(Value::Null))),
                vec!["payload: expected an object, got null"],
                "{kind}"
            );
        }
        assert_eq!(
            errors(bare("ping", Some(json!([])))),
            vec!["payload: expected an object, got array"]
        );
    }

    #[test]
    fn optional_fields_may_be_null_required_ones_may_not() {
        let ok = [
            env("ping", json!({"status": null})),
            env("pong", json!({})),
            env("pong", json!({"serverTime": null})),
            env(
                "connect",
                json!({"deviceId": "d", "platform": "web", "deviceName": null, "clientVersion": "1.0.0"}),
            ),
            env(
                "connected",
                json!({"connectionId": "c", "initialSchema": null, "capabilities": {}, "sequenceNumber": 0, "checksum": null}),
            ),
            env(
                "ack",
                json!({"sequenceNumber": 1, "success": true, "error": null, "applyTime": null}),
            ),
            env("reload", json!({"reason": "manual", "error": null})),
            env(
                "error",
                json!({"code": "INTERNAL_ERROR", "message": "m", "severity": "error", "recoverable": false, "details": null}),
            ),
        ];
        for m in ok {
            assert_eq!(validate_message(&m), Ok(()), "{m}");
        }
        assert_eq!(
            errors(env("ack", json!({"sequenceNumber": null, "success": true}))),
            vec!["payload.sequenceNumber: expected a non-negative integer, got null"]
        );
        assert_eq!(
            errors(env("ping", json!({"status": 3}))),
            vec!["payload.status: expected one of idle/rendering/updating, got number"]
        );
    }
}

//! Message validation (SPEC §5): every problem found, not just the first.

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
        MessageType::Pong => &[("serverTime", Number, REQUIRED)],
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

fn validate_payload(kind: MessageType, payload: &Map<String, Value>, errors: &mut Vec<String>) {
    for &(name, rule, required) in fields(kind) {
        match payload.get(name) {
            None if required => errors.push(format!("payload.{name}: missing required field")),
            None => {}
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
/// or the minor differs (a different patch is fine) or either is not
/// `MAJOR.MINOR.PATCH`.
pub fn validate_protocol_version(client: &str, server: &str) -> Result<(), String> {
    let c = parse_version(client).ok_or_else(|| format!("invalid protocol version {client:?}"))?;
    let s = parse_version(server).ok_or_else(|| format!("invalid protocol version {server:?}"))?;
    if c.0 != s.0 || c.1 != s.1 {
        return Err(format!(
            "protocol version mismatch: client {client}, server {server}"
        ));
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH` as numbers; `None` when malformed.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.');
    let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok());
    let version = (next()?, next()?, next()?);
    parts.next().is_none().then_some(version)
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
    fn version_rules() {
        assert!(validate_protocol_version("1.0.0", "1.0.0").is_ok());
        assert!(validate_protocol_version("1.0.1", "1.0.0").is_ok());
        assert!(validate_protocol_version("1.1.0", "1.0.0").is_err());
        assert!(validate_protocol_version("2.0.0", "1.0.0").is_err());
        assert!(validate_protocol_version("1.0", "1.0.0").is_err());
        assert!(validate_protocol_version("1.0.0.0", "1.0.0").is_err());
        assert!(validate_protocol_version("a.b.c", "1.0.0").is_err());
    }
}

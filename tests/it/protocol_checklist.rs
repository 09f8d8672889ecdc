//! The reference protocol checklist, through the public API only: message
//! round trips, validation errors naming their field, version rules, the
//! incremental threshold, and hostile input to `deserialize_message`.

use lumora_hr_mini::protocol::{
    DEFAULT_INCREMENTAL_THRESHOLD, DeltaError, ErrorCode, JsonError, LogLevel, Message,
    MessageType, PROTOCOL_VERSION, PingStatus, ProtocolError, ReloadReason, Schema, SchemaDelta,
    Severity, apply_schema_delta, create_ack_message, create_connect_message,
    create_connected_message, create_error_message, create_full_update, create_incremental_update,
    create_log_message, create_ping_message, create_pong_message, create_reload_message,
    deserialize_message, serialize_message, should_use_incremental_update, validate_message,
    validate_protocol_version,
};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;

const SESSION: &str = "6f1c2f0e-8d3a-4b7e-9c51-0a2b3c4d5e6f";
const TS: u64 = 1_700_000_000_123;

fn sample_schema() -> Arc<Schema> {
    let v = json!({
        "version": "1.0",
        "metadata": {"sourceFramework": "react", "sourceFile": "App.tsx", "generatedAt": 1},
        "nodes": [{"id": "root", "type": "View", "props": {"flex": 1}, "children": [
            {"id": "t", "type": "Text", "props": {"text": "héllo \u{2028} \"q\""}, "state": {"n": 0}}
        ]}],
        "theme": {"primary": "#36f"},
        "navigationSchema": {"routes": []}
    });
    Arc::new(Schema::from_value(v).expect("valid"))
}

/// One message of every type (and both update bodies), fixed timestamps.
fn every_message() -> Vec<Message> {
    let mut changes = Map::new();
    changes.insert("theme".into(), Value::Null);
    changes.insert("navigation".into(), json!({"initial": "home"}));
    let delta = SchemaDelta {
        added: vec![json!({"id": "new", "type": "Text"})],
        modified: vec![json!({"id": "t", "type": "Text", "props": {"text": "bye"}})],
        removed: vec!["gone".into()],
        metadata_changes: Some(changes),
    };
    vec![
        create_connect_message(SESSION, "dev-1", "ios", Some("iPhone"), PROTOCOL_VERSION),
        create_connect_message(SESSION, "dev-2", "kaios", None, "1.0.3"),
        create_connected_message(SESSION, "conn-1", Some(sample_schema()), 4),
        create_connected_message(SESSION, "conn-2", None, 0),
        create_full_update(SESSION, sample_schema(), 5, true),
        create_incremental_update(SESSION, delta, 6, "0badf00d", false),
        create_incremental_update(SESSION, SchemaDelta::default(), 7, "00000000", true),
        create_ack_message(SESSION, 6, true, None, Some(2.5)),
        create_ack_message(SESSION, 6, false, Some("checksum mismatch"), None),
        create_reload_message(SESSION, ReloadReason::Incompatible, Some("old client")),
        create_reload_message(SESSION, ReloadReason::Error, None),
        create_error_message(
            SESSION,
            ErrorCode::SchemaValidationFailed,
            "nodes[0].id: missing required field",
            Severity::Error,
            true,
            Some(json!({"path": "nodes[0].id"})),
        ),
        create_error_message(
            SESSION,
            ErrorCode::UnsupportedVersion,
            "major version",
            Severity::Fatal,
            false,
            None,
        ),
        create_ping_message(SESSION, Some(PingStatus::Updating)),
        create_ping_message(SESSION, None),
        create_pong_message(SESSION, TS + 1),
        create_log_message(SESSION, "rendered in 3 ms", LogLevel::Debug),
    ]
    .into_iter()
    .map(|m| m.at(TS))
    .collect()
}

#[test]
fn every_message_type_round_trips() {
    let mut seen = HashSet::new();
    for m in every_message() {
        let text = serialize_message(&m);
        let wire: Value = serde_json::from_str(&text).expect("serialize_message writes JSON");
        assert_eq!(wire["type"], m.message_type().as_str(), "{text}");
        assert_eq!(wire["sessionId"], SESSION);
        assert_eq!(wire["timestamp"], TS);
        assert_eq!(wire["version"], PROTOCOL_VERSION);
        assert!(wire["payload"].is_object(), "{text}");
        assert_eq!(validate_message(&wire), Ok(()), "{text}");
        for validate in [true, false] {
            let back = deserialize_message(text.as_bytes(), validate)
                .unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(back, m, "{text}");
        }
        seen.insert(m.message_type());
    }
    assert_eq!(seen, MessageType::ALL.into_iter().collect());
}

#[test]
fn update_payloads_use_the_wire_names() {
    let msgs = every_message();
    let full: Value = serde_json::from_str(&serialize_message(&msgs[4])).unwrap();
    assert_eq!(full["payload"]["type"], "full");
    assert_eq!(full["payload"]["schema"], *sample_schema().as_value());
    assert_eq!(full["payload"]["checksum"], sample_schema().checksum());
    let inc: Value = serde_json::from_str(&serialize_message(&msgs[5])).unwrap();
    assert_eq!(inc["payload"]["type"], "incremental");
    let delta = &inc["payload"]["delta"];
    assert_eq!(delta["removed"], json!(["gone"]));
    assert_eq!(delta["metadataChanges"]["theme"], Value::Null);
    assert_eq!(inc["payload"]["preserveState"], false);
    assert_eq!(inc["payload"]["sequenceNumber"], 6);
}

// ---------------------------------------------------------------- validation

fn envelope(kind: Option<&str>, session: Option<&str>, payload: Value) -> Value {
    let mut m = Map::new();
    if let Some(k) = kind {
        m.insert("type".into(), k.into());
    }
    if let Some(s) = session {
        m.insert("sessionId".into(), s.into());
    }
    m.insert("timestamp".into(), TS.into());
    m.insert("version".into(), PROTOCOL_VERSION.into());
    m.insert("payload".into(), payload);
    Value::Object(m)
}

/// Decoding with validation fails, and the error names `field`. Returns the
/// list of problems.
fn refused(v: &Value, field: &str) -> Vec<String> {
    let text = serde_json::to_vec(v).unwrap();
    let err = deserialize_message(&text, true).expect_err("must be refused");
    let shown = err.to_string();
    assert!(shown.contains(field), "{shown:?} should name {field}");
    let ProtocolError::Invalid(problems) = err else {
        panic!("not a validation error: {shown}");
    };
    assert!(
        problems.iter().any(|p| p.starts_with(field)),
        "{problems:?} should start with {field}"
    );
    assert_eq!(validate_message(v), Err(problems.clone()));
    problems
}

#[test]
fn missing_type_is_refused() {
    let p = refused(&envelope(None, Some(SESSION), json!({})), "type");
    assert_eq!(p, vec!["type: missing required field"]);
    // Without validation it still cannot decode.
    let text = serde_json::to_vec(&envelope(None, Some(SESSION), json!({}))).unwrap();
    assert!(deserialize_message(&text, false).is_err());
}

#[test]
fn missing_session_id_is_refused() {
    let p = refused(&envelope(Some("ping"), None, json!({})), "sessionId");
    assert_eq!(p, vec!["sessionId: missing required field"]);
    refused(&envelope(Some("ping"), Some(""), json!({})), "sessionId");
}

#[test]
fn invalid_type_is_refused() {
    let p = refused(&envelope(Some("shout"), Some(SESSION), json!({})), "type");
    assert!(p[0].contains("shout"), "{p:?}");
    refused(&envelope(Some(""), Some(SESSION), json!({})), "type");
    // The wire names are case-sensitive.
    refused(&envelope(Some("PING"), Some(SESSION), json!({})), "type");
}

#[test]
fn connect_without_device_id_is_refused() {
    let payload = json!({"platform": "android", "clientVersion": PROTOCOL_VERSION});
    let p = refused(
        &envelope(Some("connect"), Some(SESSION), payload),
        "payload.deviceId",
    );
    assert_eq!(p, vec!["payload.deviceId: missing required field"]);
    let wrong_type = json!({"deviceId": 7, "platform": "ios", "clientVersion": "1.0.0"});
    refused(
        &envelope(Some("connect"), Some(SESSION), wrong_type),
        "payload.deviceId",
    );
}

#[test]
fn full_update_without_schema_is_refused() {
    let payload =
        json!({"type": "full", "preserveState": true, "sequenceNumber": 1, "checksum": "x"});
    let p = refused(
        &envelope(Some("update"), Some(SESSION), payload),
        "payload.schema",
    );
    assert_eq!(p, vec!["payload.schema: missing required field"]);
}

#[test]
fn incremental_update_without_delta_is_refused() {
    let payload =
        json!({"type": "incremental", "preserveState": true, "sequenceNumber": 1, "checksum": "x"});
    let p = refused(
        &envelope(Some("update"), Some(SESSION), payload),
        "payload.delta",
    );
    assert_eq!(p, vec!["payload.delta: missing required field"]);
    // A schema does not stand in for the delta.
    let payload = json!({"type": "incremental", "schema": {}, "preserveState": true, "sequenceNumber": 1, "checksum": "x"});
    refused(
        &envelope(Some("update"), Some(SESSION), payload),
        "payload.delta",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let v = json!({"type": "connect", "timestamp": "soon", "payload": {"platform": 3}});
    let problems = validate_message(&v).unwrap_err();
    for field in [
        "sessionId",
        "version",
        "timestamp",
        "payload.deviceId",
        "payload.platform",
        "payload.clientVersion",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(field)),
            "{field} not in {problems:?}"
        );
    }
}

// ------------------------------------------------------------------ versions

#[test]
fn protocol_version_rules() {
    assert_eq!(PROTOCOL_VERSION, "1.0.0");
    assert!(validate_protocol_version("1.0.0", PROTOCOL_VERSION).is_ok());
    assert!(validate_protocol_version("1.0.1", PROTOCOL_VERSION).is_ok());
    assert!(validate_protocol_version("1.0.99", PROTOCOL_VERSION).is_ok());
    let minor = validate_protocol_version("1.1.0", PROTOCOL_VERSION).unwrap_err();
    assert!(minor.contains("1.1.0"), "{minor}");
    assert!(validate_protocol_version("2.0.0", PROTOCOL_VERSION).is_err());
    assert!(validate_protocol_version("0.9.0", PROTOCOL_VERSION).is_err());
    assert!(validate_protocol_version("", PROTOCOL_VERSION).is_err());
    assert!(validate_protocol_version("v1.0.0", PROTOCOL_VERSION).is_err());
}

// ----------------------------------------------------------------- threshold

/// A delta with `added + modified + removed` spread over all three lists.
fn delta_with(changes: usize) -> SchemaDelta {
    let mut d = SchemaDelta::default();
    for i in 0..changes {
        match i % 3 {
            0 => d.added.push(json!({"id": format!("a{i}"), "type": "T"})),
            1 => d.modified.push(json!({"id": format!("m{i}"), "type": "T"})),
            _ => d.removed.push(format!("r{i}")),
        }
    }
    d
}

#[test]
fn incremental_threshold_semantics() {
    let t = DEFAULT_INCREMENTAL_THRESHOLD;
    assert_eq!(t, 10);
    assert!(!should_use_incremental_update(&delta_with(0), t));
    assert!(should_use_incremental_update(&delta_with(1), t));
    assert!(should_use_incremental_update(&delta_with(9), t));
    assert!(!should_use_incremental_update(&delta_with(10), t));
    assert!(!should_use_incremental_update(&delta_with(15), t));
    // Custom thresholds: strictly below.
    assert!(should_use_incremental_update(&delta_with(15), 16));
    assert!(!should_use_incremental_update(&delta_with(15), 15));
    assert!(should_use_incremental_update(&delta_with(1), 2));
    assert!(!should_use_incremental_update(&delta_with(1), 1));
    assert!(!should_use_incremental_update(&delta_with(0), 100));
    // Top-level key changes alone do not count.
    let only_keys = SchemaDelta {
        metadata_changes: Some(Map::from_iter([("theme".to_string(), json!({}))])),
        ..SchemaDelta::default()
    };
    assert!(!should_use_incremental_update(&only_keys, t));
}

// ------------------------------------------------------ deltas from outside

#[test]
fn applying_a_foreign_delta() {
    let s = sample_schema();
    // Modified nodes apply in order, even one inside another's new subtree.
    let d = SchemaDelta {
        modified: vec![
            json!({"id": "root", "type": "Stack", "children": [{"id": "t", "type": "Text"}]}),
            json!({"id": "t", "type": "Text", "props": {"text": "last"}}),
        ],
        ..SchemaDelta::default()
    };
    let out = apply_schema_delta(&s, &d).unwrap();
    assert_eq!(out.as_value()["nodes"][0]["type"], "Stack");
    assert_eq!(
        out.as_value()["nodes"][0]["children"][0],
        json!({"id": "t", "type": "Text", "props": {"text": "last"}})
    );
    // An unknown id to modify, or an id added twice, is an error.
    let unknown = SchemaDelta {
        modified: vec![json!({"id": "ghost", "type": "T"})],
        ..SchemaDelta::default()
    };
    let e = apply_schema_delta(&s, &unknown).unwrap_err();
    assert_eq!(e, DeltaError::UnknownNode("ghost".into()));
    assert!(e.to_string().contains("ghost"));
    let dup = SchemaDelta {
        added: vec![json!({"id": "t", "type": "T"})],
        ..SchemaDelta::default()
    };
    let e = apply_schema_delta(&s, &dup).unwrap_err().to_string();
    assert!(e.contains("duplicate id \"t\""), "{e}");
}

// ------------------------------------------------------------- nasty input

fn garbage(len: usize) -> Vec<u8> {
    // xorshift: deterministic bytes, all 256 values.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn deserialize_never_panics_on_nasty_input() {
    let ping = |ts: &str, session: &str| {
        format!(
            r#"{{"type":"ping","sessionId":{session},"timestamp":{ts},"version":"1.0.0","payload":{{}}}}"#
        )
        .into_bytes()
    };
    let mut inputs: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("whitespace", b" \n\t ".to_vec()),
        ("100k [", vec![b'['; 100_000]),
        ("100k {\"a\":", "{\"a\":".repeat(100_000).into_bytes()),
        ("100k [ then ]", {
            let mut v = vec![b'['; 100_000];
            v.extend(vec![b']'; 100_000]);
            v
        }),
        ("invalid UTF-8", vec![0xff, 0xfe, 0xfd]),
        (
            "invalid UTF-8 in a string",
            ping("1", "\"s\u{1}\"")
                .into_iter()
                .map(|b| if b == 1 { 0xc3 } else { b })
                .collect(),
        ),
        ("1e400 timestamp", ping("1e400", "\"s\"")),
        ("-1e400 timestamp", ping("-1e400", "\"s\"")),
        ("lone surrogate", ping("1", r#""\ud800""#)),
        ("lone low surrogate", ping("1", r#""\udc00x""#)),
        ("bad escape", ping("1", r#""\x41""#)),
        ("1 MiB garbage", garbage(1 << 20)),
        ("NUL bytes", vec![0; 1024]),
        (
            "trailing garbage",
            [ping("1", "\"s\""), b"}".to_vec()].concat(),
        ),
        (
            "two messages",
            [ping("1", "\"s\""), ping("1", "\"s\"")].concat(),
        ),
        ("null", b"null".to_vec()),
        ("array", b"[1,2,3]".to_vec()),
        ("string", b"\"ping\"".to_vec()),
        ("number", b"1e400".to_vec()),
    ];
    // Valid JSON that is deep, but not too deep, inside a payload.
    let deep_details = format!(
        r#"{{"type":"error","sessionId":"s","timestamp":1,"version":"1.0.0","payload":{{"code":"INTERNAL_ERROR","message":"m","severity":"error","recoverable":true,"details":{}1{}}}}}"#,
        "[".repeat(400),
        "]".repeat(400)
    );
    inputs.push(("400-deep details", deep_details.into_bytes()));
    for (name, bytes) in &inputs {
        for validate in [true, false] {
            let r = std::panic::catch_unwind(|| deserialize_message(bytes, validate));
            let r = r.unwrap_or_else(|_| panic!("{name}: deserialize_message panicked"));
            if *name == "400-deep details" {
                assert!(r.is_ok(), "{name}: {r:?}");
            } else {
                assert!(r.is_err(), "{name}: decoded {r:?}");
            }
        }
    }
    // Depth is refused up front, as depth, not as a parser failure.
    assert_eq!(
        deserialize_message(&vec![b'['; 100_000], true),
        Err(ProtocolError::Json(JsonError::TooDeep { limit: 512 }))
    );
}

#[test]
fn lone_surrogate_error_names_the_problem() {
    let text = br#"{"type":"log","sessionId":"s","timestamp":1,"version":"1.0.0","payload":{"message":"\ud800","level":"info"}}"#;
    let e = deserialize_message(text, true).unwrap_err();
    assert!(
        matches!(e, ProtocolError::Json(JsonError::Syntax(_))),
        "{e}"
    );
    // A proper pair is fine.
    let text = br#"{"type":"log","sessionId":"s","timestamp":1,"version":"1.0.0","payload":{"message":"\ud83d\ude00","level":"info"}}"#;
    let m = deserialize_message(text, true).unwrap();
    assert_eq!(
        m,
        create_log_message("s", "\u{1f600}", LogLevel::Info).at(1)
    );
}

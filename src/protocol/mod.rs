//! The wire protocol: pure data and functions, no sockets, no threads.
//!
//! - [`schema`]: Lumora IR validation and limits
//! - [`checksum`]: canonical JSON and CRC-32
//! - [`close`]: the WebSocket close codes and their reasons
//! - [`delta`]: compute / apply / choose updates
//! - [`update_type`]: typed `full` / `incremental` / `none` / `pending`
//!
//! The messages, in layers, each using only those below it:
//! - [`message`]: the types (envelope, payloads) and their builders
//! - [`validate`]: the message rules; [`hot`]: allocation-free decoding of
//!   `ack` and `ping`
//! - [`codec`]: messages to and from JSON text (the fast reader first, else
//!   parse, validate, convert); [`decode`]: what a server calls

pub mod checksum;
pub mod close;
pub mod codec;
pub mod decode;
pub mod delta;
pub mod error_code;
pub mod hot;
pub(crate) mod index;
pub mod json;
pub mod message;
pub mod resume;
pub mod schema;
pub mod update_type;
pub mod validate;

pub use checksum::{calculate_checksum, canonical_json, validate_checksum};
pub use close::Close;
pub use codec::{deserialize_message, message_from_value, serialize_message};
pub use decode::{Decoded, decode};
pub use delta::{
    DEFAULT_INCREMENTAL_THRESHOLD, DeltaError, EncodedDelta, PlannedUpdate, SchemaDelta,
    UpdatePlan, apply_schema_delta, calculate_schema_delta, choose_update, plan_update,
    should_use_incremental_update,
};
pub use error_code::ErrorCode;
pub use hot::{MessageRef, deserialize_message_ref};
pub use json::JsonError;
pub use message::*;
pub use resume::{Resume, ResumePoint};
pub use schema::{MAX_NODE_DEPTH, MAX_SCHEMA_BYTES, Schema, SchemaError, validate_schema};
pub use update_type::{UpdateKind, UpdateType};
pub use validate::{validate_message, validate_protocol_version};

//! The JSON bodies the HTTP API answers with, as typed structs: each
//! serializes with its keys in field order, whatever the JSON library's map
//! type. (Error bodies are `http::Response::error`'s.)

use crate::hub::SessionView;
use crate::protocol::UpdateType;
use serde::Serialize;

/// `GET /health`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServerHealth {
    pub status: &'static str,
    pub sessions: usize,
    pub total_devices: usize,
}

/// `POST /session/new`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Created<'a> {
    pub session_id: &'a str,
    pub ws_url: String,
    pub page_url: String,
    #[serde(rename = "createdAt")]
    pub created_at_ms: u64,
    #[serde(rename = "expiresAt")]
    pub expires_at_ms: u64,
}

/// `GET /session/startup`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Startup<'a> {
    pub session_id: &'a str,
    pub ws_url: String,
    pub page_url: String,
    #[serde(rename = "createdAt")]
    pub created_at_ms: u64,
    #[serde(rename = "expiresAt")]
    pub expires_at_ms: u64,
    pub sequence_number: u64,
}

/// `GET /session/:id`: the hub's view, then the web device's URL.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionPage<'a> {
    #[serde(flatten)]
    pub session: &'a SessionView,
    pub page_url: String,
}

/// `DELETE /session/:id`.
#[derive(Debug, Serialize)]
pub(super) struct Deleted {
    pub success: bool,
}

/// `POST /session/:id/extend`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Extended {
    pub success: bool,
    #[serde(rename = "expiresAt")]
    pub expires_at_ms: u64,
}

/// `POST /send/:id`, `200`: the update went out (or nothing needed to).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Pushed<'a> {
    pub success: bool,
    pub clients_updated: usize,
    pub update_type: UpdateType,
    pub sequence_number: u64,
    pub checksum: &'a str,
}

/// `POST /send/:id`, `202`: held by coalescing. No sequence number or
/// checksum is promised, only the schema held and what devices hold now.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Held<'a> {
    pub success: bool,
    pub batched: bool,
    pub update_type: UpdateType,
    pub clients_updated: usize,
    pub held_checksum: &'a str,
    pub current_sequence_number: u64,
    pub current_checksum: Option<&'a str>,
}

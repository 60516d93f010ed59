//! The `event` part of a Datadog upload (`POST /api/v2/srcmap`, at most 64 KiB) as the intake
//! reads it: JSON into the upload metadata, then its validation and the identity it is stored
//! under. Never a panic; a valid event always has an identity.
#![no_main]
use libfuzzer_sys::fuzz_target;
use symx_types::UploadMetadata;

/// The intake's own event type, compiled here as it is in `symx-http` (which this crate does
/// not depend on: it would bring the HTTP stack into the fuzz build).
#[path = "../../crates/symx-http/src/event.rs"]
mod event;

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 << 10 {
        return;
    }
    let Ok(event) = serde_json::from_slice::<event::UploadEvent>(data) else {
        return;
    };
    let meta = UploadMetadata::from(event);
    if meta.validate().is_ok() {
        let _ = meta.identity();
        let _ = meta.kind();
    }
});

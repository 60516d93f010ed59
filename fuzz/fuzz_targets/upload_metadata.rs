//! The `event` part of a Datadog upload (`POST /api/v2/srcmap`, at most 64 KiB) as the intake
//! reads it: JSON into the upload metadata, then its validation and the identity it is stored
//! under. Never a panic; a valid event always has an identity.
#![no_main]
use libfuzzer_sys::fuzz_target;
use symx_types::UploadMetadata;

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 << 10 {
        return;
    }
    let Ok(meta) = serde_json::from_slice::<UploadMetadata>(data) else {
        return;
    };
    if meta.validate().is_ok() {
        let _ = meta.identity();
        let _ = meta.kind();
    }
});

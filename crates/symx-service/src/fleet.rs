//! Elastic's Fleet artifact of a JavaScript artifact: the hashes and sizes Kibana's source map
//! API reports (`decodedSha256`, `encodedSha256` and their sizes, the id
//! `apm:<service>-<version>-<decodedSha256>`), computed once at upload and stored beside the
//! artifact as its `fleet` index, so listing never re-reads or re-encodes a map.
//!
//! The decoded body is `{"bundleFilepath", "serviceName", "serviceVersion", "sourceMap"}` as
//! compact JSON with sorted keys; the encoded body is its zlib stream.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;

/// The Fleet identity of one stored source map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSummary {
    pub decoded_sha256: String,
    pub decoded_size: u64,
    pub encoded_sha256: String,
    pub encoded_size: u64,
}

/// The JSON text of a stored map: its bytes without the XSSI prefix line (`)]}'`) the source
/// map specification allows.
pub fn map_json(map: &[u8]) -> &[u8] {
    match map.strip_prefix(b")]}") {
        Some(rest) => rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(map, |nl| &rest[nl + 1..]),
        None => map,
    }
}

/// The decoded body of the Fleet artifact of `map` (a map that is not JSON is `null`, as an
/// upload through another front may store one Kibana would refuse).
pub fn body(service: &str, version: &str, bundle: &str, map: &[u8]) -> Value {
    let source_map: Value = serde_json::from_slice(map_json(map)).unwrap_or(Value::Null);
    json!({
        "serviceName": service,
        "serviceVersion": version,
        "bundleFilepath": bundle,
        "sourceMap": source_map,
    })
}

/// Hashes the decoded and encoded forms of `body` and answers the encoded one (the zlib
/// stream) with them. The decoded JSON is compressed in one write: deflate's output depends
/// on how its input is cut, and the hashes must stay the ones earlier versions reported.
pub fn summarize(body: &Value) -> std::io::Result<(FleetSummary, Vec<u8>)> {
    let decoded = serde_json::to_vec(body)?;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&decoded)?;
    let encoded = zlib.finish()?;
    let summary = FleetSummary {
        decoded_sha256: hex::encode(Sha256::digest(&decoded)),
        decoded_size: decoded.len() as u64,
        encoded_sha256: hex::encode(Sha256::digest(&encoded)),
        encoded_size: encoded.len() as u64,
    };
    Ok((summary, encoded))
}

/// The summary of a stored map.
pub fn summary(service: &str, version: &str, bundle: &str, map: &[u8]) -> FleetSummary {
    let body = body(service, version, bundle, map);
    match summarize(&body) {
        Ok((s, _)) => s,
        // Serializing a JSON value and compressing into a Vec cannot fail.
        Err(e) => unreachable!("summarizing into memory failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn hashes_are_of_the_compact_body_and_its_zlib_stream() {
        let map = br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#;
        let body = body("shop", "1.0", "/app.js", map);
        let (s, encoded) = summarize(&body).expect("summarizes");
        let decoded = serde_json::to_vec(&body).expect("serializes");
        assert_eq!(s.decoded_sha256, hex::encode(Sha256::digest(&decoded)));
        assert_eq!(s.decoded_size, decoded.len() as u64);
        assert_eq!(s.encoded_sha256, hex::encode(Sha256::digest(&encoded)));
        assert_eq!(s.encoded_size, encoded.len() as u64);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(encoded.as_slice())
            .read_to_end(&mut back)
            .expect("inflates");
        assert_eq!(back, decoded);
        assert_eq!(summary("shop", "1.0", "/app.js", map), s);
    }
}

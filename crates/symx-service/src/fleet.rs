//! Elastic's Fleet artifact of a JavaScript artifact: the hashes and sizes Kibana's source map
//! API reports (`decodedSha256`, `encodedSha256` and their sizes, the id
//! `apm:<service>-<version>-<decodedSha256>`), computed once at upload and stored beside the
//! artifact as its `fleet` index, so listing never re-reads or re-encodes a map.
//!
//! The decoded body is `{"bundleFilepath", "serviceName", "serviceVersion", "sourceMap"}` as
//! compact JSON with sorted keys; the encoded body is its zlib stream, hashed as it is
//! written.

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

/// A writer that hashes and counts what passes through it, and forwards it to `next`.
struct Hashing<W> {
    sha: Sha256,
    size: u64,
    next: W,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.next.write(buf)?;
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.next.flush()
    }
}

impl<W> Hashing<W> {
    fn new(next: W) -> Self {
        Self {
            sha: Sha256::new(),
            size: 0,
            next,
        }
    }
    fn digest(self) -> (String, u64, W) {
        (hex::encode(self.sha.finalize()), self.size, self.next)
    }
}

/// Hashes the decoded and encoded forms of `body`; `encoded` receives the zlib stream (a
/// [`std::io::sink`] when only the hashes are wanted). The decoded JSON is compressed in one
/// write: deflate's output depends on how its input is cut, and the hashes must stay the ones
/// earlier versions reported.
pub fn summarize<W: Write>(body: &Value, encoded: W) -> std::io::Result<(FleetSummary, W)> {
    let decoded = serde_json::to_vec(body)?;
    let decoded_sha256 = hex::encode(Sha256::digest(&decoded));
    let decoded_size = decoded.len() as u64;
    let mut zlib =
        flate2::write::ZlibEncoder::new(Hashing::new(encoded), flate2::Compression::default());
    zlib.write_all(&decoded)?;
    drop(decoded);
    let (encoded_sha256, encoded_size, encoded) = zlib.finish()?.digest();
    Ok((
        FleetSummary {
            decoded_sha256,
            decoded_size,
            encoded_sha256,
            encoded_size,
        },
        encoded,
    ))
}

/// The summary of a stored map.
pub fn summary(service: &str, version: &str, bundle: &str, map: &[u8]) -> FleetSummary {
    let body = body(service, version, bundle, map);
    match summarize(&body, std::io::sink()) {
        Ok((s, _)) => s,
        // Writing to a sink through zlib and sha256 cannot fail.
        Err(e) => unreachable!("hashing into a sink failed: {e}"),
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
        let (s, encoded) = summarize(&body, Vec::new()).expect("summarizes");
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

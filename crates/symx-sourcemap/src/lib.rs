//! JavaScript source maps: a raw map (and its minified file) in, a persisted lookup index out,
//! and lookups on that index in place.
//!
//! The index ([`JsIndex`], format `SYMXJSIX`) is built once at upload and stored; serving a
//! frame never parses JSON or VLQ again. It holds the mappings sorted by minified position,
//! the sources (with `sourceRoot` applied), names, embedded source text for context lines, and
//! the function scopes of the minified file so the enclosing function's original name can be
//! given even where the map has no name for the frame's position.
//!
//! This crate does no IO and knows nothing of storage, tenants or transports.

mod builder;
pub mod index;
pub mod scopes;
pub mod shape;

pub use builder::{
    BuiltIndex, RawMapFields, build_index, is_hermes_bytecode, minified_debug_id, raw_fields,
};
pub use index::{FORMAT_VERSION, JsIndex, Mapping, Miss};
pub use shape::{MapShape, measure};

use symx_types::{ErrorCode, HasErrorCode};

/// Errors of this crate. Messages name the format and the field.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid source map: {0}")]
    InvalidMap(String),
    #[error("invalid minified file: {0}")]
    InvalidMinified(String),
    #[error("source map and minified file disagree: {0}")]
    Mismatch(String),
    #[error("source map too large: {0}")]
    TooLarge(String),
    #[error("stored JavaScript index is not readable: {0}")]
    BadIndex(String),
    #[error("stored JavaScript index has format version {0}, this build reads {FORMAT_VERSION}")]
    IndexVersion(u32),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidMap(_) | Self::InvalidMinified(_) | Self::Mismatch(_) => {
                ErrorCode::InvalidArgument
            }
            Self::TooLarge(_) => ErrorCode::ResourceExhausted,
            Self::BadIndex(_) | Self::IndexVersion(_) => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"{"version":3,"sources":["a.js"],"sourceRoot":"src","names":["hello","world"],
        "sourcesContent":["function hello(){\n  world();\n}\n"],
        "mappings":"AAAA,SAASA,KAAK;AACZC"}"#;

    #[test]
    fn builds_and_resolves_a_small_map() {
        let minified = "function h(){w()}\nw()";
        let built = build_index(MAP.as_bytes(), Some(minified.as_bytes())).expect("builds");
        let idx = JsIndex::open(built.bytes.as_slice()).expect("opens");
        assert_eq!(idx.line_count(), 2);
        assert_eq!(idx.minified_line_lengths(), vec![17, 3]);
        // 1-based line 1, column 10 is `h` mapped to `hello`.
        let f = idx.resolve(1, 10, 1).expect("resolves");
        assert_eq!(f.source, "src/a.js");
        assert_eq!((f.line, f.column), (1, 10));
        assert_eq!(f.symbol.as_deref(), Some("hello"));
        assert_eq!(f.context_line.as_deref(), Some("function hello(){"));
        assert_eq!(f.post_context, vec!["  world();".to_owned()]);
        // Inside the body of h: the enclosing function's original name; no context asked,
        // no source text read.
        let f = idx.resolve(1, 15, 0).expect("resolves");
        assert_eq!(f.function.as_deref(), Some("hello"));
        assert_eq!(f.context_line, None);
        // Second line: `world` at line 2 column 3.
        let f = idx.resolve(2, 1, 0).expect("resolves");
        assert_eq!(
            (f.line, f.column, f.symbol.as_deref()),
            (2, 3, Some("world"))
        );
        assert_eq!(idx.resolve(3, 1, 0), Err(Miss::LineOutOfRange));
    }

    #[test]
    fn broken_maps_are_rejected_with_the_field() {
        let err = build_index(
            br#"{"version":3,"sources":[],"names":[],"mappings":"AAAA"}"#,
            None,
        )
        .expect_err("source 0 does not exist");
        assert!(err.to_string().contains("sources"), "{err}");
        assert!(build_index(b"{not json", None).is_err());
        assert!(build_index(MAP.as_bytes(), Some(&[0xff, 0xfe])).is_err());
    }

    #[test]
    fn corrupted_indexes_fail_to_open_rather_than_panic() {
        let built = build_index(MAP.as_bytes(), Some(b"function h(){w()}\nw()")).expect("builds");
        for cut in [0, 10, 40, built.bytes.len() / 2, built.bytes.len() - 1] {
            let _ = JsIndex::open(&built.bytes[..cut]);
        }
        let mut bad = built.bytes.clone();
        bad[8] = 99;
        assert!(matches!(
            JsIndex::open(bad.as_slice()),
            Err(Error::IndexVersion(99))
        ));
    }

    /// The block summary must never change an answer: compare with a linear scan on maps
    /// with long lines of random token columns.
    #[test]
    fn lookups_agree_with_a_linear_scan() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        for _ in 0..20 {
            let cols = proptest::collection::btree_set(0u32..5000, 1..700)
                .new_tree(&mut runner)
                .expect("strategy")
                .current();
            let mut b = sourcemap::SourceMapBuilder::new(None);
            let src = b.add_source("a.js");
            let mut expected = Vec::new();
            for line in 0..3u32 {
                for (i, c) in cols.iter().enumerate() {
                    let s = (i % 5 != 0).then_some(src);
                    b.add_raw(line, *c, line * 100 + i as u32, 7, s, None, false);
                    expected.push((line, *c, s.map(|_| line * 100 + i as u32)));
                }
            }
            let mut out = Vec::new();
            b.into_sourcemap().to_writer(&mut out).expect("write map");
            let built = build_index(&out, None).expect("build");
            let idx = JsIndex::open(built.bytes.as_slice()).expect("open");
            for line in 0..3u32 {
                for col in (0..5010).step_by(3) {
                    let want = expected
                        .iter()
                        .rfind(|(l, c, _)| *l == line && *c <= col)
                        .map(|(_, _, s)| *s);
                    let got = idx.lookup(line, col);
                    match want {
                        None | Some(None) => assert!(got.is_err(), "{line}:{col} {got:?}"),
                        Some(Some(src_line)) => {
                            assert_eq!(got.map(|m| m.src_line), Ok(src_line), "{line}:{col}")
                        }
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics_the_builder(map in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
                                       js in ".{0,200}") {
            let _ = build_index(&map, Some(js.as_bytes()));
            let _ = scopes::find_scopes(&js);
        }

        #[test]
        fn no_index_bytes_panic_a_lookup(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
                                         line in 0u32..10, col in 0u32..100) {
            if let Ok(idx) = JsIndex::open(bytes.as_slice()) {
                let _ = idx.resolve(line, col, 3);
            }
        }
    }
}

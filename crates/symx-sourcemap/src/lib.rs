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

    /// Lines long enough for a radix table (a Hermes map's one line, one-line bundles): the
    /// table must never change an answer either. Columns cluster and leave gaps, so buckets
    /// hold from none to many blocks.
    #[test]
    fn long_lines_with_radix_tables_agree_with_a_linear_scan() {
        let mut b = sourcemap::SourceMapBuilder::new(None);
        let src = b.add_source("a.js");
        let mut expected = Vec::new();
        for line in 0..2u32 {
            let mut col = 0u32;
            for i in 0..40_000u32 {
                // Dense runs, then jumps of up to ~100k columns.
                col += if i % 997 == 0 {
                    1 + (i * 7919) % 100_000
                } else {
                    1 + i % 7
                };
                let s = (i % 11 != 0).then_some(src);
                b.add_raw(line, col, i, 3, s, None, false);
                expected.push((line, col, s.map(|_| i)));
            }
        }
        let mut out = Vec::new();
        b.into_sourcemap().to_writer(&mut out).expect("write map");
        let built = build_index(&out, None).expect("build");
        let idx = JsIndex::open(built.bytes.as_slice()).expect("open");
        assert!(
            idx.memory() > built.bytes.len(),
            "the long lines got radix tables"
        );
        for line in 0..2u32 {
            let mine: Vec<_> = expected.iter().filter(|e| e.0 == line).collect();
            let last = mine.last().map_or(0, |e| e.1);
            let mut at = 0usize;
            for col in (0..last + 200).step_by(13) {
                while at < mine.len() && mine[at].1 <= col {
                    at += 1;
                }
                let got = idx.lookup(line, col);
                match at.checked_sub(1).map(|i| mine[i].2) {
                    None | Some(None) => assert!(got.is_err(), "{line}:{col} {got:?}"),
                    Some(Some(src_line)) => {
                        assert_eq!(got.map(|m| m.src_line), Ok(src_line), "{line}:{col}")
                    }
                }
            }
        }
    }

    /// A one-line bundle of 30,000 functions: enough scope breakpoints for the scope radix
    /// table, whose answers must be the linear scan's.
    #[test]
    fn enclosing_functions_of_a_long_line_agree_with_a_linear_scan() {
        let mut js = String::new();
        let mut b = sourcemap::SourceMapBuilder::new(None);
        let src = b.add_source("a.js");
        for i in 0..30_000u32 {
            let start = js.len() as u32;
            js.push_str(&format!("function f{i}(){{g()}}"));
            let name = b.add_name(&format!("original{i}"));
            // The function's name token, mapped to its original name.
            b.add_raw(0, start + 9, i, 0, Some(src), Some(name), false);
            b.add_raw(
                0,
                start + 9 + format!("f{i}").len() as u32 + 3,
                i,
                4,
                Some(src),
                None,
                false,
            );
        }
        let mut out = Vec::new();
        b.into_sourcemap().to_writer(&mut out).expect("write map");
        let built = build_index(&out, Some(js.as_bytes())).expect("build");
        let idx = JsIndex::open(built.bytes.as_slice()).expect("open");
        assert!(
            idx.memory() > built.bytes.len(),
            "the line got radix tables"
        );
        let mut named = 0;
        for col in (0..js.len() as u32 + 50).step_by(5) {
            let want = idx.function_at_linear(0, col);
            named += usize::from(want.is_some());
            assert_eq!(idx.function_at(0, col), want, "column {col}");
        }
        assert!(
            named > 10_000,
            "too few positions inside named functions: {named}"
        );
    }

    /// Base64 VLQ, as source maps encode `mappings`.
    fn vlq(out: &mut String, v: i64) {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut n = if v < 0 { ((-v) << 1) | 1 } else { v << 1 };
        loop {
            let mut digit = n & 31;
            n >>= 5;
            if n > 0 {
                digit |= 32;
            }
            out.push(B64[digit as usize] as char);
            if n == 0 {
                break;
            }
        }
    }

    /// A valid source map (and a minified file it describes) from generated segments:
    /// per generated line, segments of (column, source, original line, original column,
    /// name); `sources_content` embeds text for the context lines.
    /// A generated segment: (column, source, original line, original column, name).
    type Segment = (u32, u32, u32, u32, Option<u32>);

    fn generated_map(lines: &[Vec<Segment>]) -> Vec<u8> {
        let (mut src, mut oline, mut ocol, mut name) = (0i64, 0i64, 0i64, 0i64);
        let mut mappings = String::new();
        for (i, segs) in lines.iter().enumerate() {
            if i > 0 {
                mappings.push(';');
            }
            let mut sorted = segs.clone();
            sorted.sort_by_key(|s| s.0);
            let mut col = 0i64;
            for (k, (c, s, l, oc, n)) in sorted.iter().enumerate() {
                if k > 0 {
                    mappings.push(',');
                }
                let (s, l) = (i64::from(*s % 3), i64::from(*l % 40));
                vlq(&mut mappings, i64::from(*c) - col);
                vlq(&mut mappings, s - src);
                vlq(&mut mappings, l - oline);
                vlq(&mut mappings, i64::from(*oc) - ocol);
                (col, src, oline, ocol) = (i64::from(*c), s, l, i64::from(*oc));
                if let Some(n) = n {
                    let n = i64::from(*n % 4);
                    vlq(&mut mappings, n - name);
                    name = n;
                }
            }
        }
        let content: Vec<String> = (0..3)
            .map(|s| {
                (0..40)
                    .map(|l| format!("line {l} of source {s}\n"))
                    .collect()
            })
            .collect();
        serde_json::json!({
            "version": 3,
            "file": "app.min.js",
            "sources": ["a.ts", "b.ts", "c.ts"],
            "sourcesContent": content,
            "names": ["alpha", "beta", "gamma", "delta"],
            "mappings": mappings,
        })
        .to_string()
        .into_bytes()
    }

    /// A minified file of `lines` lines, each the generated code padded past every generated
    /// column (120).
    fn minified_file(lines: usize, code: &str) -> String {
        (0..lines).map(|_| format!("{code:<130}\n")).collect()
    }

    fn segments() -> impl proptest::strategy::Strategy<Value = Vec<Vec<Segment>>> {
        proptest::collection::vec(
            proptest::collection::vec(
                (
                    0u32..120,
                    0u32..3,
                    0u32..40,
                    0u32..80,
                    proptest::option::of(0u32..4),
                ),
                0..12,
            ),
            1..8,
        )
    }

    proptest::proptest! {
        /// Generated maps are valid, so the builder runs past parsing into the mappings, the
        /// scope scanner and the index writer: every one builds, opens, and answers every
        /// position without a panic; a mutated one (bytes flipped in its JSON) never panics.
        #[test]
        fn generated_and_mutated_maps_build_or_fail_cleanly(
            lines in segments(),
            code in "(function [a-z]{1,3}\\([a-z]?\\)\\{ *[a-z]{0,5} *\\}){1,4}",
            flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 0..6),
        ) {
            let map = generated_map(&lines);
            let minified = minified_file(lines.len(), &code);
            let built = build_index(&map, Some(minified.as_bytes()));
            proptest::prop_assert!(built.is_ok(), "a valid map was refused: {:?}", built.err());
            if let Ok(built) = built {
                let idx = JsIndex::open(built.bytes.as_slice());
                proptest::prop_assert!(idx.is_ok());
                if let Ok(idx) = idx {
                    for line in 1..=lines.len() as u32 + 1 {
                        for col in [1u32, 2, 10, 60, 121, 500] {
                            let _ = idx.resolve(line, col, 3);
                        }
                    }
                }
            }
            let mut mutated = map.clone();
            for (at, v) in &flips {
                if !mutated.is_empty() {
                    let i = at % mutated.len();
                    mutated[i] = *v;
                }
            }
            if let Ok(built) = build_index(&mutated, Some(minified.as_bytes())) {
                let idx = JsIndex::open(built.bytes.as_slice());
                proptest::prop_assert!(idx.is_ok(), "a built index does not open");
            }
            let _ = scopes::find_scopes(&minified);
        }

        /// A valid index with bytes changed or cut: opening checks every section, so it is
        /// refused or answers lookups without a panic (the damage lands past the header: the
        /// mutations are spread over the whole buffer).
        #[test]
        fn damaged_indexes_never_panic_a_lookup(
            lines in segments(),
            flips in proptest::collection::vec((proptest::num::u32::ANY, proptest::num::u8::ANY), 1..8),
            cut in proptest::option::of(proptest::num::u32::ANY),
            line in 1u32..10, col in 1u32..200,
        ) {
            let map = generated_map(&lines);
            let built = build_index(&map, None);
            proptest::prop_assert!(built.is_ok());
            if let Ok(built) = built {
                let mut bytes = built.bytes;
                for (at, v) in &flips {
                    let i = *at as usize % bytes.len();
                    bytes[i] = *v;
                }
                if let Some(c) = cut {
                    bytes.truncate(c as usize % (bytes.len() + 1));
                }
                if let Ok(idx) = JsIndex::open(bytes.as_slice()) {
                    let _ = idx.resolve(line, col, 3);
                    let _ = idx.minified_line_lengths();
                }
            }
        }
    }
}

//! React Native maps against metro-symbolicate's answers (`tests/fixtures/react/`): Metro's
//! index map of the bundle, and composed Hermes bytecode maps (by hermes-compiler and by
//! hermes-engine-cli 0.12, whose runtime printed `trace-0.12.txt`).

use serde_json::Value;
use symx_sourcemap::{JsIndex, Miss, build_index};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/react/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn expected() -> Value {
    serde_json::from_slice(&fixture("expected.json")).expect("expected.json")
}

/// Compares one answer of ours with metro-symbolicate's (1-based lines, 0-based columns).
fn check(what: &str, got: Result<symx_types::ResolvedFrame, Miss>, want: &Value) {
    if want["source"].is_null() {
        assert!(got.is_err(), "{what}: metro maps nowhere, we gave {got:?}");
        return;
    }
    let got = got.unwrap_or_else(|m| panic!("{what}: {m:?}, metro gave {want}"));
    assert_eq!(
        got.source,
        want["source"].as_str().unwrap_or_default(),
        "{what}"
    );
    assert_eq!(Some(u64::from(got.line)), want["line"].as_u64(), "{what}");
    assert_eq!(
        Some(u64::from(got.column) - 1),
        want["column"].as_u64(),
        "{what}"
    );
    assert_eq!(got.symbol.as_deref(), want["name"].as_str(), "{what}");
    assert_eq!(got.function.as_deref(), want["function"].as_str(), "{what}");
}

#[test]
fn metro_index_map_answers_as_metro_symbolicate() {
    let built = build_index(
        &fixture("metro.map"),
        Some(&fixture("index.android.bundle")),
    )
    .expect("builds");
    assert_eq!(built.hermes_functions, 0);
    let idx = JsIndex::open(built.bytes).expect("opens");
    assert!(!idx.is_hermes());
    let positions = expected()["metro.map"]["positions"].clone();
    let positions = positions.as_array().expect("positions");
    assert!(positions.len() > 100);
    for p in positions {
        let (line, col) = (
            p["generated"][0].as_u64().unwrap_or(0),
            p["generated"][1].as_u64().unwrap_or(0),
        );
        let got = idx.resolve(line as u32, col as u32 + 1, 0);
        check(&format!("metro.map {line}:{col}"), got, p);
    }
}

#[test]
fn hermes_maps_answer_bytecode_offsets_as_metro_symbolicate() {
    let all = expected();
    let built = build_index(
        &fixture("hermes.map"),
        Some(&fixture("index.android.bundle")),
    )
    .expect("builds");
    assert!(built.hermes_functions > 10, "{}", built.hermes_functions);
    let idx = JsIndex::open(built.bytes).expect("opens");
    assert!(idx.is_hermes());
    let positions = all["hermes.map"]["positions"]
        .as_array()
        .expect("positions");
    for p in positions {
        let offset = p["generated"][1].as_u64().unwrap_or(0) as u32;
        check(
            &format!("hermes.map offset {offset}"),
            idx.resolve_bytecode(1, None, offset, 0),
            p,
        );
    }
    // The real runtime's trace: every printed frame, and the named functions the runtime
    // could only call `anonymous`.
    let built = build_index(&fixture("hermes-0.12.map"), None).expect("builds");
    let idx = JsIndex::open(built.bytes).expect("opens");
    let frames = all["trace-0.12.txt"]["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 11);
    for f in frames {
        let offset = f["offset"].as_u64().unwrap_or(0) as u32;
        check(
            &format!("trace offset {offset}"),
            idx.resolve_bytecode(1, None, offset, 0),
            f,
        );
    }
    let top = idx.resolve_bytecode(1, None, 2286, 1).expect("top frame");
    assert_eq!(top.function.as_deref(), Some("Cart.prototype.priceOf"));
    assert_eq!(
        top.context_line.as_deref(),
        Some("    throw new Error('bad quantity ' + item.qty);")
    );
}

#[test]
fn hermes_function_ids_add_the_function_start() {
    let built = build_index(&fixture("hermes-0.12.map"), None).expect("builds");
    let idx = JsIndex::open(built.bytes).expect("opens");
    let map: Value = serde_json::from_slice(&fixture("hermes-0.12.map")).expect("json");
    let starts: Vec<u64> = map["x_hermes_function_offsets"]["0"]
        .as_array()
        .expect("offsets")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(idx.hermes_function_count(0) as usize, starts.len());
    // The function holding offset 2286, and the offset within it.
    let f = starts.iter().rposition(|s| *s <= 2286).expect("a function") as u32;
    let within = 2286 - starts[f as usize] as u32;
    assert_eq!(
        idx.resolve_bytecode(1, Some(f), within, 0),
        idx.resolve_bytecode(1, None, 2286, 0)
    );
    assert_eq!(
        idx.resolve_bytecode(1, Some(starts.len() as u32), 0, 0),
        Err(Miss::UnknownFunction)
    );
}

#[test]
fn malformed_hermes_offsets_are_refused_naming_the_field() {
    let map = String::from_utf8(fixture("hermes.map")).expect("utf-8");
    let start = map.find("\"x_hermes_function_offsets\"").expect("field");
    let end = start + map[start..].find('}').expect("end") + 1;
    for (replacement, says) in [
        ("\"x_hermes_function_offsets\":{}", "no bytecode offsets"),
        (
            "\"x_hermes_function_offsets\":{\"0\":[]}",
            "no bytecode offsets",
        ),
        ("\"x_hermes_function_offsets\":[1,2]", "must be an object"),
        ("\"x_hermes_function_offsets\":{\"0\":[0,-4]}", "entry 1"),
        (
            "\"x_hermes_function_offsets\":{\"a\":[0]}",
            "not a segment id",
        ),
    ] {
        let bad = format!("{}{replacement}{}", &map[..start], &map[end..]);
        let err = build_index(bad.as_bytes(), None).expect_err(replacement);
        let msg = err.to_string();
        assert!(
            msg.contains("x_hermes_function_offsets") && msg.contains(says),
            "{msg}"
        );
    }
    // Bytecode maps have one line; a second one is not a Hermes map.
    let two_lines = map.replacen("\"mappings\":\"", "\"mappings\":\"A;", 1);
    let err = build_index(two_lines.as_bytes(), None).expect_err("two lines");
    assert!(err.to_string().contains("line 2"), "{err}");
}

/// A Hermes bundle with two bytecode segments: the map has a line per segment and
/// `x_hermes_function_offsets` per segment. A frame printed as `address at bundle:2:<offset>`
/// is in segment 1, and its function ids count in segment 1's table.
#[test]
fn hermes_frames_resolve_in_their_segment() {
    let map = br#"{"version":3,"sources":["a.js","b.js"],"names":[],
        "mappings":"AAAA,UAEA;ACFA,UAIA",
        "x_hermes_function_offsets":{"0":[0],"1":[0,10]}}"#;
    let built = build_index(map, None).expect("two segments");
    assert_eq!(built.hermes_functions, 3);
    let idx = JsIndex::open(built.bytes).expect("open");
    let at = |line, f, off| {
        idx.resolve_bytecode(line, f, off, 0)
            .map(|r| (r.source, r.line))
    };
    // Segment 0 (line 1): offset 12 is a.js line 3; segment 1 (line 2): b.js line 5.
    assert_eq!(at(1, None, 12), Ok(("a.js".into(), 3)));
    assert_eq!(at(2, None, 12), Ok(("b.js".into(), 5)));
    assert_eq!(at(2, None, 3), Ok(("b.js".into(), 1)));
    // Function 1 of segment 1 starts at 10: offset 2 in it is offset 12.
    assert_eq!(at(2, Some(1), 2), Ok(("b.js".into(), 5)));
    // Segment 0 has one function only.
    assert_eq!(at(1, Some(1), 2), Err(Miss::UnknownFunction));
    // Line 0 (not given) is the main segment.
    assert_eq!(at(0, None, 12), Ok(("a.js".into(), 3)));
}

/// A Hermes build uploads the bytecode bundle as its minified file: accepted (never read as
/// text), and the map answers as without it.
#[test]
fn hermes_bytecode_bundles_are_accepted_as_the_minified_file() {
    let hbc = fixture("index.android.hbc");
    assert!(symx_sourcemap::is_hermes_bytecode(&hbc));
    assert!(std::str::from_utf8(&hbc).is_err(), "the fixture is binary");
    let with = build_index(&fixture("hermes.map"), Some(&hbc)).expect("bytecode bundle");
    let without = build_index(&fixture("hermes.map"), None).expect("map alone");
    assert_eq!(with.bytes, without.bytes);
    // Bytes that are neither text nor bytecode are still refused, naming the offset.
    let err = build_index(&fixture("metro.map"), Some(&[0x41, 0xff, 0xfe][..])).expect_err("junk");
    assert!(err.to_string().contains("byte offset 1"), "{err}");
}

/// Of two mappings at one generated position, the first answers (Mozilla source-map and
/// @jridgewell/trace-mapping do the same).
#[test]
fn the_first_of_two_mappings_at_one_position_answers() {
    // Line 1: col 0 -> a.js 1:1, then col 0 again -> a.js 2:1, then col 4 -> a.js 3:1.
    let map = br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA,AACA,IACA"}"#;
    let idx = JsIndex::open(build_index(map, None).expect("map").bytes).expect("open");
    let line_of = |col| idx.resolve(1, col, 0).map(|r| r.line);
    assert_eq!(line_of(1), Ok(1));
    assert_eq!(line_of(3), Ok(1));
    assert_eq!(line_of(5), Ok(3));
}

/// A few bytes of index map must not cost gigabytes: a section offset far past any real
/// bundle is refused before the line tables are allocated, naming the field; so is a minified
/// file of tens of millions of empty lines.
#[test]
fn generated_lines_are_bounded_before_memory_is_committed() {
    let map = br#"{"version":3,"sections":[{"offset":{"line":100000000,"column":0},
        "map":{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}}]}"#;
    let err = build_index(map, None).expect_err("line 10^8");
    assert!(err.to_string().contains("offset.line"), "{err}");
    let lines = vec![b'\n'; 20_000_000];
    let plain = br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#;
    let err = build_index(plain, Some(&lines)).expect_err("20M lines");
    assert!(
        err.to_string().contains("lines, more than the limit"),
        "{err}"
    );
    // A real line count still builds.
    let ok = br#"{"version":3,"sections":[{"offset":{"line":2000,"column":0},
        "map":{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}}]}"#;
    build_index(ok, None).expect("line 2000");
}

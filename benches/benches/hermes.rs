//! React Native Hermes benchmarks on a real 14.5 MB composed Hermes map (TypeScript's compiler
//! bundled by Metro and compiled by hermesc; `benches/data/make-hermes.sh` builds it into
//! `bench-data/hermes.map`).
//!
//! Groups, each with its baseline in the same run:
//! * `hermes_build`: our index build (mappings, Metro function maps turned into scope
//!   breakpoints, x_hermes_function_offsets) vs. the `sourcemap` crate's parse of the map as
//!   `SourceMapHermes` (which also decodes the function maps).
//! * `hermes_lookup`: a warm bytecode-offset lookup with the enclosing function's original
//!   name vs. `SourceMapHermes::lookup_token` + `get_scope_for_token`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use symx_sourcemap::JsIndex;

fn hermes_map() -> Vec<u8> {
    let path = symx_benches::data_dir().join("hermes.map");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run benches/data/make-hermes.sh first (needs node and npm)",
            path.display()
        )
    })
}

fn parse_baseline(map: &[u8]) -> sourcemap::SourceMapHermes {
    sourcemap::SourceMapHermes::from_slice(map).unwrap_or_else(|e| panic!("{e}"))
}

fn build(c: &mut Criterion) {
    let map = hermes_map();
    let mut g = c.benchmark_group("hermes_build");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(map.len() as u64));
    g.bench_function("symx_build_index", |b| {
        b.iter(|| symx_sourcemap::build_index(black_box(&map), None).map(|b| b.bytes.len()))
    });
    g.bench_function("baseline_sourcemap_crate_parse_hermes", |b| {
        b.iter(|| parse_baseline(black_box(&map)).get_token_count())
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let map = hermes_map();
    let built = symx_sourcemap::build_index(&map, None).unwrap_or_else(|e| panic!("{e}"));
    let idx = JsIndex::open(built.bytes).unwrap_or_else(|e| panic!("{e}"));
    let sm = parse_baseline(&map);
    // 4096 offsets spread over the bytecode, each a little past a mapping.
    let offsets: Vec<u32> = symx_benches::positions(&sm, 4096)
        .into_iter()
        .map(|(_, col)| col)
        .collect();
    let mut g = c.benchmark_group("hermes_lookup");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("symx_resolve_bytecode_with_function_name", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.resolve_bytecode(1, None, offsets[i], 0)).is_ok()
        })
    });
    let mut i = 0usize;
    g.bench_function("baseline_sourcemap_crate_token_and_scope", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let t = sm.lookup_token(0, offsets[i]);
            black_box(t.and_then(|t| sm.get_scope_for_token(t))).is_some()
        })
    });
    g.finish();
}

criterion_group!(benches, build, lookup);
criterion_main!(benches);

//! JavaScript benchmarks on a real 14 MB source map (TypeScript's compiler minified by
//! esbuild; `benches/data/make.sh` builds it into `bench-data/`).
//!
//! Groups (build and lookup apart, each with its baseline in the same run):
//! * `js_build`: our index build vs. the `sourcemap` crate's parse of the same map.
//! * `js_lookup`: a warm lookup on our index vs. `sourcemap::SourceMap::lookup_token`.
//! * `js_cold`: the first frame after a restart (index read from RocksDB, opened, one lookup)
//!   vs. parsing the raw map with the `sourcemap` crate and one lookup.
//! * `js_batch`: the service's in-process path for a batch of 200 frames (artifact match,
//!   cache, lookup, context lines off).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use symx_benches::{BenchMap, positions};
use symx_sourcemap::JsIndex;

fn map() -> BenchMap {
    BenchMap::load().unwrap_or_else(|e| panic!("{e}"))
}

fn build(c: &mut Criterion) {
    let m = map();
    let mut g = c.benchmark_group("js_build");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(m.map.len() as u64));
    g.bench_function("symx_build_index", |b| {
        b.iter(|| {
            symx_sourcemap::build_index(black_box(&m.map), Some(&m.minified)).map(|b| b.bytes.len())
        })
    });
    g.bench_function("baseline_sourcemap_crate_parse", |b| {
        b.iter(|| sourcemap::decode_slice(black_box(&m.map)).map(|_| ()))
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let m = map();
    let built =
        symx_sourcemap::build_index(&m.map, Some(&m.minified)).unwrap_or_else(|e| panic!("{e}"));
    let idx = JsIndex::open(built.bytes).unwrap_or_else(|e| panic!("{e}"));
    let sm = match sourcemap::decode_slice(&m.map) {
        Ok(sourcemap::DecodedMap::Regular(sm)) => sm,
        _ => panic!("the bench map is a regular map"),
    };
    let pos = positions(&sm, 4096);
    let mut g = c.benchmark_group("js_lookup");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("symx_lookup", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let (l, col) = pos[i];
            black_box(idx.lookup(l, col)).is_ok()
        })
    });
    let mut i = 0usize;
    g.bench_function("symx_resolve_with_function_name", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let (l, col) = pos[i];
            black_box(idx.resolve(l + 1, col + 1, 0)).is_ok()
        })
    });
    let mut i = 0usize;
    g.bench_function("baseline_sourcemap_crate_lookup_token", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let (l, col) = pos[i];
            black_box(sm.lookup_token(l, col)).is_some()
        })
    });
    g.finish();
}

fn cold(c: &mut Criterion) {
    let m = map();
    let store = symx_benches::StoredMap::new(&m).unwrap_or_else(|e| panic!("{e}"));
    let (l, col) = (0u32, 1000u32);
    let mut g = c.benchmark_group("js_cold");
    g.sample_size(20).measurement_time(Duration::from_secs(15));
    g.bench_function("symx_first_frame_from_rocksdb", |b| {
        b.iter_batched(
            || (),
            |_| store.first_frame(l, col),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("baseline_sourcemap_crate_parse_and_lookup", |b| {
        b.iter(|| match sourcemap::decode_slice(black_box(&m.map)) {
            Ok(sourcemap::DecodedMap::Regular(sm)) => sm.lookup_token(l, col).is_some(),
            _ => false,
        })
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let m = map();
    let svc = symx_benches::ServiceFixture::new(&m).unwrap_or_else(|e| panic!("{e}"));
    let req = svc.request(200, 0);
    let mut g = c.benchmark_group("js_batch");
    g.throughput(Throughput::Elements(200));
    g.bench_function("symx_symbolicate_200_frames", |b| {
        b.iter(|| black_box(svc.symbolicate(&req)))
    });
    g.finish();
}

criterion_group!(benches, build, lookup, cold, batch);
criterion_main!(benches);

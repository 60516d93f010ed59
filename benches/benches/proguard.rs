//! ProGuard/R8 benchmarks on a 20 MB mapping shaped like R8's output (generated here,
//! deterministically: packages of classes, fields, methods with line ranges, and inline chains
//! of two and three frames, as an optimising R8 build leaves them).
//!
//! * `jvm_build`: our index build (line validation, member table, alternatives) from the
//!   mapping's bytes; target: ready within 0.5 s. Baseline: the proguard crate's cache write.
//! * `jvm_remap`: one warm frame remapped (inline chain expanded) on one core; target: at
//!   least 3,000,000 frames/s. Baselines: the proguard crate's `ProguardCache` and its
//!   in-memory `ProguardMapper` on the same frames, in the same run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use symx_proguard::{JvmIndex, TraceState, build_index};

fn benches(c: &mut Criterion) {
    let (text, frames) = symx_benches::jvm_mapping(20 << 20);
    eprintln!(
        "mapping: {} bytes, {} sampled frames",
        text.len(),
        frames.len()
    );
    let bytes = text.as_bytes();

    let mut g = c.benchmark_group("jvm_build");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("symx_build_index_20mb", |b| {
        b.iter(|| build_index(black_box(bytes)).map(|b| b.bytes.len()))
    });
    // Baseline: the proguard crate's cache write alone (no line validation, no content id).
    g.bench_function("baseline_proguard_cache_write_20mb", |b| {
        b.iter(|| {
            let mapping = proguard::ProguardMapping::new(black_box(bytes));
            let mut out = Vec::new();
            proguard::ProguardCache::write(&mapping, &mut out).map(|_| out.len())
        })
    });
    g.finish();

    let built = build_index(bytes).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("index: {} bytes", built.bytes.len());
    let idx = JvmIndex::open(built.bytes).unwrap_or_else(|e| panic!("{e}"));
    let mapper = proguard::ProguardMapper::from(text.as_str());

    let mut g = c.benchmark_group("jvm_remap");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("symx_remap_frame", |b| {
        b.iter(|| {
            i = (i + 7919) % frames.len();
            let (class, method, line) = &frames[i];
            let mut st = TraceState::default();
            black_box(idx.remap_frame(&mut st, class, method, *line, None))
        })
    });
    // Baseline: the proguard crate's cache alone (what symx answered every frame from before
    // its member table), frames collected.
    let mut cache_bytes = Vec::new();
    proguard::ProguardCache::write(&proguard::ProguardMapping::new(bytes), &mut cache_bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    let cache = proguard::ProguardCache::parse(&cache_bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut i = 0usize;
    g.bench_function("baseline_proguard_cache_remap_frame", |b| {
        b.iter(|| {
            i = (i + 7919) % frames.len();
            let (class, method, line) = &frames[i];
            let frame = proguard::StackFrame::new(class, method, *line as usize);
            black_box(cache.remap_frame(&frame).count())
        })
    });
    let mut i = 0usize;
    g.bench_function("baseline_proguard_mapper_remap_frame", |b| {
        b.iter(|| {
            i = (i + 7919) % frames.len();
            let (class, method, line) = &frames[i];
            let frame = proguard::StackFrame::new(class, method, *line as usize);
            black_box(mapper.remap_frame(&frame).count())
        })
    });
    g.finish();
}

criterion_group!(jvm, benches);
criterion_main!(jvm);

//! ProGuard/R8 benchmarks on a 20 MB mapping shaped like R8's output (generated here,
//! deterministically: packages of classes, fields, methods with line ranges, and inline chains
//! of two and three frames, as an optimising R8 build leaves them).
//!
//! * `jvm_build`: our index build (line validation + the proguard crate's cache) from the
//!   mapping's bytes; target: ready within 0.5 s.
//! * `jvm_remap`: one warm frame remapped (inline chain expanded) on one core; target: at
//!   least 3,000,000 frames/s. Baseline: the proguard crate's in-memory `ProguardMapper` on the
//!   same frames, in the same run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;
use symx_proguard::{JvmIndex, TraceState, build_index};

/// A mapping of about `target` bytes; returns it and (obfuscated class, method, line) frames
/// that hit line ranges, a third of them inside inline chains.
fn mapping(target: usize) -> (String, Vec<(String, String, u32)>) {
    let mut out = String::with_capacity(target + 4096);
    out.push_str("# compiler: R8\n# compiler_version: 8.2.42\n# min_api: 24\n");
    out.push_str("# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.2\"}\n");
    let mut frames = Vec::new();
    let mut c = 0usize;
    while out.len() < target {
        let pkg = c / 50;
        let obf = format!("a{pkg}.b{}", c % 50);
        let _ = writeln!(
            out,
            "com.example.feature{pkg}.ui.Screen{c}Presenter -> {obf}:"
        );
        let _ = writeln!(
            out,
            "# {{\"id\":\"sourceFile\",\"fileName\":\"Screen{c}Presenter.kt\"}}"
        );
        let _ = writeln!(out, "    java.lang.String title -> a");
        let _ = writeln!(out, "    int count -> b");
        let mut line = 1u32;
        for m in 0..12u32 {
            let name = ["a", "b", "c", "d", "e", "f"][(m % 6) as usize];
            let orig = 20 + m * 15;
            let _ = writeln!(
                out,
                "    {line}:{}:void onEvent{m}(android.os.Bundle,int):{orig}:{} -> {name}",
                line + 4,
                orig + 4
            );
            frames.push((obf.clone(), name.to_owned(), line + 2));
            line += 5;
            if m % 3 == 0 {
                // An inline chain: helper inlined into onEventM at one obfuscated line.
                let _ = writeln!(
                    out,
                    "    {line}:{line}:boolean com.example.core.Checks{}.isValid(java.lang.Object):{}:{} -> {name}",
                    c % 97,
                    40 + m,
                    40 + m
                );
                let _ = writeln!(
                    out,
                    "    {line}:{line}:void onEvent{m}(android.os.Bundle,int):{} -> {name}",
                    orig + 7
                );
                frames.push((obf.clone(), name.to_owned(), line));
                line += 1;
            }
        }
        c += 1;
    }
    (out, frames)
}

fn benches(c: &mut Criterion) {
    let (text, frames) = mapping(20 << 20);
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

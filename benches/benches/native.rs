//! Native benchmarks on a real Rust program in the dev profile (29.5 MB of DWARF; built by
//! `benches/data/make-native.sh` into `bench-data/native.bin`).
//!
//! * `native_build`: our index build (`SYMXNAT5`), against symbolic's own SymCache conversion.
//! * `native_lookup`: one warm lookup with the whole inline chain, demangled, against the
//!   `addr2line` crate's `Context::find_frames` (gimli, parsed lazily and kept warm) on the same
//!   addresses; `native_lookup_parts` times a plain SymCache lookup (what `SYMXNAT4` wrapped).
//! * `native_10k`: index build plus 10,000 lookups, against `llvm-symbolizer --inlining` on the
//!   same 10,000 addresses (a child process fed on stdin), in the same run.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use symx_native::{NativeIndex, build_index};

fn binary() -> PathBuf {
    let p = symx_benches::data_dir().join("native.bin");
    assert!(
        p.exists(),
        "{} is missing: run benches/data/make-native.sh first",
        p.display()
    );
    p
}

/// 10,000 addresses inside the program's functions (from `nm -S`), spread evenly.
fn addresses(bin: &Path) -> Vec<u64> {
    symx_benches::function_addresses(bin, 10_000).unwrap_or_else(|e| panic!("{e}"))
}

fn llvm_symbolizer(bin: &Path, addrs: &[u64]) -> usize {
    let mut child = Command::new("llvm-symbolizer-14")
        .args(["--inlining", "--demangle"])
        .arg(format!("--obj={}", bin.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("llvm-symbolizer-14: {e}"));
    let mut input = String::with_capacity(addrs.len() * 12);
    for a in addrs {
        input.push_str(&format!("{a:#x}\n"));
    }
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let _ = writer.join();
    out.stdout.len()
}

/// symbolic's own SymCache of the object, names mangled and paths unresolved: the baseline
/// our build and lookup are measured against.
fn plain_symcache(bytes: &[u8]) -> Vec<u8> {
    let object = symbolic::debuginfo::Object::parse(bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut converter = symbolic::symcache::SymCacheConverter::new();
    converter
        .process_object(&object)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    converter
        .serialize(&mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    out
}

type Reader<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

/// The addr2line crate's context over the file's DWARF sections (uncompressed, read in place).
fn addr2line_context(bytes: &[u8]) -> addr2line::Context<Reader<'_>> {
    use object::{Object as _, ObjectSection as _};
    let file = object::File::parse(bytes).unwrap_or_else(|e| panic!("{e}"));
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<&[u8], gimli::Error> {
        Ok(file
            .section_by_name(id.name())
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]))
    };
    let sections = gimli::DwarfSections::load(load).unwrap_or_else(|e| panic!("{e}"));
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
    addr2line::Context::from_dwarf(dwarf).unwrap_or_else(|e| panic!("{e}"))
}

/// One lookup with addr2line: every frame's raw function name, file and line.
fn addr2line_frames(context: &addr2line::Context<Reader<'_>>, addr: u64) -> usize {
    let Ok(mut frames) = context.find_frames(addr).skip_all_loads() else {
        return 0;
    };
    let mut n = 0;
    while let Ok(Some(frame)) = frames.next() {
        n += frame
            .function
            .and_then(|f| f.raw_name().ok().map(|s| s.len()))
            .unwrap_or(0);
        n += frame
            .location
            .map(|l| l.file.map_or(0, str::len) + l.line.unwrap_or(0) as usize)
            .unwrap_or(0);
    }
    n
}

fn benches(c: &mut Criterion) {
    let bin = binary();
    let bytes = std::fs::read(&bin).unwrap_or_else(|e| panic!("{e}"));
    let addrs = addresses(&bin);

    let mut g = c.benchmark_group("native_build");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("symx_build_index", |b| {
        b.iter(|| build_index(black_box(&bytes)).map(|b| b.bytes.len()))
    });
    // Baseline: symbolic's own conversion, names kept mangled (what our build adds on top is
    // demangling every distinct name once and the name table).
    g.bench_function("baseline_symcache_convert_no_demangling", |b| {
        b.iter(|| plain_symcache(black_box(&bytes)).len())
    });
    g.finish();

    let built = build_index(&bytes).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "native index: {} bytes for a {} byte file",
        built.bytes.len(),
        bytes.len()
    );
    let idx = NativeIndex::open(built.bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("native_lookup");
    let mut i = 0usize;
    g.bench_function("symx_lookup_with_inline_chain", |b| {
        b.iter(|| {
            i = (i + 1) % addrs.len();
            black_box(idx.lookup_vaddr(addrs[i]).count())
        })
    });
    // Baseline: the addr2line crate, every address looked up once first so that its lazily
    // parsed units, functions and line tables are warm; frames with raw names (not demangled)
    // and file/line.
    let context = addr2line_context(&bytes);
    for a in &addrs {
        black_box(addr2line_frames(&context, *a));
    }
    let mut i = 0usize;
    g.bench_function("baseline_addr2line_find_frames", |b| {
        b.iter(|| {
            i = (i + 1) % addrs.len();
            black_box(addr2line_frames(&context, addrs[i]))
        })
    });
    g.finish();

    // Where a lookup's time goes, on a plain SymCache: the range search alone, plus names,
    // plus full file paths (symbolic joins and cleans them per call).
    let plain = plain_symcache(&bytes);
    let load = idx.load_address();
    let mut g = c.benchmark_group("native_lookup_parts");
    for part in ["parse_and_search", "with_names", "with_full_paths"] {
        let mut i = 0usize;
        g.bench_function(part, |b| {
            b.iter(|| {
                i = (i + 1) % addrs.len();
                let cache =
                    symbolic::symcache::SymCache::parse(&plain).unwrap_or_else(|e| panic!("{e}"));
                let mut n = 0;
                for loc in cache.lookup(addrs[i] - load) {
                    n += 1;
                    if part != "parse_and_search" {
                        n += loc.function().name().len();
                    }
                    if part == "with_full_paths" {
                        n += loc.file().map(|f| f.full_path().len()).unwrap_or(0);
                    }
                }
                black_box(n)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("native_10k");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("symx_build_and_10k_lookups", |b| {
        b.iter(|| {
            let built = build_index(&bytes).unwrap_or_else(|e| panic!("{e}"));
            let idx = NativeIndex::open(built.bytes).unwrap_or_else(|e| panic!("{e}"));
            addrs
                .iter()
                .map(|a| idx.lookup_vaddr(*a).count())
                .sum::<usize>()
        })
    });
    g.bench_function("baseline_llvm_symbolizer_10k", |b| {
        b.iter(|| llvm_symbolizer(&bin, &addrs))
    });
    g.finish();
}

criterion_group!(native, benches);
criterion_main!(native);

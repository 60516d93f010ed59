//! Peak memory of index builds against the estimates that `limits.max_build_memory` is checked
//! with, before anything of an artifact is decoded.
//!
//! The process's allocator counts the bytes in use and their high-water mark; each case resets
//! the mark, builds an index the way an upload does, and checks two things:
//! - the estimate is never below the measured peak (a build the limit lets through cannot take
//!   more than the limit);
//! - the estimate is not so far above the peak that ordinary artifacts would be refused
//!   (at most `SLACK` times the peak, plus 8 MiB for small inputs).
//!
//! Cases: shapes of real bundles and mappings, and the hostile shapes of issue 11 (a huge
//! `names` or `sources` array of tiny strings, an index map reaching far lines, a minified
//! file of empty lines, a mapping of many one-member classes), scaled down to run in seconds.
//! One case runs at a time (the high-water mark is the process's).

// A counting allocator cannot be written without `unsafe`: it forwards the `GlobalAlloc`
// calls to the system allocator unchanged. This test binary is the only place it is allowed.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let now = IN_USE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Both blocks exist during the copy.
        grew(new_size);
        // SAFETY: forwarded unchanged.
        let out = unsafe { System.realloc(ptr, layout, new_size) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        out
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Taken first thing by every test, before it makes its input: the high-water mark is the
/// process's, so nothing else may allocate while a case is measured.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `build` (which must succeed), measures what it allocates at its peak above what was
/// in use before, and checks `estimate` against that peak plus the input's `held` bytes.
fn measured<T, E: std::fmt::Debug>(
    case: &str,
    estimate: u64,
    held: u64,
    build: impl FnOnce() -> Result<T, E>,
) {
    let (built, peak) = peak_of(build);
    built.expect("builds");
    check(case, estimate, held, peak);
}

/// Runs `f` and returns its result with the most it had allocated at once above what was in
/// use before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before) as u64;
    (out, peak)
}

/// How far above the measured peak an estimate may be.
const SLACK: u64 = 4;

fn check(case: &str, estimate: u64, held: u64, peak: u64) {
    // The input's own bytes were allocated before the measurement: the estimate counts them.
    let peak = peak + held;
    eprintln!(
        "{case}: estimate {} KiB, measured peak {} KiB ({:.2}x)",
        estimate >> 10,
        peak >> 10,
        estimate as f64 / peak.max(1) as f64
    );
    assert!(
        estimate >= peak,
        "{case}: estimate {estimate} is below the measured peak {peak}"
    );
    assert!(
        estimate <= SLACK * peak + (8 << 20),
        "{case}: estimate {estimate} is more than {SLACK}x the measured peak {peak}"
    );
}

fn js_case(case: &str, map: &str, minified: Option<&str>) {
    let minified_len = minified.map_or(0, |m| m.len() as u64);
    let shape = symx_sourcemap::measure(map.as_bytes()).expect("measures");
    let estimate = shape.build_bytes(minified.map(str::as_bytes));
    measured(case, estimate, map.len() as u64 + minified_len, || {
        symx_sourcemap::build_index(map.as_bytes(), minified.map(str::as_bytes))
    });
}

/// A VLQ digit string of `v` (base64 VLQ of a signed value).
fn vlq(out: &mut String, v: i64) {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut n = if v < 0 { ((-v) << 1) | 1 } else { v << 1 } as u64;
    loop {
        let mut digit = (n & 31) as usize;
        n >>= 5;
        if n > 0 {
            digit |= 32;
        }
        out.push(B64[digit] as char);
        if n == 0 {
            break;
        }
    }
}

/// A bundle-shaped map: `sources` files with their content, `names`, and `lines` generated
/// lines of `per_line` segments, most of them naming a name.
fn bundle_map(sources: usize, names: usize, lines: usize, per_line: usize) -> (String, String) {
    let mut map = String::from(r#"{"version":3,"file":"app.min.js","sources":["#);
    for s in 0..sources {
        let _ = write!(
            map,
            "{}\"webpack://app/src/module{s}/index.ts\"",
            if s > 0 { "," } else { "" }
        );
    }
    map.push_str(r#"],"sourcesContent":["#);
    for s in 0..sources {
        let _ = write!(map, "{}\"", if s > 0 { "," } else { "" });
        for l in 0..60 {
            let _ = write!(
                map,
                "export function f{s}_{l}(a, b) {{ return a + b * {l}; }}\\n"
            );
        }
        map.push('"');
    }
    map.push_str(r#"],"names":["#);
    for n in 0..names {
        let _ = write!(map, "{}\"name{n}\"", if n > 0 { "," } else { "" });
    }
    map.push_str(r#"],"mappings":""#);
    let mut minified = String::new();
    let (mut src, mut name, mut src_line) = (0i64, 0i64, 0i64);
    for line in 0..lines {
        if line > 0 {
            map.push(';');
            minified.push('\n');
        }
        for seg in 0..per_line {
            if seg > 0 {
                map.push(',');
            }
            vlq(&mut map, if seg == 0 { 0 } else { 7 });
            let next_src = ((line * 7 + seg) % sources) as i64;
            vlq(&mut map, next_src - src);
            src = next_src;
            let next_line = ((line + seg) % 60) as i64;
            vlq(&mut map, next_line - src_line);
            src_line = next_line;
            vlq(&mut map, 0);
            if seg % 3 != 2 {
                let next_name = ((line * 31 + seg) % names) as i64;
                vlq(&mut map, next_name - name);
                name = next_name;
            }
            minified.push_str("a.b(c,d);");
        }
    }
    map.push_str("\"}");
    (map, minified)
}

#[test]
fn a_bundle_map_with_its_minified_file() {
    let _one = one_at_a_time();
    let (map, minified) = bundle_map(400, 20_000, 2_000, 150);
    js_case("bundle", &map, Some(&minified));
}

#[test]
fn a_bundle_map_alone() {
    let _one = one_at_a_time();
    let (map, _) = bundle_map(2_000, 50_000, 500, 400);
    js_case("bundle without minified file", &map, None);
}

/// A names or sources array of `n` one-letter strings (the hostile shape of issue 11).
fn tiny_strings_map(field: &str, n: usize) -> String {
    let mut map = String::from(r#"{"version":3,"mappings":"AAAA","#);
    let other = if field == "names" { "sources" } else { "names" };
    let _ = write!(map, r#""{other}":["x"],"{field}":["#);
    for i in 0..n {
        map.push_str(if i > 0 { ",\"a\"" } else { "\"a\"" });
    }
    map.push_str("]}");
    map
}

#[test]
fn a_names_array_of_tiny_strings() {
    let _one = one_at_a_time();
    js_case("names array", &tiny_strings_map("names", 1_000_000), None);
}

#[test]
fn a_sources_array_of_tiny_strings() {
    let _one = one_at_a_time();
    js_case("sources array", &tiny_strings_map("sources", 500_000), None);
}

#[test]
fn an_index_map_reaching_far_lines() {
    let _one = one_at_a_time();
    let map = r#"{"version":3,"sections":[{"offset":{"line":2000000,"column":0},"map":{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA;AACA"}}]}"#;
    js_case("index map at line 2,000,000", map, None);
}

#[test]
fn an_index_map_of_many_sections() {
    let _one = one_at_a_time();
    let mut map = String::from(r#"{"version":3,"sections":["#);
    for s in 0..2_000 {
        let _ = write!(
            map,
            r#"{}{{"offset":{{"line":{},"column":0}},"map":{{"version":3,"sources":["s{s}.js"],"names":["n{s}"],"mappings":"AAAAA,EAAEA,EAAEA;AACAA,EAAEA"}}}}"#,
            if s > 0 { "," } else { "" },
            s * 3
        );
    }
    map.push_str("]}");
    js_case("index map of 2,000 sections", &map, None);
}

#[test]
fn a_minified_file_of_empty_lines() {
    let _one = one_at_a_time();
    let minified = "\n".repeat(2_000_000);
    let map = r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}"#;
    js_case(
        "minified file of 2,000,000 empty lines",
        map,
        Some(&minified),
    );
}

fn jvm_case(case: &str, mapping: &str) {
    let estimate = symx_proguard::estimate_build_memory(mapping.as_bytes()).bytes;
    measured(case, estimate, mapping.len() as u64, || {
        symx_proguard::build_index(mapping.as_bytes())
    });
}

/// An R8-shaped mapping: classes with fields, methods with line ranges and inline chains.
fn r8_mapping(classes: usize) -> String {
    let mut out = String::from("# compiler: R8\n# compiler_version: 8.2.42\n");
    for c in 0..classes {
        let _ = writeln!(
            out,
            "com.example.feature{}.ui.Screen{c}Presenter -> a{}.b{}:",
            c / 50,
            c / 50,
            c % 50
        );
        let _ = writeln!(
            out,
            "# {{\"id\":\"sourceFile\",\"fileName\":\"Screen{c}Presenter.kt\"}}"
        );
        let _ = writeln!(out, "    java.lang.String title -> a");
        let mut line = 1;
        for m in 0..12u32 {
            let name = ["a", "b", "c", "d", "e", "f"][(m % 6) as usize];
            let orig = 20 + m * 15;
            let _ = writeln!(
                out,
                "    {line}:{}:void onEvent{m}(android.os.Bundle,int):{orig}:{} -> {name}",
                line + 4,
                orig + 4
            );
            line += 5;
            if m % 3 == 0 {
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
                line += 1;
            }
        }
    }
    out
}

#[test]
fn an_r8_mapping() {
    let _one = one_at_a_time();
    jvm_case("R8 mapping", &r8_mapping(3_000));
}

#[test]
fn a_mapping_of_one_member_classes() {
    let _one = one_at_a_time();
    let mut out = String::new();
    for c in 0..100_000 {
        let _ = writeln!(out, "c{c} -> a{c}:\n    1:1:void m():1:1 -> a");
    }
    jvm_case("mapping of 100,000 one-member classes", &out);
}

#[test]
fn a_mapping_of_one_overloaded_name() {
    let _one = one_at_a_time();
    // Every method of one class obfuscated to `a`, each in its own line range: the
    // alternatives table lists them all.
    let mut out = String::from("com.example.Big -> a:\n");
    for m in 0..100_000 {
        let _ = writeln!(
            out,
            "    {}:{}:void method{m}():{m}:{m} -> a",
            m * 2 + 1,
            m * 2 + 2
        );
    }
    jvm_case("mapping of one overloaded name", &out);
}

#[test]
fn an_il2cpp_mapping() {
    let _one = one_at_a_time();
    let mut json = String::from("{");
    for f in 0..200 {
        let _ = write!(
            json,
            "{}\"Bulk_Generics_{f}.cpp\":{{\"Assets/Scripts/S{f}.cs\":{{",
            if f > 0 { "," } else { "" }
        );
        for l in 0..2_000 {
            let _ = write!(
                json,
                "{}\"{}\":{}",
                if l > 0 { "," } else { "" },
                l * 3 + 1,
                l + 10
            );
        }
        json.push_str("}}");
    }
    json.push('}');
    let estimate = symx_il2cpp::estimate_build_memory(json.len() as u64);
    measured("IL2CPP mapping", estimate, json.len() as u64, || {
        symx_il2cpp::build_index(json.as_bytes())
    });
}

/// A C program of `functions` functions with inlined helpers and structs, compiled by gcc
/// with DWARF 5 at -O2 (the shape of a release build with debug information).
fn compiled_program(functions: usize) -> Vec<u8> {
    compiled_program_with(functions, &[])
}

/// [`compiled_program`] with more gcc arguments.
fn compiled_program_with(functions: usize, args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = String::from("#include <stdio.h>\n");
    for f in 0..functions {
        let _ = write!(
            c,
            "struct s{f} {{ int a; long b; const char *name; double v[4]; }};\n\
             static inline int helper{f}(struct s{f} *p, int x) {{ return p->a * x + (int)p->b; }}\n\
             __attribute__((noinline)) int fn{f}(int x) {{\n\
               struct s{f} s = {{ x, x * 2L, \"fn{f}\", {{ 1.0, 2.0, 3.0, 4.0 }} }};\n\
               int acc = 0;\n\
               for (int i = 0; i < x; i++) acc += helper{f}(&s, i);\n\
               if (acc > 1000) printf(\"%s %d\\n\", s.name, acc);\n\
               return acc;\n\
             }}\n"
        );
    }
    c.push_str("int main(int argc, char **argv) {\n  int t = 0;\n");
    for f in 0..functions {
        let _ = writeln!(c, "  t += fn{f}(argc);");
    }
    c.push_str("  return t == 42;\n}\n");
    let src = dir.path().join("prog.c");
    std::fs::write(&src, c).expect("write source");
    let out = dir.path().join("prog");
    let status = std::process::Command::new("gcc")
        .args(["-g", "-gdwarf-5", "-O2"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc runs (scripts/setup.sh installs it)");
    assert!(status.success(), "gcc failed");
    std::fs::read(out).expect("read program")
}

#[test]
fn a_native_program_with_dwarf() {
    let _one = one_at_a_time();
    let program = compiled_program(4_000);
    let estimate = symx_native::estimate_build_memory(&program);
    let case = format!("ELF of {} bytes with DWARF", program.len());
    measured(&case, estimate, program.len() as u64, || {
        symx_native::build_all(&program)
    });
}

#[test]
fn a_native_program_with_compressed_dwarf() {
    let _one = one_at_a_time();
    let program = compiled_program_with(2_000, &["-gz=zlib"]);
    let estimate = symx_native::estimate_build_memory(&program);
    let case = format!("ELF of {} bytes with zlib-compressed DWARF", program.len());
    measured(&case, estimate, program.len() as u64, || {
        symx_native::build_all(&program)
    });
}

/// A compressed section's header states its inflated size, and that size is allocated before
/// anything is inflated: a header claiming a terabyte would abort the process (allocation
/// failure) on a few bytes of input. Such a section is not read; the build takes what the
/// file's size allows, whatever the claim.
#[test]
fn a_compressed_section_claiming_a_terabyte() {
    use object::{Object as _, ObjectSection as _};
    let _one = one_at_a_time();
    let mut program = compiled_program_with(200, &["-gz=zlib"]);
    let (offset, flags) = {
        let file = object::File::parse(&*program).expect("gcc's ELF parses");
        let info = file.section_by_name(".debug_info").expect(".debug_info");
        let (offset, _) = info.file_range().expect("in the file");
        (offset as usize, info.flags())
    };
    assert!(
        matches!(flags, object::SectionFlags::Elf { sh_flags } if sh_flags & 0x800 != 0),
        "gcc -gz=zlib compresses .debug_info (SHF_COMPRESSED)"
    );
    // Elf64_Chdr: ch_type (4), ch_reserved (4), ch_size (8), ch_addralign (8).
    program[offset + 8..offset + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let estimate = symx_native::estimate_build_memory(&program);
    assert!(
        estimate < 100 * program.len() as u64 + (64 << 20),
        "the estimate follows the file's size, not the claim: {estimate}"
    );
    let (built, peak) = peak_of(|| symx_native::build_all(&program));
    eprintln!(
        "compressed section claiming 1 TiB in {} bytes: {}, peak {} KiB",
        program.len(),
        match &built {
            Ok(all) => format!("{} index(es) built", all.len()),
            Err(e) => e.to_string(),
        },
        peak >> 10
    );
    assert!(
        peak <= estimate,
        "peak {peak} above the estimate {estimate} for a claim the build refuses"
    );
}

/// An executable whose DWARF (assembled by gcc from hand-written directives) has one line
/// table of `rows` rows, one per byte of code, and `subprograms` subprograms all starting at
/// the first row and each one byte longer than the last: every subprogram takes a copy of
/// the rows it covers, `subprograms * rows / 2` in all from a few bytes each. With `units`
/// above 1, as many more compilation units name the same line program and hold nothing else.
fn overlapping_dwarf(rows: usize, subprograms: usize, units: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = String::from(".file 1 \"hostile.c\"\n.text\n.globl f0\nf0:\n");
    for i in 0..rows {
        let _ = writeln!(s, ".loc 1 {}\nnop", i + 1);
    }
    s.push_str(
        ".Lend:\n.section .debug_abbrev,\"\",@progbits\n.Labbrev:\n\
         .uleb128 1\n.uleb128 0x11\n.byte 1\n.uleb128 0x10\n.uleb128 0x17\n\
         .uleb128 0x11\n.uleb128 0x01\n.uleb128 0x12\n.uleb128 0x01\n.byte 0\n.byte 0\n\
         .uleb128 2\n.uleb128 0x2e\n.byte 0\n.uleb128 0x03\n.uleb128 0x08\n\
         .uleb128 0x11\n.uleb128 0x01\n.uleb128 0x12\n.uleb128 0x0f\n.byte 0\n.byte 0\n.byte 0\n\
         .section .debug_line,\"\",@progbits\n.Lline:\n.section .debug_info,\"\",@progbits\n",
    );
    for unit in 0..units {
        let _ = writeln!(
            s,
            ".long .Lu{unit}_end - .Lu{unit}\n.Lu{unit}:\n.value 4\n.long .Labbrev\n.byte 8\n\
             .uleb128 1\n.long .Lline\n.quad f0\n.quad .Lend"
        );
        if unit == 0 {
            for k in 1..=subprograms {
                let _ = writeln!(s, ".uleb128 2\n.asciz \"f\"\n.quad f0\n.uleb128 {k}");
            }
        }
        let _ = writeln!(s, ".byte 0\n.Lu{unit}_end:");
    }
    let src = dir.path().join("hostile.s");
    std::fs::write(&src, s).expect("write source");
    let out = dir.path().join("hostile");
    let status = std::process::Command::new("gcc")
        .args(["-nostdlib", "-static", "-Wl,-e,f0", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc runs (scripts/setup.sh installs it)");
    assert!(status.success(), "gcc failed");
    std::fs::read(out).expect("read program")
}

/// Runs a build that must be refused and returns its error and peak allocation.
fn refused(program: &[u8]) -> (String, u64) {
    let (built, peak) = peak_of(|| symx_native::build_all(program));
    let error = built
        .map(|_| ())
        .expect_err("the build is refused")
        .to_string();
    eprintln!(
        "{} bytes refused: {error}; peak {} KiB",
        program.len(),
        peak >> 10
    );
    (error, peak)
}

/// 4,000 rows and 4,000 overlapping subprograms: 8 million line records (about 600 MB in
/// symbolic's functions) from 65 KB. Refused before symbolic reads the unit, within the
/// estimate.
#[test]
fn subprograms_sharing_one_line_table() {
    let _one = one_at_a_time();
    let program = overlapping_dwarf(4_000, 4_000, 1);
    let estimate = symx_native::estimate_build_memory(&program);
    let (error, peak) = refused(&program);
    assert!(
        error.contains("subprograms of the unit at .debug_info offset 0x0"),
        "{error}"
    );
    assert!(
        peak <= estimate,
        "peak {peak} above the estimate {estimate}"
    );
}

/// 20,000 rows read once per unit by 3,000 units naming the same line program: 60 million
/// rows parsed. Refused before symbolic reads them.
#[test]
fn units_sharing_one_line_program() {
    let _one = one_at_a_time();
    let program = overlapping_dwarf(20_000, 1, 3_000);
    let estimate = symx_native::estimate_build_memory(&program);
    let (error, peak) = refused(&program);
    assert!(error.contains("line programs of"), "{error}");
    assert!(
        peak <= estimate,
        "peak {peak} above the estimate {estimate}"
    );
}

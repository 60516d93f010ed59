//! Differential test: for every ELF fixture, thousands of addresses spread over its executable
//! sections (and every function symbol's first byte) are resolved by our index and by
//! `llvm-symbolizer-14 --inlining`, run now on the same file. Where the two differ, binutils'
//! `addr2line -i` is asked too: symx follows it on purpose in the cases the references
//! disagree on (see `tests/fixtures/native/edges/README.md`: the DWARF name of a cold part or
//! a clone, `foo` for `foo.cold`; nothing for addresses outside every function, where
//! llvm-symbolizer names the nearest symbol, `_init` for the PLT). The test prints, per
//! fixture, the rate of agreement with llvm-symbolizer and with at least one of the two
//! references (`cargo test --test differential -- --nocapture`), and the second must not fall
//! below the rate measured when the index was written; the disagreements are printed by kind
//! with examples.
//!
//! Two frames agree when their lines and files are equal and their function names are equal
//! after the same normalisation on both sides: argument lists dropped, Rust legacy escapes
//! (`$LT$`, `..`) and hashes (`::h0123456789abcdef`), which llvm-symbolizer 14 leaves in,
//! undone, and, for an inlined frame, the last `::` component compared (llvm-symbolizer names
//! inlined C++ frames by their short DWARF name). An address agrees when both answer the same
//! number of frames and every frame agrees, or both answer no function.

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SectionKind, SymbolKind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use symx_native::{NativeIndex, build_index};

/// Fixture and the lowest rate of agreement with at least one reference it may have (what was
/// measured, rounded down).
const CASES: &[(&str, f64)] = &[
    ("elf/crash", 0.975),
    // A split debug file has no code bytes: its addresses are sampled from the binary.
    ("elf/crash.debug", 0.975),
    ("edges/edges", 0.97),
    ("edges/edges-dwarf4", 0.97),
    ("edges/edges-clang", 0.98),
    ("edges/edges-symtab", 0.995),
    ("langs/rust", 0.995),
    ("langs/templates", 0.985),
    ("langs/libdynsym.so", 0.995),
    ("android/libnative.so", 0.995),
    ("go/app", 0.995),
];

/// The file whose executable sections give a fixture's sample addresses: the fixture itself,
/// or for a split `.debug` file (its sections hold no code) the binary beside it.
fn code_file(name: &str) -> PathBuf {
    match name.strip_suffix(".debug") {
        Some(binary) => path(binary),
        None => path(name),
    }
}

/// Addresses sampled per fixture, besides every function symbol's first byte.
const SAMPLES: u64 = 4000;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/native")
        .join(name)
}

#[derive(Clone, Debug, PartialEq)]
struct Frame {
    function: String,
    file: String,
    line: u32,
}

fn samples(bytes: &[u8]) -> Vec<u64> {
    let file = object::File::parse(bytes).expect("an object file");
    let texts: Vec<(u64, u64)> = file
        .sections()
        .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
        .map(|s| (s.address(), s.size()))
        .collect();
    let total: u64 = texts.iter().map(|t| t.1).sum();
    let step = (total / SAMPLES).max(1);
    let mut out: Vec<u64> = texts
        .iter()
        .flat_map(|&(a, n)| (0..n).step_by(step as usize).map(move |o| a + o))
        .collect();
    out.extend(
        file.symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() > 0)
            .map(|s| s.address()),
    );
    out.sort_unstable();
    out.dedup();
    out
}

/// Runs a reference tool (installed by scripts/setup.sh) with one address per line on its
/// stdin (written from another thread, so a full pipe cannot stall it) and returns its stdout.
fn run_tool(command: &mut Command, addrs: &[u64]) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} runs (installed by scripts/setup.sh): {e}"));
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the tool's output");
    writer.join().expect("writer").expect("write addresses");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn llvm_symbolizer(file: &Path, addrs: &[u64]) -> Vec<Vec<Frame>> {
    let text = run_tool(
        Command::new("llvm-symbolizer-14")
            .args(["--inlining", "--demangle", "--output-style=JSON"])
            .arg(format!("--obj={}", file.display())),
        addrs,
    );
    let answers: Vec<Vec<Frame>> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let frames: Vec<Frame> = v["Symbol"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| Frame {
                            function: s["FunctionName"].as_str().unwrap_or("").to_owned(),
                            file: s["FileName"].as_str().unwrap_or("").to_owned(),
                            line: s["Line"].as_u64().unwrap_or(0) as u32,
                        })
                        .collect()
                })
                .unwrap_or_default();
            // One empty frame: llvm-symbolizer found nothing.
            if frames.len() == 1 && frames[0].function.is_empty() && frames[0].file.is_empty() {
                Vec::new()
            } else {
                frames
            }
        })
        .collect();
    assert_eq!(answers.len(), addrs.len(), "one answer per address");
    answers
}

/// binutils' answers: `addr2line -a -i -f -C`, an address line, then a function line and a
/// `file:line` line per frame (`??` and `??:0`: nothing; ` (discriminator N)` dropped).
fn addr2line(file: &Path, addrs: &[u64]) -> Vec<Vec<Frame>> {
    let text = run_tool(
        Command::new("addr2line")
            .args(["-a", "-i", "-f", "-C", "-e"])
            .arg(file),
        addrs,
    );
    let mut answers: Vec<Vec<Frame>> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        assert!(line.starts_with("0x"), "an address line: {line}");
        let mut frames = Vec::new();
        while lines.peek().is_some_and(|l| !l.starts_with("0x")) {
            let function = lines.next().unwrap_or_default();
            let location = lines.next().unwrap_or_default();
            let location = location.split(" (discriminator").next().unwrap_or(location);
            let (file, line) = location.rsplit_once(':').unwrap_or((location, "0"));
            if function == "??" && file == "??" {
                continue;
            }
            frames.push(Frame {
                function: if function == "??" {
                    String::new()
                } else {
                    function.to_owned()
                },
                file: if file == "??" {
                    String::new()
                } else {
                    file.to_owned()
                },
                line: line.parse().unwrap_or(0),
            });
        }
        answers.push(frames);
    }
    assert_eq!(answers.len(), addrs.len(), "one answer per address");
    answers
}

/// A Rust legacy name as llvm-symbolizer 14 prints it (`_$LT$a..B$u20$as$u20$c..D$GT$::f::h0123`)
/// made readable the way demanglers do: escapes undone, `..` as `::`, the hash dropped.
fn unescape_rust(name: &str) -> String {
    // A path segment starting with an escape is written `_$...`.
    let mut s = name.replace("::_$", "::$");
    if let Some(rest) = s.strip_prefix("_$") {
        s = format!("${rest}");
    }
    for (from, to) in [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$u20$", " "),
        ("$C$", ","),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$LP$", "("),
        ("$RP$", ")"),
        ("$u27$", "'"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u7e$", "~"),
        ("$SP$", "@"),
        ("..", "::"),
    ] {
        s = s.replace(from, to);
    }
    if let Some((head, hash)) = s.rsplit_once("::h")
        && hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        s = head.to_owned();
    }
    s
}

/// A name without the clone annotation demanglers append (` [clone .constprop.0]` from
/// binutils, ` (.constprop.0)` from llvm): symx names a clone after its function.
fn without_clone_note(mut name: &str) -> &str {
    loop {
        let before = name;
        if let Some(i) = name.rfind(" [clone .").filter(|_| name.ends_with(']')) {
            name = &name[..i];
        }
        if let Some(i) = name.rfind(" (.").filter(|_| name.ends_with(')')) {
            name = &name[..i];
        }
        if name == before {
            return name;
        }
    }
}

/// A C++ lambda the way llvm's demangler spells it (`'lambda'(auto&, auto&)`) instead of
/// GNU's (`{lambda(auto:1&, auto:2&)#1}`, what symx and binutils print).
fn llvm_lambdas(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find("{lambda(") {
        out.push_str(&rest[..i]);
        out.push_str("'lambda'(");
        rest = &rest[i + "{lambda(".len()..];
        let Some(close) = rest.find(")#") else { break };
        let args = &rest[..close];
        let mut cleaned = String::new();
        let mut chars = args.chars().peekable();
        while let Some(c) = chars.next() {
            cleaned.push(c);
            if cleaned.ends_with("auto") && chars.peek() == Some(&':') {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                    chars.next();
                }
            }
        }
        out.push_str(&cleaned);
        out.push(')');
        rest = &rest[close + 2..];
        rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        rest = rest.strip_prefix('}').unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

fn normalized(name: &str) -> String {
    let name = llvm_lambdas(&unescape_rust(without_clone_note(name)));
    match symx_native::split_signature(&name) {
        Some((n, _)) => n.to_owned(),
        None => name,
    }
}

fn last_component(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

fn functions_agree(ours: &str, theirs: &str, inlined: bool) -> bool {
    let (a, b) = (normalized(ours), normalized(theirs));
    a == b || (inlined && last_component(&a) == last_component(&b))
}

/// What differs between our frames and a reference's; `None` when they agree.
fn difference(got: &[symx_native::NativeFrame<'_>], want: &[Frame]) -> Option<&'static str> {
    if got.len() != want.len() {
        return Some("frame count");
    }
    got.iter().zip(want).find_map(|(g, w)| {
        if !w.function.is_empty() && !functions_agree(g.function, &w.function, g.inlined) {
            Some("function")
        } else if g.line != w.line {
            Some("line")
        } else if g.file.unwrap_or_default() != w.file {
            Some("file")
        } else {
            None
        }
    })
}

#[test]
fn answers_agree_with_llvm_symbolizer_on_sampled_addresses() {
    let mut failures = Vec::new();
    for &(name, min_rate) in CASES {
        let file = path(name);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let built = build_index(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let idx = NativeIndex::open(built.bytes).expect("opens");
        let code = code_file(name);
        let addrs =
            samples(&std::fs::read(&code).unwrap_or_else(|e| panic!("{}: {e}", code.display())));
        let llvm = llvm_symbolizer(&file, &addrs);
        let mut with_llvm = 0usize;
        let mut disagreeing = Vec::new();
        for (&addr, want) in addrs.iter().zip(&llvm) {
            let got: Vec<_> = idx.lookup_vaddr(addr).collect();
            match difference(&got, want) {
                None => with_llvm += 1,
                Some(kind) => disagreeing.push((addr, kind, want, got)),
            }
        }
        // The addresses llvm-symbolizer answers differently: does addr2line answer as we do?
        let asked: Vec<u64> = disagreeing.iter().map(|d| d.0).collect();
        let binutils = addr2line(&file, &asked);
        let mut kinds: std::collections::BTreeMap<String, (usize, Vec<String>)> =
            Default::default();
        let mut with_binutils = 0usize;
        for ((addr, kind, want, got), theirs) in disagreeing.iter().zip(&binutils) {
            let label = match difference(got, theirs) {
                None => {
                    with_binutils += 1;
                    format!("{kind} (symx answers as addr2line)")
                }
                Some(_) => format!("{kind} (from both references)"),
            };
            let e = kinds.entry(label).or_default();
            e.0 += 1;
            if e.1.len() < 3 {
                let ours: Vec<String> = got
                    .iter()
                    .map(|f| format!("{} {}:{}", f.function, f.file.unwrap_or("??"), f.line))
                    .collect();
                let want: Vec<String> = want
                    .iter()
                    .map(|f| format!("{} {}:{}", f.function, f.file, f.line))
                    .collect();
                let binutils: Vec<String> = theirs
                    .iter()
                    .map(|f| format!("{} {}:{}", f.function, f.file, f.line))
                    .collect();
                e.1.push(format!(
                    "{addr:#x}: symx {ours:?} / llvm-symbolizer {want:?} / addr2line {binutils:?}"
                ));
            }
        }
        let n = addrs.len() as f64;
        let rate = (with_llvm + with_binutils) as f64 / n;
        println!(
            "{name}: {} addresses; agree with llvm-symbolizer {with_llvm} ({:.2}%), with \
             llvm-symbolizer or addr2line {} ({:.2}%)",
            addrs.len(),
            with_llvm as f64 / n * 100.0,
            with_llvm + with_binutils,
            rate * 100.0
        );
        for (kind, (count, examples)) in &kinds {
            println!("  {count} differ in {kind}, e.g.");
            for e in examples {
                println!("    {e}");
            }
        }
        if rate < min_rate {
            failures.push(format!(
                "{name}: {:.2}% < {:.0}%",
                rate * 100.0,
                min_rate * 100.0
            ));
        }
    }
    assert!(failures.is_empty(), "agreement fell: {failures:?}");
}

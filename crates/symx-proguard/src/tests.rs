//! Unit tests: the ProGuard fixture against ProGuard's own retrace, and R8 metadata cases as
//! small mappings of our own, each citing the rule of the R8 retrace specification
//! (r8/doc/retrace.md, "Additional information in mapping files") it checks.

use super::*;

fn index(mapping: &str) -> JvmIndex<Vec<u8>> {
    JvmIndex::open(build_index(mapping.as_bytes()).expect("build").bytes).expect("open")
}

fn frames(r: Remapped) -> Vec<(String, String, u32)> {
    match r {
        Remapped::Frames { frames, .. } => frames
            .into_iter()
            .map(|f| (f.class.into_owned(), f.method.into_owned(), f.line))
            .collect(),
        other => panic!("expected frames, got {other:?}"),
    }
}

fn t(class: &str, method: &str, line: u32) -> (String, String, u32) {
    (class.to_owned(), method.to_owned(), line)
}

#[test]
fn proguard_fixture_inline_chain_matches_retrace() {
    let mapping = include_str!("../../../tests/fixtures/jvm/proguard/mapping.txt");
    let idx = index(mapping);
    let mut st = TraceState::thrown(Some("com.shop.cart.InvalidQuantityException"));
    // `at com.shop.a.a.a(SourceFile:1028)`: retrace says checked:28 <- priceOf:23 <- total:17.
    let got = frames(idx.remap_frame(&mut st, "com.shop.a.a", "a", 1028, Some("SourceFile")));
    assert_eq!(
        got,
        [
            t("com.shop.cart.Cart", "checked", 28),
            t("com.shop.cart.Cart", "priceOf", 23),
            t("com.shop.cart.Cart", "total", 17)
        ]
    );
    assert_eq!(
        idx.remap_class("com.shop.a.b").as_deref(),
        Some("com.shop.cart.InvalidQuantityException")
    );
    assert_eq!(
        idx.remap_classes_in("com.shop.a.c cannot be cast to com.shop.a.b."),
        "com.shop.cart.LineItem cannot be cast to com.shop.cart.InvalidQuantityException."
    );
}

/// A mapping entry with an original line range but no obfuscated range: the crate lists the
/// method once per original line. Those are the possible lines of one method, alternatives,
/// never an inline chain of the method into itself.
#[test]
fn one_method_at_several_possible_lines_is_ambiguous_not_inlined() {
    let idx = index("com.shop.Cart -> a:\n    void add(int):10:12 -> a\n");
    // A frame with a line the mapping cannot place: lines 10, 11 and 12 of `add`.
    match idx.remap_frame(&mut TraceState::default(), "a", "a", 5, None) {
        Remapped::Frames { frames, ambiguous } => {
            let lines: Vec<u32> = frames.iter().map(|f| f.line).collect();
            assert_eq!(lines, [10, 11, 12], "{frames:?}");
            assert!(frames.iter().all(|f| f.method == "add"), "{frames:?}");
            assert!(ambiguous, "{frames:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// A mapping without line information (ProGuard run without `LineNumberTable`): two methods
/// renamed to one name cannot be told apart, so both are candidates.
#[test]
fn frames_without_lines_list_every_candidate_as_ambiguous() {
    let idx = index("com.shop.Cart -> a:\n    void add(int) -> a\n    long total() -> a\n");
    match idx.remap_frame(&mut TraceState::default(), "a", "a", 0, None) {
        Remapped::Frames { frames, ambiguous } => {
            assert!(ambiguous, "{frames:?}");
            let methods: Vec<&str> = frames.iter().map(|f| f.method.as_ref()).collect();
            assert!(
                methods.contains(&"add") && methods.contains(&"total"),
                "{methods:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        idx.remap_frame(&mut TraceState::default(), "zz", "a", 3, None),
        Remapped::Unknown
    );
}

/// Spec, "rewriteFrame": `conditions: ["throws(Ljava/lang/NullPointerException;)"]` with
/// `actions: ["removeInnerFrames(1)"]` removes the innermost frame of the first frame's inline
/// chain when that exception is thrown (and only then).
#[test]
fn r8_rewrite_frame_removes_inner_frames_for_the_named_exception() {
    let idx = index(
        "# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.0\"}\n\
         com.shop.Checkout -> b:\n\
         \x20   7:7:java.lang.String com.shop.Order.id():31:31 -> c\n\
         \x20   7:7:void pay(com.shop.Order):52 -> c\n\
         \x20   # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"throws(Ljava/lang/NullPointerException;)\"],\"actions\":[\"removeInnerFrames(1)\"]}\n",
    );
    let mut npe = TraceState::thrown(Some("java.lang.NullPointerException"));
    assert_eq!(
        frames(idx.remap_frame(&mut npe, "b", "c", 7, None)),
        [t("com.shop.Checkout", "pay", 52)]
    );
    let mut other = TraceState::thrown(Some("java.lang.IllegalStateException"));
    assert_eq!(
        frames(idx.remap_frame(&mut other, "b", "c", 7, None)),
        [
            t("com.shop.Order", "id", 31),
            t("com.shop.Checkout", "pay", 52)
        ]
    );
}

/// Spec, "outline" and "outlineCallsite": a frame in an outline method is dropped and its
/// position carried to the next frame, the callsite, whose `positions` map turns the outline
/// position into the callsite's own line before remapping.
#[test]
fn r8_outline_frames_fold_into_their_callsite() {
    let idx = index(
        "# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.0\"}\n\
         com.shop.Outlines -> o:\n\
         \x20   1:2:int outline0():0:0 -> a\n\
         \x20   # {\"id\":\"com.android.tools.r8.outline\"}\n\
         com.shop.Checkout -> b:\n\
         \x20   10:10:void pay():40:40 -> b\n\
         \x20   11:11:void pay():41:41 -> b\n\
         \x20   20:21:void pay():0:0 -> b\n\
         \x20   # {\"id\":\"com.android.tools.r8.outlineCallsite\",\"positions\":{\"1\":10,\"2\":11},\"outline\":\"Lo;a()I\"}\n",
    );
    let mut st = TraceState::thrown(Some("java.lang.RuntimeException"));
    assert_eq!(
        idx.remap_frame(&mut st, "o", "a", 2, None),
        Remapped::Outline
    );
    assert_eq!(
        frames(idx.remap_frame(&mut st, "b", "b", 21, None)),
        [t("com.shop.Checkout", "pay", 41)]
    );
}

/// Spec, "synthesized": a member marked `com.android.tools.r8.synthesized` is compiler-made;
/// in an inline chain with real frames it is not shown.
#[test]
fn r8_synthesized_members_leave_inline_chains() {
    let idx = index(
        "# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.0\"}\n\
         com.shop.Cart -> c:\n\
         \x20   1:1:void lambda$total$0(com.shop.Item):0:0 -> a\n\
         \x20   # {\"id\":\"com.android.tools.r8.synthesized\"}\n\
         \x20   1:1:void total():15:15 -> a\n",
    );
    assert_eq!(
        frames(idx.remap_frame(&mut TraceState::default(), "c", "a", 1, None)),
        [t("com.shop.Cart", "total", 15)]
    );
}

#[test]
fn malformed_mappings_name_the_line() {
    let err = |s: &str| {
        build_index(s.as_bytes())
            .expect_err("must fail")
            .to_string()
    };
    let e = err("com.a.B -> a:\n    1:2:void x() -> a\n    this is not a mapping line\n");
    assert!(e.contains("line 3"), "{e}");
    let e = err("{\"version\":3,\"mappings\":\"AAAA\"}\n");
    assert!(
        e.contains("line 1") || e.contains("no class mapping"),
        "{e}"
    );
    let e = err("");
    assert!(e.contains("no class mapping"), "{e}");
    let e = err("com.a.B -> a:\n\u{0}\u{ff}");
    assert!(e.starts_with("invalid ProGuard mapping"), "{e}");
}

/// ProGuard gives methods with their own line ranges one obfuscated name: a frame without a
/// line is any of them (ProGuard's retrace lists them all), while one with a line is the one
/// whose range holds it. Members sharing a range (an R8 inline chain) are one candidate, the
/// outermost.
#[test]
fn frames_without_lines_list_every_method_of_the_name() {
    let idx = index(
        "com.shop.Cart -> a:\n    10:12:void add(int) -> a\n    20:25:long total() -> a\n    \
         30:31:void inner():40:41 -> a\n    30:31:void outer():50 -> a\n",
    );
    match idx.remap_frame(&mut TraceState::default(), "a", "a", 0, None) {
        Remapped::Frames { frames, ambiguous } => {
            let methods: Vec<&str> = frames.iter().map(|f| f.method.as_ref()).collect();
            assert_eq!(methods, ["add", "total", "outer"], "{frames:?}");
            assert!(ambiguous);
            assert!(
                frames
                    .iter()
                    .all(|f| f.class == "com.shop.Cart" && f.line == 0)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        frames(idx.remap_frame(&mut TraceState::default(), "a", "a", 21, None)),
        [t("com.shop.Cart", "total", 21)]
    );
    // An index of the older format is told apart from a corrupt one.
    let mut old = build_index(b"com.shop.Cart -> a:\n    void add(int) -> a\n")
        .expect("build")
        .bytes;
    old[7] = b'1';
    assert!(matches!(JvmIndex::open(old), Err(Error::IndexVersion(_))));
}

/// The proguard crate's `ProguardCache` as symx used it before the index was its own
/// (SYMXJVM3 answered every frame outside the member table's ranges this way): the reference
/// the index is compared with, frame by frame.
struct Reference<'d> {
    cache: proguard::ProguardCache<'d>,
}

#[derive(Default, Clone)]
struct ReferenceState {
    exception_descriptor: Option<String>,
    first_after_exception: bool,
    carried_outline: Option<usize>,
}

impl<'d> Reference<'d> {
    fn remap<'a, B: AsRef<[u8]>>(
        &'a self,
        idx: &'a JvmIndex<B>,
        state: &mut ReferenceState,
        class: &str,
        method: &str,
        line: u32,
    ) -> Remapped<'a> {
        use proguard::StackFrame;
        let line = line as usize;
        let frame = StackFrame::with_file(class, method, line, "SourceFile");
        let apply_rewrite = std::mem::take(&mut state.first_after_exception);
        let Some(iter) = self.cache.remap_frame_with_context(
            &frame,
            state.exception_descriptor.as_deref(),
            apply_rewrite,
            &mut state.carried_outline,
        ) else {
            state.first_after_exception = apply_rewrite;
            return Remapped::Outline;
        };
        let had_mappings = iter.had_mappings();
        let mut remapped: Vec<StackFrame<'_>> = iter.collect();
        if remapped.iter().any(|f| !f.method_synthesized()) {
            remapped.retain(|f| !f.method_synthesized());
        }
        let mut frames: Vec<JvmFrame<'_>> = Vec::new();
        for f in remapped {
            let frame = JvmFrame {
                class: Cow::Owned(f.class().to_owned()),
                method: Cow::Owned(f.method().to_owned()),
                file: f.file().map(|s| Cow::Owned(s.to_owned())),
                line: f.line().and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
            };
            if !frames.contains(&frame) {
                frames.push(frame);
            }
        }
        if frames.is_empty() {
            return if had_mappings {
                Remapped::Removed
            } else {
                Remapped::Unknown
            };
        }
        if line == 0 {
            let alternatives = idx.alternatives_of(class, method);
            if alternatives.len() > 1 {
                let file = frames[0].file.clone();
                let first_class = frames[0].class.clone();
                return Remapped::Frames {
                    frames: alternatives
                        .into_iter()
                        .map(|(c, m)| JvmFrame {
                            class: Cow::Borrowed(c),
                            method: Cow::Borrowed(m),
                            file: (c == first_class).then(|| file.clone()).flatten(),
                            line: 0,
                        })
                        .collect(),
                    ambiguous: true,
                };
            }
        }
        let ambiguous = frames.len() > 1
            && (line == 0
                || frames.iter().enumerate().any(|(i, f)| {
                    frames[..i]
                        .iter()
                        .any(|g| (&g.class, &g.method) == (&f.class, &f.method))
                }));
        Remapped::Frames { frames, ambiguous }
    }
}

/// Compares the index with the proguard crate's cache (see [`Reference`]) on `mapping`:
/// every obfuscated method at line 0, at every line of each member's range and one beyond
/// each end, alone, as the first frame after an exception its rewrite rules name (and one
/// they do not), and right after each outline frame of the mapping (its positions and one
/// more). Returns the number of frames compared.
fn agrees_with_proguard_cache(mapping: &str) -> usize {
    let idx = index(mapping);
    let mut cache_bytes = Vec::new();
    proguard::ProguardCache::write(
        &proguard::ProguardMapping::new(mapping.as_bytes()),
        &mut cache_bytes,
    )
    .expect("cache");
    let reference = Reference {
        cache: proguard::ProguardCache::parse(&cache_bytes).expect("parse cache"),
    };
    let mut probes: Vec<(String, String, u32)> = Vec::new();
    let mut outlines: Vec<(String, String)> = Vec::new();
    let mut thrown: Vec<Option<String>> =
        vec![None, Some("java.lang.IllegalStateException".into())];
    let mut class = None;
    let mut last: Option<(String, String)> = None;
    for line in mapping.lines() {
        match proguard::ProguardRecord::try_parse(line.as_bytes()) {
            Ok(proguard::ProguardRecord::Class { obfuscated, .. }) => {
                class = Some(obfuscated);
                last = None;
            }
            Ok(proguard::ProguardRecord::Method {
                obfuscated,
                line_mapping,
                ..
            }) => {
                let Some(c) = class else { continue };
                probes.push((c.to_owned(), obfuscated.to_owned(), 0));
                probes.push((c.to_owned(), obfuscated.to_owned(), 7));
                if let Some((s, e)) = line_mapping.and_then(|l| Some((l.startline?, l.endline?))) {
                    let (s, e) = (s.min(e), s.max(e));
                    for n in s.saturating_sub(1)..=(e + 1).min(s + 300) {
                        probes.push((c.to_owned(), obfuscated.to_owned(), n as u32));
                    }
                }
                last = Some((c.to_owned(), obfuscated.to_owned()));
            }
            Ok(proguard::ProguardRecord::R8Header(_)) => {
                if line.contains("com.android.tools.r8.outline\"")
                    && let Some(l) = &last
                {
                    outlines.push(l.clone());
                }
                if let Some(i) = line.find("throws(L") {
                    let rest = &line[i + 8..];
                    if let Some(end) = rest.find(";)") {
                        thrown.push(Some(rest[..end].replace('/', ".")));
                    }
                }
            }
            Ok(_) => last = None,
            Err(_) => {}
        }
    }
    probes.sort();
    probes.dedup();
    thrown.sort();
    thrown.dedup();
    let mut compared = 0;
    let check =
        |a: &mut TraceState, b: &mut ReferenceState, c: &str, m: &str, line: u32, what: &str| {
            let ours = idx.remap_frame(a, c, m, line, Some("SourceFile"));
            let theirs = reference.remap(&idx, b, c, m, line);
            assert_eq!(ours, theirs, "{c}.{m}:{line} ({what})");
            assert_eq!(
                (
                    a.first_after_exception,
                    a.carried_outline.map(|l| l as usize)
                ),
                (b.first_after_exception, b.carried_outline),
                "{c}.{m}:{line} ({what}): trace state"
            );
        };
    let start = |t: &Option<String>| {
        let ours = TraceState::thrown(t.as_deref());
        let theirs = ReferenceState {
            exception_descriptor: ours.exception_descriptor.clone(),
            first_after_exception: ours.first_after_exception,
            carried_outline: None,
        };
        (ours, theirs)
    };
    for (c, m, line) in &probes {
        for t in &thrown {
            let (mut a, mut b) = start(t);
            check(&mut a, &mut b, c, m, *line, &format!("thrown {t:?}"));
            // The frame after it, as the second frame of the trace.
            check(&mut a, &mut b, c, m, *line, &format!("second after {t:?}"));
            compared += 2;
        }
    }
    // After every outline frame, at positions 0 to 5, every probe.
    for (oc, om) in &outlines {
        for pos in 0..6 {
            for (c, m, line) in probes.iter().filter(|p| p.2 < 20) {
                let (mut a, mut b) = start(&None);
                check(&mut a, &mut b, oc, om, pos, "outline");
                check(
                    &mut a,
                    &mut b,
                    c,
                    m,
                    *line,
                    &format!("after outline line {pos}"),
                );
                compared += 2;
            }
        }
    }
    compared
}

/// A mapping shaped like R8 output with every kind of member line the table reads: inline
/// chains (shared ranges, members of other classes), single-line and ranged original lines,
/// inverted ranges, overlapping ranges of one method, `0:0` and range-less members, one name
/// for several methods, `sourceFile` metadata (Kotlin and Java), `R8$$SyntheticClass`,
/// synthesized classes and methods, `...Kt` classes, inner classes, rewrite rules, outlines.
fn generated_r8_mapping(classes: usize) -> String {
    let mut m = String::from("# {\"id\":\"com.android.tools.r8.mapping\",\"version\":\"2.2\"}\n");
    for c in 0..classes {
        let pkg = format!("com.shop.p{}", c % 7);
        let name = match c % 5 {
            0 => format!("{pkg}.Cart{c}"),
            1 => format!("{pkg}.UtilsKt{c}"),
            2 => format!("{pkg}.Outer{c}$Inner"),
            3 => format!("{pkg}.ComposableSingletons$Screen{c}Kt"),
            _ => format!("{pkg}.Lambda{c}$$ExternalSyntheticLambda0"),
        };
        m.push_str(&format!("{name} -> a.{c}:\n"));
        match c % 4 {
            0 => m.push_str(&format!(
                "# {{\"id\":\"sourceFile\",\"fileName\":\"Cart{c}.kt\"}}\n"
            )),
            1 => m.push_str("# {\"id\":\"sourceFile\",\"fileName\":\"R8$$SyntheticClass\"}\n"),
            2 => m.push_str("# {\"id\":\"com.android.tools.r8.synthesized\"}\n"),
            _ => {}
        }
        m.push_str(&format!("    java.lang.String field{c} -> a\n"));
        let mut at = 1;
        for k in 0..8 {
            let (s, e) = (at, at + k % 3);
            at = e + 1 + (k % 2);
            let method = ["a", "b", "c"][k % 3];
            match k {
                0 => m.push_str(&format!(
                    "    {s}:{e}:void run{k}():{}:{} -> {method}\n",
                    10 + k,
                    10 + k + k % 3
                )),
                1 => {
                    m.push_str(&format!(
                        "    {s}:{e}:int com.shop.Other{c}.helper(int):5:5 -> {method}\n"
                    ));
                    m.push_str(&format!(
                        "    {s}:{e}:void run{k}(java.lang.String):40 -> {method}\n"
                    ));
                }
                2 => {
                    m.push_str(&format!(
                        "    {s}:{e}:void lambda$run$0():7:7 -> {method}\n"
                    ));
                    m.push_str("    # {\"id\":\"com.android.tools.r8.synthesized\"}\n");
                    m.push_str(&format!("    {s}:{e}:void run{k}():20:20 -> {method}\n"));
                }
                3 => m.push_str(&format!("    {e}:{s}:void run{k}():90:80 -> {method}\n")),
                4 => {
                    m.push_str(&format!("    {s}:{e}:void run{k}():30:31 -> {method}\n"));
                    m.push_str(&format!("    {s}:{s}:void run{k}():30:30 -> {method}\n"));
                }
                5 => {
                    m.push_str(&format!("    {s}:{e}:void run{k}():60 -> {method}\n"));
                    m.push_str("    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"throws(Ljava/lang/NullPointerException;)\"],\"actions\":[\"removeInnerFrames(1)\"]}\n");
                    m.push_str(&format!("    void run{k}b() -> {method}\n"));
                }
                6 => {
                    m.push_str(&format!("    {s}:{e}:void run{k}() -> {method}\n"));
                    m.push_str(&format!("    0:0:void other{k}():3:3 -> {method}\n"));
                }
                _ => {
                    m.push_str(&format!("    {s}:{e}:int outline{k}():0:0 -> o{k}\n"));
                    m.push_str("    # {\"id\":\"com.android.tools.r8.outline\"}\n");
                    m.push_str(&format!("    {s}:{e}:void kt{k}():100:102 -> {method}\n"));
                }
            }
        }
    }
    m
}

#[test]
fn index_answers_as_the_proguard_cache_on_the_fixture() {
    let mapping = include_str!("../../../tests/fixtures/jvm/proguard/mapping.txt");
    let compared = agrees_with_proguard_cache(mapping);
    assert!(compared > 200, "{compared} frames compared");
}

#[test]
fn index_answers_as_the_proguard_cache_on_generated_r8_mappings() {
    let compared = agrees_with_proguard_cache(&generated_r8_mapping(60));
    assert!(compared > 5_000, "{compared} frames compared");
}

#[test]
fn index_answers_as_the_proguard_cache_on_the_r8_cases() {
    for mapping in R8_CASES {
        let compared = agrees_with_proguard_cache(mapping);
        assert!(compared > 0, "{compared} compared: {mapping}");
    }
}

/// Mappings for the rules of R8's retrace specification and ProGuard's older formats, each
/// small: the reference comparison above runs on each.
const R8_CASES: &[&str] = &[
    "com.shop.Cart -> a:\n    void add(int):10:12 -> a\n    1:3:void add(int):20:22 -> a\n",
    "com.shop.Cart -> c:\n    1:1:void lambda$total$0(com.shop.Item):0:0 -> a\n    # {\"id\":\"com.android.tools.r8.synthesized\"}\n    1:1:void lambda$x$1():0:0 -> b\n    # {\"id\":\"com.android.tools.r8.synthesized\"}\n",
    "a.b.FooKt -> x:\n# {\"id\":\"sourceFile\",\"fileName\":\"Foo.kt\"}\n    5:9:void f():1:1 -> a\n    5:9:void g():2 -> a\n",
    // ProGuard without line numbers: methods without ranges, several under one name.
    "com.shop.Cart -> a:\n    void add(int) -> a\n    long total() -> a\n    void clear() -> b\n",
    // `0:0:` members, with and without original ranges, next to ranged ones.
    "com.shop.Cart -> a:\n    0:0:void add(int):10:10 -> a\n    0:0:void add(int):12:14 -> a\n    0:0:void put():5 -> b\n    0:0:void take():6 -> b\n    1:4:void sum():30:33 -> c\n    0:0:void sum():40:40 -> c\n",
    // Range-less members with original lines, several names (sorted without a line).
    "com.shop.Cart -> a:\n    void zeta():7:9 -> a\n    void alpha():3 -> a\n    void alpha():4 -> a\n    void beta() -> b\n    void beta():11:11 -> b\n",
    // An outline and its callsites (R8 2.0 and 2.2 forms), a rewrite rule with two actions,
    // one with an unknown condition and one for two different exceptions.
    "com.shop.Util -> u:\n    1:2:int outline0():0:0 -> a\n    # {\"id\":\"com.android.tools.r8.outline\"}\ncom.shop.Cart -> c:\n    1:1:void add():10:10 -> b\n    2:4:void add():11:13 -> b\n    # {\"id\":\"com.android.tools.r8.outlineCallsite\",\"positions\":{\"1\":3,\"2\":4},\"outline\":\"Lu;a()I\"}\n    5:5:void put():20:20 -> d\n    # {\"id\":\"com.android.tools.r8.outlineCallsite\",\"positions\":{\"1\":5}}\n    6:6:void npe():30:30 -> e\n    6:6:void check():31:31 -> e\n    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"throws(Ljava/lang/NullPointerException;)\"],\"actions\":[\"removeInnerFrames(1)\",\"removeInnerFrames(1)\"]}\n    7:7:void f():40:40 -> g\n    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"other()\"],\"actions\":[\"removeInnerFrames(1)\"]}\n    8:8:void h():50:50 -> i\n    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"throws(Ljava/lang/NullPointerException;)\",\"throws(Ljava/lang/IllegalStateException;)\"],\"actions\":[\"removeInnerFrames(1)\"]}\n    9:9:void bad():60:60 -> j\n    # {\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"throws(Ljava/lang/NullPointerException;)\"],\"actions\":[\"removeInnerFrames(x)\"]}\n",
    // Methods of other classes inlined, a synthesized class, the same method named with and
    // without its class.
    "com.shop.Cart -> c:\n    1:3:void com.shop.Cart.add():10:12 -> a\n    # {\"id\":\"com.android.tools.r8.synthesized\"}\n    1:3:void add():20:22 -> a\n    4:4:void com.shop.Other.run():5:5 -> b\n    4:4:void go():6:6 -> b\ncom.shop.Other -> o:\n# {\"id\":\"com.android.tools.r8.synthesized\"}\n    1:1:void run():5:5 -> a\n",
];

/// One member line of a generated mapping and the R8 metadata after it.
fn member_line() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let range = (0u32..7, 0u32..7);
    let original = prop_oneof![
        Just(String::new()),
        (0u32..9).prop_map(|l| format!(":{l}")),
        (0u32..9, 0u32..9).prop_map(|(a, b)| format!(":{a}:{b}")),
    ];
    let prefix = prop_oneof![
        2 => range.prop_map(|(s, e)| format!("{s}:{e}:")),
        1 => Just("0:0:".to_owned()),
        1 => Just(String::new()),
    ];
    let receiver = prop_oneof![3 => Just(""), 1 => Just("com.x.Other."), 1 => Just("com.x.A.")];
    let header = prop_oneof![
        4 => Just(String::new()),
        1 => Just("    # {\"id\":\"com.android.tools.r8.synthesized\"}\n".to_owned()),
        1 => Just("    # {\"id\":\"com.android.tools.r8.outline\"}\n".to_owned()),
        1 => (0u32..4, 0u32..9).prop_map(|(p, l)| format!(
            "    # {{\"id\":\"com.android.tools.r8.outlineCallsite\",\"positions\":{{\"{p}\":{l}}}}}\n"
        )),
        1 => (0u32..3).prop_map(|n| format!(
            "    # {{\"id\":\"com.android.tools.r8.rewriteFrame\",\"conditions\":[\"throws(Ljava/lang/NullPointerException;)\"],\"actions\":[\"removeInnerFrames({n})\"]}}\n"
        )),
    ];
    (
        prefix,
        receiver,
        0u32..3,
        original,
        prop::sample::select(vec!["a", "b", "o"]),
        header,
    )
        .prop_map(|(prefix, receiver, k, original, name, header)| {
            format!("    {prefix}void {receiver}m{k}(){original} -> {name}\n{header}")
        })
}

/// A generated mapping: up to three classes with R8 class metadata and member lines.
fn generated_mapping() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let class_header = prop_oneof![
        2 => Just(String::new()),
        1 => Just("# {\"id\":\"sourceFile\",\"fileName\":\"A.kt\"}\n".to_owned()),
        1 => Just("# {\"id\":\"sourceFile\",\"fileName\":\"R8$$SyntheticClass\"}\n".to_owned()),
        1 => Just("# {\"id\":\"com.android.tools.r8.synthesized\"}\n".to_owned()),
    ];
    let class = (
        prop::sample::select(vec!["com.x.A", "com.x.Other", "com.x.UtilKt", "com.x.B$1"]),
        prop::sample::select(vec!["p", "q"]),
        class_header,
        prop::collection::vec(member_line(), 1..7),
    )
        .prop_map(|(original, obfuscated, header, members)| {
            format!("{original} -> {obfuscated}:\n{header}{}", members.concat())
        });
    prop::collection::vec(class, 1..4).prop_map(|c| c.concat())
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(300))]
    /// Any mapping made of the member shapes and R8 metadata R8 and ProGuard write: the index
    /// answers every probe frame (see [`agrees_with_proguard_cache`]) as the reference does.
    #[test]
    fn index_answers_as_the_proguard_cache_on_any_mapping(mapping in generated_mapping()) {
        agrees_with_proguard_cache(&mapping);
    }
}

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

/// Compares every frame the member table answers with the proguard crate's cache on the same
/// index: for each member line of `mapping` with an obfuscated range, every line of the range
/// and one beyond each end, under a plain trace and the first frame after an exception.
/// Returns (frames compared, frames the table answered).
fn table_agrees_with_cache(mapping: &str) -> (usize, usize) {
    let idx = index(mapping);
    let mut probes: Vec<(String, String, u32)> = Vec::new();
    let mut class = None;
    for line in mapping.lines() {
        match proguard::ProguardRecord::try_parse(line.as_bytes()) {
            Ok(proguard::ProguardRecord::Class { obfuscated, .. }) => class = Some(obfuscated),
            Ok(proguard::ProguardRecord::Method {
                obfuscated,
                line_mapping: Some(l),
                ..
            }) => {
                if let (Some(c), Some(s), Some(e)) = (class, l.startline, l.endline) {
                    let (s, e) = (s.min(e), s.max(e));
                    for n in s.saturating_sub(1)..=(e + 1).min(s + 300) {
                        probes.push((c.to_owned(), obfuscated.to_owned(), n as u32));
                    }
                }
            }
            _ => {}
        }
    }
    let mut answered = 0;
    for (c, m, line) in &probes {
        for thrown in [None, Some("java.lang.NullPointerException")] {
            let (mut a, mut b) = (TraceState::thrown(thrown), TraceState::thrown(thrown));
            let Some(fast) = idx.remap_from_table(&mut a, c, m, *line) else {
                continue;
            };
            answered += 1;
            let reference = idx.remap_with_cache(&mut b, c, m, *line, Some("SourceFile"));
            assert_eq!(fast, reference, "{c}.{m}:{line} (thrown {thrown:?})");
            assert_eq!(
                (a.first_after_exception, a.carried_outline),
                (b.first_after_exception, b.carried_outline),
                "{c}.{m}:{line}: trace state"
            );
        }
    }
    (probes.len() * 2, answered)
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
fn member_table_answers_as_the_proguard_cache_on_the_fixture() {
    let mapping = include_str!("../../../tests/fixtures/jvm/proguard/mapping.txt");
    let (compared, answered) = table_agrees_with_cache(mapping);
    assert!(
        answered > 50,
        "{answered} of {compared} answered by the table"
    );
}

#[test]
fn member_table_answers_as_the_proguard_cache_on_generated_r8_mappings() {
    let (compared, answered) = table_agrees_with_cache(&generated_r8_mapping(60));
    // Outlines, rewrite rules under an exception and the lines probed outside every range
    // (one beyond each end of ranges of one to three lines) go to the cache.
    assert!(
        answered * 3 > compared,
        "{answered} of {compared} answered by the table"
    );
}

#[test]
fn member_table_answers_as_the_proguard_cache_on_the_r8_cases() {
    for mapping in [
        "com.shop.Cart -> a:\n    void add(int):10:12 -> a\n    1:3:void add(int):20:22 -> a\n",
        "com.shop.Cart -> c:\n    1:1:void lambda$total$0(com.shop.Item):0:0 -> a\n    # {\"id\":\"com.android.tools.r8.synthesized\"}\n    1:1:void lambda$x$1():0:0 -> b\n    # {\"id\":\"com.android.tools.r8.synthesized\"}\n",
        "a.b.FooKt -> x:\n# {\"id\":\"sourceFile\",\"fileName\":\"Foo.kt\"}\n    5:9:void f():1:1 -> a\n    5:9:void g():2 -> a\n",
    ] {
        let (compared, answered) = table_agrees_with_cache(mapping);
        assert!(answered > 0, "{answered} of {compared} answered: {mapping}");
    }
}

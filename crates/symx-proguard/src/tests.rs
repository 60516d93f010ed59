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
            .map(|f| (f.class, f.method, f.line))
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
            let methods: Vec<&str> = frames.iter().map(|f| f.method.as_str()).collect();
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
            let methods: Vec<&str> = frames.iter().map(|f| f.method.as_str()).collect();
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

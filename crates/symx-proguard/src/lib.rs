//! ProGuard and R8 mapping files: the mapping's bytes in, a persisted index out, and remapping
//! of frames, classes and throwables on that index in place.
//!
//! The index (`SYMXJVM4`) is our own, read in place: a member table (the `fast` module: a
//! hash of obfuscated classes, their methods sorted by name, and every member with its
//! original class, method, file and lines resolved at build, its R8 outline callsite positions
//! and rewrite rules), which answers every frame, and a table of the alternatives of frames
//! without a line:
//!
//! ```text
//! magic "SYMXJVM4" | alternatives | member table
//! alternatives: count u32 | count x (offset u32, length u32) | UTF-8 lines, sorted:
//!               `<obfuscated class>\t<obfuscated method>\t<class>\t<method>`
//! ```
//!
//! The alternatives: a frame without a line (`Unknown Source`) whose obfuscated name several
//! methods share (ProGuard gives overloads and unrelated methods one name; each has its own
//! line range) is any of them, and ProGuard's retrace lists them all, so the table keeps, for
//! every obfuscated name with members in more than one line range, the outermost method of
//! each range (members sharing a range are one R8 inline chain, one candidate).
//!
//! R8 metadata follows the R8 retrace specification as ProGuard's retrace and the proguard
//! crate (what symx answered with before the index was its own) apply it:
//! `com.android.tools.r8.synthesized` members are dropped from inline chains, outline frames
//! are folded into their callsite (`outline` / `outlineCallsite`), `rewriteFrame` rules remove
//! inner frames for a matching exception, `sourceFile` names files. The unit tests compare every
//! answer with the proguard crate's `ProguardCache` on the fixtures, on R8 rule cases and on
//! generated mappings (proptest), frame by frame, with and without exceptions and outlines.
//! The proguard crate's parser reads the mapping's lines.
//!
//! This crate does no IO and knows nothing of storage or transports.

use proguard::ProguardMapping;
use std::borrow::Cow;
use symx_types::{ErrorCode, HasErrorCode};

mod fast;

const MAGIC: &[u8; 8] = b"SYMXJVM4";

/// Errors of this crate. Messages name the format, the line and what is wrong.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid ProGuard mapping: {0}")]
    InvalidMapping(String),
    #[error("stored ProGuard index is not readable: {0}")]
    BadIndex(String),
    /// The index was written by an older version of this crate: rebuild it from the mapping.
    #[error("stored ProGuard index has an older format ({0})")]
    IndexVersion(String),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidMapping(_) => ErrorCode::InvalidArgument,
            Self::BadIndex(_) | Self::IndexVersion(_) => ErrorCode::Internal,
        }
    }
}

/// An index and what was read from the mapping while building it.
#[derive(Clone, Debug)]
pub struct BuiltJvm {
    pub bytes: Vec<u8>,
    /// A stable id derived from the mapping's content (UUID v5, as Sentry and the proguard
    /// crate compute it): the build id when the upload does not state one.
    pub content_id: String,
    pub classes: usize,
    pub has_line_info: bool,
}

/// Builds the index of a mapping file. Rejects files that are not mappings (no class line)
/// and malformed lines, naming the line number and its text.
pub fn build_index(bytes: &[u8]) -> Result<BuiltJvm, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Error::InvalidMapping(format!("line {line} is not UTF-8"))
    })?;
    let mut classes = 0usize;
    let mut members: MembersByName<'_> = Default::default();
    let mut class: Option<(&str, &str)> = None;
    let mut table = fast::Builder::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        // The member table sees the records the proguard crate sees: each line as it is
        // (a line with trailing blanks may not parse), R8 metadata comments included.
        let record = proguard::ProguardRecord::try_parse(line.as_bytes());
        let reparsed;
        let seen = if line.len() == raw.len() {
            record.as_ref().ok()
        } else {
            reparsed = proguard::ProguardRecord::try_parse(raw.as_bytes()).ok();
            reparsed.as_ref()
        };
        if let Some(r) = seen {
            table.record(r, raw);
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        match record {
            Ok(proguard::ProguardRecord::Class {
                original,
                obfuscated,
            }) => {
                classes += 1;
                class = Some((original, obfuscated));
            }
            Ok(proguard::ProguardRecord::Method {
                original,
                obfuscated,
                original_class,
                line_mapping,
                ..
            }) => {
                if let Some((orig_class, obf_class)) = class {
                    let group = line_mapping
                        .filter(|l| l.original_startline.is_some())
                        .and_then(|l| Some((l.startline?, l.endline?)))
                        .filter(|r| r.1 > 0);
                    members.entry((obf_class, obfuscated)).or_default().push((
                        group,
                        original_class.unwrap_or(orig_class),
                        original,
                    ));
                }
            }
            Ok(_) => {}
            Err(e) => {
                let shown: String = line.chars().take(120).collect();
                return Err(Error::InvalidMapping(format!(
                    "line {}: {:?}: `{shown}`",
                    i + 1,
                    e.kind()
                )));
            }
        }
    }
    if classes == 0 {
        return Err(Error::InvalidMapping(
            "no class mapping (`original.Class -> obfuscated.Class:`) found".into(),
        ));
    }
    let mapping = ProguardMapping::new(bytes);
    let mut out = Vec::with_capacity(bytes.len() / 2);
    out.extend_from_slice(MAGIC);
    write_alternatives(&mut out, &members)?;
    table.finish(&mut out)?;
    Ok(BuiltJvm {
        bytes: out,
        content_id: mapping.uuid().to_string(),
        classes,
        has_line_info: mapping.has_line_info(),
    })
}

/// What building the index of a mapping takes, estimated from a count of its lines before
/// any of it is parsed (see [`estimate_build_memory`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildEstimate {
    /// Peak bytes of memory, the mapping's own bytes included.
    pub bytes: u64,
    pub classes: u64,
    pub members: u64,
}

impl BuildEstimate {
    /// What costs the most, for messages.
    pub fn largest(&self) -> String {
        if self.members * PER_MEMBER >= self.classes * PER_CLASS {
            format!("{} member lines", self.members)
        } else {
            format!("{} class lines", self.classes)
        }
    }
}

/// Bytes of peak memory per class line, per member line (method or field) and per byte of the
/// mapping, measured by the workspace's `memory` test (`tests/memory/`), which checks the
/// estimate stays above the measured peak: the proguard crate's parse (hash maps of members,
/// by name and by parameters), its cache's classes and string table, and our alternatives.
const PER_CLASS: u64 = 4_500;
const PER_MEMBER: u64 = 1_300;
const PER_BYTE: u64 = 3;
const BASE: u64 = 1 << 20;

/// Estimates the peak memory of [`build_index`] on `bytes` from one pass over its lines:
/// class lines (`a.B -> c:`), member lines (indented) and size.
pub fn estimate_build_memory(bytes: &[u8]) -> BuildEstimate {
    let mut classes = 0u64;
    let mut members = 0u64;
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
        let line = &bytes[start..end];
        start = end + 1;
        match line.first() {
            Some(b' ' | b'\t') => members += 1,
            Some(b'#') | None => {}
            Some(_) => classes += 1,
        }
    }
    let total = BASE
        .saturating_add(classes.saturating_mul(PER_CLASS))
        .saturating_add(members.saturating_mul(PER_MEMBER))
        .saturating_add((bytes.len() as u64).saturating_mul(PER_BYTE));
    BuildEstimate {
        bytes: total,
        classes,
        members,
    }
}

/// A method of a mapping: its inline group, original class and method. Members with an
/// obfuscated range and an original line are grouped by that range (R8 writes an inline chain
/// as entries sharing one range); any other member (`None`) is a method of its own.
type Member<'t> = (Option<(usize, usize)>, &'t str, &'t str);

/// (obfuscated class, obfuscated method) -> its members, in mapping order.
type MembersByName<'t> = std::collections::BTreeMap<(&'t str, &'t str), Vec<Member<'t>>>;

/// Writes the alternatives table (see the module docs) of `members`.
fn write_alternatives(out: &mut Vec<u8>, members: &MembersByName<'_>) -> Result<(), Error> {
    let mut lines: Vec<String> = Vec::new();
    for ((obf_class, obf_method), list) in members {
        // The outermost (last) member of each inline group, groups in mapping order.
        let mut per_range: Vec<Member<'_>> = Vec::new();
        for m in list {
            match per_range.iter_mut().find(|p| p.0.is_some() && p.0 == m.0) {
                Some(p) => *p = *m,
                None => per_range.push(*m),
            }
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (_, c, m) in &per_range {
            if !seen.contains(&(c, m)) {
                seen.push((c, m));
            }
        }
        if seen.len() > 1 {
            for (c, m) in seen {
                lines.push(format!("{obf_class}\t{obf_method}\t{c}\t{m}"));
            }
        }
    }
    // Sorted by key only (stable): candidates keep their mapping order.
    lines.sort_by(|a, b| key_of(a).cmp(key_of(b)));
    let too_big = || Error::InvalidMapping("the mapping's alternatives exceed 4 GiB".into());
    let count = u32::try_from(lines.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&count.to_le_bytes());
    let mut offset = 0u32;
    for l in &lines {
        let len = u32::try_from(l.len()).map_err(|_| too_big())?;
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        offset = offset.checked_add(len).ok_or_else(too_big)?;
    }
    for l in &lines {
        out.extend_from_slice(l.as_bytes());
    }
    Ok(())
}

/// `<obfuscated class>\t<obfuscated method>` of an alternatives line.
fn key_of(line: &str) -> &str {
    let mut tabs = line.match_indices('\t').map(|(i, _)| i);
    let end = tabs.nth(1).unwrap_or(line.len());
    &line[..end]
}

/// One original frame. `line` is 1-based (0: unknown). Names borrow from the index where
/// they can (frames answered by the member table).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JvmFrame<'a> {
    pub class: Cow<'a, str>,
    pub method: Cow<'a, str>,
    pub file: Option<Cow<'a, str>>,
    pub line: u32,
}

/// What one obfuscated frame maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remapped<'a> {
    /// Original frames, innermost first: an inline chain, or (when `ambiguous`) the
    /// candidates of a frame without line information.
    Frames {
        frames: Vec<JvmFrame<'a>>,
        ambiguous: bool,
    },
    /// An R8 outline frame: folded into the next frame (its callsite), nothing to show.
    Outline,
    /// Removed by an R8 `rewriteFrame` rule for the exception being thrown.
    Removed,
    /// The mapping does not know the class (or the member).
    Unknown,
}

/// Per-stack-trace state: outline positions carry to the next frame, rewrite rules apply to
/// the first frame after an exception.
#[derive(Clone, Debug, Default)]
pub struct TraceState {
    exception_descriptor: Option<String>,
    first_after_exception: bool,
    carried_outline: Option<u32>,
}

impl TraceState {
    /// Starts a trace thrown by `exception` (its original class name, or `None`).
    pub fn thrown(exception: Option<&str>) -> Self {
        Self {
            exception_descriptor: exception.map(|c| format!("L{};", c.replace('.', "/"))),
            first_after_exception: exception.is_some(),
            carried_outline: None,
        }
    }
}

/// A persisted index, checked at open and read in place.
#[derive(Clone)]
pub struct JvmIndex<B: AsRef<[u8]>> {
    buf: B,
    /// Number of alternatives lines.
    alternatives: usize,
    /// The member table (after the alternatives).
    table: fast::Table,
}

impl<B: AsRef<[u8]>> std::fmt::Debug for JvmIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JvmIndex")
            .field("bytes", &self.buf.as_ref().len())
            .finish()
    }
}

/// Where the alternatives table starts.
const ALTERNATIVES_AT: usize = MAGIC.len();

/// The longest original line range a member without an obfuscated range is listed by, one
/// frame per line (R8 writes such members for methods it could not give a range; a longer
/// range is answered by its first line).
const MAX_SPAN_LINES: u32 = 1_000;

impl<B: AsRef<[u8]>> JvmIndex<B> {
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        let bad = |m: &str| Error::BadIndex(m.to_owned());
        if b.len() >= 8 && b[..7] == MAGIC[..7] && b[7] != MAGIC[7] {
            return Err(Error::IndexVersion(
                String::from_utf8_lossy(&b[..8]).into_owned(),
            ));
        }
        if b.len() < MAGIC.len() + 4 || &b[..MAGIC.len()] != MAGIC {
            return Err(bad("missing SYMXJVM4 header"));
        }
        let alternatives =
            word(b, ALTERNATIVES_AT).ok_or_else(|| bad("truncated alternatives"))? as usize;
        let table = ALTERNATIVES_AT + 4;
        let text = alternatives
            .checked_mul(8)
            .and_then(|n| table.checked_add(n))
            .filter(|&t| t <= b.len())
            .ok_or_else(|| bad("alternatives out of bounds"))?;
        // Every line inside the text and UTF-8, checked once; the lines follow each other, and
        // the member table follows them.
        let mut text_len = 0usize;
        for i in 0..alternatives {
            let (off, len) = (
                word(b, table + 8 * i).unwrap_or(u32::MAX) as usize,
                word(b, table + 8 * i + 4).unwrap_or(u32::MAX) as usize,
            );
            text.checked_add(off)
                .and_then(|s| Some((s, s.checked_add(len)?)))
                .and_then(|(s, e)| b.get(s..e))
                .and_then(|l| std::str::from_utf8(l).ok())
                .ok_or_else(|| bad("alternatives line out of bounds"))?;
            text_len = text_len.max(off + len);
        }
        let table = fast::Table::open(b, text + text_len)?;
        Ok(Self {
            buf,
            alternatives,
            table,
        })
    }

    /// Alternatives line `i` (checked at open).
    fn alternative(&self, i: usize) -> &str {
        let b = self.buf.as_ref();
        let table = ALTERNATIVES_AT + 4;
        let text = table + 8 * self.alternatives;
        let off = word(b, table + 8 * i).unwrap_or(0) as usize;
        let len = word(b, table + 8 * i + 4).unwrap_or(0) as usize;
        b.get(text + off..text + off + len)
            .and_then(|l| std::str::from_utf8(l).ok())
            .unwrap_or_default()
    }

    /// The (class, method) candidates of a frame without a line, when several methods share
    /// its obfuscated name (empty otherwise).
    fn alternatives_of(&self, class: &str, method: &str) -> Vec<(&str, &str)> {
        let key = format!("{class}\t{method}");
        let first = {
            let (mut l, mut r) = (0, self.alternatives);
            while l < r {
                let m = l + (r - l) / 2;
                if key_of(self.alternative(m)) < key.as_str() {
                    l = m + 1;
                } else {
                    r = m;
                }
            }
            l
        };
        (first..self.alternatives)
            .map(|i| self.alternative(i))
            .take_while(|l| key_of(l) == key)
            .filter_map(|l| {
                let mut parts = l.splitn(4, '\t').skip(2);
                Some((parts.next()?, parts.next()?))
            })
            .collect()
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// The original name of an obfuscated class, if the mapping renames it.
    pub fn remap_class(&self, class: &str) -> Option<String> {
        self.original_class(class).map(str::to_owned)
    }

    fn original_class(&self, class: &str) -> Option<&str> {
        Some(self.table.class(self.buf.as_ref(), class)?.original)
    }

    /// Replaces every obfuscated class name the mapping knows inside `text` (an exception
    /// message: `a.b.c cannot be cast to a.b.d`). Words are runs of Java identifier characters
    /// and dots.
    pub fn remap_classes_in(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            let w = word.trim_end_matches('.');
            match (w.contains('.'), self.original_class(w)) {
                (true, Some(original)) => {
                    out.push_str(original);
                    out.push_str(&word[w.len()..]);
                }
                _ => out.push_str(word),
            }
            word.clear();
        };
        for c in text.chars() {
            if c.is_alphanumeric() || c == '_' || c == '$' || c == '.' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// Whether the mapping has line information (obfuscated line ranges) for a method of
    /// an obfuscated class; `None` when it does not rename that method.
    pub fn method_has_line_info(&self, class: &str, method: &str) -> Option<bool> {
        let b = self.buf.as_ref();
        let c = self.table.class(b, class)?;
        let (_, _, flags) = self.table.method(b, &c, method)?;
        Some(flags & fast::LINE_INFO != 0)
    }

    /// Remaps one frame of a trace (frames in the order the runtime printed them, innermost
    /// first), carrying R8 outline and rewrite state in `state`. The frame's file name is not
    /// used: an obfuscated build's file names (`SourceFile`) say nothing.
    ///
    /// R8's retrace specification, as ProGuard's retrace and the proguard crate apply it:
    /// - a frame in an outline (`com.android.tools.r8.outline`) is folded into the next
    ///   frame, whose `outlineCallsite` positions turn the outline's line into its own;
    /// - the first frame after the exception drops the inner frames its members'
    ///   `rewriteFrame` rules remove for that exception;
    /// - with a line, the members whose obfuscated range holds it answer, innermost first
    ///   (an inline chain); a method without any obfuscated range answers with its members'
    ///   original lines; a line outside every range answers the class alone;
    /// - without a line, the members not keyed to a line (`0:0:` or no range) answer with
    ///   their original lines; a method whose members all have ranges answers its first
    ///   range's outermost member at line 0 (the alternatives table lists the others).
    pub fn remap_frame(
        &self,
        state: &mut TraceState,
        class: &str,
        method: &str,
        line: u32,
        _file: Option<&str>,
    ) -> Remapped<'_> {
        let b = self.buf.as_ref();
        let t = &self.table;
        let Some(c) = t.class(b, class) else {
            state.carried_outline = None;
            state.first_after_exception = false;
            return Remapped::Unknown;
        };
        let found = t.method(b, &c, method);
        if let Some((_, _, flags)) = found
            && flags & fast::OUTLINE != 0
        {
            state.carried_outline = Some(line);
            return Remapped::Outline;
        }
        let apply_rewrite = std::mem::take(&mut state.first_after_exception);
        let carried = state.carried_outline.take();
        let Some((start, count, flags)) = found else {
            // A method the mapping does not rename: the class alone.
            return Remapped::Frames {
                frames: vec![class_only(&c, method, line)],
                ambiguous: false,
            };
        };
        let members = start..start.saturating_add(count);
        let range = |i: usize| {
            let (s, e) = t.range(b, i).unwrap_or((NONE, NONE));
            (if s == NONE { 0 } else { s }, if e == NONE { 0 } else { e })
        };
        let matches = |i: usize, line: u32| {
            let (s, e) = range(i);
            e == 0 || (line >= s && line <= e)
        };
        let input_line = line;
        let line = carried
            .and_then(|pos| {
                members
                    .clone()
                    .filter(|&i| matches(i, line))
                    .find_map(|i| t.outline_callsite(b, i, pos))
            })
            .unwrap_or(line);
        let mut had_mappings = false;
        let mut skip = 0u32;
        for i in members.clone().filter(|&i| matches(i, line)) {
            had_mappings = true;
            if apply_rewrite && let Some(thrown) = state.exception_descriptor.as_deref() {
                skip = skip.saturating_add(t.removed_frames(b, i, thrown));
            }
        }
        let mut out = Frames::default();
        if line == 0 {
            self.without_line(&c, members, &mut out);
        } else {
            let has_line_info = flags & fast::LINE_INFO != 0;
            for i in members {
                let (s, e) = range(i);
                if e == 0 {
                    if !has_line_info {
                        self.base_entry(&c, i, line, &mut out);
                    }
                    continue;
                }
                if line < s || line > e {
                    continue;
                }
                let Some(m) = t.member(b, i) else { continue };
                let original_start = if m.original_start == NONE {
                    0
                } else {
                    m.original_start
                };
                let original = if m.original_end == NONE || m.original_end == original_start {
                    original_start
                } else {
                    original_start.saturating_add(line - s)
                };
                out.push(
                    JvmFrame {
                        class: Cow::Borrowed(m.class),
                        method: Cow::Borrowed(m.method),
                        file: m.file.map(Cow::Borrowed),
                        line: original,
                    },
                    m.synthesized,
                );
            }
            if out.frames.is_empty() && has_line_info {
                // Outside every range: the class alone.
                out.push(class_only(&c, method, line), false);
            }
        }
        out.skip(skip as usize);
        out.answer(self, class, method, input_line, had_mappings)
    }

    /// The frames of member `i` of a method without obfuscated ranges, for a frame on `line`:
    /// the member's original line, each line of its original range, or (a member without
    /// any line) the frame's own line.
    fn base_entry<'a>(&'a self, c: &fast::Class<'a>, i: usize, line: u32, out: &mut Frames<'a>) {
        let Some(m) = self.table.member(self.buf.as_ref(), i) else {
            return;
        };
        if m.original_start == NONE {
            return out.push(without_lines(c, &m, line), m.synthesized);
        }
        if m.original_end != NONE
            && m.original_end > m.original_start
            && m.original_end - m.original_start < MAX_SPAN_LINES
        {
            for l in m.original_start..=m.original_end {
                out.push(without_lines(c, &m, l), m.synthesized);
            }
            return;
        }
        out.push(without_lines(c, &m, m.original_start), m.synthesized);
    }

    /// The frames of a frame without a line. Members without an obfuscated range (`0:0:` or
    /// none) are not keyed to a line either and answer: those with `0:0:` each with their
    /// original line (0 when any of them spans several lines); those without a range once
    /// when they are one method (with its line when it is the only one), else each at line 0,
    /// sorted by name when all of them have lines. A method whose members all have ranges is
    /// an inline chain or several bodies under one name: its first range's outermost member
    /// answers, at line 0 (and the alternatives table lists the others).
    fn without_line<'a>(
        &'a self,
        c: &fast::Class<'a>,
        members: std::ops::Range<usize>,
        out: &mut Frames<'a>,
    ) {
        let (b, t) = (self.buf.as_ref(), &self.table);
        let base: Vec<(usize, u32)> = members
            .clone()
            .filter_map(|i| {
                let (s, e) = t.range(b, i)?;
                (e == NONE || e == 0).then_some((i, s))
            })
            .collect();
        if base.is_empty() {
            let Some(first) = t.range(b, members.start) else {
                return;
            };
            let outermost = members.take_while(|&i| t.range(b, i) == Some(first)).last();
            if let Some(m) = outermost.and_then(|i| t.member(b, i)) {
                out.push(without_lines(c, &m, 0), m.synthesized);
            }
            return;
        }
        let read: Vec<(fast::Member<'_>, bool)> = base
            .iter()
            .filter_map(|&(i, s)| Some((t.member(b, i)?, s != NONE)))
            .collect();
        let spans = read.iter().any(|(m, zero_zero)| {
            let start = if m.original_start == NONE {
                0
            } else {
                m.original_start
            };
            *zero_zero && m.original_end != NONE && m.original_end != start
        });
        let no_range: Vec<&fast::Member<'_>> =
            read.iter().filter(|(_, z)| !z).map(|(m, _)| m).collect();
        let one_method = no_range.windows(2).all(|w| w[0].method == w[1].method);
        let all_have_lines = no_range.iter().all(|m| m.original_start != NONE);
        let line_of = |m: &fast::Member<'_>| {
            if m.original_start == NONE {
                0
            } else {
                m.original_start
            }
        };
        let mut emitted = false;
        for (m, zero_zero) in &read {
            if *zero_zero {
                let line = if spans { 0 } else { line_of(m) };
                out.push(without_lines(c, m, line), m.synthesized);
            } else if one_method {
                if !emitted {
                    emitted = true;
                    let line = if no_range.len() > 1 { 0 } else { line_of(m) };
                    out.push(without_lines(c, m, line), m.synthesized);
                }
            } else {
                out.push(without_lines(c, m, 0), m.synthesized);
            }
        }
        if !one_method && all_have_lines {
            out.sort_by_method();
        }
    }
}

const NONE: u32 = u32::MAX;

/// The frame of a method the mapping does not rename (or a line outside its ranges): the
/// original class, the frame's method and line, a file made from the class name.
fn class_only<'a>(c: &fast::Class<'a>, method: &str, line: u32) -> JvmFrame<'a> {
    JvmFrame {
        class: Cow::Borrowed(c.original),
        method: Cow::Owned(method.to_owned()),
        file: Some(Cow::Owned(fast::synthesized_file(
            c.original,
            c.source_file,
        ))),
        line,
    }
}

/// A member answered without its obfuscated range: its file is made from its class name.
fn without_lines<'a>(c: &fast::Class<'a>, m: &fast::Member<'a>, line: u32) -> JvmFrame<'a> {
    JvmFrame {
        class: Cow::Borrowed(m.class),
        method: Cow::Borrowed(m.method),
        file: Some(Cow::Owned(fast::synthesized_file(m.class, c.source_file))),
        line,
    }
}

/// The frames of one answer as they are found, with which of them are synthesized.
#[derive(Default)]
struct Frames<'a> {
    frames: Vec<JvmFrame<'a>>,
    /// Indexes of synthesized frames (rare: no allocation without them).
    synthesized: Vec<usize>,
}

impl<'a> Frames<'a> {
    fn push(&mut self, frame: JvmFrame<'a>, synthesized: bool) {
        if synthesized {
            self.synthesized.push(self.frames.len());
        }
        self.frames.push(frame);
    }

    /// Drops the first `n` frames (a rewrite rule's inner frames).
    fn skip(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let n = n.min(self.frames.len());
        self.frames.drain(..n);
        self.synthesized.retain(|&i| i >= n);
        self.synthesized.iter_mut().for_each(|i| *i -= n);
    }

    fn sort_by_method(&mut self) {
        let mut tagged: Vec<(JvmFrame<'a>, bool)> = self
            .frames
            .drain(..)
            .enumerate()
            .map(|(i, f)| (f, self.synthesized.contains(&i)))
            .collect();
        tagged.sort_by(|a, b| a.0.method.cmp(&b.0.method));
        self.synthesized.clear();
        for (f, s) in tagged {
            self.push(f, s);
        }
    }

    /// The answer: synthesized members dropped when the chain has real frames (R8's retrace
    /// specification), equal answers kept once (overlapping ranges of one method); without a
    /// line, every method of the obfuscated name (one per line range) as a candidate, as
    /// ProGuard's retrace lists them; ambiguous when one method appears at several possible
    /// lines or the frame had no line.
    fn answer<B: AsRef<[u8]>>(
        mut self,
        index: &'a JvmIndex<B>,
        class: &str,
        method: &str,
        line: u32,
        had_mappings: bool,
    ) -> Remapped<'a> {
        if !self.synthesized.is_empty() && self.synthesized.len() < self.frames.len() {
            let mut i = 0;
            let synthesized = &self.synthesized;
            self.frames.retain(|_| {
                i += 1;
                !synthesized.contains(&(i - 1))
            });
        }
        let mut frames = dedup(self.frames);
        if frames.is_empty() {
            return if had_mappings {
                Remapped::Removed
            } else {
                Remapped::Unknown
            };
        }
        if line == 0 {
            let alternatives = index.alternatives_of(class, method);
            if alternatives.len() > 1 {
                let file = frames[0].file.take();
                let first_class = frames.swap_remove(0).class;
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
        let ambiguous = frames.len() > 1 && (line == 0 || repeats_a_method(&frames));
        Remapped::Frames { frames, ambiguous }
    }
}

/// Equal frames once, first occurrence kept (in place for the usual few frames).
fn dedup(mut frames: Vec<JvmFrame<'_>>) -> Vec<JvmFrame<'_>> {
    if frames.len() <= SMALL {
        let mut j = 1;
        while j < frames.len() {
            if frames[..j].contains(&frames[j]) {
                frames.remove(j);
            } else {
                j += 1;
            }
        }
        return frames;
    }
    let mut seen = std::collections::HashSet::with_capacity(frames.len());
    let keep: Vec<bool> = frames.iter().map(|f| seen.insert(f.clone())).collect();
    frames
        .into_iter()
        .zip(keep)
        .filter_map(|(f, k)| k.then_some(f))
        .collect()
}

/// Up to this many frames, pairwise comparisons beat hashing.
const SMALL: usize = 16;

/// Whether some method appears twice (one method at several possible lines).
fn repeats_a_method(frames: &[JvmFrame<'_>]) -> bool {
    fn key<'f>(f: &'f JvmFrame<'_>) -> (&'f str, &'f str) {
        (f.class.as_ref(), f.method.as_ref())
    }
    if frames.len() <= SMALL {
        return frames
            .iter()
            .enumerate()
            .any(|(i, f)| frames[..i].iter().any(|g| key(g) == key(f)));
    }
    let mut seen = std::collections::HashSet::with_capacity(frames.len());
    frames.iter().any(|f| !seen.insert(key(f)))
}

fn word(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests;

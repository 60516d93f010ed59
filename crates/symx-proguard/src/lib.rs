//! ProGuard and R8 mapping files: the mapping's bytes in, a persisted index out, and remapping
//! of frames, classes and throwables on that index in place.
//!
//! The index (`SYMXJVM3`) holds a member table of our own (the `fast` module: a hash of
//! obfuscated classes, their methods, and every member with its original class, method, file
//! and lines resolved at build, read in place), which answers frames on a line inside a
//! member's obfuscated range (what release traces mostly hold) without allocating names; the
//! `proguard` crate's `ProguardCache` (classes and members sorted for binary search, read in
//! place) answers every other frame (no line, R8 outlines, rewrite rules for the exception
//! being thrown, lines outside every range); and a table of the alternatives of frames
//! without a line:
//!
//! ```text
//! magic "SYMXJVM3" | cache length u64 | ProguardCache | alternatives | member table
//! alternatives: count u32 | count x (offset u32, length u32) | UTF-8 lines, sorted:
//!               `<obfuscated class>\t<obfuscated method>\t<class>\t<method>`
//! ```
//!
//! The member table answers exactly as the cache would (unit tests compare the two on every
//! line of every range of the fixtures and of generated R8 mappings).
//!
//! The alternatives: a frame without a line (`Unknown Source`) whose obfuscated name several
//! methods share (ProGuard gives overloads and unrelated methods one name; each has its own
//! line range) is any of them, and ProGuard's retrace lists them all. The proguard crate
//! answers the first only, so the table keeps, for every obfuscated name with members in more
//! than one line range, the outermost method of each range (members sharing a range are one
//! R8 inline chain, one candidate).
//!
//! R8 metadata is honoured as the proguard crate implements the R8 retrace specification:
//! `com.android.tools.r8.synthesized` members are dropped from inline chains, outline frames
//! are folded into their callsite (`outline` / `outlineCallsite`), `rewriteFrame` rules remove
//! frames after a matching exception, and residual signatures are used for methods.
//!
//! This crate does no IO and knows nothing of storage or transports.

use proguard::{ProguardCache, ProguardMapping, StackFrame};
use std::borrow::Cow;
use symx_types::{ErrorCode, HasErrorCode};

mod fast;

const MAGIC: &[u8; 8] = b"SYMXJVM3";

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
    let mut cache = Vec::with_capacity(bytes.len());
    ProguardCache::write(&mapping, &mut cache)
        .map_err(|e| Error::InvalidMapping(format!("cannot index the mapping: {e}")))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + cache.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(cache.len() as u64).to_le_bytes());
    out.extend_from_slice(&cache);
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    carried_outline: Option<usize>,
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
    /// Where the ProguardCache ends and the alternatives table begins.
    cache_end: usize,
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

impl<B: AsRef<[u8]>> JvmIndex<B> {
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        let bad = |m: &str| Error::BadIndex(m.to_owned());
        if b.len() >= 8 && b[..7] == MAGIC[..7] && b[7] != MAGIC[7] {
            return Err(Error::IndexVersion(
                String::from_utf8_lossy(&b[..8]).into_owned(),
            ));
        }
        if b.len() < MAGIC.len() + 8 || &b[..MAGIC.len()] != MAGIC {
            return Err(bad("missing SYMXJVM3 header"));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&b[8..16]);
        let cache_end = usize::try_from(u64::from_le_bytes(len))
            .ok()
            .and_then(|l| l.checked_add(16))
            .filter(|&e| e.checked_add(4).is_some_and(|t| t <= b.len()))
            .ok_or_else(|| bad("cache length out of bounds"))?;
        ProguardCache::parse(&b[16..cache_end]).map_err(|e| Error::BadIndex(e.to_string()))?;
        let alternatives =
            word(b, cache_end).ok_or_else(|| bad("truncated alternatives"))? as usize;
        let table = cache_end + 4;
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
            cache_end,
            alternatives,
            table,
        })
    }

    /// Alternatives line `i` (checked at open).
    fn alternative(&self, i: usize) -> &str {
        let b = self.buf.as_ref();
        let table = self.cache_end + 4;
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

    fn cache(&self) -> Option<ProguardCache<'_>> {
        // A header and offset check (validated at open): keeps the index a plain buffer.
        ProguardCache::parse(self.buf.as_ref().get(16..self.cache_end)?).ok()
    }

    /// The original name of an obfuscated class, if the mapping renames it.
    pub fn remap_class(&self, class: &str) -> Option<String> {
        self.cache()?.remap_class(class).map(str::to_owned)
    }

    /// Replaces every obfuscated class name the mapping knows inside `text` (an exception
    /// message: `a.b.c cannot be cast to a.b.d`). Words are runs of Java identifier characters
    /// and dots.
    pub fn remap_classes_in(&self, text: &str) -> String {
        let Some(cache) = self.cache() else {
            return text.to_owned();
        };
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            let w = word.trim_end_matches('.');
            match (w.contains('.'), cache.remap_class(w)) {
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

    /// Remaps one frame of a trace (frames in the order the runtime printed them, innermost
    /// first), carrying R8 outline and rewrite state in `state`.
    pub fn remap_frame(
        &self,
        state: &mut TraceState,
        class: &str,
        method: &str,
        line: u32,
        file: Option<&str>,
    ) -> Remapped<'_> {
        if let Some(answer) = self.remap_from_table(state, class, method, line) {
            return answer;
        }
        self.remap_with_cache(state, class, method, line, file)
    }

    /// A frame on a line inside a member's obfuscated range, from the member table: `None`
    /// for every frame the table does not answer exactly as the proguard crate's cache does
    /// (see the `fast` module), which then goes to the cache.
    fn remap_from_table(
        &self,
        state: &mut TraceState,
        class: &str,
        method: &str,
        line: u32,
    ) -> Option<Remapped<'_>> {
        if line == 0 || state.carried_outline.is_some() {
            return None;
        }
        let b = self.buf.as_ref();
        let (start, count, flags) = self.table.method(b, class, method)?;
        if flags & fast::OUTLINE != 0
            || flags & fast::LINE_INFO == 0
            || (state.first_after_exception && flags & fast::REWRITE != 0)
        {
            return None;
        }
        let mut frames: Vec<JvmFrame<'_>> = Vec::new();
        // Bit i: frame i is synthesized (chains longer than 64 go to the cache).
        let mut synthesized = 0u64;
        for i in start..start.checked_add(count)? {
            // Members without an obfuscated range do not answer a line (the method has
            // ranges); the others answer the lines of their range.
            let (from, end) = self.table.range(b, i)?;
            if end == u32::MAX || end == 0 {
                continue;
            }
            let from = if from == u32::MAX { 0 } else { from };
            if line < from || line > end {
                continue;
            }
            if frames.len() == 64 {
                return None;
            }
            let m = self.table.member(b, i)?;
            let original_start = if m.original_start == u32::MAX {
                0
            } else {
                m.original_start
            };
            let original = if m.original_end == u32::MAX || m.original_end == original_start {
                original_start
            } else {
                original_start.checked_add(line - from).unwrap_or(0)
            };
            if m.synthesized {
                synthesized |= 1 << frames.len();
            }
            frames.push(JvmFrame {
                class: Cow::Borrowed(m.class),
                method: Cow::Borrowed(m.method),
                file: m.file.map(Cow::Borrowed),
                line: original,
            });
        }
        if frames.is_empty() {
            // Outside every range: the cache answers the class alone.
            return None;
        }
        state.first_after_exception = false;
        Some(chain_of(frames, synthesized))
    }

    fn remap_with_cache(
        &self,
        state: &mut TraceState,
        class: &str,
        method: &str,
        line: u32,
        file: Option<&str>,
    ) -> Remapped<'_> {
        let Some(cache) = self.cache() else {
            return Remapped::Unknown;
        };
        let line = usize::try_from(line).unwrap_or(0);
        let frame = match file {
            Some(f) => StackFrame::with_file(class, method, line, f),
            None => StackFrame::new(class, method, line),
        };
        let apply_rewrite = std::mem::take(&mut state.first_after_exception);
        let Some(iter) = cache.remap_frame_with_context(
            &frame,
            state.exception_descriptor.as_deref(),
            apply_rewrite,
            &mut state.carried_outline,
        ) else {
            // The rewrite chance passes to the next real frame.
            state.first_after_exception = apply_rewrite;
            return Remapped::Outline;
        };
        let had_mappings = iter.had_mappings();
        let mut remapped: Vec<StackFrame<'_>> = iter.collect();
        // Spec, "synthesized": compiler-made members (lambdas' bodies, bridges) are not shown
        // when the chain has real frames.
        if remapped.iter().any(|f| !f.method_synthesized()) {
            remapped.retain(|f| !f.method_synthesized());
        }
        let mut frames: Vec<JvmFrame<'_>> = Vec::with_capacity(remapped.len());
        for f in remapped {
            let frame = JvmFrame {
                class: Cow::Owned(f.class().to_owned()),
                method: Cow::Owned(f.method().to_owned()),
                file: f.file().map(|s| Cow::Owned(s.to_owned())),
                line: f.line().and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
            };
            // Two mapping entries can give the very same answer (overlapping ranges of one
            // method): it is one answer.
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
        // Without a line, every method of that obfuscated name (one per line range) is a
        // candidate, as ProGuard's retrace lists them.
        if line == 0 {
            let alternatives = self.alternatives_of(class, method);
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
        // Several frames are an inline chain only when the frame's line picked one mapping
        // range. Without a line, every member of that obfuscated name is a candidate; and a
        // method listed more than once (one frame per original line of a mapping entry
        // without an obfuscated range) is the same method at different possible lines. Both
        // are alternatives, not an inline chain.
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

/// The answer for the frames of a frame with a line: synthesized members dropped when the
/// chain has real frames (R8's retrace specification), equal answers kept once (overlapping
/// ranges of one method), ambiguous when one method appears at several possible lines.
fn chain_of(mut out: Vec<JvmFrame<'_>>, synthesized: u64) -> Remapped<'_> {
    let all_synthesized = synthesized.count_ones() as usize == out.len();
    let mut i = 0;
    out.retain(|_| {
        let keep = all_synthesized || synthesized & (1 << i) == 0;
        i += 1;
        keep
    });
    let mut j = 0;
    while j < out.len() {
        if out[..j].contains(&out[j]) {
            out.remove(j);
        } else {
            j += 1;
        }
    }
    let ambiguous = out.len() > 1
        && out.iter().enumerate().any(|(i, f)| {
            out[..i]
                .iter()
                .any(|g| (&g.class, &g.method) == (&f.class, &f.method))
        });
    Remapped::Frames {
        frames: out,
        ambiguous,
    }
}

fn word(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests;

//! The persisted JavaScript lookup index (`SYMXJSIX`), and lookups on it in place.
//!
//! Layout (all integers little-endian `u32`; a section is an array of them or of bytes):
//!
//! ```text
//! header   magic "SYMXJSIX" | format version | section count | (offset, len) per section
//! LINES    n_lines + 1 entries: index of the first token of each minified line
//! COLS     minified column of each token; tokens sorted by (line, column)
//! BLOCKS   the column of every 16th token (COLS[16 b]): a 1/16 summary that stays in cache
//! TOKENS   4 words per token: src_id, src_line, src_col, name_id   (NONE = u32::MAX)
//! LENGTHS  length of each minified line in UTF-16 units (`minifiedLineLengths` of the get API)
//! SCOPES   2 words per breakpoint, sorted: line, col
//! SCOPEBLK line and col of every 16th breakpoint (the same kind of summary)
//! SCOPEFN  function id of each breakpoint (NONE: outside any function)
//! SOURCES  2 words per source: (offset, len) in STRINGS, `sourceRoot` applied
//! NAMES    2 words per name: (offset, len) in STRINGS
//! FUNCS    2 words per function name: (offset, len) in STRINGS
//! CONTENT  4 words per source: content offset, len (in TEXT; NONE: no content),
//!          first line in LINESTARTS, line count
//! STARTS   start offset (relative to its content) of each line of each source content
//! STRINGS  UTF-8 bytes
//! TEXT     UTF-8 bytes of `sourcesContent`
//! HERMES   `x_hermes_function_offsets`: segment count n, n x (segment id, first, count),
//!          then the start offset of each bytecode function of every segment (segment i's
//!          at first..first+count); empty for maps of JavaScript text
//! ```
//!
//! For a Hermes map the "minified file" is bytecode: each line is a bytecode segment (line 1
//! is segment 0) and the column is a bytecode offset, so a frame printed as
//! `address at bundle:<line>:<offset>` is looked up at line `line - 1`, column `offset`. SCOPES then come from Metro's `x_facebook_sources` function maps
//! (the original name of the function enclosing each mapping's original position), as they
//! do for any map that carries them.
//!
//! Opening validates every section's size against the header counts, so a lookup can index
//! without re-checking; any inconsistency found later still yields `None`, never a panic.
//! A lookup is two array reads and a binary search within one minified line. Columns and
//! token data are separate arrays (structure of arrays) so the binary search walks a dense
//! array of columns, 16 to a cache line, instead of striding over whole tokens: on a 14 MB
//! map this halved the lookup time (BENCHMARKS.md).

use crate::Error;
use symx_types::ResolvedFrame;

pub(crate) const MAGIC: &[u8; 8] = b"SYMXJSIX";
/// Bump on any layout change: indexes of another version are rebuilt from the raw artifact.
pub const FORMAT_VERSION: u32 = 3;
pub(crate) const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Section {
    Lines = 0,
    Cols,
    Blocks,
    Tokens,
    Lengths,
    Scopes,
    ScopeBlocks,
    ScopeFn,
    Sources,
    Names,
    Funcs,
    Content,
    Starts,
    Strings,
    Text,
    Hermes,
}

pub(crate) const SECTION_COUNT: usize = 16;
/// Entries per summary entry: 16 columns are one 64-byte cache line, so a lookup costs the
/// summary search (in cache) plus about one line of columns and one token.
pub(crate) const BLOCK: usize = 16;
pub(crate) const HEADER_LEN: usize = 8 + 4 + 4 + SECTION_COUNT * 8;

/// One mapping found by [`JsIndex::lookup`]: 0-based original position and ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub src_id: u32,
    pub src_line: u32,
    pub src_col: u32,
    pub name_id: Option<u32>,
}

/// Why a position has no original location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// The line is past the end of the minified file.
    LineOutOfRange,
    /// Nothing is mapped at or before this column on this line, or the segment maps nowhere.
    Unmapped,
    /// A Hermes function id the map's `x_hermes_function_offsets` does not have.
    UnknownFunction,
}

/// A read-only view of an index: validated once at open, then used in place.
#[derive(Clone)]
pub struct JsIndex<B: AsRef<[u8]>> {
    buf: B,
    sections: [(usize, usize); SECTION_COUNT],
    n_lines: u32,
    /// Radix tables of the longest lines (a Hermes map's one line, a one-line bundle),
    /// derived at open: the summary search of such a line starts in a bucket of a few blocks
    /// instead of spanning the whole line.
    radix: Vec<LineRadix>,
    /// The same for the function-scope breakpoints of long lines.
    scope_radix: Vec<LineRadix>,
}

/// Lines with at least this many summary blocks get a radix table.
const RADIX_MIN_BLOCKS: usize = 1024;
/// Summary blocks per radix bucket, on average.
const RADIX_BLOCKS_PER_BUCKET: usize = 4;

/// For one long line: `starts[k]` is the first summary block of the line whose first column
/// is at least `k << shift` (the line's blocks are sorted by column).
#[derive(Clone, Debug)]
struct LineRadix {
    line: u32,
    shift: u32,
    starts: Vec<u32>,
}

impl LineRadix {
    /// The blocks `[from, to)` among which the first block past `col` lies (`end`: the
    /// line's end block, for a column past every bucket).
    fn bucket(&self, col: u32, end: usize) -> (usize, usize) {
        let k = (col >> self.shift) as usize;
        let at = |i: usize| self.starts.get(i).map_or(end, |&s| s as usize);
        let from = at(k);
        (from, at(k + 1).max(from))
    }
}

/// The radix table of blocks `[first, end)` of `line`, whose first columns `col(k)` ascend.
fn radix_of(line: u32, first: usize, end: usize, col: impl Fn(usize) -> u32) -> LineRadix {
    let max = u64::from(col(end - 1)) + 1;
    let buckets = ((end - first) / RADIX_BLOCKS_PER_BUCKET).max(1) as u64;
    let shift = max.div_ceil(buckets).next_power_of_two().trailing_zeros();
    let n = (max >> shift) as usize + 2;
    let mut starts = Vec::with_capacity(n);
    let mut j = first;
    for k in 0..n {
        let from = (k as u64) << shift;
        while j < end && u64::from(col(j)) < from {
            j += 1;
        }
        starts.push(j as u32);
    }
    LineRadix {
        line,
        shift,
        starts,
    }
}

impl<B: AsRef<[u8]>> std::fmt::Debug for JsIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsIndex")
            .field("bytes", &self.buf.as_ref().len())
            .field("lines", &self.n_lines)
            .finish()
    }
}

/// The first index in `[l, r)` whose entry is not `<=` the key (`le(i)` says whether entry `i`
/// is), for entries sorted ascending; `r` when all are.
#[inline(always)]
fn upper_bound(mut l: usize, mut r: usize, le: impl Fn(usize) -> bool) -> usize {
    while l < r {
        let m = l + (r - l) / 2;
        if le(m) {
            l = m + 1;
        } else {
            r = m;
        }
    }
    l
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<B: AsRef<[u8]>> JsIndex<B> {
    /// Validates the header and section sizes of a persisted index.
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        let bad = |what: &str| Error::BadIndex(what.to_owned());
        if b.len() < HEADER_LEN || &b[..8] != MAGIC {
            return Err(bad("missing SYMXJSIX header"));
        }
        let version = word(b, 8).ok_or_else(|| bad("truncated header"))?;
        if version != FORMAT_VERSION {
            return Err(Error::IndexVersion(version));
        }
        if word(b, 12) != Some(SECTION_COUNT as u32) {
            return Err(bad("unexpected section count"));
        }
        let mut sections = [(0usize, 0usize); SECTION_COUNT];
        for (i, s) in sections.iter_mut().enumerate() {
            let off = word(b, 16 + i * 8).ok_or_else(|| bad("truncated header"))? as usize;
            let len = word(b, 20 + i * 8).ok_or_else(|| bad("truncated header"))? as usize;
            if off.checked_add(len).is_none_or(|end| end > b.len()) {
                return Err(bad("section out of bounds"));
            }
            *s = (off, len);
        }
        let words = |s: Section| sections[s as usize].1 / 4;
        let lines_words = words(Section::Lines);
        if lines_words == 0 {
            return Err(bad("empty line table"));
        }
        let n_lines = (lines_words - 1) as u32;
        let n_tokens = words(Section::Cols);
        let n_sources = words(Section::Sources) / 2;
        let n_scopes = words(Section::ScopeFn);
        let consistent = sections[Section::Cols as usize].1 == n_tokens * 4
            && words(Section::Blocks) == n_tokens.div_ceil(BLOCK)
            && sections[Section::Tokens as usize].1 == n_tokens * 16
            && words(Section::Lengths) == n_lines as usize
            && sections[Section::Scopes as usize].1 == n_scopes * 8
            && sections[Section::ScopeFn as usize].1 == n_scopes * 4
            && words(Section::ScopeBlocks) == n_scopes.div_ceil(BLOCK) * 2
            && words(Section::Content) == n_sources * 4
            && sections[Section::Names as usize].1 % 8 == 0
            && sections[Section::Funcs as usize].1 % 8 == 0
            && sections[Section::Hermes as usize].1 % 4 == 0;
        if !consistent {
            return Err(bad("section sizes disagree"));
        }
        let mut index = Self {
            buf,
            sections,
            n_lines,
            radix: Vec::new(),
            scope_radix: Vec::new(),
        };
        // The line table must be monotonic and end at the token count.
        let mut prev = 0;
        for i in 0..=n_lines {
            let v = index.w(Section::Lines, i as usize).unwrap_or(u32::MAX);
            if v < prev || v as usize > n_tokens {
                return Err(bad("line table is not monotonic"));
            }
            prev = v;
        }
        index.radix = index.radix_tables();
        index.scope_radix = index.scope_radix_tables();
        Ok(index)
    }

    /// The radix tables of the lines with at least [`RADIX_MIN_BLOCKS`] summary blocks.
    fn radix_tables(&self) -> Vec<LineRadix> {
        let (boff, _) = self.sections[Section::Blocks as usize];
        let b = self.buf.as_ref();
        let block_col = |k: usize| word(b, boff + k * 4).unwrap_or(u32::MAX);
        let mut out = Vec::new();
        for line in 0..self.n_lines {
            let (Some(lo), Some(hi)) = (
                self.w(Section::Lines, line as usize),
                self.w(Section::Lines, line as usize + 1),
            ) else {
                continue;
            };
            let (fb, eb) = ((lo as usize).div_ceil(BLOCK), (hi as usize).div_ceil(BLOCK));
            if eb.saturating_sub(fb) < RADIX_MIN_BLOCKS {
                continue;
            }
            out.push(radix_of(line, fb, eb, block_col));
        }
        out
    }

    /// The radix tables of the function-scope breakpoints of lines with at least
    /// [`RADIX_MIN_BLOCKS`] summary blocks (the summary holds each block's first (line,
    /// column); one line's blocks are contiguous and sorted by column).
    fn scope_radix_tables(&self) -> Vec<LineRadix> {
        let n = self.sections[Section::ScopeFn as usize].1 / 4;
        let blocks = n.div_ceil(BLOCK);
        let at = |k: usize| {
            (
                self.w(Section::ScopeBlocks, k * 2).unwrap_or(u32::MAX),
                self.w(Section::ScopeBlocks, k * 2 + 1).unwrap_or(u32::MAX),
            )
        };
        let mut out = Vec::new();
        let mut k = 0;
        while k < blocks {
            let line = at(k).0;
            let mut end = k;
            while end < blocks && at(end).0 == line {
                end += 1;
            }
            if end - k >= RADIX_MIN_BLOCKS {
                out.push(radix_of(line, k, end, |j| at(j).1));
            }
            k = end;
        }
        out
    }

    /// Bytes this index holds in memory: its buffer and the tables derived at open.
    pub fn memory(&self) -> usize {
        self.buf.as_ref().len()
            + self
                .radix
                .iter()
                .chain(&self.scope_radix)
                .map(|r| r.starts.len() * 4 + 32)
                .sum::<usize>()
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    #[inline(always)]
    fn w(&self, s: Section, i: usize) -> Option<u32> {
        let (off, len) = self.sections[s as usize];
        let at = i.checked_mul(4)?;
        if at + 4 > len {
            return None;
        }
        word(self.buf.as_ref(), off + at)
    }

    fn section_bytes(&self, s: Section) -> &[u8] {
        let (off, len) = self.sections[s as usize];
        &self.buf.as_ref()[off..off + len]
    }

    /// Number of lines of the minified file.
    pub fn line_count(&self) -> u32 {
        self.n_lines
    }

    pub fn source_count(&self) -> u32 {
        (self.sections[Section::Sources as usize].1 / 8) as u32
    }

    /// Lengths of the minified file's lines (UTF-16 units).
    pub fn minified_line_lengths(&self) -> Vec<u32> {
        (0..self.n_lines as usize)
            .map(|i| self.w(Section::Lengths, i).unwrap_or(0))
            .collect()
    }

    fn string(&self, table: Section, id: u32) -> Option<&str> {
        let off = self.w(table, id as usize * 2)? as usize;
        let len = self.w(table, id as usize * 2 + 1)? as usize;
        let strings = self.section_bytes(Section::Strings);
        std::str::from_utf8(strings.get(off..off.checked_add(len)?)?).ok()
    }

    pub fn source(&self, id: u32) -> Option<&str> {
        self.string(Section::Sources, id)
    }

    pub fn name(&self, id: u32) -> Option<&str> {
        self.string(Section::Names, id)
    }

    /// The original position of a 0-based minified (line, column): the last mapping on that
    /// line at or before the column (the "greatest lower bound" of the source map spec).
    #[inline]
    pub fn lookup(&self, line: u32, col: u32) -> Result<Mapping, Miss> {
        if line >= self.n_lines {
            return Err(Miss::LineOutOfRange);
        }
        let lo = self
            .w(Section::Lines, line as usize)
            .ok_or(Miss::Unmapped)? as usize;
        let hi = self
            .w(Section::Lines, line as usize + 1)
            .ok_or(Miss::Unmapped)? as usize;
        let (coff, _) = self.sections[Section::Cols as usize];
        let (boff, _) = self.sections[Section::Blocks as usize];
        let (toff, _) = self.sections[Section::Tokens as usize];
        let b = self.buf.as_ref();
        let col_at = |i: usize| word(b, coff + i * 4).unwrap_or(u32::MAX);
        // Narrow [lo, hi) with the block summary: among the blocks that start inside this
        // line, find the last whose first column is <= col.
        let (mut l, mut r) = (lo, hi);
        let first_block = lo.div_ceil(BLOCK);
        let end_block = hi.div_ceil(BLOCK);
        if first_block < end_block {
            let block_col = |k: usize| word(b, boff + k * 4).unwrap_or(u32::MAX);
            // A long line's radix table narrows the search to one bucket's blocks.
            let (from, to) = match self.radix.iter().find(|r| r.line == line) {
                Some(r) => {
                    let (a, b) = r.bucket(col, end_block);
                    (
                        a.clamp(first_block, end_block),
                        b.clamp(first_block, end_block),
                    )
                }
                None => (first_block, end_block),
            };
            let bl = upper_bound(from, to, |k| block_col(k) <= col);
            // Blocks [first_block, bl) start at or before col.
            if bl == first_block {
                r = (first_block * BLOCK).min(hi);
            } else {
                l = (bl - 1) * BLOCK;
                r = (bl * BLOCK).min(hi);
            }
        }
        // First token with dst_col > col, within [l, r).
        let l = upper_bound(l, r, |i| col_at(i) <= col);
        if l == lo {
            return Err(Miss::Unmapped);
        }
        debug_assert!(l > lo && l <= hi);
        let at = toff + (l - 1) * 16;
        let src_id = word(b, at).ok_or(Miss::Unmapped)?;
        if src_id == NONE {
            return Err(Miss::Unmapped);
        }
        let name_id = word(b, at + 12).ok_or(Miss::Unmapped)?;
        Ok(Mapping {
            src_id,
            src_line: word(b, at + 4).ok_or(Miss::Unmapped)?,
            src_col: word(b, at + 8).ok_or(Miss::Unmapped)?,
            name_id: (name_id != NONE).then_some(name_id),
        })
    }

    /// The original name of the function enclosing a 0-based minified position.
    pub fn function_at(&self, line: u32, col: u32) -> Option<&str> {
        let n = self.sections[Section::ScopeFn as usize].1 / 4;
        let key = ((line as u64) << 32) | col as u64;
        let pair = |s: Section, i: usize| -> u64 {
            let l = self.w(s, i * 2).unwrap_or(u32::MAX) as u64;
            let c = self.w(s, i * 2 + 1).unwrap_or(u32::MAX) as u64;
            (l << 32) | c
        };
        // Summary first: the last block whose first breakpoint is <= key (within one bucket
        // of a long line's radix table: blocks of earlier lines are all <= key).
        let blocks = n.div_ceil(BLOCK);
        let (from, to) = match self.scope_radix.iter().find(|r| r.line == line) {
            Some(r) => r.bucket(col, blocks),
            None => (0, blocks),
        };
        let bl = upper_bound(from, to, |k| pair(Section::ScopeBlocks, k) <= key);
        if bl == 0 {
            return None;
        }
        let l = upper_bound((bl - 1) * BLOCK, (bl * BLOCK).min(n), |i| {
            pair(Section::Scopes, i) <= key
        });
        // l > (bl - 1) * BLOCK: that breakpoint is <= key by the summary.
        let id = self.w(Section::ScopeFn, l.checked_sub(1)?)?;
        if id == NONE {
            return None;
        }
        self.string(Section::Funcs, id)
    }

    /// [`function_at`](Self::function_at) by a linear scan of every breakpoint (the oracle of
    /// the summary and radix searches in tests).
    #[cfg(test)]
    pub(crate) fn function_at_linear(&self, line: u32, col: u32) -> Option<&str> {
        let n = self.sections[Section::ScopeFn as usize].1 / 4;
        let key = ((line as u64) << 32) | col as u64;
        let mut last = None;
        for i in 0..n {
            let l = self.w(Section::Scopes, i * 2)? as u64;
            let c = self.w(Section::Scopes, i * 2 + 1)? as u64;
            if (l << 32) | c > key {
                break;
            }
            last = Some(i);
        }
        let id = self.w(Section::ScopeFn, last?)?;
        if id == NONE {
            return None;
        }
        self.string(Section::Funcs, id)
    }

    /// Line `line` (0-based) of source `src_id`'s embedded content, without its line break.
    pub fn source_line(&self, src_id: u32, line: u32) -> Option<&str> {
        let base = src_id as usize * 4;
        let off = self.w(Section::Content, base)?;
        if off == NONE {
            return None;
        }
        let len = self.w(Section::Content, base + 1)? as usize;
        let first = self.w(Section::Content, base + 2)? as usize;
        let count = self.w(Section::Content, base + 3)?;
        if line >= count {
            return None;
        }
        let start = self.w(Section::Starts, first + line as usize)? as usize;
        let end = if line + 1 < count {
            self.w(Section::Starts, first + line as usize + 1)? as usize
        } else {
            len
        };
        let text = self.section_bytes(Section::Text);
        let abs = off as usize;
        let raw = text.get(abs + start..abs + end.max(start))?;
        let s = std::str::from_utf8(raw).ok()?;
        Some(s.trim_end_matches(['\n', '\r']))
    }

    /// Whether this is the map of Hermes bytecode (it has `x_hermes_function_offsets`).
    pub fn is_hermes(&self) -> bool {
        self.sections[Section::Hermes as usize].1 > 0
    }

    /// The (first, count) of a segment's function offsets in HERMES.
    fn hermes_segment(&self, segment: u32) -> Option<(u32, u32)> {
        let n = self.w(Section::Hermes, 0)?;
        (0..n).find_map(|i| {
            let at = 1 + 3 * i as usize;
            (self.w(Section::Hermes, at)? == segment).then(|| {
                Some((
                    self.w(Section::Hermes, at + 1)?,
                    self.w(Section::Hermes, at + 2)?,
                ))
            })?
        })
    }

    /// Number of bytecode functions of a segment (0 is the main one) whose start offsets the
    /// map gives.
    pub fn hermes_function_count(&self, segment: u32) -> u32 {
        self.hermes_segment(segment).map_or(0, |(_, n)| n)
    }

    /// The virtual bytecode offset of a frame in `segment`: `offset` itself (as Hermes
    /// prints it in `address at bundle:<segment + 1>:<offset>`), or, with a function id (as
    /// Hermes crash reports give `FunctionID` and `ByteCodeOffset`), the start of that
    /// function of the segment plus `offset`.
    pub fn bytecode_offset(
        &self,
        segment: u32,
        function_id: Option<u32>,
        offset: u32,
    ) -> Result<u32, Miss> {
        let Some(f) = function_id else {
            return Ok(offset);
        };
        let (first, count) = self.hermes_segment(segment).ok_or(Miss::UnknownFunction)?;
        if f >= count {
            return Err(Miss::UnknownFunction);
        }
        let n = self.w(Section::Hermes, 0).ok_or(Miss::UnknownFunction)?;
        let table = 1 + 3 * n as usize;
        self.w(Section::Hermes, table + (first + f) as usize)
            .and_then(|start| start.checked_add(offset))
            .ok_or(Miss::UnknownFunction)
    }

    /// Resolves a Hermes frame at a 1-based `line` (the bytecode segment plus one: Hermes
    /// prints `address at bundle:<line>:<offset>`; 0 is taken as 1) (see
    /// [`Self::bytecode_offset`]): bytecode maps have a line per segment and the offset as
    /// the column.
    pub fn resolve_bytecode(
        &self,
        line: u32,
        function_id: Option<u32>,
        offset: u32,
        context: u32,
    ) -> Result<ResolvedFrame, Miss> {
        let segment = line.max(1) - 1;
        let virtual_offset = self.bytecode_offset(segment, function_id, offset)?;
        self.resolve0(segment, virtual_offset, context)
    }

    /// Resolves a 1-based (line, column) frame position to an original frame. With
    /// `context > 0`, the source line and up to `context` lines before and after come too
    /// (when the map embeds sources); with 0, no source text is read.
    pub fn resolve(&self, line: u32, column: u32, context: u32) -> Result<ResolvedFrame, Miss> {
        self.resolve0(line.saturating_sub(1), column.saturating_sub(1), context)
    }

    fn resolve0(&self, l0: u32, c0: u32, context: u32) -> Result<ResolvedFrame, Miss> {
        let m = self.lookup(l0, c0)?;
        let mut frame = ResolvedFrame {
            source: self.source(m.src_id).unwrap_or_default().to_owned(),
            line: m.src_line.saturating_add(1),
            column: m.src_col.saturating_add(1),
            symbol: m.name_id.and_then(|n| self.name(n)).map(str::to_owned),
            function: self.function_at(l0, c0).map(str::to_owned),
            ..ResolvedFrame::default()
        };
        if context == 0 {
            return Ok(frame);
        }
        if let Some(cl) = self.source_line(m.src_id, m.src_line) {
            frame.context_line = Some(cl.to_owned());
            let from = m.src_line.saturating_sub(context);
            frame.pre_context = (from..m.src_line)
                .filter_map(|l| self.source_line(m.src_id, l).map(str::to_owned))
                .collect();
            frame.post_context = (m.src_line + 1..=m.src_line.saturating_add(context))
                .map_while(|l| self.source_line(m.src_id, l).map(str::to_owned))
                .collect();
        }
        Ok(frame)
    }
}

//! The persisted native index, `SYMXNAT5`: written by [`crate::convert`], read in place.
//!
//! ```text
//! header   magic "SYMXNAT5" | load address u64 | ranges u32 | buckets u32 | shift u32 |
//!          locations u32 | functions u32 | string bytes u32 | debug id str | code id str
//! starts   ranges x u32        module-relative start address of each range, ascending
//! targets  ranges x u32        the innermost location of each range (NONE: no function)
//! summary  (buckets + 1) x u32 per bucket of 2^shift bytes from the first start: the last
//!                              range starting at or before the bucket's first address
//! locations  locations x (function u32, line u32, parent u32, path str)
//! functions  functions x (entry u32, outer str, inner str, signature str, mangled str)
//! strings  string bytes        UTF-8
//! str:     offset u32, length u32 into strings (offset NONE: absent)
//! ```
//!
//! All integers are little-endian; every table starts 4-aligned. A range covers its start up
//! to the next range's start (the last one, every higher address). A lookup reads the summary
//! entry of the address's bucket and the next one, and searches the few ranges between them
//! (the shift is chosen for about four ranges per bucket). A location's `parent` is the
//! location it was inlined into, always of a lower index (the writer guarantees it; a lookup
//! stops at a parent that is not lower, so a damaged index cannot loop). A function's `outer`
//! name is what an outermost frame answers, `inner` what an inlined frame answers (they
//! differ for PDB procedures, see the crate docs); `entry` is NONE for inlined code. A
//! function's strings sit next to each other in the string table: one frame reads one or two
//! cache lines of it.
//!
//! This is the one module of the crate with `unsafe`: at open, the whole string table is
//! checked to be UTF-8 and every string reference to lie within it on character boundaries,
//! so a lookup takes its strings without checking them again (`from_utf8` was 30% of a
//! lookup's time, measured with perf on `benches/benches/native.rs`). A lookup uses the
//! unchecked read only on the very buffer that was checked (same address and length);
//! otherwise it checks as it reads.
#![allow(unsafe_code)]

use crate::Error;

pub(crate) const MAGIC: &[u8; 8] = b"SYMXNAT5";
/// Absent index or offset.
pub(crate) const NONE: u32 = u32::MAX;
/// Ranges per bucket of the summary the writer aims at.
const RANGES_PER_BUCKET: u64 = 4;
pub(crate) const HEADER_LEN: usize = 8 + 8 + 6 * 4 + 2 * 8;
const LOCATION_LEN: usize = 12 + STR_LEN;
const FUNCTION_LEN: usize = 4 + 4 * STR_LEN;
const STR_LEN: usize = 8;

/// A string of the string table: (offset, length); offset NONE when absent.
pub(crate) type Str = (u32, u32);
pub(crate) const NO_STR: Str = (NONE, 0);

/// One location as written: the function, the line (0: unknown), the location it was
/// inlined into (NONE: outermost) and the file's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Location {
    pub function: u32,
    pub line: u32,
    pub parent: u32,
    pub path: Str,
}

/// One function as written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FunctionEntry {
    pub entry: u32,
    pub outer: Str,
    pub inner: Str,
    pub signature: Str,
    pub mangled: Str,
}

/// Everything an index holds, ready to be written.
pub(crate) struct Tables<'a> {
    pub load_address: u64,
    pub ranges: &'a [(u32, u32)],
    pub locations: &'a [Location],
    pub functions: &'a [FunctionEntry],
    pub strings: &'a [u8],
    pub debug_id: Str,
    pub code_id: Str,
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, (off, len): Str) {
    put(out, off);
    put(out, len);
}

fn count(n: usize, what: &str) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::InvalidObject(format!("too many {what} for an index")))
}

/// The shift of the summary's buckets: about [`RANGES_PER_BUCKET`] ranges per bucket.
fn summary_shift(ranges: &[(u32, u32)]) -> u32 {
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return 0;
    };
    let span = u64::from(last.0 - first.0) + 1;
    let want = (ranges.len() as u64).div_ceil(RANGES_PER_BUCKET).max(1);
    let mut shift = 0;
    while (span >> shift) > want {
        shift += 1;
    }
    shift
}

/// The summary: per bucket, the last range starting at or before the bucket's first address.
fn summary(ranges: &[(u32, u32)], shift: u32) -> Vec<u32> {
    let Some(first) = ranges.first() else {
        return Vec::new();
    };
    let span = u64::from(ranges[ranges.len() - 1].0 - first.0);
    let buckets = (span >> shift) + 1;
    let mut out = Vec::with_capacity(buckets as usize + 1);
    let mut r = 0usize;
    for i in 0..=buckets {
        let at = u64::from(first.0) + (i << shift);
        while r + 1 < ranges.len() && u64::from(ranges[r + 1].0) <= at {
            r += 1;
        }
        out.push(r as u32);
    }
    out
}

/// Writes an index.
pub(crate) fn write(t: &Tables<'_>) -> Result<Vec<u8>, Error> {
    let shift = summary_shift(t.ranges);
    let summary = summary(t.ranges, shift);
    let buckets = summary.len().saturating_sub(1);
    let len = HEADER_LEN
        + t.ranges.len() * 8
        + summary.len() * 4
        + t.locations.len() * LOCATION_LEN
        + t.functions.len() * FUNCTION_LEN
        + t.strings.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&t.load_address.to_le_bytes());
    for (n, what) in [
        (t.ranges.len(), "address ranges"),
        (buckets, "address ranges"),
        (shift as usize, "address bits"),
        (t.locations.len(), "source locations"),
        (t.functions.len(), "functions"),
        (t.strings.len(), "string bytes"),
    ] {
        put(&mut out, count(n, what)?);
    }
    put_str(&mut out, t.debug_id);
    put_str(&mut out, t.code_id);
    for &(start, _) in t.ranges {
        put(&mut out, start);
    }
    for &(_, target) in t.ranges {
        put(&mut out, target);
    }
    for &s in &summary {
        put(&mut out, s);
    }
    for l in t.locations {
        for v in [l.function, l.line, l.parent] {
            put(&mut out, v);
        }
        put_str(&mut out, l.path);
    }
    for f in t.functions {
        put(&mut out, f.entry);
        for s in [f.outer, f.inner, f.signature, f.mangled] {
            put_str(&mut out, s);
        }
    }
    out.extend_from_slice(t.strings);
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// One frame of an inline chain, borrowed from the index. Lines are 1-based (0: unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeFrame<'a> {
    /// The function name as llvm-symbolizer prints it: demangled (C++, Rust, Swift,
    /// Objective-C; C++ names from DWARF with their parameter list, as the demangler gives
    /// them), PDB names without their argument list.
    pub function: &'a str,
    /// The full signature with its argument list, when the name has one (PDB type
    /// information, or a demangled C++ name).
    pub signature: Option<&'a str>,
    /// The mangled name the function's name was demangled from, when it was mangled.
    pub mangled: Option<&'a str>,
    /// The full path of the source file (compilation directory, directory and name joined).
    pub file: Option<&'a str>,
    pub line: u32,
    /// True for every frame but the outermost: code inlined into its caller.
    pub inlined: bool,
    /// Offset of the address into the function (outermost frame only).
    pub function_offset: Option<u64>,
}

/// Where each table of an index starts, checked at open.
#[derive(Clone, Copy, Debug)]
struct Layout {
    ranges: usize,
    buckets: usize,
    shift: u32,
    /// The first range's start (the summary's origin).
    base: u32,
    locations: usize,
    functions: usize,
    strings_len: usize,
    starts_at: usize,
    targets_at: usize,
    summary_at: usize,
    locations_at: usize,
    functions_at: usize,
    strings_at: usize,
}

/// A persisted native index, checked at open and read in place.
#[derive(Clone)]
pub struct NativeIndex<B: AsRef<[u8]>> {
    buf: B,
    load_address: u64,
    layout: Layout,
    debug_id: Str,
    code_id: Str,
    /// The address and length of the buffer whose strings were checked at open.
    checked: (usize, usize),
}

impl<B: AsRef<[u8]>> std::fmt::Debug for NativeIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeIndex")
            .field("bytes", &self.buf.as_ref().len())
            .field("load_address", &self.load_address)
            .field("ranges", &self.layout.ranges)
            .finish()
    }
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => NONE,
    }
}

impl<B: AsRef<[u8]>> NativeIndex<B> {
    /// Checks the header and that every table lies within the buffer. An index of an older
    /// format is [`Error::IndexVersion`]: the caller rebuilds it from the raw file.
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        let bad = |m: &str| Error::BadIndex(m.to_owned());
        if b.len() >= 8 && b[..7] == MAGIC[..7] && b[7] != MAGIC[7] {
            return Err(Error::IndexVersion(
                String::from_utf8_lossy(&b[..8]).into_owned(),
            ));
        }
        if b.len() < HEADER_LEN || &b[..8] != MAGIC {
            return Err(bad("missing SYMXNAT5 header"));
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[8..16]);
        let load_address = u64::from_le_bytes(w);
        let n = |i: usize| u32_at(b, 16 + 4 * i) as usize;
        let (ranges, buckets, shift, locations, functions, strings_len) =
            (n(0), n(1), n(2), n(3), n(4), n(5));
        if shift >= 32 || (ranges == 0) != (buckets == 0) {
            return Err(bad("address summary does not match the address table"));
        }
        let debug_id = (u32_at(b, 40), u32_at(b, 44));
        let code_id = (u32_at(b, 48), u32_at(b, 52));
        // Each table's end, with checked arithmetic: counts come from the file.
        let mut at = HEADER_LEN;
        let mut take = |count: usize, size: usize| -> Result<usize, Error> {
            let start = at;
            at = count
                .checked_mul(size)
                .and_then(|len| start.checked_add(len))
                .filter(|&end| end <= b.len())
                .ok_or_else(|| bad("a table runs past the end of the index"))?;
            Ok(start)
        };
        let starts_at = take(ranges, 4)?;
        let targets_at = take(ranges, 4)?;
        let summary_at = take(buckets + usize::from(ranges > 0), 4)?;
        let locations_at = take(locations, LOCATION_LEN)?;
        let functions_at = take(functions, FUNCTION_LEN)?;
        let strings_at = take(strings_len, 1)?;
        let strings = std::str::from_utf8(&b[strings_at..strings_at + strings_len])
            .map_err(|e| bad(&format!("string table is not UTF-8: {e}")))?;
        // Every string reference within the table, on character boundaries.
        let fits = |(off, len): Str| {
            off == NONE
                || (off as usize)
                    .checked_add(len as usize)
                    .is_some_and(|end| strings.get(off as usize..end).is_some())
        };
        let refs_at = |table: usize, count: usize, size: usize, first: usize, n: usize| {
            (0..count).all(|i| {
                (0..n).all(|k| {
                    let at = table + i * size + first + k * STR_LEN;
                    fits((u32_at(b, at), u32_at(b, at + 4)))
                })
            })
        };
        if !fits(debug_id) || !fits(code_id) {
            return Err(bad("ids out of bounds"));
        }
        if !refs_at(locations_at, locations, LOCATION_LEN, 12, 1)
            || !refs_at(functions_at, functions, FUNCTION_LEN, 4, 4)
        {
            return Err(bad("a string reference lies outside the string table"));
        }
        Ok(Self {
            load_address,
            layout: Layout {
                ranges,
                buckets,
                shift: shift as u32,
                base: u32_at(b, starts_at),
                locations,
                functions,
                strings_len,
                starts_at,
                targets_at,
                summary_at,
                locations_at,
                functions_at,
                strings_at,
            },
            debug_id,
            code_id,
            checked: (b.as_ptr() as usize, b.len()),
            buf,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn load_address(&self) -> u64 {
        self.load_address
    }

    /// A string of the string table; `None` when absent or damaged.
    #[inline]
    fn str_at(&self, (off, len): Str) -> Option<&str> {
        if off == NONE {
            return None;
        }
        let b = self.buf.as_ref();
        let start = self.layout.strings_at + off as usize;
        let end = start.checked_add(len as usize)?;
        if end > self.layout.strings_at + self.layout.strings_len {
            return None;
        }
        let bytes = b.get(start..end)?;
        if (b.as_ptr() as usize, b.len()) == self.checked {
            // SAFETY: `open` checked that these very bytes (same buffer, address and length;
            // the buffer is owned by `self` and only read) are UTF-8 and that every string
            // reference in the index starts and ends on a character boundary; `(off, len)`
            // was read from those references and is within the table (checked above).
            Some(unsafe { std::str::from_utf8_unchecked(bytes) })
        } else {
            std::str::from_utf8(bytes).ok()
        }
    }

    #[inline]
    fn str_ref(&self, at: usize) -> Str {
        let b = self.buf.as_ref();
        (u32_at(b, at), u32_at(b, at + 4))
    }

    /// The debug id of the object this index was built from.
    pub fn debug_id(&self) -> &str {
        self.str_at(self.debug_id).unwrap_or_default()
    }

    /// The code id of the object this index was built from ("" when it has none).
    pub fn code_id(&self) -> &str {
        self.str_at(self.code_id).unwrap_or_default()
    }

    /// The innermost location of the range holding `addr`: the summary gives the few ranges
    /// the address's bucket spans, which are searched.
    #[inline]
    fn target(&self, addr: u32) -> u32 {
        let b = self.buf.as_ref();
        let l = &self.layout;
        if l.ranges == 0 || addr < l.base {
            return NONE;
        }
        let start = |i: usize| u32_at(b, l.starts_at + 4 * i);
        let bucket = ((addr - l.base) >> l.shift) as usize;
        // The answer is the last range starting at or before `addr`: at or after the last one
        // starting at or before the bucket's first address, at or before that of the next.
        let (mut lo, mut hi) = if bucket < l.buckets {
            let at = l.summary_at + 4 * bucket;
            (u32_at(b, at) as usize, u32_at(b, at + 4) as usize + 1)
        } else {
            (l.ranges - 1, l.ranges)
        };
        hi = hi.min(l.ranges);
        lo = lo.min(hi);
        if lo < hi && start(lo) > addr {
            return NONE;
        }
        lo += 1;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if start(mid) <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match lo.checked_sub(1) {
            Some(i) if i < l.ranges => u32_at(b, l.targets_at + 4 * i),
            _ => NONE,
        }
    }

    /// The module-relative addresses the index's ranges span: from the first range's start
    /// to the last's (where no function is); `None` without ranges.
    pub fn span(&self) -> Option<(u64, u64)> {
        let l = &self.layout;
        if l.ranges == 0 {
            return None;
        }
        let b = self.buf.as_ref();
        Some((
            u64::from(u32_at(b, l.starts_at)),
            u64::from(u32_at(b, l.starts_at + 4 * (l.ranges - 1))),
        ))
    }

    /// The inline chain at a module-relative address (an offset from the image base),
    /// innermost first; empty when no function covers the address. Allocates nothing: the
    /// frames borrow from the index.
    pub fn lookup_relative(&self, addr: u64) -> Frames<'_, B> {
        let (location, addr) = match u32::try_from(addr) {
            Ok(a) => (self.target(a), a),
            Err(_) => (NONE, 0),
        };
        Frames {
            index: self,
            location,
            addr,
        }
    }

    /// The inline chain at a virtual address as the file states it (what `nm`, `objdump`
    /// and `llvm-symbolizer` print).
    pub fn lookup_vaddr(&self, vaddr: u64) -> Frames<'_, B> {
        self.lookup_relative(vaddr.checked_sub(self.load_address).unwrap_or(u64::MAX))
    }

    fn frame(&self, location: u32, addr: u32) -> Option<(NativeFrame<'_>, u32)> {
        let b = self.buf.as_ref();
        let l = &self.layout;
        if location as usize >= l.locations {
            return None;
        }
        let at = l.locations_at + LOCATION_LEN * location as usize;
        let (function, line, parent, path) = (
            u32_at(b, at),
            u32_at(b, at + 4),
            u32_at(b, at + 8),
            self.str_ref(at + 12),
        );
        // A parent is always of a lower index: anything else ends the chain.
        let parent = if parent < location { parent } else { NONE };
        let outermost = parent == NONE;
        if function as usize >= l.functions {
            return None;
        }
        let f = l.functions_at + FUNCTION_LEN * function as usize;
        let entry = u32_at(b, f);
        let name = self.str_ref(if outermost { f + 4 } else { f + 12 });
        let frame = NativeFrame {
            function: self.str_at(name).unwrap_or("?"),
            signature: self.str_at(self.str_ref(f + 20)),
            mangled: self.str_at(self.str_ref(f + 28)),
            file: self.str_at(path),
            line,
            inlined: !outermost,
            function_offset: (outermost && entry != NONE)
                .then(|| u64::from(addr.saturating_sub(entry))),
        };
        Some((frame, parent))
    }
}

/// The frames of one lookup, innermost first, borrowed from the index.
pub struct Frames<'a, B: AsRef<[u8]>> {
    index: &'a NativeIndex<B>,
    location: u32,
    addr: u32,
}

impl<'a, B: AsRef<[u8]>> Iterator for Frames<'a, B> {
    type Item = NativeFrame<'a>;

    #[inline]
    fn next(&mut self) -> Option<NativeFrame<'a>> {
        if self.location == NONE {
            return None;
        }
        match self.index.frame(self.location, self.addr) {
            Some((frame, parent)) => {
                self.location = parent;
                Some(frame)
            }
            None => {
                self.location = NONE;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(starts: &[u32], strings: &str, path: Str) -> Vec<u8> {
        let ranges: Vec<(u32, u32)> = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, if i % 7 == 6 { NONE } else { 0 }))
            .collect();
        let name = (0, 1);
        write(&Tables {
            load_address: 0x1000,
            ranges: &ranges,
            locations: &[Location {
                function: 0,
                line: 3,
                parent: NONE,
                path,
            }],
            functions: &[FunctionEntry {
                entry: starts.first().copied().unwrap_or(0),
                outer: name,
                inner: name,
                signature: NO_STR,
                mangled: NO_STR,
            }],
            strings: strings.as_bytes(),
            debug_id: NO_STR,
            code_id: NO_STR,
        })
        .expect("writes")
    }

    /// The summary search answers what a scan of every range answers, for starts spread
    /// unevenly (dense runs, long gaps, addresses before, between and after them).
    #[test]
    fn summary_search_agrees_with_a_linear_scan() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [0usize, 1, 2, 3, 5, 64, 1000, 20_000] {
            let mut starts: Vec<u32> = Vec::with_capacity(n);
            let mut at = 0x40u32 + (next() % 100) as u32;
            for _ in 0..n {
                starts.push(at);
                at += match next() % 10 {
                    0 => 1 + (next() % 100_000) as u32,
                    _ => 1 + (next() % 16) as u32,
                };
            }
            let bytes = index_of(&starts, "fp", (1, 1));
            let idx = NativeIndex::open(bytes.as_slice()).expect("opens");
            let expect = |addr: u32| match starts.partition_point(|&s| s <= addr) {
                0 => NONE,
                i if i % 7 == 0 => NONE,
                _ => 0,
            };
            let last = starts.last().copied().unwrap_or(0);
            let mut probes: Vec<u32> = vec![0, 1, 0x3f, 0x40, last, last + 1, u32::MAX];
            for &s in starts.iter().take(3000) {
                probes.extend([s.wrapping_sub(1), s, s + 1]);
            }
            for _ in 0..20_000 {
                probes.push((next() % (u64::from(last) + 200)) as u32);
            }
            for addr in probes {
                assert_eq!(idx.target(addr), expect(addr), "n={n} addr={addr:#x}");
            }
            let frames: Vec<_> = idx.lookup_vaddr(0x1000 + u64::from(last) + 5).collect();
            if n > 0 && n % 7 != 0 {
                assert_eq!(frames.len(), 1);
                assert_eq!((frames[0].function, frames[0].file), ("f", Some("p")));
                assert_eq!(
                    frames[0].function_offset,
                    Some(u64::from(last - starts[0] + 5))
                );
            }
        }
    }

    /// A string reference that ends inside a character, or runs past the table, is refused at
    /// open: lookups read strings unchecked.
    #[test]
    fn string_references_are_checked_at_open() {
        assert!(NativeIndex::open(index_of(&[0x10], "fé", (1, 2))).is_ok());
        let split = index_of(&[0x10], "fé", (1, 1));
        assert!(matches!(NativeIndex::open(split), Err(Error::BadIndex(_))));
        let past = index_of(&[0x10], "fé", (2, 5));
        assert!(matches!(NativeIndex::open(past), Err(Error::BadIndex(_))));
        let mut not_utf8 = index_of(&[0x10], "fp", (1, 1));
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert!(matches!(
            NativeIndex::open(not_utf8),
            Err(Error::BadIndex(_))
        ));
    }
}

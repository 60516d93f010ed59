//! The persisted native index, `SYMXNAT5`: written by [`crate::convert`], read in place.
//!
//! ```text
//! header   magic "SYMXNAT5" | load address u64 | ranges u32 | blocks u32 | locations u32 |
//!          functions u32 | files u32 | string bytes u32 | debug id str | code id str
//! starts   ranges x u32        module-relative start address of each range, ascending
//! targets  ranges x u32        the innermost location of each range (NONE: no function)
//! blocks   blocks x u32        every BLOCK-th start: the summary a lookup searches first
//! locations  locations x (function u32, file u32, line u32, parent u32)
//! functions  functions x (entry u32, outer str, inner str, signature str, mangled str)
//! files    files x str         full paths
//! strings  string bytes        UTF-8
//! str:     offset u32, length u32 into strings (offset NONE: absent)
//! ```
//!
//! All integers are little-endian; every table starts 4-aligned. A range covers its start up
//! to the next range's start (the last one, every higher address). A location's `parent` is
//! the location it was inlined into, always of a lower index (the writer guarantees it; a
//! lookup stops at a parent that is not lower, so a damaged index cannot loop). A function's
//! `outer` name is what an outermost frame answers, `inner` what an inlined frame answers
//! (they differ for PDB procedures, see the crate docs); `entry` is NONE for inlined code.

use crate::Error;

pub(crate) const MAGIC: &[u8; 8] = b"SYMXNAT5";
/// Absent index or offset.
pub(crate) const NONE: u32 = u32::MAX;
/// Ranges per entry of the block summary.
pub(crate) const BLOCK: usize = 64;
pub(crate) const HEADER_LEN: usize = 8 + 8 + 6 * 4 + 2 * 8;
const LOCATION_LEN: usize = 16;
const FUNCTION_LEN: usize = 4 + 4 * 8;
const STR_LEN: usize = 8;

/// A string of the string table: (offset, length); offset NONE when absent.
pub(crate) type Str = (u32, u32);
pub(crate) const NO_STR: Str = (NONE, 0);

/// One location as written: the function, the file (NONE: unknown), the line (0: unknown)
/// and the location it was inlined into (NONE: outermost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Location {
    pub function: u32,
    pub file: u32,
    pub line: u32,
    pub parent: u32,
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
    pub files: &'a [Str],
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

/// Writes an index.
pub(crate) fn write(t: &Tables<'_>) -> Result<Vec<u8>, Error> {
    let blocks = t.ranges.len().div_ceil(BLOCK);
    let len = HEADER_LEN
        + t.ranges.len() * 8
        + blocks * 4
        + t.locations.len() * LOCATION_LEN
        + t.functions.len() * FUNCTION_LEN
        + t.files.len() * STR_LEN
        + t.strings.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&t.load_address.to_le_bytes());
    for (n, what) in [
        (t.ranges.len(), "address ranges"),
        (blocks, "address ranges"),
        (t.locations.len(), "source locations"),
        (t.functions.len(), "functions"),
        (t.files.len(), "files"),
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
    for block in t.ranges.chunks(BLOCK) {
        put(&mut out, block[0].0);
    }
    for l in t.locations {
        for v in [l.function, l.file, l.line, l.parent] {
            put(&mut out, v);
        }
    }
    for f in t.functions {
        put(&mut out, f.entry);
        for s in [f.outer, f.inner, f.signature, f.mangled] {
            put_str(&mut out, s);
        }
    }
    for &f in t.files {
        put_str(&mut out, f);
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
    blocks: usize,
    locations: usize,
    functions: usize,
    files: usize,
    strings_len: usize,
    starts_at: usize,
    targets_at: usize,
    blocks_at: usize,
    locations_at: usize,
    functions_at: usize,
    files_at: usize,
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
        let (ranges, blocks, locations, functions, files, strings_len) =
            (n(0), n(1), n(2), n(3), n(4), n(5));
        if blocks != ranges.div_ceil(BLOCK) {
            return Err(bad("block summary does not match the address table"));
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
        let blocks_at = take(blocks, 4)?;
        let locations_at = take(locations, LOCATION_LEN)?;
        let functions_at = take(functions, FUNCTION_LEN)?;
        let files_at = take(files, STR_LEN)?;
        let strings_at = take(strings_len, 1)?;
        let index = Self {
            load_address,
            layout: Layout {
                ranges,
                blocks,
                locations,
                functions,
                files,
                strings_len,
                starts_at,
                targets_at,
                blocks_at,
                locations_at,
                functions_at,
                files_at,
                strings_at,
            },
            debug_id,
            code_id,
            buf,
        };
        for id in [debug_id, code_id] {
            if id != NO_STR && index.str_at(id).is_none() {
                return Err(bad("ids out of bounds"));
            }
        }
        Ok(index)
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
        let start = self.layout.strings_at + off as usize;
        let end = start.checked_add(len as usize)?;
        if end > self.layout.strings_at + self.layout.strings_len {
            return None;
        }
        std::str::from_utf8(self.buf.as_ref().get(start..end)?).ok()
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

    /// The number of address ranges (for tests and size reports).
    pub fn ranges(&self) -> usize {
        self.layout.ranges
    }

    /// The innermost location of the range holding `addr`: the block summary is searched
    /// first, then the 64 starts of one block.
    #[inline]
    fn target(&self, addr: u32) -> u32 {
        let b = self.buf.as_ref();
        let l = &self.layout;
        let start = |i: usize| u32_at(b, l.starts_at + 4 * i);
        // The last block whose first start is <= addr.
        let (mut lo, mut hi) = (0usize, l.blocks);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if u32_at(b, l.blocks_at + 4 * mid) <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(block) = lo.checked_sub(1) else {
            return NONE;
        };
        // The last range of that block whose start is <= addr.
        let (mut lo, mut hi) = (block * BLOCK, ((block + 1) * BLOCK).min(l.ranges));
        while lo < hi {
            let mid = (lo + hi) / 2;
            if start(mid) <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match lo.checked_sub(1) {
            Some(i) => u32_at(b, l.targets_at + 4 * i),
            None => NONE,
        }
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
        let (function, file, line, parent) = (
            u32_at(b, at),
            u32_at(b, at + 4),
            u32_at(b, at + 8),
            u32_at(b, at + 12),
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
        let path = if (file as usize) < l.files {
            self.str_at(self.str_ref(l.files_at + STR_LEN * file as usize))
        } else {
            None
        };
        let frame = NativeFrame {
            function: self.str_at(name).unwrap_or("?"),
            signature: self.str_at(self.str_ref(f + 20)),
            mangled: self.str_at(self.str_ref(f + 28)),
            file: path,
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

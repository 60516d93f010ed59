//! Native debug files: an object file's bytes in (ELF today; Mach-O, PE and PDB parse through
//! the same path), a persisted index out, and address lookups on that index with the whole
//! inline chain, innermost first.
//!
//! The index is symbolic's SymCache (built once, at upload; read in place) inside a small
//! container of ours (`SYMXNAT2`):
//!
//! ```text
//! magic "SYMXNAT2" | load address u64 | SymCache length u64 | SymCache | name table
//! name table: count u32 | count x (demangled off, len, mangled off, len) u32 | UTF-8 bytes
//! ```
//!
//! The load address lets lookups take the addresses tools print (virtual addresses in the
//! file) as well as module-relative ones. Names are demangled once, at build time, so a lookup
//! returns ready names; the mangled originals sit in the name table, sorted by demangled name.
//!
//! This crate does no IO and knows nothing of storage, tenants or transports. The service
//! builds this index for `elf_symbol_file`, `ndk_symbol_file` and `flutter_symbol_file`
//! uploads; dSYM archives (Mach-O, fat binaries) and PE/PDB are the rest of the native issue.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use symbolic::common::Name;
use symbolic::debuginfo::Object;
use symbolic::demangle::{Demangle, DemangleOptions};
use symbolic::symcache::transform::{Function, Transformer};
use symbolic::symcache::{SymCache, SymCacheConverter};
use symx_types::{ErrorCode, HasErrorCode};

const MAGIC: &[u8; 8] = b"SYMXNAT2";
const HEADER_LEN: usize = 24;

/// Errors of this crate. Messages name the format and what is wrong with it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid object file: {0}")]
    InvalidObject(String),
    #[error("object file has no debug information and no symbols")]
    NoSymbols,
    #[error("stored native index is not readable: {0}")]
    BadIndex(String),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidObject(_) | Self::NoSymbols => ErrorCode::InvalidArgument,
            Self::BadIndex(_) => ErrorCode::Internal,
        }
    }
}

/// What an object file says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// `elf`, `macho`, `pe`, `pdb`, ...
    pub format: String,
    /// `x86_64`, `arm64`, ...
    pub arch: String,
    /// The debug id (for ELF derived from the GNU build id).
    pub debug_id: String,
    /// The code id: for ELF the GNU build id in hex.
    pub code_id: Option<String>,
    /// The lowest virtual address the object is loaded at (addresses in the file are relative
    /// to the image base plus this).
    pub load_address: u64,
    pub has_debug_info: bool,
    pub has_symbols: bool,
}

fn parse(bytes: &[u8]) -> Result<Object<'_>, Error> {
    Object::parse(bytes).map_err(|e| Error::InvalidObject(e.to_string()))
}

fn info_of(object: &Object<'_>) -> ObjectInfo {
    ObjectInfo {
        format: object.file_format().name().to_owned(),
        arch: object.arch().name().to_owned(),
        debug_id: object.debug_id().to_string(),
        code_id: object.code_id().map(|c| c.to_string()),
        load_address: object.load_address(),
        has_debug_info: object.has_debug_info(),
        has_symbols: object.has_symbols(),
    }
}

/// Reads an object's identifiers without building anything.
pub fn inspect(bytes: &[u8]) -> Result<ObjectInfo, Error> {
    parse(bytes).map(|o| info_of(&o))
}

/// An index and what was read from the object while building it.
#[derive(Clone, Debug)]
pub struct BuiltNative {
    pub bytes: Vec<u8>,
    pub info: ObjectInfo,
}

/// Builds the lookup index of an object file: DWARF functions with their inlinees and line
/// tables, plus the symbol table (and dynamic symbols) for code without debug information.
pub fn build_index(bytes: &[u8]) -> Result<BuiltNative, Error> {
    let object = parse(bytes)?;
    let info = info_of(&object);
    if !info.has_debug_info && !info.has_symbols {
        return Err(Error::NoSymbols);
    }
    let names = Rc::new(RefCell::new(Vec::new()));
    let mut converter = SymCacheConverter::new();
    converter.add_transformer(DemangleAtBuild {
        names: names.clone(),
        seen: std::collections::HashMap::new(),
    });
    converter
        .process_object(&object)
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
    let mut cache = Vec::with_capacity(bytes.len() / 4);
    converter
        .serialize(&mut cache)
        .map_err(|e| Error::InvalidObject(format!("cannot write the index: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + cache.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&info.load_address.to_le_bytes());
    out.extend_from_slice(&(cache.len() as u64).to_le_bytes());
    out.extend_from_slice(&cache);
    let mut pairs = std::mem::take(&mut *names.borrow_mut());
    pairs.sort();
    pairs.dedup_by(|a, b| a.0 == b.0);
    write_name_table(&mut out, &pairs)?;
    Ok(BuiltNative { bytes: out, info })
}

/// Demangles every function name as it goes into the SymCache, remembering the original.
/// The converter calls it for every occurrence (inlinees included), so each distinct name is
/// demangled once and remembered.
struct DemangleAtBuild {
    names: Rc<RefCell<Vec<(String, String)>>>,
    seen: std::collections::HashMap<String, Option<String>>,
}

impl Transformer for DemangleAtBuild {
    fn transform_function<'f>(&'f mut self, mut f: Function<'f>) -> Function<'f> {
        let raw = f.name.as_ref();
        let demangled = match self.seen.get(raw) {
            Some(d) => d.clone(),
            None => {
                let d = Name::from(raw)
                    .demangle(DemangleOptions::complete())
                    .filter(|d| d != raw);
                if let Some(d) = &d {
                    self.names.borrow_mut().push((d.clone(), raw.to_owned()));
                }
                self.seen.insert(raw.to_owned(), d.clone());
                d
            }
        };
        if let Some(d) = demangled {
            f.name = Cow::Owned(d);
        }
        f
    }
}

fn write_name_table(out: &mut Vec<u8>, pairs: &[(String, String)]) -> Result<(), Error> {
    let too_big = || Error::InvalidObject("symbol names exceed 4 GiB".into());
    let count = u32::try_from(pairs.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&count.to_le_bytes());
    let mut strings: Vec<u8> = Vec::new();
    let mut table = Vec::with_capacity(pairs.len() * 16);
    for (d, m) in pairs {
        for s in [d, m] {
            let off = u32::try_from(strings.len()).map_err(|_| too_big())?;
            table.extend_from_slice(&off.to_le_bytes());
            table.extend_from_slice(&(s.len() as u32).to_le_bytes());
            strings.extend_from_slice(s.as_bytes());
        }
    }
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    Ok(())
}

/// One frame of an inline chain. Lines are 1-based (0: unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeFrame {
    /// Demangled function name (C++, Rust, Swift, Objective-C), or the name as stored.
    pub function: String,
    /// The name as stored (mangled), when it differs from `function`. Lookups leave it
    /// empty (it costs a search per frame); [`NativeIndex::mangled_name`] fills it on demand.
    pub mangled: Option<String>,
    pub file: Option<String>,
    pub line: u32,
    /// True for every frame but the outermost: code inlined into its caller.
    pub inlined: bool,
    /// Offset of the address into the function (outermost frame only).
    pub function_offset: Option<u64>,
}

/// A persisted native index, checked at open and read in place.
#[derive(Clone)]
pub struct NativeIndex<B: AsRef<[u8]>> {
    buf: B,
    load_address: u64,
    /// Where the SymCache ends and the name table begins.
    cache_end: usize,
    names: usize,
}

fn word(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<B: AsRef<[u8]>> std::fmt::Debug for NativeIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeIndex")
            .field("bytes", &self.buf.as_ref().len())
            .field("load_address", &self.load_address)
            .finish()
    }
}

impl<B: AsRef<[u8]>> NativeIndex<B> {
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        let bad = |m: &str| Error::BadIndex(m.to_owned());
        if b.len() < HEADER_LEN || &b[..8] != MAGIC {
            return Err(bad("missing SYMXNAT2 header"));
        }
        let u64_at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let load_address = u64_at(8);
        let cache_end = usize::try_from(u64_at(16))
            .ok()
            .and_then(|len| HEADER_LEN.checked_add(len))
            .filter(|end| end + 4 <= b.len())
            .ok_or_else(|| bad("SymCache length out of bounds"))?;
        SymCache::parse(&b[HEADER_LEN..cache_end]).map_err(|e| Error::BadIndex(e.to_string()))?;
        let names = word(b, cache_end).ok_or_else(|| bad("truncated name table"))? as usize;
        let strings_at = cache_end + 4 + names * 16;
        if strings_at > b.len() {
            return Err(bad("name table out of bounds"));
        }
        Ok(Self {
            load_address,
            cache_end,
            names,
            buf,
        })
    }

    fn name_at(&self, i: usize, which: usize) -> Option<&str> {
        let b = self.buf.as_ref();
        let entry = self.cache_end + 4 + i * 16 + which * 8;
        let off = word(b, entry)? as usize;
        let len = word(b, entry + 4)? as usize;
        let strings = self.cache_end + 4 + self.names * 16;
        let start = strings.checked_add(off)?;
        std::str::from_utf8(b.get(start..start.checked_add(len)?)?).ok()
    }

    /// The mangled name a demangled function name came from, if it was mangled.
    pub fn mangled_name(&self, demangled: &str) -> Option<&str> {
        let (mut l, mut r) = (0, self.names);
        while l < r {
            let m = l + (r - l) / 2;
            match self.name_at(m, 0)?.cmp(demangled) {
                std::cmp::Ordering::Less => l = m + 1,
                std::cmp::Ordering::Greater => r = m,
                std::cmp::Ordering::Equal => return self.name_at(m, 1),
            }
        }
        None
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn load_address(&self) -> u64 {
        self.load_address
    }

    /// The inline chain at a module-relative address (an offset from the image base),
    /// innermost first. Empty when no function covers the address.
    pub fn lookup_relative(&self, addr: u64) -> Vec<NativeFrame> {
        // Re-parsing the SymCache header is a few bounds checks: it keeps the index a plain
        // byte buffer that the cache can own without self-references.
        let Some(Ok(cache)) = self
            .buf
            .as_ref()
            .get(HEADER_LEN..self.cache_end)
            .map(SymCache::parse)
        else {
            return Vec::new();
        };
        let locations: Vec<_> = cache.lookup(addr).collect();
        let n = locations.len();
        locations
            .into_iter()
            .enumerate()
            .map(|(i, loc)| {
                let func = loc.function();
                let outermost = i + 1 == n;
                NativeFrame {
                    function: func.name().to_owned(),
                    mangled: None,
                    file: loc.file().map(|f| f.full_path()),
                    line: loc.line(),
                    inlined: !outermost,
                    function_offset: (outermost && func.entry_pc() != u32::MAX)
                        .then(|| addr.saturating_sub(u64::from(func.entry_pc()))),
                }
            })
            .collect()
    }

    /// The inline chain at a virtual address as the file states it (what `nm`, `objdump`
    /// and `llvm-symbolizer` print).
    pub fn lookup_vaddr(&self, vaddr: u64) -> Vec<NativeFrame> {
        match vaddr.checked_sub(self.load_address) {
            Some(rel) => self.lookup_relative(rel),
            None => Vec::new(),
        }
    }
}

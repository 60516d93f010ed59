//! Native debug files: an object file's bytes in (ELF today; Mach-O, PE and PDB parse through
//! the same path), a persisted index out, and address lookups on that index with the whole
//! inline chain, innermost first.
//!
//! The index is symbolic's SymCache (built once, at upload; read in place) behind a small
//! header of ours that carries the object's load address, so lookups take the addresses
//! tools print (virtual addresses in the file) as well as module-relative ones.
//!
//! This crate does no IO and knows nothing of storage, tenants or transports. The service
//! builds this index for `elf_symbol_file`, `ndk_symbol_file` and `flutter_symbol_file`
//! uploads; dSYM archives (Mach-O, fat binaries) and PE/PDB are the rest of the native issue.

use symbolic::common::{Language, Name, NameMangling};
use symbolic::debuginfo::Object;
use symbolic::demangle::{Demangle, DemangleOptions};
use symbolic::symcache::{SymCache, SymCacheConverter};
use symx_types::{ErrorCode, HasErrorCode};

const MAGIC: &[u8; 8] = b"SYMXNAT1";
const HEADER_LEN: usize = 16;

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
    let mut converter = SymCacheConverter::new();
    converter
        .process_object(&object)
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + bytes.len() / 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&info.load_address.to_le_bytes());
    converter
        .serialize(&mut out)
        .map_err(|e| Error::InvalidObject(format!("cannot write the index: {e}")))?;
    Ok(BuiltNative { bytes: out, info })
}

/// One frame of an inline chain. Lines are 1-based (0: unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeFrame {
    /// Demangled function name (C++, Rust, Swift, Objective-C), or the name as stored.
    pub function: String,
    /// The name as stored (mangled), when it differs from `function`.
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
}

impl<B: AsRef<[u8]>> std::fmt::Debug for NativeIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeIndex")
            .field("bytes", &self.buf.as_ref().len())
            .field("load_address", &self.load_address)
            .finish()
    }
}

fn demangled(name: &Name<'_>) -> (String, Option<String>) {
    let raw = name.as_str();
    if matches!(name.mangling(), NameMangling::Unmangled) && name.language() == Language::Unknown {
        if let Some(d) = Name::from(raw).demangle(DemangleOptions::complete())
            && d != raw
        {
            return (d, Some(raw.to_owned()));
        }
        return (raw.to_owned(), None);
    }
    match name.demangle(DemangleOptions::complete()) {
        Some(d) if d != raw => (d, Some(raw.to_owned())),
        _ => (raw.to_owned(), None),
    }
}

impl<B: AsRef<[u8]>> NativeIndex<B> {
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN || &b[..8] != MAGIC {
            return Err(Error::BadIndex("missing SYMXNAT1 header".into()));
        }
        let mut la = [0u8; 8];
        la.copy_from_slice(&b[8..16]);
        SymCache::parse(&b[HEADER_LEN..]).map_err(|e| Error::BadIndex(e.to_string()))?;
        Ok(Self {
            load_address: u64::from_le_bytes(la),
            buf,
        })
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
        let Ok(cache) = SymCache::parse(&self.buf.as_ref()[HEADER_LEN..]) else {
            return Vec::new();
        };
        let locations: Vec<_> = cache.lookup(addr).collect();
        let n = locations.len();
        locations
            .into_iter()
            .enumerate()
            .map(|(i, loc)| {
                let func = loc.function();
                let (function, mangled) = demangled(&func.name_for_demangling());
                let outermost = i + 1 == n;
                NativeFrame {
                    function,
                    mangled,
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

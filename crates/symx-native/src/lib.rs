//! Native debug files: an object file's bytes in (ELF, Mach-O including fat binaries, PE and
//! PDB), a persisted index per object out, and address lookups on that index with the whole
//! inline chain, innermost first. [`dsym`] reads dSYM zip archives within fixed bounds.
//!
//! The index is symbolic's SymCache (built once, at upload; read in place) inside a small
//! container of ours (`SYMXNAT4`):
//!
//! ```text
//! magic "SYMXNAT4" | load address u64 | SymCache length u64 | SymCache | name table | ids
//! name table: count u32 | bytes u32 | count x (demangled off, len, mangled off, len) u32 |
//!             UTF-8 bytes
//! ids:        debug id length u32 | debug id | code id length u32 | code id   (UTF-8)
//! ```
//!
//! A SymCache function name is the name a lookup answers, or, for PDB procedures with an
//! argument list, `<signature>\0<n>` or `<signature>\0<n>\0c`: the answer is the
//! signature's first `n` bytes, or the whole signature for an outermost frame marked `c`
//! (below). Both read in place.
//!
//! What goes into the SymCache is decided here, not by symbolic's `process_object`:
//! - function names are the DWARF (or PDB) subprogram's. symbolic names a DWARF function after
//!   the symbol at its lowest address, which for gcc's hot/cold splitting is the `.cold` part
//!   (`foo.cold` for an address in `foo`); compiler clone suffixes (`.cold`, `.part.N`,
//!   `.isra.N`, `.constprop.N`, `.lto_priv.N`, LLVM's `.N` and `.llvm.N`) are therefore taken
//!   off the names of debug-information functions. Symbol-table functions keep their symbol's
//!   name (`foo.cold` is right for the cold part of a binary without DWARF), but for LLVM's
//!   `.llvm.N`, which is no part of any name.
//! - a symbol of size 0 (Mach-O symbols, PE exports, `_fini` and other assembly labels) covers
//!   up to the next symbol or the end of its executable section, whichever comes first, never
//!   every higher address: addresses in `.rodata`, `.eh_frame` or past the end of the code are
//!   outside every function, as llvm-symbolizer and addr2line say.
//! - PDB function names come with their argument lists (symbolic formats them from the type
//!   information, `copy_block(void*, void const*, unsigned long long)` even for C). A lookup
//!   answers the name as llvm-symbolizer prints it: for a function (not inlined) with a C++
//!   (`?`) public symbol at its address, that symbol demangled, with its argument list
//!   (`geo::farthest(...)`); else (C functions, inlined frames) the name without its argument
//!   list (`copy_block`, `geo::norm2`). The whole signature is in [`NativeFrame::signature`].
//!
//! The load address lets lookups take the addresses tools print (virtual addresses in the
//! file) as well as module-relative ones. Names are demangled once, at build time, so a lookup
//! returns ready names; the mangled originals sit in the name table, sorted by demangled name.
//!
//! This crate does no IO (archives are read from a `Read + Seek` the caller opens) and knows
//! nothing of storage, tenants or transports. The service builds these indexes for
//! `elf_symbol_file`, `ndk_symbol_file`, `flutter_symbol_file`, `ios_symbols` (one per Mach-O
//! slice) and `pe_symbol_file` uploads.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use symbolic::common::Name;
use symbolic::debuginfo::{Archive, FileFormat, Object};
use symbolic::demangle::{Demangle, DemangleOptions};
use symbolic::symcache::transform::{Function, SourceLocation, Transformer};
use symbolic::symcache::{SymCache, SymCacheConverter};
use symx_types::{ErrorCode, HasErrorCode};

pub mod dsym;
mod ids;
mod lines;

pub use ids::go_build_id;

const MAGIC: &[u8; 8] = b"SYMXNAT4";
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
    /// The index was written by an older version of this crate: rebuild it from the raw file.
    #[error("stored native index has an older format ({0})")]
    IndexVersion(String),
    #[error("invalid dSYM archive: {0}")]
    InvalidArchive(String),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidObject(_) | Self::NoSymbols | Self::InvalidArchive(_) => {
                ErrorCode::InvalidArgument
            }
            Self::BadIndex(_) | Self::IndexVersion(_) => ErrorCode::Internal,
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
    /// The debug id (ELF: derived from the GNU build id; Mach-O: the UUID; PE and PDB: the
    /// PDB GUID and age, `guid-age`).
    pub debug_id: String,
    /// The code id: ELF the GNU build id in hex, Mach-O the UUID in hex, PE the timestamp
    /// and image size.
    pub code_id: Option<String>,
    /// The Go build id (`.note.go.buildid`) of an ELF built by Go.
    pub go_build_id: Option<String>,
    /// The lowest virtual address the object is loaded at (addresses in the file are relative
    /// to the image base plus this).
    pub load_address: u64,
    pub has_debug_info: bool,
    pub has_symbols: bool,
    /// What kind of file of its module this is: `pdb`, `pe`; for ELF and Mach-O
    /// `debug_info`, `symbol_table` or `dynamic_symbol_table` (the best it has), with `+code`
    /// when the file holds the code itself (a binary, not a split debug file).
    pub class: String,
}

impl ObjectInfo {
    /// The PDB signature of a PE or PDB file: the GUID as 32 lowercase hex digits, and the
    /// age (what `pdb_sig` and `pdb_age` of a `pe_symbol_file` upload state).
    pub fn pdb_signature(&self) -> Option<(String, u32)> {
        if self.format != "pe" && self.format != "pdb" {
            return None;
        }
        let id: symbolic::common::DebugId = self.debug_id.parse().ok()?;
        if id.is_nil() {
            return None;
        }
        Some((id.uuid().simple().to_string(), id.appendix()))
    }
}

fn parse(bytes: &[u8]) -> Result<Object<'_>, Error> {
    Object::parse(bytes).map_err(|e| Error::InvalidObject(e.to_string()))
}

/// The sections, symbols and notes symbolic does not read, through the `object` crate (ELF,
/// Mach-O, PE; `None` for PDB or what it cannot parse). Parsed once per object.
fn sections_of<'d>(object: &Object<'d>) -> Option<object::File<'d>> {
    object::File::parse(object.data()).ok()
}

fn info_of(object: &Object<'_>) -> ObjectInfo {
    info_with(object, sections_of(object).as_ref())
}

fn info_with(object: &Object<'_>, sections: Option<&object::File<'_>>) -> ObjectInfo {
    ObjectInfo {
        format: object.file_format().name().to_owned(),
        arch: object.arch().name().to_owned(),
        debug_id: object.debug_id().to_string(),
        code_id: object.code_id().map(|c| c.to_string()),
        go_build_id: match object {
            Object::Elf(elf) => go_build_id(elf.data()),
            _ => None,
        },
        load_address: object.load_address(),
        has_debug_info: object.has_debug_info(),
        has_symbols: object.has_symbols(),
        class: class_of(object, sections),
    }
}

fn class_of(object: &Object<'_>, file: Option<&object::File<'_>>) -> String {
    use object::{Object as _, ObjectSection as _, SectionKind};
    match object.file_format() {
        FileFormat::Pdb => return "pdb".into(),
        FileFormat::Pe => return "pe".into(),
        _ => {}
    }
    let best = if object.has_debug_info() {
        "debug_info"
    } else if file.is_some_and(|f| f.symbol_table().is_some()) {
        "symbol_table"
    } else {
        "dynamic_symbol_table"
    };
    let code = file.is_some_and(|f| {
        f.sections()
            .any(|s| s.kind() == SectionKind::Text && s.size() > 0 && s.file_range().is_some())
    });
    if code {
        format!("{best}+code")
    } else {
        best.to_owned()
    }
}

/// Reads an object's identifiers without building anything. For a fat Mach-O file, the
/// first slice's; [`inspect_all`] reads every slice.
pub fn inspect(bytes: &[u8]) -> Result<ObjectInfo, Error> {
    guarded(|| parse(bytes).map(|o| info_of(&o)))
}

/// Runs the object readers (symbolic, pdb, gimli, object) on untrusted bytes. A panic inside
/// them is a bug of a dependency that hostile input reaches (a PDB whose stream-name table
/// points past its end panics the `pdb` crate, found by `cargo fuzz`): it becomes an
/// `InvalidObject` error, so an upload is refused (INVALID_ARGUMENT) instead of failing
/// inside the server. (The fuzz targets keep aborting on panics in symx's own code.)
fn guarded<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::InvalidObject(format!(
                "the file is malformed: reading it failed ({why})"
            )))
        }
    }
}

fn objects(bytes: &[u8]) -> Result<Vec<Object<'_>>, Error> {
    let archive = Archive::parse(bytes).map_err(|e| Error::InvalidObject(e.to_string()))?;
    let objects = archive
        .objects()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
    if objects.is_empty() {
        return Err(Error::InvalidObject("the file holds no object".into()));
    }
    Ok(objects)
}

/// The identifiers of every object in a file: one per architecture slice of a fat Mach-O
/// file, else one.
pub fn inspect_all(bytes: &[u8]) -> Result<Vec<ObjectInfo>, Error> {
    guarded(|| Ok(objects(bytes)?.iter().map(info_of).collect()))
}

/// An index and what was read from the object while building it.
#[derive(Clone, Debug)]
pub struct BuiltNative {
    pub bytes: Vec<u8>,
    pub info: ObjectInfo,
}

/// Peak bytes of a build per byte of debug information (DWARF or PDB), the file's own bytes
/// apart: symbolic's converter holds every function, inline record and line row of the
/// object while it writes the SymCache. Measured by the workspace's `memory` test
/// (`tests/memory/`), which checks the estimate stays above the measured peak.
const PER_DEBUG_BYTE: u64 = 5;
const BUILD_BASE: u64 = 16 << 20;

/// Estimates the peak memory of [`build_all`] on `bytes` without building anything: the file
/// (read in place), plus 5 bytes per byte of its debug sections (`.debug_*`,
/// `.zdebug_*`, `__debug_*`, at their uncompressed size), or per byte of the file when it is
/// a PDB or its sections cannot be read (a fat Mach-O file: each slice counts whole).
pub fn estimate_build_memory(bytes: &[u8]) -> u64 {
    let len = bytes.len() as u64;
    let debug = guarded(|| Ok(debug_bytes(bytes))).unwrap_or(len);
    estimate_with_debug(len, debug)
}

/// The estimate of a file of `len` bytes holding `debug` bytes of debug information (a dSYM
/// archive entry counts whole: its size is known before it is extracted).
pub fn estimate_with_debug(len: u64, debug: u64) -> u64 {
    len.saturating_add(debug.saturating_mul(PER_DEBUG_BYTE))
        .saturating_add(BUILD_BASE)
}

fn debug_bytes(bytes: &[u8]) -> u64 {
    use object::{Object as _, ObjectSection as _};
    let Ok(file) = object::File::parse(bytes) else {
        return bytes.len() as u64;
    };
    file.sections()
        .filter(|s| {
            s.name().is_ok_and(|n| {
                n.starts_with(".debug")
                    || n.starts_with(".zdebug")
                    || n.starts_with("__debug")
                    || n.starts_with("__zdebug")
            })
        })
        .map(|s| {
            s.compressed_data()
                .map(|c| c.uncompressed_size)
                .unwrap_or_else(|_| s.size())
        })
        .fold(0u64, u64::saturating_add)
}

/// Builds the lookup index of an object file: DWARF (or PDB) functions with their inlinees
/// and line tables, plus the symbol table (and dynamic symbols, PE exports) for code without
/// debug information. For a fat Mach-O file, the first slice; [`build_all`] builds every one.
pub fn build_index(bytes: &[u8]) -> Result<BuiltNative, Error> {
    guarded(|| build_object(&parse(bytes)?))
}

/// Builds one index per object of a file (per architecture slice of a fat Mach-O file).
pub fn build_all(bytes: &[u8]) -> Result<Vec<BuiltNative>, Error> {
    guarded(|| objects(bytes)?.iter().map(build_object).collect())
}

fn build_object(object: &Object<'_>) -> Result<BuiltNative, Error> {
    let sections = sections_of(object);
    let info = info_with(object, sections.as_ref());
    if !info.has_debug_info && !info.has_symbols {
        return Err(Error::NoSymbols);
    }
    let windows = matches!(object.file_format(), FileFormat::Pe | FileFormat::Pdb);
    let names = Rc::new(RefCell::new(Vec::new()));
    let source = Rc::new(Cell::new(NameSource::DebugInfo));
    // PDB: the addresses of C++ public symbols (decorated `?` names). A procedure there is
    // named as its public symbol demangles (with its argument list); any other keeps its
    // name without the list. (What llvm-symbolizer answers: the public symbol's name when one
    // sits at the function's address, else the procedure's.)
    let symbols = bounded_symbols(object, sections.as_ref());
    let cplusplus: std::collections::HashSet<u64> = if object.file_format() == FileFormat::Pdb {
        symbols
            .iter()
            .filter(|s| s.name.as_deref().is_some_and(|n| n.starts_with('?')))
            .map(|s| s.address)
            .collect()
    } else {
        Default::default()
    };
    let mut converter = SymCacheConverter::new();
    converter.add_transformer(DemangleAtBuild {
        names: names.clone(),
        source: source.clone(),
        windows,
        seen: std::collections::HashMap::new(),
        paths: Vec::new(),
        by_address: std::collections::HashMap::new(),
        by_content: std::collections::HashMap::new(),
        key: String::new(),
        last: ([usize::MAX; 6], 0),
    });
    converter.set_arch(object.arch());
    converter.set_debug_id(object.debug_id());
    let session = object
        .debug_session()
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
    let pdb = object.file_format() == FileFormat::Pdb;
    // The code debug-information functions cover (their line records), merged.
    let mut covered: Vec<(u64, u64)> = Vec::new();
    let first_rows = if pdb {
        lines::pdb_first_rows(object.data())
    } else {
        Default::default()
    };
    for function in session.functions() {
        let mut function = function.map_err(|e| Error::InvalidObject(e.to_string()))?;
        if !first_rows.is_empty() {
            first_row_at_its_address(&mut function, &first_rows);
        }
        source.set(match (pdb, cplusplus.contains(&function.address)) {
            (true, cxx) => NameSource::PdbProcedure { cxx },
            (false, _) => NameSource::DebugInfo,
        });
        converter.process_symbolic_function(&function);
        for line in &function.lines {
            let end = line.address.saturating_add(line.size.unwrap_or(1).max(1));
            match covered.last_mut() {
                Some(last) if last.1 == line.address => last.1 = end,
                _ => covered.push((line.address, end)),
            }
        }
    }
    covered.sort_unstable();
    source.set(NameSource::SymbolTable);
    line_table_functions(
        object,
        info.has_debug_info && !pdb,
        sections.as_ref(),
        &symbols,
        &covered,
        |f| converter.process_symbolic_function(f),
    );
    for symbol in symbols {
        converter.process_symbolic_symbol(&symbol);
    }
    let mut cache = Vec::with_capacity(object.data().len() / 4);
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
    for id in [
        info.debug_id.as_str(),
        info.code_id.as_deref().unwrap_or_default(),
    ] {
        out.extend_from_slice(&(id.len() as u32).to_le_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    Ok(BuiltNative { bytes: out, info })
}

/// Symbols no subprogram covers (`covered`, sorted line ranges) may still have line-table
/// rows (assembly, code without subprograms): each becomes a function of the symbol's name
/// with the rows' lines, handed to `emit`. Local ELF symbols without rows still get the
/// source file their `STT_FILE` symbol names (line 0), as llvm-symbolizer and addr2line
/// answer. `read_rows`: whether the object has DWARF line tables to read.
fn line_table_functions(
    object: &Object<'_>,
    read_rows: bool,
    sections: Option<&object::File<'_>>,
    symbols: &[symbolic::debuginfo::Symbol<'_>],
    covered: &[(u64, u64)],
    mut emit: impl FnMut(&symbolic::debuginfo::Function<'_>),
) {
    let uncovered: Vec<(u64, u64)> = symbols
        .iter()
        .filter(|s| s.size > 0)
        .map(|s| (s.address, s.address.saturating_add(s.size)))
        .filter(|&(a, b)| {
            let i = covered.partition_point(|r| r.1 <= a);
            covered.get(i).is_none_or(|r| r.0 >= b)
        })
        .collect();
    let Some(file) = sections.filter(|_| !uncovered.is_empty()) else {
        return;
    };
    let base = object.load_address();
    let rows = if read_rows {
        lines::rows_in(file, base, &uncovered)
    } else {
        Vec::new()
    };
    let files = lines::local_symbol_files(file, base);
    for symbol in symbols {
        let (a, b) = (symbol.address, symbol.address.saturating_add(symbol.size));
        if symbol.size == 0 || uncovered.binary_search(&(a, b)).is_err() {
            continue;
        }
        let Some(name) = symbol.name.clone() else {
            continue;
        };
        let first = rows.partition_point(|r| r.end <= a);
        let mine = &rows[first..rows[first..].partition_point(|r| r.start < b) + first];
        let (comp_dir, lines): (&[u8], Vec<symbolic::debuginfo::LineInfo<'_>>) =
            match (mine.first(), files.get(&a)) {
                (Some(row0), _) => (
                    &row0.comp_dir,
                    mine.iter()
                        .map(|r| {
                            let start = r.start.max(a);
                            symbolic::debuginfo::LineInfo {
                                address: start,
                                size: Some(r.end.min(b) - start),
                                file: symbolic::debuginfo::FileInfo::new(
                                    Cow::Borrowed(&r.dir),
                                    Cow::Borrowed(&r.name),
                                ),
                                line: r.line,
                            }
                        })
                        .collect(),
                ),
                (None, Some(file)) => (
                    &[],
                    vec![symbolic::debuginfo::LineInfo {
                        address: a,
                        size: Some(symbol.size),
                        file: symbolic::debuginfo::FileInfo::from_filename(file.as_bytes()),
                        line: 0,
                    }],
                ),
                (None, None) => continue,
            };
        emit(&symbolic::debuginfo::Function {
            address: a,
            size: symbol.size,
            name: Name::new(
                name,
                symbolic::common::NameMangling::Unknown,
                symbolic::common::Language::Unknown,
            ),
            compilation_dir: comp_dir,
            lines,
            inlinees: Vec::new(),
            inline: false,
        });
    }
}

/// Where the PDB has several rows at one address, the address itself answers with the first
/// row and the bytes after it with the last (which symbolic keeps), as llvm-symbolizer does:
/// it finds the first row at or above an address and, when that row is past the address,
/// steps back one row. `first` maps such addresses to their first row's line.
fn first_row_at_its_address(
    function: &mut symbolic::debuginfo::Function<'_>,
    first: &std::collections::HashMap<u64, u64>,
) {
    let mut lines = Vec::with_capacity(function.lines.len());
    for line in function.lines.drain(..) {
        match first.get(&line.address) {
            Some(&l) if l != line.line && line.size.is_none_or(|s| s > 1) => {
                let mut head = line.clone();
                head.line = l;
                head.size = Some(1);
                let mut tail = line;
                tail.address += 1;
                tail.size = tail.size.map(|s| s - 1);
                lines.push(head);
                lines.push(tail);
            }
            _ => lines.push(line),
        }
    }
    function.lines = lines;
}

/// The address ranges (relative to the load address) of the object's executable sections,
/// sorted; empty when the file has no section headers this crate reads (PDB).
fn text_ranges(object: &Object<'_>, file: Option<&object::File<'_>>) -> Vec<(u64, u64)> {
    use object::{Object as _, ObjectSection as _, SectionKind};
    let Some(file) = file else {
        return Vec::new();
    };
    let base = object.load_address();
    let mut ranges: Vec<(u64, u64)> = file
        .sections()
        .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
        .filter_map(|s| {
            let start = s.address().checked_sub(base)?;
            Some((start, start.checked_add(s.size())?))
        })
        .collect();
    ranges.sort_unstable();
    ranges
}

/// The object's function symbols, each with a size: a symbol of size 0 ends at the next
/// symbol or at the end of its executable section, whichever comes first. Symbols outside
/// every executable section are dropped (when the sections are known).
fn bounded_symbols<'d>(
    object: &Object<'d>,
    sections: Option<&object::File<'_>>,
) -> Vec<symbolic::debuginfo::Symbol<'d>> {
    let texts = text_ranges(object, sections);
    let mut symbols: Vec<_> = object.symbols().collect();
    symbols.sort_by_key(|s| s.address);
    let starts: Vec<u64> = symbols.iter().map(|s| s.address).collect();
    let section_of = |addr: u64| {
        let i = texts.partition_point(|r| r.0 <= addr);
        i.checked_sub(1).map(|i| texts[i]).filter(|r| addr < r.1)
    };
    let mut out = Vec::with_capacity(symbols.len());
    for mut symbol in symbols {
        let section = section_of(symbol.address);
        if section.is_none() && !texts.is_empty() {
            continue;
        }
        if symbol.size == 0 {
            let next = starts
                .get(starts.partition_point(|&a| a <= symbol.address))
                .copied();
            let end = match (next, section.map(|r| r.1)) {
                (Some(n), Some(e)) => Some(n.min(e)),
                (n, e) => n.or(e),
            };
            if let Some(end) = end {
                symbol.size = end - symbol.address;
            }
        }
        out.push(symbol);
    }
    out
}

/// Where the converter's current names come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameSource {
    /// DWARF subprograms, or PDB procedures of C++ public symbols.
    DebugInfo,
    /// PDB procedures (and their inlinees): answered without their argument list, but for
    /// an outermost frame whose procedure has a C++ public symbol (`cxx`).
    PdbProcedure { cxx: bool },
    /// The symbol table (and dynamic symbols, PE exports).
    SymbolTable,
}

/// `name` without a compiler clone suffix (`foo.cold`, `foo.part.0`, `foo.isra.0.cold`,
/// `foo.constprop.0`, `foo.lto_priv.0`, `foo.123`, `_ZN3fooEv.llvm.456`), when the rest is a
/// C identifier or an Itanium-mangled name. Names with dots of their own (Go's `main.init.0`,
/// Objective-C, Swift) are kept whole.
fn without_clone_suffix(name: &str) -> &str {
    let Some(dot) = name.find('.') else {
        return name;
    };
    let (base, suffix) = name.split_at(dot);
    let identifier = base
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && base
            .chars()
            .all(|c| c == '_' || c == '$' || c.is_ascii_alphanumeric());
    if !identifier {
        return name;
    }
    let mut parts = suffix[1..].split('.').peekable();
    while let Some(p) = parts.next() {
        let known = matches!(
            p,
            "cold" | "part" | "isra" | "constprop" | "lto_priv" | "llvm" | "localalias" | "str"
        );
        let number = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !known && !number {
            return name;
        }
        // `part`, `isra`, `constprop`, `lto_priv` and `llvm` take a number; `cold` may.
        if matches!(p, "part" | "isra" | "constprop" | "lto_priv" | "llvm")
            && !parts
                .peek()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return name;
        }
    }
    base
}

/// The name a lookup answers for a symbol-table function named `raw`: without LLVM's
/// uniquing suffixes, demangled.
pub fn symbol_display_name(raw: &str) -> String {
    let name = without_llvm_suffix(raw);
    Name::from(name)
        .demangle(DemangleOptions::complete())
        .unwrap_or_else(|| name.to_owned())
}

/// A symbol-table name without LLVM's suffixes: `.llvm.<number>` (ThinLTO promotion of a
/// local symbol), and for mangled names (`_Z`, `_R`) the `.<number>` LLVM appends to make a
/// local name unique. Neither is part of the function's name (demanglers drop or bracket
/// them). C names keep a `.<number>`: there it may be all the symbol has.
fn without_llvm_suffix(name: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mangled = name.starts_with("_Z") || name.starts_with("__Z") || name.starts_with("_R");
    let mut out = name;
    loop {
        match out.rsplit_once('.') {
            Some((base, n)) if digits(n) && !base.is_empty() => {
                if let Some(b) = base.strip_suffix(".llvm").filter(|b| !b.is_empty()) {
                    out = b;
                } else if mangled {
                    out = base;
                } else {
                    return out;
                }
            }
            _ => return out,
        }
    }
}

/// A Windows C symbol without its calling-convention decoration: `_name` (cdecl),
/// `_name@12` (stdcall), `@name@12` (fastcall), `name@@12` (vectorcall). C++ (`?...`) and
/// names that are already readable are returned as they are.
pub fn undecorated_windows_name(name: &str) -> &str {
    if name.starts_with('?') || name.contains([':', '(', '<', ' ']) {
        return name;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, n)) = name.rsplit_once("@@")
        && digits(n)
        && !base.is_empty()
    {
        return base;
    }
    let rest = match name.as_bytes().first() {
        Some(b'_' | b'@') => &name[1..],
        _ => return name,
    };
    match rest.rsplit_once('@') {
        Some((base, n)) if digits(n) && !base.is_empty() => base,
        _ if name.starts_with('_') && !rest.is_empty() => rest,
        _ => name,
    }
}

/// The function name a lookup answers and the full signature, from a SymCache name (see the
/// module docs for `<signature>\0<n>[\0c]`), for an outermost or an inlined frame.
fn answer_name(stored: &str, outermost: bool) -> (&str, Option<&str>) {
    if let Some((full, rest)) = stored.split_once('\0') {
        let (n, cxx) = match rest.split_once('\0') {
            Some((n, flag)) => (n, flag == "c"),
            None => (rest, false),
        };
        if outermost && cxx {
            return (full, Some(full));
        }
        let name = n
            .parse::<usize>()
            .ok()
            .and_then(|n| full.get(..n))
            .unwrap_or(full);
        return (name, Some(full));
    }
    match split_signature(stored) {
        Some(_) => (stored, Some(stored)),
        None => (stored, None),
    }
}

/// Splits a formatted function name into its name and argument list:
/// `ns::f<int (*)(int)>(char const*) const` -> (`ns::f<int (*)(int)>`, `(char const*) const`).
/// `None` when the name has no argument list.
pub fn split_signature(full: &str) -> Option<(&str, &str)> {
    let mut end = full.trim_end();
    // Qualifiers after the list.
    loop {
        let before = end;
        for q in ["const", "volatile", "&&", "&", "noexcept"] {
            if let Some(s) = end.strip_suffix(q) {
                end = s.trim_end();
            }
        }
        if before == end {
            break;
        }
    }
    if !end.ends_with(')') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in end.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let name = full[..i].trim_end();
                    return (!name.is_empty()).then(|| (name, &full[i..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Demangles every function name as it goes into the SymCache, remembering the original.
/// The converter calls it for every occurrence (inlinees included), so each distinct name is
/// demangled once and remembered.
///
/// It also resolves every file to its full path once, at build (compilation directory,
/// directory and name joined as llvm-symbolizer and addr2line join them: `..` and `.` are
/// kept, so answers equal theirs byte for byte): the path becomes the
/// file's name (directory and compilation directory dropped) and its `srcsrv_revision`, the
/// one file string a SymCache hands out borrowed. A lookup then reads the path in place;
/// `File::full_path` would join and clean three strings into a new `String` on every call
/// (~900 ns of a 1.2 us lookup, measured in `benches/benches/native.rs`). Source-server
/// revisions (PDB srcsrv streams) are not kept: nothing here reads them.
struct DemangleAtBuild {
    names: Rc<RefCell<Vec<(String, String)>>>,
    /// Whether the converter is reading debug-information functions or symbols.
    source: Rc<Cell<NameSource>>,
    /// PE or PDB: C symbols carry calling-convention decorations.
    windows: bool,
    seen: std::collections::HashMap<String, Option<String>>,
    /// Cleaned full paths, each once.
    paths: Vec<String>,
    /// (address, length) of comp_dir, directory and name -> index in `paths`.
    by_address: std::collections::HashMap<[usize; 6], usize>,
    /// `comp_dir \0 directory \0 name \0` -> index in `paths` (for owned strings).
    by_content: std::collections::HashMap<String, usize>,
    key: String,
    /// The previous line record's address key and path index.
    last: ([usize; 6], usize),
}

impl Transformer for DemangleAtBuild {
    fn transform_function<'f>(&'f mut self, mut f: Function<'f>) -> Function<'f> {
        let mut raw = f.name.as_ref();
        if self.windows {
            raw = undecorated_windows_name(raw);
        }
        raw = match self.source.get() {
            NameSource::DebugInfo => without_clone_suffix(raw),
            NameSource::SymbolTable => without_llvm_suffix(raw),
            NameSource::PdbProcedure { cxx } => {
                if let Some((name, _)) = split_signature(raw) {
                    let marker = if cxx { "\0c" } else { "" };
                    let encoded = format!("{raw}\0{}{marker}", name.len());
                    f.name = Cow::Owned(encoded);
                }
                return f;
            }
        };
        let trimmed = (raw.len() != f.name.len()).then(|| raw.to_owned());
        let raw = trimmed.as_deref().unwrap_or(raw);
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
        } else if let Some(t) = trimmed {
            f.name = Cow::Owned(t);
        }
        f
    }

    fn transform_source_location<'f>(
        &'f mut self,
        mut sl: SourceLocation<'f>,
    ) -> SourceLocation<'f> {
        let file = &sl.file;
        // DWARF hands out borrowed strings: their addresses identify a file cheaply (the
        // converter calls this for every line record). Owned ones are keyed by content.
        let parts = [
            file.comp_dir.as_ref(),
            file.directory.as_ref(),
            Some(&file.name),
        ];
        let by_address = parts
            .iter()
            .all(|p| p.is_none_or(|c| matches!(c, Cow::Borrowed(_))));
        let mut address_key = [0usize; 6];
        let known = if by_address {
            for (i, p) in parts.iter().enumerate() {
                if let Some(p) = p {
                    address_key[2 * i] = p.as_ptr() as usize;
                    address_key[2 * i + 1] = p.len();
                }
            }
            // Consecutive line records mostly share their file: one compare, no hashing.
            if self.last.0 == address_key {
                Some(self.last.1)
            } else {
                self.by_address.get(&address_key).copied()
            }
        } else {
            self.key.clear();
            for p in parts {
                self.key.push_str(p.map(|c| c.as_ref()).unwrap_or_default());
                self.key.push('\0');
            }
            self.by_content.get(self.key.as_str()).copied()
        };
        let at = match known {
            Some(at) => at,
            None => {
                let prefix = symbolic::common::join_path(
                    file.comp_dir.as_deref().unwrap_or_default(),
                    file.directory.as_deref().unwrap_or_default(),
                );
                let full = symbolic::common::join_path(&prefix, &file.name);
                self.paths.push(full);
                let at = self.paths.len() - 1;
                if by_address {
                    self.by_address.insert(address_key, at);
                } else {
                    self.by_content.insert(self.key.clone(), at);
                }
                at
            }
        };
        if by_address {
            self.last = (address_key, at);
        }
        let full = self.paths[at].as_str();
        sl.file.name = Cow::Borrowed(full);
        sl.file.directory = None;
        sl.file.comp_dir = None;
        sl.file.srcsrv_revision = Some(Cow::Borrowed(full));
        sl
    }
}

fn write_name_table(out: &mut Vec<u8>, pairs: &[(String, String)]) -> Result<(), Error> {
    let too_big = || Error::InvalidObject("symbol names exceed 4 GiB".into());
    let count = u32::try_from(pairs.len()).map_err(|_| too_big())?;
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
    let bytes = u32::try_from(strings.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&bytes.to_le_bytes());
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    Ok(())
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
    /// The full path of the source file (compilation directory, directory and name joined).
    pub file: Option<&'a str>,
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
    /// Where the debug id and the code id sit: (start, len) each.
    debug_id: (usize, usize),
    code_id: (usize, usize),
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
        if b.len() >= 8 && b[..7] == MAGIC[..7] && b[7] != MAGIC[7] {
            return Err(Error::IndexVersion(
                String::from_utf8_lossy(&b[..8]).into_owned(),
            ));
        }
        if b.len() < HEADER_LEN || &b[..8] != MAGIC {
            return Err(bad("missing SYMXNAT4 header"));
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
            .filter(|end| end + 8 <= b.len())
            .ok_or_else(|| bad("SymCache length out of bounds"))?;
        SymCache::parse(&b[HEADER_LEN..cache_end]).map_err(|e| Error::BadIndex(e.to_string()))?;
        let names = word(b, cache_end).ok_or_else(|| bad("truncated name table"))? as usize;
        let strings_len = word(b, cache_end + 4).ok_or_else(|| bad("truncated name table"))?;
        let strings_at = cache_end + 8 + names * 16;
        let mut at = strings_at + strings_len as usize;
        if at > b.len() {
            return Err(bad("name table out of bounds"));
        }
        let mut ids = [(0, 0); 2];
        for id in &mut ids {
            let len = word(b, at).ok_or_else(|| bad("truncated ids"))? as usize;
            let start = at + 4;
            b.get(start..start + len)
                .and_then(|s| std::str::from_utf8(s).ok())
                .ok_or_else(|| bad("ids out of bounds"))?;
            *id = (start, len);
            at = start + len;
        }
        Ok(Self {
            load_address,
            cache_end,
            names,
            debug_id: ids[0],
            code_id: ids[1],
            buf,
        })
    }

    fn name_at(&self, i: usize, which: usize) -> Option<&str> {
        std::str::from_utf8(self.name_bytes_at(i, which)?).ok()
    }

    fn name_bytes_at(&self, i: usize, which: usize) -> Option<&[u8]> {
        let b = self.buf.as_ref();
        let entry = self.cache_end + 8 + i * 16 + which * 8;
        let off = word(b, entry)? as usize;
        let len = word(b, entry + 4)? as usize;
        let strings = self.cache_end + 8 + self.names * 16;
        let start = strings.checked_add(off)?;
        b.get(start..start.checked_add(len)?)
    }

    /// The mangled name a demangled function name came from, if it was mangled. (Compared as
    /// bytes: UTF-8 order is byte order, and only the answer needs validating.)
    pub fn mangled_name(&self, demangled: &str) -> Option<&str> {
        let (mut l, mut r) = (0, self.names);
        while l < r {
            let m = l + (r - l) / 2;
            match self.name_bytes_at(m, 0)?.cmp(demangled.as_bytes()) {
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

    fn id_at(&self, (start, len): (usize, usize)) -> &str {
        // Checked at open.
        std::str::from_utf8(&self.buf.as_ref()[start..start + len]).unwrap_or_default()
    }

    /// The debug id of the object this index was built from.
    pub fn debug_id(&self) -> &str {
        self.id_at(self.debug_id)
    }

    /// The code id of the object this index was built from ("" when it has none).
    pub fn code_id(&self) -> &str {
        self.id_at(self.code_id)
    }

    /// The same string borrowed from the index buffer for the index's lifetime. (`File` hands
    /// out its strings for its own lifetime only, though they point into this buffer.)
    fn reborrow(&self, s: &str) -> Option<&str> {
        let b = self.buf.as_ref();
        let start = (s.as_ptr() as usize).checked_sub(b.as_ptr() as usize)?;
        std::str::from_utf8(b.get(start..start.checked_add(s.len())?)?).ok()
    }

    /// The inline chain at a module-relative address (an offset from the image base),
    /// innermost first. Empty when no function covers the address.
    pub fn lookup_relative(&self, addr: u64) -> Vec<NativeFrame<'_>> {
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
                let (function, signature) = answer_name(func.name(), outermost);
                NativeFrame {
                    function,
                    signature,
                    // Written at build (see `DemangleAtBuild`); an index without it has none.
                    file: loc.file().and_then(|f| self.reborrow(f.srcsrv_revision()?)),
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
    pub fn lookup_vaddr(&self, vaddr: u64) -> Vec<NativeFrame<'_>> {
        match vaddr.checked_sub(self.load_address) {
            Some(rel) => self.lookup_relative(rel),
            None => Vec::new(),
        }
    }
}

//! Native debug files: an object file's bytes in (ELF, Mach-O including fat binaries, PE and
//! PDB), a persisted index per object out, and address lookups on that index with the whole
//! inline chain, innermost first. [`dsym`] reads dSYM zip archives within fixed bounds.
//!
//! The index is our own format, `SYMXNAT5` (the `index` module has the layout), built once at upload
//! and read in place: an address table with a summary (a lookup reads two summary entries and
//! searches about four ranges), source locations linked to the location they were inlined
//! into, functions with the names a lookup answers, and one string table. A lookup is an
//! iterator over the chain that borrows every string from the index and allocates nothing
//! (`cargo bench --bench native`; figures in `BENCHMARKS.md`).
//!
//! Building reads the debug information through symbolic's debug session (DWARF with gimli,
//! PDB with pdb, Mach-O and fat archives with symbolic's own readers) on one thread, and
//! converts its functions on another (the `convert` module): the address map follows the rules
//! symbolic's SymCache converter established (the reference tests pin them), names are
//! demangled once per distinct name (symbolic's demanglers: C++, Rust legacy and v0, Swift,
//! Objective-C), paths joined once per distinct file. Symbol tables, dynamic symbols, PE
//! exports and line rows without a subprogram come through `object` and gimli (`lines`).
//!
//! A PDB procedure's stored name is the name a lookup answers, or, while converting,
//! `<signature>\0<n>` or `<signature>\0<n>\0c`: the answer is the signature's first `n` bytes,
//! or the whole signature for an outermost frame marked `c` (below); the index stores both
//! answers (outermost and inlined) and the signature.
//!
//! What goes into the index is decided here:
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
//! returns ready names; each function keeps the mangled name its name came from.
//!
//! This crate does no IO (archives are read from a `Read + Seek` the caller opens) and knows
//! nothing of storage, tenants or transports. The service builds these indexes for
//! `elf_symbol_file`, `ndk_symbol_file`, `flutter_symbol_file`, `ios_symbols` (one per Mach-O
//! slice) and `pe_symbol_file` uploads.

use std::borrow::Cow;
use symbolic::common::Name;
use symbolic::debuginfo::{Archive, FileFormat, Object, ParseObjectOptions};
use symbolic::demangle::{Demangle, DemangleOptions};
use symx_types::{ErrorCode, HasErrorCode};

mod convert;
pub mod dsym;
mod expansion;
mod ids;
mod index;
pub mod layout;
mod lines;
pub mod sources;

/// A file of `tests/fixtures/native` (unit tests).
#[cfg(test)]
pub(crate) fn test_fixture(rel: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/native")
        .join(rel);
    std::fs::read(path).expect("fixture")
}

pub use ids::go_build_id;
pub use index::{Frames, NativeFrame, NativeIndex};

/// Functions per hand-over from the reading thread to the converting one.
const BATCH: usize = 1024;

/// Line records of a function and its inlinees, recursively.
fn line_records(function: &symbolic::debuginfo::Function<'_>) -> usize {
    function
        .inlinees
        .iter()
        .fold(function.lines.len().saturating_add(1), |n, i| {
            n.saturating_add(line_records(i))
        })
}

/// The most line records (of functions and their inlinees) a file's debug information may
/// describe per byte of the file, and at least. A real file has well under one row per byte
/// of its line programs, repeated once per level of inlining; malformed debug information can
/// make every function claim every row (ranges and line programs shared by offset), which
/// grows as the square of its size: it is refused before it takes the memory.
const LINE_RECORDS_PER_BYTE: usize = 32;
const MIN_LINE_RECORDS: usize = 1 << 20;

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

/// How many times its file's size a compressed debug section (`SHF_COMPRESSED`, `.zdebug_*`)
/// may claim to inflate to. Debug information compresses 3-10 times with zlib or zstd; the
/// claimed size is allocated before anything is inflated, so a header claiming more is
/// refused (the section is not read) instead of taking gigabytes for a few bytes of input.
const MAX_INFLATION: u64 = 64;

fn max_inflated(len: u64) -> u64 {
    len.saturating_mul(MAX_INFLATION)
}

fn parse_options(bytes: &[u8]) -> ParseObjectOptions {
    let mut options = ParseObjectOptions::default();
    options.max_decompressed_section_size =
        Some(usize::try_from(max_inflated(bytes.len() as u64)).unwrap_or(usize::MAX));
    options
}

fn parse(bytes: &[u8]) -> Result<Object<'_>, Error> {
    Object::parse_with_opts(bytes, parse_options(bytes))
        .map_err(|e| Error::InvalidObject(e.to_string()))
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
    let archive = Archive::parse_with_opts(bytes, parse_options(bytes))
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
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
/// apart: the converter holds every location, function name, path and range operation of the
/// object while it writes the index. Measured by the workspace's `memory` test
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
                .map(|c| c.uncompressed_size.min(max_inflated(bytes.len() as u64)))
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
    // PDB: the addresses of C++ public symbols (decorated `?` names). A procedure there is
    // named as its public symbol demangles (with its argument list); any other keeps its
    // name without the list. (What llvm-symbolizer answers: the public symbol's name when one
    // sits at the function's address, else the procedure's.)
    let symbols = bounded_symbols(object, sections.as_ref());
    let pdb = object.file_format() == FileFormat::Pdb;
    let cplusplus: std::collections::HashSet<u64> = if pdb {
        symbols
            .iter()
            .filter(|s| s.name.as_deref().is_some_and(|n| n.starts_with('?')))
            .map(|s| s.address)
            .collect()
    } else {
        Default::default()
    };
    let converter = convert::Converter::new(object.data());
    let mut naming = convert::Naming::new(windows);
    if !pdb {
        expansion::check(object).map_err(Error::InvalidObject)?;
    }
    let session = object
        .debug_session()
        .map_err(|e| Error::InvalidObject(e.to_string()))?;
    let first_rows = if pdb {
        lines::pdb_first_rows(object.data())
    } else {
        Default::default()
    };
    // Two threads: this one reads the debug information into functions (symbolic's session,
    // on gimli or pdb; a PDB session cannot leave its thread) and names them (demangling), the
    // other converts them. Batches (functions, and their names in pre-order) keep the
    // hand-over cheap; the bounded channel keeps a few batches in flight.
    type Batch<'f> = (Vec<symbolic::debuginfo::Function<'f>>, Vec<u32>);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<'_>>(4);
    let (mut converter, mut covered) = std::thread::scope(|scope| {
        let converting = scope.spawn(move || {
            let mut converter = converter;
            // The code debug-information functions cover (their line records), merged.
            let mut covered: Vec<(u64, u64)> = Vec::new();
            for (functions, names) in rx {
                let mut cursor = 0;
                for function in &functions {
                    converter.add_function(function, &names, &mut cursor);
                    for line in &function.lines {
                        let end = line.address.saturating_add(line.size.unwrap_or(1).max(1));
                        match covered.last_mut() {
                            Some(last) if last.1 == line.address => last.1 = end,
                            _ => covered.push((line.address, end)),
                        }
                    }
                }
            }
            (converter, covered)
        });
        let budget = object
            .data()
            .len()
            .saturating_mul(LINE_RECORDS_PER_BYTE)
            .max(MIN_LINE_RECORDS);
        let mut records = 0usize;
        let mut read = || -> Result<(), Error> {
            let mut batch: Batch<'_> = (Vec::with_capacity(BATCH), Vec::new());
            for function in session.functions() {
                let mut function = function.map_err(|e| Error::InvalidObject(e.to_string()))?;
                records = records.saturating_add(line_records(&function));
                if records > budget {
                    return Err(Error::InvalidObject(format!(
                        "the debug information describes more than {budget} line records for a file of {} bytes (functions sharing ranges or line programs): malformed",
                        object.data().len()
                    )));
                }
                if !first_rows.is_empty() {
                    first_row_at_its_address(&mut function, &first_rows);
                }
                let source = match (pdb, cplusplus.contains(&function.address)) {
                    (true, cxx) => NameSource::PdbProcedure { cxx },
                    (false, _) => NameSource::DebugInfo,
                };
                naming.names_of(&function, source, &mut batch.1);
                batch.0.push(function);
                if batch.0.len() == BATCH {
                    let full =
                        std::mem::replace(&mut batch, (Vec::with_capacity(BATCH), Vec::new()));
                    if tx.send(full).is_err() {
                        break;
                    }
                }
            }
            let _ = tx.send(batch);
            Ok(())
        };
        let read = read();
        drop(tx);
        match converting.join() {
            Ok(done) => read.map(|()| done),
            // A panic while converting: `guarded` turns it into an error.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    covered.sort_unstable();
    let mut names = Vec::new();
    line_table_functions(
        object,
        info.has_debug_info && !pdb,
        sections.as_ref(),
        &symbols,
        &covered,
        |f| {
            names.clear();
            naming.names_of(f, NameSource::SymbolTable, &mut names);
            converter.add_function(f, &names, &mut 0);
        },
    );
    for symbol in &symbols {
        converter.add_symbol(symbol, &mut naming);
    }
    let bytes = converter.finish(
        &naming,
        info.load_address,
        &info.debug_id,
        info.code_id.as_deref().unwrap_or_default(),
    )?;
    Ok(BuiltNative { bytes, info })
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
    // A separate debug file (`objcopy --only-keep-debug`) keeps its code sections' headers
    // as NOBITS, which `object` calls uninitialized data: their executable flag says code.
    let executable = |s: &object::Section<'_, '_>| match s.flags() {
        object::SectionFlags::Elf { sh_flags } => {
            sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0
        }
        _ => false,
    };
    let mut ranges: Vec<(u64, u64)> = file
        .sections()
        .filter(|s| (s.kind() == SectionKind::Text || executable(s)) && s.size() > 0)
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

/// The function name a lookup answers and the full signature, from a stored name (see the
/// crate docs for `<signature>\0<n>[\0c]`), for an outermost or an inlined frame.
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

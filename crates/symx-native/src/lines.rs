//! DWARF line-table rows that no subprogram covers: hand-written assembly (`gcc -g` on a `.S`
//! file gives a line table and no `DW_TAG_subprogram`), and code whose subprograms a compiler
//! left out. symbolic only reads line rows through subprograms, so such code would get the
//! symbol table's name and no file or line; llvm-symbolizer and addr2line answer the line
//! table's file and line with the symbol's name. This module reads those rows with gimli.

use object::{Object as _, ObjectSection as _};
use std::borrow::Cow;

/// One line-table row: `[start, end)` relative to the load address, with its file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub start: u64,
    pub end: u64,
    /// The compilation directory, the file's directory and its name (each may be empty).
    pub comp_dir: Vec<u8>,
    pub dir: Vec<u8>,
    pub name: Vec<u8>,
    pub line: u64,
}

/// The rows of the line tables of `file` (an ELF or Mach-O file) that fall in `ranges`
/// (sorted, disjoint, relative to `load_address`). Only units whose address ranges meet
/// `ranges` are read. Empty when the file has no readable DWARF.
pub(crate) fn rows_in(
    file: &object::File<'_>,
    load_address: u64,
    ranges: &[(u64, u64)],
) -> Vec<Row> {
    if ranges.is_empty() {
        return Vec::new();
    }
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
        // Compressed sections are not read (no decompressor linked): no rows from them.
        Ok(file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let Ok(sections) = gimli::DwarfSections::load(load) else {
        return Vec::new();
    };
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
    let mut out = Vec::new();
    let meets = |a: u64, b: u64| {
        let i = ranges.partition_point(|r| r.1 <= a);
        ranges.get(i).is_some_and(|r| r.0 < b)
    };
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        // Skip units whose code is all elsewhere (the common case: every unit with
        // subprograms of its own).
        if let Ok(mut unit_ranges) = dwarf.unit_ranges(&unit) {
            let mut any = false;
            let mut known = false;
            while let Ok(Some(r)) = unit_ranges.next() {
                known = true;
                let (a, b) = (
                    r.begin.saturating_sub(load_address),
                    r.end.saturating_sub(load_address),
                );
                if meets(a, b) {
                    any = true;
                    break;
                }
            }
            if known && !any {
                continue;
            }
        }
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        let comp_dir = unit
            .comp_dir
            .map(|d| d.slice().to_vec())
            .unwrap_or_default();
        let mut rows = program.rows();
        // The previous row of the current sequence: (address, file index, line).
        let mut previous: Option<(u64, u64, u64)> = None;
        while let Ok(Some((header, row))) = rows.next_row() {
            let address = row.address();
            if let Some((start, file, line)) = previous.take() {
                let (a, b) = (
                    start.saturating_sub(load_address),
                    address.saturating_sub(load_address),
                );
                if b > a && meets(a, b) {
                    let entry = header.file(file);
                    let name = entry
                        .and_then(|e| dwarf.attr_string(&unit, e.path_name()).ok())
                        .map(|s| s.slice().to_vec())
                        .unwrap_or_default();
                    let dir = entry
                        .and_then(|e| e.directory(header))
                        .and_then(|d| dwarf.attr_string(&unit, d).ok())
                        .map(|s| s.slice().to_vec())
                        .unwrap_or_default();
                    out.push(Row {
                        start: a,
                        end: b,
                        comp_dir: comp_dir.clone(),
                        dir,
                        name,
                        line,
                    });
                }
            }
            if !row.end_sequence() {
                previous = Some((address, row.file_index(), row.line().map_or(0, |l| l.get())));
            }
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

/// The PDB's line rows that share their address with a later row: RVA -> the first row's
/// line. llvm-symbolizer answers such an address exactly with its first row (and any address
/// after it, up to the next row, with the last), while symbolic drops the first rows (their
/// length is 0). Empty when the PDB cannot be read this way.
pub(crate) fn pdb_first_rows(data: &[u8]) -> std::collections::HashMap<u64, u64> {
    use pdb::FallibleIterator;
    let mut out = std::collections::HashMap::new();
    let Ok(mut file) = pdb::PDB::open(std::io::Cursor::new(data)) else {
        return out;
    };
    let (Ok(dbi), Ok(map)) = (file.debug_information(), file.address_map()) else {
        return out;
    };
    let Ok(mut modules) = dbi.modules() else {
        return out;
    };
    while let Ok(Some(module)) = modules.next() {
        let Ok(Some(info)) = file.module_info(&module) else {
            continue;
        };
        let Ok(program) = info.line_program() else {
            continue;
        };
        let mut lines = program.lines();
        // (rva, line) of the previous row, when it is the first at its address.
        let mut first: Option<(u64, u64)> = None;
        while let Ok(Some(row)) = lines.next() {
            let Some(rva) = row.offset.to_rva(&map) else {
                continue;
            };
            let rva = u64::from(rva.0);
            match first {
                Some((at, line)) if at == rva => {
                    out.entry(rva).or_insert(line);
                }
                _ => first = Some((rva, u64::from(row.line_start))),
            }
        }
    }
    out
}

/// The source file of each local function symbol of an ELF file (relative address -> name):
/// the name of the `STT_FILE` symbol before it in the symbol table, which is how linkers keep
/// the file of a local (static) symbol. Global symbols have none. Empty for other formats.
pub(crate) fn local_symbol_files(
    file: &object::File<'_>,
    load_address: u64,
) -> std::collections::HashMap<u64, String> {
    use object::{ObjectSymbol as _, SymbolKind};
    let mut out = std::collections::HashMap::new();
    if file.format() != object::BinaryFormat::Elf {
        return out;
    }
    let mut current: Option<String> = None;
    for symbol in file.symbols() {
        match symbol.kind() {
            SymbolKind::File => {
                current = symbol.name().ok().map(str::to_owned);
            }
            SymbolKind::Text if symbol.is_local() => {
                if let (Some(f), Some(rel)) = (&current, symbol.address().checked_sub(load_address))
                {
                    out.insert(rel, f.clone());
                }
            }
            _ => {}
        }
    }
    out
}

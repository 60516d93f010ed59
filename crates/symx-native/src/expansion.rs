//! A bound, checked before symbolic reads a file's DWARF, on how many line records its
//! functions will hold.
//!
//! symbolic reads a compilation unit whole before it yields any of its functions: every
//! subprogram range takes a copy of the line-table rows it covers (`DwarfLineProgram::
//! get_rows`), and each unit parses the line program its `DW_AT_stmt_list` names. Real debug
//! information gives each row to one function, and each unit a line program of its own. A few
//! bytes of malformed DWARF can give thousands of overlapping subprogram ranges over one
//! table of thousands of rows (ranges lists are shared by offset), or point thousands of units
//! at one large line program: the square of the input in memory or time, gigabytes from
//! kilobytes. This module counts, with gimli over the same sections symbolic reads (inflated
//! the same way), what symbolic would expand, and refuses the file first.

use gimli::{AttributeValue, constants};
use std::borrow::Cow;
use symbolic::debuginfo::Object;
use symbolic::debuginfo::dwarf::Dwarf;

/// Rows of a unit's subprogram ranges allowed besides four per row of its line program (a
/// relocatable object's functions all start at address 0 and share the first sequence's rows).
const UNIT_MIN_ROWS: usize = 1 << 16;
/// Copies of a row allowed per row of the unit's line program.
const ROWS_PER_ROW: usize = 4;
/// Bytes of line programs the units may parse in all, besides twice `.debug_line`.
const MIN_LINE_BYTES: usize = 1 << 20;

type Slice<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

/// Checks the DWARF of `object` (ELF, Mach-O, PE, Wasm); other formats pass. The error says
/// what is out of bounds, and where.
pub(crate) fn check(object: &Object<'_>) -> Result<(), String> {
    match object {
        Object::Elf(o) => check_dwarf(o),
        Object::MachO(o) => check_dwarf(o),
        Object::Pe(o) => check_dwarf(o),
        Object::Wasm(o) => check_dwarf(o),
        _ => Ok(()),
    }
}

fn check_dwarf<'d>(object: &impl Dwarf<'d>) -> Result<(), String> {
    let load = |name: &str| -> Cow<'d, [u8]> {
        object
            .section(name)
            .map(|s| s.data)
            .unwrap_or(Cow::Borrowed(&[]))
    };
    let info = load("debug_info");
    if info.is_empty() {
        return Ok(());
    }
    let (abbrev, line, addr) = (load("debug_abbrev"), load("debug_line"), load("debug_addr"));
    let (ranges, rnglists) = (load("debug_ranges"), load("debug_rnglists"));
    let endian = object.endianity();
    fn s<'a>(data: &'a [u8], endian: gimli::RunTimeEndian) -> Slice<'a> {
        gimli::EndianSlice::new(data, endian)
    }
    let sections = gimli::DwarfSections {
        debug_abbrev: s(&abbrev, endian).into(),
        debug_addr: s(&addr, endian).into(),
        debug_info: s(&info, endian).into(),
        debug_line: s(&line, endian).into(),
        debug_ranges: s(&ranges, endian).into(),
        debug_rnglists: s(&rnglists, endian).into(),
        ..Default::default()
    };
    let dwarf = sections.borrow(|section| *section);
    let line_budget = line.len().saturating_mul(2).saturating_add(MIN_LINE_BYTES);
    let mut line_bytes = 0usize;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let at = header.offset().0;
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        line_bytes = line_bytes.saturating_add(program.header().unit_length());
        if line_bytes > line_budget {
            return Err(format!(
                "the units up to the one at .debug_info offset {at:#x} name line programs of {line_bytes} bytes in all, with {} bytes of .debug_line (units sharing one line program): malformed",
                line.len()
            ));
        }
        let rows = Rows::of(program);
        let budget = rows
            .count
            .saturating_mul(ROWS_PER_ROW)
            .saturating_add(UNIT_MIN_ROWS);
        let covered = covered_rows(&dwarf, &unit, &rows, &mut seen, budget);
        if covered > budget {
            return Err(format!(
                "the subprograms of the unit at .debug_info offset {at:#x} cover more than {budget} line records, with {} rows in its line table (subprogram ranges sharing rows): malformed",
                rows.count
            ));
        }
    }
    Ok(())
}

/// A line program's rows as symbolic keeps them: per sequence, the distinct increasing
/// addresses (address 0 left out), sequences sorted by start.
struct Rows {
    /// (start, end, row addresses) per sequence.
    sequences: Vec<(u64, u64, Vec<u64>)>,
    count: usize,
}

impl Rows {
    fn of(program: gimli::IncompleteLineProgram<Slice<'_>>) -> Self {
        let mut sequences = Vec::new();
        let mut rows: Vec<u64> = Vec::new();
        let mut previous = 0u64;
        let mut count = 0usize;
        let mut machine = program.rows();
        while let Ok(Some((_, row))) = machine.next_row() {
            let address = row.address();
            if address == 0 {
                continue;
            }
            if row.end_sequence() {
                if let Some(&start) = rows.first() {
                    let end = if address < previous {
                        previous.saturating_add(1)
                    } else {
                        address
                    };
                    sequences.push((start, end, std::mem::take(&mut rows)));
                }
                previous = 0;
            } else if address >= previous {
                if rows.last() != Some(&address) {
                    rows.push(address);
                    count += 1;
                }
                previous = address;
            }
        }
        if let Some(&start) = rows.first() {
            sequences.push((start, previous.saturating_add(1), rows));
        }
        sequences.sort_by_key(|s| s.0);
        Rows { sequences, count }
    }

    /// How many rows symbolic gives a function range `[begin, end)`: those of the first
    /// sequence it meets, from the row at or before `begin` to the last before `end`.
    fn in_range(&self, begin: u64, end: u64) -> usize {
        let Some((_, _, rows)) = self
            .sequences
            .iter()
            .find(|(start, seq_end, _)| begin < *seq_end && *start < end)
        else {
            return 0;
        };
        let from = match rows.binary_search(&begin) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let tail = &rows[from..];
        match tail.binary_search(&end) {
            Ok(n) | Err(n) => n,
        }
    }
}

/// The rows the unit's subprograms cover (each distinct range once in the file, as symbolic
/// counts them), stopping once past `budget`.
fn covered_rows(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    rows: &Rows,
    seen: &mut rustc_hash::FxHashSet<(u64, u64)>,
    budget: usize,
) -> usize {
    let mut covered = 0usize;
    let Ok(mut entries) = unit.entries_raw(None) else {
        return 0;
    };
    let mut ranges = Vec::new();
    while !entries.is_empty() {
        let Ok(abbrev) = entries.read_abbreviation() else {
            break;
        };
        let Some(abbrev) = abbrev else {
            continue;
        };
        if abbrev.tag() != constants::DW_TAG_subprogram {
            if entries.skip_attributes(abbrev.attributes()).is_err() {
                break;
            }
            continue;
        }
        ranges.clear();
        let (mut low, mut high, mut size) = (None, None, None);
        for spec in abbrev.attributes() {
            let Ok(attr) = entries.read_attribute(*spec) else {
                return covered;
            };
            match (attr.name(), attr.value()) {
                (constants::DW_AT_low_pc, AttributeValue::Addr(a)) => low = Some(a),
                (constants::DW_AT_low_pc, AttributeValue::DebugAddrIndex(i)) => {
                    low = dwarf.address(unit, i).ok();
                }
                (constants::DW_AT_high_pc, AttributeValue::Addr(a)) => high = Some(a),
                (constants::DW_AT_high_pc, AttributeValue::DebugAddrIndex(i)) => {
                    high = dwarf.address(unit, i).ok();
                }
                (constants::DW_AT_high_pc, AttributeValue::Udata(n)) => size = Some(n),
                (
                    constants::DW_AT_ranges
                    | constants::DW_AT_rnglists_base
                    | constants::DW_AT_start_scope,
                    value,
                ) => {
                    if let Ok(Some(mut list)) = dwarf.attr_ranges(unit, value) {
                        while let Ok(Some(r)) = list.next() {
                            ranges.push((r.begin, r.end));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(low) = low
            && let Some(end) = high.or_else(|| size.map(|n| low.wrapping_add(n)))
        {
            ranges.push((low, end));
        }
        for &(begin, end) in &ranges {
            if begin > end || !seen.insert((begin, end - begin)) {
                continue;
            }
            covered = covered.saturating_add(rows.in_range(begin, end));
            if covered > budget {
                return covered;
            }
        }
    }
    covered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(sequences: &[&[u64]]) -> Rows {
        let sequences: Vec<_> = sequences
            .iter()
            .map(|r| (r[0], r[r.len() - 1] + 1, r.to_vec()))
            .collect();
        let count = sequences.iter().map(|s| s.2.len()).sum();
        Rows { sequences, count }
    }

    #[test]
    fn a_range_counts_the_rows_symbolic_copies() {
        let r = rows(&[&[0x10, 0x14, 0x18, 0x20], &[0x100, 0x104]]);
        // From the row at or before the start to the last row before the end.
        assert_eq!(r.in_range(0x10, 0x18), 2);
        assert_eq!(r.in_range(0x12, 0x18), 2);
        assert_eq!(r.in_range(0x14, 0x21), 3);
        // A range starting before the sequence starts at its first row.
        assert_eq!(r.in_range(0x0, 0x15), 2);
        // Only the first sequence the range meets.
        assert_eq!(r.in_range(0x10, 0x105), 4);
        assert_eq!(r.in_range(0x100, 0x200), 2);
        assert_eq!(r.in_range(0x30, 0x40), 0);
    }
}

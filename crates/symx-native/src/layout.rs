//! Where things are inside a stored file, for serving parts of it (the symbol server): an ELF
//! section's byte range, read from the section headers alone through any `Read + Seek` (a
//! stored file is read a chunk at a time, never whole), and the slices of a Mach-O file (one
//! per architecture of a fat file) with their UUIDs.

use crate::Error;
use object::read::elf::{FileHeader, SectionHeader};
use object::{FileKind, ReadCache, ReadRef};
use std::io::{Read, Seek};

/// A byte range of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub offset: u64,
    pub size: u64,
}

/// Where an ELF section's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfSection {
    /// The section's bytes as stored in the file (a compressed section stays compressed).
    Bytes(Range),
    /// The section takes no bytes in this file (`SHT_NOBITS`: `.bss`, or code in a separate
    /// debug file): another file of the module holds them, if any does.
    NoBits,
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::InvalidObject(e.to_string())
}

/// The byte range of the section named `name` of an ELF file, `None` when it has no such
/// section. Reads the file header, the section headers and the section name table only.
pub fn elf_section<R: Read + Seek>(reader: R, name: &str) -> Result<Option<ElfSection>, Error> {
    let cache = ReadCache::new(reader);
    let data = &cache;
    match FileKind::parse(data).map_err(invalid)? {
        FileKind::Elf32 => {
            section_in::<object::elf::FileHeader32<object::Endianness>, _>(data, name)
        }
        FileKind::Elf64 => {
            section_in::<object::elf::FileHeader64<object::Endianness>, _>(data, name)
        }
        other => Err(Error::InvalidObject(format!("not an ELF file ({other:?})"))),
    }
}

fn section_in<'data, Elf: FileHeader, R: ReadRef<'data>>(
    data: R,
    name: &str,
) -> Result<Option<ElfSection>, Error> {
    let header = Elf::parse(data).map_err(invalid)?;
    let endian = header.endian().map_err(invalid)?;
    let sections = header.sections(endian, data).map_err(invalid)?;
    let Some((_, section)) = sections.section_by_name(endian, name.as_bytes()) else {
        return Ok(None);
    };
    Ok(Some(match section.file_range(endian) {
        Some((offset, size)) if offset.checked_add(size).is_some() => {
            ElfSection::Bytes(Range { offset, size })
        }
        Some(_) => return Err(invalid(format!("section {name} ends past 2^64"))),
        None => ElfSection::NoBits,
    }))
}

/// One Mach-O object of a file: the whole file when thin, each architecture of a fat file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachSlice {
    /// The `LC_UUID`, 32 lowercase hex digits.
    pub uuid: String,
    pub range: Range,
}

/// The Mach-O objects of a file and their UUIDs (objects without one are left out).
pub fn macho_slices(data: &[u8]) -> Result<Vec<MachSlice>, Error> {
    let whole = Range {
        offset: 0,
        size: data.len() as u64,
    };
    let ranges: Vec<Range> = match FileKind::parse(data).map_err(invalid)? {
        FileKind::MachOFat32 => object::read::macho::MachOFatFile32::parse(data)
            .map_err(invalid)?
            .arches()
            .iter()
            .map(|a| file_range(object::read::macho::FatArch::file_range(a)))
            .collect(),
        FileKind::MachOFat64 => object::read::macho::MachOFatFile64::parse(data)
            .map_err(invalid)?
            .arches()
            .iter()
            .map(|a| file_range(object::read::macho::FatArch::file_range(a)))
            .collect(),
        FileKind::MachO32 | FileKind::MachO64 => vec![whole],
        other => {
            return Err(Error::InvalidObject(format!(
                "not a Mach-O file ({other:?})"
            )));
        }
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        if range
            .offset
            .checked_add(range.size)
            .is_none_or(|end| end > data.len() as u64)
        {
            return Err(invalid(format!(
                "a slice at {} of {} bytes runs past the file",
                range.offset, range.size
            )));
        }
        if let Some(uuid) = slice_uuid(data, range.offset)? {
            out.push(MachSlice {
                uuid: hex::encode(uuid),
                range,
            });
        }
    }
    Ok(out)
}

/// The UUID of the Mach-O object at `offset`, from its load commands alone.
fn slice_uuid(data: &[u8], offset: u64) -> Result<Option<[u8; 16]>, Error> {
    use object::read::macho::MachHeader;
    fn uuid_of<M: MachHeader<Endian = object::Endianness>>(
        data: &[u8],
        offset: u64,
    ) -> Result<Option<[u8; 16]>, Error> {
        let header = M::parse(data, offset).map_err(invalid)?;
        let endian = header.endian().map_err(invalid)?;
        header.uuid(endian, data, offset).map_err(invalid)
    }
    match FileKind::parse_at(data, offset).map_err(invalid)? {
        FileKind::MachO32 => {
            uuid_of::<object::macho::MachHeader32<object::Endianness>>(data, offset)
        }
        FileKind::MachO64 => {
            uuid_of::<object::macho::MachHeader64<object::Endianness>>(data, offset)
        }
        other => Err(Error::InvalidObject(format!(
            "the slice at {offset} is not a Mach-O object ({other:?})"
        ))),
    }
}

fn file_range((offset, size): (u64, u64)) -> Range {
    Range { offset, size }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixture as fixture;

    /// Section ranges as `readelf -S` prints them for the fixture (offset, size); code in a
    /// separate debug file is NOBITS.
    #[test]
    fn elf_sections_are_found_by_their_headers() {
        let debug = fixture("elf/crash.debug");
        let info = elf_section(std::io::Cursor::new(&debug), ".debug_info")
            .expect("parse")
            .expect("present");
        let ElfSection::Bytes(r) = info else {
            panic!("{info:?}")
        };
        assert!(r.size > 0 && r.offset + r.size <= debug.len() as u64);
        assert_eq!(
            elf_section(std::io::Cursor::new(&debug), ".text").expect("parse"),
            Some(ElfSection::NoBits)
        );
        assert_eq!(
            elf_section(std::io::Cursor::new(&debug), ".no_such").expect("parse"),
            None
        );
        assert!(elf_section(std::io::Cursor::new(b"not an elf file"), ".text").is_err());
    }

    /// The fat DWARF file of the fixture's dSYM: one slice per architecture, with the UUIDs
    /// `llvm-dwarfdump --uuid` printed (`uuids.txt`).
    #[test]
    fn a_fat_file_has_a_slice_per_architecture() {
        let zip = fixture("macho/libapp.dylib.dSYM.zip");
        let mut archive = crate::dsym::DsymArchive::open(
            std::io::Cursor::new(zip),
            &crate::dsym::Limits::default(),
        )
        .expect("archive");
        let entry = archive.dwarf_files()[0].clone();
        let mut dylib = Vec::new();
        archive.extract(&entry, &mut dylib).expect("extract");
        let slices = macho_slices(&dylib).expect("slices");
        let uuids = String::from_utf8(fixture("macho/uuids.txt")).expect("utf-8");
        assert_eq!(slices.len(), 2, "{slices:?}");
        for s in &slices {
            assert!(
                uuids
                    .to_ascii_lowercase()
                    .replace('-', "")
                    .contains(&s.uuid),
                "{} not in {uuids}",
                s.uuid
            );
            assert!(s.range.offset > 0 && s.range.offset + s.range.size <= dylib.len() as u64);
        }
        assert!(macho_slices(b"\x7fELF").is_err());
    }
}

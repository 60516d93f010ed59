//! Identifiers symbolic does not read: the Go build id of an ELF file.

use object::read::elf::{ElfFile32, ElfFile64, FileHeader, SectionHeader};
use object::{Endianness, ReadRef};

/// The owner and type of the note the Go linker writes into `.note.go.buildid`
/// (`cmd/link`: `ELF_NOTE_GO_NAME` "Go\0\0", `ELF_NOTE_GOBUILDID_TAG` 4).
const GO_NOTE_NAME: &[u8] = b"Go";
const GO_NOTE_BUILDID: u32 = 4;

/// The Go build id of an ELF file (`go tool buildid` prints the same string), if it has one.
pub fn go_build_id(data: &[u8]) -> Option<String> {
    if let Ok(elf) = ElfFile64::<Endianness>::parse(data) {
        return from_sections(elf.elf_header(), elf.endian(), data);
    }
    if let Ok(elf) = ElfFile32::<Endianness>::parse(data) {
        return from_sections(elf.elf_header(), elf.endian(), data);
    }
    None
}

fn from_sections<'d, H: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    header: &H,
    endian: Endianness,
    data: R,
) -> Option<String> {
    let sections = header.sections(endian, data).ok()?;
    for section in sections.iter() {
        let Ok(Some(mut notes)) = section.notes(endian, data) else {
            continue;
        };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == GO_NOTE_NAME && note.n_type(endian) == GO_NOTE_BUILDID {
                let desc = note.desc();
                return std::str::from_utf8(desc)
                    .ok()
                    .map(|s| s.trim_end_matches('\0').to_owned())
                    .filter(|s| !s.is_empty());
            }
        }
    }
    None
}

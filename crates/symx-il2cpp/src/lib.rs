//! Unity IL2CPP line mappings: `LineNumberMappings.json` in, a persisted index out, and
//! lookups from a C++ location (what native symbolication of a Unity frame yields) to the C#
//! file and line it was generated from.
//!
//! The file, as Unity's IL2CPP writes it: `{ "<C++ file>": { "<C# file>": { "<C++ line>":
//! <C# line>, ... }, ... }, ... }`. A C++ line maps to the C# line of the nearest mapped C++
//! line at or before it in the same C++ file (IL2CPP marks the first C++ line of each C#
//! statement). C++ files are matched by path, else by the longest shared path suffix (build
//! machines differ).
//!
//! The index (`SYMXI2C2`) is the mapping normalised into one little-endian buffer read in place
//! (nothing is decoded when it is opened beyond checking every size): a header of counts, the
//! C++ file table sorted by path (each file's name in the string table and its range of
//! entries), the same files ordered by file name (for the suffix match), the C# file table,
//! the entries (C++ line, C# line, C# file), sorted by C++ line within each C++ file, and the
//! string table. `SYMXI2C1` (the same normalisation as JSON, decoded on every load) is an
//! older version: opening it answers [`Error::IndexVersion`], and the service rebuilds it from
//! the stored mapping. No IO here; the service composes this crate with `symx-native`,
//! neither knows the other.

use std::collections::{BTreeMap, HashMap};
use symx_types::{ErrorCode, HasErrorCode};

const MAGIC_STR: &str = "SYMXI2C2";
const MAGIC: &[u8; 8] = b"SYMXI2C2";
/// Header: magic, then four u32 counts (C++ files, C# files, entries, string bytes).
const HEADER: usize = 8 + 4 * 4;
/// A C++ file: name offset, name length, first entry, entry count.
const CPP_FILE: usize = 16;
/// A C# file: name offset, name length.
const CS_FILE: usize = 8;
/// An entry: C++ line, C# line, C# file.
const ENTRY: usize = 12;

#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid IL2CPP line mapping: {0}")]
    InvalidMapping(String),
    #[error("stored IL2CPP index is not readable: {0}")]
    BadIndex(String),
    /// A `SYMXI2C` index of another format version: build it again from the mapping.
    #[error("stored IL2CPP index has format version {0}; this build reads {MAGIC_STR}")]
    IndexVersion(String),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidMapping(_) => ErrorCode::InvalidArgument,
            Self::BadIndex(_) | Self::IndexVersion(_) => ErrorCode::Internal,
        }
    }
}

/// The normalised mapping, before it is laid out.
#[derive(Debug, Default)]
struct Stored {
    cs_files: Vec<String>,
    /// C++ file -> (C++ line, C# line, C# file index), sorted by C++ line.
    cpp: BTreeMap<String, Vec<(u32, u32, u32)>>,
}

impl Stored {
    /// The `SYMXI2C2` buffer.
    fn layout(&self) -> Result<Vec<u8>, Error> {
        let too_big = || Error::InvalidMapping("the mapping is too large to index".into());
        let n = |v: usize| u32::try_from(v).map_err(|_| too_big());
        let entries: usize = self.cpp.values().map(Vec::len).sum();
        let mut strings = Vec::new();
        let mut string = |s: &str| -> Result<(u32, u32), Error> {
            let at = n(strings.len())?;
            strings.extend_from_slice(s.as_bytes());
            Ok((at, n(s.len())?))
        };
        let mut cpp_table = Vec::with_capacity(self.cpp.len() * CPP_FILE);
        let mut entry_table = Vec::with_capacity(entries * ENTRY);
        let mut first = 0usize;
        for (name, lines) in &self.cpp {
            let (off, len) = string(name)?;
            for v in [off, len, n(first)?, n(lines.len())?] {
                cpp_table.extend_from_slice(&v.to_le_bytes());
            }
            for (cpp, cs, file) in lines {
                for v in [*cpp, *cs, *file] {
                    entry_table.extend_from_slice(&v.to_le_bytes());
                }
            }
            first += lines.len();
        }
        // The C++ files by file name (then path), for the suffix match.
        let mut by_name: Vec<(usize, &str)> = self
            .cpp
            .keys()
            .enumerate()
            .map(|(i, path)| (i, path.as_str()))
            .collect();
        by_name.sort_by(|a, b| name_of(a.1).cmp(name_of(b.1)).then(a.1.cmp(b.1)));
        let mut cs_table = Vec::with_capacity(self.cs_files.len() * CS_FILE);
        for name in &self.cs_files {
            let (off, len) = string(name)?;
            cs_table.extend_from_slice(&off.to_le_bytes());
            cs_table.extend_from_slice(&len.to_le_bytes());
        }
        let mut out = Vec::with_capacity(
            HEADER
                + cpp_table.len()
                + by_name.len() * 4
                + cs_table.len()
                + entry_table.len()
                + strings.len(),
        );
        out.extend_from_slice(MAGIC);
        for v in [
            n(self.cpp.len())?,
            n(self.cs_files.len())?,
            n(entries)?,
            n(strings.len())?,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&cpp_table);
        for (i, _) in by_name {
            out.extend_from_slice(&n(i)?.to_le_bytes());
        }
        out.extend_from_slice(&cs_table);
        out.extend_from_slice(&entry_table);
        out.extend_from_slice(&strings);
        Ok(out)
    }
}

/// What a build read from the mapping.
#[derive(Clone, Debug)]
pub struct Built {
    pub bytes: Vec<u8>,
    pub cpp_files: usize,
    pub entries: usize,
}

/// Bytes of peak memory per byte of mapping: the parse keeps every entry as a map node with
/// its key string and JSON value (an entry `"1234": 56,` is 11 bytes of JSON and about 100 of
/// memory), measured by the workspace's `memory` test (`tests/memory/`).
const PER_BYTE: u64 = 16;

/// Estimates the peak memory of [`build_index`] on a mapping of `len` bytes, before any of it
/// is read.
pub fn estimate_build_memory(len: u64) -> u64 {
    len.saturating_mul(PER_BYTE).saturating_add(1 << 20)
}

/// Parses and indexes a `LineNumberMappings.json`. Errors name the C++ file, the C# file and
/// the key that is wrong.
pub fn build_index(bytes: &[u8]) -> Result<Built, Error> {
    let raw: BTreeMap<String, BTreeMap<String, BTreeMap<String, serde_json::Value>>> =
        serde_json::from_slice(bytes).map_err(|e| {
            Error::InvalidMapping(format!(
                "expected {{\"<C++ file>\": {{\"<C# file>\": {{\"<C++ line>\": <C# line>}}}}}}: {e}"
            ))
        })?;
    let mut stored = Stored::default();
    let mut cs_index: HashMap<String, u32> = HashMap::new();
    let mut entries = 0usize;
    for (cpp_file, by_cs) in raw {
        let mut lines = Vec::new();
        for (cs_file, map) in by_cs {
            let next = stored.cs_files.len() as u32;
            let cs_idx = *cs_index.entry(cs_file.clone()).or_insert_with(|| {
                stored.cs_files.push(cs_file.clone());
                next
            });
            for (cpp_line, cs_line) in map {
                let bad = |what: &str| {
                    Error::InvalidMapping(format!(
                        "`{cpp_file}` -> `{cs_file}`: {what} (key `{cpp_line}`, value {cs_line})"
                    ))
                };
                let cpp: u32 = cpp_line
                    .parse()
                    .map_err(|_| bad("the C++ line is not a number"))?;
                let cs = cs_line
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("the C# line is not a number"))?;
                lines.push((cpp, cs, cs_idx));
            }
        }
        lines.sort_unstable();
        entries += lines.len();
        stored.cpp.insert(cpp_file, lines);
    }
    if entries == 0 {
        return Err(Error::InvalidMapping("the mapping holds no line".into()));
    }
    let cpp_files = stored.cpp.len();
    Ok(Built {
        bytes: stored.layout()?,
        cpp_files,
        entries,
    })
}

/// A C# location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed<'a> {
    pub file: &'a str,
    pub line: u32,
}

/// A loaded index: the `SYMXI2C2` buffer, read in place.
#[derive(Debug)]
pub struct Il2cppIndex<B = Vec<u8>> {
    bytes: B,
    cpp_files: usize,
    cs_files: usize,
    entries: usize,
    strings: usize,
}

fn name_of(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn parts(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

impl<B: AsRef<[u8]>> Il2cppIndex<B> {
    /// Opens an index in place, checking its header and that every table and every string,
    /// entry range and file reference lies within the buffer (so lookups never fail on it).
    pub fn open(bytes: B) -> Result<Self, Error> {
        let b = bytes.as_ref();
        match b.get(..8) {
            Some(m) if m == MAGIC.as_slice() => {}
            Some(m) if m.starts_with(b"SYMXI2C") => {
                return Err(Error::IndexVersion(String::from_utf8_lossy(m).into_owned()));
            }
            _ => return Err(Error::BadIndex(format!("missing {MAGIC_STR} header"))),
        }
        let bad = |what: &str| Error::BadIndex(what.to_owned());
        if b.len() < HEADER {
            return Err(bad("truncated header"));
        }
        let count = |i: usize| u32_at(b, 8 + 4 * i) as usize;
        let (cpp_files, cs_files, entries, strings) = (count(0), count(1), count(2), count(3));
        let need = [
            cpp_files.checked_mul(CPP_FILE),
            cpp_files.checked_mul(4),
            cs_files.checked_mul(CS_FILE),
            entries.checked_mul(ENTRY),
            Some(strings),
        ]
        .into_iter()
        .try_fold(HEADER, |acc, n| acc.checked_add(n?));
        if need != Some(b.len()) {
            return Err(bad("section sizes do not add up to the buffer"));
        }
        let idx = Self {
            bytes,
            cpp_files,
            cs_files,
            entries,
            strings,
        };
        for i in 0..cpp_files {
            let (name, first, count) = idx.cpp_raw(i);
            idx.check_string(name)?;
            if first.checked_add(count).is_none_or(|end| end > entries) {
                return Err(bad("a C++ file's entries run past the entry table"));
            }
            if idx.by_name(i) >= cpp_files {
                return Err(bad("the file-name order names a file that is not there"));
            }
        }
        for i in 0..cs_files {
            idx.check_string(idx.cs_raw(i))?;
        }
        for i in 0..entries {
            if idx.entry(i).2 as usize >= cs_files {
                return Err(bad("an entry names a C# file that is not there"));
            }
        }
        Ok(idx)
    }

    fn buf(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    fn cpp_table(&self) -> usize {
        HEADER
    }

    fn name_table(&self) -> usize {
        self.cpp_table() + self.cpp_files * CPP_FILE
    }

    fn cs_table(&self) -> usize {
        self.name_table() + self.cpp_files * 4
    }

    fn entry_table(&self) -> usize {
        self.cs_table() + self.cs_files * CS_FILE
    }

    fn string_table(&self) -> usize {
        self.entry_table() + self.entries * ENTRY
    }

    /// C++ file `i`: (name offset and length, first entry, entry count).
    fn cpp_raw(&self, i: usize) -> ((usize, usize), usize, usize) {
        let at = self.cpp_table() + i * CPP_FILE;
        let f = |k: usize| u32_at(self.buf(), at + 4 * k) as usize;
        ((f(0), f(1)), f(2), f(3))
    }

    fn cs_raw(&self, i: usize) -> (usize, usize) {
        let at = self.cs_table() + i * CS_FILE;
        let f = |k: usize| u32_at(self.buf(), at + 4 * k) as usize;
        (f(0), f(1))
    }

    /// The C++ file at position `i` of the file-name order.
    fn by_name(&self, i: usize) -> usize {
        u32_at(self.buf(), self.name_table() + 4 * i) as usize
    }

    fn entry(&self, i: usize) -> (u32, u32, u32) {
        let at = self.entry_table() + i * ENTRY;
        let b = self.buf();
        (u32_at(b, at), u32_at(b, at + 4), u32_at(b, at + 8))
    }

    fn check_string(&self, (off, len): (usize, usize)) -> Result<(), Error> {
        let ok = off.checked_add(len).is_some_and(|end| end <= self.strings)
            && std::str::from_utf8(&self.buf()[self.string_table() + off..][..len]).is_ok();
        if ok {
            Ok(())
        } else {
            Err(Error::BadIndex(
                "a name lies outside the string table".into(),
            ))
        }
    }

    /// A name of the string table (checked at open).
    fn string(&self, (off, len): (usize, usize)) -> &str {
        let start = self.string_table() + off;
        self.buf()
            .get(start..start + len)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or_default()
    }

    fn cpp_name(&self, i: usize) -> &str {
        self.string(self.cpp_raw(i).0)
    }

    /// Bytes held in memory (for the cache's weigher).
    pub fn weight(&self) -> usize {
        self.buf().len()
    }

    /// The C++ file the mapping knows `path` as: the same path, else the one sharing the
    /// longest run of trailing path components with the same file name.
    fn cpp_file(&self, path: &str) -> Option<usize> {
        let exact = binary_search(self.cpp_files, |i| self.cpp_name(i).cmp(path));
        if let Ok(i) = exact {
            return Some(i);
        }
        let name = name_of(path);
        let start = partition(self.cpp_files, |i| {
            name_of(self.cpp_name(self.by_name(i))) < name
        });
        let end = partition(self.cpp_files, |i| {
            name_of(self.cpp_name(self.by_name(i))) <= name
        });
        let mut best: Option<(usize, usize)> = None;
        for i in start..end {
            let file = self.by_name(i);
            let shared = parts(self.cpp_name(file))
                .rev()
                .zip(parts(path).rev())
                .take_while(|(a, b)| a == b)
                .count();
            // Ties go to the last in path order (of files with one name, the greatest path).
            if best.is_none_or(|(s, _)| shared >= s) {
                best = Some((shared, file));
            }
        }
        best.map(|(_, file)| file)
    }

    /// The C# location of a C++ file and line (1-based), if the mapping covers it.
    pub fn lookup(&self, cpp_file: &str, cpp_line: u32) -> Option<Managed<'_>> {
        let file = self.cpp_file(cpp_file)?;
        let (_, first, count) = self.cpp_raw(file);
        let at = partition(count, |k| self.entry(first + k).0 <= cpp_line);
        let (_, cs_line, cs_file) = self.entry(first + at.checked_sub(1)?);
        Some(Managed {
            file: self.string(self.cs_raw(cs_file as usize)),
            line: cs_line,
        })
    }
}

/// The first index in `0..n` for which `pred` is false (`pred` true then false).
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Binary search over `0..n` by `cmp` (of element `i` against the target).
fn binary_search(n: usize, cmp: impl Fn(usize) -> std::cmp::Ordering) -> Result<usize, usize> {
    let at = partition(n, |i| cmp(i) == std::cmp::Ordering::Less);
    if at < n && cmp(at) == std::cmp::Ordering::Equal {
        Ok(at)
    } else {
        Err(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_mapped_line_at_or_before() {
        let json = br#"{
            "/build/il2cpp/Assembly-CSharp.cpp": {
                "Assets/Scripts/Player.cs": {"100": 12, "110": 14},
                "Assets/Scripts/Enemy.cs": {"200": 30}
            }
        }"#;
        let built = build_index(json).expect("build");
        assert_eq!((built.cpp_files, built.entries), (1, 3));
        let idx = Il2cppIndex::open(&built.bytes).expect("open");
        let at = |f: &str, l: u32| idx.lookup(f, l).map(|m| (m.file.to_owned(), m.line));
        assert_eq!(
            at("/build/il2cpp/Assembly-CSharp.cpp", 105),
            Some(("Assets/Scripts/Player.cs".into(), 12))
        );
        // Another build machine's path: matched by its suffix.
        assert_eq!(
            at("C:\\ci\\il2cpp\\Assembly-CSharp.cpp", 205),
            Some(("Assets/Scripts/Enemy.cs".into(), 30))
        );
        assert_eq!(at("/build/il2cpp/Assembly-CSharp.cpp", 99), None);
        assert_eq!(at("Other.cpp", 105), None);
    }

    #[test]
    fn malformed_mappings_name_the_place() {
        let e = build_index(br#"{"a.cpp": {"b.cs": {"x": 1}}}"#)
            .expect_err("bad key")
            .to_string();
        assert!(
            e.contains("a.cpp") && e.contains("b.cs") && e.contains("`x`"),
            "{e}"
        );
        let e = build_index(br#"{"a.cpp": {"b.cs": {"1": "one"}}}"#)
            .expect_err("bad value")
            .to_string();
        assert!(e.contains("C# line"), "{e}");
        assert!(build_index(b"[]").is_err());
        assert!(build_index(b"{}").is_err());
    }

    #[test]
    fn older_versions_ask_for_a_rebuild_and_damage_is_refused() {
        let built = build_index(br#"{"a/b.cpp": {"c.cs": {"3": 7, "9": 8}}}"#).expect("build");
        let mut old = built.bytes.clone();
        old[..8].copy_from_slice(b"SYMXI2C1");
        assert!(matches!(
            Il2cppIndex::open(&old),
            Err(Error::IndexVersion(v)) if v == "SYMXI2C1"
        ));
        assert!(matches!(
            Il2cppIndex::open(&b"garbage!"[..]),
            Err(Error::BadIndex(_))
        ));
        // Every truncation is refused; every single-byte change either is refused or still
        // answers lookups without panicking.
        for len in 0..built.bytes.len() {
            assert!(Il2cppIndex::open(&built.bytes[..len]).is_err(), "{len}");
        }
        for at in 0..built.bytes.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = built.bytes.clone();
                b[at] = v;
                if let Ok(idx) = Il2cppIndex::open(&b) {
                    for line in [0, 3, 5, 9, 100] {
                        let _ = idx.lookup("a/b.cpp", line);
                        let _ = idx.lookup("x/b.cpp", line);
                    }
                }
            }
        }
    }

    /// Lookups in place answer what the mapping says: the nearest mapped line at or before,
    /// for every line of many files, against a direct reading of the JSON.
    #[test]
    fn lookups_agree_with_the_mapping() {
        let mut json = serde_json::Map::new();
        let mut want: Vec<(String, u32, String, u32)> = Vec::new();
        for f in 0..40u32 {
            let cpp = format!("/src/gen/dir{}/File{}.cpp", f % 7, f);
            let mut by_cs = serde_json::Map::new();
            for c in 0..3u32 {
                let cs = format!("Assets/S{}.cs", (f + c) % 11);
                let mut lines = serde_json::Map::new();
                for k in 0..20u32 {
                    let cpp_line = 1 + k * 10 + c * 3 + (f % 5);
                    let cs_line = 100 * c + k;
                    lines.insert(cpp_line.to_string(), cs_line.into());
                    want.push((cpp.clone(), cpp_line, cs.clone(), cs_line));
                }
                by_cs.insert(cs, lines.into());
            }
            json.insert(cpp, by_cs.into());
        }
        let bytes = serde_json::to_vec(&json).expect("json");
        let idx = Il2cppIndex::open(build_index(&bytes).expect("build").bytes).expect("open");
        for f in 0..40u32 {
            let cpp = format!("/src/gen/dir{}/File{}.cpp", f % 7, f);
            for line in 0..220u32 {
                let expected = want
                    .iter()
                    .filter(|(p, l, _, _)| *p == cpp && *l <= line)
                    .max_by_key(|(_, l, _, _)| *l)
                    .map(|(_, _, cs, cs_line)| (cs.as_str(), *cs_line));
                let got = idx.lookup(&cpp, line).map(|m| (m.file, m.line));
                assert_eq!(got, expected, "{cpp}:{line}");
                // The same file under another build machine's root.
                let moved = cpp.replace("/src/gen", "D:\\ci\\out");
                assert_eq!(
                    idx.lookup(&moved, line).map(|m| (m.file, m.line)),
                    expected,
                    "{moved}:{line}"
                );
            }
        }
    }
}

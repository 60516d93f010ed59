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
//! The index (`SYMXI2C1`) is the mapping normalised: per C++ file, its entries sorted by C++
//! line. No IO here; the service composes this crate with `symx-native`, neither knows the other.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use symx_types::{ErrorCode, HasErrorCode};

const MAGIC_STR: &str = "SYMXI2C1";
const MAGIC: &[u8; 8] = b"SYMXI2C1";

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

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    cs_files: Vec<String>,
    /// C++ file -> (C++ line, C# line, C# file index), sorted by C++ line.
    cpp: BTreeMap<String, Vec<(u32, u32, u32)>>,
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
    let mut out = MAGIC.to_vec();
    serde_json::to_writer(&mut out, &stored)
        .map_err(|e| Error::InvalidMapping(format!("cannot index the mapping: {e}")))?;
    Ok(Built {
        bytes: out,
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

/// A loaded index.
#[derive(Debug)]
pub struct Il2cppIndex {
    stored: Stored,
    by_name: HashMap<String, Vec<String>>,
    bytes: usize,
}

fn name_of(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn parts(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
}

impl Il2cppIndex {
    pub fn open(bytes: &[u8]) -> Result<Self, Error> {
        let body = match bytes.strip_prefix(MAGIC.as_slice()) {
            Some(body) => body,
            None => match bytes.get(..8) {
                Some(head) if head.starts_with(b"SYMXI2C") => {
                    return Err(Error::IndexVersion(
                        String::from_utf8_lossy(head).into_owned(),
                    ));
                }
                _ => return Err(Error::BadIndex("missing SYMXI2C1 header".into())),
            },
        };
        let stored: Stored =
            serde_json::from_slice(body).map_err(|e| Error::BadIndex(e.to_string()))?;
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        for f in stored.cpp.keys() {
            by_name
                .entry(name_of(f).to_owned())
                .or_default()
                .push(f.clone());
        }
        Ok(Self {
            stored,
            by_name,
            bytes: bytes.len() * 3,
        })
    }

    /// Bytes held in memory (for the cache's weigher).
    pub fn weight(&self) -> usize {
        self.bytes
    }

    fn cpp_file(&self, path: &str) -> Option<&str> {
        if let Some((k, _)) = self.stored.cpp.get_key_value(path) {
            return Some(k);
        }
        let candidates = self.by_name.get(name_of(path))?;
        candidates
            .iter()
            .max_by_key(|c| {
                parts(c)
                    .rev()
                    .zip(parts(path).rev())
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .map(String::as_str)
    }

    /// The C# location of a C++ file and line (1-based), if the mapping covers it.
    pub fn lookup(&self, cpp_file: &str, cpp_line: u32) -> Option<Managed<'_>> {
        let file = self.cpp_file(cpp_file)?;
        let lines = self.stored.cpp.get(file)?;
        let at = lines.partition_point(|(l, _, _)| *l <= cpp_line);
        let (_, cs_line, cs_file) = lines.get(at.checked_sub(1)?)?;
        Some(Managed {
            file: self.stored.cs_files.get(*cs_file as usize)?,
            line: *cs_line,
        })
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
}

//! The member table of our own: the frames that name a line inside a member's obfuscated range
//! (what an R8 or ProGuard release trace mostly holds) are answered from it, read in place,
//! with names, lines and files resolved at build; every other frame (no line, outlines,
//! rewrite rules for the exception being thrown, methods without line ranges, names the table
//! does not hold) goes to the proguard crate's cache, as before.
//!
//! ```text
//! header   classes u32 | slots u32 (a power of two) | methods u32 | members u32 | strings u32
//! slots    slots x u32          open addressing on FNV-1a of the obfuscated class name;
//!                               a class index, or NONE
//! classes  classes x (obfuscated str, methods start u32, methods count u32)
//! methods  methods x (obfuscated name str, members start u32, members count u32, flags u32)
//!                               a class's methods sorted by name
//! ```
//!
//! The obfuscated names come first in the string table, next to each other (a few hundred
//! kilobytes for a 20 MB mapping, mostly in cache): a lookup's misses are the slot, the
//! method entry, its members and the answer's own strings. (One hash table keyed by class and
//! method, with one key string per method scattered through the table, measured twice as
//! slow on the bench mapping.)
//!
//! ```text
//! members  members x (start u32, end u32, original start u32, original end u32,
//!                     class str, method str, file str, synthesized u32)
//!                               a method's members in mapping order
//! strings  UTF-8
//! str:     offset u32, length u32 into strings (offset NONE: absent)
//! ```
//!
//! What a member answers follows the proguard crate's cache (which follows R8's retrace
//! specification), decided once at build: the class is the member's own original class when
//! R8 names one (`a.b.C.method` in the mapping), else the obfuscated class's original; the file
//! is the `sourceFile` R8 recorded for that class (`R8$$SyntheticClass`: the outer class's
//! simple name), else made from the class name (`Foo.kt` for a `FooKt` class or segment, else
//! the extension of the obfuscated class's own `sourceFile`, else `.java`); the line is the
//! original start plus the offset into the obfuscated range, or the original start when the
//! original range is one line or absent; `synthesized` comes from R8's metadata for the method
//! or its class. `tests.rs` checks every answer of this table against the crate's cache, line
//! by line, on the fixtures and on generated mappings.

use crate::Error;
use std::collections::{BTreeMap, HashMap};

const NONE: u32 = u32::MAX;
const HEADER_LEN: usize = 20;
const STR_LEN: usize = 8;
const CLASS_LEN: usize = STR_LEN + 8;
const METHOD_LEN: usize = STR_LEN + 12;
const MEMBER_LEN: usize = 16 + 3 * STR_LEN + 4;

/// Method flags: its first member is an R8 outline; some member has a `rewriteFrame` rule;
/// some member has an obfuscated line range.
pub(crate) const OUTLINE: u32 = 1;
pub(crate) const REWRITE: u32 = 2;
pub(crate) const LINE_INFO: u32 = 4;

type Str = (u32, u32);
const NO_STR: Str = (NONE, 0);

/// FNV-1a: stable across versions, so a written table reads the same everywhere.
fn hash(s: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in s {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A member line as read.
#[derive(Clone, Debug)]
struct RawMember<'t> {
    start: u32,
    end: u32,
    original_start: u32,
    original_end: u32,
    /// The original class the member line was under.
    section_class: &'t str,
    /// `a.b.C` of `a.b.C.method` (R8's inlined-from class).
    other_class: Option<&'t str>,
    name: &'t str,
    arguments: &'t str,
    rewrite: bool,
}

#[derive(Clone, Debug, Default)]
struct ClassInfo {
    source_file: Option<String>,
    synthesized: bool,
}

/// The R8 metadata this table reads, from a line the proguard crate parsed as R8 metadata
/// (`# {"id":...}`; the crate does not name its own type for it).
enum Header {
    SourceFile(String),
    Synthesized,
    Outline,
    RewriteFrame,
    Other,
}

fn header_of(line: &str) -> Header {
    let json = line.trim_start().trim_start_matches('#');
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Header::Other;
    };
    match v.get("id").and_then(|i| i.as_str()) {
        Some("sourceFile") => match v.get("fileName").and_then(|f| f.as_str()) {
            Some(f) => Header::SourceFile(f.to_owned()),
            None => Header::Other,
        },
        Some("com.android.tools.r8.synthesized") => Header::Synthesized,
        Some("com.android.tools.r8.outline") => Header::Outline,
        Some("com.android.tools.r8.rewriteFrame") => Header::RewriteFrame,
        _ => Header::Other,
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct MethodInfo {
    synthesized: bool,
    outline: bool,
}

/// What R8 metadata lines attach to: the class or the member line right before them.
#[derive(Clone, Copy, Debug)]
enum Attach {
    Nothing,
    Class,
    Member(usize),
}

/// Collects a mapping's records, in order, as the validation pass reads them.
pub(crate) struct Builder<'t> {
    /// Obfuscated class -> original (the last section of a name wins).
    class_names: BTreeMap<&'t str, &'t str>,
    /// Original class -> its metadata (the last section wins).
    class_infos: HashMap<&'t str, ClassInfo>,
    /// (receiver class, original name, arguments) -> metadata, over the whole mapping.
    method_infos: HashMap<(&'t str, &'t str, &'t str), MethodInfo>,
    /// (obfuscated class, obfuscated method) -> member lines in mapping order.
    members: BTreeMap<(&'t str, &'t str), Vec<RawMember<'t>>>,
    current: Option<(&'t str, &'t str)>,
    current_info: ClassInfo,
    attach: Attach,
    /// The method of the last member line (with `Attach::Member`'s index into its list).
    last_key: Option<(&'t str, &'t str)>,
}

impl<'t> Builder<'t> {
    pub(crate) fn new() -> Self {
        Self {
            class_names: BTreeMap::new(),
            class_infos: HashMap::new(),
            method_infos: HashMap::new(),
            members: BTreeMap::new(),
            current: None,
            current_info: ClassInfo::default(),
            attach: Attach::Nothing,
            last_key: None,
        }
    }

    fn flush_class(&mut self) {
        if let Some((obfuscated, original)) = self.current.take() {
            self.class_names.insert(obfuscated, original);
            self.class_infos
                .insert(original, std::mem::take(&mut self.current_info));
        }
    }

    /// Takes the next record of the mapping (every line that parses, in order) and its line.
    pub(crate) fn record(&mut self, record: &proguard::ProguardRecord<'t>, line: &str) {
        use proguard::ProguardRecord as R;
        match record {
            R::Class {
                original,
                obfuscated,
            } => {
                self.flush_class();
                self.current = Some((obfuscated, original));
                self.attach = Attach::Class;
            }
            R::Method {
                original,
                obfuscated,
                original_class,
                line_mapping,
                arguments,
                ..
            } => {
                let Some((class_obfuscated, class_original)) = self.current else {
                    self.attach = Attach::Nothing;
                    return;
                };
                let (mut start, mut end) = line_mapping
                    .as_ref()
                    .map_or((None, None), |l| (l.startline, l.endline));
                let (mut original_start, mut original_end) = match line_mapping {
                    None => (None, None),
                    Some(l) => match l.original_startline {
                        Some(os) => (Some(os), l.original_endline),
                        None => (start, end),
                    },
                };
                if let (Some(s), Some(e)) = (start, end)
                    && s > e
                {
                    (start, end) = (Some(e), Some(s));
                }
                if let (Some(s), Some(e)) = (original_start, original_end)
                    && s > e
                {
                    (original_start, original_end) = (Some(e), Some(s));
                }
                // Lines as the crate's cache stores them (u32, NONE when absent).
                let as_u32 = |v: Option<usize>| v.map_or(NONE, |v| v as u32);
                let key = (class_obfuscated, *obfuscated);
                let list = self.members.entry(key).or_default();
                list.push(RawMember {
                    start: as_u32(start),
                    end: as_u32(end),
                    original_start: as_u32(original_start),
                    original_end: as_u32(original_end),
                    section_class: class_original,
                    other_class: *original_class,
                    name: original,
                    arguments,
                    rewrite: false,
                });
                self.last_key = Some(key);
                self.attach = Attach::Member(list.len() - 1);
            }
            R::R8Header(_) => match (self.attach, header_of(line)) {
                (Attach::Class, Header::SourceFile(file_name)) => {
                    self.current_info.source_file = Some(file_name);
                }
                (Attach::Class, Header::Synthesized) => self.current_info.synthesized = true,
                (Attach::Member(i), header) => {
                    let Some(key) = self.last_key else { return };
                    let Some(member) = self.members.get_mut(&key).and_then(|l| l.get_mut(i)) else {
                        return;
                    };
                    let info_key = (
                        member.other_class.unwrap_or(member.section_class),
                        member.name,
                        member.arguments,
                    );
                    match header {
                        Header::Synthesized => {
                            self.method_infos.entry(info_key).or_default().synthesized = true
                        }
                        Header::Outline => {
                            self.method_infos.entry(info_key).or_default().outline = true
                        }
                        Header::RewriteFrame => member.rewrite = true,
                        Header::SourceFile(_) | Header::Other => {}
                    }
                }
                _ => {}
            },
            _ => self.attach = Attach::Nothing,
        }
    }

    /// Writes the table.
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.flush_class();
        let too_big = || Error::InvalidMapping("the mapping's names exceed 4 GiB".into());
        let mut strings: Vec<u8> = Vec::new();
        let mut at: HashMap<String, Str> = HashMap::new();
        let mut add = |s: &str| -> Result<Str, Error> {
            if let Some(&r) = at.get(s) {
                return Ok(r);
            }
            let off = u32::try_from(strings.len()).map_err(|_| too_big())?;
            let len = u32::try_from(s.len()).map_err(|_| too_big())?;
            if off.checked_add(len).is_none_or(|e| e == NONE) {
                return Err(too_big());
            }
            strings.extend_from_slice(s.as_bytes());
            at.insert(s.to_owned(), (off, len));
            Ok((off, len))
        };
        // The obfuscated names first, together.
        for (class, method) in self.members.keys() {
            add(class)?;
            add(method)?;
        }
        let mut classes: Vec<(Str, u32, u32, &str)> = Vec::with_capacity(self.class_names.len());
        let mut methods: Vec<(Str, u32, u32, u32)> = Vec::new();
        let mut members: Vec<u8> = Vec::new();
        let mut member_count = 0u32;
        let mut by_class = self.members.iter().peekable();
        for (&obfuscated, &original) in &self.class_names {
            // Members of other classes sort before this one: skip them (none exist: members
            // only come under a class line).
            while by_class.peek().is_some_and(|((c, _), _)| *c < obfuscated) {
                by_class.next();
            }
            let outer_file = self
                .class_infos
                .get(original)
                .and_then(|i| i.source_file.as_deref());
            let methods_start = methods.len() as u32;
            while let Some(((_, method), list)) = by_class.next_if(|((c, _), _)| *c == obfuscated) {
                let members_start = member_count;
                let mut flags = 0;
                for (i, m) in list.iter().enumerate() {
                    let receiver = m.other_class.unwrap_or(m.section_class);
                    let info = self.method_infos.get(&(receiver, m.name, m.arguments));
                    let class_info = self.class_infos.get(receiver);
                    let source_file = class_info.and_then(|c| c.source_file.as_deref());
                    if i == 0 && info.is_some_and(|i| i.outline) {
                        flags |= OUTLINE;
                    }
                    if m.rewrite {
                        flags |= REWRITE;
                    }
                    if m.end != NONE && m.end > 0 {
                        flags |= LINE_INFO;
                    }
                    let class = m.other_class.unwrap_or(original);
                    let file = match source_file {
                        Some("R8$$SyntheticClass") => outer_class_name(class).map(str::to_owned),
                        Some(f) => Some(f.to_owned()),
                        None => Some(synthesized_file(class, outer_file)),
                    };
                    let synthesized = info.is_some_and(|i| i.synthesized)
                        || class_info.is_some_and(|c| c.synthesized);
                    for v in [m.start, m.end, m.original_start, m.original_end] {
                        members.extend_from_slice(&v.to_le_bytes());
                    }
                    for s in [
                        add(class)?,
                        add(m.name)?,
                        match &file {
                            Some(f) => add(f)?,
                            None => NO_STR,
                        },
                    ] {
                        members.extend_from_slice(&s.0.to_le_bytes());
                        members.extend_from_slice(&s.1.to_le_bytes());
                    }
                    members.extend_from_slice(&u32::from(synthesized).to_le_bytes());
                    member_count = member_count
                        .checked_add(1)
                        .ok_or_else(|| Error::InvalidMapping("too many members".into()))?;
                }
                methods.push((add(method)?, members_start, list.len() as u32, flags));
            }
            classes.push((
                add(obfuscated)?,
                methods_start,
                methods.len() as u32 - methods_start,
                obfuscated,
            ));
        }
        let slots = (classes.len() * 2).max(1).next_power_of_two();
        let mut table = vec![NONE; slots];
        for (i, c) in classes.iter().enumerate() {
            let mut s = hash(c.3.as_bytes()) as usize & (slots - 1);
            while table[s] != NONE {
                s = (s + 1) & (slots - 1);
            }
            table[s] = i as u32;
        }
        let count = |n: usize| u32::try_from(n).map_err(|_| too_big());
        for n in [
            classes.len(),
            slots,
            methods.len(),
            member_count as usize,
            strings.len(),
        ] {
            out.extend_from_slice(&count(n)?.to_le_bytes());
        }
        for s in table {
            out.extend_from_slice(&s.to_le_bytes());
        }
        for (name, start, len, _) in &classes {
            for v in [name.0, name.1, *start, *len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for (name, start, len, flags) in &methods {
            for v in [name.0, name.1, *start, *len, *flags] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&members);
        out.extend_from_slice(&strings);
        Ok(())
    }
}

/// The simple name of the outermost class: `a.b.Outer$Inner` -> `Outer`.
fn outer_class_name(class: &str) -> Option<&str> {
    class.rsplit('.').next()?.split('$').next()
}

/// A source file name made from a class name: `Foo.kt` when the simple name or one of its `$`
/// segments ends in `Kt`, else the simple name with the extension of `reference` (the
/// obfuscated class's own `sourceFile`), else with `.java`.
fn synthesized_file(class: &str, reference: Option<&str>) -> String {
    let simple = class.rsplit('.').next().unwrap_or(class);
    let base = simple.split('$').next().unwrap_or(simple);
    if let Some(kotlin) = simple
        .split('$')
        .find_map(|s| s.strip_suffix("Kt").filter(|b| !b.is_empty()))
    {
        return format!("{kotlin}.kt");
    }
    match reference.and_then(|f| f.rfind('.').map(|i| &f[i..])) {
        Some(ext) => format!("{base}{ext}"),
        None => format!("{base}.java"),
    }
}

/// The table, checked at open and read in place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table {
    at: usize,
    classes: usize,
    slots: usize,
    methods: usize,
    members: usize,
    strings_len: usize,
}

/// One member as a lookup reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member<'a> {
    pub original_start: u32,
    pub original_end: u32,
    pub class: &'a str,
    pub method: &'a str,
    pub file: Option<&'a str>,
    pub synthesized: bool,
}

/// A little-endian u32 of the index; NONE past its end.
fn u32_at(b: &[u8], at: usize) -> u32 {
    crate::word(b, at).unwrap_or(NONE)
}

impl Table {
    fn slots_at(&self) -> usize {
        self.at + HEADER_LEN
    }
    fn classes_at(&self) -> usize {
        self.slots_at() + 4 * self.slots
    }
    fn methods_at(&self) -> usize {
        self.classes_at() + CLASS_LEN * self.classes
    }
    fn members_at(&self) -> usize {
        self.methods_at() + METHOD_LEN * self.methods
    }
    fn strings_at(&self) -> usize {
        self.members_at() + MEMBER_LEN * self.members
    }

    /// Checks the table that starts at `at` and ends the buffer.
    pub(crate) fn open(b: &[u8], at: usize) -> Result<Self, Error> {
        let bad = |m: &str| Error::BadIndex(m.to_owned());
        let n = |i: usize| u32_at(b, at + 4 * i) as usize;
        if at + HEADER_LEN > b.len() {
            return Err(bad("truncated member table"));
        }
        let t = Self {
            at,
            classes: n(0),
            slots: n(1),
            methods: n(2),
            members: n(3),
            strings_len: n(4),
        };
        if !t.slots.is_power_of_two() || t.classes > t.slots {
            return Err(bad("member table slots"));
        }
        let end = [
            (t.slots, 4),
            (t.classes, CLASS_LEN),
            (t.methods, METHOD_LEN),
            (t.members, MEMBER_LEN),
            (t.strings_len, 1),
        ]
        .iter()
        .try_fold(at + HEADER_LEN, |acc, &(count, size)| {
            count.checked_mul(size).and_then(|l| acc.checked_add(l))
        });
        if end != Some(b.len()) {
            return Err(bad("member table sizes do not match the index"));
        }
        std::str::from_utf8(&b[t.strings_at()..]).map_err(|_| bad("member table strings"))?;
        Ok(t)
    }

    /// The bytes of the string referenced at `at` (names are compared as bytes: UTF-8 order
    /// is byte order).
    fn bytes_at<'a>(&self, b: &'a [u8], at: usize) -> Option<&'a [u8]> {
        let (off, len) = (u32_at(b, at), u32_at(b, at + 4));
        if off == NONE {
            return None;
        }
        let start = self.strings_at().checked_add(off as usize)?;
        b.get(start..start.checked_add(len as usize)?)
    }

    fn str_at<'a>(&self, b: &'a [u8], at: usize) -> Option<&'a str> {
        std::str::from_utf8(self.bytes_at(b, at)?).ok()
    }

    /// The methods of an obfuscated class: (start, count) in the methods table.
    fn class(&self, b: &[u8], name: &str) -> Option<(usize, usize)> {
        let mask = self.slots - 1;
        let mut s = hash(name.as_bytes()) as usize & mask;
        for _ in 0..self.slots {
            let i = u32_at(b, self.slots_at() + 4 * s);
            if i == NONE || i as usize >= self.classes {
                return None;
            }
            let c = self.classes_at() + CLASS_LEN * i as usize;
            if self.bytes_at(b, c) == Some(name.as_bytes()) {
                return Some((u32_at(b, c + 8) as usize, u32_at(b, c + 12) as usize));
            }
            s = (s + 1) & mask;
        }
        None
    }

    /// The members of `class.method`: (members start, count, flags).
    pub(crate) fn method(
        &self,
        b: &[u8],
        class: &str,
        method: &str,
    ) -> Option<(usize, usize, u32)> {
        let (start, count) = self.class(b, class)?;
        let (mut lo, mut hi) = (start, start.checked_add(count)?.min(self.methods));
        while lo < hi {
            let mid = (lo + hi) / 2;
            let m = self.methods_at() + METHOD_LEN * mid;
            match self.bytes_at(b, m)?.cmp(method.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    return Some((
                        u32_at(b, m + 8) as usize,
                        u32_at(b, m + 12) as usize,
                        u32_at(b, m + 16),
                    ));
                }
            }
        }
        None
    }

    /// The obfuscated range of member `i`: (start, end), NONE when absent.
    pub(crate) fn range(&self, b: &[u8], i: usize) -> Option<(u32, u32)> {
        if i >= self.members {
            return None;
        }
        let m = self.members_at() + MEMBER_LEN * i;
        Some((u32_at(b, m), u32_at(b, m + 4)))
    }

    pub(crate) fn member<'a>(&self, b: &'a [u8], i: usize) -> Option<Member<'a>> {
        if i >= self.members {
            return None;
        }
        let m = self.members_at() + MEMBER_LEN * i;
        Some(Member {
            original_start: u32_at(b, m + 8),
            original_end: u32_at(b, m + 12),
            class: self.str_at(b, m + 16)?,
            method: self.str_at(b, m + 24)?,
            file: self.str_at(b, m + 32),
            synthesized: u32_at(b, m + 40) != 0,
        })
    }
}

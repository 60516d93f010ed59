//! The member table: every obfuscated class, its methods and their members, with names,
//! lines and files resolved at build and R8 metadata attached, read in place.
//!
//! ```text
//! header   classes u32 | slots u32 (a power of two) | methods u32 | members u32 |
//!          extras u32 | pairs u32 | rules u32 | strings u32
//! slots    slots x u32          open addressing on FNV-1a of the obfuscated class name;
//!                               a class index, or NONE
//! classes  classes x (obfuscated str, methods start u32, methods count u32, original str,
//!                     source file str)
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
//!                     class str, method str, file str, synthesized u32, extra u32)
//!                               a method's members in mapping order; extra: NONE or an
//!                               index into extras
//! extras   extras x (pairs start u32, pairs count u32, rules start u32, rules count u32)
//! pairs    pairs x (outline line u32, callsite line u32)     R8 `outlineCallsite` positions
//! rules    rules x (thrown descriptor str, frames removed u32)      R8 `rewriteFrame` rules
//! strings  UTF-8
//! str:     offset u32, length u32 into strings (offset NONE: absent)
//! ```
//!
//! What a member answers is decided once at build, as R8's retrace specification (and the
//! proguard crate) has it: the class is the member's own original class when R8 names one
//! (`a.b.C.method` in the mapping), else the obfuscated class's original; the file is the
//! `sourceFile` R8 recorded for that class (`R8$$SyntheticClass`: the outer class's simple
//! name), else made from the class name (`Foo.kt` for a `FooKt` class or segment, else the
//! extension of the obfuscated class's own `sourceFile`, else `.java`); the line is the
//! original start plus the offset into the obfuscated range, or the original start when the
//! original range is one line or absent; `synthesized` comes from R8's metadata for the method
//! or its class. A rewrite rule is kept reduced to what retracing uses: the exception it
//! names and the frames its actions remove (rules that can never match are dropped).

use crate::Error;
use std::collections::{BTreeMap, HashMap};

const NONE: u32 = u32::MAX;
const HEADER_LEN: usize = 32;
const STR_LEN: usize = 8;
const CLASS_LEN: usize = 3 * STR_LEN + 8;
const METHOD_LEN: usize = STR_LEN + 12;
const MEMBER_LEN: usize = 16 + 3 * STR_LEN + 8;
const EXTRA_LEN: usize = 16;
const PAIR_LEN: usize = 8;
const RULE_LEN: usize = STR_LEN + 4;

/// Method flags: its first member is an R8 outline; some member has an obfuscated line range.
pub(crate) const OUTLINE: u32 = 1;
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
    /// R8 `outlineCallsite` positions: (outline line, callsite line).
    positions: Vec<(u32, u32)>,
    /// R8 `rewriteFrame` rules that can apply: (thrown descriptor, inner frames removed).
    rules: Vec<(String, u32)>,
}

impl<'t> RawMember<'t> {
    /// The method's key for R8 metadata: the receiver (the class named in the member line,
    /// else the section's class: one class either way), name and arguments.
    fn method_key(&self) -> MethodKey<'t> {
        (
            self.other_class.unwrap_or(self.section_class),
            self.name,
            self.arguments,
        )
    }
}

/// (receiver, original name, arguments).
type MethodKey<'t> = (&'t str, &'t str, &'t str);

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
    OutlineCallsite(Vec<(u32, u32)>),
    /// A rule that can match a thrown exception, or `None` for one that never does.
    RewriteFrame(Option<(String, u32)>),
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
        Some("com.android.tools.r8.outlineCallsite") => {
            let positions = v
                .get("positions")
                .and_then(|p| p.as_object())
                .map(|p| {
                    p.iter()
                        .filter_map(|(k, v)| {
                            let outline = u32::try_from(k.parse::<u64>().ok()?).ok()?;
                            let callsite = u32::try_from(v.as_u64()?).ok()?;
                            Some((outline, callsite))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Header::OutlineCallsite(positions)
        }
        Some("com.android.tools.r8.rewriteFrame") => {
            let list = |key: &str| -> Vec<&str> {
                v.get(key)
                    .and_then(|a| a.as_array())
                    .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                    .unwrap_or_default()
            };
            Header::RewriteFrame(rewrite_rule(&list("conditions"), &list("actions")))
        }
        _ => Header::Other,
    }
}

/// An R8 `rewriteFrame` rule reduced to what retracing uses: the rule applies when every
/// condition holds, and the only condition R8 defines is `throws(<descriptor>)`, the only
/// action `removeInnerFrames(<n>)`. A rule with a malformed condition or action is void (as
/// R8's retrace drops it); one with an unknown condition, two different exceptions, or no
/// frames to remove never changes a trace (`None`). Returns the descriptor and the frames
/// removed.
fn rewrite_rule(conditions: &[&str], actions: &[&str]) -> Option<(String, u32)> {
    if conditions.is_empty() || actions.is_empty() {
        return None;
    }
    let mut thrown: Option<&str> = None;
    let mut holds = true;
    for c in conditions {
        let c = c.trim();
        if c.is_empty() {
            return None;
        }
        match c.strip_prefix("throws(") {
            Some(rest) => {
                let d = rest.strip_suffix(')')?;
                if d.is_empty() {
                    return None;
                }
                if thrown.is_some_and(|t| t != d) {
                    holds = false;
                }
                thrown = Some(d);
            }
            None => holds = false,
        }
    }
    let mut removed = 0u32;
    for a in actions {
        let a = a.trim();
        if a.is_empty() {
            return None;
        }
        if let Some(rest) = a.strip_prefix("removeInnerFrames(") {
            let n: u64 = rest.strip_suffix(')')?.parse().ok()?;
            removed = removed.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }
    let thrown = thrown.filter(|_| holds && removed > 0)?;
    Some((thrown.to_owned(), removed))
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
    /// Method -> metadata, over the whole mapping.
    method_infos: HashMap<MethodKey<'t>, MethodInfo>,
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
                    positions: Vec::new(),
                    rules: Vec::new(),
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
                    let info_key = member.method_key();
                    match header {
                        Header::Synthesized => {
                            self.method_infos.entry(info_key).or_default().synthesized = true
                        }
                        Header::Outline => {
                            self.method_infos.entry(info_key).or_default().outline = true
                        }
                        Header::RewriteFrame(Some(rule)) => member.rules.push(rule),
                        // A later `outlineCallsite` of the same member replaces the earlier.
                        Header::OutlineCallsite(positions) if !positions.is_empty() => {
                            member.positions = positions
                        }
                        _ => {}
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
        let count = |n: usize| u32::try_from(n).map_err(|_| too_big());
        let mut classes: Vec<u8> = Vec::with_capacity(CLASS_LEN * self.class_names.len());
        let mut class_keys: Vec<&str> = Vec::with_capacity(self.class_names.len());
        let mut methods: Vec<u8> = Vec::new();
        let mut method_count = 0usize;
        let mut members: Vec<u8> = Vec::new();
        let mut member_count = 0usize;
        let mut extras: Vec<u8> = Vec::new();
        let mut pairs: Vec<u8> = Vec::new();
        let mut rules: Vec<u8> = Vec::new();
        let (mut extra_count, mut pair_count, mut rule_count) = (0usize, 0usize, 0usize);
        let put = |out: &mut Vec<u8>, words: &[u32]| {
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        };
        let mut by_class = self.members.iter().peekable();
        for (&obfuscated, &original) in &self.class_names {
            // Members only come under a class line, so none sort before their class.
            while by_class.peek().is_some_and(|((c, _), _)| *c < obfuscated) {
                by_class.next();
            }
            let outer_file = self
                .class_infos
                .get(original)
                .and_then(|i| i.source_file.as_deref());
            let methods_start = count(method_count)?;
            while let Some(((_, method), list)) = by_class.next_if(|((c, _), _)| *c == obfuscated) {
                let members_start = count(member_count)?;
                let mut flags = 0;
                for (i, m) in list.iter().enumerate() {
                    let receiver = m.other_class.unwrap_or(m.section_class);
                    let info = self.method_infos.get(&m.method_key());
                    let class_info = self.class_infos.get(receiver);
                    let source_file = class_info.and_then(|c| c.source_file.as_deref());
                    if i == 0 && info.is_some_and(|i| i.outline) {
                        flags |= OUTLINE;
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
                    let extra = if m.positions.is_empty() && m.rules.is_empty() {
                        NONE
                    } else {
                        let e = count(extra_count)?;
                        put(
                            &mut extras,
                            &[
                                count(pair_count)?,
                                count(m.positions.len())?,
                                count(rule_count)?,
                                count(m.rules.len())?,
                            ],
                        );
                        for &(outline, callsite) in &m.positions {
                            put(&mut pairs, &[outline, callsite]);
                        }
                        for (thrown, removed) in &m.rules {
                            let d = add(thrown)?;
                            put(&mut rules, &[d.0, d.1, *removed]);
                        }
                        extra_count += 1;
                        pair_count += m.positions.len();
                        rule_count += m.rules.len();
                        e
                    };
                    put(
                        &mut members,
                        &[m.start, m.end, m.original_start, m.original_end],
                    );
                    for s in [
                        add(class)?,
                        add(m.name)?,
                        match &file {
                            Some(f) => add(f)?,
                            None => NO_STR,
                        },
                    ] {
                        put(&mut members, &[s.0, s.1]);
                    }
                    put(&mut members, &[u32::from(synthesized), extra]);
                    member_count += 1;
                }
                let name = add(method)?;
                put(
                    &mut methods,
                    &[name.0, name.1, members_start, count(list.len())?, flags],
                );
                method_count += 1;
            }
            let name = add(obfuscated)?;
            let original_name = add(original)?;
            let file = match outer_file {
                Some(f) => add(f)?,
                None => NO_STR,
            };
            put(
                &mut classes,
                &[
                    name.0,
                    name.1,
                    methods_start,
                    count(method_count)? - methods_start,
                    original_name.0,
                    original_name.1,
                    file.0,
                    file.1,
                ],
            );
            class_keys.push(obfuscated);
        }
        let slots = (class_keys.len() * 2).max(1).next_power_of_two();
        let mut table = vec![NONE; slots];
        for (i, c) in class_keys.iter().enumerate() {
            let mut s = hash(c.as_bytes()) as usize & (slots - 1);
            while table[s] != NONE {
                s = (s + 1) & (slots - 1);
            }
            table[s] = count(i)?;
        }
        for n in [
            class_keys.len(),
            slots,
            method_count,
            member_count,
            extra_count,
            pair_count,
            rule_count,
            strings.len(),
        ] {
            out.extend_from_slice(&count(n)?.to_le_bytes());
        }
        put(out, &table);
        for section in [classes, methods, members, extras, pairs, rules, strings] {
            out.extend_from_slice(&section);
        }
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
pub(crate) fn synthesized_file(class: &str, reference: Option<&str>) -> String {
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
    extras: usize,
    pairs: usize,
    rules: usize,
    strings_len: usize,
}

/// An obfuscated class as a lookup reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Class<'a> {
    methods_start: usize,
    methods_count: usize,
    pub original: &'a str,
    /// The `sourceFile` R8 recorded for the class.
    pub source_file: Option<&'a str>,
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
    fn extras_at(&self) -> usize {
        self.members_at() + MEMBER_LEN * self.members
    }
    fn pairs_at(&self) -> usize {
        self.extras_at() + EXTRA_LEN * self.extras
    }
    fn rules_at(&self) -> usize {
        self.pairs_at() + PAIR_LEN * self.pairs
    }
    fn strings_at(&self) -> usize {
        self.rules_at() + RULE_LEN * self.rules
    }

    /// Checks the table that starts at `at` and ends the buffer.
    pub(crate) fn open(b: &[u8], at: usize) -> Result<Self, Error> {
        let bad = |m: &str| Error::BadIndex(m.to_owned());
        let n = |i: usize| u32_at(b, at + 4 * i) as usize;
        if at.checked_add(HEADER_LEN).is_none_or(|e| e > b.len()) {
            return Err(bad("truncated member table"));
        }
        let t = Self {
            at,
            classes: n(0),
            slots: n(1),
            methods: n(2),
            members: n(3),
            extras: n(4),
            pairs: n(5),
            rules: n(6),
            strings_len: n(7),
        };
        if !t.slots.is_power_of_two() || t.classes > t.slots {
            return Err(bad("member table slots"));
        }
        let end = [
            (t.slots, 4),
            (t.classes, CLASS_LEN),
            (t.methods, METHOD_LEN),
            (t.members, MEMBER_LEN),
            (t.extras, EXTRA_LEN),
            (t.pairs, PAIR_LEN),
            (t.rules, RULE_LEN),
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

    /// An obfuscated class.
    pub(crate) fn class<'a>(&self, b: &'a [u8], name: &str) -> Option<Class<'a>> {
        let mask = self.slots - 1;
        let mut s = hash(name.as_bytes()) as usize & mask;
        for _ in 0..self.slots {
            let i = u32_at(b, self.slots_at() + 4 * s);
            if i == NONE || i as usize >= self.classes {
                return None;
            }
            let c = self.classes_at() + CLASS_LEN * i as usize;
            if self.bytes_at(b, c) == Some(name.as_bytes()) {
                return Some(Class {
                    methods_start: u32_at(b, c + 8) as usize,
                    methods_count: u32_at(b, c + 12) as usize,
                    original: self.str_at(b, c + 16)?,
                    source_file: self.str_at(b, c + 24),
                });
            }
            s = (s + 1) & mask;
        }
        None
    }

    /// The members of a method of `class`: (members start, count, flags).
    pub(crate) fn method(
        &self,
        b: &[u8],
        class: &Class<'_>,
        method: &str,
    ) -> Option<(usize, usize, u32)> {
        let start = class.methods_start;
        let (mut lo, mut hi) = (
            start,
            start.checked_add(class.methods_count)?.min(self.methods),
        );
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
            synthesized: u32_at(b, m + 40) & 1 != 0,
        })
    }

    /// Member `i`'s extra entry: (pairs start, pairs count, rules start, rules count).
    fn extra(&self, b: &[u8], i: usize) -> Option<[usize; 4]> {
        if i >= self.members {
            return None;
        }
        let e = u32_at(b, self.members_at() + MEMBER_LEN * i + 44) as usize;
        if e >= self.extras {
            return None;
        }
        let at = self.extras_at() + EXTRA_LEN * e;
        Some([0, 4, 8, 12].map(|o| u32_at(b, at + o) as usize))
    }

    /// The callsite line R8 recorded on member `i` for line `outline` of the outline it calls.
    pub(crate) fn outline_callsite(&self, b: &[u8], i: usize, outline: u32) -> Option<u32> {
        let [start, count, ..] = self.extra(b, i)?;
        (start..start.saturating_add(count).min(self.pairs))
            .map(|p| self.pairs_at() + PAIR_LEN * p)
            .find(|&at| u32_at(b, at) == outline)
            .map(|at| u32_at(b, at + 4))
    }

    /// The inner frames member `i`'s rewrite rules remove when `thrown` (a descriptor,
    /// `Lcom/a/B;`) is being thrown.
    pub(crate) fn removed_frames(&self, b: &[u8], i: usize, thrown: &str) -> u32 {
        let Some([_, _, start, count]) = self.extra(b, i) else {
            return 0;
        };
        (start..start.saturating_add(count).min(self.rules))
            .map(|r| self.rules_at() + RULE_LEN * r)
            .filter(|&at| self.bytes_at(b, at) == Some(thrown.as_bytes()))
            .fold(0u32, |n, at| n.saturating_add(u32_at(b, at + 8)))
    }
}

//! Functions and symbols in, a `SYMXNAT5` index out (see [`crate::index`]).
//!
//! The address map follows the rules symbolic's SymCache converter established, which the
//! reference tests pin down: a function's own line records map their addresses to a location
//! (function, file, line, and the call site it was inlined into), except where an inlinee's
//! records cover them; a record that covers an inlinee becomes that inlinee's call site; a
//! function (not inlined) without any record still maps its entry address; a symbol maps its
//! address only where no function did, and both end with "no function" unless something
//! starts there. Those rules are applied to a list of operations sorted once at the end, not
//! to a tree map per record.
//!
//! Names are decided here once per distinct name (see [`Naming`]) and paths joined once per
//! distinct file (see [`Paths`]). At the end, only the locations, functions, files and
//! strings the address map reaches are written.

use crate::index::{self, FunctionEntry, NO_STR, NONE, Str};
use crate::{Error, NameSource, answer_name, split_signature};
use rustc_hash::FxHashMap as HashMap;
use symbolic::common::Name;
use symbolic::debuginfo::{FileInfo, Function, Symbol};
use symbolic::demangle::{Demangle, DemangleOptions};

/// What an operation does to the location mapped at its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Maps the address to the location, whatever was there.
    Set,
    /// Maps it where nothing or "no function" was mapped.
    Fill,
    /// Maps "no function" where nothing was mapped.
    End,
}

/// A location while converting: the function, the file (a path id; NONE: unknown), the line
/// (0: unknown) and the location it was inlined into (NONE: outermost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Location {
    function: u32,
    file: u32,
    line: u32,
    parent: u32,
}

#[derive(Clone, Copy, Debug)]
struct RangeOp {
    addr: u32,
    location: u32,
    op: Op,
}

/// `[start, end)` of a line record, clamped to `u32` (as the SymCache converter does).
fn line_boundaries(address: u64, size: Option<u64>) -> (u32, u32) {
    let start = address.try_into().unwrap_or(u32::MAX);
    let end = start.saturating_add(size.unwrap_or(1).try_into().unwrap_or(u32::MAX));
    (start, end)
}

/// Function names: each distinct name is turned once into the name stored for it (demangled,
/// clone suffixes off, PDB argument lists encoded; see the crate docs), per source.
pub(crate) struct Naming {
    /// PE or PDB: C symbols carry calling-convention decorations.
    windows: bool,
    /// Raw name -> stored name id, one map per [`NameSource`].
    seen: [HashMap<String, u32>; 4],
    /// Stored names.
    stored: Vec<String>,
    stored_ids: HashMap<String, u32>,
    /// Demangled name -> the (least) mangled name it came from.
    mangled: HashMap<String, String>,
}

fn source_slot(source: NameSource) -> usize {
    match source {
        NameSource::DebugInfo => 0,
        NameSource::SymbolTable => 1,
        NameSource::PdbProcedure { cxx: false } => 2,
        NameSource::PdbProcedure { cxx: true } => 3,
    }
}

impl Naming {
    pub(crate) fn new(windows: bool) -> Self {
        Self {
            windows,
            seen: Default::default(),
            stored: Vec::new(),
            stored_ids: HashMap::default(),
            mangled: HashMap::default(),
        }
    }

    fn intern(&mut self, s: String) -> u32 {
        if let Some(&id) = self.stored_ids.get(&s) {
            return id;
        }
        let id = self.stored.len() as u32;
        self.stored_ids.insert(s.clone(), id);
        self.stored.push(s);
        id
    }

    /// The stored-name ids of a function and its inlinees, in pre-order (the function, then
    /// each inlinee's subtree in turn): what [`Converter::add_function`] takes. Names are
    /// decided on the thread that reads the debug information, so demangling runs beside the
    /// conversion.
    pub(crate) fn names_of(
        &mut self,
        function: &Function<'_>,
        source: NameSource,
        out: &mut Vec<u32>,
    ) {
        out.push(self.id(function.name.as_str(), source));
        for inlinee in &function.inlinees {
            self.names_of(inlinee, source, out);
        }
    }

    /// The id of the name stored for a function named `name` read from `source`.
    fn id(&mut self, name: &str, source: NameSource) -> u32 {
        let slot = source_slot(source);
        if let Some(&id) = self.seen[slot].get(name) {
            return id;
        }
        let stored = self.stored_name(name, source);
        let id = self.intern(stored);
        self.seen[slot].insert(name.to_owned(), id);
        id
    }

    fn stored_name(&mut self, name: &str, source: NameSource) -> String {
        let mut raw = name;
        if self.windows {
            raw = crate::undecorated_windows_name(raw);
        }
        raw = match source {
            NameSource::DebugInfo => crate::without_clone_suffix(raw),
            NameSource::SymbolTable => crate::without_llvm_suffix(raw),
            NameSource::PdbProcedure { cxx } => {
                return match split_signature(raw) {
                    Some((short, _)) => {
                        let marker = if cxx { "\0c" } else { "" };
                        format!("{raw}\0{}{marker}", short.len())
                    }
                    None => name.to_owned(),
                };
            }
        };
        match Name::from(raw)
            .demangle(DemangleOptions::complete())
            .filter(|d| d != raw)
        {
            Some(d) => {
                match self.mangled.get_mut(&d) {
                    Some(m) if m.as_str() <= raw => {}
                    Some(m) => *m = raw.to_owned(),
                    None => {
                        self.mangled.insert(d.clone(), raw.to_owned());
                    }
                }
                d
            }
            None => raw.to_owned(),
        }
    }
}

/// Source files: each distinct (compilation directory, directory, name) joined once into a
/// full path, as llvm-symbolizer and addr2line join them (`..` and `.` kept).
pub(crate) struct Paths {
    paths: Vec<String>,
    /// (address, length) of comp_dir, directory and name -> path id. DWARF hands out strings
    /// borrowed from the object: their addresses identify a file without hashing its text.
    by_address: HashMap<[usize; 6], u32>,
    /// `comp_dir \0 directory \0 name` -> path id, for owned strings.
    by_content: HashMap<String, u32>,
    key: String,
    last: ([usize; 6], u32),
    /// The address range of the object's bytes.
    data: (usize, usize),
}

impl Paths {
    fn new(data: &[u8]) -> Self {
        Self {
            data: (data.as_ptr() as usize, data.as_ptr() as usize + data.len()),
            paths: Vec::new(),
            by_address: HashMap::default(),
            by_content: HashMap::default(),
            key: String::new(),
            last: ([usize::MAX; 6], 0),
        }
    }

    fn id(&mut self, comp_dir: Option<&str>, file: &FileInfo<'_>) -> u32 {
        let (dir, name) = (file.dir_str(), file.name_str());
        let strs = [comp_dir, Some(dir.as_ref()), Some(name.as_ref())];
        // Only strings inside the object's bytes live as long as the build: a string of a
        // record symbolic made up is keyed by its text.
        let in_data = strs.iter().all(|s| {
            s.is_none_or(|s| {
                let (a, b) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
                self.data.0 <= a && b <= self.data.1
            })
        });
        if in_data {
            let mut key = [0usize; 6];
            for (i, s) in strs.iter().enumerate() {
                if let Some(s) = s {
                    key[2 * i] = s.as_ptr() as usize;
                    key[2 * i + 1] = s.len();
                }
            }
            // Consecutive line records mostly share their file: one compare, no hashing.
            if self.last.0 == key {
                return self.last.1;
            }
            let id = match self.by_address.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.push(strs);
                    self.by_address.insert(key, id);
                    id
                }
            };
            self.last = (key, id);
            id
        } else {
            self.key.clear();
            for s in strs {
                self.key.push_str(s.unwrap_or_default());
                self.key.push('\0');
            }
            if let Some(&id) = self.by_content.get(self.key.as_str()) {
                return id;
            }
            let id = self.push(strs);
            self.by_content.insert(self.key.clone(), id);
            id
        }
    }

    fn push(&mut self, [comp_dir, dir, name]: [Option<&str>; 3]) -> u32 {
        let prefix =
            symbolic::common::join_path(comp_dir.unwrap_or_default(), dir.unwrap_or_default());
        self.paths.push(symbolic::common::join_path(
            &prefix,
            name.unwrap_or_default(),
        ));
        (self.paths.len() - 1) as u32
    }
}

/// Collects an object's functions and symbols and writes the index.
pub(crate) struct Converter {
    paths: Paths,
    ops: Vec<RangeOp>,
    locations: Vec<Location>,
    location_ids: HashMap<Location, u32>,
    /// (stored name id, entry address).
    functions: Vec<(u32, u32)>,
    function_ids: HashMap<(u32, u32), u32>,
    /// The highest address known to be outside every function; `None` when a symbol (which
    /// may extend to every higher address) is at or above it.
    last_addr: Option<u32>,
}

impl Converter {
    /// `data`: the object's bytes, which the functions and symbols borrow from.
    pub(crate) fn new(data: &[u8]) -> Self {
        Self {
            paths: Paths::new(data),
            ops: Vec::new(),
            locations: Vec::new(),
            location_ids: HashMap::default(),
            functions: Vec::new(),
            function_ids: HashMap::default(),
            last_addr: None,
        }
    }

    fn function_id(&mut self, name: u32, entry: u32) -> u32 {
        let next = self.functions.len() as u32;
        *self.function_ids.entry((name, entry)).or_insert_with(|| {
            self.functions.push((name, entry));
            next
        })
    }

    /// The id of a location; a new one is always of a higher id than its parent.
    fn location_id(&mut self, l: Location) -> u32 {
        let next = self.locations.len() as u32;
        *self.location_ids.entry(l).or_insert_with(|| {
            self.locations.push(l);
            next
        })
    }

    fn op(&mut self, addr: u32, location: u32, op: Op) {
        self.ops.push(RangeOp { addr, location, op });
    }

    /// Adds a function with its line records and inlinees. `names`: from
    /// [`Naming::names_of`], starting at `*cursor`, which moves past the function's subtree.
    pub(crate) fn add_function(
        &mut self,
        function: &Function<'_>,
        names: &[u32],
        cursor: &mut usize,
    ) {
        self.add_recursive(function, names, cursor, &[(0, NONE)]);
    }

    /// `calls`: (address, call-site location) pairs sorted by address, never empty: the
    /// location each of this function's records was inlined into, from that address on.
    fn add_recursive(
        &mut self,
        function: &Function<'_>,
        names: &[u32],
        cursor: &mut usize,
        calls: &[(u32, u32)],
    ) {
        let name = names.get(*cursor).copied();
        *cursor += 1;
        let Some(name) =
            name.filter(|_| function.size > 0 && function.address <= u64::from(u32::MAX))
        else {
            *cursor += descendants(function);
            return;
        };
        let comp_dir = std::str::from_utf8(function.compilation_dir).ok();
        let entry = if function.inline {
            NONE
        } else {
            function.address as u32
        };
        let function_id = self.function_id(name, entry);

        // The addresses inlinees cover: this function's own records map only the rest.
        let mut inlinee_ranges: Vec<(u32, u32)> = function
            .inlinees
            .iter()
            .flat_map(|i| &i.lines)
            .map(|l| line_boundaries(l.address, l.size))
            .collect();
        inlinee_ranges.sort_unstable_by_key(|r| r.0);
        let mut inlines = inlinee_ranges.into_iter();
        let mut next_inline = inlines.next();
        let mut call_iter = calls.iter().copied();
        let mut current_call = call_iter.next().unwrap_or((0, NONE));
        let mut next_call = call_iter.next();
        let mut lines = function.lines.iter();
        let mut next_line = lines.next();
        let mut callee_calls: Vec<(u32, u32)> = Vec::new();

        while let Some(line) = next_line.take() {
            let (start, end) = line_boundaries(line.address, line.size);
            while let Some(c) = next_call.filter(|c| c.0 <= start) {
                current_call = c;
                next_call = call_iter.next();
            }
            let file = self.paths.id(comp_dir, &line.file);
            let location = self.location_id(Location {
                function: function_id,
                file,
                line: line.line as u32,
                parent: current_call.1,
            });
            let mut at = start;
            while at < end {
                if next_inline.is_none_or(|n| n.0 > at) {
                    self.op(at, location, Op::Set);
                }
                match next_inline.filter(|n| n.0 < end) {
                    // This record covers an inlinee: it is the inlinee's call site.
                    Some(inline) => {
                        callee_calls.push((inline.0, location));
                        at = inline.1;
                        next_inline = inlines.next();
                    }
                    None => at = end,
                }
            }
            next_line = lines.next();
            // Records that start inside what was just mapped (faulty or repeated call-site
            // records) are skipped.
            while next_line.is_some_and(|n| (n.address as u32) < at) {
                next_line = lines.next();
            }
        }

        if !function.inline {
            let bare = self.location_id(Location {
                function: function_id,
                file: NONE,
                line: 0,
                parent: NONE,
            });
            self.op(entry, bare, Op::Fill);
        }
        if callee_calls.is_empty() {
            *cursor += descendants(function);
        } else {
            for inlinee in &function.inlinees {
                self.add_recursive(inlinee, names, cursor, &callee_calls);
            }
        }
        let end = function.end_address() as u32;
        let last = self.last_addr.get_or_insert(0);
        if end > *last {
            *last = end;
        }
        self.op(end, NONE, Op::End);
    }

    /// Adds a symbol-table function (no file, no line): it maps its address where no
    /// function did.
    pub(crate) fn add_symbol(&mut self, symbol: &Symbol<'_>, naming: &mut Naming) {
        let Some(name) = symbol.name.as_deref() else {
            return;
        };
        let name = naming.id(name, NameSource::SymbolTable);
        let addr = symbol.address as u32;
        let function = self.function_id(name, addr);
        let location = self.location_id(Location {
            function,
            file: NONE,
            line: 0,
            parent: NONE,
        });
        self.op(addr, location, Op::Fill);
        let last = self.last_addr.get_or_insert(0);
        if addr >= *last {
            self.last_addr = None;
        }
        if symbol.size > 0 {
            self.op((symbol.address + symbol.size) as u32, NONE, Op::End);
        }
    }

    /// The address map: the operations applied in order per address, then runs of one
    /// location merged.
    fn ranges(&mut self) -> Vec<(u32, u32)> {
        if let Some(last) = self.last_addr {
            self.op(last, NONE, Op::End);
        }
        let mut ops = std::mem::take(&mut self.ops);
        // Stable: the operations on one address stay in the order they were made.
        ops.sort_by_key(|o| o.addr);
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut i = 0;
        while i < ops.len() {
            let addr = ops[i].addr;
            let mut state: Option<u32> = None;
            while let Some(o) = ops.get(i).filter(|o| o.addr == addr) {
                state = match (o.op, state) {
                    (Op::Set, _) => Some(o.location),
                    (Op::Fill, None | Some(NONE)) => Some(o.location),
                    (Op::End, None) => Some(NONE),
                    (_, s) => s,
                };
                i += 1;
            }
            let target = state.unwrap_or(NONE);
            match ranges.last() {
                Some(&(_, t)) if t == target => {}
                None if target == NONE => {}
                _ => ranges.push((addr, target)),
            }
        }
        ranges
    }

    /// Writes the index: only what the address map reaches, renumbered in the order it was
    /// made (so parents keep lower ids than their children).
    pub(crate) fn finish(
        mut self,
        naming: &Naming,
        load_address: u64,
        debug_id: &str,
        code_id: &str,
    ) -> Result<Vec<u8>, Error> {
        let mut ranges = self.ranges();
        let mut used = vec![false; self.locations.len()];
        for &(_, target) in &ranges {
            let mut l = target;
            while l != NONE && !used[l as usize] {
                used[l as usize] = true;
                l = self.locations[l as usize].parent;
            }
        }
        let mut location_map = vec![NONE; self.locations.len()];
        let mut function_map = vec![NONE; self.functions.len()];
        let mut locations = Vec::new();
        let mut functions: Vec<(u32, u32)> = Vec::new();
        for (i, l) in self.locations.iter().enumerate() {
            if !used[i] {
                continue;
            }
            let f = &mut function_map[l.function as usize];
            if *f == NONE {
                *f = functions.len() as u32;
                functions.push(self.functions[l.function as usize]);
            }
            location_map[i] = locations.len() as u32;
            locations.push(Location {
                function: *f,
                file: l.file,
                line: l.line,
                parent: if l.parent == NONE {
                    NONE
                } else {
                    location_map[l.parent as usize]
                },
            });
        }
        for r in &mut ranges {
            if r.1 != NONE {
                r.1 = location_map[r.1 as usize];
            }
        }

        // A function's strings next to each other, in the order functions are written.
        let mut strings = Strings::default();
        let function_entries = functions
            .iter()
            .map(|&(name, entry)| {
                let stored = naming.stored[name as usize].as_str();
                let (outer, signature) = answer_name(stored, true);
                let (inner, _) = answer_name(stored, false);
                let mangled = naming
                    .mangled
                    .get(signature.unwrap_or(outer))
                    .map(String::as_str);
                Ok(FunctionEntry {
                    entry,
                    outer: strings.add(outer)?,
                    inner: strings.add(inner)?,
                    signature: strings.opt(signature)?,
                    mangled: strings.opt(mangled)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let locations = locations
            .iter()
            .map(|l| {
                Ok(index::Location {
                    function: l.function,
                    line: l.line,
                    parent: l.parent,
                    path: strings.opt(self.paths.paths.get(l.file as usize).map(String::as_str))?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let debug_id = strings.add(debug_id)?;
        let code_id = strings.add(code_id)?;
        index::write(&index::Tables {
            load_address,
            ranges: &ranges,
            locations: &locations,
            functions: &function_entries,
            strings: &strings.bytes,
            debug_id,
            code_id,
        })
    }
}

/// The number of inlinees below a function, at every depth.
fn descendants(function: &Function<'_>) -> usize {
    function.inlinees.iter().map(|i| 1 + descendants(i)).sum()
}

/// The string table being written: each distinct string once.
#[derive(Default)]
struct Strings {
    bytes: Vec<u8>,
    at: HashMap<String, Str>,
}

impl Strings {
    fn add(&mut self, s: &str) -> Result<Str, Error> {
        if let Some(&r) = self.at.get(s) {
            return Ok(r);
        }
        let too_big = || Error::InvalidObject("names and paths exceed 4 GiB".into());
        let off = u32::try_from(self.bytes.len()).map_err(|_| too_big())?;
        let len = u32::try_from(s.len()).map_err(|_| too_big())?;
        if off.checked_add(len).is_none_or(|end| end == NONE) {
            return Err(too_big());
        }
        self.bytes.extend_from_slice(s.as_bytes());
        self.at.insert(s.to_owned(), (off, len));
        Ok((off, len))
    }

    fn opt(&mut self, s: Option<&str>) -> Result<Str, Error> {
        match s {
            Some(s) => self.add(s),
            None => Ok(NO_STR),
        }
    }
}

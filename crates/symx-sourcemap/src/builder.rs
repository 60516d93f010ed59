//! Building a [`JsIndex`](crate::JsIndex) from a raw source map and its minified file.

use crate::Error;
use crate::index::{BLOCK, FORMAT_VERSION, HEADER_LEN, MAGIC, NONE, SECTION_COUNT, Section};
use crate::scopes::{self, NameRef, Pos};
use debugid::DebugId;
use sourcemap::{DecodedMap, SourceMap};
use std::collections::HashMap;

/// What building an index produced, besides the index bytes.
#[derive(Clone, Debug)]
pub struct BuiltIndex {
    /// The persisted index (see [`crate::index`] for the layout).
    pub bytes: Vec<u8>,
    /// The debug id of the pair: the map's `debugId`, else the minified file's
    /// `//# debugId=` comment.
    pub debug_id: Option<DebugId>,
    pub tokens: u32,
    pub sources: u32,
    pub lines: u32,
    /// Named scopes: the minified file's, or the function names of Metro's function maps.
    pub scopes: u32,
    /// Bytecode functions of a Hermes map (0 for a map of JavaScript text).
    pub hermes_functions: u32,
}

/// The decoded fields of a raw map that the get API returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawMapFields {
    pub version: i64,
    pub file: Option<String>,
    pub mappings: String,
    pub names: Vec<String>,
    pub source_root: Option<String>,
    pub sources: Vec<String>,
    pub sources_content: Vec<Option<String>>,
}

/// Reads the fields of a raw map for the get API (regular maps keep their `mappings` string
/// verbatim; index maps are flattened and re-encoded).
pub fn raw_fields(map: &[u8]) -> Result<RawMapFields, Error> {
    let value: serde_json::Value = serde_json::from_slice(strip_xssi(map))
        .map_err(|e| Error::InvalidMap(format!("not JSON: {e}")))?;
    if value.get("sections").is_some() {
        let sm = decode(map)?;
        let mut out = Vec::new();
        sm.to_writer(&mut out)
            .map_err(|e| Error::InvalidMap(e.to_string()))?;
        return raw_fields(&out);
    }
    let strings = |key: &str| -> Vec<String> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(RawMapFields {
        version: value.get("version").and_then(|v| v.as_i64()).unwrap_or(3),
        file: value
            .get("file")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        mappings: value
            .get("mappings")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        names: strings("names"),
        source_root: value
            .get("sourceRoot")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        sources: strings("sources"),
        sources_content: value
            .get("sourcesContent")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    })
}

/// The map without the junk line the spec allows before it to defeat XSSI (`)]}'`). The rule is
/// the sourcemap crate's (which decodes the map here): when the first byte is one of `)`, `]`,
/// `}`, `'`, the whole first line is skipped, so the build-memory estimate and the builder
/// read the same JSON. Anything else is returned as given.
pub(crate) fn strip_xssi(map: &[u8]) -> &[u8] {
    if !matches!(map.first(), Some(b')' | b']' | b'}' | b'\'')) {
        return map;
    }
    match memchr::memchr(b'\n', map) {
        Some(nl) => &map[nl..],
        None => map,
    }
}

/// Names the field of the map that a decoding error is about.
fn describe(e: &sourcemap::Error) -> String {
    use sourcemap::Error as E;
    match e {
        E::BadJson(err) => format!(
            "not valid JSON at line {} column {}: {err}",
            err.line(),
            err.column()
        ),
        E::BadSourceReference(id) => {
            format!("`mappings` refers to source {id}, which `sources` does not have")
        }
        E::BadNameReference(id) => {
            format!("`mappings` refers to name {id}, which `names` does not have")
        }
        E::VlqLeftover
        | E::VlqNoValues
        | E::VlqOverflow
        | E::BadSegmentSize(_)
        | E::InvalidBase64(_) => {
            format!("`mappings` is malformed: {e}")
        }
        other => other.to_string(),
    }
}

fn decode(map: &[u8]) -> Result<SourceMap, Error> {
    let decoded = sourcemap::decode_slice(map).map_err(|e| Error::InvalidMap(describe(&e)))?;
    flatten(decoded)
}

/// The map as one regular map (index maps flattened, Hermes maps without their extras).
fn flatten(decoded: DecodedMap) -> Result<SourceMap, Error> {
    match decoded {
        DecodedMap::Regular(sm) => Ok(sm),
        DecodedMap::Index(idx) => idx
            .flatten()
            .map_err(|e| Error::InvalidMap(format!("index map: {e}"))),
        DecodedMap::Hermes(h) => Ok((*h).clone()),
    }
}

/// Whether any part of the map carries Metro function maps (`x_facebook_sources`).
fn has_function_maps(decoded: &DecodedMap) -> bool {
    match decoded {
        DecodedMap::Regular(_) => false,
        DecodedMap::Hermes(_) => true,
        DecodedMap::Index(idx) => idx
            .sections()
            .any(|s| s.get_sourcemap().is_some_and(has_function_maps)),
    }
}

/// The enclosing function's original name at each mapping of the map, from Metro's
/// `x_facebook_sources` function maps: (generated line, generated column, name id into the
/// name list). `None` when no part of the map carries function maps.
type FunctionNames = (Vec<(u32, u32, Option<u32>)>, Vec<String>);

fn decode_with_functions(map: &[u8]) -> Result<(SourceMap, Option<FunctionNames>), Error> {
    let decoded = sourcemap::decode_slice(map).map_err(|e| Error::InvalidMap(describe(&e)))?;
    // Only maps with function maps pay for walking their tokens here.
    let functions = has_function_maps(&decoded).then(|| {
        let mut names = FunctionCollector::default();
        names.collect(&decoded, 0, 0);
        (names.positions, names.names)
    });
    let sm = flatten(decoded)?;
    Ok((sm, functions))
}

#[derive(Default)]
struct FunctionCollector {
    positions: Vec<(u32, u32, Option<u32>)>,
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl FunctionCollector {
    /// Walks a decoded map (and the sections of an index map, at their offsets, as
    /// `SourceMapIndex::flatten` places them) recording each token's function name.
    fn collect(&mut self, decoded: &DecodedMap, off_line: u32, off_col: u32) {
        let place = |line: u32, col: u32| {
            let col = if line == 0 { col + off_col } else { col };
            (line + off_line, col)
        };
        match decoded {
            DecodedMap::Regular(sm) => {
                for t in sm.tokens() {
                    let (l, c) = place(t.get_dst_line(), t.get_dst_col());
                    self.positions.push((l, c, None));
                }
            }
            DecodedMap::Hermes(h) => {
                for t in h.tokens() {
                    let (l, c) = place(t.get_dst_line(), t.get_dst_col());
                    let id = h.get_scope_for_token(t).map(|name| self.intern(name));
                    self.positions.push((l, c, id));
                }
            }
            DecodedMap::Index(idx) => {
                for section in idx.sections() {
                    let (sl, sc) = section.get_offset();
                    if let Some(inner) = section.get_sourcemap() {
                        let (l, c) = place(sl, sc);
                        self.collect(inner, l, c);
                    }
                }
            }
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }
}

/// The start offsets of each segment's bytecode functions, by segment id (sorted).
type HermesSegments = Vec<(u32, Vec<u32>)>;

/// Reads and checks `x_hermes_function_offsets` (`{"<segment>": [offset, ...]}`): `Ok(None)`
/// when the map has none, else every segment's function start offsets.
fn hermes_function_offsets(map: &[u8]) -> Result<Option<HermesSegments>, Error> {
    const KEY: &str = "x_hermes_function_offsets";
    if memchr::memmem::find(map, KEY.as_bytes()).is_none() {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    struct Only {
        x_hermes_function_offsets: Option<serde_json::Value>,
    }
    let only: Only = serde_json::from_slice(strip_xssi(map))
        .map_err(|e| Error::InvalidMap(format!("not JSON: {e}")))?;
    let Some(value) = only.x_hermes_function_offsets else {
        return Ok(None);
    };
    let bad = |what: String| Error::InvalidMap(format!("`{KEY}` {what}"));
    let segments = value
        .as_object()
        .ok_or_else(|| bad("must be an object of segment ids to offset arrays".into()))?;
    let mut out_segments: HermesSegments = Vec::with_capacity(segments.len());
    for (segment, offsets) in segments {
        let Ok(id) = segment.parse::<u32>() else {
            return Err(bad(format!(
                "has key `{segment}`, which is not a segment id"
            )));
        };
        let offsets = offsets
            .as_array()
            .ok_or_else(|| bad(format!("segment {segment} is not an array")))?;
        let mut out = Vec::with_capacity(offsets.len());
        for (i, v) in offsets.iter().enumerate() {
            let o = v
                .as_u64()
                .and_then(|o| u32::try_from(o).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "segment {segment} entry {i} is {v}, not a bytecode offset"
                    ))
                })?;
            out.push(o);
        }
        out_segments.push((id, out));
    }
    out_segments.sort_by_key(|s| s.0);
    match out_segments.first() {
        Some((0, offsets)) if !offsets.is_empty() => Ok(Some(out_segments)),
        _ => Err(bad(
            "has no bytecode offsets for segment 0 (the map of a Hermes bundle lists each function's start)".into(),
        )),
    }
}

/// Finds the `//# debugId=<uuid>` comment of a minified file (the last one wins, as the
/// TC39 debug id proposal says it sits at the end).
pub fn minified_debug_id(minified: &str) -> Option<DebugId> {
    let at = minified.rfind("//# debugId=")?;
    let rest = &minified[at + "//# debugId=".len()..];
    let id = rest.split(|c: char| c.is_whitespace()).next()?;
    id.parse().ok()
}

struct Tok {
    line: u32,
    col: u32,
    src_id: u32,
    src_line: u32,
    src_col: u32,
    name_id: u32,
}

/// Builds the lookup index of a source map and (for function names and line lengths) its
/// minified file.
pub fn build_index(map: &[u8], minified: Option<&[u8]>) -> Result<BuiltIndex, Error> {
    if map.len() > u32::MAX as usize / 2 {
        return Err(Error::TooLarge(format!(
            "source map is {} bytes",
            map.len()
        )));
    }
    let (sm, functions) = decode_with_functions(map)?;
    let hermes = hermes_function_offsets(map)?;
    // A Hermes build ships its bundle as bytecode, and uploads it as the minified file
    // (datadog-ci `react-native upload`): stored as it is, never scanned as text.
    let minified = minified.filter(|bytes| !is_hermes_bytecode(bytes));
    let minified = match minified {
        Some(bytes) => Some(std::str::from_utf8(bytes).map_err(|e| {
            Error::InvalidMinified(format!("not UTF-8 at byte offset {}", e.valid_up_to()))
        })?),
        None => None,
    };

    let map_id = sm.get_debug_id();
    let file_id = minified.and_then(minified_debug_id);
    if let (Some(a), Some(b)) = (map_id, file_id)
        && a != b
    {
        return Err(Error::Mismatch(format!(
            "the source map's debugId {a} differs from the minified file's //# debugId={b}"
        )));
    }
    let debug_id = map_id.or(file_id);

    let n_sources = sm.get_source_count();
    let n_names = sm.get_name_count();
    let mut tokens: Vec<Tok> = Vec::with_capacity(sm.get_token_count() as usize);
    for (i, t) in sm.tokens().enumerate() {
        let raw = t.get_raw_token();
        let src_id = if raw.src_id == !0 { NONE } else { raw.src_id };
        let name_id = if raw.name_id == !0 { NONE } else { raw.name_id };
        if src_id != NONE && src_id >= n_sources {
            return Err(Error::InvalidMap(format!(
                "`mappings` segment {i} on line {} refers to source {src_id}, but `sources` has {n_sources}",
                raw.dst_line + 1
            )));
        }
        if name_id != NONE && name_id >= n_names {
            return Err(Error::InvalidMap(format!(
                "`mappings` segment {i} on line {} refers to name {name_id}, but `names` has {n_names}",
                raw.dst_line + 1
            )));
        }
        tokens.push(Tok {
            line: raw.dst_line,
            col: raw.dst_col,
            src_id,
            src_line: raw.src_line,
            src_col: raw.src_col,
            name_id,
        });
    }
    // Of several mappings at one generated position the first (in `mappings` order) answers,
    // as in Mozilla's source-map and @jridgewell/trace-mapping: the sort is stable.
    tokens.sort_by_key(|t| (t.line, t.col));
    tokens.dedup_by_key(|t| (t.line, t.col));
    // A Hermes bytecode map has one line per bytecode segment (line N+1: segment N, the line
    // Hermes prints in `address at bundle:N+1:<offset>`); the column is the bytecode offset.
    if let Some(segments) = &hermes
        && let Some(t) = tokens
            .iter()
            .find(|t| segments.binary_search_by_key(&t.line, |s| s.0).is_err())
    {
        return Err(Error::InvalidMap(format!(
            "`mappings` of a Hermes bytecode map (it has `x_hermes_function_offsets`) has line {}, but `x_hermes_function_offsets` has no segment {} (each line is a bytecode segment)",
            t.line + 1,
            t.line
        )));
    }
    // The minified file of a Hermes map is the JavaScript that was compiled, not what the
    // positions refer to: its lines and scopes do not apply.
    let minified = if hermes.is_some() { None } else { minified };

    if let Some(text) = minified {
        let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
        if lines > MAX_GENERATED_LINES as usize {
            return Err(Error::InvalidMinified(format!(
                "{lines} lines, more than the limit of {MAX_GENERATED_LINES}"
            )));
        }
    }
    let line_lengths: Vec<u32> = match minified {
        Some(text) => split_lines(text)
            .map(|l| l.encode_utf16().count() as u32)
            .collect(),
        None => Vec::new(),
    };
    let last_token_line = tokens.last().map(|t| t.line + 1).unwrap_or(0);
    // The line table costs 8 bytes per generated line whatever the map holds: a few bytes of
    // index map (a section at line 10^8) must not cost gigabytes. Checked before any of it is
    // allocated.
    if last_token_line > MAX_GENERATED_LINES {
        return Err(Error::InvalidMap(format!(
            "`mappings` (or an index map's `sections[].offset.line`) reach generated line {last_token_line}, more than the limit of {MAX_GENERATED_LINES} lines"
        )));
    }
    let n_lines = (line_lengths.len() as u32).max(last_token_line);

    let mut w = Writer::default();

    // LINES
    let mut lines = Vec::with_capacity(n_lines as usize + 1);
    let mut t = 0usize;
    for line in 0..=n_lines {
        while t < tokens.len() && tokens[t].line < line {
            t += 1;
        }
        lines.push(t as u32);
    }
    w.words(Section::Lines, &lines);

    // COLS, TOKENS
    let cols: Vec<u32> = tokens.iter().map(|t| t.col).collect();
    w.words(Section::Cols, &cols);
    let blocks: Vec<u32> = cols.iter().step_by(BLOCK).copied().collect();
    w.words(Section::Blocks, &blocks);
    let mut tok_words = Vec::with_capacity(tokens.len() * 4);
    for t in &tokens {
        tok_words.extend_from_slice(&[t.src_id, t.src_line, t.src_col, t.name_id]);
    }
    w.words(Section::Tokens, &tok_words);

    // LENGTHS
    let mut lengths = line_lengths.clone();
    lengths.resize(n_lines as usize, 0);
    w.words(Section::Lengths, &lengths);

    // SCOPES and FUNCS: function names mapped through the map.
    let token_at = |pos: Pos| -> Option<&Tok> {
        let i = tokens.partition_point(|t| (t.line, t.col) < pos);
        tokens.get(i).filter(|t| (t.line, t.col) == pos)
    };
    let original = |r: &NameRef| -> String {
        token_at(r.pos)
            .and_then(|t| {
                (t.name_id != NONE)
                    .then(|| sm.get_name(t.name_id))
                    .flatten()
            })
            .map(str::to_owned)
            .unwrap_or_else(|| r.text.clone())
    };
    let mut strings = StringTable::default();
    let mut func_ids: HashMap<String, u32> = HashMap::new();
    let mut funcs: Vec<u32> = Vec::new();
    let mut func_id = |full: &str, strings: &mut StringTable| -> u32 {
        let next = func_ids.len() as u32;
        *func_ids.entry(full.to_owned()).or_insert_with(|| {
            let (o, l) = strings.add(full);
            funcs.extend_from_slice(&[o, l]);
            next
        })
    };
    let mut scope_words = Vec::new();
    let mut scope_fns = Vec::new();
    let n_scopes: u32;
    if let Some((mut positions, names)) = functions {
        // Metro's function maps: a breakpoint wherever the enclosing function changes from
        // one mapping to the next.
        positions.sort_by_key(|p| (p.0, p.1));
        let ids: Vec<u32> = names.iter().map(|n| func_id(n, &mut strings)).collect();
        let mut last: Option<Option<u32>> = None;
        for (line, col, name) in positions {
            let id = name.and_then(|n| ids.get(n as usize).copied());
            if last != Some(id) {
                scope_words.extend_from_slice(&[line, col]);
                scope_fns.push(id.unwrap_or(NONE));
                last = Some(id);
            }
        }
        n_scopes = names.len() as u32;
    } else {
        // The minified file's own scopes, named through the map.
        let found = minified.map(scopes::find_scopes).unwrap_or_default();
        let scope_names: Vec<Option<u32>> = found
            .iter()
            .map(|s| {
                let name = s.name.as_ref().map(&original)?;
                let full = match &s.class {
                    Some(c) => format!("{}.{name}", original(c)),
                    None => name,
                };
                Some(func_id(&full, &mut strings))
            })
            .collect();
        for ((line, col), top) in &scopes::breakpoints(&found) {
            let id = top.and_then(|i| scope_names.get(i).copied().flatten());
            scope_words.extend_from_slice(&[*line, *col]);
            scope_fns.push(id.unwrap_or(NONE));
        }
        n_scopes = found.len() as u32;
    }
    w.words(Section::Scopes, &scope_words);
    let scope_blocks: Vec<u32> = scope_words
        .chunks(2)
        .step_by(BLOCK)
        .flatten()
        .copied()
        .collect();
    w.words(Section::ScopeBlocks, &scope_blocks);
    w.words(Section::ScopeFn, &scope_fns);

    // SOURCES, NAMES
    let mut src_words = Vec::with_capacity(n_sources as usize * 2);
    for i in 0..n_sources {
        let (o, l) = strings.add(sm.get_source(i).unwrap_or_default());
        src_words.extend_from_slice(&[o, l]);
    }
    w.words(Section::Sources, &src_words);
    let mut name_words = Vec::with_capacity(n_names as usize * 2);
    for i in 0..n_names {
        let (o, l) = strings.add(sm.get_name(i).unwrap_or_default());
        name_words.extend_from_slice(&[o, l]);
    }
    w.words(Section::Names, &name_words);
    w.words(Section::Funcs, &funcs);

    // CONTENT, STARTS, TEXT
    let mut text: Vec<u8> = Vec::new();
    let mut content_words = Vec::with_capacity(n_sources as usize * 4);
    let mut starts: Vec<u32> = Vec::new();
    for i in 0..n_sources {
        match sm.get_source_contents(i) {
            Some(content) => {
                let off = u32::try_from(text.len())
                    .map_err(|_| Error::TooLarge("sourcesContent exceeds 4 GiB".into()))?;
                let first = starts.len() as u32;
                let mut count = 0u32;
                let mut at = 0usize;
                for line in split_lines_keep(content) {
                    starts.push(at as u32);
                    at += line.len();
                    count += 1;
                }
                text.extend_from_slice(content.as_bytes());
                content_words.extend_from_slice(&[off, content.len() as u32, first, count]);
            }
            None => content_words.extend_from_slice(&[NONE, 0, 0, 0]),
        }
    }
    w.words(Section::Content, &content_words);
    w.words(Section::Starts, &starts);
    w.bytes(Section::Strings, &strings.data);
    w.bytes(Section::Text, &text);
    // HERMES: segment count, then (segment id, first offset, count) per segment, then the
    // offsets of all segments.
    let mut hermes_words = Vec::new();
    if let Some(segments) = &hermes {
        hermes_words.push(segments.len() as u32);
        let mut first = 0u32;
        for (id, offsets) in segments {
            hermes_words.extend_from_slice(&[*id, first, offsets.len() as u32]);
            first = first.saturating_add(offsets.len() as u32);
        }
        for (_, offsets) in segments {
            hermes_words.extend_from_slice(offsets);
        }
    }
    w.words(Section::Hermes, &hermes_words);

    let bytes = w.finish()?;
    Ok(BuiltIndex {
        bytes,
        debug_id,
        tokens: tokens.len() as u32,
        sources: n_sources,
        lines: n_lines,
        scopes: n_scopes,
        hermes_functions: hermes
            .as_ref()
            .map_or(0, |h| h.iter().map(|s| s.1.len() as u32).sum()),
    })
}

/// Lines as source maps count them: split at `\n`, `\r\n` and `\r`, without the breaks.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    split_lines_keep(text).map(|l| l.trim_end_matches(['\n', '\r']))
}

/// Lines with their line breaks kept, so offsets add up to the text length.
fn split_lines_keep(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    let line = &text[start..i + 1];
                    start = i + 1;
                    return Some(line);
                }
                b'\r' => {
                    let end = if bytes.get(i + 1) == Some(&b'\n') {
                        i + 2
                    } else {
                        i + 1
                    };
                    let line = &text[start..end];
                    start = end;
                    return Some(line);
                }
                _ => i += 1,
            }
        }
        done = true;
        Some(&text[start..])
    })
}

#[derive(Default)]
struct StringTable {
    data: Vec<u8>,
    seen: HashMap<String, (u32, u32)>,
}

impl StringTable {
    fn add(&mut self, s: &str) -> (u32, u32) {
        if let Some(v) = self.seen.get(s) {
            return *v;
        }
        let v = (self.data.len() as u32, s.len() as u32);
        self.data.extend_from_slice(s.as_bytes());
        self.seen.insert(s.to_owned(), v);
        v
    }
}

#[derive(Default)]
struct Writer {
    body: Vec<u8>,
    sections: [(usize, usize); SECTION_COUNT],
}

impl Writer {
    fn words(&mut self, s: Section, words: &[u32]) {
        let off = self.body.len();
        self.body.reserve(words.len() * 4);
        for w in words {
            self.body.extend_from_slice(&w.to_le_bytes());
        }
        self.sections[s as usize] = (off, words.len() * 4);
    }

    fn bytes(&mut self, s: Section, bytes: &[u8]) {
        let off = self.body.len();
        self.body.extend_from_slice(bytes);
        self.sections[s as usize] = (off, bytes.len());
    }

    fn finish(self) -> Result<Vec<u8>, Error> {
        let total = HEADER_LEN + self.body.len();
        if total > u32::MAX as usize {
            return Err(Error::TooLarge(format!("index would be {total} bytes")));
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(SECTION_COUNT as u32).to_le_bytes());
        for (off, len) in self.sections {
            out.extend_from_slice(&((off + HEADER_LEN) as u32).to_le_bytes());
            out.extend_from_slice(&(len as u32).to_le_bytes());
        }
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// The most generated lines a map may reach (10M: a minified bundle has a few thousand, and
/// the line tables of this many cost 80 MB).
pub const MAX_GENERATED_LINES: u32 = 10_000_000;

/// The magic number Hermes bytecode files start with (`HBC_MAGIC`, 0x1F1903C103BC1FC6,
/// little-endian), as hermesc writes it.
const HERMES_MAGIC: [u8; 8] = [0xc6, 0x1f, 0xbc, 0x03, 0xc1, 0x03, 0x19, 0x1f];

/// Whether `bytes` are a Hermes bytecode bundle rather than JavaScript text.
pub fn is_hermes_bytecode(bytes: &[u8]) -> bool {
    bytes.starts_with(&HERMES_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_splitting_matches_source_map_lines() {
        let v: Vec<&str> = split_lines("a\nb\r\nc\rd").collect();
        assert_eq!(v, ["a", "b", "c", "d"]);
        let v: Vec<&str> = split_lines("a\n").collect();
        assert_eq!(v, ["a", ""]);
        let joined: String = split_lines_keep("x\r\ny\nz").collect();
        assert_eq!(joined, "x\r\ny\nz");
    }

    #[test]
    fn debug_id_comment_is_found_at_the_end() {
        let src =
            "x()\n//# debugId=85314830-023f-4cf1-a267-535f4e37bb17\n//# sourceMappingURL=a.map";
        assert_eq!(
            minified_debug_id(src).map(|d| d.to_string()),
            Some("85314830-023f-4cf1-a267-535f4e37bb17".to_owned())
        );
        assert_eq!(minified_debug_id("x()"), None);
    }
}

//! What building the index of a map will cost, read from the map before anything of it is
//! decoded.
//!
//! Decoding a source map commits memory in proportion to what the map *counts*, not to its
//! size: a 100 MB `names` array of one-letter names is 25 million decoded strings, and an
//! index map whose section starts at line 10^8 is a line table of 10^8 entries. [`measure`]
//! walks the JSON once with a streaming parser that keeps nothing (only the longest escaped
//! string is ever buffered), counts per field the values, the string bytes and the mapping
//! segments, and the generated lines the mappings reach; [`MapShape::build_bytes`] turns the
//! counts into the peak memory of [`build_index`](crate::build_index), with factors measured
//! by the `memory` test of the workspace (`tests/memory/`), which checks that the estimate
//! stays above the measured peak.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The fields of a map whose decoding costs memory, as they are named in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Sources,
    SourcesContent,
    Names,
    Mappings,
    Sections,
    FacebookSources,
    HermesFunctionOffsets,
    /// Any other field (`file`, `ignoreList`, `x_google_ignoreList`, vendor extensions...).
    Other,
}

const FIELDS: usize = 8;

impl Field {
    fn of_key(key: &str) -> Self {
        match key {
            "sources" => Self::Sources,
            "sourcesContent" => Self::SourcesContent,
            "names" => Self::Names,
            "mappings" => Self::Mappings,
            "sections" => Self::Sections,
            "x_facebook_sources" => Self::FacebookSources,
            "x_hermes_function_offsets" => Self::HermesFunctionOffsets,
            _ => Self::Other,
        }
    }

    /// The field's name in the map.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sources => "sources",
            Self::SourcesContent => "sourcesContent",
            Self::Names => "names",
            Self::Mappings => "mappings",
            Self::Sections => "sections",
            Self::FacebookSources => "x_facebook_sources",
            Self::HermesFunctionOffsets => "x_hermes_function_offsets",
            Self::Other => "other fields",
        }
    }

    fn all() -> [Self; FIELDS] {
        [
            Self::Sources,
            Self::SourcesContent,
            Self::Names,
            Self::Mappings,
            Self::Sections,
            Self::FacebookSources,
            Self::HermesFunctionOffsets,
            Self::Other,
        ]
    }
}

/// What one field holds, over every section of an index map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldCount {
    /// JSON values (array entries, object members, numbers, strings).
    pub values: u64,
    /// Bytes of its strings, as they appear in the JSON.
    pub string_bytes: u64,
    /// Mapping segments (`mappings` and function-map mappings).
    pub segments: u64,
}

/// The counts of a map that decide what building its index costs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapShape {
    /// The map's size in bytes.
    pub bytes: u64,
    /// The generated lines the mappings reach (index map section offsets included).
    pub generated_lines: u64,
    /// The number of maps (1, or the sections of an index map).
    pub maps: u64,
    counts: [FieldCount; FIELDS],
}

/// Bytes of peak memory per unit counted, measured (see the module docs). A decoded JSON value
/// is a `serde_json::Value` or `Option<String>` and then the `Arc<str>` the map keeps; a string
/// byte is held twice (as parsed, as kept); a segment is the decoded token, our sort record and
/// the index's words, twice over while an index map is flattened; a generated line is its
/// line-table entry in the builder and in the index.
const PER_VALUE: u64 = 112;
/// A `sources` entry costs more: it is also resolved against `sourceRoot` and kept per token
/// table.
const PER_SOURCE: u64 = 160;
const PER_STRING_BYTE: u64 = 3;
const PER_SEGMENT: u64 = 180;
/// The line table: built, copied into the index and grown by doubling.
const PER_LINE: u64 = 40;
/// What the minified file costs per byte (its text, line lengths and scope tree).
const PER_MINIFIED_BYTE: u64 = 6;
/// A fixed floor: the decoder's and the writer's own tables.
const BASE: u64 = 1 << 20;

impl MapShape {
    /// The counts of one field.
    pub fn field(&self, field: Field) -> FieldCount {
        self.counts[field as usize]
    }

    /// The bytes of memory the field's decoding takes.
    fn field_bytes(&self, field: Field) -> u64 {
        let c = self.field(field);
        let per_value = if field == Field::Sources {
            PER_SOURCE
        } else {
            PER_VALUE
        };
        c.values
            .saturating_mul(per_value)
            .saturating_add(c.string_bytes.saturating_mul(PER_STRING_BYTE))
            .saturating_add(c.segments.saturating_mul(PER_SEGMENT))
    }

    /// The peak memory building the index takes, the map's own bytes and the minified file
    /// (`minified`, when there is one) included.
    pub fn build_bytes(&self, minified: Option<&[u8]>) -> u64 {
        let (minified_bytes, minified_lines) = minified.map_or((0, 0), |m| {
            (
                m.len() as u64,
                memchr::memchr_iter(b'\n', m).count() as u64 + 1,
            )
        });
        Field::all()
            .iter()
            .map(|f| self.field_bytes(*f))
            .fold(BASE, u64::saturating_add)
            .saturating_add(self.bytes.saturating_mul(2))
            .saturating_add(self.lines(minified_lines).saturating_mul(PER_LINE))
            .saturating_add(minified_bytes.saturating_mul(PER_MINIFIED_BYTE))
    }

    /// The lines of the index's line table: as many as the mappings reach or the minified
    /// file has, whichever is more.
    fn lines(&self, minified_lines: u64) -> u64 {
        self.generated_lines.max(minified_lines)
    }

    /// What costs the most, for messages: `` `names`: 25000000 entries, 100000000 bytes ``.
    pub fn largest(&self, minified: Option<&[u8]>) -> String {
        let minified_lines =
            minified.map_or(0, |m| memchr::memchr_iter(b'\n', m).count() as u64 + 1);
        let lines = self.lines(minified_lines).saturating_mul(PER_LINE);
        let (field, bytes) = Field::all()
            .iter()
            .map(|f| (*f, self.field_bytes(*f)))
            .max_by_key(|(_, b)| *b)
            .unwrap_or((Field::Other, 0));
        if lines > bytes {
            if minified_lines > self.generated_lines {
                return format!("`minified_file` has {minified_lines} lines");
            }
            return format!("`mappings` reach generated line {}", self.generated_lines);
        }
        let c = self.field(field);
        if c.segments > 0 {
            format!("`{}`: {} mapping segments", field.name(), c.segments)
        } else {
            format!(
                "`{}`: {} entries, {} bytes of strings",
                field.name(),
                c.values,
                c.string_bytes
            )
        }
    }
}

/// Reads the shape of a map (a regular, index or Hermes/Metro map, with or without the XSSI
/// prefix) without decoding it. Fails only on JSON that is not valid, naming the position.
pub fn measure(map: &[u8]) -> Result<MapShape, crate::Error> {
    let json = crate::builder::strip_xssi(map);
    let mut shape = MapShape {
        bytes: map.len() as u64,
        ..MapShape::default()
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let lines = de
        .deserialize_any(MapVisitor { shape: &mut shape })
        .and_then(|lines| de.end().map(|()| lines))
        .map_err(|e| {
            crate::Error::InvalidMap(format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
    shape.generated_lines = lines;
    Ok(shape)
}

/// A source map object (the document, or an index map section's `map`): counts its fields and
/// answers the generated lines its mappings reach.
struct MapVisitor<'a> {
    shape: &'a mut MapShape,
}

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a source map object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<u64, A::Error> {
        self.shape.maps += 1;
        let mut lines = 0u64;
        while let Some(key) = access.next_key::<KeyName>()? {
            let field = Field::of_key(&key.0);
            match field {
                Field::Mappings => {
                    lines = lines.max(access.next_value_seed(Counted {
                        shape: self.shape,
                        field,
                    })?);
                }
                Field::Sections => {
                    lines = lines.max(access.next_value_seed(SectionsSeed { shape: self.shape })?);
                }
                _ => {
                    access.next_value_seed(Counted {
                        shape: self.shape,
                        field,
                    })?;
                }
            }
        }
        Ok(lines)
    }
}

impl<'de> DeserializeSeed<'de> for MapVisitor<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

/// A key, borrowed when it has no escapes.
struct KeyName(String);

impl<'de> serde::Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KeyName, E> {
                // Only known names matter: a long unknown key is not copied.
                Ok(KeyName(if v.len() <= 32 {
                    v.to_owned()
                } else {
                    String::new()
                }))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value of a field: counts its values and string bytes; a string of `mappings`
/// also counts its segments and answers the lines it spans.
struct Counted<'a> {
    shape: &'a mut MapShape,
    field: Field,
}

impl<'de> DeserializeSeed<'de> for Counted<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl Counted<'_> {
    fn count(&mut self) -> &mut FieldCount {
        let c = &mut self.shape.counts[self.field as usize];
        c.values += 1;
        c
    }
}

impl<'de> Visitor<'de> for Counted<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<u64, E> {
        let mapping = self.field == Field::Mappings;
        let c = self.count();
        c.string_bytes += v.len() as u64;
        if mapping && !v.is_empty() {
            let bytes = v.as_bytes();
            let semis = memchr::memchr_iter(b';', bytes).count() as u64;
            let commas = memchr::memchr_iter(b',', bytes).count() as u64;
            c.segments += semis + commas + 1;
            return Ok(semis + 1);
        }
        Ok(0)
    }

    fn visit_bool<E>(mut self, _: bool) -> Result<u64, E> {
        self.count();
        Ok(0)
    }
    fn visit_i64<E>(mut self, _: i64) -> Result<u64, E> {
        self.count();
        Ok(0)
    }
    fn visit_u64<E>(mut self, _: u64) -> Result<u64, E> {
        self.count();
        Ok(0)
    }
    fn visit_f64<E>(mut self, _: f64) -> Result<u64, E> {
        self.count();
        Ok(0)
    }
    fn visit_unit<E>(mut self) -> Result<u64, E> {
        self.count();
        Ok(0)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<u64, A::Error> {
        self.count();
        // Metro's function maps (`x_facebook_sources`) hold `mappings` of their own: they are
        // counted as segments of the field.
        while seq
            .next_element_seed(Counted {
                shape: self.shape,
                field: self.field,
            })?
            .is_some()
        {}
        Ok(0)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<u64, A::Error> {
        self.count();
        while let Some(key) = access.next_key::<KeyName>()? {
            if self.field == Field::FacebookSources && key.0 == "mappings" {
                let before = self.shape.counts[Field::Mappings as usize];
                access.next_value_seed(Counted {
                    shape: self.shape,
                    field: Field::Mappings,
                })?;
                // Moved to the field it belongs to.
                let after = self.shape.counts[Field::Mappings as usize];
                self.shape.counts[Field::Mappings as usize] = before;
                let c = &mut self.shape.counts[self.field as usize];
                c.values += after.values - before.values;
                c.string_bytes += after.string_bytes - before.string_bytes;
                c.segments += after.segments - before.segments;
            } else {
                access.next_value_seed(Counted {
                    shape: self.shape,
                    field: self.field,
                })?;
            }
        }
        Ok(0)
    }
}

/// An index map's `sections`: each section's map is measured as a map, at its offset.
struct SectionsSeed<'a> {
    shape: &'a mut MapShape,
}

impl<'de> DeserializeSeed<'de> for SectionsSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SectionsSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of sections")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut lines = 0u64;
        while let Some(reached) = seq.next_element_seed(SectionSeed {
            shape: &mut *self.shape,
        })? {
            lines = lines.max(reached);
        }
        Ok(lines)
    }

    // Anything else is the decoder's to refuse; it costs what it holds.
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<u64, A::Error> {
        Counted {
            shape: self.shape,
            field: Field::Sections,
        }
        .visit_map(access)
    }
}

/// One section: `{"offset": {"line", "column"}, "map": {...}}` in any key order.
struct SectionSeed<'a> {
    shape: &'a mut MapShape,
}

impl<'de> DeserializeSeed<'de> for SectionSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SectionSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a section")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<u64, A::Error> {
        self.shape.counts[Field::Sections as usize].values += 1;
        let mut offset_line = 0u64;
        let mut inner = 0u64;
        while let Some(key) = access.next_key::<KeyName>()? {
            match key.0.as_str() {
                "offset" => {
                    #[derive(serde::Deserialize)]
                    struct Offset {
                        #[serde(default)]
                        line: u64,
                    }
                    offset_line = access.next_value::<Offset>()?.line;
                }
                "map" => {
                    inner = access.next_value_seed(MapVisitor {
                        shape: &mut *self.shape,
                    })?;
                }
                _ => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(offset_line.saturating_add(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fields_segments_and_lines() {
        let map = br#"{"version":3,"sources":["a.js","b.js"],"names":["x"],
            "sourcesContent":["abc",null],"mappings":"AAAA,CAAC;AACA;;AAAA"}"#;
        let s = measure(map).expect("measures");
        assert_eq!(s.field(Field::Sources).values, 3);
        assert_eq!(s.field(Field::Sources).string_bytes, 8);
        assert_eq!(s.field(Field::Names).values, 2);
        assert_eq!(s.field(Field::SourcesContent).string_bytes, 3);
        assert_eq!(s.field(Field::Mappings).segments, 5);
        assert_eq!(s.generated_lines, 4);
        assert_eq!(s.maps, 1);
    }

    #[test]
    fn an_index_map_reaches_its_section_offsets_in_any_key_order() {
        let map = br#"{"version":3,"sections":[
            {"map":{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA;AACA"},"offset":{"line":100000000,"column":0}},
            {"offset":{"line":5,"column":0},"map":{"version":3,"sources":[],"names":[],"mappings":""}}]}"#;
        let s = measure(map).expect("measures");
        assert_eq!(s.generated_lines, 100_000_002);
        assert_eq!(s.maps, 3);
        assert!(
            s.largest(None).contains("generated line 100000002"),
            "{}",
            s.largest(None)
        );
    }

    #[test]
    fn a_huge_names_array_is_named() {
        let mut map = String::from(r#"{"version":3,"sources":[],"mappings":"","names":["#);
        for i in 0..100_000 {
            if i > 0 {
                map.push(',');
            }
            map.push_str("\"a\"");
        }
        map.push_str("]}");
        let s = measure(map.as_bytes()).expect("measures");
        assert_eq!(s.field(Field::Names).values, 100_001);
        assert!(
            s.largest(None).starts_with("`names`: 100001 entries"),
            "{}",
            s.largest(None)
        );
        assert!(s.build_bytes(None) > 100_000 * PER_VALUE);
    }

    #[test]
    fn xssi_prefix_and_bad_json() {
        assert!(measure(b")]}'\n{\"mappings\":\"A\"}").is_ok());
        // Any first line that starts with one of `)]}'`, as the builder (the sourcemap crate)
        // skips it: found by `fuzz/run.sh` (js_build), where the estimate refused maps the
        // builder took.
        for map in [&b"}\n\n\t{}\n"[..], b"]]]\xa9]\x1d]]\n\n{}"] {
            assert!(measure(map).is_ok());
            assert!(crate::build_index(map, None).is_ok());
        }
        let e = measure(b"{\"mappings\": [}").expect_err("bad json");
        assert!(e.to_string().contains("line 1 column"), "{e}");
    }
}

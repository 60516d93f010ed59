//! ProGuard and R8 mapping files: the mapping's bytes in, a persisted index out, and remapping
//! of frames, classes and throwables on that index in place.
//!
//! The index is the `proguard` crate's `ProguardCache` (classes and members sorted for binary
//! search, read in place) inside a small container of ours (`SYMXJVM1`):
//!
//! ```text
//! magic "SYMXJVM1" | ProguardCache
//! ```
//!
//! R8 metadata is honoured as the proguard crate implements the R8 retrace specification:
//! `com.android.tools.r8.synthesized` members are dropped from inline chains, outline frames
//! are folded into their callsite (`outline` / `outlineCallsite`), `rewriteFrame` rules remove
//! frames after a matching exception, and residual signatures are used for methods.
//!
//! This crate does no IO and knows nothing of storage or transports.

use proguard::{ProguardCache, ProguardMapping, StackFrame};
use symx_types::{ErrorCode, HasErrorCode};

const MAGIC: &[u8; 8] = b"SYMXJVM1";

/// Errors of this crate. Messages name the format, the line and what is wrong.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid ProGuard mapping: {0}")]
    InvalidMapping(String),
    #[error("stored ProGuard index is not readable: {0}")]
    BadIndex(String),
}

impl HasErrorCode for Error {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidMapping(_) => ErrorCode::InvalidArgument,
            Self::BadIndex(_) => ErrorCode::Internal,
        }
    }
}

/// An index and what was read from the mapping while building it.
#[derive(Clone, Debug)]
pub struct BuiltJvm {
    pub bytes: Vec<u8>,
    /// A stable id derived from the mapping's content (UUID v5, as Sentry and the proguard
    /// crate compute it): the build id when the upload does not state one.
    pub content_id: String,
    pub classes: usize,
    pub has_line_info: bool,
}

/// Builds the index of a mapping file. Rejects files that are not mappings (no class line)
/// and malformed lines, naming the line number and its text.
pub fn build_index(bytes: &[u8]) -> Result<BuiltJvm, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Error::InvalidMapping(format!("line {line} is not UTF-8"))
    })?;
    let mut classes = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match proguard::ProguardRecord::try_parse(line.as_bytes()) {
            Ok(proguard::ProguardRecord::Class { .. }) => classes += 1,
            Ok(_) => {}
            Err(e) => {
                let shown: String = line.chars().take(120).collect();
                return Err(Error::InvalidMapping(format!(
                    "line {}: {:?}: `{shown}`",
                    i + 1,
                    e.kind()
                )));
            }
        }
    }
    if classes == 0 {
        return Err(Error::InvalidMapping(
            "no class mapping (`original.Class -> obfuscated.Class:`) found".into(),
        ));
    }
    let mapping = ProguardMapping::new(bytes);
    let mut out = Vec::with_capacity(MAGIC.len() + bytes.len());
    out.extend_from_slice(MAGIC);
    ProguardCache::write(&mapping, &mut out)
        .map_err(|e| Error::InvalidMapping(format!("cannot index the mapping: {e}")))?;
    Ok(BuiltJvm {
        bytes: out,
        content_id: mapping.uuid().to_string(),
        classes,
        has_line_info: mapping.has_line_info(),
    })
}

/// One original frame. `line` is 1-based (0: unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JvmFrame {
    pub class: String,
    pub method: String,
    pub file: Option<String>,
    pub line: u32,
}

/// What one obfuscated frame maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remapped {
    /// Original frames, innermost first: an inline chain, or (when `ambiguous`) the
    /// candidates of a frame without line information.
    Frames {
        frames: Vec<JvmFrame>,
        ambiguous: bool,
    },
    /// An R8 outline frame: folded into the next frame (its callsite), nothing to show.
    Outline,
    /// Removed by an R8 `rewriteFrame` rule for the exception being thrown.
    Removed,
    /// The mapping does not know the class (or the member).
    Unknown,
}

/// Per-stack-trace state: outline positions carry to the next frame, rewrite rules apply to
/// the first frame after an exception.
#[derive(Clone, Debug, Default)]
pub struct TraceState {
    exception_descriptor: Option<String>,
    first_after_exception: bool,
    carried_outline: Option<usize>,
}

impl TraceState {
    /// Starts a trace thrown by `exception` (its original class name, or `None`).
    pub fn thrown(exception: Option<&str>) -> Self {
        Self {
            exception_descriptor: exception.map(|c| format!("L{};", c.replace('.', "/"))),
            first_after_exception: exception.is_some(),
            carried_outline: None,
        }
    }
}

/// A persisted index, checked at open and read in place.
#[derive(Clone)]
pub struct JvmIndex<B: AsRef<[u8]>> {
    buf: B,
}

impl<B: AsRef<[u8]>> std::fmt::Debug for JvmIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JvmIndex")
            .field("bytes", &self.buf.as_ref().len())
            .finish()
    }
}

impl<B: AsRef<[u8]>> JvmIndex<B> {
    pub fn open(buf: B) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < MAGIC.len() || &b[..MAGIC.len()] != MAGIC {
            return Err(Error::BadIndex("missing SYMXJVM1 header".into()));
        }
        ProguardCache::parse(&b[MAGIC.len()..]).map_err(|e| Error::BadIndex(e.to_string()))?;
        Ok(Self { buf })
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    fn cache(&self) -> Option<ProguardCache<'_>> {
        // A header and offset check (validated at open): keeps the index a plain buffer.
        ProguardCache::parse(&self.buf.as_ref()[MAGIC.len()..]).ok()
    }

    /// The original name of an obfuscated class, if the mapping renames it.
    pub fn remap_class(&self, class: &str) -> Option<String> {
        self.cache()?.remap_class(class).map(str::to_owned)
    }

    /// Replaces every obfuscated class name the mapping knows inside `text` (an exception
    /// message: `a.b.c cannot be cast to a.b.d`). Words are runs of Java identifier characters
    /// and dots.
    pub fn remap_classes_in(&self, text: &str) -> String {
        let Some(cache) = self.cache() else {
            return text.to_owned();
        };
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            let w = word.trim_end_matches('.');
            match (w.contains('.'), cache.remap_class(w)) {
                (true, Some(original)) => {
                    out.push_str(original);
                    out.push_str(&word[w.len()..]);
                }
                _ => out.push_str(word),
            }
            word.clear();
        };
        for c in text.chars() {
            if c.is_alphanumeric() || c == '_' || c == '$' || c == '.' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    /// Remaps one frame of a trace (frames in the order the runtime printed them, innermost
    /// first), carrying R8 outline and rewrite state in `state`.
    pub fn remap_frame(
        &self,
        state: &mut TraceState,
        class: &str,
        method: &str,
        line: u32,
        file: Option<&str>,
    ) -> Remapped {
        let Some(cache) = self.cache() else {
            return Remapped::Unknown;
        };
        let line = usize::try_from(line).unwrap_or(0);
        let frame = match file {
            Some(f) => StackFrame::with_file(class, method, line, f),
            None => StackFrame::new(class, method, line),
        };
        let apply_rewrite = std::mem::take(&mut state.first_after_exception);
        let Some(iter) = cache.remap_frame_with_context(
            &frame,
            state.exception_descriptor.as_deref(),
            apply_rewrite,
            &mut state.carried_outline,
        ) else {
            // The rewrite chance passes to the next real frame.
            state.first_after_exception = apply_rewrite;
            return Remapped::Outline;
        };
        let had_mappings = iter.had_mappings();
        let mut remapped: Vec<StackFrame<'_>> = iter.collect();
        // Spec, "synthesized": compiler-made members (lambdas' bodies, bridges) are not shown
        // when the chain has real frames.
        if remapped.iter().any(|f| !f.method_synthesized()) {
            remapped.retain(|f| !f.method_synthesized());
        }
        let frames: Vec<JvmFrame> = remapped
            .into_iter()
            .map(|f| JvmFrame {
                class: f.class().to_owned(),
                method: f.method().to_owned(),
                file: f.file().map(str::to_owned),
                line: f.line().and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
            })
            .collect();
        if frames.is_empty() {
            return if had_mappings {
                Remapped::Removed
            } else {
                Remapped::Unknown
            };
        }
        // Several frames are an inline chain only when the frame's line picked one mapping
        // range. Without a line, every member of that obfuscated name is a candidate; and a
        // method listed more than once (one frame per original line of a mapping entry
        // without an obfuscated range) is the same method at different possible lines. Both
        // are alternatives, not an inline chain.
        let ambiguous = frames.len() > 1
            && (line == 0
                || frames.iter().enumerate().any(|(i, f)| {
                    frames[..i]
                        .iter()
                        .any(|g| (&g.class, &g.method) == (&f.class, &f.method))
                }));
        Remapped::Frames { frames, ambiguous }
    }
}

#[cfg(test)]
mod tests;

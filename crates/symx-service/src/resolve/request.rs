//! What a symbolication request asks and what it answers, and [`Found`]: which artifact (if
//! any) serves a frame, shared by the per-platform resolvers.

use crate::error::Result;
use crate::indexes::Indexes;
use crate::indexes::cache::LoadedIndex;
use std::collections::HashMap;
use std::sync::Arc;
use symx_types::{
    ArtifactId, FrameStatus, JsFrame, JvmFrame, JvmThrowable, NativeFrame, ResolvedFrame, Tenant,
};

/// A batch of stack traces to resolve.
#[derive(Clone, Debug, Default)]
pub struct SymbolicateRequest {
    pub stacktraces: Vec<StackTrace>,
    /// Source lines to return around each resolved line (clamped to the configured maximum).
    pub context_lines: u32,
    /// Debug ids of minified files by URL, as the client's debug metadata lists them.
    pub debug_ids: HashMap<String, String>,
    /// Explain every frame that does not resolve ([`FrameResult::explanation`]).
    pub explain: bool,
}

/// One stack trace: frames from the innermost call outwards, as the runtime printed them.
#[derive(Clone, Debug, Default)]
pub struct StackTrace {
    /// The service (release) the frames come from, for matching by service + version + URL.
    pub service: Option<String>,
    pub version: Option<String>,
    pub frames: Vec<Frame>,
    /// JVM: the mapping's build id, else service + version + variant find it.
    pub variant: Option<String>,
    pub build_id: Option<String>,
    /// JVM: the exception the frames belong to (obfuscated, as printed).
    pub exception: Option<JvmThrowable>,
    /// The commit the release was built from: source links for artifacts without their own
    /// repository metadata.
    pub git_commit_sha: Option<String>,
    pub git_repository_url: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Frame {
    Js(JsFrame),
    Native(NativeFrame),
    Jvm(JvmFrame),
    /// A frame of a platform this version does not resolve; answered per frame.
    Unsupported {
        platform: String,
    },
}

/// The answer for one input frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameResult {
    pub status: FrameStatus,
    /// The artifact that resolved (or was tried for) the frame.
    pub artifact_id: Option<ArtifactId>,
    /// Why the frame is not resolved, for humans.
    pub message: Option<String>,
    /// The original frames (one for JavaScript).
    pub frames: Vec<ResolvedFrame>,
    /// JVM: `frames` are alternatives (a frame without a line), not an inline chain.
    pub ambiguous: bool,
    /// Why the frame is not (fully) resolved; `None` when it is.
    pub reason: Option<Reason>,
    /// With [`SymbolicateRequest::explain`]: what was tried, the nearest candidates, the fix.
    pub explanation: Option<Explanation>,
}

impl FrameResult {
    pub(crate) fn miss(
        status: FrameStatus,
        artifact_id: Option<ArtifactId>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            artifact_id,
            message: Some(message.into()),
            frames: Vec::new(),
            ambiguous: false,
            reason: None,
            explanation: None,
        }
    }
}

/// Why a frame is not resolved (or resolved without a source line), as a stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No source map of the frame's release (or the frame names none).
    JsNoRelease,
    /// The release has source maps, none for the frame's URL.
    JsNoFileInRelease,
    /// No source map has the frame's debug id.
    JsDebugIdUnknown,
    /// The map has no mapping at the frame's position.
    JsPositionOutOfRange,
    /// No debug file has the module's code id or debug id.
    NativeNoDebugFile,
    /// The module's function is known, its source line is not.
    NativeNoLineInfo,
    /// No function of the module covers the address.
    NativeAddressOutsideModule,
    /// No ProGuard/R8 mapping for the stack trace's release or build id.
    JvmNoMapping,
    /// The mapping does not rename the frame's class (or its method).
    JvmClassNotMapped,
    /// The mapping has no line information for the frame's method.
    JvmNoLineInfo,
    FrameInvalid,
    FrameSkipped,
    PlatformUnsupported,
    ArtifactMalformed,
    OutOfRange,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsNoRelease => "js_no_release",
            Self::JsNoFileInRelease => "js_no_file_in_release",
            Self::JsDebugIdUnknown => "js_debug_id_unknown",
            Self::JsPositionOutOfRange => "js_position_out_of_range",
            Self::NativeNoDebugFile => "native_no_debug_file",
            Self::NativeNoLineInfo => "native_no_line_info",
            Self::NativeAddressOutsideModule => "native_address_outside_module",
            Self::JvmNoMapping => "jvm_no_mapping",
            Self::JvmClassNotMapped => "jvm_class_not_mapped",
            Self::JvmNoLineInfo => "jvm_no_line_info",
            Self::FrameInvalid => "frame_invalid",
            Self::FrameSkipped => "frame_skipped",
            Self::PlatformUnsupported => "platform_unsupported",
            Self::ArtifactMalformed => "artifact_malformed",
            Self::OutOfRange => "out_of_range",
        }
    }
}

/// What was tried for a frame that did not resolve, the nearest candidates (nearest first),
/// and, where it can be derived, the `symx` command whose upload would resolve it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    pub text: String,
    pub candidates: Vec<String>,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolicateResponse {
    /// One entry per input stack trace, one result per input frame, in order.
    pub stacktraces: Vec<Vec<FrameResult>>,
    /// JVM: per input stack trace, its exception deobfuscated (None when it had none).
    pub exceptions: Vec<Option<JvmThrowable>>,
}

/// The artifact found for a frame: none (why), one whose index cannot be loaded (why), or one
/// ready for lookups.
pub(crate) enum Found {
    Missing(String),
    Malformed(ArtifactId, String),
    Index(ArtifactId, Arc<LoadedIndex>),
}

impl Found {
    /// The artifact a lookup found (`missing` says what was asked for when it found none),
    /// with its index loaded.
    pub(crate) fn of(
        indexes: &Indexes,
        tenant: &Tenant,
        id: Result<Option<ArtifactId>>,
        missing: impl FnOnce() -> String,
    ) -> Self {
        match id {
            Err(e) => Found::Missing(e.message),
            Ok(None) => Found::Missing(missing()),
            Ok(Some(id)) => Self::load(indexes, tenant, id),
        }
    }

    /// An artifact with its index loaded, or why it cannot be.
    pub(crate) fn load(indexes: &Indexes, tenant: &Tenant, id: ArtifactId) -> Self {
        match indexes.load(tenant, &id) {
            Ok(index) => Found::Index(id, index),
            Err(e) => Found::Malformed(id, e.message),
        }
    }

    /// The frame's answer: a miss when there is no usable artifact, else `resolve`'s.
    pub(crate) fn answer(
        &self,
        resolve: impl FnOnce(&ArtifactId, &LoadedIndex) -> FrameResult,
    ) -> FrameResult {
        match self {
            Found::Missing(msg) => {
                FrameResult::miss(FrameStatus::MissingArtifact, None, msg.clone())
            }
            Found::Malformed(id, msg) => FrameResult::miss(
                FrameStatus::MalformedArtifact,
                Some(id.clone()),
                msg.clone(),
            ),
            Found::Index(id, index) => resolve(id, index),
        }
    }
}

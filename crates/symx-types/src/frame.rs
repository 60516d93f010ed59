use serde::{Deserialize, Serialize};

/// A JavaScript frame as the runtime printed it.
///
/// Conventions (kept everywhere in symx): `line` and `column` are **1-based**, as V8, Firefox
/// and Safari print them in `Error.stack`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsFrame {
    /// The URL or path of the minified file (`abs_path`).
    pub url: String,
    /// 1-based line in the minified file.
    pub line: u32,
    /// 1-based column in the minified file.
    pub column: u32,
    /// The function name the runtime printed, if any (usually minified).
    pub function: Option<String>,
    /// The debug id of the minified file, when the client knows it.
    pub debug_id: Option<String>,
    /// Hermes bytecode: the offset printed as `address at bundle:1:<offset>` (then `column`
    /// is not used).
    pub bytecode_offset: Option<u32>,
    /// Hermes crash reports: the function `bytecode_offset` counts from.
    pub hermes_function_id: Option<u32>,
}

/// A native frame: an instruction address in a loaded module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeFrame {
    /// The module's debug id (breakpad or UUID form), when known.
    pub debug_id: Option<String>,
    /// The module's code id: for ELF the GNU build id in hex.
    pub code_id: Option<String>,
    /// Where the module was loaded. 0 makes `instruction_addr` module-relative.
    pub image_addr: u64,
    /// The instruction address as the runtime reported it.
    pub instruction_addr: u64,
    /// Whether the address is the exact faulting instruction (crashing or signal frame), or a
    /// return address, looked up one byte earlier, inside the call instruction. Unset: the
    /// first frame of a stack trace is exact and the others are return addresses
    /// (Symbolicator's convention).
    pub exact: Option<bool>,
    /// The module's file name or path (`libfoo.so`), when known: explanations name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// A JVM frame as `Throwable.printStackTrace` prints it (obfuscated). `line` is 1-based; 0
/// when the frame has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JvmFrame {
    pub class: String,
    pub method: String,
    pub line: u32,
    pub file: Option<String>,
}

/// A JVM exception: class and message, as printed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JvmThrowable {
    pub class: String,
    pub message: Option<String>,
}

/// What happened to one frame. A request never fails because of one frame: each frame says
/// its own status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameStatus {
    /// Resolved to an original location.
    Resolved,
    /// No artifact matches the frame's identity (debug id, or service + version + URL).
    MissingArtifact,
    /// An artifact matched but its index cannot be read.
    MalformedArtifact,
    /// The artifact has no mapping at this position (outside the file, or an unmapped span).
    OutOfRange,
    /// The frame itself is unusable (line or column 0, no URL).
    InvalidFrame,
    /// The frame's platform is not resolved by this version of symx.
    UnsupportedPlatform,
    /// Runtime or browser code no artifact can describe (`node:internal/...`,
    /// `<anonymous>`, `native`, `[native code]`, browser extensions): not looked up.
    Skipped,
}

impl FrameStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::MissingArtifact => "missing_artifact",
            Self::MalformedArtifact => "malformed_artifact",
            Self::OutOfRange => "out_of_range",
            Self::InvalidFrame => "invalid_frame",
            Self::UnsupportedPlatform => "unsupported_platform",
            Self::Skipped => "skipped",
        }
    }
}

/// One original frame. Lines and columns are 1-based.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedFrame {
    /// Original source file, with the map's `sourceRoot` applied.
    pub source: String,
    /// 1-based original line.
    pub line: u32,
    /// 1-based original column.
    pub column: u32,
    /// The original name of the identifier at the position (the map's `names` entry).
    pub symbol: Option<String>,
    /// The original name of the enclosing function.
    pub function: Option<String>,
    /// Up to N source lines before `context_line`, oldest first.
    pub pre_context: Vec<String>,
    /// The source line itself, when the map embeds sources.
    pub context_line: Option<String>,
    /// Up to N source lines after `context_line`.
    pub post_context: Vec<String>,
    /// Native: this frame was inlined into the next one.
    pub inlined: bool,
    /// Native: the symbol as stored (mangled), when it differs from `function`.
    pub mangled: Option<String>,
    /// Native: the full signature with its argument list, when known (PDB type information,
    /// demangled C++ names); `function` is the name as llvm-symbolizer prints it.
    pub signature: Option<String>,
    /// Native: offset of the address into the function (outermost frame of a chain).
    pub function_offset: Option<u64>,
    /// JVM: the original class.
    pub class_name: Option<String>,
    /// The line in the repository the release was built from, when repository metadata
    /// tracks this file.
    pub source_link: Option<SourceLink>,
    /// Unity IL2CPP: the C# file and line the C++ location was generated from.
    pub managed_source: Option<String>,
    pub managed_line: u32,
}

/// A link from a resolved frame to its line in a repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLink {
    /// The repository URL, normalised to https.
    pub repository_url: String,
    pub commit: String,
    /// The repository-relative path of the tracked file.
    pub path: String,
    pub line: u32,
    /// A browsable URL of the line (GitHub, GitLab, Bitbucket, Azure DevOps layouts).
    pub url: String,
}

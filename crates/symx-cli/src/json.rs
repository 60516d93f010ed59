//! JSON in and out of the CLI: requests read from files, answers printed with `--json`.
//! Field names follow the proto (and so the Datadog documents).

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Value, json};
use symx_proto::v1 as pb;

fn ts(t: &Option<prost_types::Timestamp>) -> Value {
    match t {
        Some(t) => json!(format_rfc3339(t.seconds, t.nanos)),
        None => Value::Null,
    }
}

pub use symx_types::time::format_rfc3339;

pub fn kind_name(k: i32) -> &'static str {
    use pb::MapKind as K;
    match K::try_from(k).unwrap_or(K::Unspecified) {
        K::Unspecified => "unknown",
        K::Js => "js",
        K::React => "react",
        K::Jvm => "jvm",
        K::Ios => "ios",
        K::Flutter => "flutter",
        K::Ndk => "ndk",
        K::Elf => "elf",
        K::Pe => "pe",
        K::Il2cpp => "il2cpp",
        K::Repository => "repository",
    }
}

pub fn status_name(s: i32) -> &'static str {
    use pb::FrameStatus as S;
    match S::try_from(s).unwrap_or(S::Unspecified) {
        S::Unspecified => "unspecified",
        S::Resolved => "resolved",
        S::MissingArtifact => "missing_artifact",
        S::MalformedArtifact => "malformed_artifact",
        S::OutOfRange => "out_of_range",
        S::InvalidFrame => "invalid_frame",
        S::UnsupportedPlatform => "unsupported_platform",
        S::Skipped => "skipped",
    }
}

pub fn artifact(a: &pb::Artifact) -> Value {
    json!({
        "id": a.id,
        "mapkind": kind_name(a.mapkind),
        "created_at": ts(&a.create_time),
        "deleted_at": ts(&a.delete_time),
        "size": a.size_bytes,
        "debug_id": (!a.debug_id.is_empty()).then_some(&a.debug_id),
        "attributes": a.attributes,
    })
}

pub fn artifact_line(a: &pb::Artifact) -> String {
    let attrs = &a.attributes;
    let what = match kind_name(a.mapkind) {
        "js" => format!(
            "{} {} {}",
            attrs.get("service").map(String::as_str).unwrap_or("-"),
            attrs.get("version").map(String::as_str).unwrap_or("-"),
            attrs
                .get("minified_url")
                .or(attrs.get("absolute_path"))
                .map(String::as_str)
                .unwrap_or("-")
        ),
        _ => {
            let mut parts: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.truncate(4);
            parts.join(" ")
        }
    };
    let deleted = if a.delete_time.is_some() {
        " (deleted)"
    } else {
        ""
    };
    format!(
        "{}  {}  {} bytes  {what}{deleted}",
        a.id,
        kind_name(a.mapkind),
        a.size_bytes
    )
}

pub fn source_map_file(f: &pb::SourceMapFile) -> Value {
    json!({
        "data": {
            "id": f.id,
            "type": "sourcemap_files",
            "attributes": {
                "file": f.file,
                "mappings": f.mappings,
                "minifiedLineLengths": f.minified_line_lengths,
                "names": f.names,
                "sourceRoot": f.source_root,
                "sources": f.sources,
                "sourcesContent": f.sources_content.iter().map(|c| c.content.clone()).collect::<Vec<_>>(),
                "version": f.version,
            }
        }
    })
}

/// A resolved frame's platform detail, flattened (the CLI's output keeps one flat object per
/// frame, whatever the platform).
#[derive(Default)]
pub struct Detail<'a> {
    pub symbol: &'a str,
    pub mangled: &'a str,
    pub signature: &'a str,
    pub function_offset: Option<u64>,
    pub class_name: &'a str,
    pub managed: Option<&'a pb::ManagedLocation>,
}

pub fn detail(f: &pb::ResolvedFrame) -> Detail<'_> {
    use pb::resolved_frame::Detail as D;
    match &f.detail {
        Some(D::Js(js)) => Detail {
            symbol: &js.symbol,
            ..Detail::default()
        },
        Some(D::Native(n)) => Detail {
            mangled: &n.mangled,
            signature: &n.signature,
            function_offset: n.function_offset,
            managed: n.managed.as_ref(),
            ..Detail::default()
        },
        Some(D::Jvm(j)) => Detail {
            class_name: &j.class_name,
            ..Detail::default()
        },
        None => Detail::default(),
    }
}

/// One answer as the CLI prints it: serialized straight from the response, no JSON tree in
/// between (fields in alphabetical order, as the output has always had them).
#[derive(Serialize)]
pub struct FrameResultJson<'a> {
    ambiguous: bool,
    artifact_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    candidates: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a str>,
    frames: Vec<ResolvedFrameJson<'a>>,
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    status: &'static str,
}

#[derive(Serialize)]
struct ResolvedFrameJson<'a> {
    class_name: Option<&'a str>,
    colno: u32,
    context_line: Option<&'a str>,
    function: Option<&'a str>,
    function_offset: Option<u64>,
    inlined: bool,
    lineno: u32,
    managed_lineno: Option<u32>,
    managed_source: Option<&'a str>,
    mangled: Option<&'a str>,
    post_context: &'a [String],
    pre_context: &'a [String],
    signature: Option<&'a str>,
    source: &'a str,
    source_link: Option<SourceLinkJson<'a>>,
    symbol: Option<&'a str>,
}

#[derive(Serialize)]
struct SourceLinkJson<'a> {
    commit: &'a str,
    line: u32,
    path: &'a str,
    repository_url: &'a str,
    url: &'a str,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

pub fn frame_result(r: &pb::FrameResult) -> FrameResultJson<'_> {
    FrameResultJson {
        ambiguous: r.ambiguous,
        artifact_id: non_empty(&r.artifact_id),
        candidates: &r.candidates,
        explanation: non_empty(&r.explanation),
        fix: non_empty(&r.fix),
        message: non_empty(&r.message),
        reason: non_empty(&r.reason),
        status: status_name(r.status),
        frames: r
            .frames
            .iter()
            .map(|f| {
                let d = detail(f);
                ResolvedFrameJson {
                    class_name: non_empty(d.class_name),
                    colno: f.column,
                    context_line: f.context_line.as_deref(),
                    function: non_empty(&f.function),
                    function_offset: d.function_offset,
                    inlined: f.inlined,
                    lineno: f.line,
                    managed_lineno: d.managed.map(|m| m.line),
                    managed_source: d.managed.map(|m| m.source.as_str()),
                    mangled: non_empty(d.mangled),
                    post_context: &f.post_context,
                    pre_context: &f.pre_context,
                    signature: non_empty(d.signature),
                    source: &f.source,
                    source_link: f.source_link.as_ref().map(|l| SourceLinkJson {
                        commit: &l.commit,
                        line: l.line,
                        path: &l.path,
                        repository_url: &l.repository_url,
                        url: &l.url,
                    }),
                    symbol: non_empty(d.symbol),
                }
            })
            .collect(),
    }
}

pub fn result_line(r: &pb::FrameResult) -> String {
    match r.frames.first() {
        Some(f) if r.status == pb::FrameStatus::Resolved as i32 => {
            let name = if f.function.is_empty() {
                detail(f).symbol
            } else {
                &f.function
            };
            format!("at {name} ({}:{}:{})", f.source, f.line, f.column)
        }
        _ => format!("[{}] {}", status_name(r.status), r.message),
    }
}

/// A symbolicate answer as the CLI prints it (see [`FrameResultJson`]).
#[derive(Serialize)]
pub struct ResponseJson<'a> {
    stacktraces: Vec<StackTraceJson<'a>>,
}

#[derive(Serialize)]
struct StackTraceJson<'a> {
    frames: Vec<FrameResultJson<'a>>,
}

pub fn response(r: &pb::SymbolicateResponse) -> ResponseJson<'_> {
    ResponseJson {
        stacktraces: r
            .stacktraces
            .iter()
            .map(|st| StackTraceJson {
                frames: st.frames.iter().map(frame_result).collect(),
            })
            .collect(),
    }
}

/// Writes `value` as one line of JSON to standard output, through one buffer (standard
/// output is line-buffered: a large answer would otherwise be searched for newlines and
/// written piece by piece).
pub fn print(value: &impl Serialize) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An address as JSON gives it: a number, or a string in hex (`0x1a2b`) or decimal.
fn address(v: &Value, key: &str) -> Result<Option<u64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_u64()),
        Some(Value::String(s)) => {
            let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed
                .map(Some)
                .map_err(|_| anyhow::anyhow!("`{key}` is not an address: {s}"))
        }
        Some(other) => bail!("`{key}` is not an address: {other}"),
    }
}

fn frame_from_json(v: &Value) -> Result<pb::Frame> {
    if let Some(instruction_addr) = address(v, "instruction_addr")? {
        return Ok(pb::Frame {
            frame: Some(pb::frame::Frame::Native(pb::NativeFrame {
                debug_id: str_field(v, "debug_id").unwrap_or_default().to_owned(),
                code_id: str_field(v, "code_id").unwrap_or_default().to_owned(),
                image_addr: address(v, "image_addr")?.unwrap_or(0),
                instruction_addr,
                exact: v.get("exact").and_then(Value::as_bool),
                // Sentry's `package`, or `module`/`filename` as other reporters name it.
                module: str_field(v, "package")
                    .or_else(|| str_field(v, "module"))
                    .unwrap_or_default()
                    .to_owned(),
            })),
        });
    }
    // JVM: `{"class_name": "a.b", "method": "c", "lineno": 12}` (Sentry calls the class
    // `module`).
    if let Some(class) = str_field(v, "class_name").or_else(|| str_field(v, "module")) {
        let method = str_field(v, "method")
            .or_else(|| str_field(v, "function"))
            .unwrap_or_default();
        return Ok(pb::Frame {
            frame: Some(pb::frame::Frame::Jvm(pb::JvmFrame {
                class_name: class.to_owned(),
                method: method.to_owned(),
                line: v
                    .get("lineno")
                    .and_then(Value::as_u64)
                    .map(|n| n.min(u32::MAX as u64) as u32)
                    .unwrap_or(0),
                file: str_field(v, "filename").unwrap_or_default().to_owned(),
            })),
        });
    }
    let url = str_field(v, "abs_path")
        .or_else(|| str_field(v, "url"))
        .or_else(|| str_field(v, "filename"))
        .unwrap_or_default();
    let num = |k: &str, alt: &str| {
        v.get(k)
            .or_else(|| v.get(alt))
            .and_then(Value::as_u64)
            .map(|n| n.min(u32::MAX as u64) as u32)
    };
    // Hermes: `{"abs_path": "index.android.bundle", "bytecode_offset": 1234}`, or with
    // `hermes_function_id` (a crash report's FunctionID and ByteCodeOffset).
    let bytecode_offset = num("bytecode_offset", "ByteCodeOffset");
    let hermes_function_id = num("hermes_function_id", "FunctionID");
    let (line, col) = match (
        num("lineno", "line"),
        num("colno", "column"),
        bytecode_offset,
    ) {
        (Some(line), Some(col), _) => (line, col),
        (line, _, Some(_)) => (line.unwrap_or(1), 0),
        _ => bail!("frame {v} needs `lineno` and `colno` (1-based), or a Hermes `bytecode_offset`"),
    };
    Ok(pb::Frame {
        frame: Some(pb::frame::Frame::Js(pb::JsFrame {
            abs_path: url.to_owned(),
            line,
            column: col,
            function: str_field(v, "function").unwrap_or_default().to_owned(),
            debug_id: str_field(v, "debug_id").unwrap_or_default().to_owned(),
            bytecode_offset,
            hermes_function_id,
        })),
    })
}

/// Request-level values (`symx symbolicate --service --version --variant --build-id
/// --git-commit-sha`): defaults for every stack trace that does not set its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Defaults<'a> {
    pub service: Option<&'a str>,
    pub version: Option<&'a str>,
    pub variant: Option<&'a str>,
    pub build_id: Option<&'a str>,
    pub git_commit_sha: Option<&'a str>,
}

fn stacktrace_from_json(v: &Value, d: Defaults<'_>) -> Result<pb::StackTrace> {
    let field = |key: &str, default: Option<&str>| {
        str_field(v, key)
            .filter(|s| !s.is_empty())
            .or(default)
            .unwrap_or_default()
            .to_owned()
    };
    let frames = match v.get("frames").and_then(Value::as_array) {
        Some(a) => a,
        None => bail!("a stack trace needs a `frames` array"),
    };
    Ok(pb::StackTrace {
        git_commit_sha: field("git_commit_sha", d.git_commit_sha),
        git_repository_url: field("git_repository_url", None),
        variant: field("variant", d.variant),
        build_id: field("build_id", d.build_id),
        exception: v.get("exception").map(|e| pb::JvmThrowable {
            class_name: str_field(e, "class_name")
                .or_else(|| str_field(e, "type"))
                .unwrap_or_default()
                .to_owned(),
            message: str_field(e, "message")
                .or_else(|| str_field(e, "value"))
                .unwrap_or_default()
                .to_owned(),
        }),
        service: field("service", d.service),
        version: field("version", d.version),
        frames: frames.iter().map(frame_from_json).collect::<Result<_>>()?,
    })
}

/// Reads a request from JSON: `{"stacktraces": [...], "context_lines": n, "debug_ids": {}}`,
/// a single `{"frames": [...]}`, or a bare array of frames. `service`/`version` fill in what
/// the JSON leaves out.
pub fn request_from_json<'a>(
    v: &'a Value,
    defaults: Defaults<'a>,
) -> Result<pb::SymbolicateRequest> {
    // Top-level fields of the document are defaults for its stack traces too.
    fn pick<'a>(v: &'a Value, key: &str, d: Option<&'a str>) -> Option<&'a str> {
        str_field(v, key).filter(|s| !s.is_empty()).or(d)
    }
    let top = |key: &str, d: Option<&'a str>| pick(v, key, d);
    let d = Defaults {
        service: top("service", defaults.service),
        version: top("version", defaults.version),
        variant: top("variant", defaults.variant),
        build_id: top("build_id", defaults.build_id),
        git_commit_sha: top("git_commit_sha", defaults.git_commit_sha),
    };
    let stacktraces = if let Some(a) = v.as_array() {
        vec![stacktrace_from_json(&json!({ "frames": a }), d)?]
    } else if let Some(sts) = v.get("stacktraces").and_then(Value::as_array) {
        sts.iter()
            .map(|st| stacktrace_from_json(st, d))
            .collect::<Result<_>>()?
    } else if v.get("frames").is_some() {
        vec![stacktrace_from_json(v, d)?]
    } else {
        bail!("expected `stacktraces`, `frames`, or an array of frames");
    };
    let debug_ids = v
        .get("debug_ids")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(pb::SymbolicateRequest {
        stacktraces,
        context_lines: v
            .get("context_lines")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(u32::MAX as u64) as u32,
        debug_ids,
        explain: v.get("explain").and_then(Value::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_three_shapes() {
        let a = request_from_json(
            &json!([{"abs_path": "a.js", "lineno": 1, "colno": 2}]),
            Defaults {
                service: Some("s"),
                version: Some("v"),
                ..Defaults::default()
            },
        )
        .expect("array");
        assert_eq!(a.stacktraces[0].service, "s");
        let b = request_from_json(
            &json!({"frames": [{"url": "a.js", "line": 1, "column": 2}], "service": "x"}),
            Defaults::default(),
        )
        .expect("frames");
        assert_eq!(b.stacktraces[0].service, "x");
        let c = request_from_json(
            &json!({"stacktraces": [{"frames": []}], "context_lines": 3}),
            Defaults::default(),
        )
        .expect("full");
        assert_eq!(c.context_lines, 3);
        assert!(request_from_json(&json!({"nope": 1}), Defaults::default()).is_err());
        assert!(request_from_json(&json!([{"abs_path": "a.js"}]), Defaults::default()).is_err());
        let n = request_from_json(
            &json!([{"code_id": "ab", "image_addr": "0x1000", "instruction_addr": 4200}]),
            Defaults::default(),
        )
        .expect("native");
        match &n.stacktraces[0].frames[0].frame {
            Some(pb::frame::Frame::Native(f)) => {
                assert_eq!((f.image_addr, f.instruction_addr), (0x1000, 4200))
            }
            other => panic!("not native: {other:?}"),
        }
        assert!(
            request_from_json(&json!([{"instruction_addr": "0xzz"}]), Defaults::default()).is_err()
        );
    }

    /// `symx symbolicate --variant --build-id ...` are defaults for JSON stack traces too;
    /// what a stack trace says wins.
    #[test]
    fn request_level_flags_apply_to_json_input() {
        let d = Defaults {
            service: Some("shop"),
            version: Some("1.0"),
            variant: Some("debug"),
            build_id: Some("b-1"),
            git_commit_sha: Some("abc"),
        };
        let r = request_from_json(
            &json!({"stacktraces": [
                {"frames": []},
                {"frames": [], "variant": "release", "build_id": "b-2"}
            ]}),
            d,
        )
        .expect("request");
        let st = &r.stacktraces;
        assert_eq!(
            (
                st[0].service.as_str(),
                st[0].variant.as_str(),
                st[0].build_id.as_str()
            ),
            ("shop", "debug", "b-1")
        );
        assert_eq!(st[0].git_commit_sha, "abc");
        assert_eq!(
            (st[1].variant.as_str(), st[1].build_id.as_str()),
            ("release", "b-2")
        );
    }
}

/// The missing-artifact report as `symx --json missing` prints it.
#[derive(Serialize)]
pub struct MissingJson<'a> {
    missing: Vec<MissingLookupJson<'a>>,
    total: u64,
}

#[derive(Serialize)]
struct MissingLookupJson<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    service: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    url: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    debug_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    code_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    module: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    build_id: &'a str,
    count: u64,
    first_seen_ms: u64,
    last_seen_ms: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    fix: &'a str,
}

pub fn missing(r: &pb::ListMissingResponse) -> MissingJson<'_> {
    MissingJson {
        missing: r
            .missing
            .iter()
            .map(|m| MissingLookupJson {
                kind: &m.kind,
                service: &m.service,
                version: &m.version,
                url: &m.url,
                debug_id: &m.debug_id,
                code_id: &m.code_id,
                module: &m.module,
                variant: &m.variant,
                build_id: &m.build_id,
                count: m.count,
                first_seen_ms: m.first_seen_ms,
                last_seen_ms: m.last_seen_ms,
                fix: &m.fix,
            })
            .collect(),
        total: r.total,
    }
}

/// One line per missing lookup: what was asked and how often.
pub fn missing_line(m: &pb::MissingLookup) -> String {
    let mut what: Vec<String> = Vec::new();
    for (k, v) in [
        ("service", &m.service),
        ("version", &m.version),
        ("variant", &m.variant),
        ("url", &m.url),
        ("debug_id", &m.debug_id),
        ("code_id", &m.code_id),
        ("module", &m.module),
        ("build_id", &m.build_id),
    ] {
        if !v.is_empty() {
            what.push(format!("{k}={v}"));
        }
    }
    format!(
        "[{}] {}  ({} frames, last {} ago)",
        m.kind,
        what.join(" "),
        m.count,
        ago(m.last_seen_ms)
    )
}

fn ago(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let s = now.saturating_sub(ms) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

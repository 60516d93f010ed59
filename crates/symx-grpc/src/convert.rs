//! Proto <-> domain conversion. Empty proto strings mean "absent".

use crate::status;
use symx_proto::v1 as pb;
use symx_service::{
    ArtifactView, Filters, Frame, FrameResult, ServiceError, StackTrace, SymbolicateRequest,
    SymbolicateResponse,
};
use symx_types::{
    ArtifactKind, FrameStatus, JsFrame, JvmFrame, JvmThrowable, NativeFrame, UploadMetadata,
    UploadType,
};
use tonic::Status;

fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

pub fn upload_type_from_pb(t: i32) -> Result<UploadType, ServiceError> {
    use pb::UploadType as P;
    Ok(match P::try_from(t).unwrap_or(P::Unspecified) {
        P::Unspecified => {
            return Err(ServiceError::invalid(
                "type",
                "Missing required field: type",
            ));
        }
        P::JsSourcemap => UploadType::JsSourcemap,
        P::ReactNativeSourcemap => UploadType::ReactNativeSourcemap,
        P::JvmMappingFile => UploadType::JvmMappingFile,
        P::IosSymbols => UploadType::IosSymbols,
        P::FlutterSymbolFile => UploadType::FlutterSymbolFile,
        P::NdkSymbolFile => UploadType::NdkSymbolFile,
        P::Il2cppMappingFile => UploadType::Il2cppMappingFile,
        P::ElfSymbolFile => UploadType::ElfSymbolFile,
        P::PeSymbolFile => UploadType::PeSymbolFile,
        P::Repository => UploadType::Repository,
    })
}

pub fn metadata_from_pb(m: pb::UploadMetadata) -> Result<UploadMetadata, ServiceError> {
    let mut out = UploadMetadata::new(upload_type_from_pb(m.r#type)?);
    out.overwrite = m.overwrite;
    out.service = opt(m.service);
    out.version = opt(m.version);
    out.cli_version = opt(m.cli_version);
    out.git_commit_sha = opt(m.git_commit_sha);
    out.git_repository_url = opt(m.git_repository_url);
    out.minified_url = opt(m.minified_url);
    out.project_path = opt(m.project_path);
    out.build_number = opt(m.build_number);
    out.bundle_name = opt(m.bundle_name);
    out.bundle_version = opt(m.bundle_version);
    out.debug_id = opt(m.debug_id);
    out.platform = opt(m.platform);
    out.build_id = opt(m.build_id);
    out.variant = opt(m.variant);
    out.uuids = opt(m.uuids);
    out.arch = opt(m.arch);
    out.filename = opt(m.filename);
    out.file_hash = opt(m.file_hash);
    out.gnu_build_id = opt(m.gnu_build_id);
    out.go_build_id = opt(m.go_build_id);
    out.origin = opt(m.origin);
    out.origin_version = opt(m.origin_version);
    out.symbol_source = opt(m.symbol_source);
    out.pdb_sig = opt(m.pdb_sig);
    out.pdb_age = m.pdb_age;
    Ok(out)
}

pub fn kind_to_pb(k: ArtifactKind) -> pb::MapKind {
    use pb::MapKind as P;
    match k {
        ArtifactKind::Js => P::Js,
        ArtifactKind::React => P::React,
        ArtifactKind::Jvm => P::Jvm,
        ArtifactKind::Ios => P::Ios,
        ArtifactKind::Flutter => P::Flutter,
        ArtifactKind::Ndk => P::Ndk,
        ArtifactKind::Elf => P::Elf,
        ArtifactKind::Pe => P::Pe,
        ArtifactKind::Il2cpp => P::Il2cpp,
        ArtifactKind::Repository => P::Repository,
    }
}

/// `mapkind`: unspecified means js for list (the list document's default); delete requires it.
pub fn kind_from_pb(k: i32, default_js: bool) -> Result<ArtifactKind, Status> {
    use pb::MapKind as P;
    let Ok(p) = P::try_from(k) else {
        return Err(status(ServiceError::invalid(
            "mapkind",
            format!("Invalid field: mapkind {k} is not a known kind"),
        )));
    };
    Ok(match p {
        P::Unspecified if default_js => ArtifactKind::Js,
        P::Unspecified => {
            return Err(status(ServiceError::invalid(
                "mapkind",
                "Missing required field: mapkind",
            )));
        }
        P::Js => ArtifactKind::Js,
        P::React => ArtifactKind::React,
        P::Jvm => ArtifactKind::Jvm,
        P::Ios => ArtifactKind::Ios,
        P::Flutter => ArtifactKind::Flutter,
        P::Ndk => ArtifactKind::Ndk,
        P::Elf => ArtifactKind::Elf,
        P::Pe => ArtifactKind::Pe,
        P::Il2cpp => ArtifactKind::Il2cpp,
        P::Repository => ArtifactKind::Repository,
    })
}

/// The filters of a list or delete request (names and rules: `symx_types::LIST_FILTERS`).
pub fn filters_from_pb(filters: Vec<pb::Filter>) -> Result<Filters, Status> {
    let mut out = Filters::default();
    for f in filters {
        for v in f.values {
            out.add(&f.name, v).map_err(status)?;
        }
    }
    Ok(out)
}

pub(crate) fn timestamp(ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

pub fn artifact_to_pb(v: &ArtifactView) -> pb::Artifact {
    pb::Artifact {
        id: v.id.to_string(),
        mapkind: kind_to_pb(v.kind) as i32,
        create_time: Some(timestamp(v.created_at_ms)),
        delete_time: v.deleted_at_ms.map(timestamp),
        size_bytes: v.size as i64,
        debug_id: v.debug_id.clone().unwrap_or_default(),
        attributes: v.attributes.clone().into_iter().collect(),
    }
}

/// The platform of each input frame, per stack trace: which detail its answers carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Js,
    Native,
    Jvm,
    Other,
}

/// The platforms of a request's frames, in order.
pub fn platforms_of(r: &pb::SymbolicateRequest) -> Vec<Vec<Platform>> {
    r.stacktraces
        .iter()
        .map(|st| {
            st.frames
                .iter()
                .map(|f| match f.frame {
                    Some(pb::frame::Frame::Js(_)) => Platform::Js,
                    Some(pb::frame::Frame::Native(_)) => Platform::Native,
                    Some(pb::frame::Frame::Jvm(_)) => Platform::Jvm,
                    None => Platform::Other,
                })
                .collect()
        })
        .collect()
}

pub fn symbolicate_from_pb(r: pb::SymbolicateRequest) -> SymbolicateRequest {
    SymbolicateRequest {
        stacktraces: r
            .stacktraces
            .into_iter()
            .map(|st| StackTrace {
                service: opt(st.service),
                version: opt(st.version),
                variant: opt(st.variant),
                build_id: opt(st.build_id),
                git_commit_sha: opt(st.git_commit_sha),
                git_repository_url: opt(st.git_repository_url),
                exception: st.exception.map(|e| JvmThrowable {
                    class: e.class_name,
                    message: opt(e.message),
                }),
                frames: st
                    .frames
                    .into_iter()
                    .map(|f| match f.frame {
                        Some(pb::frame::Frame::Js(js)) => Frame::Js(JsFrame {
                            url: js.abs_path,
                            line: js.line,
                            column: js.column,
                            function: opt(js.function),
                            debug_id: opt(js.debug_id),
                            bytecode_offset: js.bytecode_offset,
                            hermes_function_id: js.hermes_function_id,
                        }),
                        Some(pb::frame::Frame::Native(n)) => Frame::Native(NativeFrame {
                            debug_id: opt(n.debug_id),
                            code_id: opt(n.code_id),
                            image_addr: n.image_addr,
                            instruction_addr: n.instruction_addr,
                            exact: n.exact,
                            module: opt(n.module),
                        }),
                        Some(pb::frame::Frame::Jvm(j)) => Frame::Jvm(JvmFrame {
                            class: j.class_name,
                            method: j.method,
                            line: j.line,
                            file: opt(j.file),
                        }),
                        None => Frame::Unsupported {
                            platform: "unknown".into(),
                        },
                    })
                    .collect(),
            })
            .collect(),
        context_lines: r.context_lines,
        debug_ids: r.debug_ids.into_iter().collect(),
        explain: r.explain,
    }
}

fn status_to_pb(s: FrameStatus) -> pb::FrameStatus {
    use pb::FrameStatus as P;
    match s {
        FrameStatus::Resolved => P::Resolved,
        FrameStatus::MissingArtifact => P::MissingArtifact,
        FrameStatus::MalformedArtifact => P::MalformedArtifact,
        FrameStatus::OutOfRange => P::OutOfRange,
        FrameStatus::InvalidFrame => P::InvalidFrame,
        FrameStatus::UnsupportedPlatform => P::UnsupportedPlatform,
        FrameStatus::Skipped => P::Skipped,
    }
}

fn frame_result_to_pb(r: FrameResult, platform: Platform) -> pb::FrameResult {
    pb::FrameResult {
        status: status_to_pb(r.status) as i32,
        artifact_id: r.artifact_id.map(|i| i.to_string()).unwrap_or_default(),
        message: r.message.unwrap_or_default(),
        frames: r
            .frames
            .into_iter()
            .map(|f| pb::ResolvedFrame {
                detail: Some(match platform {
                    Platform::Native => pb::resolved_frame::Detail::Native(pb::NativeDetail {
                        mangled: f.mangled.unwrap_or_default(),
                        function_offset: f.function_offset,
                        signature: f.signature.unwrap_or_default(),
                        managed: f.managed_source.map(|source| pb::ManagedLocation {
                            source,
                            line: f.managed_line,
                        }),
                    }),
                    Platform::Jvm => pb::resolved_frame::Detail::Jvm(pb::JvmDetail {
                        class_name: f.class_name.unwrap_or_default(),
                    }),
                    Platform::Js | Platform::Other => {
                        pb::resolved_frame::Detail::Js(pb::JsDetail {
                            symbol: f.symbol.unwrap_or_default(),
                        })
                    }
                }),
                inlined: f.inlined,
                source: f.source,
                line: f.line,
                column: f.column,
                function: f.function.unwrap_or_default(),
                pre_context: f.pre_context,
                context_line: f.context_line,
                post_context: f.post_context,
                source_link: f.source_link.map(|l| pb::SourceLink {
                    repository_url: l.repository_url,
                    commit: l.commit,
                    path: l.path,
                    line: l.line,
                    url: l.url,
                }),
            })
            .collect(),
        ambiguous: r.ambiguous,
        reason: r.reason.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        explanation: r
            .explanation
            .as_ref()
            .map(|e| e.text.clone())
            .unwrap_or_default(),
        fix: r
            .explanation
            .as_ref()
            .and_then(|e| e.fix.clone())
            .unwrap_or_default(),
        candidates: r.explanation.map(|e| e.candidates).unwrap_or_default(),
    }
}

/// One entry of the missing-artifact report.
pub fn missing_to_pb(e: &symx_service::MissingEntry) -> pb::MissingLookup {
    let k = &e.key;
    pb::MissingLookup {
        kind: k.kind.clone(),
        service: k.service.clone(),
        version: k.version.clone(),
        url: k.url.clone(),
        debug_id: k.debug_id.clone(),
        code_id: k.code_id.clone(),
        module: k.module.clone(),
        variant: k.variant.clone(),
        build_id: k.build_id.clone(),
        count: e.seen.count,
        first_seen_ms: e.seen.first_seen_ms,
        last_seen_ms: e.seen.last_seen_ms,
        fix: k.fix().unwrap_or_default(),
    }
}

/// The answer to a request whose frames had `platforms` ([`platforms_of`]).
pub fn symbolicate_to_pb(
    r: SymbolicateResponse,
    platforms: &[Vec<Platform>],
) -> pb::SymbolicateResponse {
    pb::SymbolicateResponse {
        stacktraces: r
            .stacktraces
            .into_iter()
            .zip(r.exceptions.into_iter().chain(std::iter::repeat(None)))
            .enumerate()
            .map(|(si, (frames, exception))| pb::SymbolicatedStackTrace {
                frames: frames
                    .into_iter()
                    .enumerate()
                    .map(|(fi, f)| {
                        let platform = platforms
                            .get(si)
                            .and_then(|p| p.get(fi))
                            .copied()
                            .unwrap_or(Platform::Other);
                        frame_result_to_pb(f, platform)
                    })
                    .collect(),
                exception: exception.map(|e| pb::JvmThrowable {
                    class_name: e.class,
                    message: e.message.unwrap_or_default(),
                }),
            })
            .collect(),
    }
}

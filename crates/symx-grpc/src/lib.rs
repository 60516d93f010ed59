//! The gRPC edge: tonic services over [`symx_service::Symx`], proto <-> domain conversion,
//! and the one mapping from [`ErrorCode`] to `tonic::Code`. Also health and reflection.
//!
//! No use-case logic lives here: a handler converts, calls the service, converts back.

mod convert;

use convert::*;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use symx_proto::v1 as pb;
use symx_proto::v1::artifact_service_server::{ArtifactService, ArtifactServiceServer};
use symx_proto::v1::key_service_server::{KeyService, KeyServiceServer};
use symx_proto::v1::symbolication_service_server::{
    SymbolicationService, SymbolicationServiceServer,
};
use symx_service::{Admission, Principal, Scope, ServiceError, SourceMapSelector, Symx};
use symx_types::{ErrorCode, Tenant};
use tonic::{Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

/// Largest gRPC message accepted: symbolicate batches of thousands of frames and upload
/// chunks fit well under it. Upload chunks should stay around 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Reprocess events worked on at once per stream; more wait in gRPC flow control.
const REPROCESS_IN_FLIGHT: usize = 8;

/// The one mapping from error codes to gRPC codes.
pub fn code_of(code: ErrorCode) -> tonic::Code {
    match code {
        ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
        ErrorCode::NotFound => tonic::Code::NotFound,
        ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
        ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorCode::ResourceExhausted | ErrorCode::RateLimited | ErrorCode::Overloaded => {
            tonic::Code::ResourceExhausted
        }
        ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
        ErrorCode::Unavailable => tonic::Code::Unavailable,
        ErrorCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        ErrorCode::Internal => tonic::Code::Internal,
    }
}

/// Converts a service error to a status, logging server-side failures once, here. Every error
/// of this edge goes through it: the code from [`code_of`]; the field at fault, when there is
/// one, as a `google.rpc.BadRequest` field violation; the delay of a refusal as
/// `google.rpc.RetryInfo` and `retry-after` metadata (whole seconds).
pub fn status(e: ServiceError) -> Status {
    if e.code.is_client_error() {
        tracing::debug!(code = ?e.code, error = %e, "request rejected");
    } else {
        tracing::error!(code = ?e.code, error = %e, "request failed");
    }
    let code = code_of(e.code);
    let message = e.message_with_field();
    // Most errors carry neither: a plain status, no details header to encode.
    if e.field.is_none() && e.retry_after.is_none() {
        return Status::new(code, message);
    }
    let mut details = ErrorDetails::new();
    if let Some(field) = &e.field {
        details.add_bad_request_violation(field.clone(), e.message.clone());
    }
    let mut metadata = tonic::metadata::MetadataMap::new();
    if let Some(after) = e.retry_after {
        details.set_retry_info(Some(after));
        if let Ok(v) = after.as_secs().max(1).to_string().parse() {
            metadata.insert("retry-after", v);
        }
    }
    Status::with_error_details_and_metadata(code, message, details, metadata)
}

/// A request field at fault.
fn invalid(field: &str, message: impl Into<String>) -> Status {
    status(ServiceError::invalid(field, message))
}

/// The key a call presents: `authorization: Bearer <key>` or `x-api-key: <key>` metadata.
fn presented_key<T>(req: &Request<T>) -> Option<&str> {
    let md = req.metadata();
    md.get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
        })
        .or_else(|| md.get("x-api-key").and_then(|v| v.to_str().ok()))
}

/// Runs a unary call's work within `limits.request_timeout_secs` (DEADLINE_EXCEEDED after).
async fn within<T>(
    symx: &Symx,
    work: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let limit = std::time::Duration::from_secs(symx.config().limits.request_timeout_secs);
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => {
            symx.metrics()
                .rejections
                .with_label_values(&["grpc", "timeout"])
                .inc();
            Err(status(ServiceError::new(
                ErrorCode::DeadlineExceeded,
                format!("the request took longer than {} s", limit.as_secs()),
            )))
        }
    }
}

/// Authenticates a call, checks its scope and admits it past the limits.
async fn admit<T>(
    symx: &Symx,
    req: &Request<T>,
    scope: Scope,
    expensive: bool,
) -> Result<(Principal, Admission), Status> {
    let reject = |reason: &str| {
        symx.metrics()
            .rejections
            .with_label_values(&["grpc", reason])
            .inc();
    };
    let who = symx.authenticate(presented_key(req)).await.map_err(|e| {
        reject("unauthenticated");
        status(e)
    })?;
    who.require(scope).map_err(|e| {
        reject("forbidden");
        status(e)
    })?;
    let admission = symx.admit(&who, expensive).map_err(|r| {
        reject(r.reason());
        status(ServiceError::from(r))
    })?;
    Ok((who, admission))
}

/// The artifact API.
#[derive(Clone, Debug)]
pub struct ArtifactApi {
    symx: Symx,
}

/// The symbolication API.
#[derive(Clone, Debug)]
pub struct SymbolicationApi {
    symx: Symx,
}

#[tonic::async_trait]
impl ArtifactService for ArtifactApi {
    async fn upload(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Upload, true).await?;
        let tenant = who.tenant().clone();
        let mut stream = request.into_inner();
        let idle = std::time::Duration::from_secs(self.symx.config().limits.upload_idle_secs);
        let first = next_upload_message(&mut stream, idle)
            .await?
            .ok_or_else(|| invalid("metadata", "empty upload stream: send UploadMetadata first"))?;
        let Some(pb::upload_request::Payload::Metadata(meta)) = first.payload else {
            return Err(invalid(
                "metadata",
                "the first message of an upload must carry UploadMetadata",
            ));
        };
        let declared = meta.total_size_bytes;
        let meta = metadata_from_pb(meta).map_err(status)?;
        let mut session = self
            .symx
            .begin_upload(tenant, meta, declared)
            .await
            .map_err(status)?;
        while let Some(msg) = next_upload_message(&mut stream, idle).await? {
            match msg.payload {
                Some(pb::upload_request::Payload::Chunk(chunk)) => {
                    session
                        .write(&chunk.part, &chunk.data)
                        .await
                        .map_err(status)?;
                }
                Some(pb::upload_request::Payload::Metadata(_)) => {
                    return Err(invalid(
                        "metadata",
                        "UploadMetadata may only be sent once, in the first message",
                    ));
                }
                None => return Err(invalid("payload", "empty upload message")),
            }
        }
        let outcome = session.finish().await.map_err(status)?;
        Ok(Response::new(pb::UploadResponse {
            artifact: Some(artifact_to_pb(&outcome.artifact)),
            replaced_id: outcome.replaced.map(|i| i.to_string()).unwrap_or_default(),
            unchanged: outcome.unchanged,
        }))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Read, false).await?;
        let tenant = who.tenant().clone();
        let req = request.into_inner();
        let mut query = symx_service::ListQuery::new(kind_from_pb(req.mapkind, true)?);
        query.filters = filters_from_pb(req.filters)?;
        query.page_size = req.page_size;
        query.page_number = req.page_number;
        query.page_token = Some(req.page_token).filter(|t| !t.is_empty());
        query.include_deleted = req.include_deleted;
        let page = within(&self.symx, async {
            self.symx.list(tenant, query).await.map_err(status)
        })
        .await?;
        Ok(Response::new(pb::ListResponse {
            artifacts: page.artifacts.iter().map(artifact_to_pb).collect(),
            total_filtered_count: page.total_filtered_count as i64,
            has_more_results: page.has_more_results,
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_artifact(
        &self,
        request: Request<pb::GetArtifactRequest>,
    ) -> Result<Response<pb::Artifact>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Read, false).await?;
        let tenant = who.tenant().clone();
        let id = request.into_inner().id;
        let view = within(&self.symx, async {
            self.symx.artifact(tenant, &id).await.map_err(status)
        })
        .await?;
        Ok(Response::new(artifact_to_pb(&view)))
    }

    async fn get_source_map(
        &self,
        request: Request<pb::GetSourceMapRequest>,
    ) -> Result<Response<pb::SourceMapFile>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Read, false).await?;
        let tenant = who.tenant().clone();
        let selector = match request.into_inner().selector {
            Some(pb::get_source_map_request::Selector::File(f)) => {
                for (name, v) in [
                    ("filename", &f.filename),
                    ("service", &f.service),
                    ("version", &f.version),
                ] {
                    if v.is_empty() {
                        return Err(invalid(name, format!("Missing required field: {name}")));
                    }
                }
                SourceMapSelector::File {
                    filename: f.filename,
                    service: f.service,
                    version: f.version,
                }
            }
            Some(pb::get_source_map_request::Selector::DebugId(d)) if !d.is_empty() => {
                SourceMapSelector::DebugId(d)
            }
            _ => {
                return Err(invalid(
                    "selector",
                    "give either file (filename, service, version) or debug_id",
                ));
            }
        };
        let f = within(&self.symx, async {
            self.symx
                .get_sourcemap(tenant, selector)
                .await
                .map_err(status)
        })
        .await?;
        Ok(Response::new(pb::SourceMapFile {
            id: f.id,
            artifact_id: f.artifact_id.to_string(),
            file: f.file,
            mappings: f.mappings,
            minified_line_lengths: f.minified_line_lengths,
            names: f.names,
            source_root: f.source_root,
            sources: f.sources,
            sources_content: f
                .sources_content
                .into_iter()
                .map(|content| pb::SourceContent { content })
                .collect(),
            version: f.version,
        }))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Delete, false).await?;
        let tenant = who.tenant().clone();
        let req = request.into_inner();
        let kind = kind_from_pb(req.mapkind, false)?;
        let filters = filters_from_pb(req.filters)?;
        // A delete that outlives the timeout still completes (its write is one atomic batch);
        // only the answer is lost.
        let views = within(&self.symx, async {
            self.symx
                .delete(tenant, kind, filters, req.dry_run)
                .await
                .map_err(status)
        })
        .await?;
        Ok(Response::new(pb::DeleteResponse {
            artifacts: views.iter().map(artifact_to_pb).collect(),
            dry_run: req.dry_run,
        }))
    }

    async fn restore(
        &self,
        request: Request<pb::RestoreRequest>,
    ) -> Result<Response<pb::RestoreResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Delete, false).await?;
        let tenant = who.tenant().clone();
        let req = request.into_inner();
        let views = within(&self.symx, async {
            self.symx
                .restore(tenant, req.ids, req.overwrite)
                .await
                .map_err(status)
        })
        .await?;
        Ok(Response::new(pb::RestoreResponse {
            artifacts: views.iter().map(artifact_to_pb).collect(),
        }))
    }

    async fn list_missing(
        &self,
        request: Request<pb::ListMissingRequest>,
    ) -> Result<Response<pb::ListMissingResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Read, false).await?;
        let req = request.into_inner();
        if !matches!(req.kind.as_str(), "" | "js" | "native" | "jvm") {
            return Err(invalid(
                "kind",
                format!("kind `{}`: use js, native or jvm", req.kind),
            ));
        }
        let limit = match req.limit {
            0 => 100,
            n => (n as usize).min(10_000),
        };
        let query = symx_service::MissingQuery {
            kind: Some(req.kind).filter(|k| !k.is_empty()),
            service: Some(req.service).filter(|s| !s.is_empty()),
            since_ms: req.since_ms,
            limit,
        };
        let tenant = who.tenant().clone();
        let (entries, total) = within(&self.symx, async {
            self.symx.list_missing(tenant, query).await.map_err(status)
        })
        .await?;
        Ok(Response::new(pb::ListMissingResponse {
            missing: entries.iter().map(missing_to_pb).collect(),
            total: total as u64,
        }))
    }

    type WatchUploadsStream = WatchStream;

    async fn watch_uploads(
        &self,
        request: Request<pb::WatchUploadsRequest>,
    ) -> Result<Response<Self::WatchUploadsStream>, Status> {
        // A watch is long-lived: it holds no admission slot (it costs nothing while idle).
        let (who, admission) = admit(&self.symx, &request, Scope::Read, false).await?;
        drop(admission);
        let tenant = who.tenant().clone();
        let news = self.symx.watch_uploads();
        let out = futures::stream::unfold((news, tenant), |(mut news, tenant)| async move {
            loop {
                match news.recv().await {
                    Ok(n) if n.tenant == tenant => {
                        let event = pb::UploadEvent {
                            artifact: Some(artifact_to_pb(&symx_service::ArtifactView::new(
                                &n.tenant, &n.record,
                            ))),
                            resolved: n.resolved.iter().map(missing_to_pb).collect(),
                        };
                        return Some((Ok(event), (news, tenant)));
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let status = Status::resource_exhausted(format!(
                            "the watcher fell {n} uploads behind; watch again and list the                              missing report to catch up"
                        ));
                        return Some((Err(status), (news, tenant)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        // The stream ends after a lag error.
        let mut failed = false;
        let out = out.take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            futures::future::ready(go)
        });
        Ok(Response::new(Box::pin(out)))
    }

    type FetchDebugFileStream = DebugFileStream;

    async fn fetch_debug_file(
        &self,
        request: Request<pb::FetchDebugFileRequest>,
    ) -> Result<Response<Self::FetchDebugFileStream>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Read, false).await?;
        let tenant = who.tenant().clone();
        let req = request.into_inner();
        if req.id.trim().is_empty() {
            return Err(invalid("id", "an id is required"));
        }
        let query = symx_service::DebugFileQuery {
            module: symx_service::ModuleId::Any(req.id.trim().to_owned()),
            want: if req.source_bundle {
                symx_service::FileWanted::SourceBundle
            } else if req.executable {
                symx_service::FileWanted::Executable
            } else {
                symx_service::FileWanted::Debuginfo
            },
            name: None,
            section: Some(req.section).filter(|s| !s.is_empty()),
            source: Some(req.source).filter(|s| !s.is_empty()),
        };
        let found = within(&self.symx, async {
            self.symx
                .debug_file(tenant, query, "grpc")
                .await
                .map_err(status)
        })
        .await?
        .ok_or_else(|| Status::not_found(format!("no stored file has the id {}", req.id.trim())))?;
        let info = pb::DebugFileChunk {
            info: Some(pb::DebugFileInfo {
                artifact_id: found.artifact.to_string(),
                kind: found.kind.mapkind().to_owned(),
                name: found.name.clone(),
                size: found.size,
                etag: found.etag.clone(),
            }),
            data: Vec::new(),
        };
        // The bytes follow as the client takes them; an error ends the stream.
        let data = found.into_stream().map(|piece| {
            piece
                .map(|data| pb::DebugFileChunk {
                    info: None,
                    data: data.to_vec(),
                })
                .map_err(status)
        });
        Ok(Response::new(Box::pin(
            futures::stream::once(async { Ok(info) }).chain(data),
        )))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::UploadEvent, Status>> + Send>>;

type DebugFileStream = Pin<Box<dyn Stream<Item = Result<pb::DebugFileChunk, Status>> + Send>>;

type ReprocessStream = Pin<Box<dyn Stream<Item = Result<pb::ReprocessResult, Status>> + Send>>;

#[tonic::async_trait]
impl SymbolicationService for SymbolicationApi {
    async fn symbolicate(
        &self,
        request: Request<pb::SymbolicateRequest>,
    ) -> Result<Response<pb::SymbolicateResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Read, true).await?;
        let tenant = who.tenant().clone();
        let req = request.into_inner();
        let platforms = platforms_of(&req);
        let req = symbolicate_from_pb(req);
        let resp = within(&self.symx, async {
            self.symx.symbolicate(tenant, req).await.map_err(status)
        })
        .await?;
        Ok(Response::new(symbolicate_to_pb(resp, &platforms)))
    }

    type ReprocessStream = ReprocessStream;

    async fn reprocess(
        &self,
        request: Request<Streaming<pb::ReprocessEvent>>,
    ) -> Result<Response<Self::ReprocessStream>, Status> {
        // The stream holds its admission until it ends.
        let (who, admission) = admit(&self.symx, &request, Scope::Read, true).await?;
        let tenant = who.tenant().clone();
        let admission = std::sync::Arc::new(admission);
        let symx = self.symx.clone();
        let events = request.into_inner();
        let out = events
            .map(move |event| {
                let symx = symx.clone();
                let tenant = tenant.clone();
                let _held = admission.clone();
                async move {
                    let event = event?;
                    let req = event.request.unwrap_or_default();
                    let platforms = platforms_of(&req);
                    let req = symbolicate_from_pb(req);
                    Ok(match symx.symbolicate(tenant, req).await {
                        Ok(resp) => pb::ReprocessResult {
                            id: event.id,
                            response: Some(symbolicate_to_pb(resp, &platforms)),
                            ..Default::default()
                        },
                        // The event's answer, in the words of the one gRPC mapping.
                        Err(e) => pb::ReprocessResult {
                            id: event.id,
                            response: None,
                            error: e.to_string(),
                            error_code: code_of(e.code) as i32,
                            error_field: e.field.clone().unwrap_or_default(),
                        },
                    })
                }
            })
            .buffered(REPROCESS_IN_FLIGHT);
        Ok(Response::new(Box::pin(out)))
    }
}

/// The key API.
#[derive(Clone, Debug)]
pub struct KeyApi {
    symx: Symx,
}

fn key_to_pb(k: &symx_service::ApiKeyView) -> pb::ApiKey {
    pb::ApiKey {
        id: k.id.clone(),
        tenant: k.tenant.to_string(),
        name: k.name.clone(),
        scopes: k
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .map(|s| scope_to_pb(s) as i32)
            .collect(),
        create_time: Some(timestamp(k.created_at_ms)),
        revoke_time: k.revoked_at_ms.map(timestamp),
    }
}

fn scope_to_pb(s: Scope) -> pb::Scope {
    match s {
        Scope::Read => pb::Scope::Read,
        Scope::Upload => pb::Scope::Upload,
        Scope::Delete => pb::Scope::Delete,
        Scope::Admin => pb::Scope::Admin,
    }
}

/// The scopes of a CreateKey request, by the names the service knows them by.
fn scopes_from_pb(scopes: &[i32]) -> Result<Vec<String>, Status> {
    scopes
        .iter()
        .map(|&s| match pb::Scope::try_from(s) {
            Ok(pb::Scope::Read) => Ok(Scope::Read.as_str().to_owned()),
            Ok(pb::Scope::Upload) => Ok(Scope::Upload.as_str().to_owned()),
            Ok(pb::Scope::Delete) => Ok(Scope::Delete.as_str().to_owned()),
            Ok(pb::Scope::Admin) => Ok(Scope::Admin.as_str().to_owned()),
            Ok(pb::Scope::Unspecified) | Err(_) => Err(invalid(
                "scopes",
                format!("scope {s} is not one of read, upload, delete, admin"),
            )),
        })
        .collect()
}

#[tonic::async_trait]
impl KeyService for KeyApi {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Admin, false).await?;
        let req = request.into_inner();
        let tenant = match req.tenant.as_str() {
            "" => None,
            t => Some(Tenant::new(t).map_err(|e| status(e.into()))?),
        };
        let created = self
            .symx
            .create_key(&who, tenant, &req.name, &scopes_from_pb(&req.scopes)?)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateKeyResponse {
            key: Some(key_to_pb(&created.key)),
            token: created.token,
        }))
    }

    async fn list_keys(
        &self,
        request: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Admin, false).await?;
        let keys = self.symx.list_keys(&who).await.map_err(status)?;
        Ok(Response::new(pb::ListKeysResponse {
            keys: keys.iter().map(key_to_pb).collect(),
        }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        let (who, _admission) = admit(&self.symx, &request, Scope::Admin, false).await?;
        let id = request.into_inner().id;
        let key = self.symx.revoke_key(&who, &id).await.map_err(status)?;
        Ok(Response::new(key_to_pb(&key)))
    }
}

/// Every gRPC service of symxd: artifacts, symbolication, keys, health and reflection.
pub async fn routes(
    symx: Symx,
) -> Result<tonic::service::Routes, Box<dyn std::error::Error + Send + Sync>> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ArtifactServiceServer<ArtifactApi>>()
        .await;
    health_reporter
        .set_serving::<SymbolicationServiceServer<SymbolicationApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(symx_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // Answers carry a whole stored map (GetSourceMap): as large as an upload may be, or the
    // map that was accepted could not be read back. Requests stay small.
    let largest_answer = usize::try_from(symx.config().limits.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20)
        .max(MAX_MESSAGE_BYTES);
    let artifacts = ArtifactServiceServer::new(ArtifactApi { symx: symx.clone() })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(largest_answer);
    let keys = KeyServiceServer::new(KeyApi { symx: symx.clone() });
    let symbolication = SymbolicationServiceServer::new(SymbolicationApi { symx })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Ok(tonic::service::Routes::new(health)
        .add_service(reflection)
        .add_service(artifacts)
        .add_service(keys)
        .add_service(symbolication))
}

/// The next message of an upload stream, or DEADLINE_EXCEEDED when the client sends nothing
/// for `idle` (`limits.upload_idle_secs`): a stalled upload is cut, its spool removed with its
/// session, rather than held open until the upload timeout.
async fn next_upload_message(
    stream: &mut Streaming<pb::UploadRequest>,
    idle: std::time::Duration,
) -> Result<Option<pb::UploadRequest>, Status> {
    match tokio::time::timeout(idle, stream.message()).await {
        Ok(r) => r.map_err(decode_error),
        Err(_) => Err(status(ServiceError::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "the upload sent nothing for {} s (limits.upload_idle_secs)",
                idle.as_secs()
            ),
        ))),
    }
}

/// A request message that does not decode (garbage bytes, invalid UTF-8 in a string field) is
/// the client's error: INVALID_ARGUMENT, where tonic answers INTERNAL.
fn decode_error(transport: Status) -> Status {
    if transport.code() == tonic::Code::Internal
        && transport.message().starts_with("failed to decode")
    {
        status(ServiceError::new(
            ErrorCode::InvalidArgument,
            format!("malformed request message: {}", transport.message()),
        ))
    } else {
        transport
    }
}

/// The same for unary calls, whose request tonic decodes before any handler runs: the answer
/// is a trailers-only response, its status in the headers.
#[derive(Clone, Copy, Debug, Default)]
struct DecodeErrorsLayer;

impl<S> tower::Layer<S> for DecodeErrorsLayer {
    type Service = DecodeErrors<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrors(inner)
    }
}

#[derive(Clone, Debug)]
struct DecodeErrors<S>(S);

impl<S, ReqB, ResB> tower::Service<http::Request<ReqB>> for DecodeErrors<S>
where
    S: tower::Service<http::Request<ReqB>, Response = http::Response<ResB>>,
{
    type Response = http::Response<ResB>;
    type Error = S::Error;
    type Future =
        futures::future::MapOk<S::Future, fn(http::Response<ResB>) -> http::Response<ResB>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        use futures::TryFutureExt;
        self.0
            .call(req)
            .map_ok(invalid_argument_on_decode_error::<ResB> as fn(_) -> _)
    }
}

fn invalid_argument_on_decode_error<B>(mut resp: http::Response<B>) -> http::Response<B> {
    let h = resp.headers_mut();
    let internal = h.get("grpc-status").map(|v| v.as_bytes()) == Some(b"13");
    let decode = h.get("grpc-message").is_some_and(|m| {
        let m = m.as_bytes();
        m.starts_with(b"failed%20to%20decode") || m.starts_with(b"failed to decode")
    });
    if internal && decode {
        h.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
    resp
}

/// Serves every gRPC service of symxd on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish. Accepted connections get `TCP_NODELAY`: small responses must not
/// wait for Nagle's algorithm (with delayed ACKs a call otherwise stalls ~40 ms; measured with
/// `symx-loadgen --concurrency 2`).
pub async fn serve(
    symx: Symx,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok::<_, std::io::Error>(conn)
    });
    // No call outlives `limits.upload_timeout_secs` (an upload streams that long at most);
    // unary calls are bounded by the shorter request timeout in their handlers ([`within`]).
    let timeout = std::time::Duration::from_secs(symx.config().limits.upload_timeout_secs);
    tonic::transport::Server::builder()
        .timeout(timeout)
        .layer(DecodeErrorsLayer)
        .add_routes(routes(symx).await?)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code goes through the one mapping, with the field at fault as a BadRequest
    /// violation and the delay of a refusal as RetryInfo and `retry-after`.
    #[test]
    fn every_error_code_maps_once_with_details() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            let e = ServiceError {
                field: Some("filters.service".into()),
                retry_after: Some(std::time::Duration::from_secs(2)),
                ..ServiceError::new(code, "the reason")
            };
            let st = status(e);
            assert_eq!(st.code(), code_of(code), "{code:?}");
            assert_ne!(st.code(), tonic::Code::Unknown, "{code:?}");
            seen.insert(st.code() as i32);
            let bad = st.get_details_bad_request().expect("a BadRequest detail");
            assert_eq!(bad.field_violations[0].field, "filters.service");
            assert_eq!(bad.field_violations[0].description, "the reason");
            let retry = st.get_details_retry_info().expect("a RetryInfo detail");
            assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(2)));
            assert_eq!(
                st.metadata().get("retry-after").map(|v| v.as_bytes()),
                Some(&b"2"[..])
            );
            assert!(st.message().contains("the reason"), "{}", st.message());
        }
        // Distinct codes stay distinct where gRPC has a code for them.
        assert!(seen.len() >= 10, "{seen:?}");
        // Without a field or a delay, no details and no metadata.
        let plain = status(ServiceError::new(ErrorCode::NotFound, "gone"));
        assert!(plain.get_details_bad_request().is_none());
        assert!(plain.metadata().get("retry-after").is_none());
        assert_eq!(plain.code(), tonic::Code::NotFound);
    }
}

//! The symbol server's HTTP paths: every stored ELF, Mach-O, PE and PDB file, served to the
//! tools that already know how to ask.
//!
//! * debuginfod: `/buildid/<build id>/debuginfo`, `/executable`, `/section/<name>`,
//!   `/source/<path>` (from the source bundle uploaded with one of the module's files).
//! * Microsoft's symbol server (SSQP, symstore): `/<file.pdb>/<GUID><age>/<file.pdb>`,
//!   `/<file.dll>/<TIMESTAMP><SizeOfImage>/<file.dll>`, and SSQP's ELF and Mach-O keys
//!   (`_.debug/elf-buildid-sym-<id>/_.debug`, `<file>/elf-buildid-<id>/<file>`,
//!   `_.dwarf/mach-uuid-sym-<uuid>/_.dwarf`); names and ids in any case; the two-tier
//!   layout (`ap/app.pdb/...`) too; a PE's or PDB's source bundle as `<app.pdb>/<id>/app.src.zip`.
//!   A probe for a compressed file (`app.pd_`) or a `file.ptr` answers 404 without a lookup.
//! * Symbolicator's `unified` layout: `/<id[..2]>/<id[2..]>/debuginfo|executable`, the id
//!   being the GNU build id (ELF), the UUID (Mach-O) or the PDB GUID and age (PE, PDB), and
//!   `/sourcebundle`; and
//!   its `native` layout for ELF and Mach-O (`ab/cdef....debug`, `ABCD/.../ABCDEF...`).
//!
//! Keys: `Authorization` (Bearer, Basic with the key as password as in
//! `http://symx:KEY@host/`, or ApiKey), or, for clients that send no headers, a path
//! prefix `/key/<key>/` before any of the paths above. The tenant is the key's.

use crate::guard::Style;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use symx_service::{DebugFileQuery, FileWanted, ModuleId, Principal, ServiceError, Symx};
use symx_types::ErrorCode;

/// The path prefix that carries a key, for clients that cannot send headers.
pub(crate) const KEY_PREFIX: &str = "key";

/// What a path asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// A file, through `protocol`.
    File {
        protocol: &'static str,
        query: DebugFileQuery,
    },
    /// Something no stored file answers (a compressed-file probe, `file.ptr`, a source file,
    /// a Breakpad symbol file): 404 at once, with why.
    Never {
        protocol: &'static str,
        why: &'static str,
    },
    /// Not a symbol-server path.
    Unknown,
}

/// The key a path carries in its `/key/<key>/` prefix, and the rest of the path.
pub(crate) fn split_key(path: &str) -> (Option<&str>, &str) {
    let trimmed = path.trim_start_matches('/');
    if let Some(rest) = trimmed
        .strip_prefix(KEY_PREFIX)
        .and_then(|r| r.strip_prefix('/'))
        && let Some((token, rest)) = rest.split_once('/')
        && symx_service::split_token(token).is_some()
    {
        return (Some(token), rest);
    }
    (None, trimmed)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn file(protocol: &'static str, module: ModuleId, want: FileWanted) -> Asked {
    Asked::File {
        protocol,
        query: DebugFileQuery {
            module,
            want,
            name: None,
            section: None,
            source: None,
        },
    }
}

fn named(asked: Asked, name: &str) -> Asked {
    match asked {
        Asked::File {
            protocol,
            mut query,
        } => {
            query.name = Some(name.to_owned());
            Asked::File { protocol, query }
        }
        other => other,
    }
}

/// Reads a path (its key prefix already split off, percent-decoded segments).
pub(crate) fn parse(segments: &[String]) -> Asked {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["buildid", id, rest @ ..] => debuginfod(id, rest),
        [p, name, key, last]
            if p.len() == 2 && name.get(..2).is_some_and(|n| n.eq_ignore_ascii_case(p)) =>
        {
            symstore(name, key, last)
        }
        [a, b, last] if a.len() == 2 && is_hex(a) && is_hex(b) => unified(&format!("{a}{b}"), last),
        [name, key, last] => symstore(name, key, last),
        [a, b] if a.len() == 2 && is_hex(a) => {
            // GDB's build-id directories: `ab/cdef...` (binary), `ab/cdef....debug`.
            let (rest, want) = match b.strip_suffix(".debug") {
                Some(r) => (r, FileWanted::Debuginfo),
                None => (*b, FileWanted::Executable),
            };
            if !is_hex(a) || !is_hex(rest) {
                return Asked::Unknown;
            }
            file("native", ModuleId::BuildId(format!("{a}{rest}")), want)
        }
        [a, b, c, d, e, f] => {
            // LLDB's UUID directories: `ABCD/EF01/2345/6789/ABCD/EF0123456789` (dSYM), with
            // `.app` for the binary.
            let (last, want) = match f.strip_suffix(".app") {
                Some(r) => (r, FileWanted::Executable),
                None => (*f, FileWanted::Debuginfo),
            };
            let parts = [*a, *b, *c, *d, *e, last];
            let sizes = [4, 4, 4, 4, 4, 12];
            if parts
                .iter()
                .zip(sizes)
                .all(|(p, n)| p.len() == n && is_hex(p))
            {
                file("native", ModuleId::MachUuid(parts.concat()), want)
            } else {
                Asked::Unknown
            }
        }
        _ => Asked::Unknown,
    }
}

fn debuginfod(id: &str, rest: &[&str]) -> Asked {
    const P: &str = "debuginfod";
    if !is_hex(id) {
        return Asked::Unknown;
    }
    let module = ModuleId::BuildId(id.to_owned());
    match rest {
        ["debuginfo"] => file(P, module, FileWanted::Debuginfo),
        ["executable"] => file(P, module, FileWanted::Executable),
        ["section", name] if !name.is_empty() => Asked::File {
            protocol: P,
            query: DebugFileQuery {
                module,
                want: FileWanted::Debuginfo,
                name: None,
                section: Some((*name).to_owned()),
                source: None,
            },
        },
        // The path as the debug information names it (absolute: its leading `/` is the one
        // after `source`).
        ["source", path @ ..] if !path.is_empty() => Asked::File {
            protocol: P,
            query: DebugFileQuery {
                module,
                want: FileWanted::Debuginfo,
                name: None,
                section: None,
                source: Some(format!("/{}", path.join("/"))),
            },
        },
        _ => Asked::Unknown,
    }
}

fn unified(id: &str, last: &str) -> Asked {
    const P: &str = "unified";
    match last {
        "debuginfo" => file(P, ModuleId::Any(id.to_owned()), FileWanted::Debuginfo),
        "executable" => file(P, ModuleId::Any(id.to_owned()), FileWanted::Executable),
        "sourcebundle" => file(P, ModuleId::Any(id.to_owned()), FileWanted::SourceBundle),
        "breakpad" | "uuidmap" | "bcsymbolmap" | "il2cpp" | "proguard" | "portablepdb" => {
            Asked::Never {
                protocol: P,
                why: "symx stores no files of this type under this layout",
            }
        }
        _ => Asked::Unknown,
    }
}

fn symstore(name: &str, key: &str, last: &str) -> Asked {
    const P: &str = "ssqp";
    // Symbolicator's source bundle of a PE or PDB: `app.pdb/<id>/app.src.zip`.
    let bundle = last
        .to_ascii_lowercase()
        .strip_suffix(".src.zip")
        .is_some_and(|s| {
            name.to_ascii_lowercase()
                .rsplit_once('.')
                .is_some_and(|(n, _)| n == s)
        });
    if !bundle && !last.eq_ignore_ascii_case(name) {
        // `app.pd_` (a compressed copy), `file.ptr` (a pointer file), `app.sym` (Breakpad):
        // clients probe for these; symx stores none.
        return Asked::Never {
            protocol: P,
            why: "symx stores no compressed copies, pointer files or Breakpad files",
        };
    }
    let key_lower = key.to_ascii_lowercase();
    let asked = if let Some(id) = key_lower.strip_prefix("elf-buildid-sym-") {
        file(P, ModuleId::BuildId(id.to_owned()), FileWanted::Debuginfo)
    } else if let Some(id) = key_lower.strip_prefix("elf-buildid-") {
        file(P, ModuleId::BuildId(id.to_owned()), FileWanted::Executable)
    } else if let Some(id) = key_lower.strip_prefix("mach-uuid-sym-") {
        file(P, ModuleId::MachUuid(id.to_owned()), FileWanted::Debuginfo)
    } else if let Some(id) = key_lower.strip_prefix("mach-uuid-") {
        file(P, ModuleId::MachUuid(id.to_owned()), FileWanted::Executable)
    } else if !is_hex(key) {
        return Asked::Unknown;
    } else if name.to_ascii_lowercase().ends_with(".pdb") {
        let (Some(guid), Some(age)) = (key_lower.get(..32), key_lower.get(32..)) else {
            return Asked::Unknown;
        };
        match u32::from_str_radix(age, 16) {
            Ok(age) if !guid.is_empty() => file(
                P,
                ModuleId::Pdb {
                    guid: guid.to_owned(),
                    age,
                },
                FileWanted::Debuginfo,
            ),
            _ => return Asked::Unknown,
        }
    } else if (9..=16).contains(&key.len()) {
        file(P, ModuleId::PeCode(key_lower), FileWanted::Executable)
    } else {
        return Asked::Unknown;
    };
    let asked = match asked {
        Asked::File {
            protocol,
            mut query,
        } if bundle => {
            query.want = FileWanted::SourceBundle;
            Asked::File { protocol, query }
        }
        other => other,
    };
    // SSQP's ELF and Mach-O debug keys name no file (`_.debug`, `_.dwarf`).
    if name.starts_with("_.") {
        asked
    } else {
        named(asked, name)
    }
}

/// Percent-decoded segments of a path.
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// The handler of every symbol-server path (the router's fallback, behind the gate).
pub(crate) async fn serve(State(symx): State<Symx>, req: Request) -> Response {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n").into_response();
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
    };
    let not_found = |why: &str| Style::Symbols.error(&ServiceError::new(ErrorCode::NotFound, why));
    let Some(who) = req.extensions().get::<Principal>().cloned() else {
        return Style::Symbols.error(&ServiceError::new(ErrorCode::Unauthenticated, "no caller"));
    };
    let (_, rest) = split_key(req.uri().path());
    let (protocol, query) = match parse(&segments(rest)) {
        Asked::File { protocol, query } => (protocol, query),
        Asked::Never { protocol, why } => {
            symx.metrics()
                .symbol_requests
                .with_label_values(&[protocol, "not_found"])
                .inc();
            return not_found(why);
        }
        Asked::Unknown => return not_found("not a symbol server path"),
    };
    let found = match symx.debug_file(who.tenant().clone(), query, protocol).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found("no stored file has this id"),
        Err(e) => return Style::Symbols.error(&e),
    };
    let etag = format!("\"{}\"", found.etag);
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, found.size)
        .header(header::ETAG, &etag)
        .header("X-Debuginfod-Size", found.size)
        .header("X-Symx-Artifact-Id", found.artifact.as_str())
        // debuginfod clients give their cached copy this time.
        .header(
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(found.uploaded_at_ms),
            ),
        );
    if let Ok(v) = HeaderValue::from_str(&found.name) {
        builder = builder.header("X-Debuginfod-File", v);
    }
    let body = if unchanged {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        Body::empty()
    } else if head {
        Body::empty()
    } else {
        Body::from_stream(found.into_stream())
    };
    builder
        .body(body)
        .unwrap_or_else(|e| Style::Symbols.error(&ServiceError::internal(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(path: &str) -> Asked {
        parse(&segments(split_key(path).1))
    }

    fn query(path: &str) -> (&'static str, DebugFileQuery) {
        match asked(path) {
            Asked::File { protocol, query } => (protocol, query),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn every_layout_reads_its_paths() {
        let (p, q) = query("/buildid/1e178778753aa68d811fb8191bedd7f3a71b25a3/debuginfo");
        assert_eq!(p, "debuginfod");
        assert_eq!(
            q.module,
            ModuleId::BuildId("1e178778753aa68d811fb8191bedd7f3a71b25a3".into())
        );
        assert_eq!(q.want, FileWanted::Debuginfo);
        let (_, q) = query("/buildid/1e17/section/.debug_info");
        assert_eq!(q.section.as_deref(), Some(".debug_info"));
        let (p, q) = query("/App.PDB/3BC9CB97D09A52BF4C4C44205044422E1/app.pdb");
        assert_eq!(p, "ssqp");
        assert_eq!(
            q.module,
            ModuleId::Pdb {
                guid: "3bc9cb97d09a52bf4c4c44205044422e".into(),
                age: 1
            }
        );
        assert_eq!(q.name.as_deref(), Some("App.PDB"));
        let (_, q) = query("/app.dll/6B02C28D5000/APP.DLL");
        assert_eq!(q.module, ModuleId::PeCode("6b02c28d5000".into()));
        assert_eq!(q.want, FileWanted::Executable);
        let (_, q) = query("/ap/app.dll/6B02C28D5000/app.dll");
        assert_eq!(q.module, ModuleId::PeCode("6b02c28d5000".into()));
        let (_, q) = query("/_.debug/elf-buildid-sym-1e17ab/_.debug");
        assert_eq!(
            (q.module, q.want, q.name),
            (
                ModuleId::BuildId("1e17ab".into()),
                FileWanted::Debuginfo,
                None
            )
        );
        let (_, q) = query("/_.dwarf/mach-uuid-sym-4c4c44f155553144a194bbc525239dcd/_.dwarf");
        assert_eq!(
            q.module,
            ModuleId::MachUuid("4c4c44f155553144a194bbc525239dcd".into())
        );
        let (p, q) = query("/4c/4c44f155553144a194bbc525239dcd/debuginfo");
        assert_eq!(p, "unified");
        assert_eq!(
            q.module,
            ModuleId::Any("4c4c44f155553144a194bbc525239dcd".into())
        );
        let (_, q) = query("/buildid/1e17/source/usr/src/app%20one.c");
        assert_eq!(q.source.as_deref(), Some("/usr/src/app one.c"));
        let (_, q) = query("/4c/4c44f155553144a194bbc525239dcd/sourcebundle");
        assert_eq!(q.want, FileWanted::SourceBundle);
        let (_, q) = query("/app.pdb/3BC9CB97D09A52BF4C4C44205044422E1/app.src.zip");
        assert_eq!(
            (q.want, q.name.as_deref()),
            (FileWanted::SourceBundle, Some("app.pdb"))
        );
        let (p, q) = query("/1e/178778753aa68d811fb8191bedd7f3a71b25a3.debug");
        assert_eq!((p, q.want), ("native", FileWanted::Debuginfo));
        let (_, q) = query("/4C4C/44F1/5555/3144/A194/BBC525239DCD");
        assert_eq!(
            q.module,
            ModuleId::MachUuid("4C4C44F155553144A194BBC525239DCD".into())
        );
        for never in [
            "/app.pdb/3BC9CB97D09A52BF4C4C44205044422E1/app.pd_",
            "/app.pdb/3BC9CB97D09A52BF4C4C44205044422E1/file.ptr",
            "/4c/4c44f155553144a194bbc525239dcd/breakpad",
        ] {
            assert!(matches!(asked(never), Asked::Never { .. }), "{never}");
        }
        for unknown in [
            "/",
            "/favicon.ico",
            "/buildid/xyz/debuginfo",
            "/a/b/c/d/e/f/g",
        ] {
            assert_eq!(asked(unknown), Asked::Unknown, "{unknown}");
        }
    }

    #[test]
    fn a_key_prefix_is_split_off() {
        let key = format!("symx_{}_{}", "0".repeat(16), "a".repeat(64));
        let path = format!("/key/{key}/buildid/ab/debuginfo");
        assert_eq!(
            split_key(&path),
            (Some(key.as_str()), "buildid/ab/debuginfo")
        );
        // A file that happens to be named `key` is no prefix.
        assert_eq!(split_key("/key/ABCDEF12/key").0, None);
    }
}

//! `symx reprocess`: NDJSON events in, NDJSON out, through the bidirectional `Reprocess`
//! stream, with a progress bar and a checkpoint so an interrupted run resumes where it
//! stopped.
//!
//! Input: one JSON object per line, with `stacktraces` (or `frames`) as `symx symbolicate`
//! reads them, plus optional `service`, `version`, `debug_ids` and an id (`id` or
//! `event_id`). Output: each input object with a `symx` field added holding the results, in
//! input order. A line that is not valid JSON (or not an event) is answered with an `error`
//! line and the run goes on.
//!
//! Checkpoint: after every flushed batch, `{lines_done, output_bytes}` is written atomically
//! (temp file + rename). Resuming truncates the output to `output_bytes` (dropping a partly
//! written batch) and skips `lines_done` input lines.

use crate::Conn;
use crate::{json, rpc_error, symbolication_client};
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use symx_proto::v1 as pb;
use tokio_stream::StreamExt;

#[derive(Args, Debug)]
pub struct ReprocessArgs {
    /// NDJSON input file.
    #[arg(long)]
    pub input: PathBuf,
    /// NDJSON output file (appended to when resuming).
    #[arg(long)]
    pub output: PathBuf,
    /// Checkpoint file (default: OUTPUT.checkpoint). Delete it to start over.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Service for events that do not name one.
    #[arg(long)]
    pub service: Option<String>,
    #[arg(long, alias = "release-version")]
    pub version: Option<String>,
    /// JVM: the mapping's variant for events that do not name one.
    #[arg(long, alias = "flavor")]
    pub variant: Option<String>,
    /// JVM: the mapping's build id for events that do not name one.
    #[arg(long)]
    pub build_id: Option<String>,
    /// The commit for events that do not name one (source links).
    #[arg(long, alias = "commit-sha")]
    pub git_commit_sha: Option<String>,
    /// Events per checkpoint.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Send only events whose earlier answer (the `symx` field a previous run added) still
    /// has unresolved frames; the others are copied to the output as they are. Reports how
    /// many of those sent now resolve fully.
    #[arg(long)]
    pub only_unresolved: bool,
}

/// Whether an event still has frames to resolve: it has no earlier answer, or one with a
/// frame neither resolved nor skipped (runtime code no upload describes).
fn needs_reprocessing(event: &Value) -> bool {
    let Some(answer) = event.get("symx") else {
        return true;
    };
    if answer.get("error").is_some() {
        return true;
    }
    let frames = answer
        .get("stacktraces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|st| st.get("frames").and_then(Value::as_array))
        .flatten();
    let mut any = false;
    for f in frames {
        any = true;
        match f.get("status").and_then(Value::as_str) {
            Some("resolved" | "skipped") => {}
            _ => return true,
        }
    }
    !any
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Checkpoint {
    input: String,
    lines_done: u64,
    output_bytes: u64,
}

fn load_checkpoint(path: &Path) -> Result<Option<Checkpoint>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| {
            format!("checkpoint {} is unreadable", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn save_checkpoint(path: &Path, cp: &Checkpoint) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(cp)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub async fn run(args: ReprocessArgs, ch: Conn) -> Result<()> {
    let cp_path = args.checkpoint.clone().unwrap_or_else(|| {
        let mut p = args.output.clone().into_os_string();
        p.push(".checkpoint");
        PathBuf::from(p)
    });
    let input_name = args.input.display().to_string();
    let mut cp = match load_checkpoint(&cp_path)? {
        Some(cp) if cp.input == input_name => {
            eprintln!("resuming after {} events", cp.lines_done);
            cp
        }
        Some(cp) => bail!(
            "checkpoint {} belongs to input {}, not {input_name}; delete it to start over",
            cp_path.display(),
            cp.input
        ),
        None => Checkpoint {
            input: input_name,
            ..Default::default()
        },
    };
    let total_lines = BufReader::new(
        std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?,
    )
    .lines()
    .count() as u64;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&args.output)
        .with_context(|| format!("cannot open {}", args.output.display()))?;
    out.set_len(cp.output_bytes)?;
    out.seek(std::io::SeekFrom::End(0))?;

    let bar = ProgressBar::new(total_lines);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(cp.lines_done);

    let reader = BufReader::new(std::fs::File::open(&args.input)?);
    let mut lines = reader.lines().skip(cp.lines_done as usize);
    let mut client = symbolication_client(ch);
    let batch = args.batch.max(1);
    let mut tally = Tally::default();
    loop {
        // One stream per batch: a checkpoint is taken between batches, after their output is
        // flushed and synced.
        let mut events: Vec<Result<Value, String>> = Vec::with_capacity(batch);
        for line in lines.by_ref().take(batch) {
            let line = line?;
            events.push(
                serde_json::from_str::<Value>(&line).map_err(|e| format!("invalid JSON: {e}")),
            );
        }
        if events.is_empty() {
            break;
        }
        let mut requests = Vec::new();
        let mut prepared: Vec<Result<Value, String>> = Vec::with_capacity(events.len());
        for (i, ev) in events.into_iter().enumerate() {
            if let Ok(v) = &ev
                && args.only_unresolved
                && !needs_reprocessing(v)
            {
                tally.kept += 1;
                prepared.push(ev);
                continue;
            }
            let ev = ev.and_then(|v| {
                json::request_from_json(
                    &v,
                    json::Defaults {
                        service: args.service.as_deref(),
                        version: args.version.as_deref(),
                        variant: args.variant.as_deref(),
                        build_id: args.build_id.as_deref(),
                        git_commit_sha: args.git_commit_sha.as_deref(),
                    },
                )
                .map(|req| {
                    requests.push(pb::ReprocessEvent {
                        id: i.to_string(),
                        request: Some(req),
                    });
                    v
                })
                .map_err(|e| format!("{e:#}"))
            });
            prepared.push(ev);
        }
        let mut results = std::collections::HashMap::new();
        if !requests.is_empty() {
            let mut stream = client
                .reprocess(tokio_stream::iter(requests))
                .await
                .map_err(rpc_error)?
                .into_inner();
            while let Some(r) = stream.next().await {
                let r = r.map_err(rpc_error)?;
                results.insert(r.id.clone(), r);
            }
        }
        for (i, ev) in prepared.into_iter().enumerate() {
            let line = match ev {
                Err(e) => serde_json::json!({"line": cp.lines_done + i as u64 + 1, "error": e}),
                // Not sent (--only-unresolved): as it was.
                Ok(v)
                    if !results.contains_key(&i.to_string())
                        && args.only_unresolved
                        && !needs_reprocessing(&v) =>
                {
                    v
                }
                Ok(mut v) => {
                    let before_unresolved = v.get("symx").is_some() && needs_reprocessing(&v);
                    let symx = match results.remove(&i.to_string()) {
                        Some(r) if r.error.is_empty() => {
                            serde_json::to_value(json::response(&r.response.unwrap_or_default()))?
                        }
                        Some(r) => {
                            let mut e = serde_json::json!({
                                "error": r.error,
                                // `InvalidArgument`, `ResourceExhausted`, ...: retry the latter.
                                "code": format!("{:?}", tonic::Code::from_i32(r.error_code)),
                            });
                            if !r.error_field.is_empty() {
                                e["field"] = r.error_field.into();
                            }
                            e
                        }
                        None => serde_json::json!({"error": "no result from the server"}),
                    };
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("symx".into(), symx);
                    }
                    tally.sent += 1;
                    if before_unresolved && !needs_reprocessing(&v) {
                        tally.fixed += 1;
                    }
                    v
                }
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            bar.inc(1);
        }
        out.flush()?;
        out.sync_data()?;
        cp.lines_done = bar.position();
        cp.output_bytes = out.stream_position()?;
        save_checkpoint(&cp_path, &cp)?;
    }
    bar.finish_and_clear();
    eprintln!(
        "{} events written to {}",
        cp.lines_done,
        args.output.display()
    );
    if args.only_unresolved {
        // This run's events (a resumed run counts from where it resumed).
        eprintln!(
            "{} events sent, {} already resolved and copied as they were; {} of those with \
             unresolved frames before now resolve fully",
            tally.sent, tally.kept, tally.fixed
        );
    }
    Ok(())
}

/// What `--only-unresolved` did.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    kept: u64,
    fixed: u64,
}

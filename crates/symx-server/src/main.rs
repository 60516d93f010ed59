//! `symxd`: the symx server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use symx_server::Server;
use symx_service::Config;

/// symxd serves symbolication over gRPC (and metrics/health over HTTP) from an embedded
/// RocksDB data directory. With no options it runs on 127.0.0.1 with ./symx-data.
#[derive(Parser, Debug)]
#[command(name = "symxd", version)]
struct Args {
    /// TOML configuration file; `SYMX_<SECTION>_<KEY>` variables override it.
    #[arg(long, short, env = "SYMX_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides storage.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// Check the configuration and exit (status 0 when valid).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage API keys directly in the data directory (with the server stopped: the store
    /// is locked while it runs). This is how the first admin key is made; once the server
    /// runs, use `symx keys` with an admin key.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key and print it (once).
    Create {
        /// read, upload, delete or admin (repeat, or comma-separate).
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List every tenant's keys.
    List,
    /// Revoke a key.
    Revoke { id: String },
}

/// Runs a `symxd keys` command against the store, as the open principal (every tenant).
fn keys(config: Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let symx = symx_service::Symx::open(config).context("cannot open the store")?;
        let admin = symx_service::Principal::open();
        let show = |k: &symx_service::ApiKeyView| {
            let revoked = k
                .revoked_at_ms
                .map(|t| format!("  revoked {}", symx_types::time::format_rfc3339_ms(t)))
                .unwrap_or_default();
            format!(
                "{}  tenant={}  scopes={}  name={}  created {}{revoked}",
                k.id,
                k.tenant,
                k.scopes.join(","),
                k.name,
                symx_types::time::format_rfc3339_ms(k.created_at_ms)
            )
        };
        match cmd {
            KeysCommand::Create {
                scopes,
                tenant,
                name,
            } => {
                let tenant =
                    symx_types::Tenant::new(&tenant).map_err(|e| anyhow::anyhow!("{e}"))?;
                let k = symx
                    .create_key(&admin, Some(tenant), &name, &scopes)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                eprintln!("{}", show(&k.key));
                println!("{}", k.token);
            }
            KeysCommand::List => {
                for k in symx
                    .list_keys(&admin)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                {
                    println!("{}", show(&k));
                }
            }
            KeysCommand::Revoke { id } => {
                let k = symx
                    .revoke_key(&admin, &id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", show(&k));
            }
        }
        Ok(())
    })
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log.level.clone()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn main() -> anyhow::Result<()> {
    allocator::bound_arenas();
    let args = Args::parse();
    let mut config =
        Config::load(args.config.as_deref(), std::env::vars()).context("invalid configuration")?;
    if let Some(dir) = args.data_dir {
        config.storage.data_dir = dir;
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    if args.check_config {
        println!("configuration is valid");
        return Ok(());
    }
    if let Some(Command::Keys(cmd)) = args.command {
        return keys(config, cmd);
    }
    init_tracing(&config);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("symxd")
        .build()?;
    runtime.block_on(async move {
        let server = Server::start(config).await?;
        // Serves until SIGTERM/SIGINT, however long that is; only the drain that follows the
        // signal is bounded by the grace period.
        server.run_until(shutdown_signal(), grace).await
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// glibc's allocator gives busy threads arenas of their own, up to eight per core, and keeps
/// what each one freed: under a steady mix of index builds, cache evictions and requests,
/// `symxd`'s resident set kept growing (3-minute soak, 64 MiB cache: 187 -> 256 MiB by third)
/// while what it used stayed flat. Two arenas keep it near the budget (109 -> 164 MiB in the
/// same minute-long run; 190 MiB after 10 minutes) at a throughput within the run-to-run
/// spread (BENCHMARKS.md, "Soak"). `MALLOC_ARENA_MAX` set by the operator wins.
#[allow(unsafe_code)]
mod allocator {
    pub fn bound_arenas() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only sets an allocator parameter; it is called first thing in
            // main, before any other thread exists.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
        }
    }
}

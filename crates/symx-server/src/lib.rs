//! `symxd`: configuration, tracing, and serving gRPC and HTTP over one [`Symx`] until a
//! shutdown signal, then draining in-flight requests for the configured grace period.
//!
//! The library half exists so tests and benchmarks can run a real server in process on
//! `127.0.0.1:0`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use symx_service::{Config, Symx};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running server: its bound addresses, and the means to stop it.
pub struct Server {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub symx: Symx,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    purge: tokio::task::JoinHandle<()>,
    /// Reading the shared catalog's log (`[storage.s3]` only).
    sync: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .finish()
    }
}

impl Server {
    /// Opens the store and starts serving. Addresses with port 0 get a free port.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let symx = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Symx::open(config)).await??
        };
        check_exposure(&config, symx.auth_required())?;
        let grpc_listener = TcpListener::bind(config.server.grpc_addr).await?;
        let http_listener = TcpListener::bind(config.server.http_addr).await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);

        let grpc = {
            let (symx, rx) = (symx.clone(), rx.clone());
            tokio::spawn(async move {
                symx_grpc::serve(symx, grpc_listener, drained(rx))
                    .await
                    .map_err(|e| anyhow::anyhow!("gRPC server: {e}"))
            })
        };
        let http = {
            let app = symx_http::router(symx.clone());
            tokio::spawn(serve_http(http_listener, app, drained(rx)))
        };
        let purge = symx.spawn_purge_loop();
        let sync = symx.spawn_sync_loop();
        tracing::info!(%grpc_addr, %http_addr, data_dir = %config.storage.data_dir.display(), "symxd serving");
        Ok(Self {
            grpc_addr,
            http_addr,
            symx,
            shutdown,
            tasks: vec![grpc, http],
            purge,
            sync,
        })
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        // Watch streams never end by themselves.
        self.symx.close_watchers();
        self.purge.abort();
        if let Some(sync) = &self.sync {
            sync.abort();
        }
        for t in self.tasks {
            t.await??;
        }
        let symx = self.symx.clone();
        tokio::task::spawn_blocking(move || symx.save_report()).await?;
        Ok(())
    }

    /// Serves until `signal` resolves (for as long as that takes: serving has no deadline),
    /// then shuts down gracefully. Only the drain after the signal is bounded, by `grace`:
    /// requests still in flight after it are abandoned and `Ok` is returned.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()>,
        grace: Duration,
    ) -> anyhow::Result<()> {
        signal.await;
        tracing::info!(grace_secs = grace.as_secs(), "shutting down");
        match tokio::time::timeout(grace, self.shutdown()).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!("grace period over; exiting with requests in flight");
                Ok(())
            }
        }
    }
}

/// A server without API keys runs open (every caller is the default tenant with every
/// scope): allowed on loopback, with a warning; refused on any other address.
pub fn check_exposure(config: &Config, auth_required: bool) -> anyhow::Result<()> {
    if auth_required {
        return Ok(());
    }
    let exposed: Vec<String> = [config.server.grpc_addr, config.server.http_addr]
        .iter()
        .filter(|a| !a.ip().is_loopback())
        .map(|a| a.to_string())
        .collect();
    if !exposed.is_empty() {
        anyhow::bail!(
            "refusing to serve on {} without authentication: no API key exists. Create an admin \
             key first (`symxd keys create --scope admin`), or bind to 127.0.0.1",
            exposed.join(" and ")
        );
    }
    tracing::warn!(
        "no API key exists: serving open (no authentication) on loopback only; create one with \
         `symxd keys create --scope admin` to require keys"
    );
    Ok(())
}

/// Resolves when shutdown is asked for. tonic and axum then stop accepting and wait for
/// in-flight requests; `symxd` bounds that wait by the configured grace period.
/// How long a client has to send a request's headers on the HTTP listener.
const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown`, then lets open connections finish their
/// requests. HTTP/1.1 with header names in title case (`Content-Length`): they are
/// case-insensitive, but LLVM 14's debuginfod client (`llvm-debuginfod-find`,
/// `llvm-symbolizer --debuginfod`) reads `Content-Length: ` as written and fails without it.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .title_case_headers(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HTTP_HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses (errors, health) go out at once.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn =
            graceful.watch(http1.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "an HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn drained(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

//! The blocking pool: CPU- and IO-heavy work (index builds, frame resolution, storage reads
//! and writes) runs here, never on the async worker threads, at most `cpu_workers` at a time.

use crate::error::{Result, ServiceError};
use std::sync::Arc;
use symx_types::ErrorCode;
use tokio::sync::Semaphore;

/// Runs blocking work behind a semaphore of `cpu_workers` permits. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    cpu: Arc<Semaphore>,
}

impl Pool {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            cpu: Arc::new(Semaphore::new(workers)),
        }
    }

    /// Runs `f` on the blocking pool once a worker is free.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| shutting_down())?;
        tokio::task::spawn_blocking(f).await?
    }
}

/// The error of a wait cut short because the service is stopping.
pub(crate) fn shutting_down() -> ServiceError {
    ServiceError::new(ErrorCode::Unavailable, "service is shutting down")
}

use std::sync::Arc;
use symx_types::{ErrorCode, FieldError, HasErrorCode};

/// The error of every use case: a code, a message for the caller, and (for invalid input)
/// the field or parameter at fault. `Clone`, so coalesced cache waiters can share it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    /// The request field or query parameter at fault, when there is one.
    pub field: Option<String>,
    /// When to try again, for refusals that pass (rate limits, overload).
    pub retry_after: Option<std::time::Duration>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidArgument,
            message: message.into(),
            field: Some(field.into()),
            retry_after: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The message for a caller, prefixed with the field at fault unless it already names
    /// it (`sourcemap: invalid source map: ...`).
    pub fn message_with_field(&self) -> String {
        match &self.field {
            Some(f) if !self.message.contains(f.as_str()) => format!("{f}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl HasErrorCode for ServiceError {
    fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<symx_storage::Error> for ServiceError {
    fn from(e: symx_storage::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<symx_sourcemap::Error> for ServiceError {
    fn from(e: symx_sourcemap::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<symx_native::Error> for ServiceError {
    fn from(e: symx_native::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<symx_proguard::Error> for ServiceError {
    fn from(e: symx_proguard::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<symx_il2cpp::Error> for ServiceError {
    fn from(e: symx_il2cpp::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<Arc<ServiceError>> for ServiceError {
    fn from(e: Arc<ServiceError>) -> Self {
        (*e).clone()
    }
}

impl From<std::io::Error> for ServiceError {
    fn from(e: std::io::Error) -> Self {
        Self::internal(format!("io: {e}"))
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format!("worker task failed: {e}"))
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

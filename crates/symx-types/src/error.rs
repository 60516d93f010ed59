use serde::{Deserialize, Serialize};

/// The closed set of error codes every symx error maps to. The gRPC edge maps each to a
/// `tonic::Code` and the HTTP edge to a status, each in one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request is malformed: a field is missing, too long, or of the wrong shape.
    InvalidArgument,
    /// The thing asked for does not exist (or is not visible to the caller's tenant).
    NotFound,
    /// The identity is already taken and `overwrite` was not set.
    AlreadyExists,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The caller did not prove who they are.
    Unauthenticated,
    /// A size limit was reached: an upload past `limits.max_upload_bytes`, an index build past
    /// `limits.max_build_memory`, a request past a count limit.
    ResourceExhausted,
    /// The caller's key used up its rate limit; retry after the error's delay.
    RateLimited,
    /// Too many expensive requests are in progress on this server; retry after the error's
    /// delay (refused at once rather than queued).
    Overloaded,
    /// The request is valid but cannot be carried out in the current state.
    FailedPrecondition,
    /// The service cannot serve right now (shutting down, storage unavailable); retry later.
    Unavailable,
    /// The client took too long: an upload that stalled or trickled below the minimum rate.
    DeadlineExceeded,
    /// A bug or a broken invariant on our side; the details are logged, not returned.
    Internal,
}

impl ErrorCode {
    /// Every code, for edges to check their mappings against.
    pub const ALL: [Self; 12] = [
        Self::InvalidArgument,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::Unauthenticated,
        Self::ResourceExhausted,
        Self::RateLimited,
        Self::Overloaded,
        Self::FailedPrecondition,
        Self::Unavailable,
        Self::DeadlineExceeded,
        Self::Internal,
    ];

    /// True when the answer is the caller's to act on (fix the request, slow down, retry
    /// later), not a failure of the service: such errors are not logged as errors.
    pub fn is_client_error(self) -> bool {
        !matches!(self, Self::Internal | Self::Unavailable)
    }
}

/// Every error of a symx library crate can say which [`ErrorCode`] it is.
pub trait HasErrorCode {
    fn code(&self) -> ErrorCode;
}

//! Admin API errors and the one place they become responses:
//! `{"error": "...", "message": "..."}` (plus `"field"` for bad input).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use keypair_store::StoreError;
use resource_guard::GuardError;

/// What went wrong, named after what the caller must do.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input; `field` names it.
    #[error("invalid {field}: {message}")]
    BadRequest {
        /// The offending field (JSON path, path or query parameter).
        field: String,
        /// A user-safe explanation.
        message: String,
    },
    /// No usable admin-API token (missing, invalid, expired, other audience, or its
    /// keypair disabled or deleted since).
    #[error("unauthorized")]
    Unauthorized(GuardError),
    /// Authenticated, but not allowed to do this.
    #[error("forbidden")]
    Forbidden,
    /// Not found, or not visible to this caller (never 403 for other tenants' ids).
    #[error("not found")]
    NotFound,
    /// Conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The database is unreachable.
    #[error("unavailable")]
    Unavailable,
    /// A fault of ours; the cause is logged, the response is fixed.
    #[error("internal error")]
    Internal,
}

impl AdminError {
    /// A 400 naming `field`.
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        AdminError::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => AdminError::NotFound,
            StoreError::Invalid { field, reason } => AdminError::bad(field, reason),
            StoreError::Conflict(m) => AdminError::Conflict(m),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                AdminError::Unavailable
            }
            e => {
                tracing::error!(error = ?e, "store error");
                AdminError::Internal
            }
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AdminError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden => StatusCode::FORBIDDEN,
            AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AdminError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message) = match self {
            AdminError::BadRequest { message, .. } => ("invalid_request", message.as_str()),
            AdminError::Unauthorized(e) => (e.code().unwrap_or("unauthorized"), e.public_message()),
            AdminError::Forbidden => ("forbidden", "this keypair may not do that"),
            AdminError::NotFound => ("not_found", "no such object"),
            AdminError::Conflict(m) => ("conflict", m.as_str()),
            AdminError::PayloadTooLarge => ("payload_too_large", "the request body is too large"),
            AdminError::UnsupportedMediaType => ("unsupported_media_type", "send application/json"),
            AdminError::Unavailable => (
                "unavailable",
                "the service is temporarily unavailable; retry later",
            ),
            AdminError::Internal => ("internal_error", "internal error"),
        };
        let mut body = serde_json::json!({"error": code, "message": message});
        if let AdminError::BadRequest { field, .. } = self {
            body["field"] = field.as_str().into();
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if let AdminError::Unauthorized(e) = self {
            resp.insert_header((header::WWW_AUTHENTICATE, e.www_authenticate(crate::REALM)));
        }
        if matches!(self, AdminError::Unavailable) {
            resp.insert_header((header::RETRY_AFTER, "5"));
        }
        resp.json(body)
    }
}

//! Console errors and the one place they become HTML pages. The cause of a 500 or a
//! 503 goes to the log; the page is fixed.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use admin_api::AdminError;
use keypair_store::StoreError;

use crate::pages::{render, ErrorPage, Nav};

/// What went wrong, named after what the person must do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// No session (or it ended): sign in, then come back to `next`.
    #[error("sign-in required")]
    SignInRequired { next: String },
    /// A state-changing request without a valid CSRF token or a same-origin `Origin`.
    #[error("forbidden")]
    Forbidden,
    /// Not found, or out of the person's reach.
    #[error("not found")]
    NotFound,
    /// The setup link was used, withdrawn, or expired (or never existed).
    #[error("invitation no longer valid")]
    InvitationGone,
    /// `/console/setup` without the setup cookie.
    #[error("no invitation in progress")]
    NoInvitation,
    /// The invitation cannot be accepted this way (its email belongs to someone else).
    #[error("invitation refused")]
    InvitationRefused,
    /// A malformed request.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A passkey's answer was not accepted (not verified, unknown, or its person
    /// cannot sign in). The reason is for the log only.
    #[error("passkey refused")]
    PasskeyRefused,
    /// Registering a passkey needs a recent sign-in.
    #[error("sign in again")]
    SignInAgain,
    /// No passkey ceremony to answer: none begun, already answered, or expired.
    #[error("no passkey ceremony in progress")]
    PasskeyExpired,
    /// Too many failed sign-ins.
    #[error("too many failed sign-ins")]
    Throttled { retry_after_secs: u64 },
    /// The database (or password hashing) is busy or unreachable.
    #[error("unavailable")]
    Unavailable,
    /// A fault of ours.
    #[error("internal error")]
    Internal,
}

/// How long to wait after a 503.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ConsoleError::NotFound,
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                ConsoleError::Unavailable
            }
            e => {
                tracing::error!(error = ?e, "store error");
                ConsoleError::Internal
            }
        }
    }
}

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        match e {
            // Out of reach reads as absent: never a 403 for another tenant's object.
            AdminError::NotFound | AdminError::Forbidden | AdminError::Unauthorized(_) => {
                ConsoleError::NotFound
            }
            AdminError::Unavailable => ConsoleError::Unavailable,
            AdminError::BadRequest { .. } => ConsoleError::BadRequest("invalid input"),
            other => {
                tracing::error!(error = %other, "admin operation failed");
                ConsoleError::Internal
            }
        }
    }
}

impl ConsoleError {
    fn page(&self) -> (&'static str, &'static str) {
        match self {
            ConsoleError::SignInRequired { .. } => ("Sign in", "Sign in to continue."),
            ConsoleError::Forbidden => (
                "Request refused",
                "This request did not come from a Keygate console page, so nothing was changed. Go back, reload the page and try again.",
            ),
            ConsoleError::NotFound => ("Not found", "There is no such page, or it is not yours to see."),
            ConsoleError::InvitationGone => (
                "Invitation no longer valid",
                "This invitation was already used, withdrawn, or has expired. Ask an administrator for a new one.",
            ),
            ConsoleError::NoInvitation => (
                "No invitation open",
                "Open the setup link from your invitation again.",
            ),
            ConsoleError::InvitationRefused => (
                "Invitation not accepted",
                "This invitation is for another person: nothing was changed. Whoever the invitation names must sign in with their own credentials to accept it.",
            ),
            ConsoleError::BadRequest(why) => ("Bad request", why),
            ConsoleError::PasskeyRefused => (
                "Passkey not accepted",
                "That passkey was not accepted. Try again, or sign in another way.",
            ),
            ConsoleError::SignInAgain => (
                "Sign in again",
                "To register a passkey, sign in again first.",
            ),
            ConsoleError::PasskeyExpired => (
                "Passkey request expired",
                "The passkey request expired or was already answered. Try again.",
            ),
            ConsoleError::Throttled { .. } => (
                "Too many failed sign-ins",
                "Too many sign-ins failed. Wait a while, then try again.",
            ),
            ConsoleError::Unavailable => (
                "Temporarily unavailable",
                "Keygate is busy or cannot reach its database. Try again in a few seconds.",
            ),
            ConsoleError::Internal => ("Something went wrong", "Something went wrong on our side."),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden | ConsoleError::SignInAgain => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::InvitationGone => StatusCode::GONE,
            ConsoleError::NoInvitation
            | ConsoleError::BadRequest(_)
            | ConsoleError::PasskeyRefused
            | ConsoleError::PasskeyExpired => StatusCode::BAD_REQUEST,
            ConsoleError::InvitationRefused => StatusCode::CONFLICT,
            ConsoleError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.response(None)
    }
}

impl ConsoleError {
    /// The error's page; `nav` gives a signed-in person's pages their `Sign out`.
    pub(crate) fn response(&self, nav: Option<Nav>) -> HttpResponse {
        if let ConsoleError::SignInRequired { next } = self {
            return crate::see_other(&crate::sign_in_href(next));
        }
        let (title, message) = self.page();
        let body = render(&ErrorPage {
            nav,
            title,
            message,
        })
        .unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        });
        let mut resp = HttpResponse::build(self.status_code());
        resp.content_type("text/html; charset=utf-8");
        match self {
            ConsoleError::Throttled { retry_after_secs } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ConsoleError::Unavailable => {
                resp.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_SECS.to_string()));
            }
            _ => {}
        }
        resp.body(body)
    }
}

/// A console error answered as JSON, for the requests the console's script makes
/// (passkey ceremonies): `{"error": code, "message": text}`, with the status the HTML
/// page would have (401 instead of a redirect to sign in).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct JsonError(#[from] pub(crate) ConsoleError);

impl JsonError {
    fn code(&self) -> &'static str {
        match &self.0 {
            ConsoleError::SignInRequired { .. } => "sign_in_required",
            ConsoleError::Forbidden => "forbidden",
            ConsoleError::NotFound => "not_found",
            ConsoleError::InvitationGone => "invitation_gone",
            ConsoleError::NoInvitation => "no_invitation",
            ConsoleError::InvitationRefused => "invitation_refused",
            ConsoleError::BadRequest(_) => "bad_request",
            ConsoleError::PasskeyRefused => "passkey_refused",
            ConsoleError::PasskeyExpired => "passkey_expired",
            ConsoleError::SignInAgain => "sign_in_again",
            ConsoleError::Throttled { .. } => "throttled",
            ConsoleError::Unavailable => "unavailable",
            ConsoleError::Internal => "internal",
        }
    }
}

impl From<StoreError> for JsonError {
    fn from(e: StoreError) -> Self {
        JsonError(e.into())
    }
}

impl ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            ConsoleError::SignInRequired { .. } => StatusCode::UNAUTHORIZED,
            ref e => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (_, message) = self.0.page();
        let mut resp = HttpResponse::build(self.status_code());
        match self.0 {
            ConsoleError::Throttled { retry_after_secs } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ConsoleError::Unavailable => {
                resp.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_SECS.to_string()));
            }
            _ => {}
        }
        resp.json(serde_json::json!({ "error": self.code(), "message": message }))
    }
}

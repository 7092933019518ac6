//! The signed-in person. Every request re-reads its session (with its person) and the
//! person's bindings from the database, so a sign-out, a disabled person or a removed
//! binding takes effect at once in every process. Use restarts the idle timeout; the
//! last use is written at most once per [`TOUCH_INTERVAL`], so the idle timeout is
//! kept to within that much and a page view is not a database write.

use actix_web::{web, HttpRequest};
use admin_api::Principal;
use keypair_store::{SessionId, User};
use time::{Duration, OffsetDateTime};

use crate::cookies::Jar;
use crate::error::ConsoleError;
use crate::pages::Nav;
use crate::{blocking, csrf, Console};

/// A live session and who it belongs to, as the database says now.
#[derive(Debug)]
pub(crate) struct SignedIn {
    pub(crate) session: SessionId,
    pub(crate) user: User,
    pub(crate) principal: Principal,
    /// When this session began (its sign-in).
    pub(crate) signed_in_at: OffsetDateTime,
    /// Passkeys are offered on this site (the header links to them).
    pub(crate) passkeys: bool,
}

/// How stale a session's recorded last use may get before a request writes it again.
pub(crate) const TOUCH_INTERVAL: Duration = Duration::minutes(1);

impl SignedIn {
    /// The CSRF token of this session's pages.
    pub(crate) fn csrf_token(&self) -> String {
        csrf::session_token(&self.session)
    }

    /// The header of its pages: who is signed in, and `Sign out`.
    pub(crate) fn nav(&self) -> Nav {
        Nav {
            email: self.user.email.clone(),
            csrf_token: self.csrf_token(),
            passkeys: self.passkeys,
        }
    }
}

impl Console {
    /// The live session the request's cookie names, touched; `None` without a cookie,
    /// or when the session ended (signed out, timed out, person disabled).
    pub(crate) async fn session(
        console: &web::Data<Console>,
        req: &HttpRequest,
    ) -> Result<Option<SignedIn>, ConsoleError> {
        let Some(id) = Jar::Session.read(req, &console.site) else {
            return Ok(None);
        };
        let id = SessionId::from_presented(&id);
        let console = console.clone();
        blocking(move || {
            let now = console.clock.now();
            let s = &console.settings;
            let Some(session) =
                console
                    .store
                    .find_session(&id, now, s.session_idle, s.session_max)?
            else {
                return Ok(None);
            };
            if now - session.last_seen_at >= TOUCH_INTERVAL {
                console.store.touch_session(&id, now)?;
            }
            let principal = match console.admin.principal_of(&session.user) {
                Ok(p) => p,
                Err(e) => match ConsoleError::from(e) {
                    // Disabled (or gone) since the session was read.
                    ConsoleError::NotFound => return Ok(None),
                    e => return Err(e),
                },
            };
            Ok(Some(SignedIn {
                session: id,
                user: session.user,
                principal,
                signed_in_at: session.created_at,
                passkeys: console.passkeys.is_some(),
            }))
        })
        .await
    }

    /// Like [`Console::session`], but a page that needs one: without it, a 303 to the
    /// sign-in page, which comes back to this page.
    pub(crate) async fn signed_in(
        console: &web::Data<Console>,
        req: &HttpRequest,
    ) -> Result<SignedIn, ConsoleError> {
        match Console::session(console, req).await? {
            Some(s) => Ok(s),
            None => Err(ConsoleError::SignInRequired {
                next: crate::safe_next(req.uri().path_and_query().map_or("", |p| p.as_str())),
            }),
        }
    }
}

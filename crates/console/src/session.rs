//! The signed-in person. Every request re-reads its session and the person's
//! principal from the database, so a sign-out, a disabled person or a removed binding
//! takes effect at once in every process; each use restarts the idle timeout.

use actix_web::{web, HttpRequest};
use admin_api::Principal;
use keypair_store::{SessionId, User};

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
}

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
            console.store.touch_session(&id, now)?;
            let principal = match console.principal(&session.user) {
                Ok(p) => p,
                // Disabled (or gone) since the session was read.
                Err(ConsoleError::NotFound) => return Ok(None),
                Err(e) => return Err(e),
            };
            Ok(Some(SignedIn {
                session: id,
                user: session.user,
                principal,
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

    /// The person's principal, read fresh from the database: their bindings now.
    fn principal(&self, user: &User) -> Result<Principal, ConsoleError> {
        Ok(self.admin.user_principal(&user.id)?)
    }
}

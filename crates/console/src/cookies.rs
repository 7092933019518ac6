//! The console's cookies. All four have the session cookie's flags: `HttpOnly`,
//! `SameSite=Lax`, `Path=/`, and with an https issuer `Secure` and the `__Host-`
//! prefix (which browsers accept only from a secure origin, for the exact host, never
//! set by a sibling domain).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use time::Duration;

use crate::settings::Site;

/// Which cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jar {
    /// The session id (`keygate_session`), for as long as the browser runs; the
    /// database decides when the session ends.
    Session,
    /// An invitation's code between opening the setup link and submitting the form
    /// (`keygate_setup`), for [`SETUP_COOKIE_LIFETIME`].
    Setup,
    /// The random value the pre-session CSRF token is derived from (`keygate_csrf`).
    PreSession,
    /// A passkey ceremony's id between the challenge and its answer
    /// (`keygate_passkey`), for as long as the challenge may be answered.
    Ceremony,
}

/// How long the setup cookie lives: enough to set a password, or to sign in first.
pub(crate) const SETUP_COOKIE_LIFETIME: Duration = Duration::minutes(30);

impl Jar {
    fn base_name(self) -> &'static str {
        match self {
            Jar::Session => "keygate_session",
            Jar::Setup => "keygate_setup",
            Jar::PreSession => "keygate_csrf",
            Jar::Ceremony => "keygate_passkey",
        }
    }

    /// The cookie's name on `site`.
    pub(crate) fn name(self, site: &Site) -> String {
        if site.secure {
            format!("__Host-{}", self.base_name())
        } else {
            self.base_name().to_owned()
        }
    }

    /// The value the request carries, if any.
    pub(crate) fn read(self, req: &HttpRequest, site: &Site) -> Option<String> {
        req.cookie(&self.name(site))
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A cookie holding `value`.
    pub(crate) fn set(self, site: &Site, value: &str) -> Cookie<'static> {
        let mut c = self.base(site, value.to_owned());
        match self {
            Jar::Setup => c.set_max_age(SETUP_COOKIE_LIFETIME),
            Jar::Ceremony => c.set_max_age(crate::passkeys::CEREMONY_LIFETIME),
            Jar::Session | Jar::PreSession => {}
        }
        c
    }

    /// A cookie that removes this one from the browser.
    pub(crate) fn clear(self, site: &Site) -> Cookie<'static> {
        let mut c = self.base(site, String::new());
        c.set_max_age(Duration::ZERO);
        c
    }

    fn base(self, site: &Site, value: String) -> Cookie<'static> {
        let mut c = Cookie::new(self.name(site), value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(site.secure);
        c
    }
}

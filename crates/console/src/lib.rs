#![doc = include_str!("../README.md")]

mod cookies;
mod credentials;
mod csrf;
mod error;
mod form;
mod handlers;
mod headers;
mod pages;
mod passkeys;
mod session;
mod settings;

pub use handlers::ROUTES;
pub use headers::CONTENT_SECURITY_POLICY;
pub use settings::ConsoleSettings;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use admin_api::AdminApi;
use clock::Clock;
use keypair_store::Store;
use throttle::Throttle;

use crate::error::ConsoleError;
use crate::settings::Site;

/// Where the console lives.
pub const BASE_PATH: &str = "/console";

/// The console's state: the store (sessions, invitations, credentials), the admin
/// API whose operations every page goes through, the sign-in throttle and the clock.
pub struct Console {
    store: Store,
    admin: web::Data<AdminApi>,
    settings: ConsoleSettings,
    site: Site,
    throttle: Throttle,
    clock: Clock,
    /// The WebAuthn relying party, where the issuer allows passkeys.
    passkeys: Option<passkeys::Passkeys>,
    /// Sign-ins by outcome (off unless [`Console::with_metrics`]).
    metrics: telemetry::Metrics,
}

impl std::fmt::Debug for Console {
    /// The settings only: the throttle's counters are keyed by the emails of failed
    /// sign-ins, which are not shown anywhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("settings", &self.settings)
            .field("passkeys", &self.passkeys.is_some())
            .finish_non_exhaustive()
    }
}

impl Console {
    /// Wires the console. Register it with `App::app_data(web::Data::new(console))` and
    /// [`configure`]. `admin` is the same admin API the REST routes serve.
    pub fn new(
        store: Store,
        admin: web::Data<AdminApi>,
        settings: ConsoleSettings,
        clock: Clock,
    ) -> Console {
        let site = Site::from_issuer(&settings.issuer);
        Console {
            passkeys: passkeys::Passkeys::for_site(&site.origin),
            site,
            metrics: telemetry::Metrics::off(),
            throttle: Throttle::new(settings.throttle),
            store,
            admin,
            settings,
            clock,
        }
    }
}

impl Console {
    /// Counts sign-ins in `metrics`.
    pub fn with_metrics(mut self, metrics: telemetry::Metrics) -> Console {
        self.metrics = metrics;
        self
    }
}

/// Registers every console route under [`BASE_PATH`], behind the middleware that adds
/// the security headers to every answer and redirects requests for another host.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(BASE_PATH)
            .wrap_fn(headers::guard)
            .configure(handlers::routes)
            .default_service(web::to(handlers::not_found)),
    );
}

/// A 303 to `location` (a path on this site).
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The sign-in page that comes back to `next` afterwards.
pub(crate) fn sign_in_href(next: &str) -> String {
    if next == BASE_PATH {
        return format!("{BASE_PATH}/sign-in");
    }
    let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("{BASE_PATH}/sign-in?next={encoded}")
}

/// Where to go after sign-in: `next` when it is a path of the console on this site,
/// else the home page. Anything that could leave the site (`//host`, `https:`,
/// backslashes, control characters) or the console is refused: no open redirect.
pub(crate) fn safe_next(next: &str) -> String {
    let within = next == BASE_PATH
        || next
            .strip_prefix(BASE_PATH)
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'));
    let clean = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        && !next.contains("//")
        && next.len() <= 2048;
    if within && clean {
        next.to_owned()
    } else {
        BASE_PATH.to_owned()
    }
}

/// Runs `f` on the blocking pool (it reads or writes the database, or hashes).
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ConsoleError> + Send + 'static,
) -> Result<R, ConsoleError> {
    web::block(f).await.unwrap_or(Err(ConsoleError::Internal))
}

#[cfg(test)]
mod tests {
    use super::{safe_next, sign_in_href};

    #[test]
    fn next_stays_inside_the_console() {
        for ok in [
            "/console",
            "/console/",
            "/console/accounts/acc_1",
            "/console/setup",
            "/console?x=1",
        ] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "",
            "/",
            "//evil.example",
            "/console//evil.example",
            "https://evil.example/console",
            "/consolex",
            "/console\\..\\",
            "/console/\u{0}",
            "/console/a b",
            "/admin/v1/accounts",
            "console",
            "/\\evil.example",
        ] {
            assert_eq!(safe_next(bad), "/console", "{bad:?}");
        }
    }

    #[test]
    fn the_sign_in_link_carries_next_encoded() {
        assert_eq!(sign_in_href("/console"), "/console/sign-in");
        assert_eq!(
            sign_in_href("/console/accounts/a?x=1&y=2"),
            "/console/sign-in?next=%2Fconsole%2Faccounts%2Fa%3Fx%3D1%26y%3D2"
        );
    }
}

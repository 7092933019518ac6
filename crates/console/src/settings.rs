//! The console's settings (`[console]` in the config) and what follows from the issuer:
//! its origin, its host, and whether cookies are `Secure` with the `__Host-` prefix.

use throttle::ThrottleSettings;
use time::Duration;

/// The console's settings, validated by the binary's config loader.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// The issuer URL (no trailing slash): the console's origin is its scheme and
    /// authority; requests for any other `Host` are redirected there.
    pub issuer: String,
    /// A session unused this long ends (`console.session_idle_seconds`, default 1800 s).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not
    /// (`console.session_max_seconds`, default 43200 s).
    pub session_max: Duration,
    /// Limits on failed sign-ins: `per_address` per client address, `per_client_address`
    /// per (email, address); `per_client` (per email from anywhere) is `u32::MAX`, so
    /// failures from other addresses never throttle a person's own.
    pub throttle: ThrottleSettings,
    /// The trusted proxy header carrying the client address, as for `/token`
    /// (`throttle.client_ip_header`); `None`: the TCP peer.
    pub client_ip_header: Option<String>,
}

/// The issuer's origin, as the console compares and writes it.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    /// `scheme://host[:port]`, lowercase, without a default port.
    pub(crate) origin: String,
    /// `host[:port]`, lowercase, without a default port: what `Host` must be.
    pub(crate) authority: String,
    /// https: cookies are `Secure` and named with the `__Host-` prefix.
    pub(crate) secure: bool,
}

impl Site {
    pub(crate) fn from_issuer(issuer: &str) -> Site {
        let (secure, rest) = match issuer.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, issuer.strip_prefix("http://").unwrap_or(issuer)),
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = normalise_authority(&rest[..authority_end], secure);
        let scheme = if secure { "https" } else { "http" };
        Site {
            origin: format!("{scheme}://{authority}"),
            authority,
            secure,
        }
    }

    /// Whether a request's `Host` (or HTTP/2 authority) names this site.
    pub(crate) fn is_host(&self, host: &str) -> bool {
        normalise_authority(host, self.secure) == self.authority
    }
}

/// `host[:port]` in lowercase, without the scheme's default port.
fn normalise_authority(authority: &str, secure: bool) -> String {
    let lower = authority.trim().to_ascii_lowercase();
    let default_port = if secure { ":443" } else { ":80" };
    match lower.strip_suffix(default_port) {
        Some(host) if !host.is_empty() => host.to_owned(),
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::Site;

    #[test]
    fn the_site_follows_the_issuer() {
        let s = Site::from_issuer("https://Keygate.Example:443/base");
        assert_eq!(s.origin, "https://keygate.example");
        assert!(s.secure);
        assert!(s.is_host("keygate.example"));
        assert!(s.is_host("KEYGATE.example:443"));
        assert!(!s.is_host("keygate.example:8443"));
        assert!(!s.is_host("evil.example"));

        let s = Site::from_issuer("http://127.0.0.1:8080");
        assert_eq!(s.origin, "http://127.0.0.1:8080");
        assert!(!s.secure);
        assert!(s.is_host("127.0.0.1:8080"));
        assert!(!s.is_host("127.0.0.1"));
        assert!(!s.is_host("localhost:8080"));
    }
}

//! Throttling of failed authentication (RFC 6749 §10.10, RFC 6819 §5.1.4.2.3): at
//! `/token` the subject is a client id, at the console's sign-in an email.
//!
//! Failures are counted per address, per (subject, address) pair and per subject, in
//! fixed windows. A request is refused with 429 *before* its credential is checked
//! when:
//! - its address has failed too often (whatever the subject), or
//! - this subject has failed too often from this address, or
//! - this subject is under attack (too many failures from anywhere) *and* this
//!   address has itself failed for it.
//!
//! An address that never failed for a subject is never throttled on that subject's
//! account, so an attacker hammering a known client id or email cannot lock the real
//! owner out: the right credential from their own address keeps working. Other
//! subjects are unaffected. Memory is bounded; time is a parameter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits, each per window. Defaults in `config/default.toml` (`[throttle]`).
#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    /// Length of a counting window.
    pub window: Duration,
    /// Failures from one address (any subject) before it is refused.
    pub per_address: u32,
    /// Failures for one subject from one address before that pair is refused.
    pub per_client_address: u32,
    /// Failures for one subject from all addresses before addresses that failed for it
    /// are refused (`u32::MAX`: never).
    pub per_client: u32,
    /// Most tracked keys; beyond it the oldest windows are dropped.
    pub max_tracked: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            window: Duration::from_secs(60),
            per_address: 30,
            per_client_address: 10,
            per_client: 100,
            max_tracked: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Client(String),
    Pair(String, IpAddr),
}

/// The failure counters.
pub struct Throttle {
    settings: ThrottleSettings,
    windows: Mutex<HashMap<Key, Window>>,
}

impl std::fmt::Debug for Throttle {
    /// The settings and how many counters are kept; never the subjects counted (the
    /// console's are the emails of failed sign-ins).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tracked = self.windows.lock().map(|w| w.len()).unwrap_or(0);
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .field("tracked", &tracked)
            .finish()
    }
}

/// Refused: retry after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl Throttle {
    /// With the given limits.
    pub fn new(settings: ThrottleSettings) -> Throttle {
        Throttle {
            settings,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn count(
        windows: &HashMap<Key, Window>,
        key: &Key,
        window: Duration,
        now: Instant,
    ) -> (u32, Duration) {
        match windows.get(key) {
            Some(w) if now.duration_since(w.started) < window => (
                w.failures,
                window.saturating_sub(now.duration_since(w.started)),
            ),
            _ => (0, Duration::ZERO),
        }
    }

    /// Whether a request for `subject` (a client id, an email in lowercase) from
    /// `address` may proceed at `now`.
    pub fn check(&self, subject: &str, address: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let s = &self.settings;
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        let client = crate::clip(subject);
        let (addr_failures, addr_left) =
            Self::count(&windows, &Key::Address(address), s.window, now);
        if addr_failures >= s.per_address {
            return Err(RetryAfter(addr_left));
        }
        let (pair_failures, pair_left) =
            Self::count(&windows, &Key::Pair(client.clone(), address), s.window, now);
        if pair_failures >= s.per_client_address {
            return Err(RetryAfter(pair_left));
        }
        let (client_failures, client_left) =
            Self::count(&windows, &Key::Client(client), s.window, now);
        if client_failures >= s.per_client && pair_failures > 0 {
            return Err(RetryAfter(client_left.max(pair_left)));
        }
        Ok(())
    }

    /// Records a failed authentication for `subject` from `address`.
    pub fn record_failure(&self, subject: &str, address: IpAddr, now: Instant) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() + 3 > self.settings.max_tracked {
            let window = self.settings.window;
            windows.retain(|_, w| now.duration_since(w.started) < window);
            if windows.len() + 3 > self.settings.max_tracked {
                // Still full of live windows: forget the oldest half.
                let mut starts: Vec<Instant> = windows.values().map(|w| w.started).collect();
                starts.sort();
                let cutoff = starts[starts.len() / 2];
                windows.retain(|_, w| w.started > cutoff);
            }
        }
        let client = crate::clip(subject);
        for key in [
            Key::Address(address),
            Key::Pair(client.clone(), address),
            Key::Client(client),
        ] {
            let w = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(w.started) >= self.settings.window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            window: Duration::from_secs(60),
            per_address: 20,
            per_client_address: 5,
            per_client: 8,
            max_tracked: 1000,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// A monotonic instant from a test clock: the throttle is given time, never reads it.
    fn start() -> Instant {
        clock::TestClock::starting_now().instant()
    }

    #[test]
    fn a_failing_pair_is_throttled_but_not_the_client_elsewhere() {
        let t = Throttle::new(settings());
        let now = start();
        for _ in 0..5 {
            assert!(t.check("kg_a", ip(1), now).is_ok());
            t.record_failure("kg_a", ip(1), now);
        }
        let RetryAfter(wait) = t.check("kg_a", ip(1), now).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(
            t.check("kg_a", ip(2), now).is_ok(),
            "the real client elsewhere"
        );
        assert!(
            t.check("kg_b", ip(1), now).is_ok(),
            "other clients from that address, for now"
        );
        assert!(
            t.check("kg_a", ip(1), now + Duration::from_secs(61))
                .is_ok(),
            "the window passes"
        );
    }

    #[test]
    fn a_distributed_attack_does_not_lock_out_a_clean_address() {
        let t = Throttle::new(settings());
        let now = start();
        for i in 0..8u8 {
            t.record_failure("kg_a", ip(10 + i), now);
        }
        // Client under attack: addresses that failed for it are refused...
        assert!(t.check("kg_a", ip(10), now).is_err());
        // ...an address that never failed for it is not.
        assert!(t.check("kg_a", ip(99), now).is_ok());
    }

    #[test]
    fn a_noisy_address_is_throttled_for_every_client() {
        let t = Throttle::new(settings());
        let now = start();
        for i in 0..20 {
            t.record_failure(&format!("kg_{i}"), ip(7), now);
        }
        assert!(t.check("kg_new", ip(7), now).is_err());
        assert!(t.check("kg_new", ip(8), now).is_ok());
    }

    #[test]
    fn debug_never_shows_a_subject() {
        let t = Throttle::new(settings());
        t.record_failure("someone@example.test", ip(1), start());
        let shown = format!("{t:?}");
        assert!(!shown.contains("someone"), "{shown}");
        assert!(shown.contains("tracked: 3"), "{shown}");
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::new(ThrottleSettings {
            max_tracked: 100,
            ..settings()
        });
        let now = start();
        for i in 0..10_000u32 {
            t.record_failure(&format!("kg_{i}"), IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(t.windows.lock().map(|w| w.len()).unwrap_or(0) <= 100);
    }
}

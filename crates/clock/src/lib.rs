#![doc = include_str!("../README.md")]
// This crate is the one place allowed to read the system clock.
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use time::OffsetDateTime;

/// Where time comes from: the system clock (the default) or a [`TestClock`]. Cheap to
/// clone; every clone of a test clock's `Clock` sees the same time.
#[derive(Clone, Debug, Default)]
pub struct Clock(Source);

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    Test(TestClock),
}

impl Clock {
    /// The real clock.
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// Wall-clock time, UTC: for timestamps, token claims and expiry.
    pub fn now(&self) -> OffsetDateTime {
        match &self.0 {
            Source::System => OffsetDateTime::now_utc(),
            Source::Test(t) => t.now(),
        }
    }

    /// Monotonic time: for TTLs, rate windows and deadlines (never goes back).
    pub fn instant(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Test(t) => t.instant(),
        }
    }

    /// Wall-clock time as a `SystemTime` (for APIs that take one).
    pub fn system_time(&self) -> SystemTime {
        SystemTime::from(self.now())
    }

    /// True when this is a test clock (time moves only when a test moves it).
    pub fn is_test(&self) -> bool {
        matches!(self.0, Source::Test(_))
    }
}

impl From<TestClock> for Clock {
    fn from(t: TestClock) -> Self {
        Clock(Source::Test(t))
    }
}

/// A clock that stands still until a test moves it. Clones share the time.
#[derive(Clone, Debug)]
pub struct TestClock(Arc<TestState>);

#[derive(Debug)]
struct TestState {
    start: OffsetDateTime,
    base: Instant,
    elapsed: Mutex<Duration>,
}

impl TestClock {
    /// A test clock reading `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        TestClock(Arc::new(TestState {
            start,
            base: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }))
    }

    /// A test clock reading the real time now (then standing still).
    pub fn starting_now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Moves the clock forward by `by` (wall and monotonic time alike).
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.0.elapsed.lock().unwrap_or_else(|e| e.into_inner());
        *elapsed += by;
    }

    fn elapsed(&self) -> Duration {
        *self.0.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wall-clock time it reads.
    pub fn now(&self) -> OffsetDateTime {
        self.0.start + self.elapsed()
    }

    /// The monotonic time it reads.
    pub fn instant(&self) -> Instant {
        self.0.base + self.elapsed()
    }

    /// A [`Clock`] reading this test clock.
    pub fn clock(&self) -> Clock {
        Clock::from(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_only_when_told() {
        let t = TestClock::new(time::macros::datetime!(2030-01-01 00:00 UTC));
        let c = t.clock();
        let (w, m) = (c.now(), c.instant());
        assert_eq!(c.now(), w);
        assert_eq!(c.instant(), m);
        t.advance(Duration::from_millis(1500));
        assert_eq!(c.now() - w, time::Duration::milliseconds(1500));
        assert_eq!(c.instant() - m, Duration::from_millis(1500));
        assert!(c.is_test() && !Clock::system().is_test());
    }

    #[test]
    fn the_system_clock_moves_forward() {
        let c = Clock::system();
        let a = c.instant();
        assert!(c.instant() >= a);
        let drift = (c.now() - OffsetDateTime::now_utc()).abs();
        assert!(drift < time::Duration::seconds(5));
    }
}

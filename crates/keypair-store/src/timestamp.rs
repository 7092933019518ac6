//! Timestamps are stored as microseconds since the Unix epoch (UTC).

use time::OffsetDateTime;

pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    // i128 nanoseconds / 1000 fits i64 for any year the `time` crate represents by default.
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_microsecond_precision() {
        let t = time::macros::datetime!(2026-11-22 10:11:12.123456 UTC);
        assert_eq!(from_micros(to_micros(t)), t);
    }
}

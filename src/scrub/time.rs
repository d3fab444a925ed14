//! Time generalisation: RFC 3339 timestamps floored to a unit, in UTC.
//!
//! Exact request times single people out (who was active at 03:12:07.123?);
//! flooring to the minute, hour or day keeps the event countable per period.
//! The output is always `YYYY-MM-DDTHH:MM:SSZ`: no fraction, no offset, so
//! equal periods compare equal whatever zone the producer logged in.
//!
//! Parsing and formatting are [`crate::time`]'s.

use crate::time::{format_rfc3339_utc, parse_rfc3339, SECS_PER_DAY};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl TimeUnit {
    pub fn seconds(self) -> i64 {
        match self {
            TimeUnit::Second => 1,
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3_600,
            TimeUnit::Day => SECS_PER_DAY,
        }
    }
}

/// The value is not an RFC 3339 timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotATime;

/// Floors `value` to `unit` in UTC and writes it with [`format_rfc3339_utc`].
pub fn generalize_time(value: &str, unit: TimeUnit, out: &mut String) -> Result<(), NotATime> {
    let (secs, _) = parse_rfc3339(value).ok_or(NotATime)?;
    let u = unit.seconds();
    let floored = secs.div_euclid(u).checked_mul(u).ok_or(NotATime)?;
    format_rfc3339_utc(floored, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: &str, unit: TimeUnit) -> String {
        let mut s = String::new();
        generalize_time(v, unit, &mut s).unwrap();
        s
    }

    #[test]
    fn not_a_time() {
        for s in [
            "",
            "2017-09-11",
            "2017-09-11T19:55:05",
            "2017-02-29T00:00:00Z",
            "1505159705",
        ] {
            assert_eq!(
                generalize_time(s, TimeUnit::Hour, &mut String::new()),
                Err(NotATime),
                "{s}"
            );
        }
    }

    #[test]
    fn floors_in_utc() {
        let t = "2017-09-11T19:55:05.999Z";
        assert_eq!(g(t, TimeUnit::Second), "2017-09-11T19:55:05Z");
        assert_eq!(g(t, TimeUnit::Minute), "2017-09-11T19:55:00Z");
        assert_eq!(g(t, TimeUnit::Hour), "2017-09-11T19:00:00Z");
        assert_eq!(g(t, TimeUnit::Day), "2017-09-11T00:00:00Z");
    }

    #[test]
    fn offsets_cross_day_month_and_year() {
        assert_eq!(
            g("2024-01-01T00:30:00+01:00", TimeUnit::Day),
            "2023-12-31T00:00:00Z"
        );
        assert_eq!(
            g("2024-01-01T00:30:00+01:00", TimeUnit::Hour),
            "2023-12-31T23:00:00Z"
        );
        assert_eq!(
            g("2023-12-31T23:30:00-01:00", TimeUnit::Day),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            g("2024-03-01T01:00:00+02:00", TimeUnit::Day),
            "2024-02-29T00:00:00Z"
        );
        assert_eq!(
            g("2023-03-01T01:00:00+02:00", TimeUnit::Day),
            "2023-02-28T00:00:00Z"
        );
        assert_eq!(
            g("2024-05-01T00:59:59+01:00", TimeUnit::Minute),
            "2024-04-30T23:59:00Z"
        );
        assert_eq!(
            g("1970-01-01T00:00:00.5+00:01", TimeUnit::Minute),
            "1969-12-31T23:59:00Z"
        );
        assert_eq!(
            g("1969-12-31T23:59:59.9Z", TimeUnit::Hour),
            "1969-12-31T23:00:00Z"
        );
    }
}

//! When a schedule fires: a fixed period (`--every`) or a five-field cron
//! expression in an IANA time zone (`--cron EXPR [--tz ZONE]`).
//!
//! This module only answers "at which instants": it validates what the user
//! typed, lists the fire times in a window ([`When::ticks`]), finds the next
//! one ([`When::next_after`]) and the latest one in a window
//! ([`When::last_tick_at_or_before`]). Instants are milliseconds since the
//! Unix epoch. Running, storing and catching up schedules belong elsewhere.
//!
//! # Periods
//!
//! An `Every` schedule fires at `anchor + k * every` for `k >= 1`, where the
//! anchor is the time the schedule was added. Time zones and daylight saving
//! time play no part. Ticks are computed arithmetically, so a host that was
//! down for a year on an every-1s schedule pays nothing for the gap.
//!
//! # Cron expressions
//!
//! Exactly five fields: minute (0-59), hour (0-23), day-of-month (1-31),
//! month (1-12 or JAN-DEC) and day-of-week (0-7 or SUN-SAT, 0 and 7 are
//! Sunday), each a value, `*`, a list (`1,5`), a range (`1-5`) or a step
//! (`*/15`, `9-17/2`). Names are case-insensitive. The aliases `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`
//! stand for their usual five fields. Seconds and year fields are rejected.
//! As in Vixie cron, when both day-of-month and day-of-week are restricted a
//! day matching either one fires. The extensions of the `croner` crate that
//! evaluates the expressions (`L`, `W`, `#`, `?`) are accepted as it reads
//! them.
//!
//! The expression is evaluated on the wall clock of its time zone ("UTC" when
//! none is given), with `croner`'s own daylight saving rules, which tell
//! *fixed-time* jobs (a single minute and a single hour, such as `30 2 * * *`)
//! from *interval* jobs (anything else: `*/15 * * * *`, `0 * * * *`,
//! `0 1,2 * * *`):
//!
//! - Spring forward (a wall clock range never happens): a fixed-time job
//!   whose time falls in the gap fires once, at the first instant after the
//!   gap (`30 2 * * *` in New York on 2026-03-08 fires at 03:00 EDT). An
//!   interval job simply has no ticks in the gap: `0 * * * *` fires at
//!   01:00 EST and then at 03:00 EDT, one real hour later, and
//!   `*/15 * * * *` goes from 01:45 EST to 03:00 EDT. Beware that an
//!   interval job whose only times of day fall in the gap (`0,30 2 * * *`)
//!   does not fire at all that day.
//! - Fall back (a wall clock range happens twice): a fixed-time job fires
//!   once, at the first of the two instants (`30 1 * * *` in New York on
//!   2026-11-01 fires at 01:30 EDT only). An interval job fires on both
//!   passes, in real order: `0 * * * *` fires at 01:00 EDT and 01:00 EST,
//!   an hour apart, and `*/15 * * * *` at every quarter hour of both.
//!
//! Cron fire times are whole minutes, strictly increase, and end with the
//! year 5000 (as far as `croner` searches).

use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// The names of the five fields, in order.
const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// What each field accepts, for error messages.
const FIELD_EXPECTED: [&str; 5] = [
    "0-59, a list, range or step such as 1,5 or 1-5 or */2",
    "0-23, a list, range or step such as 1,5 or 1-5 or */2",
    "1-31, a list, range or step such as 1,15 or 1-7 or */2",
    "1-12 or JAN-DEC, a list, range or step such as 1,7 or JAN-MAR or */3",
    "0-7 or SUN-SAT (0 and 7 are Sunday), a list, range or step such as 1,5 or MON-FRI or */2",
];

/// The aliases, case-insensitive, and the five fields each stands for.
const ALIASES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The shortest period `When::every` accepts.
const MIN_PERIOD: Duration = Duration::from_secs(1);

/// 5000-01-01T00:00:00Z: croner searches no further than the year 5000, so
/// cron expressions have no ticks after about this instant.
const CRON_END_MS: u64 = 95_617_584_000_000;

/// How many times in a row `ticks` tolerates an answer from `croner` that is
/// not after the previous one before giving up (a guard; it never happens).
const MAX_STALLED_SEARCHES: u32 = 4;

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum When {
    /// Every `every_ms` milliseconds, counted from an anchor (the time the schedule was added).
    Every {
        /// The period in milliseconds, at least 1000.
        every_ms: u64,
    },
    /// A standard five-field cron expression in an IANA time zone ("UTC" when none given).
    Cron {
        /// The expression, or an alias such as `@daily`.
        cron: String,
        /// The IANA name of the zone its wall clock is read in.
        tz: String,
    },
}

/// Why a schedule's timing was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WhenError {
    /// `--every` below one second.
    #[error(
        "the period of --every must be at least 1s, got {period:?}: use a period such as 30s, 5m or 6h"
    )]
    PeriodTooShort {
        /// The period given.
        period: Duration,
    },

    /// `--every` too long to count in milliseconds.
    #[error(
        "the period of --every is too long to count in milliseconds ({period:?}): use a period such as 24h"
    )]
    PeriodTooLong {
        /// The period given.
        period: Duration,
    },

    /// A cron expression with nothing in it.
    #[error(
        "empty cron expression: give five fields (minute hour day-of-month month day-of-week) such as \"0 3 * * *\", or an alias such as @daily"
    )]
    EmptyCron,

    /// Not five fields (six or seven would carry seconds or a year).
    #[error(
        "invalid cron expression \"{expr}\": expected five fields (minute hour day-of-month month day-of-week), found {found}{}",
        field_count_hint(*.found)
    )]
    FieldCount {
        /// The expression given.
        expr: String,
        /// How many fields it has.
        found: usize,
    },

    /// An `@` word that is not one of the aliases.
    #[error(
        "invalid cron expression \"{expr}\": unknown alias; use five fields (minute hour day-of-month month day-of-week) or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
    )]
    UnknownAlias {
        /// The expression given.
        expr: String,
    },

    /// One field is wrong, and named.
    #[error(
        "invalid cron expression \"{expr}\": the {field} field \"{value}\" is not valid (expected {expected}); fields are: minute hour day-of-month month day-of-week"
    )]
    InvalidField {
        /// The expression given.
        expr: String,
        /// The field's name: minute, hour, day-of-month, month or day-of-week.
        field: &'static str,
        /// What the field holds.
        value: String,
        /// What the field accepts.
        expected: &'static str,
    },

    /// Every field is valid alone but `croner` refuses the whole.
    #[error(
        "invalid cron expression \"{expr}\": {reason}; fields are: minute hour day-of-month month day-of-week"
    )]
    InvalidCron {
        /// The expression given.
        expr: String,
        /// `croner`'s message.
        reason: String,
    },

    /// A valid expression that no date matches.
    #[error(
        "cron expression \"{expr}\" never fires (no date matches it, such as February 30): check the day-of-month and month fields"
    )]
    NeverFires {
        /// The expression given.
        expr: String,
    },

    /// A zone name the bundled IANA database does not know.
    #[error(
        "unknown time zone \"{tz}\": use an IANA name such as UTC, Europe/Paris or Asia/Shanghai"
    )]
    UnknownTimeZone {
        /// The zone given.
        tz: String,
    },
}

/// The end of the message for a wrong number of cron fields.
fn field_count_hint(found: usize) -> &'static str {
    if found > 5 {
        " (seconds and year fields are not supported)"
    } else {
        ""
    }
}

impl When {
    /// `--every` (period at least 1 s).
    ///
    /// The period is counted in whole milliseconds (any sub-millisecond part
    /// is dropped).
    pub fn every(period: Duration) -> Result<When, WhenError> {
        if period < MIN_PERIOD {
            return Err(WhenError::PeriodTooShort { period });
        }
        let every_ms =
            u64::try_from(period.as_millis()).map_err(|_| WhenError::PeriodTooLong { period })?;
        Ok(When::Every { every_ms })
    }

    /// `--cron EXPR [--tz ZONE]`: validated now (expression and zone).
    ///
    /// The expression is kept as given, with runs of white space made single
    /// spaces; the zone is kept under its canonical IANA name.
    pub fn cron(expr: &str, tz: Option<&str>) -> Result<When, WhenError> {
        let cron = normalise(expr);
        let compiled = parse_cron(&cron)?;
        let zone = time_zone(tz.unwrap_or("UTC"))?;
        if !fires_at_all(&compiled) {
            return Err(WhenError::NeverFires { expr: cron });
        }
        let tz = match zone.iana_name() {
            Some(name) => name.to_owned(),
            None => tz.unwrap_or("UTC").trim().to_owned(),
        };
        Ok(When::Cron { cron, tz })
    }

    /// Checks a value that did not come through [`When::every`] or
    /// [`When::cron`] (one read back from storage): the same rules. A value
    /// that fails has no ticks.
    pub fn validate(&self) -> Result<(), WhenError> {
        match self {
            When::Every { every_ms } => {
                let period = Duration::from_millis(*every_ms);
                if period < MIN_PERIOD {
                    return Err(WhenError::PeriodTooShort { period });
                }
                Ok(())
            }
            When::Cron { cron, tz } => When::cron(cron, Some(tz)).map(|_| ()),
        }
    }

    /// The fire times t (ms since the Unix epoch) with after_ms < t <= until_ms, in increasing order,
    /// at most `limit` of them. For Every the ticks are anchor_ms + k*every_ms (k >= 1); anchor unused for Cron.
    pub fn ticks(&self, anchor_ms: u64, after_ms: u64, until_ms: u64, limit: usize) -> Vec<u64> {
        let mut ticks = Vec::new();
        if limit == 0 || after_ms >= until_ms {
            return ticks;
        }
        match self {
            When::Every { every_ms } => {
                let Some(mut k) = first_k_after(anchor_ms, *every_ms, after_ms) else {
                    return ticks;
                };
                while ticks.len() < limit {
                    match every_tick(anchor_ms, *every_ms, k) {
                        Some(t) if t <= until_ms => ticks.push(t),
                        _ => break,
                    }
                    k += 1;
                }
            }
            When::Cron { cron, tz } => {
                let Some((cron, zone)) = compile(cron, tz) else {
                    return ticks;
                };
                let Some(mut from) = zoned_at(after_ms, &zone) else {
                    return ticks;
                };
                let mut previous = after_ms;
                let mut stalled = 0;
                while ticks.len() < limit {
                    // An error means no later match (or one past the year
                    // range the search covers).
                    let Ok(next) = cron.find_next_occurrence(&from, false) else {
                        break;
                    };
                    let Some(t) = millis_of(&next) else {
                        break;
                    };
                    if t > until_ms {
                        break;
                    }
                    if t <= previous {
                        // Never fire an instant twice, nor go back in time:
                        // search again from a second later.
                        stalled += 1;
                        if stalled > MAX_STALLED_SEARCHES {
                            break;
                        }
                        match from.checked_add(jiff::SignedDuration::from_secs(1)) {
                            Ok(later) => from = later,
                            Err(_) => break,
                        }
                        continue;
                    }
                    stalled = 0;
                    ticks.push(t);
                    previous = t;
                    from = next;
                }
            }
        }
        ticks
    }

    /// The first fire time strictly after after_ms (None if the expression never fires again).
    pub fn next_after(&self, anchor_ms: u64, after_ms: u64) -> Option<u64> {
        self.ticks(anchor_ms, after_ms, u64::MAX, 1)
            .first()
            .copied()
    }

    /// The latest fire time t with after_ms < t <= until_ms (None if there is
    /// none), without walking the ticks in between: arithmetic for Every, one
    /// backward search for Cron.
    pub fn last_tick_at_or_before(
        &self,
        anchor_ms: u64,
        until_ms: u64,
        after_ms: u64,
    ) -> Option<u64> {
        if after_ms >= until_ms {
            return None;
        }
        let t = match self {
            When::Every { every_ms } => {
                if *every_ms == 0 || until_ms < anchor_ms {
                    return None;
                }
                let k = (until_ms - anchor_ms) / every_ms;
                if k == 0 {
                    return None;
                }
                // At most until_ms, so it cannot overflow.
                anchor_ms + k * every_ms
            }
            When::Cron { cron, tz } => {
                let (cron, zone) = compile(cron, tz)?;
                // Past the end of the years croner searches, search from there.
                let until = zoned_at(until_ms.min(CRON_END_MS), &zone)?;
                let found = cron.find_previous_occurrence(&until, true).ok()?;
                millis_of(&found)?
            }
        };
        (t > after_ms && t <= until_ms).then_some(t)
    }

    /// A short human description for listings: "every 6h", "cron 0 3 * * * (Asia/Shanghai)".
    pub fn describe(&self) -> String {
        match self {
            When::Every { every_ms } => format!("every {}", describe_period(*every_ms)),
            When::Cron { cron, tz } => format!("cron {cron} ({tz})"),
        }
    }
}

/// A period in the largest of h, m, s and ms that divides it exactly (the
/// units `--every` reads back): `6h`, `90m`, `1500ms`.
fn describe_period(every_ms: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(3_600_000, "h"), (60_000, "m"), (1_000, "s")];
    for (size, unit) in UNITS {
        if every_ms != 0 && every_ms % size == 0 {
            return format!("{}{unit}", every_ms / size);
        }
    }
    format!("{every_ms}ms")
}

/// The smallest k >= 1 with anchor + k * every > after, if every is not zero.
fn first_k_after(anchor_ms: u64, every_ms: u64, after_ms: u64) -> Option<u64> {
    if every_ms == 0 {
        return None;
    }
    if after_ms < anchor_ms {
        return Some(1);
    }
    Some((after_ms - anchor_ms) / every_ms + 1)
}

/// anchor + k * every, if it fits in a u64.
fn every_tick(anchor_ms: u64, every_ms: u64, k: u64) -> Option<u64> {
    k.checked_mul(every_ms)?.checked_add(anchor_ms)
}

/// Trims and makes each run of white space a single space.
fn normalise(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parser for five fields: no seconds, no year.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// Parses a normalised expression, naming the first wrong field.
fn parse_cron(expr: &str) -> Result<Cron, WhenError> {
    if expr.is_empty() {
        return Err(WhenError::EmptyCron);
    }
    let expanded = if expr.starts_with('@') {
        match ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(expr))
        {
            Some((_, fields)) => *fields,
            None => {
                return Err(WhenError::UnknownAlias {
                    expr: expr.to_owned(),
                });
            }
        }
    } else {
        expr
    };
    let fields: Vec<&str> = expanded.split(' ').collect();
    if fields.len() != 5 {
        return Err(WhenError::FieldCount {
            expr: expr.to_owned(),
            found: fields.len(),
        });
    }
    for (index, field) in fields.iter().enumerate() {
        if !field_is_valid(index, field) {
            return Err(WhenError::InvalidField {
                expr: expr.to_owned(),
                field: FIELD_NAMES[index],
                value: (*field).to_owned(),
                expected: FIELD_EXPECTED[index],
            });
        }
    }
    parser()
        .parse(expanded)
        .map_err(|error| WhenError::InvalidCron {
            expr: expr.to_owned(),
            reason: error.to_string(),
        })
}

/// Whether one field is valid on its own: its names belong to it, and a
/// pattern with this field and `*` elsewhere (minute 0 when testing another
/// field) parses.
fn field_is_valid(index: usize, field: &str) -> bool {
    if !names_fit(index, field) {
        return false;
    }
    let mut probe = ["0", "*", "*", "*", "*"];
    probe[index] = field;
    parser().parse(&probe.join(" ")).is_ok()
}

/// Whether every run of letters in a field is a name that field takes.
///
/// `croner` replaces month and day names anywhere in the expression, so
/// without this `MON` would be read as January in the month field, and `JAN`
/// as Monday in the day-of-week field.
fn names_fit(index: usize, field: &str) -> bool {
    let upper = field.to_ascii_uppercase();
    upper
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|run| !run.is_empty())
        .all(|run| match index {
            // Day-of-month: last day (L), nearest weekday (W), both (LW).
            2 => matches!(run, "L" | "W" | "LW"),
            3 => MONTH_NAMES.contains(&run),
            // Day-of-week: a name, L (last) alone or after a name (FRIL).
            4 => {
                let name = run.strip_suffix('L').unwrap_or(run);
                run == "L" || DAY_NAMES.contains(&run) || DAY_NAMES.contains(&name)
            }
            _ => false,
        })
}

/// Whether a parsed expression matches any date at all. Searching from the
/// start of a leap year's 28-year cycle reaches every combination of date and
/// weekday; `croner` gives up at its year limit.
fn fires_at_all(cron: &Cron) -> bool {
    let Ok(start) = Timestamp::from_second(946_684_800) else {
        return true;
    };
    cron.find_next_occurrence(&start.to_zoned(TimeZone::UTC), true)
        .is_ok()
}

/// Looks up an IANA time zone.
fn time_zone(name: &str) -> Result<TimeZone, WhenError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(WhenError::UnknownTimeZone {
            tz: name.to_owned(),
        });
    }
    TimeZone::get(trimmed).map_err(|_| WhenError::UnknownTimeZone {
        tz: name.to_owned(),
    })
}

/// The expression and zone of a stored `Cron`, or None if either is invalid.
fn compile(cron: &str, tz: &str) -> Option<(Cron, TimeZone)> {
    let parsed = parse_cron(&normalise(cron)).ok()?;
    let zone = time_zone(tz).ok()?;
    Some((parsed, zone))
}

/// The instant `ms` in `zone`, if jiff can represent it.
fn zoned_at(ms: u64, zone: &TimeZone) -> Option<Zoned> {
    let ms = i64::try_from(ms).ok()?;
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned(zone.clone()))
}

/// Milliseconds since the epoch, if not before it.
fn millis_of(zoned: &Zoned) -> Option<u64> {
    u64::try_from(zoned.timestamp().as_millisecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds since the epoch of an RFC 9557 time with its zone
    /// ("2026-03-08T03:00:00-04:00[America/New_York]") or an RFC 3339 one.
    fn ms(text: &str) -> u64 {
        let timestamp = match text.parse::<Zoned>() {
            Ok(zoned) => zoned.timestamp(),
            Err(_) => text.parse::<Timestamp>().unwrap(),
        };
        u64::try_from(timestamp.as_millisecond()).unwrap()
    }

    fn all(texts: &[&str]) -> Vec<u64> {
        texts.iter().map(|text| ms(text)).collect()
    }

    fn cron(expr: &str, tz: &str) -> When {
        When::cron(expr, Some(tz)).unwrap()
    }

    /// Every tick in the window (after, until], shown in `tz` on failure.
    fn window(when: &When, after: &str, until: &str) -> Vec<u64> {
        when.ticks(0, ms(after), ms(until), 10_000)
    }

    /// Shows instants in a zone, for failure messages.
    fn show(ticks: &[u64], tz: &str) -> Vec<String> {
        let zone = TimeZone::get(tz).unwrap();
        ticks
            .iter()
            .map(|t| zoned_at(*t, &zone).unwrap().to_string())
            .collect()
    }

    #[track_caller]
    fn assert_ticks(actual: Vec<u64>, expected: &[&str], tz: &str) {
        assert_eq!(
            show(&actual, tz),
            show(&all(expected), tz),
            "ticks differ (shown in {tz})"
        );
    }

    const SECOND: u64 = 1_000;
    const DAY: u64 = 86_400_000;

    // 1. Every.

    #[test]
    fn every_ticks_are_anchored_and_limited() {
        let when = When::every(Duration::from_secs(10)).unwrap();
        assert_eq!(when, When::Every { every_ms: 10_000 });
        let anchor = ms("2026-01-01T00:00:00.250Z");

        // From the anchor: anchor + 10 s, + 20 s, ... never the anchor itself.
        assert_eq!(
            when.ticks(anchor, anchor, anchor + 35 * SECOND, 100),
            vec![anchor + 10_000, anchor + 20_000, anchor + 30_000]
        );
        // The limit is respected.
        assert_eq!(
            when.ticks(anchor, anchor, anchor + DAY, 2),
            vec![anchor + 10_000, anchor + 20_000]
        );
        assert!(when.ticks(anchor, anchor, anchor + DAY, 0).is_empty());
        // Ticks keep the anchor's phase; the window is (after, until].
        assert_eq!(
            when.ticks(anchor, anchor + 20_000, anchor + 40_000, 100),
            vec![anchor + 30_000, anchor + 40_000]
        );
        assert_eq!(
            when.ticks(anchor, anchor + 20_001, anchor + 39_999, 100),
            vec![anchor + 30_000]
        );
        // A window before the anchor starts at the first tick.
        assert_eq!(
            when.ticks(anchor, 0, anchor + 10_000, 100),
            vec![anchor + 10_000]
        );
        // An empty or reversed window has no ticks.
        assert!(when
            .ticks(anchor, anchor + 30_000, anchor + 30_000, 9)
            .is_empty());
        assert!(when.ticks(anchor, anchor + 40_000, anchor, 9).is_empty());
    }

    #[test]
    fn every_big_gap_is_cheap() {
        // A host down for a year on an every-1s schedule.
        let when = When::every(Duration::from_secs(1)).unwrap();
        let anchor = ms("2025-01-01T00:00:00Z");
        let last_fired = anchor + 5 * SECOND;
        let now = ms("2026-01-01T00:00:00.500Z");
        assert_eq!(
            when.ticks(anchor, last_fired, now, 2),
            vec![anchor + 6 * SECOND, anchor + 7 * SECOND]
        );
        assert_eq!(
            when.last_tick_at_or_before(anchor, now, last_fired),
            Some(ms("2026-01-01T00:00:00Z"))
        );
        // Even across the whole u64 range: no overflow, no walk.
        assert_eq!(
            when.ticks(0, u64::MAX - 2_500, u64::MAX, 5),
            vec![u64::MAX - 1_615, u64::MAX - 615]
        );
        assert_eq!(
            when.last_tick_at_or_before(0, u64::MAX, 0),
            Some(u64::MAX - 615)
        );
        assert_eq!(
            when.ticks(u64::MAX - 500, 0, u64::MAX, 5),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn every_last_tick_at_or_before() {
        let when = When::every(Duration::from_secs(60)).unwrap();
        let anchor = 1_000_000;
        // On a tick, the tick itself.
        assert_eq!(
            when.last_tick_at_or_before(anchor, anchor + 120_000, anchor),
            Some(anchor + 120_000)
        );
        // Between ticks, the one before.
        assert_eq!(
            when.last_tick_at_or_before(anchor, anchor + 179_999, anchor),
            Some(anchor + 120_000)
        );
        // Only ticks after `after` count.
        assert_eq!(
            when.last_tick_at_or_before(anchor, anchor + 179_999, anchor + 120_000),
            None
        );
        // Before the first tick, none; the anchor is not a tick.
        assert_eq!(
            when.last_tick_at_or_before(anchor, anchor + 59_999, 0),
            None
        );
        assert_eq!(when.last_tick_at_or_before(anchor, anchor, 0), None);
        assert_eq!(when.last_tick_at_or_before(anchor, 5, 0), None);
    }

    #[test]
    fn every_next_after() {
        let when = When::every(Duration::from_millis(1_500)).unwrap();
        let anchor = 10_000;
        assert_eq!(when.next_after(anchor, 0), Some(11_500));
        assert_eq!(when.next_after(anchor, anchor), Some(11_500));
        assert_eq!(when.next_after(anchor, 11_499), Some(11_500));
        assert_eq!(when.next_after(anchor, 11_500), Some(13_000));
        assert_eq!(when.next_after(anchor, 1_000_000), Some(1_001_500));
        // No tick left before the end of u64.
        assert_eq!(when.next_after(anchor, u64::MAX - 100), None);
    }

    #[test]
    fn every_rejects_periods_under_a_second() {
        for period in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_nanos(999_999_999),
        ] {
            let error = When::every(period).unwrap_err();
            assert_eq!(error, WhenError::PeriodTooShort { period });
        }
        assert_eq!(
            When::every(Duration::from_millis(500))
                .unwrap_err()
                .to_string(),
            "the period of --every must be at least 1s, got 500ms: use a period such as 30s, 5m or 6h"
        );
        assert!(When::every(Duration::from_secs(1)).is_ok());
        assert!(matches!(
            When::every(Duration::MAX),
            Err(WhenError::PeriodTooLong { .. })
        ));
        // Sub-millisecond parts are dropped.
        assert_eq!(
            When::every(Duration::from_micros(1_000_999)).unwrap(),
            When::Every { every_ms: 1_000 }
        );
    }

    // 2. Cron in UTC.

    #[test]
    fn cron_daily_in_utc() {
        let when = When::cron("0 3 * * *", None).unwrap();
        assert_eq!(
            when,
            When::Cron {
                cron: "0 3 * * *".into(),
                tz: "UTC".into()
            }
        );
        assert_eq!(
            when.next_after(0, ms("2026-05-04T10:00:00Z")),
            Some(ms("2026-05-05T03:00:00Z"))
        );
        // Strictly after: on the tick itself, the next day's.
        assert_eq!(
            when.next_after(0, ms("2026-05-05T03:00:00Z")),
            Some(ms("2026-05-06T03:00:00Z"))
        );
        assert_eq!(
            when.next_after(0, ms("2026-05-05T02:59:59.999Z")),
            Some(ms("2026-05-05T03:00:00Z"))
        );
        assert_ticks(
            when.ticks(
                0,
                ms("2026-05-04T10:00:00Z"),
                ms("2026-05-07T03:00:00Z"),
                10,
            ),
            &[
                "2026-05-05T03:00:00Z",
                "2026-05-06T03:00:00Z",
                "2026-05-07T03:00:00Z",
            ],
            "UTC",
        );
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-05-07T02:00:00Z"), 0),
            Some(ms("2026-05-06T03:00:00Z"))
        );
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-05-07T03:00:00Z"), 0),
            Some(ms("2026-05-07T03:00:00Z"))
        );
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-05-07T02:00:00Z"), ms("2026-05-06T03:00:00Z")),
            None
        );
    }

    #[test]
    fn cron_working_hours_sequence() {
        // 2026-05-08 is a Friday.
        let when = cron("*/15 9-17 * * MON-FRI", "UTC");
        assert_ticks(
            when.ticks(0, ms("2026-05-08T17:20:00Z"), u64::MAX, 5),
            &[
                "2026-05-08T17:30:00Z",
                "2026-05-08T17:45:00Z",
                "2026-05-11T09:00:00Z",
                "2026-05-11T09:15:00Z",
                "2026-05-11T09:30:00Z",
            ],
            "UTC",
        );
        // A whole working day has 9 hours of 4 quarter hours.
        assert_eq!(
            window(&when, "2026-05-11T00:00:00Z", "2026-05-12T00:00:00Z").len(),
            36
        );
        // Nothing on the weekend.
        assert!(window(&when, "2026-05-09T00:00:00Z", "2026-05-11T08:59:59Z").is_empty());
    }

    #[test]
    fn cron_names_lists_and_ranges() {
        // Noon on the Sundays of January and July (2026-01-04 and 2026-07-05
        // are the first ones); names in any case.
        let when = cron("0 12 * jan,Jul SUN", "UTC");
        assert_ticks(
            when.ticks(0, ms("2026-01-01T00:00:00Z"), u64::MAX, 1),
            &["2026-01-04T12:00:00Z"],
            "UTC",
        );
        assert_ticks(
            when.ticks(0, ms("2026-01-31T00:00:00Z"), u64::MAX, 2),
            &["2026-07-05T12:00:00Z", "2026-07-12T12:00:00Z"],
            "UTC",
        );
        // A list of hours.
        assert_ticks(
            window(
                &cron("5 8,12,18 * * *", "UTC"),
                "2026-05-04T00:00:00Z",
                "2026-05-05T00:00:00Z",
            ),
            &[
                "2026-05-04T08:05:00Z",
                "2026-05-04T12:05:00Z",
                "2026-05-04T18:05:00Z",
            ],
            "UTC",
        );
        // A stepped range and a month range.
        assert_ticks(
            window(
                &cron("0 9-17/4 1 MAR-APR *", "UTC"),
                "2026-01-01T00:00:00Z",
                "2026-12-31T00:00:00Z",
            ),
            &[
                "2026-03-01T09:00:00Z",
                "2026-03-01T13:00:00Z",
                "2026-03-01T17:00:00Z",
                "2026-04-01T09:00:00Z",
                "2026-04-01T13:00:00Z",
                "2026-04-01T17:00:00Z",
            ],
            "UTC",
        );
        // Day 7 is Sunday too; day-of-month and day-of-week restricted
        // together fire on either (the 13th, or a Friday).
        assert_eq!(
            cron("0 0 * * 7", "UTC").next_after(0, ms("2026-05-04T00:00:00Z")),
            Some(ms("2026-05-10T00:00:00Z"))
        );
        assert_ticks(
            window(
                &cron("0 0 13 * FRI", "UTC"),
                "2026-05-01T00:00:00Z",
                "2026-05-16T00:00:00Z",
            ),
            &[
                "2026-05-08T00:00:00Z",
                "2026-05-13T00:00:00Z",
                "2026-05-15T00:00:00Z",
            ],
            "UTC",
        );
        // Extra white space is tidied.
        assert_eq!(
            cron("  0   3 * *\t*  ", "UTC"),
            When::Cron {
                cron: "0 3 * * *".into(),
                tz: "UTC".into()
            }
        );
    }

    #[test]
    fn cron_aliases() {
        let after = ms("2026-05-04T10:30:00Z"); // a Monday
        for (alias, expected) in [
            ("@yearly", "2027-01-01T00:00:00Z"),
            ("@annually", "2027-01-01T00:00:00Z"),
            ("@monthly", "2026-06-01T00:00:00Z"),
            ("@weekly", "2026-05-10T00:00:00Z"),
            ("@daily", "2026-05-05T00:00:00Z"),
            ("@midnight", "2026-05-05T00:00:00Z"),
            ("@hourly", "2026-05-04T11:00:00Z"),
            ("@DAILY", "2026-05-05T00:00:00Z"),
        ] {
            let when = cron(alias, "UTC");
            assert_eq!(when.next_after(0, after), Some(ms(expected)), "{alias}");
            assert_eq!(when.describe(), format!("cron {alias} (UTC)"));
        }
        assert_eq!(
            When::cron("@fortnightly", None).unwrap_err().to_string(),
            "invalid cron expression \"@fortnightly\": unknown alias; use five fields (minute hour day-of-month month day-of-week) or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
        );
        assert!(matches!(
            When::cron("@daily 3", None),
            Err(WhenError::UnknownAlias { .. })
        ));
    }

    #[test]
    fn cron_leap_day_and_end_of_range() {
        let when = cron("0 0 29 2 *", "UTC");
        assert_eq!(
            when.next_after(0, ms("2026-05-04T00:00:00Z")),
            Some(ms("2028-02-29T00:00:00Z"))
        );
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-05-04T00:00:00Z"), 0),
            Some(ms("2024-02-29T00:00:00Z"))
        );
        // croner searches up to the year 5000, and no further.
        let daily = cron("0 0 * * *", "UTC");
        assert_eq!(
            daily.next_after(0, ms("4999-12-31T12:00:00Z")),
            Some(ms("5000-01-01T00:00:00Z"))
        );
        assert_eq!(daily.next_after(0, ms("5000-01-01T00:00:00Z")), None);
        assert_eq!(daily.next_after(0, u64::MAX), None);
        assert_eq!(
            daily.last_tick_at_or_before(0, u64::MAX, 0),
            Some(ms("5000-01-01T00:00:00Z"))
        );
    }

    // 3. Another zone.

    #[test]
    fn cron_in_shanghai_fires_at_19_utc_the_day_before() {
        let when = cron("0 3 * * *", "Asia/Shanghai");
        assert_eq!(
            when.next_after(0, ms("2026-05-04T00:00:00Z")),
            Some(ms("2026-05-04T19:00:00Z"))
        );
        assert_eq!(
            ms("2026-05-04T19:00:00Z"),
            ms("2026-05-05T03:00:00+08:00[Asia/Shanghai]")
        );
        assert_eq!(when.describe(), "cron 0 3 * * * (Asia/Shanghai)");
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-05-04T18:59:59Z"), 0),
            Some(ms("2026-05-03T19:00:00Z"))
        );
    }

    // 4. New York, spring forward: 2026-03-08 02:00 EST becomes 03:00 EDT.

    #[test]
    fn new_york_spring_forward_fixed_time_fires_once_after_the_gap() {
        let when = cron("30 2 * * *", "America/New_York");
        assert_ticks(
            window(
                &when,
                "2026-03-07T12:00:00-05:00[America/New_York]",
                "2026-03-09T12:00:00-04:00[America/New_York]",
            ),
            &[
                "2026-03-08T03:00:00-04:00[America/New_York]",
                "2026-03-09T02:30:00-04:00[America/New_York]",
            ],
            "America/New_York",
        );
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-03-08T12:00:00-04:00[America/New_York]"), 0),
            Some(ms("2026-03-08T03:00:00-04:00[America/New_York]"))
        );
    }

    #[test]
    fn new_york_spring_forward_interval_jobs_skip_the_gap() {
        assert_ticks(
            window(
                &cron("0 * * * *", "America/New_York"),
                "2026-03-08T00:30:00-05:00[America/New_York]",
                "2026-03-08T04:30:00-04:00[America/New_York]",
            ),
            &[
                "2026-03-08T01:00:00-05:00[America/New_York]",
                "2026-03-08T03:00:00-04:00[America/New_York]",
                "2026-03-08T04:00:00-04:00[America/New_York]",
            ],
            "America/New_York",
        );
        // 01:00 EST and 03:00 EDT are one real hour apart: none is missing.
        assert_eq!(
            ms("2026-03-08T03:00:00-04:00[America/New_York]")
                - ms("2026-03-08T01:00:00-05:00[America/New_York]"),
            3_600_000
        );
        assert_ticks(
            window(
                &cron("*/15 * * * *", "America/New_York"),
                "2026-03-08T01:40:00-05:00[America/New_York]",
                "2026-03-08T03:20:00-04:00[America/New_York]",
            ),
            &[
                "2026-03-08T01:45:00-05:00[America/New_York]",
                "2026-03-08T03:00:00-04:00[America/New_York]",
                "2026-03-08T03:15:00-04:00[America/New_York]",
            ],
            "America/New_York",
        );
        // An interval job whose only times fall in the gap skips the day.
        assert_ticks(
            window(
                &cron("0,30 2 * * *", "America/New_York"),
                "2026-03-07T12:00:00-05:00[America/New_York]",
                "2026-03-09T12:00:00-04:00[America/New_York]",
            ),
            &[
                "2026-03-09T02:00:00-04:00[America/New_York]",
                "2026-03-09T02:30:00-04:00[America/New_York]",
            ],
            "America/New_York",
        );
    }

    // 5. New York, fall back: 2026-11-01 02:00 EDT becomes 01:00 EST.

    #[test]
    fn new_york_fall_back_fixed_time_fires_once() {
        let when = cron("30 1 * * *", "America/New_York");
        assert_ticks(
            window(
                &when,
                "2026-10-31T12:00:00-04:00[America/New_York]",
                "2026-11-02T12:00:00-05:00[America/New_York]",
            ),
            &[
                "2026-11-01T01:30:00-04:00[America/New_York]",
                "2026-11-02T01:30:00-05:00[America/New_York]",
            ],
            "America/New_York",
        );
        // From anywhere in the repeated hour, before or after the first
        // 01:30, the second 01:30 is never a tick.
        for after in [
            "2026-11-01T01:30:00-04:00[America/New_York]",
            "2026-11-01T01:45:00-04:00[America/New_York]",
            "2026-11-01T01:00:00-05:00[America/New_York]",
            "2026-11-01T01:29:59-05:00[America/New_York]",
        ] {
            assert_eq!(
                when.next_after(0, ms(after)),
                Some(ms("2026-11-02T01:30:00-05:00[America/New_York]")),
                "from {after}"
            );
        }
        // The latest tick, from the second pass, is the first 01:30.
        assert_eq!(
            when.last_tick_at_or_before(0, ms("2026-11-01T01:45:00-05:00[America/New_York]"), 0),
            Some(ms("2026-11-01T01:30:00-04:00[America/New_York]"))
        );
    }

    #[test]
    fn new_york_fall_back_interval_jobs_fire_in_both_passes() {
        let hourly = cron("0 * * * *", "America/New_York");
        assert_ticks(
            window(
                &hourly,
                "2026-11-01T00:30:00-04:00[America/New_York]",
                "2026-11-01T02:30:00-05:00[America/New_York]",
            ),
            &[
                "2026-11-01T01:00:00-04:00[America/New_York]",
                "2026-11-01T01:00:00-05:00[America/New_York]",
                "2026-11-01T02:00:00-05:00[America/New_York]",
            ],
            "America/New_York",
        );
        // One tick at a time, as a host resuming after each one.
        assert_eq!(
            hourly.next_after(0, ms("2026-11-01T01:00:00-04:00[America/New_York]")),
            Some(ms("2026-11-01T01:00:00-05:00[America/New_York]"))
        );
        assert_eq!(
            hourly.last_tick_at_or_before(0, ms("2026-11-01T01:59:59-05:00[America/New_York]"), 0),
            Some(ms("2026-11-01T01:00:00-05:00[America/New_York]"))
        );
        // Every quarter hour of both passes.
        assert_ticks(
            window(
                &cron("*/15 * * * *", "America/New_York"),
                "2026-11-01T00:50:00-04:00[America/New_York]",
                "2026-11-01T02:05:00-05:00[America/New_York]",
            ),
            &[
                "2026-11-01T01:00:00-04:00[America/New_York]",
                "2026-11-01T01:15:00-04:00[America/New_York]",
                "2026-11-01T01:30:00-04:00[America/New_York]",
                "2026-11-01T01:45:00-04:00[America/New_York]",
                "2026-11-01T01:00:00-05:00[America/New_York]",
                "2026-11-01T01:15:00-05:00[America/New_York]",
                "2026-11-01T01:30:00-05:00[America/New_York]",
                "2026-11-01T01:45:00-05:00[America/New_York]",
                "2026-11-01T02:00:00-05:00[America/New_York]",
            ],
            "America/New_York",
        );
    }

    // 6. London: spring forward 2026-03-29 01:00 GMT becomes 02:00 BST; fall
    // back 2026-10-25 02:00 BST becomes 01:00 GMT.

    #[test]
    fn london_spring_forward_fixed_time_fires_after_the_gap() {
        assert_ticks(
            window(
                &cron("30 1 * * *", "Europe/London"),
                "2026-03-28T12:00:00+00:00[Europe/London]",
                "2026-03-30T12:00:00+01:00[Europe/London]",
            ),
            &[
                "2026-03-29T02:00:00+01:00[Europe/London]",
                "2026-03-30T01:30:00+01:00[Europe/London]",
            ],
            "Europe/London",
        );
    }

    #[test]
    fn london_fall_back_fixed_time_once_hourly_twice() {
        assert_ticks(
            window(
                &cron("30 1 * * *", "Europe/London"),
                "2026-10-24T12:00:00+01:00[Europe/London]",
                "2026-10-26T12:00:00+00:00[Europe/London]",
            ),
            &[
                "2026-10-25T01:30:00+01:00[Europe/London]",
                "2026-10-26T01:30:00+00:00[Europe/London]",
            ],
            "Europe/London",
        );
        assert_ticks(
            window(
                &cron("0 * * * *", "Europe/London"),
                "2026-10-25T00:30:00+01:00[Europe/London]",
                "2026-10-25T02:30:00+00:00[Europe/London]",
            ),
            &[
                "2026-10-25T01:00:00+01:00[Europe/London]",
                "2026-10-25T01:00:00+00:00[Europe/London]",
                "2026-10-25T02:00:00+00:00[Europe/London]",
            ],
            "Europe/London",
        );
    }

    #[test]
    fn backward_search_agrees_with_forward_ticks_around_transitions() {
        // For every quarter-hour (and a second before it) of both transition
        // days, the latest tick is the last one the forward walk gives.
        for (expr, tz, day_start) in [
            ("30 2 * * *", "America/New_York", "2026-03-07T20:00:00Z"),
            ("0 * * * *", "America/New_York", "2026-03-07T20:00:00Z"),
            ("*/15 * * * *", "America/New_York", "2026-03-07T20:00:00Z"),
            ("30 1 * * *", "America/New_York", "2026-10-31T20:00:00Z"),
            ("0 * * * *", "America/New_York", "2026-10-31T20:00:00Z"),
            ("*/20 1 * * *", "America/New_York", "2026-10-31T20:00:00Z"),
            ("30 1 * * *", "Europe/London", "2026-03-28T20:00:00Z"),
            ("30 1 * * *", "Europe/London", "2026-10-24T20:00:00Z"),
        ] {
            let when = cron(expr, tz);
            let start = ms(day_start);
            let forward = when.ticks(0, start, start + DAY, 10_000);
            assert!(!forward.is_empty(), "{expr} in {tz}");
            for step in 1..=96 {
                for until in [start + step * 900_000, start + step * 900_000 - 1_000] {
                    let expected = forward.iter().rev().find(|t| **t <= until).copied();
                    assert_eq!(
                        when.last_tick_at_or_before(0, until, start),
                        expected,
                        "{expr} in {tz}, until {:?}",
                        show(&[until], tz)
                    );
                }
            }
        }
    }

    // 7. Errors.

    #[test]
    fn each_bad_field_is_named() {
        for (expr, field, value) in [
            ("61 * * * *", "minute", "61"),
            ("0 25 * * *", "hour", "25"),
            ("0 0 32 * *", "day-of-month", "32"),
            ("0 0 0 * *", "day-of-month", "0"),
            ("0 0 * 13 *", "month", "13"),
            ("0 0 * * 8", "day-of-week", "8"),
            ("0 0 * * FUNDAY", "day-of-week", "FUNDAY"),
            ("*/0 * * * *", "minute", "*/0"),
            ("0 5-2x * * *", "hour", "5-2x"),
            ("0 0 * MON *", "month", "MON"),
            ("0 0 * * JAN", "day-of-week", "JAN"),
            ("MON 0 * * *", "minute", "MON"),
        ] {
            match When::cron(expr, None) {
                Err(WhenError::InvalidField {
                    field: named,
                    value: got,
                    ..
                }) => {
                    assert_eq!((named, got.as_str()), (field, value), "{expr}");
                }
                other => panic!("{expr}: expected the {field} field named, got {other:?}"),
            }
        }
        assert_eq!(
            When::cron("0 25 * * *", None).unwrap_err().to_string(),
            "invalid cron expression \"0 25 * * *\": the hour field \"25\" is not valid (expected 0-23, a list, range or step such as 1,5 or 1-5 or */2); fields are: minute hour day-of-month month day-of-week"
        );
        assert_eq!(
            When::cron("0 0 * * FUNDAY", None).unwrap_err().to_string(),
            "invalid cron expression \"0 0 * * FUNDAY\": the day-of-week field \"FUNDAY\" is not valid (expected 0-7 or SUN-SAT (0 and 7 are Sunday), a list, range or step such as 1,5 or MON-FRI or */2); fields are: minute hour day-of-month month day-of-week"
        );
    }

    #[test]
    fn five_fields_exactly() {
        assert_eq!(
            When::cron("0 0 3 * * *", None).unwrap_err(),
            WhenError::FieldCount {
                expr: "0 0 3 * * *".into(),
                found: 6
            }
        );
        assert_eq!(
            When::cron("0 0 3 * * * 2027", None)
                .unwrap_err()
                .to_string(),
            "invalid cron expression \"0 0 3 * * * 2027\": expected five fields (minute hour day-of-month month day-of-week), found 7 (seconds and year fields are not supported)"
        );
        assert_eq!(
            When::cron("0 3 * *", None).unwrap_err().to_string(),
            "invalid cron expression \"0 3 * *\": expected five fields (minute hour day-of-month month day-of-week), found 4"
        );
        for empty in ["", "   ", "\t\n"] {
            assert_eq!(When::cron(empty, None).unwrap_err(), WhenError::EmptyCron);
        }
        assert!(When::cron("", None)
            .unwrap_err()
            .to_string()
            .starts_with("empty cron expression: give five fields"));
    }

    #[test]
    fn never_firing_expressions_are_refused() {
        assert_eq!(
            When::cron("0 0 30 2 *", None).unwrap_err(),
            WhenError::NeverFires {
                expr: "0 0 30 2 *".into()
            }
        );
        assert!(When::cron("0 0 31 4,6 *", None).is_err());
        // The 31st exists in some months of the list.
        assert!(When::cron("0 0 31 4,5 *", None).is_ok());
    }

    #[test]
    fn unknown_time_zones_are_refused() {
        assert_eq!(
            When::cron("0 3 * * *", Some("Mars/Base"))
                .unwrap_err()
                .to_string(),
            "unknown time zone \"Mars/Base\": use an IANA name such as UTC, Europe/Paris or Asia/Shanghai"
        );
        assert!(matches!(
            When::cron("0 3 * * *", Some("")),
            Err(WhenError::UnknownTimeZone { .. })
        ));
        // A bad expression is reported before a bad zone.
        assert!(matches!(
            When::cron("0 25 * * *", Some("Mars/Base")),
            Err(WhenError::InvalidField { .. })
        ));
        // Zone names are found case-insensitively and kept canonical.
        assert_eq!(
            cron("0 3 * * *", "asia/shanghai"),
            When::Cron {
                cron: "0 3 * * *".into(),
                tz: "Asia/Shanghai".into()
            }
        );
    }

    #[test]
    fn stored_values_are_checked() {
        assert!(cron("0 3 * * *", "Europe/Paris").validate().is_ok());
        assert!(When::Every { every_ms: 60_000 }.validate().is_ok());
        // Values read back from storage can be anything: they have no ticks
        // and validate() says why.
        let bad = [
            When::Every { every_ms: 0 },
            When::Cron {
                cron: "0 25 * * *".into(),
                tz: "UTC".into(),
            },
            When::Cron {
                cron: "0 3 * * *".into(),
                tz: "Mars/Base".into(),
            },
        ];
        for when in bad {
            assert!(when.validate().is_err(), "{when:?}");
            assert!(when.ticks(0, 0, u64::MAX, 10).is_empty(), "{when:?}");
            assert_eq!(when.next_after(0, 0), None);
            assert_eq!(when.last_tick_at_or_before(0, u64::MAX, 0), None);
        }
    }

    #[test]
    fn descriptions() {
        let every = |ms| When::Every { every_ms: ms }.describe();
        assert_eq!(every(6 * 3_600_000), "every 6h");
        assert_eq!(every(90 * 60_000), "every 90m");
        assert_eq!(every(45_000), "every 45s");
        assert_eq!(every(1_500), "every 1500ms");
        assert_eq!(
            cron("0 3 * * *", "Asia/Shanghai").describe(),
            "cron 0 3 * * * (Asia/Shanghai)"
        );
    }

    // 8. Serde.

    #[test]
    fn serde_round_trip() {
        let every = When::every(Duration::from_secs(6 * 3600)).unwrap();
        let json = serde_json::to_string(&every).unwrap();
        assert_eq!(json, r#"{"kind":"every","every_ms":21600000}"#);
        assert_eq!(serde_json::from_str::<When>(&json).unwrap(), every);

        let cron = cron("0 3 * * *", "Asia/Shanghai");
        let json = serde_json::to_string(&cron).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"cron","cron":"0 3 * * *","tz":"Asia/Shanghai"}"#
        );
        assert_eq!(serde_json::from_str::<When>(&json).unwrap(), cron);

        assert!(serde_json::from_str::<When>(r#"{"kind":"hourly"}"#).is_err());
    }
}

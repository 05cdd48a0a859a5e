//! Schedules: named definitions, kept in Redis beside their queue, that
//! fire *rounds* of tasks (`jobhost schedule add …`).
//!
//! Every host of the queue ticks every schedule ([`ticker`]); a fire is
//! claimed atomically in Redis, keyed by schedule and fire time, so each tick
//! is produced by exactly one host and no leader is elected. A round's tasks
//! are enqueued in chunks with a cursor kept in Redis, each chunk and its
//! cursor move in one script call; a host that dies mid-round leaves the
//! rest to whichever host adopts the round once its production lease lapses.
//! The queue's scripts count each round's tasks done or dead as they end
//! (follow-ups included), so a round knows when it is complete.
//!
//! - [`when`]: every N, or cron in a time zone;
//! - [`source`]: what a round produces (task lines, a URL range, a file);
//! - [`store`]: the schedules, their state and rounds in Redis;
//! - [`ticker`]: the loop every host runs, and a round's production;
//! - [`local`]: schedules of the in-memory queue (`jobhost run --schedule`).

pub mod local;
pub mod source;
pub mod store;
pub mod ticker;
pub mod when;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::source::Source;
pub use self::when::When;

/// What happens to ticks that passed while no host was ticking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Fire none of them; wait for the next tick.
    Skip,
    /// Fire one round for all of them, at once.
    One,
}

/// What a tick does while the schedule's previous round is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Fire nothing (the tick is counted as overlapped).
    Skip,
    /// Start the new round anyway.
    Allow,
}

/// A schedule, as stored (JSON in the queue's schedules hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Its name: lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// When it fires.
    pub when: When,
    /// When it was added (ms since the epoch); `every` counts from here.
    pub anchor_ms: u64,
    /// What each round produces.
    pub source: Source,
    /// The plugin for produced tasks that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Release the round's tasks evenly over this many ms (0: all at once).
    #[serde(default)]
    pub spread_ms: u64,
    /// Skip a task whose URL is still queued or running (from any round).
    #[serde(default)]
    pub unique: bool,
    /// Missed ticks.
    pub catch_up: CatchUp,
    /// A tick while the previous round runs.
    pub overlap: Overlap,
    /// A task line enqueued once when a round has no pending task left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_complete: Option<String>,
}

/// A schedule that cannot be used; each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A bad name.
    #[error("invalid schedule name `{0}`: use 1 to 64 lower-case letters, digits, `-` or `_`")]
    Name(String),
    /// A bad `--every` or `--cron`.
    #[error(transparent)]
    When(#[from] when::WhenError),
    /// A bad source.
    #[error("{0}")]
    Source(String),
    /// A bad `--on-complete` task.
    #[error("invalid --on-complete task: {0}")]
    OnComplete(String),
    /// No such schedule.
    #[error("no schedule named `{0}` on this queue (see `jobhost schedule list`)")]
    Unknown(String),
    /// `add` of a name in use.
    #[error("a schedule named `{0}` exists already: remove it first, or add with --replace")]
    Exists(String),
    /// Redis failed.
    #[error("{0}")]
    Backend(String),
    /// Redis is unreachable (connection trouble, a failover): an outage a
    /// host waits out.
    #[error("{0}")]
    Unavailable(String),
}

/// Whether `name` may name a schedule (it is part of round ids and keys).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Schedule {
    /// Check everything a round will need, so that a bad schedule is refused
    /// when it is added rather than at its first fire.
    pub fn check(&self) -> Result<(), ScheduleError> {
        if !valid_name(&self.name) {
            return Err(ScheduleError::Name(self.name.clone()));
        }
        self.source.check()?;
        if let Some(plugin) = &self.plugin {
            if !crate::task::valid_plugin_name(plugin) {
                return Err(ScheduleError::Source(format!(
                    "invalid plugin name `{plugin}`: use lower-case letters, digits and `-`"
                )));
            }
        }
        if let Some(line) = &self.on_complete {
            self.on_complete_task(line)?;
        }
        Ok(())
    }

    /// The spread as a duration.
    pub fn spread(&self) -> Duration {
        Duration::from_millis(self.spread_ms)
    }

    /// The on-complete task of a round, in the queue's wire form.
    pub fn on_complete_task(&self, line: &str) -> Result<String, ScheduleError> {
        let task = self.on_complete_local(line)?;
        Ok(crate::queue::wire::WireTask::from_task(&task, 0, None).to_json())
    }

    /// The on-complete task of a round (a fresh id each time).
    pub fn on_complete_local(&self, line: &str) -> Result<crate::task::Task, ScheduleError> {
        let mut task = match crate::task::Task::parse_line(line) {
            Ok(Some(task)) => task,
            Ok(None) => return Err(ScheduleError::OnComplete("the task line is empty".into())),
            Err(error) => return Err(ScheduleError::OnComplete(error.to_string())),
        };
        if task.plugin.is_none() {
            task.plugin.clone_from(&self.plugin);
        }
        Ok(task)
    }

    /// The first fire after `after_ms`.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        self.when.next_after(self.anchor_ms, after_ms)
    }

    /// How late a tick may be handled and still count as on time, not
    /// missed: half the schedule's period, at most a minute.
    pub fn on_time_window(&self, tick_ms: u64) -> u64 {
        let period = self
            .when
            .next_after(self.anchor_ms, tick_ms)
            .map_or(60_000, |next| next.saturating_sub(tick_ms));
        (period / 2).clamp(1, 60_000)
    }
}

/// What a host does with a schedule's ticks up to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The latest tick settled: the schedule's new `last_fire`.
    pub settle_to: u64,
    /// The tick to fire a round for, if any.
    pub fire: Option<u64>,
    /// Ticks passed over (missed while no host ticked, or folded into one
    /// catch-up round); at most [`COUNT_LIMIT`] are counted.
    pub missed: u64,
}

/// At most this many ticks are counted as missed in one decision.
pub const COUNT_LIMIT: usize = 10_000;

impl Schedule {
    /// The ticks after `last_fire` up to `now`: the latest is fired if it
    /// is on time ([`Schedule::on_time_window`]); if it is late, every tick
    /// was missed, and the catch-up policy fires one round for them or none.
    /// `None` when no tick has passed.
    pub fn decide(&self, last_fire: u64, now: u64) -> Option<Decision> {
        let latest = self
            .when
            .last_tick_at_or_before(self.anchor_ms, now, last_fire)?;
        let passed = self
            .when
            .ticks(self.anchor_ms, last_fire, latest, COUNT_LIMIT)
            .len()
            .max(1) as u64;
        let on_time = now.saturating_sub(latest) <= self.on_time_window(latest);
        Some(if on_time {
            Decision {
                settle_to: latest,
                fire: Some(latest),
                missed: passed - 1,
            }
        } else {
            match self.catch_up {
                CatchUp::One => Decision {
                    settle_to: latest,
                    fire: Some(latest),
                    missed: passed - 1,
                },
                CatchUp::Skip => Decision {
                    settle_to: latest,
                    fire: None,
                    missed: passed,
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_second(catch_up: CatchUp) -> Schedule {
        Schedule {
            name: "s".into(),
            when: When::Every { every_ms: 1000 },
            anchor_ms: 0,
            source: Source::Tasks {
                lines: vec!["https://example.com/1".into()],
            },
            plugin: None,
            spread_ms: 0,
            unique: false,
            catch_up,
            overlap: Overlap::Skip,
            on_complete: None,
        }
    }

    #[test]
    fn an_on_time_tick_fires_and_late_ones_follow_the_catch_up_policy() {
        let skip = every_second(CatchUp::Skip);
        let one = every_second(CatchUp::One);
        // Nothing has passed since the last fire.
        assert_eq!(skip.decide(5000, 5999), None);
        // The tick at 6000, handled 200 ms late: on time (window 500 ms).
        let on_time = Decision {
            settle_to: 6000,
            fire: Some(6000),
            missed: 0,
        };
        assert_eq!(skip.decide(5000, 6200), Some(on_time));
        assert_eq!(one.decide(5000, 6200), Some(on_time));
        // Hosts down from 5000 to 9700: ticks 6000..9000 missed.
        assert_eq!(
            skip.decide(5000, 9700),
            Some(Decision {
                settle_to: 9000,
                fire: None,
                missed: 4
            })
        );
        assert_eq!(
            one.decide(5000, 9700),
            Some(Decision {
                settle_to: 9000,
                fire: Some(9000),
                missed: 3
            })
        );
        // Back at 9300: the 9000 tick is on time, the three before missed.
        assert_eq!(
            skip.decide(5000, 9300),
            Some(Decision {
                settle_to: 9000,
                fire: Some(9000),
                missed: 3
            })
        );
    }

    #[test]
    fn names_and_on_complete_tasks_are_checked() {
        let mut schedule = every_second(CatchUp::One);
        schedule.check().expect("valid");
        schedule.name = "Nightly".into();
        assert!(schedule
            .check()
            .unwrap_err()
            .to_string()
            .contains("lower-case"));
        schedule.name = "nightly".into();
        schedule.on_complete = Some("{not json".into());
        let error = schedule.check().unwrap_err().to_string();
        assert!(error.contains("--on-complete"), "{error}");
        schedule.on_complete = Some(r#"{"url":"https://e.com/done"}"#.into());
        schedule.plugin = Some("music-sync".into());
        let wire = schedule
            .on_complete_task(schedule.on_complete.as_deref().unwrap_or_default())
            .expect("valid");
        assert!(wire.contains(r#""plugin":"music-sync""#), "{wire}");
    }
}

//! `jobhost schedule` and `jobhost run --schedule`: the flags that describe
//! a schedule, and their validation into a [`Schedule`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::{parse_duration, QueueArgs};
use crate::schedule::{Schedule, ScheduleError, Source, When};
use crate::task::now_millis;

/// `jobhost schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ScheduleAction,
    /// Queue the schedules feed.
    #[command(flatten)]
    pub queue: QueueArgs,
}

/// `jobhost schedule ...`.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Add a schedule; every host running on the queue fires it.
    Add(Box<ScheduleAddArgs>),
    /// The schedules: next and last fire, the current round's progress.
    List {
        /// Print JSON Lines.
        #[arg(long)]
        json: bool,
    },
    /// Delete a schedule (rounds already fired run to their end).
    Remove {
        /// The schedule.
        name: String,
    },
    /// Stop firing (ticks pass without a round).
    Pause {
        /// The schedule.
        name: String,
    },
    /// Fire again from the next tick (paused ticks are not caught up).
    Resume {
        /// The schedule.
        name: String,
    },
    /// Fire a round now and produce it from this process (a host adopts
    /// the rest if this one dies midway).
    Trigger {
        /// The schedule.
        name: String,
    },
}

/// `jobhost schedule add`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["every", "cron"])))]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["task", "urls", "input"])))]
pub struct ScheduleAddArgs {
    /// Its name (lower-case letters, digits, `-`, `_`).
    pub name: String,
    /// Fire every this long, counted from now (e.g. 30s, 6h, 1d).
    #[arg(long, value_parser = parse_duration)]
    pub every: Option<Duration>,
    /// Fire at the times of a five-field cron expression (minute hour
    /// day-of-month month day-of-week), e.g. "0 3 * * *".
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// The IANA time zone of --cron (default UTC), e.g. Asia/Shanghai.
    #[arg(long, value_name = "ZONE", requires = "cron")]
    pub tz: Option<String>,
    /// A task line each round enqueues (repeatable): a bare URL or a JSON
    /// task, e.g. a catalogue's first page whose plugin follows the rest.
    #[arg(long, value_name = "TASK", conflicts_with_all = ["urls", "input"])]
    pub task: Vec<String>,
    /// A URL template over a numeric range, one task per number, generated
    /// lazily: https://api.example.com/music/{1..1000000}
    #[arg(long, value_name = "TEMPLATE", conflicts_with = "input")]
    pub urls: Option<String>,
    /// A file of task lines read at each fire (absolute path; it must exist
    /// on every host that may produce a round).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Plugin for produced tasks that name none.
    #[arg(long, value_name = "NAME")]
    pub plugin: Option<String>,
    /// Release each round's tasks evenly over this window instead of at
    /// once (e.g. 4h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub spread: Option<Duration>,
    /// Skip a task whose URL is still queued or running (from this or an
    /// earlier round); the URL is free again once its task ends done or dead.
    #[arg(long)]
    pub unique: bool,
    /// Ticks missed while no host ran: fire one round for them, or none.
    #[arg(long, value_enum, default_value = "one")]
    pub catch_up: crate::schedule::CatchUp,
    /// A tick while the previous round still has pending tasks: skip it,
    /// or start the new round anyway.
    #[arg(long, value_enum, default_value = "skip")]
    pub overlap: crate::schedule::Overlap,
    /// A task line enqueued once when a round has no pending task left.
    #[arg(long, value_name = "TASK")]
    pub on_complete: Option<String>,
    /// Replace a schedule of the same name (its state is kept).
    #[arg(long)]
    pub replace: bool,
}

impl ScheduleAddArgs {
    /// The schedule these flags describe, anchored now (checked).
    pub fn into_schedule(self) -> Result<Schedule, ScheduleError> {
        let when = match (self.every, self.cron) {
            (Some(every), _) => When::every(every)?,
            (None, Some(cron)) => When::cron(&cron, self.tz.as_deref())?,
            (None, None) => {
                return Err(ScheduleError::Source("give --every or --cron".into()));
            }
        };
        let source = if let Some(template) = self.urls {
            Source::Range { template }
        } else if let Some(path) = self.input {
            let path = std::path::absolute(&path)
                .map_err(|e| ScheduleError::Source(format!("--input {}: {e}", path.display())))?;
            Source::File {
                path: path.display().to_string(),
            }
        } else {
            Source::Tasks { lines: self.task }
        };
        let schedule = Schedule {
            name: self.name,
            when,
            anchor_ms: now_millis(),
            source,
            plugin: self.plugin,
            spread_ms: self.spread.map_or(0, |d| d.as_millis() as u64),
            unique: self.unique,
            catch_up: self.catch_up,
            overlap: self.overlap,
            on_complete: self.on_complete,
        };
        schedule.check()?;
        Ok(schedule)
    }
}

/// `jobhost run --schedule SPEC`: SPEC is what follows `jobhost schedule
/// add`, quoted as a shell would (`'nightly --cron "0 3 * * *" --urls …'`).
pub fn parse_schedule_spec(spec: &str) -> Result<Schedule, String> {
    #[derive(Parser)]
    #[command(name = "--schedule", no_binary_name = true)]
    struct Spec {
        #[command(flatten)]
        add: ScheduleAddArgs,
    }
    let words = shlex::split(spec)
        .ok_or_else(|| format!("`{spec}` has an unclosed quote or a trailing backslash"))?;
    let parsed = Spec::try_parse_from(words).map_err(|e| {
        // clap's message without its usage and help lines.
        let text = e.to_string();
        let detail: Vec<&str> = text
            .lines()
            .map(str::trim)
            .take_while(|line| !line.starts_with("Usage:"))
            .filter(|line| !line.is_empty())
            .collect();
        format!(
            "`{spec}`: {}; write it as `jobhost schedule add` takes it, e.g. 'nightly --every 24h --urls https://example.com/{{1..100}}'",
            detail.join(" ").trim_start_matches("error: ")
        )
    })?;
    parsed
        .add
        .into_schedule()
        .map_err(|e| format!("`{spec}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_reads_as_schedule_add_does() {
        let schedule = parse_schedule_spec(
            r#"nightly --cron "0 3 * * *" --tz Asia/Shanghai --urls 'https://e.com/m/{1..10}' --spread 1h --unique"#,
        )
        .expect("valid");
        assert_eq!(schedule.name, "nightly");
        assert_eq!(schedule.spread_ms, 3_600_000);
        assert!(schedule.unique);
        assert_eq!(
            schedule.source,
            Source::Range {
                template: "https://e.com/m/{1..10}".into()
            }
        );
        for (spec, says) in [
            ("nightly --every 1h", "--task"),
            ("nightly --task https://e.com/1", "--every"),
            (
                "nightly --every 1h --task 'https://e.com/1",
                "unclosed quote",
            ),
            ("nightly --cron '0 25 * * *' --task https://e.com/1", "hour"),
        ] {
            let error = parse_schedule_spec(spec).expect_err(spec);
            assert!(error.contains(says), "{spec}: {error}");
        }
    }
}

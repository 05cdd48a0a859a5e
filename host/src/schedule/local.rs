//! Schedules for the in-memory queue: given to a long-running `jobhost run`
//! with `--schedule` (the `schedule add` syntax in one flag), ticked and
//! produced in this process only. The same decisions as on Redis (on-time
//! window, catch-up, overlap), the same sources, spread, unique URLs and
//! on-complete tasks; the state lives and dies with the process, so there is
//! nothing to claim, resume or catch up after a restart.

use std::sync::Arc;
use std::time::Duration;

use super::{Overlap, Schedule, ScheduleError};
use crate::queue::{MemoryQueue, Queue as _};
use crate::task::{now_millis, Round};

/// How often the schedules are looked at.
const TICK: Duration = Duration::from_millis(200);
/// Tasks pushed at a time (then the queue's intake limit applies).
const CHUNK: usize = 2000;

/// The schedules of one in-memory run.
pub struct LocalTicker {
    schedules: Vec<Schedule>,
    queue: Arc<MemoryQueue>,
}

impl LocalTicker {
    /// Tick `schedules` (checked already) onto `queue`, which is kept open.
    pub fn new(schedules: Vec<Schedule>, queue: Arc<MemoryQueue>) -> Self {
        queue.keep_open();
        LocalTicker { schedules, queue }
    }

    /// Tick until the task is aborted.
    pub async fn run(self) {
        let mut last: Vec<u64> = self.schedules.iter().map(|s| s.anchor_ms).collect();
        let mut current: Vec<Option<String>> = vec![None; self.schedules.len()];
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (i, schedule) in self.schedules.iter().enumerate() {
                let Some(decision) = schedule.decide(last[i], now_millis()) else {
                    continue;
                };
                last[i] = decision.settle_to;
                if decision.missed > 0 {
                    tracing::warn!(schedule = %schedule.name, "{} tick(s) missed (this host was busy); {:?} catch-up", decision.missed, schedule.catch_up);
                }
                let Some(fire) = decision.fire else { continue };
                let running = current[i]
                    .as_deref()
                    .and_then(|id| self.queue.round(id))
                    .is_some_and(|round| !round.completed);
                if running && schedule.overlap == Overlap::Skip {
                    tracing::warn!(schedule = %schedule.name, "tick skipped: the previous round {} is still running (overlap: skip)", current[i].as_deref().unwrap_or("?"));
                    continue;
                }
                let id = format!("{}@{fire}", schedule.name);
                current[i] = Some(id.clone());
                tracing::info!(schedule = %schedule.name, round = %id, "fired");
                match produce(&self.queue, &id, schedule, fire).await {
                    Ok(enqueued) => {
                        tracing::info!(schedule = %schedule.name, round = %id, "produced: {enqueued} tasks enqueued");
                    }
                    Err(error) => {
                        tracing::error!(schedule = %schedule.name, round = %id, "producing the round failed: {error}");
                    }
                }
            }
        }
    }
}

/// Push round `id` of `schedule` onto `queue` in chunks, waiting for room
/// between them as input does. Returns the tasks enqueued.
async fn produce(
    queue: &MemoryQueue,
    id: &str,
    schedule: &Schedule,
    fire: u64,
) -> Result<u64, ScheduleError> {
    let on_complete = match &schedule.on_complete {
        Some(line) => Some(schedule.on_complete_local(line)?),
        None => None,
    };
    queue.open_round(id, on_complete);
    let size = if schedule.spread_ms > 0 {
        schedule.source.size()?
    } else {
        0
    };
    let round = Round {
        id: id.to_owned(),
        unique: schedule.unique,
    };
    let mut enqueued = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut position = 0u64;
    let tasks = match schedule.source.tasks_from(id, 0) {
        Ok(tasks) => tasks,
        Err(error) => {
            queue.round_produced(id);
            return Err(error);
        }
    };
    for produced in tasks {
        match produced.task {
            Ok(mut task) => {
                if task.plugin.is_none() {
                    task.plugin.clone_from(&schedule.plugin);
                }
                task.round = Some(round.clone());
                let due = if size > 0 {
                    fire + (u128::from(schedule.spread_ms) * u128::from(position)
                        / u128::from(size)) as u64
                } else {
                    0
                };
                chunk.push((due, task));
            }
            Err(error) if error.is_empty() => {}
            Err(error) => {
                tracing::warn!(schedule = %schedule.name, round = %id, "position {position} of the source is not a task, passed over: {error}");
            }
        }
        position = produced.next;
        if chunk.len() == CHUNK {
            enqueued += queue.push_round(id, std::mem::take(&mut chunk)) as u64;
            queue.wait_for_room().await;
        }
    }
    enqueued += queue.push_round(id, chunk) as u64;
    queue.round_produced(id);
    Ok(enqueued)
}

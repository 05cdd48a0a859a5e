//! The loop every host of a Redis queue runs: tick each schedule, claim the
//! fires that are due, produce the rounds it claimed, and adopt rounds whose
//! producer died. Also a round's production itself, which `jobhost schedule
//! trigger` runs in its own process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::store::{Claimed, Store, PRODUCTION_LEASE};
use super::{Decision, Schedule, ScheduleError};
use crate::queue::redis::RedisAdmin;
use crate::queue::wire::WireTask;
use crate::redis::Outage;
use crate::task::{now_millis, Round};

/// How often a host looks at the schedules.
const TICK: Duration = Duration::from_millis(200);
/// How often it looks for rounds to adopt.
const ADOPT_EVERY: Duration = Duration::from_secs(2);
/// Rounds fired longer ago than this leave the index of rounds.
const ROUND_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Tasks per `produce.lua` call.
pub const CHUNK: usize = 2000;

/// One host's ticker.
pub struct Ticker {
    store: Store,
    owner: String,
    /// Rounds this process is producing now.
    producing: Arc<Mutex<HashSet<String>>>,
}

impl Ticker {
    /// A ticker for `admin`'s queue; `owner` names this host in rounds it
    /// produces.
    pub fn new(admin: RedisAdmin, owner: String) -> Self {
        Ticker {
            store: Store::new(admin),
            owner,
            producing: Arc::default(),
        }
    }

    /// Tick until the task is aborted.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_adopt = tokio::time::Instant::now();
        let mut last_trim = tokio::time::Instant::now();
        let mut outage = Outage::new("ticking the schedules");
        loop {
            tick.tick().await;
            self.report(self.tick().await, &mut outage);
            if last_adopt.elapsed() >= ADOPT_EVERY {
                last_adopt = tokio::time::Instant::now();
                self.report(self.adopt().await, &mut outage);
            }
            if last_trim.elapsed() >= Duration::from_secs(60) {
                last_trim = tokio::time::Instant::now();
                self.report(self.store.trim(ROUND_WINDOW).await, &mut outage);
            }
        }
    }

    /// Log a step of the loop: an outage once when it starts and once when
    /// it ends (the loop retries at every tick meanwhile), as the queue's
    /// own loops do; any other failure at every step, as an error.
    fn report(&self, step: Result<(), ScheduleError>, outage: &mut Outage) {
        let url = self.store.admin().redis().url();
        match step {
            Ok(()) => outage.ok(url),
            Err(error @ ScheduleError::Unavailable(_)) => outage.down(url, &error),
            Err(error) => tracing::error!("schedules: {error}"),
        }
    }

    async fn tick(&self) -> Result<(), ScheduleError> {
        let now = now_millis();
        for (schedule, state) in self.store.all().await? {
            let last_fire = state.last_fire.unwrap_or(schedule.anchor_ms);
            let Some(decision) = schedule.decide(last_fire, now) else {
                continue;
            };
            let claimed = self
                .store
                .claim(&schedule, state.last_fire, decision, &self.owner, false)
                .await?;
            match claimed {
                Claimed::Fired(id) => {
                    if decision.missed > 0 {
                        tracing::warn!(schedule = %schedule.name, "{} tick(s) missed while no host was ticking; fired one round for them ({:?} catch-up)", decision.missed, schedule.catch_up);
                    }
                    tracing::info!(schedule = %schedule.name, round = %id, "fired");
                    self.spawn_production(id, schedule, 0);
                }
                Claimed::Overlap => {
                    tracing::warn!(schedule = %schedule.name, "tick skipped: the previous round {} is still running (overlap: skip)", state.current.as_deref().unwrap_or("?"));
                }
                Claimed::Settled if decision.missed > 0 => {
                    tracing::warn!(schedule = %schedule.name, "{} tick(s) missed while no host was ticking (catch-up: skip)", decision.missed);
                }
                Claimed::Stale | Claimed::Paused | Claimed::Settled => {}
            }
        }
        Ok(())
    }

    async fn adopt(&self) -> Result<(), ScheduleError> {
        for (id, schedule) in self.store.unfinished().await? {
            if self.is_producing(&id) {
                continue;
            }
            if let Some(cursor) = self.store.adopt(&id, &self.owner).await? {
                tracing::warn!(schedule = %schedule.name, round = %id, "adopted a round whose producer stopped (no chunk for {PRODUCTION_LEASE:?}); continuing from position {cursor}");
                self.spawn_production(id, schedule, cursor);
            }
        }
        Ok(())
    }

    fn is_producing(&self, id: &str) -> bool {
        self.producing
            .lock()
            .map(|set| set.contains(id))
            .unwrap_or(false)
    }

    fn spawn_production(&self, id: String, schedule: Schedule, cursor: u64) {
        if let Ok(mut set) = self.producing.lock() {
            set.insert(id.clone());
        }
        let store = self.store.clone();
        let owner = self.owner.clone();
        let producing = self.producing.clone();
        tokio::spawn(async move {
            match produce(&store, &id, &schedule, cursor, &owner).await {
                Ok(Some(report)) => {
                    tracing::info!(schedule = %schedule.name, round = %id, "produced: {report}");
                }
                Ok(None) => {
                    tracing::warn!(schedule = %schedule.name, round = %id, "another host took this round over; stopped producing it");
                }
                Err(error) => {
                    tracing::error!(schedule = %schedule.name, round = %id, "producing the round failed: {error}; another host adopts it after {PRODUCTION_LEASE:?}");
                }
            }
            if let Ok(mut set) = producing.lock() {
                set.remove(&id);
            }
        });
    }
}

/// What one production run enqueued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    /// Tasks enqueued.
    pub enqueued: u64,
    /// With `--unique`, tasks not enqueued because their URL was still
    /// pending (counted by the round too).
    pub passed_over: u64,
    /// Lines that were not tasks.
    pub invalid: u64,
}

impl std::fmt::Display for Produced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tasks enqueued, {} skipped as still pending from before (unique), {} invalid lines",
            self.enqueued, self.passed_over, self.invalid
        )
    }
}

/// Fire round `id` of `schedule` now (`jobhost schedule trigger`), whatever
/// its ticks, pause or overlap say; the caller then produces it.
pub async fn trigger(
    store: &Store,
    schedule: &Schedule,
    owner: &str,
) -> Result<String, ScheduleError> {
    let state = store
        .all()
        .await?
        .into_iter()
        .find(|(s, _)| s.name == schedule.name)
        .map(|(_, state)| state)
        .unwrap_or_default();
    let now = now_millis();
    let decision = Decision {
        settle_to: state.last_fire.unwrap_or(schedule.anchor_ms),
        fire: Some(now),
        missed: 0,
    };
    match store
        .claim(schedule, state.last_fire, decision, owner, true)
        .await?
    {
        Claimed::Fired(id) => Ok(id),
        _ => Err(ScheduleError::Backend(format!(
            "schedule `{}` was changed by a host while triggering it; try again",
            schedule.name
        ))),
    }
}

/// Produce round `id` of `schedule` from `cursor`, one chunk per script
/// call, while this host holds it. `None` when another host took it over.
pub async fn produce(
    store: &Store,
    id: &str,
    schedule: &Schedule,
    cursor: u64,
    owner: &str,
) -> Result<Option<Produced>, ScheduleError> {
    let fire = id
        .rsplit_once('@')
        .and_then(|(_, fire)| fire.parse::<u64>().ok())
        .unwrap_or_else(now_millis);
    let spread = schedule.spread_ms;
    // A source that cannot be read (a missing file) ends the round's
    // production with what was enqueued, rather than leaving it for host
    // after host to adopt and fail on.
    let give_up = |error: ScheduleError| async move {
        store
            .produce_chunk(id, owner, (cursor, cursor), schedule.unique, true, &[])
            .await?;
        Err(error)
    };
    let size = if spread > 0 {
        match store.round_size(id).await? {
            Some(size) => size,
            None => match schedule.source.size() {
                Ok(size) => size,
                Err(error) => return give_up(error).await,
            },
        }
    } else {
        0
    };
    let due = |position: u64| {
        if spread == 0 || size == 0 {
            0
        } else {
            // Evenly over the window: position p of n at fire + spread*p/n.
            fire + (u128::from(spread) * u128::from(position) / u128::from(size)) as u64
        }
    };
    let round = Round {
        id: id.to_owned(),
        unique: schedule.unique,
    };
    let mut tasks = match schedule.source.tasks_from(id, cursor) {
        Ok(tasks) => tasks.peekable(),
        Err(error) => return give_up(error).await,
    };
    let mut report = Produced::default();
    let mut from = cursor;
    let mut chunk: Vec<(u64, String, String)> = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        let mut to = from;
        while chunk.len() < CHUNK {
            let Some(produced) = tasks.next() else { break };
            let position = to;
            to = produced.next;
            match produced.task {
                Ok(mut task) => {
                    if task.plugin.is_none() {
                        task.plugin.clone_from(&schedule.plugin);
                    }
                    task.round = Some(round.clone());
                    let json = WireTask::from_task(&task, 0, None).to_json();
                    chunk.push((due(position), json, task.url));
                }
                Err(error) if error.is_empty() => {}
                Err(error) => {
                    report.invalid += 1;
                    tracing::warn!(schedule = %schedule.name, round = %id, "position {position} of the source is not a task, passed over: {error}");
                }
            }
        }
        let last = tasks.peek().is_none();
        let offered = chunk.len() as u64;
        match store
            .produce_chunk(id, owner, (from, to), schedule.unique, last, &chunk)
            .await?
        {
            Some(enqueued) => {
                report.enqueued += enqueued;
                report.passed_over += offered.saturating_sub(enqueued);
            }
            None => return Ok(None),
        }
        from = to;
        if last {
            return Ok(Some(report));
        }
    }
}

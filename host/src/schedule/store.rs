//! The schedules, their state and their rounds in Redis, beside the queue
//! they feed (keys in `redis/keys.rs`, layout in docs/schedules.md), and the
//! three scripts that make firing and producing safe across hosts:
//! `tick.lua` (claim a fire), `produce.lua` (a chunk and its cursor, once),
//! `adopt.lua` (take over a round whose producer died).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use super::{Decision, Schedule, ScheduleError};
use crate::kv::redis::LUA_KV_WRITES;
use crate::queue::redis::scripts::LUA_COMMON;
use crate::queue::redis::RedisAdmin;
use crate::redis::keys::QueueKeys;
use crate::redis::{is_outage, Outage};
use crate::task::now_millis;

/// A producer renews its hold on a round with every chunk; a round whose
/// producer has been silent this long may be adopted by another host.
pub const PRODUCTION_LEASE: Duration = Duration::from_secs(10);

/// A schedule's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct State {
    /// The latest tick settled (fired, missed or skipped), ms.
    pub last_fire: Option<u64>,
    /// Paused: ticks are settled without firing.
    pub paused: bool,
    /// Its latest round.
    pub current: Option<String>,
    /// Rounds fired by ticks.
    pub fires: u64,
    /// Ticks missed while no host ticked.
    pub missed: u64,
    /// Ticks not fired because the previous round was still running.
    pub overlapped: u64,
}

/// A round's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoundState {
    /// `SCHEDULE@FIRE_MS`.
    pub id: String,
    /// The tick it was fired for (ms).
    pub fire: u64,
    /// Tasks enqueued into it, follow-ups included.
    pub total: u64,
    /// Ended done.
    pub done: u64,
    /// Ended dead.
    pub dead: u64,
    /// Not enqueued: their URL was still queued or running (`--unique`).
    pub skipped: u64,
    /// Positions of the source produced so far.
    pub cursor: u64,
    /// Positions in the source, where known.
    pub size: Option<u64>,
    /// Every position produced.
    pub produced: bool,
    /// When no task was pending any more (ms).
    pub completed: Option<u64>,
}

impl RoundState {
    /// Tasks enqueued and not yet ended.
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(self.done + self.dead)
    }
}

/// What a claim of a tick came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This host fired round `id` and must produce it.
    Fired(String),
    /// Another host settled these ticks first.
    Stale,
    /// The schedule is paused.
    Paused,
    /// The previous round is still running (overlap: skip).
    Overlap,
    /// Ticks settled, nothing to fire.
    Settled,
}

/// The schedules of one queue.
#[derive(Clone)]
pub struct Store {
    admin: RedisAdmin,
    scripts: Arc<Scripts>,
}

struct Scripts {
    tick: Script,
    produce: Script,
    adopt: Script,
}

fn script(code: &str) -> Script {
    crate::redis::script(&[LUA_KV_WRITES, LUA_COMMON, code])
}

impl Store {
    /// The schedules of `admin`'s queue.
    pub fn new(admin: RedisAdmin) -> Self {
        Store {
            admin,
            scripts: Arc::new(Scripts {
                tick: script(include_str!("tick.lua")),
                produce: script(include_str!("produce.lua")),
                adopt: script(include_str!("adopt.lua")),
            }),
        }
    }

    /// The queue's connection.
    pub fn admin(&self) -> &RedisAdmin {
        &self.admin
    }

    fn keys(&self) -> &QueueKeys {
        self.admin.keys()
    }

    /// Store `schedule` (checked first); its ticks count from now. With
    /// `replace`, an existing definition is overwritten and its state kept.
    pub async fn add(&self, schedule: &Schedule, replace: bool) -> Result<(), ScheduleError> {
        schedule.check()?;
        let json = serde_json::to_string(schedule)
            .map_err(|e| ScheduleError::Backend(format!("encoding the schedule: {e}")))?;
        let mut conn = self.admin.redis().conn();
        let added: bool = if replace {
            redis::cmd("HSET")
                .arg(&self.keys().schedules)
                .arg(&schedule.name)
                .arg(&json)
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| true)
        } else {
            redis::cmd("HSETNX")
                .arg(&self.keys().schedules)
                .arg(&schedule.name)
                .arg(&json)
                .query_async(&mut conn)
                .await
        }
        .map_err(|e| backend("storing the schedule", e))?;
        if !added {
            return Err(ScheduleError::Exists(schedule.name.clone()));
        }
        redis::cmd("HSETNX")
            .arg(self.keys().schedule_state(&schedule.name))
            .arg("last_fire")
            .arg(schedule.anchor_ms)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| backend("storing the schedule", e))?;
        Ok(())
    }

    /// Delete a schedule and its state (its rounds run to their end).
    pub async fn remove(&self, name: &str) -> Result<(), ScheduleError> {
        let mut conn = self.admin.redis().conn();
        let (removed, _): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(&self.keys().schedules)
            .arg(name)
            .cmd("DEL")
            .arg(self.keys().schedule_state(name))
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("removing the schedule", e))?;
        if removed == 0 {
            return Err(ScheduleError::Unknown(name.to_owned()));
        }
        Ok(())
    }

    /// Pause (ticks pass without firing) or resume (from the next tick on;
    /// ticks passed while paused are not caught up).
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<(), ScheduleError> {
        self.get(name).await?;
        let mut conn = self.admin.redis().conn();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.keys().schedule_state(name))
            .arg("paused")
            .arg(if paused { "1" } else { "0" });
        if !paused {
            cmd.arg("last_fire").arg(now_millis());
        }
        cmd.query_async::<i64>(&mut conn)
            .await
            .map_err(|e| backend("pausing the schedule", e))?;
        Ok(())
    }

    /// One schedule.
    pub async fn get(&self, name: &str) -> Result<Schedule, ScheduleError> {
        let mut conn = self.admin.redis().conn();
        let json: Option<String> = redis::cmd("HGET")
            .arg(&self.keys().schedules)
            .arg(name)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading the schedule", e))?;
        let json = json.ok_or_else(|| ScheduleError::Unknown(name.to_owned()))?;
        decode(name, &json)
    }

    /// Every schedule with its state, by name. A definition that does not
    /// decode (written by a newer jobhost?) is logged and left out.
    pub async fn all(&self) -> Result<Vec<(Schedule, State)>, ScheduleError> {
        let mut conn = self.admin.redis().conn();
        let defined: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys().schedules)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading the schedules", e))?;
        let mut schedules: Vec<Schedule> = defined
            .iter()
            .filter_map(|(name, json)| match decode(name, json) {
                Ok(schedule) => Some(schedule),
                Err(error) => {
                    tracing::error!("{error}");
                    None
                }
            })
            .collect();
        if schedules.is_empty() {
            return Ok(Vec::new());
        }
        schedules.sort_by(|a, b| a.name.cmp(&b.name));
        let mut pipe = redis::pipe();
        for schedule in &schedules {
            pipe.cmd("HGETALL")
                .arg(self.keys().schedule_state(&schedule.name));
        }
        let states: Vec<HashMap<String, String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading the schedules", e))?;
        Ok(schedules
            .into_iter()
            .zip(states.iter().map(state_of))
            .collect())
    }

    /// Claim `decision` for `schedule` whose `last_fire` this host read as
    /// `read_last_fire` (`manual`: a trigger, which fires now whatever the
    /// ticks, pause and overlap say).
    pub async fn claim(
        &self,
        schedule: &Schedule,
        read_last_fire: Option<u64>,
        decision: Decision,
        owner: &str,
        manual: bool,
    ) -> Result<Claimed, ScheduleError> {
        let fire = decision.fire.unwrap_or(0);
        let id = format!("{}@{fire}", schedule.name);
        let json = serde_json::to_string(schedule)
            .map_err(|e| ScheduleError::Backend(format!("encoding the schedule: {e}")))?;
        let on_complete = match &schedule.on_complete {
            Some(line) => schedule.on_complete_task(line)?,
            None => String::new(),
        };
        // A file is counted once per round, by the host that fires it. One
        // that cannot be read is left to the production, which ends the
        // round with the error (a claim that failed would be tried again
        // at every tick).
        let size = match (decision.fire, schedule.spread_ms) {
            (Some(_), spread) if spread > 0 => schedule
                .source
                .size()
                .map(|size| size.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let k = self.keys();
        let mut invocation = self.scripts.tick.prepare_invoke();
        invocation
            .key(k.schedule_state(&schedule.name))
            .key(&k.rounds)
            .key(k.round(&id))
            .key(&k.stream)
            .key(&k.producing)
            .arg(&schedule.name)
            .arg(read_last_fire.map(|t| t.to_string()).unwrap_or_default())
            .arg(decision.settle_to)
            .arg(fire)
            .arg(decision.missed)
            .arg(match schedule.overlap {
                super::Overlap::Skip if !manual => "skip",
                _ => "allow",
            })
            .arg(owner)
            .arg(PRODUCTION_LEASE.as_millis() as u64)
            .arg(json)
            .arg(on_complete)
            .arg(size)
            .arg(if manual { "1" } else { "0" });
        let answer: String = self.eval("claiming a schedule's tick", &invocation).await?;
        Ok(match answer.as_str() {
            "fired" => Claimed::Fired(id),
            "paused" => Claimed::Paused,
            "overlap" => Claimed::Overlap,
            "settled" => Claimed::Settled,
            _ => Claimed::Stale,
        })
    }

    /// Enqueue one chunk of round `id` from cursor `from` to `to` (see
    /// `produce.lua`); `tasks` are (due ms or 0, wire JSON, URL). Returns
    /// how many were enqueued, or `None` if the round is no longer this
    /// host's to produce. A chunk whose answer was lost to an outage is
    /// recognised by the cursor it moved, so it is never enqueued twice.
    #[allow(clippy::too_many_arguments)]
    pub async fn produce_chunk(
        &self,
        id: &str,
        owner: &str,
        (from, to): (u64, u64),
        unique: bool,
        last: bool,
        tasks: &[(u64, String, String)],
    ) -> Result<Option<u64>, ScheduleError> {
        let k = self.keys();
        let mut invocation = self.scripts.produce.prepare_invoke();
        invocation
            .key(k.round(id))
            .key(&k.stream)
            .key(&k.delayed)
            .key(&k.unique)
            .key(&k.stats)
            .key(&k.producing)
            .arg(owner)
            .arg(from)
            .arg(to)
            .arg(PRODUCTION_LEASE.as_millis() as u64)
            .arg(if unique { "1" } else { "0" })
            .arg(if last { "1" } else { "0" })
            .arg(id);
        for (due, json, url) in tasks {
            invocation.arg(*due).arg(json).arg(url);
        }
        let mut conn = self.admin.redis().conn();
        let mut outage = Outage::new("producing a schedule's round");
        let mut retried = false;
        loop {
            match invocation.invoke_async::<i64>(&mut conn).await {
                Ok(n) if n >= 0 => return Ok(Some(n as u64)),
                Ok(_) if retried => {
                    // Did the first try land before the connection broke?
                    let (holder, cursor): (Option<String>, Option<u64>) = redis::cmd("HMGET")
                        .arg(k.round(id))
                        .arg("owner")
                        .arg("cursor")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| backend("reading a round", e))?;
                    let landed = holder.as_deref() == Some(owner) && cursor == Some(to);
                    // Its count is not known; the round's own total is.
                    return Ok(landed.then_some(0));
                }
                Ok(_) => return Ok(None),
                Err(e) if is_outage(&e) => {
                    retried = true;
                    outage.failed(self.admin.redis().url(), &e).await;
                }
                Err(e) => return Err(backend("producing a schedule's round", e)),
            }
        }
    }

    /// Take over round `id` if its producer's lease lapsed: the cursor to
    /// continue from.
    pub async fn adopt(&self, id: &str, owner: &str) -> Result<Option<u64>, ScheduleError> {
        let mut invocation = self.scripts.adopt.prepare_invoke();
        invocation
            .key(self.keys().round(id))
            .arg(owner)
            .arg(PRODUCTION_LEASE.as_millis() as u64);
        let cursor: i64 = self.eval("adopting a round", &invocation).await?;
        Ok((cursor >= 0).then_some(cursor as u64))
    }

    /// The rounds whose production has not finished, with the schedule
    /// each was fired from (as it was then).
    pub async fn unfinished(&self) -> Result<Vec<(String, Schedule)>, ScheduleError> {
        let mut conn = self.admin.redis().conn();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.keys().producing)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("listing rounds", e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys().round(id))
                .arg("produced")
                .arg("spec");
        }
        let rows: Vec<(Option<String>, Option<String>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("listing rounds", e))?;
        Ok(ids
            .into_iter()
            .zip(rows)
            .filter_map(|(id, (produced, spec))| {
                let spec = spec.filter(|_| produced.as_deref() != Some("1"))?;
                match decode(&id, &spec) {
                    Ok(schedule) => Some((id, schedule)),
                    Err(error) => {
                        tracing::error!("round {id}: {error}");
                        None
                    }
                }
            })
            .collect())
    }

    /// Rounds fired more than `age` ago leave the index (their records
    /// expire a day after they complete).
    pub async fn trim(&self, age: Duration) -> Result<(), ScheduleError> {
        let mut conn = self.admin.redis().conn();
        let before = now_millis().saturating_sub(age.as_millis() as u64);
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(&self.keys().rounds)
            .arg("-inf")
            .arg(format!("({before}"))
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| backend("trimming rounds", e))?;
        Ok(())
    }

    /// A round's progress (`None` once its record is gone).
    pub async fn round(&self, id: &str) -> Result<Option<RoundState>, ScheduleError> {
        let mut conn = self.admin.redis().conn();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys().round(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading a round", e))?;
        if fields.is_empty() {
            return Ok(None);
        }
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
        Ok(Some(RoundState {
            id: id.to_owned(),
            fire: number("fire").unwrap_or(0),
            total: number("total").unwrap_or(0),
            done: number("done").unwrap_or(0),
            dead: number("dead").unwrap_or(0),
            skipped: number("skipped").unwrap_or(0),
            cursor: number("cursor").unwrap_or(0),
            size: number("size"),
            produced: fields.get("produced").is_some_and(|v| v == "1"),
            completed: number("completed"),
        }))
    }

    /// The round's source size as stored when it fired (files are counted
    /// then, so that every producer spreads over the same total).
    pub async fn round_size(&self, id: &str) -> Result<Option<u64>, ScheduleError> {
        Ok(self.round(id).await?.and_then(|round| round.size))
    }

    async fn eval<T: redis::FromRedisValue>(
        &self,
        doing: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, ScheduleError> {
        self.admin
            .redis()
            .eval(doing, invocation)
            .await
            .map_err(|e| backend(doing, e))
    }
}

fn decode(name: &str, json: &str) -> Result<Schedule, ScheduleError> {
    serde_json::from_str(json).map_err(|e| {
        ScheduleError::Backend(format!(
            "schedule `{name}` in Redis does not decode ({e}); it was written by another version of jobhost: remove and add it again"
        ))
    })
}

fn state_of(fields: &HashMap<String, String>) -> State {
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok());
    State {
        last_fire: number("last_fire"),
        paused: fields.get("paused").is_some_and(|v| v == "1"),
        current: fields.get("current").cloned(),
        fires: number("fires").unwrap_or(0),
        missed: number("missed").unwrap_or(0),
        overlapped: number("overlapped").unwrap_or(0),
    }
}

fn backend(doing: &str, error: redis::RedisError) -> ScheduleError {
    let message = format!("Redis failed while {doing}: {error}");
    if is_outage(&error) {
        ScheduleError::Unavailable(message)
    } else {
        ScheduleError::Backend(message)
    }
}

//! Intake from outside the stream, each a periodic script call: the
//! promoter moves due delayed tasks (retries, `--delay`) onto the stream,
//! and the list intake moves the items of a plain Redis list (the seed's
//! `RPUSH` producers, `--redis-list`) onto it, atomically, so that no crash
//! loses one in between.

use std::sync::Arc;
use std::time::Duration;

use super::RedisQueue;
use crate::redis::Outage;
use crate::task::now_millis;

/// Most items one call moves.
const BATCH: u64 = 500;

impl RedisQueue {
    /// Move due delayed tasks onto the stream until the host stops: at once
    /// again while a full batch was due, else when the next is due (at most
    /// 100 ms later, since another host may add an earlier one).
    pub(super) async fn promote_loop(self: Arc<Self>) {
        let k = &self.admin.keys;
        let mut invocation = self.admin.scripts.promote.prepare_invoke();
        invocation.key(&k.stream).key(&k.delayed).arg(BATCH);
        self.repeat(
            "moving due delayed jobs",
            &invocation,
            |(moved, next_due): (u64, i64)| {
                if moved == BATCH {
                    Duration::ZERO
                } else if next_due < 0 {
                    Duration::from_millis(100)
                } else {
                    let until = (next_due as u64).saturating_sub(now_millis());
                    Duration::from_millis(until.clamp(1, 100))
                }
            },
        )
        .await;
    }

    /// Drain the seed list into the stream until the host stops: at once
    /// again while full batches come, else every 20 ms.
    pub(super) async fn list_intake_loop(self: Arc<Self>, list: String) {
        let k = &self.admin.keys;
        let mut invocation = self.admin.scripts.seed.prepare_invoke();
        invocation
            .key(&list)
            .key(&k.stream)
            .key(&k.stats)
            .arg(BATCH);
        self.repeat("draining the seed list", &invocation, |moved: u64| {
            if moved < BATCH {
                Duration::from_millis(20)
            } else {
                Duration::ZERO
            }
        })
        .await;
    }

    /// Call `invocation` until the host stops, waiting what `wait` makes of
    /// each answer in between; outages are waited out (and logged once).
    async fn repeat<T: redis::FromRedisValue>(
        &self,
        doing: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
        wait: impl Fn(T) -> Duration,
    ) {
        let mut outage = Outage::new(doing);
        while !self.stopped() {
            let mut conn = self.admin.redis.conn();
            match invocation.invoke_async::<T>(&mut conn).await {
                Ok(answer) => {
                    outage.ok(self.admin.redis.url());
                    let pause = wait(answer);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                Err(e) => outage.failed(self.admin.redis.url(), &e).await,
            }
        }
    }
}

//! Leases: the heartbeat that renews the entries this host holds every
//! `lease / 3`, and the reclaimer that takes over entries idle for longer
//! than `lease` (`XAUTOCLAIM`) on any host, burying those delivered too
//! often (poison). So the jobs of a host that died come back within about
//! one lease, while a long job on a live host is never handed out twice.

use std::sync::Arc;
use std::time::Duration;

use super::{is_no_group, Field, RedisQueue};
use crate::redis::keys::GROUP;
use crate::redis::Outage;

/// `reclaim.lua`'s answer: next cursor, claimed entries (id, field, body,
/// deliveries), and how many were buried as poison.
type ReclaimReply = (String, Vec<(String, String, String, u64)>, u64);

impl RedisQueue {
    /// Lapsed jobs claimed per reclaim period even when the read-ahead
    /// buffer is full.
    const RECLAIM_WHEN_FULL: usize = 16;

    /// Holds a sender only while it delivers, so that the reader's exit
    /// (queue empty) closes the channel.
    pub(super) async fn reclaim_loop(self: Arc<Self>) {
        let period =
            (self.options.lease / 2).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let mut cursor = String::from("0-0");
        let mut outage = Outage::new("reclaiming lapsed jobs");
        loop {
            tokio::time::sleep(period).await;
            let sender = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let Some(tx) = sender else { break };
            if self.stopped() {
                break;
            }
            // A full read-ahead buffer does not put recovery off: the reader
            // refills it as soon as a worker takes a task, so on a busy queue
            // "wait for room" meant waiting until the queue drained (seen:
            // 4 s instead of one lease). A few lapsed jobs are claimed anyway
            // and wait below for room, held (so leased by the heartbeat, and
            // handed back on shutdown) like any task read ahead.
            let room = tx.capacity().max(Self::RECLAIM_WHEN_FULL);
            let mut invocation = self.dead_letter_invocation(&self.admin.scripts.reclaim);
            invocation
                .arg(self.options.lease.as_millis() as u64)
                .arg(&cursor)
                .arg(room.min(256))
                .arg(self.options.max_deliveries);
            let mut conn = self.admin.redis.conn();
            let reply: Result<ReclaimReply, _> = invocation.invoke_async(&mut conn).await;
            let (next, claimed, buried) = match reply {
                Ok(reply) => {
                    outage.ok(self.admin.redis.url());
                    reply
                }
                Err(e) if is_no_group(&e) => {
                    let _ = self.admin.ensure_group().await;
                    continue;
                }
                Err(e) => {
                    outage.failed(self.admin.redis.url(), &e).await;
                    continue;
                }
            };
            cursor = next;
            if buried > 0 {
                tracing::error!(
                    "dead-lettered {buried} poison jobs (delivered more than {} times)",
                    self.options.max_deliveries
                );
            }
            for (id, field, body, deliveries) in claimed {
                tracing::warn!(entry = %id, "recovered a job whose lease lapsed (delivery {deliveries}); its host died or hung");
                let field = if field == "raw" {
                    Field::Raw
                } else {
                    Field::Task
                };
                if let Some(delivery) = self.decode(id, field, body).await {
                    if tx.send(delivery).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    pub(super) async fn heartbeat_loop(self: Arc<Self>) {
        let period = (self.options.lease / 3).max(Duration::from_millis(20));
        let mut outage = Outage::new("renewing leases");
        loop {
            tokio::time::sleep(period).await;
            let ids: Vec<String> = self.held().keys().cloned().collect();
            if ids.is_empty() {
                if self.stopped() && self.tx.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
                    break;
                }
                continue;
            }
            for chunk in ids.chunks(500) {
                let mut invocation = self.admin.scripts.renew.prepare_invoke();
                invocation
                    .key(&self.admin.keys.stream)
                    .arg(GROUP)
                    .arg(&self.consumer);
                for id in chunk {
                    invocation.arg(id);
                }
                let mut conn = self.admin.redis.conn();
                match invocation.invoke_async::<Vec<String>>(&mut conn).await {
                    Ok(lost) => {
                        outage.ok(self.admin.redis.url());
                        for id in lost {
                            // Not ours any more: stop renewing it and never
                            // hand it back; the job's ack will be refused.
                            if self.held().remove(&id).is_some() {
                                tracing::warn!(entry = %id, "lease lost: another host took this job over");
                            }
                        }
                    }
                    Err(e) => outage.failed(self.admin.redis.url(), &e).await,
                }
            }
        }
    }
}

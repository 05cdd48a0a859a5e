//! The acknowledger: one loop per queue consumer that commits finished jobs
//! in batches (a group commit). Under load a batch grows while the previous
//! one is on the wire; when idle it is one job, so nothing waits for a batch
//! to fill. Before each batch the sink is made durable ([`BeforeAck`]);
//! then a batch whose effects merge goes through `ack_fast.lua`
//! (`fast_ack.rs`), any other through `ack.lua`, which commits each job with
//! its follow-ups, records and key-value writes, refusing those whose lease
//! was lost.
//!
//! [`BeforeAck`]: crate::queue::BeforeAck

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{fast_ack, RedisQueue};
use crate::kv::redis::{push_kv_triples, skipped_warning};
use crate::kv::KvWrite;
use crate::queue::QueueError;
use crate::record::Record;
use crate::redis::keys::GROUP;
use crate::task::Round;

/// A finished job waiting for the acknowledger, with its effects.
pub(super) struct PendingAck {
    pub(super) delivery: String,
    pub(super) plugin: String,
    pub(super) task_id: String,
    pub(super) url: String,
    /// (URL, wire task JSON) of each follow-up.
    pub(super) follow_ups: Vec<(String, String)>,
    pub(super) records: Vec<Record>,
    /// Key-value writes, applied in the same script call.
    pub(super) writes: Vec<KvWrite>,
    /// The schedule round the task counts in.
    pub(super) round: Option<Round>,
    /// It ended on a 304 Not Modified (`--conditional`).
    pub(super) not_modified: bool,
    pub(super) reply: oneshot::Sender<Result<usize, QueueError>>,
}

impl PendingAck {
    /// Bytes this job adds to a batch's script call (roughly).
    fn size(&self) -> usize {
        self.delivery.len()
            + self.plugin.len()
            + self.task_id.len()
            + self.url.len()
            + self
                .follow_ups
                .iter()
                .map(|(u, t)| u.len() + t.len())
                .sum::<usize>()
            + self
                .records
                .iter()
                .map(|r| r.content_type.len() + r.data.len())
                .sum::<usize>()
            + self.writes.iter().map(KvWrite::size).sum::<usize>()
    }
}

/// A batch stops growing once its arguments pass this many bytes.
const ACK_BATCH_BYTES: usize = 4 << 20;

impl RedisQueue {
    /// The acknowledger: takes every acknowledgement waiting and commits
    /// them with one script call (a group commit). Under load a batch grows
    /// while the previous one is on the wire; when idle it is one job, so
    /// nothing waits for a batch to fill.
    pub(super) async fn ack_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<PendingAck>) {
        let most = self.options.ack_batch.max(1);
        let mut batch = Vec::with_capacity(most);
        while let Some(first) = rx.recv().await {
            let mut bytes = first.size();
            batch.push(first);
            while batch.len() < most && bytes < ACK_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(next) => {
                        bytes += next.size();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.ack_batch(&mut batch).await;
        }
    }

    /// Commit `batch` (drained) and answer each job.
    async fn ack_batch(&self, batch: &mut Vec<PendingAck>) {
        if let Some(before) = &self.before_ack {
            if let Err(error) = before.sync() {
                // The records are still buffered; without them written the
                // jobs must not be done. They stay pending: the error stops
                // this host's workers, and the jobs go to another host (or
                // the next run) once their lease lapses.
                fail_all(
                    batch,
                    &format!("{error}; the jobs stay in the queue for another run"),
                );
                return;
            }
        }
        if self.ack_fast(batch).await {
            return;
        }
        let k = &self.admin.keys;
        let sink = self.options.sink_stream.as_deref().unwrap_or(&k.unused);
        let result: Result<Vec<i64>, QueueError> = {
            let mut invocation = self.admin.scripts.ack.prepare_invoke();
            invocation
                .key(&k.stream)
                .key(&k.stats)
                .key(&k.seen)
                .key(sink)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(if self.options.dedupe { "1" } else { "0" })
                .arg(batch.len());
            let (first, last) = id_range(batch.iter().map(|pending| pending.delivery.as_str()));
            invocation.arg(first).arg(last);
            for pending in batch.iter() {
                invocation
                    .arg(&pending.delivery)
                    .arg(&pending.plugin)
                    .arg(pending.follow_ups.len())
                    .arg(pending.records.len())
                    .arg(pending.writes.len());
                match &pending.round {
                    Some(round) => {
                        invocation.arg(&round.id);
                        invocation.arg(if round.unique { &pending.url[..] } else { "" });
                    }
                    None => {
                        invocation.arg("").arg("");
                    }
                }
                invocation.arg(if pending.not_modified { "1" } else { "0" });
                for (url, json) in &pending.follow_ups {
                    invocation.arg(url).arg(json);
                }
                // The task's id and URL go with its records only.
                if !pending.records.is_empty() {
                    invocation.arg(&pending.task_id).arg(&pending.url);
                    for record in &pending.records {
                        invocation.arg(&record.content_type).arg(&record.data[..]);
                    }
                }
                push_kv_triples(&mut invocation, &k.kv, &pending.writes);
            }
            self.eval("acknowledging jobs", &invocation).await
        };
        match result {
            Ok(answers) if answers.len() == 2 * batch.len() => {
                self.forget_held(batch);
                for (pending, answer) in batch.drain(..).zip(answers.chunks_exact(2)) {
                    let (accepted, skipped) = (answer[0], answer[1]);
                    if let Some(warning) = skipped_warning(skipped.max(0) as u64) {
                        tracing::warn!(task = %pending.task_id, plugin = %pending.plugin, "kv: {warning}");
                    }
                    if accepted < 0 {
                        self.warn_lost(&pending.task_id, &pending.delivery, "its acknowledgement");
                        let _ = pending.reply.send(Ok(0));
                    } else {
                        self.tally.done.fetch_add(1, Ordering::Relaxed);
                        if pending.not_modified {
                            self.tally.not_modified.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = pending.reply.send(Ok(accepted as usize));
                    }
                }
            }
            Ok(answers) => {
                let message = format!(
                    "acknowledging jobs: Redis answered {} numbers for {} jobs (expected two per job)",
                    answers.len(),
                    batch.len()
                );
                fail_all(batch, &message);
            }
            // The inner text: the error is wrapped again for each job.
            Err(QueueError::Backend(message) | QueueError::Config(message)) => {
                fail_all(batch, &message);
            }
        }
    }

    /// The entries of an answered batch are no longer this host's to hand
    /// back on shutdown.
    fn forget_held(&self, batch: &[PendingAck]) {
        let mut held = self.held();
        for pending in batch {
            held.remove(&pending.delivery);
        }
    }

    /// Acknowledge `batch` with `ack_fast.lua` if its effects merge (see
    /// `fast_ack.rs`), answering each job; false, with the batch untouched,
    /// when it needs `ack.lua`.
    async fn ack_fast(&self, batch: &mut Vec<PendingAck>) -> bool {
        if batch
            .iter()
            .any(|pending| !pending.follow_ups.is_empty() || !pending.records.is_empty())
        {
            return false;
        }
        let Some(writes) = fast_ack::merge_writes(batch.iter().map(|pending| &pending.writes[..]))
        else {
            return false;
        };
        let ids: Vec<&str> = batch
            .iter()
            .map(|pending| pending.delivery.as_str())
            .collect();
        let mut ended = fast_ack::Ended::default();
        for pending in batch.iter() {
            fast_ack::count(&mut ended.plugins, &pending.plugin);
            ended.not_modified += usize::from(pending.not_modified);
            if let Some(round) = &pending.round {
                fast_ack::count(&mut ended.rounds, &round.id);
                if round.unique {
                    ended.uniques.push(&pending.url);
                }
            }
        }
        let k = &self.admin.keys;
        let invocation = fast_ack::invocation(
            &self.admin.scripts.ack_fast,
            k,
            &self.consumer,
            &ids,
            id_range(ids.iter().copied()),
            &ended,
            &writes,
        );
        let result: Result<usize, QueueError> = self.eval("acknowledging jobs", &invocation).await;
        match result {
            Ok(done) if done == batch.len() => {
                self.forget_held(batch);
                self.tally.done.fetch_add(done as u64, Ordering::Relaxed);
                self.tally
                    .not_modified
                    .fetch_add(ended.not_modified as u64, Ordering::Relaxed);
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Ok(0));
                }
                true
            }
            // A lost lease or a refused add: nothing was applied.
            Ok(_) => false,
            Err(QueueError::Backend(message) | QueueError::Config(message)) => {
                fail_all(batch, &message);
                true
            }
        }
    }
}

/// The smallest and the largest of some stream entry ids (`ms-seq`), for an
/// XPENDING range that covers them all; the whole stream (`-`, `+`) if one
/// of them is not in that form (they always are: Redis made them).
fn id_range<'a>(ids: impl Iterator<Item = &'a str>) -> (&'a str, &'a str) {
    fn key(id: &str) -> Option<(u64, u64)> {
        let (ms, seq) = id.split_once('-')?;
        Some((ms.parse().ok()?, seq.parse().ok()?))
    }
    let mut lowest: Option<((u64, u64), &str)> = None;
    let mut highest: Option<((u64, u64), &str)> = None;
    for id in ids {
        let Some(k) = key(id) else {
            return ("-", "+");
        };
        if lowest.is_none_or(|(low, _)| k < low) {
            lowest = Some((k, id));
        }
        if highest.is_none_or(|(high, _)| k > high) {
            highest = Some((k, id));
        }
    }
    match (lowest, highest) {
        (Some((_, first)), Some((_, last))) => (first, last),
        _ => ("-", "+"),
    }
}

/// Answer every job of a batch that could not be acknowledged with the same
/// queue error (drains the batch).
fn fail_all(batch: &mut Vec<PendingAck>, message: &str) {
    for pending in batch.drain(..) {
        let _ = pending
            .reply
            .send(Err(QueueError::Backend(message.to_owned())));
    }
}

#[cfg(test)]
mod tests {
    use super::id_range;

    #[test]
    fn id_range_compares_ids_as_numbers_not_text() {
        let ids = [
            "1700000000123-9",
            "1700000000123-10",
            "999999999999-0",
            "1700000000124-0",
        ];
        assert_eq!(
            id_range(ids.into_iter()),
            ("999999999999-0", "1700000000124-0")
        );
        assert_eq!(id_range(["5-5"].into_iter()), ("5-5", "5-5"));
        assert_eq!(id_range(std::iter::empty()), ("-", "+"));
        assert_eq!(id_range(["5-5", "junk"].into_iter()), ("-", "+"));
    }
}

//! The reader: the loop that leases entries from the stream for this host's
//! workers (`XREADGROUP`), only as many as there are free places in the
//! read-ahead buffer, and ends a batch run once the queue is empty
//! everywhere.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::Value;
use tokio::sync::mpsc;

use super::{is_no_group, EntryId, Field, RedisQueue};
use crate::queue::Delivery;
use crate::redis::keys::GROUP;
use crate::redis::{Outage, Redis};

impl RedisQueue {
    pub(super) async fn read_loop(
        self: Arc<Self>,
        reader: Redis,
        tx: mpsc::Sender<Delivery<EntryId>>,
    ) {
        let mut conn = reader.conn();
        // `self.tx` keeps a second sender for the reclaimer; both go when
        // this loop ends.
        let mut outage = Outage::new("reading the queue");
        loop {
            if self.stopped() {
                break;
            }
            // Read only as many as there are free places, so that entries
            // are not leased while they sit in a local buffer; and only
            // once half the buffer is free, so that under load each read
            // carries many entries instead of the one a worker just took
            // (the other half keeps the workers busy meanwhile).
            let half = (tx.max_capacity() / 2).max(1);
            if tx.capacity() < half {
                match tx.reserve_many(half).await {
                    Ok(permits) => drop(permits),
                    Err(_) => break,
                }
            }
            let count = tx.capacity().clamp(1, 256);
            // A batch run (--until-empty) checks for the end after each
            // empty read: a short block lets it stop within ~50 ms of the
            // last job instead of half a second.
            let block_ms = if self.options.until_empty { 50 } else { 500 };
            let read: Result<Value, redis::RedisError> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&self.admin.keys.stream)
                .arg(">")
                .query_async(&mut conn)
                .await;
            let entries = match read {
                Ok(value) => {
                    outage.ok(self.admin.redis.url());
                    parse_read(value)
                }
                Err(e) if is_no_group(&e) => {
                    if let Err(e) = self.admin.ensure_group().await {
                        tracing::warn!("{e}");
                    }
                    continue;
                }
                Err(e) => {
                    outage.failed(self.admin.redis.url(), &e).await;
                    continue;
                }
            };
            if entries.is_empty() {
                if self.closed.load(Ordering::Relaxed)
                    && self.options.until_empty
                    && self.drained().await
                {
                    tracing::info!("queue {} is empty: stopping", self.options.name);
                    break;
                }
                continue;
            }
            for (id, field, body) in entries {
                if let Some(delivery) = self.decode(id, field, body).await {
                    if tx.send(delivery).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Dropping the last sender ends `pop` once the buffer is empty.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(tx);
    }

    /// Nothing ready, in flight or delayed anywhere, and nothing held here.
    async fn drained(&self) -> bool {
        if !self.held().is_empty() {
            return false;
        }
        let mut conn = self.admin.redis.conn();
        let k = &self.admin.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN").arg(&k.stream).cmd("ZCARD").arg(&k.delayed);
        if let Some(list) = &self.options.seed_list {
            pipe.cmd("LLEN").arg(list);
        } else {
            pipe.cmd("ECHO").arg(0);
        }
        match pipe.query_async::<(u64, u64, u64)>(&mut conn).await {
            Ok((stream, delayed, seed)) => stream == 0 && delayed == 0 && seed == 0,
            Err(_) => false,
        }
    }
}

/// `XREADGROUP` reply → (entry id, field, body).
pub(super) fn parse_read(value: Value) -> Vec<(String, Field, String)> {
    let mut out = Vec::new();
    let Value::Array(streams) = value else {
        return out;
    };
    for stream in streams {
        let Value::Array(mut parts) = stream else {
            continue;
        };
        if parts.len() != 2 {
            continue;
        }
        let Value::Array(entries) = parts.remove(1) else {
            continue;
        };
        for entry in entries {
            let Value::Array(mut pair) = entry else {
                continue;
            };
            if pair.len() != 2 {
                continue;
            }
            let fields = pair.remove(1);
            let id = bulk(pair.remove(0));
            let Value::Array(fields) = fields else {
                continue;
            };
            let mut iter = fields.into_iter();
            // An entry has one field: `task` or `raw`.
            if let (Some(name), Some(body)) = (iter.next(), iter.next()) {
                let field = match bulk(name).as_str() {
                    "task" => Field::Task,
                    _ => Field::Raw,
                };
                out.push((id.clone(), field, bulk(body)));
            }
        }
    }
    out
}

pub(super) fn bulk(value: Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Value::SimpleString(s) => s,
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    }
}

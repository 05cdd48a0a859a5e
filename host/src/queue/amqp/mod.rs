//! The RabbitMQ backend: `--queue amqp://USER:PASSWORD@HOST:PORT/VHOST`.
//!
//! Tasks are persistent messages on a quorum queue; a host consumes with a
//! prefetch of two messages per worker and acknowledges a job only after
//! its effects are committed (the commit pipeline writes records first; the
//! follow-ups are published and confirmed by the broker here, then the ack
//! goes). Retries wait in delay queues (`topology.rs`), the dead letters are
//! a queue of their own, and a job whose hosts keep dying on it is buried
//! once the broker's count of its deliveries passes `--max-deliveries`.
//! docs/rabbitmq.md states the guarantees.

mod admin;
pub mod topology;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::message::Delivery as Message;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Acker;
use lapin::{Channel, Consumer};
use tokio::sync::mpsc;

pub use self::admin::{is_amqp_url, trust_ca_file, AmqpAdmin, AmqpStats};
use self::topology::{DEAD_HEADER, DELIVERY_COUNT, DUE_HEADER};
use super::wire::{dead_json, WireTask};
use super::{
    AckReceipt, BeforeAck, Carries, Delivery, Effects, Failed, Queue, QueueError, QueueStats, Tally,
};
use crate::task::{now_millis, Task};

/// The longest wait for an acknowledgement to be sent; a connection that
/// died unnoticed can leave it pending forever.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// How long an idle `pop` waits for a message before it looks whether a
/// batch run (`--until-empty`) is over.
const IDLE_CHECK: Duration = Duration::from_millis(200);

/// Settings of a RabbitMQ queue consumer.
#[derive(Clone)]
pub struct AmqpOptions {
    /// `amqp://USER:PASSWORD@HOST:PORT/VHOST`.
    pub url: String,
    /// The queue's name.
    pub name: String,
    /// Deliveries after which a job that never finished is buried.
    pub max_deliveries: u32,
    /// Messages delivered ahead of the workers (`basic.qos`).
    pub prefetch: usize,
    /// End once nothing is ready or delayed and this host holds nothing.
    pub until_empty: bool,
}

/// Never prints the password.
impl std::fmt::Debug for AmqpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpOptions")
            .field("url", &crate::redis::redact(&self.url))
            .field("name", &self.name)
            .field("max_deliveries", &self.max_deliveries)
            .field("prefetch", &self.prefetch)
            .field("until_empty", &self.until_empty)
            .finish()
    }
}

/// One delivery's handle: how to acknowledge it on its channel.
#[derive(Debug)]
pub struct Token {
    tag: u64,
    acker: Acker,
    /// The connection generation it came on.
    generation: u64,
}

/// The consuming channel, and the connection generation it is on.
struct Consuming {
    channel: Channel,
    consumer: Consumer,
    generation: u64,
}

/// Start consuming on the admin's current connection.
async fn consume(admin: &AmqpAdmin, tag: &str, prefetch: u16) -> Result<Consuming, lapin::Error> {
    let link = admin.link().await;
    let channel = link.connection.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            admin.names().main.as_str().into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(Consuming {
        channel,
        consumer,
        generation: link.generation,
    })
}

/// A consumer of one queue on RabbitMQ.
pub struct AmqpQueue {
    admin: AmqpAdmin,
    options: AmqpOptions,
    /// Messages the reader took from the consumer, with the connection
    /// generation they came on.
    rx: tokio::sync::Mutex<mpsc::Receiver<(Message, u64)>>,
    /// The consuming channel now (replaced on reconnection).
    channel: Mutex<Channel>,
    consumer_tag: String,
    prefetch: u16,
    /// Made durable before each acknowledgement (the sink).
    before_ack: Option<Arc<dyn BeforeAck>>,
    /// Deliveries handed to workers and not yet finished.
    held: Mutex<HashMap<u64, Acker>>,
    /// When a batch run last found work waiting (checks are rate-limited).
    checked: Mutex<Option<Instant>>,
    /// Messages this host has received (a batch run's quiet check).
    received: AtomicU64,
    /// The first check that found nothing waiting since work was last seen,
    /// with `received` then.
    quiet: Mutex<Option<(Instant, u64)>>,
    closed: AtomicBool,
    /// The batch run is over (`finished` found it so).
    over: AtomicBool,
    stopping: AtomicBool,
    /// The run summary's counts.
    tally: Tally,
    /// Deliveries whose acknowledgement was lost.
    lost: Arc<LostAcks>,
}

/// Deliveries whose acknowledgement was lost with their connection. An
/// outage loses every delivery in flight at once, hundreds at default
/// settings: the first of each connection is logged as a warning, the
/// rest at debug level, with the count so far.
#[derive(Debug, Default)]
struct LostAcks {
    /// Lost in this run so far.
    count: AtomicU64,
    /// The connection generation last warned of, plus one (0: none yet).
    warned: AtomicU64,
}

impl LostAcks {
    fn note(&self, generation: u64, doing: &str) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let first = self.warned.swap(generation + 1, Ordering::Relaxed) != generation + 1;
        if first {
            tracing::warn!(
                "the delivery was lost before its acknowledgement ({doing}): the connection to RabbitMQ dropped, so the broker delivers the job again; the other deliveries lost with this connection are logged at debug level ({count} lost in this run so far)"
            );
        } else {
            tracing::debug!(
                "the delivery was lost before its acknowledgement ({doing}); the broker delivers the job again ({count} lost in this run so far)"
            );
        }
    }
}

impl std::fmt::Debug for AmqpQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpQueue")
            .field("options", &self.options)
            .field("consumer", &self.consumer_tag)
            .finish_non_exhaustive()
    }
}

impl AmqpQueue {
    /// Connect, declare the queues and start consuming; `before_ack` is
    /// made durable before each acknowledgement.
    pub async fn start(
        options: AmqpOptions,
        before_ack: Option<Arc<dyn BeforeAck>>,
    ) -> Result<Arc<Self>, QueueError> {
        let admin = AmqpAdmin::connect(&options.url, &options.name).await?;
        let prefetch = u16::try_from(options.prefetch.max(1)).unwrap_or(u16::MAX);
        let consumer_tag = format!(
            "{}-{}-{:04x}",
            super::redis::hostname(),
            std::process::id(),
            fastrand::u16(..)
        );
        let consuming = consume(&admin, &consumer_tag, prefetch)
            .await
            .map_err(|e| admin::failed("starting to consume", &options.url, &e))?;
        tracing::info!(
            "joined queue {} at {} as consumer {consumer_tag} (prefetch {prefetch})",
            options.name,
            admin.shown_url()
        );
        let (tx, rx) = mpsc::channel(usize::from(prefetch));
        let channel = Mutex::new(consuming.channel.clone());
        let queue = Arc::new(AmqpQueue {
            admin,
            options,
            rx: tokio::sync::Mutex::new(rx),
            channel,
            consumer_tag,
            prefetch,
            before_ack,
            held: Mutex::new(HashMap::new()),
            checked: Mutex::new(None),
            received: AtomicU64::new(0),
            quiet: Mutex::new(None),
            closed: AtomicBool::new(false),
            over: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            tally: Tally::default(),
            lost: Arc::default(),
        });
        tokio::spawn(queue.clone().read_loop(consuming, tx));
        Ok(queue)
    }

    /// The reader: the one task that takes messages from the consumer
    /// (whose stream wakes a single poller) and hands them to the workers;
    /// when the connection or the channel is lost it reconnects and
    /// consumes again. Deliveries of the lost connection cannot be
    /// acknowledged any more: the broker delivers them again.
    async fn read_loop(
        self: Arc<Self>,
        mut consuming: Consuming,
        tx: mpsc::Sender<(Message, u64)>,
    ) {
        loop {
            match consuming.consumer.next().await {
                Some(Ok(message)) => {
                    if tx.send((message, consuming.generation)).await.is_err() {
                        return;
                    }
                }
                None | Some(Err(_)) => {
                    if self.stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut seen = consuming.generation;
                    loop {
                        self.admin.reconnect(seen, "receiving jobs").await;
                        match consume(&self.admin, &self.consumer_tag, self.prefetch).await {
                            Ok(fresh) => {
                                consuming = fresh;
                                break;
                            }
                            Err(e) => {
                                tracing::debug!("consuming again failed: {e}");
                                seen = self.admin.link().await.generation;
                            }
                        }
                    }
                    *self.channel.lock().unwrap_or_else(|p| p.into_inner()) =
                        consuming.channel.clone();
                }
            }
        }
    }

    /// The admin handle (counts, dead letters).
    pub fn admin(&self) -> &AmqpAdmin {
        &self.admin
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Acker>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A batch run is over: nothing held here, nothing ready or delayed.
    /// Asked at most twice a second.
    async fn finished(&self) -> bool {
        if self.over.load(Ordering::Relaxed) {
            return true;
        }
        if !self.closed.load(Ordering::Relaxed) || !self.options.until_empty {
            return false;
        }
        if !self.held().is_empty() {
            return false;
        }
        {
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.is_some_and(|at| at.elapsed() < Duration::from_millis(500)) {
                return false;
            }
            *checked = Some(Instant::now());
        }
        match self.admin.nothing_waiting().await {
            Ok(true) if self.held().is_empty() => {
                // RabbitMQ's counts miss a message on its way from a delay
                // queue back to the queue, and one delivered to this host
                // and not decoded yet: the run is over only when a second
                // check, at least 500 ms later, finds nothing either and
                // no message arrived in between.
                let received = self.received.load(Ordering::Relaxed);
                let mut quiet = self.quiet.lock().unwrap_or_else(|p| p.into_inner());
                match *quiet {
                    Some((since, seen))
                        if seen == received && since.elapsed() >= Duration::from_millis(500) =>
                    {
                        // Final: every worker of this consumer stops now.
                        self.over.store(true, Ordering::Relaxed);
                        true
                    }
                    Some((_, seen)) if seen == received => false,
                    _ => {
                        *quiet = Some((Instant::now(), received));
                        false
                    }
                }
            }
            Ok(_) => {
                *self.quiet.lock().unwrap_or_else(|p| p.into_inner()) = None;
                false
            }
            Err(e) => {
                // An outage: the consumer's own reconnection logs it.
                tracing::debug!("{e}");
                false
            }
        }
    }

    /// A message as a delivery for a worker; `None` if it went elsewhere
    /// (not due yet: back to a delay queue; not a task: dead letters).
    async fn decode(
        &self,
        message: Message,
        generation: u64,
    ) -> Result<Option<Delivery<Token>>, QueueError> {
        self.received.fetch_add(1, Ordering::Relaxed);
        let body = String::from_utf8_lossy(&message.data).into_owned();
        let due = topology::header_i64(&message.properties, DUE_HEADER)
            .and_then(|due| u64::try_from(due).ok());
        let parsed = serde_json::from_str::<WireTask>(&body)
            .map_err(|e| format!("invalid task JSON in the queue: {e}"));
        let wire = match parsed {
            Ok(wire) => wire,
            Err(error) => return self.reject(&message, generation, &body, &error).await,
        };
        // RabbitMQ counts the deliveries that ended without an ack (the
        // host died, or the connection dropped): a job that keeps killing
        // its hosts is buried here instead of run once more.
        let returned = topology::header_i64(&message.properties, DELIVERY_COUNT).unwrap_or(0);
        let delivered = u64::try_from(returned).unwrap_or(0) + 1;
        if delivered > u64::from(self.options.max_deliveries) {
            let error = format!(
                "delivered {delivered} times without finishing (--max-deliveries {}): its host died or hung each time (a poison job)",
                self.options.max_deliveries
            );
            tracing::error!(task = %wire.id, "{error}; dead-lettered");
            let letter = dead_json(Some(&wire), None, &error, now_millis());
            return self.bury_message(&message, generation, letter).await;
        }
        if let Some(due) = due.filter(|&due| due > now_millis()) {
            // Back from a delay step before its time: wait again. Held
            // meanwhile, so that a batch run does not end while it is in
            // neither queue.
            self.held()
                .insert(message.delivery_tag, message.acker.clone());
            let again = self.admin.message_for(&wire, Some(due));
            if let Err(e) = self.admin.publish(&[again]).await {
                self.held().remove(&message.delivery_tag);
                return Err(e);
            }
            self.finish(
                message.delivery_tag,
                &message.acker,
                generation,
                "delaying it",
            )
            .await;
            return Ok(None);
        }
        match wire.into_task() {
            Ok(task) => {
                self.held()
                    .insert(message.delivery_tag, message.acker.clone());
                Ok(Some(Delivery::new(
                    task,
                    Token {
                        tag: message.delivery_tag,
                        acker: message.acker,
                        generation,
                    },
                )))
            }
            Err(error) => self.reject(&message, generation, &body, &error).await,
        }
    }

    /// Put a message that is not a task in the dead letters, as it was,
    /// and take it off the queue.
    async fn reject(
        &self,
        message: &Message,
        generation: u64,
        body: &str,
        error: &str,
    ) -> Result<Option<Delivery<Token>>, QueueError> {
        tracing::error!("dead-lettered a bad message: {error}");
        let letter = dead_json(None, Some(body), error, now_millis());
        self.bury_message(message, generation, letter).await
    }

    /// Publish `letter` to the dead letters, then take `message` off the
    /// queue; no delivery for a worker.
    async fn bury_message(
        &self,
        message: &Message,
        generation: u64,
        letter: String,
    ) -> Result<Option<Delivery<Token>>, QueueError> {
        self.admin
            .publish(&[dead_message(&self.admin.names().dead, letter)])
            .await?;
        self.finish(
            message.delivery_tag,
            &message.acker,
            generation,
            "dead-lettering it",
        )
        .await;
        Ok(None)
    }

    /// Acknowledge a delivery whose successor is published (or whose job
    /// is done). If the connection was lost meanwhile the broker delivers
    /// it again: the job runs once more, and this says so.
    async fn finish(&self, tag: u64, acker: &Acker, generation: u64, doing: &'static str) {
        self.held().remove(&tag);
        // A delivery of a connection since replaced cannot be acknowledged
        // (and an ack sent to a dead connection may never return).
        if self.admin.link().await.generation != generation {
            self.lost.note(generation, doing);
            return;
        }
        // The ack goes out in the background: lapin answers an ack only
        // once its I/O loop has written it (tens of ms under load), and a
        // worker waiting for that would hold its place in the prefetch
        // window. The job's effects are committed already; an ack that
        // never arrives only makes the broker deliver the job again.
        let acker = acker.clone();
        let lost = self.lost.clone();
        tokio::spawn(async move {
            let sent = tokio::time::timeout(ACK_WAIT, acker.ack(BasicAckOptions::default())).await;
            if !matches!(sent, Ok(Ok(true))) {
                lost.note(generation, doing);
            }
        });
    }
}

/// A dead letter's message for queue `dead` (its body is the stored
/// letter).
fn dead_message(dead: &str, letter: String) -> (String, String, FieldTable) {
    let mut headers = FieldTable::default();
    headers.insert(DEAD_HEADER.into(), AMQPValue::LongString("1".into()));
    (dead.to_owned(), letter, headers)
}

impl Queue for AmqpQueue {
    type Token = Token;

    const CARRIES: Carries = Carries {
        kv_writes: false,
        records: false,
    };

    async fn push(&self, tasks: Vec<Task>) -> Result<usize, QueueError> {
        let accepted = self.admin.enqueue(&tasks, None).await?;
        self.tally
            .enqueued
            .fetch_add(accepted as u64, Ordering::Relaxed);
        Ok(accepted)
    }

    async fn pop(&self) -> Result<Option<Delivery<Token>>, QueueError> {
        loop {
            if self.stopping.load(Ordering::Relaxed) || self.over.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let mut rx = self.rx.lock().await;
            // Workers queue for the receiver: the run may have ended while
            // this one waited its turn.
            if self.stopping.load(Ordering::Relaxed) || self.over.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match tokio::time::timeout(IDLE_CHECK, rx.recv()).await {
                Err(_) => {
                    drop(rx);
                    if self.finished().await {
                        return Ok(None);
                    }
                }
                Ok(None) => return Ok(None),
                Ok(Some((message, generation))) => {
                    drop(rx);
                    if let Some(delivery) = self.decode(message, generation).await? {
                        return Ok(Some(delivery));
                    }
                }
            }
        }
    }

    async fn ack(
        &self,
        delivery: Delivery<Token>,
        effects: Effects<'_>,
    ) -> Result<AckReceipt, QueueError> {
        let (_task, token) = delivery.into_parts();
        if let Some(sink) = &self.before_ack {
            // Not acknowledged: the job stays with this host until the
            // connection closes, then the broker delivers it again.
            sink.sync().map_err(QueueError::Backend)?;
        }
        let follow_ups = effects.follow_ups.len();
        if follow_ups > 0 {
            let mut messages = Vec::with_capacity(follow_ups);
            for follow_up in &effects.follow_ups {
                let wire = WireTask::from_task(follow_up, 0, None);
                messages.push(self.admin.message_for(&wire, None));
            }
            self.admin.publish(&messages).await?;
            self.tally
                .enqueued
                .fetch_add(follow_ups as u64, Ordering::Relaxed);
        }
        self.finish(
            token.tag,
            &token.acker,
            token.generation,
            "acknowledging it",
        )
        .await;
        self.tally.done.fetch_add(1, Ordering::Relaxed);
        if effects.not_modified {
            self.tally.not_modified.fetch_add(1, Ordering::Relaxed);
        }
        Ok(AckReceipt::done(follow_ups))
    }

    async fn fail(&self, delivery: Delivery<Token>, failed: Failed) -> Result<(), QueueError> {
        let (task, token) = delivery.into_parts();
        let due = |delay: Duration| now_millis() + u64::try_from(delay.as_millis()).unwrap_or(0);
        let (message, doing) = match failed {
            Failed::Retry { delay, error } => {
                let wire = WireTask::from_task(&task, task.attempt, Some(error));
                self.tally.retried.fetch_add(1, Ordering::Relaxed);
                (
                    self.admin.message_for(&wire, Some(due(delay))),
                    "retrying it",
                )
            }
            Failed::Defer { delay } => {
                // The attempt did not happen: keep the failures it had.
                let wire = WireTask::from_task(&task, task.attempt.saturating_sub(1), None);
                (
                    self.admin.message_for(&wire, Some(due(delay))),
                    "putting it back",
                )
            }
            Failed::Bury { error, .. } => {
                let wire = WireTask::from_task(&task, task.attempt, Some(error.clone()));
                self.tally.dead.fetch_add(1, Ordering::Relaxed);
                let letter = dead_json(Some(&wire), None, &error, now_millis());
                (
                    dead_message(&self.admin.names().dead, letter),
                    "dead-lettering it",
                )
            }
        };
        self.admin.publish(&[message]).await?;
        self.finish(token.tag, &token.acker, token.generation, doing)
            .await;
        Ok(())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn stop_intake(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    async fn hand_back(&self) -> Result<usize, QueueError> {
        self.stopping.store(true, Ordering::Relaxed);
        let channel = self
            .channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = channel
            .basic_cancel(
                self.consumer_tag.as_str().into(),
                BasicCancelOptions::default(),
            )
            .await;
        let held: Vec<Acker> = self.held().drain().map(|(_, acker)| acker).collect();
        let requeue = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        // All at once: on a connection that died unnoticed each may wait
        // the whole ACK_WAIT.
        let answers = futures_util::future::join_all(
            held.iter()
                .map(|acker| tokio::time::timeout(ACK_WAIT, acker.nack(requeue))),
        )
        .await;
        let handed = answers
            .iter()
            .filter(|answer| matches!(answer, Ok(Ok(true))))
            .count();
        // Messages delivered ahead and not taken go back with the channel.
        let _ = channel.close(200, "handing jobs back".into()).await;
        Ok(handed)
    }

    fn stats(&self) -> QueueStats {
        self.tally.stats()
    }
}

//! A connection to one jobhost queue on RabbitMQ, without consumers:
//! connecting and declaring its queues, publishing with publisher confirms
//! (tasks, delayed tasks, dead letters), counts, and the dead letters. Used
//! by `jobhost enqueue`, `stats` and `dead`, and by the queue itself.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties, DefaultConnectionBuilder};
use serde::Serialize;

use super::topology::{self, Names, DEAD_HEADER, DELAY_STEPS_MS, DUE_HEADER};
use crate::queue::wire::{present_dead, Revived, StoredDead, WireTask};
use crate::queue::QueueError;
use crate::task::{now_millis, Task};

/// Tasks published before their confirms are awaited together.
const PUBLISH_BATCH: usize = 1000;

/// Whether `url` names a RabbitMQ broker.
pub fn is_amqp_url(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://")
}

/// Counts for `jobhost stats`. RabbitMQ reports messages ready and the
/// consumers; messages delivered but not yet acknowledged are not counted
/// (they are in `in flight` nowhere: see docs/rabbitmq.md).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct AmqpStats {
    /// Waiting to be delivered.
    pub ready: u64,
    /// Waiting in the delay queues.
    pub delayed: u64,
    /// In the dead letters.
    pub dead: u64,
    /// Hosts' consumers on the queue.
    pub consumers: u64,
}

/// A connection to one queue's RabbitMQ queues.
pub struct AmqpAdmin {
    /// The URL as given (with its password: never shown).
    url: String,
    /// The URL, password redacted.
    shown: String,
    names: Names,
    link: tokio::sync::RwLock<Link>,
}

/// One connection and its publishing channel (publisher confirms on),
/// replaced as a whole when the connection is lost.
#[derive(Clone)]
pub(super) struct Link {
    /// The connection (for more channels).
    pub connection: Arc<Connection>,
    /// The publishing channel.
    pub channel: Channel,
    /// How many times the connection was replaced.
    pub generation: u64,
}

/// The PEM certificates `amqps://` trusts beside the system's
/// (`--amqp-ca-cert`), set once at start-up.
static TRUSTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Trust the CAs of the PEM file at `path` too, for every `amqps://`
/// connection of this process. Fails if it cannot be read or holds no
/// certificate.
pub fn trust_ca_file(path: &std::path::Path) -> Result<(), String> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the CA certificate file {}: {e}",
            path.display()
        )
    })?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "{} holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----` blocks)",
            path.display()
        ));
    }
    let _ = TRUSTED.set(pem);
    Ok(())
}

/// Connect, open a publishing channel and declare `names`' queues.
/// `amqps://` verifies the broker's certificate against the system's CAs
/// and those of [`trust_ca_file`], and its name against the URL's host.
async fn open(url: &str, names: &Names) -> Result<(Connection, Channel), lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name("jobhost".into());
    let tls = OwnedTLSConfig {
        identity: None,
        cert_chain: TRUSTED.get().cloned(),
    };
    let connection = DefaultConnectionBuilder::new()?
        .with_uri_str(url.to_owned())
        .with_properties(properties)
        .with_tls_config(tls)
        .connect()
        .await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology::declare(&channel, names).await?;
    Ok((connection, channel))
}

impl std::fmt::Debug for AmqpAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpAdmin")
            .field("url", &self.shown)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// `error` as a queue error, saying what jobhost was `doing`; the password
/// of `url` never appears.
pub(super) fn failed(doing: &str, url: &str, error: &lapin::Error) -> QueueError {
    QueueError::Backend(format!(
        "RabbitMQ at {} failed while {doing}: {}",
        crate::redis::redact(url),
        scrub(&error.to_string(), url)
    ))
}

fn scrub(text: &str, url: &str) -> String {
    let shown = crate::redis::redact(url);
    // The redacted URL differs from the URL exactly in its password.
    match (url.find('@'), shown.find("***")) {
        (Some(_), Some(start)) => {
            let end = url.len() - (shown.len() - start - 3);
            let secret = &url[start..end];
            if secret.is_empty() {
                text.to_owned()
            } else {
                text.replace(secret, "***")
            }
        }
        _ => text.to_owned(),
    }
}

impl AmqpAdmin {
    /// Connect to the broker at `url` (reconnecting on its own after a
    /// connection loss) and declare queue `name`'s queues.
    pub async fn connect(url: &str, name: &str) -> Result<Self, QueueError> {
        if name.is_empty() || name.len() > 200 || name.contains(char::is_whitespace) {
            return Err(QueueError::Config(format!(
                "invalid queue name `{name}`: it must be 1 to 200 characters, without spaces"
            )));
        }
        let shown = crate::redis::redact(url);
        let names = Names::new(name);
        let (connection, channel) = open(url, &names).await.map_err(|e| {
            let reason = scrub(&e.to_string(), url);
            QueueError::Config(if e.is_amqp_soft_error() {
                format!(
                    "cannot declare the queues of `{name}` on RabbitMQ at {shown}: {reason} (a queue of that name declared with other arguments, or not a quorum queue, is refused: delete it or pick another --queue-name)"
                )
            } else if url.starts_with("amqps://") && reason.to_lowercase().contains("certificate") {
                format!(
                    "cannot connect to RabbitMQ at {shown}: {reason} (the broker's certificate must be signed by a CA the system trusts or one in --amqp-ca-cert FILE, and name the URL's host)"
                )
            } else {
                format!(
                    "cannot connect to RabbitMQ at {shown}: {reason} (is the broker running there, and are the user, password and vhost right? set --queue or JOBHOST_QUEUE)"
                )
            })
        })?;
        Ok(AmqpAdmin {
            url: url.to_owned(),
            shown,
            names,
            link: tokio::sync::RwLock::new(Link {
                connection: Arc::new(connection),
                channel,
                generation: 0,
            }),
        })
    }

    /// The current connection and publishing channel.
    pub(super) async fn link(&self) -> Link {
        self.link.read().await.clone()
    }

    /// The connection of generation `seen` failed: connect again (unless
    /// another caller did already), waiting out the outage with backoff,
    /// logged once when it starts and once when it ends.
    pub(super) async fn reconnect(&self, seen: u64, doing: &str) {
        let mut link = self.link.write().await;
        if link.generation != seen {
            return;
        }
        tracing::warn!(
            "RabbitMQ at {} is unavailable while {doing}; reconnecting with backoff, no job is lost",
            self.shown
        );
        let mut delay = Duration::from_millis(100);
        loop {
            match open(&self.url, &self.names).await {
                Ok((connection, channel)) => {
                    *link = Link {
                        connection: Arc::new(connection),
                        channel,
                        generation: seen + 1,
                    };
                    tracing::info!("RabbitMQ at {} is reachable again", self.shown);
                    return;
                }
                Err(e) => {
                    tracing::debug!(
                        "reconnecting to RabbitMQ at {}: {}",
                        self.shown,
                        scrub(&e.to_string(), &self.url)
                    );
                    tokio::time::sleep(delay.mul_f64(0.5 + fastrand::f64() * 0.5)).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// The queue names.
    pub(super) fn names(&self) -> &Names {
        &self.names
    }

    /// The URL for messages, password redacted.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    fn error(&self, doing: &str, error: &lapin::Error) -> QueueError {
        QueueError::Backend(format!(
            "RabbitMQ at {} failed while {doing}: {error}",
            self.shown
        ))
    }

    /// Publish `messages` (routing key, body, headers) and wait for the
    /// broker to confirm each: then they are on disk on a quorum of its
    /// nodes. A connection lost meanwhile is waited out and the unconfirmed
    /// messages are published again (so one may arrive twice).
    pub(super) async fn publish(
        &self,
        messages: &[(String, String, FieldTable)],
    ) -> Result<(), QueueError> {
        let mut rest: Vec<&(String, String, FieldTable)> = messages.iter().collect();
        let mut delay = Duration::from_millis(50);
        while !rest.is_empty() {
            let link = self.link().await;
            let mut confirms = Vec::with_capacity(rest.len());
            let mut failure = None;
            for (index, (queue, body, headers)) in rest.iter().enumerate() {
                match link
                    .channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        body.as_bytes(),
                        topology::persistent(headers.clone()),
                    )
                    .await
                {
                    Ok(confirm) => confirms.push((index, confirm)),
                    Err(e) => {
                        failure = Some((index, e));
                        break;
                    }
                }
            }
            let mut again = Vec::new();
            for (index, confirm) in confirms {
                match confirm.await {
                    Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {}
                    Ok(Confirmation::Ack(Some(_))) => {
                        return Err(QueueError::Backend(format!(
                            "RabbitMQ at {} has no queue `{}` to take a message (was it deleted while jobhost ran?)",
                            self.shown, rest[index].0
                        )));
                    }
                    Ok(Confirmation::Nack(_)) => again.push(rest[index]),
                    Err(e) => {
                        if failure.is_none() {
                            failure = Some((index, e));
                        }
                        again.push(rest[index]);
                    }
                }
            }
            if let Some((index, error)) = failure {
                again.extend(rest.iter().skip(index).copied());
                again.sort_by_key(|m| m as *const _);
                again.dedup_by_key(|m| *m as *const _);
                if error.is_amqp_soft_error() {
                    return Err(self.error("publishing", &error));
                }
                self.reconnect(link.generation, "publishing").await;
            } else if !again.is_empty() {
                // Refused (nack): the broker could not store them now.
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            rest = again;
        }
        Ok(())
    }

    /// The message that puts `wire` on the queue, or in the delay queue
    /// for `due_ms` if that is later than now.
    pub(super) fn message_for(
        &self,
        wire: &WireTask,
        due_ms: Option<u64>,
    ) -> (String, String, FieldTable) {
        let body = wire.to_json();
        let now = now_millis();
        match due_ms {
            Some(due) if due > now => {
                let step = topology::step_for(due - now);
                let mut headers = FieldTable::default();
                headers.insert(
                    DUE_HEADER.into(),
                    AMQPValue::LongLongInt(i64::try_from(due).unwrap_or(i64::MAX)),
                );
                (self.names.delay(step), body, headers)
            }
            _ => (self.names.main.clone(), body, FieldTable::default()),
        }
    }

    /// Enqueue `tasks` now, or at `due_ms` (ms since the epoch). Returns
    /// how many were accepted (all: RabbitMQ has no URL de-duplication).
    pub async fn enqueue(&self, tasks: &[Task], due_ms: Option<u64>) -> Result<usize, QueueError> {
        for batch in tasks.chunks(PUBLISH_BATCH) {
            let mut messages = Vec::with_capacity(batch.len());
            for task in batch {
                let wire = WireTask::from_task(task, 0, None);
                messages.push(self.message_for(&wire, due_ms));
            }
            self.publish(&messages).await?;
        }
        Ok(tasks.len())
    }

    /// A channel of its own on the current connection.
    async fn side_channel(&self) -> Result<Channel, QueueError> {
        self.link()
            .await
            .connection
            .create_channel()
            .await
            .map_err(|e| self.error("opening a channel", &e))
    }

    /// Ready messages in `queue`, and its consumers; zeros if it does not
    /// exist (asked on a channel of its own: a missing queue closes it).
    async fn count(&self, queue: &str) -> Result<(u64, u64), QueueError> {
        let channel = self.side_channel().await?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(q) => {
                let _ = channel.close(200, "counted".into()).await;
                Ok((u64::from(q.message_count()), u64::from(q.consumer_count())))
            }
            Err(e) if e.is_amqp_soft_error() => Ok((0, 0)),
            Err(e) => Err(self.error("counting messages", &e)),
        }
    }

    /// Counts of the queue.
    pub async fn stats(&self) -> Result<AmqpStats, QueueError> {
        let (ready, consumers) = self.count(&self.names.main).await?;
        let (dead, _) = self.count(&self.names.dead).await?;
        let mut delayed = 0;
        for step in DELAY_STEPS_MS {
            delayed += self.count(&self.names.delay(step)).await?.0;
        }
        Ok(AmqpStats {
            ready,
            delayed,
            dead,
            consumers,
        })
    }

    /// Whether no message is ready or delayed (messages delivered to a host
    /// and not acknowledged are not seen).
    pub(super) async fn nothing_waiting(&self) -> Result<bool, QueueError> {
        let stats = self.stats().await?;
        Ok(stats.ready == 0 && stats.delayed == 0)
    }

    /// Take every dead letter on a channel of its own, unacknowledged, and
    /// list it; `revive` may turn one into the body that goes back on the
    /// queue (published, confirmed, then the letter removed). The letters
    /// not revived go back when the channel closes. Returns the list and
    /// how many were revived.
    async fn each_dead<F>(
        &self,
        mut revive: F,
    ) -> Result<(Vec<serde_json::Value>, usize), QueueError>
    where
        F: FnMut(&str, &str) -> Option<Result<String, String>>,
    {
        let channel = self.side_channel().await?;
        let mut listed = Vec::new();
        let mut revived = Vec::new();
        while let Some(message) = channel
            .basic_get(
                self.names.dead.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(|e| self.error("reading the dead letters", &e))?
        {
            let delivery = message.delivery;
            let stored = String::from_utf8_lossy(&delivery.data).into_owned();
            let (id, letter) = dead_letter(&stored, &delivery.properties);
            listed.push(present_dead(&id, &letter));
            match revive(&id, &letter) {
                Some(Ok(body)) => revived.push((body, delivery.acker)),
                Some(Err(error)) => tracing::error!("dead letter {id}: {error}"),
                None => {}
            }
        }
        if !revived.is_empty() {
            let messages: Vec<(String, String, FieldTable)> = revived
                .iter()
                .map(|(body, _)| (self.names.main.clone(), body.clone(), FieldTable::default()))
                .collect();
            self.publish(&messages).await?;
            for (_, acker) in &revived {
                acker
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(|e| self.error("removing a revived dead letter", &e))?;
            }
        }
        let _ = channel.close(200, "done".into()).await;
        Ok((listed, revived.len()))
    }

    /// Every dead letter, as `dead list` prints it.
    pub async fn dead_list(&self) -> Result<Vec<serde_json::Value>, QueueError> {
        Ok(self.each_dead(|_, _| None).await?.0)
    }

    /// Put the dead letters with these ids (all if empty) back on the
    /// queue, attempts reset. Returns how many.
    pub async fn dead_retry(&self, ids: &[String]) -> Result<usize, QueueError> {
        let (_, revived) = self
            .each_dead(|id, letter| {
                (ids.is_empty() || ids.iter().any(|wanted| wanted == id)).then(|| revive(letter))
            })
            .await?;
        Ok(revived)
    }

    /// Delete every dead letter. Returns how many there were.
    pub async fn dead_purge(&self) -> Result<u64, QueueError> {
        self.link()
            .await
            .channel
            .queue_purge(
                self.names.dead.as_str().into(),
                QueuePurgeOptions::default(),
            )
            .await
            .map(u64::from)
            .map_err(|e| self.error("purging the dead letters", &e))
    }
}

/// The id and the stored form (`wire::StoredDead` JSON) of a message in the
/// dead queue: a burial by jobhost carries its letter; a message the broker
/// dead-lettered itself (a rejection, or past a delivery limit set by
/// policy) carries the task as it was.
fn dead_letter(body: &str, properties: &lapin::BasicProperties) -> (String, String) {
    if topology::has_header(properties, DEAD_HEADER) {
        let id = serde_json::from_str::<StoredDead>(body)
            .ok()
            .and_then(|letter| letter.task.map(|task| task.id))
            .unwrap_or_default();
        return (id, body.to_owned());
    }
    match serde_json::from_str::<WireTask>(body) {
        Ok(wire) => {
            let deliveries = topology::header_i64(properties, topology::DELIVERY_COUNT);
            let letter = serde_json::json!({
                "error": "dead-lettered by RabbitMQ itself (rejected, or past a delivery limit set by a policy)",
                "died_at": 0,
                "deliveries": deliveries,
                "task": wire,
            });
            (wire.id.clone(), letter.to_string())
        }
        Err(_) => (
            String::new(),
            serde_json::json!({"error": "not a task", "died_at": 0, "raw": body}).to_string(),
        ),
    }
}

/// The body that re-enqueues a stored letter, attempts reset.
fn revive(letter: &str) -> Result<String, String> {
    match Revived::of(letter) {
        Revived::Task(task) => Ok(task.to_json()),
        Revived::Raw(_) => Err("it was not a task, so it cannot go back on the queue".into()),
        Revived::Unreadable => Err("unreadable dead letter".into()),
    }
}

//! The RabbitMQ queues of one jobhost queue, their arguments, and the
//! headers jobhost puts on messages.
//!
//! For queue NAME: `NAME` (quorum; what the broker dead-letters goes to
//! `NAME.dead`; the poison limit is the hosts', from `x-delivery-count`),
//! `NAME.dead` (quorum; the dead letters), and one delay queue per delay
//! step, `NAME.delay.MS` (quorum, `x-message-ttl` MS, dead-lettered back
//! into `NAME` when the time is up; a long delay passes through the
//! longest step several times). Every queue dead-letters at least once
//! (`x-dead-letter-strategy`), which needs `x-overflow: reject-publish`.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};

/// The delay steps (ms). A delay waits in the longest step not longer than
/// what remains (the shortest if less remains); a message that comes back
/// before its due time waits again, so a delay is never cut short and
/// overshoots by at most the shortest step's share.
pub const DELAY_STEPS_MS: [u64; 6] = [100, 1_000, 10_000, 60_000, 600_000, 3_600_000];

/// Header: the dead letter of a burial by jobhost (its body is the letter).
pub const DEAD_HEADER: &str = "x-jobhost-dead";
/// Header: when a delayed message is due (ms since the epoch).
pub const DUE_HEADER: &str = "x-jobhost-due";
/// Header RabbitMQ sets on a quorum queue's redeliveries.
pub const DELIVERY_COUNT: &str = "x-delivery-count";

/// The names of one queue's RabbitMQ queues.
#[derive(Debug, Clone)]
pub struct Names {
    /// The ready tasks.
    pub main: String,
    /// The dead letters.
    pub dead: String,
}

impl Names {
    /// The queues of jobhost queue `name`.
    pub fn new(name: &str) -> Self {
        Names {
            main: name.to_owned(),
            dead: format!("{name}.dead"),
        }
    }

    /// The delay queue of step `step_ms`.
    pub fn delay(&self, step_ms: u64) -> String {
        format!("{}.delay.{step_ms}", self.main)
    }
}

/// The step for `remaining_ms` still to wait.
pub fn step_for(remaining_ms: u64) -> u64 {
    DELAY_STEPS_MS
        .iter()
        .rev()
        .find(|&&step| step <= remaining_ms)
        .copied()
        .unwrap_or(DELAY_STEPS_MS[0])
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn quorum(dead_letter_to: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert("x-dead-letter-exchange".into(), text(""));
    args.insert("x-dead-letter-routing-key".into(), text(dead_letter_to));
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}

/// Declare the main, dead and delay queues (idempotent; the broker refuses
/// a redeclaration with other arguments).
pub async fn declare(channel: &Channel, names: &Names) -> Result<(), lapin::Error> {
    let main = quorum(&names.dead);
    channel
        .queue_declare(
            names.main.as_str().into(),
            QueueDeclareOptions::durable(),
            main,
        )
        .await?;
    let mut dead = FieldTable::default();
    dead.insert("x-queue-type".into(), text("quorum"));
    channel
        .queue_declare(
            names.dead.as_str().into(),
            QueueDeclareOptions::durable(),
            dead,
        )
        .await?;
    for step in DELAY_STEPS_MS {
        declare_delay(channel, names, step).await?;
    }
    Ok(())
}

/// Declare the delay queue of `step_ms`.
async fn declare_delay(channel: &Channel, names: &Names, step_ms: u64) -> Result<(), lapin::Error> {
    let mut args = quorum(&names.main);
    args.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(i64::try_from(step_ms).unwrap_or(i64::MAX)),
    );
    channel
        .queue_declare(
            names.delay(step_ms).as_str().into(),
            QueueDeclareOptions::durable(),
            args,
        )
        .await?;
    Ok(())
}

/// A persistent message's properties, with `headers`.
pub fn persistent(headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers)
}

/// An integer header of `properties`.
pub fn header_i64(properties: &BasicProperties, name: &str) -> Option<i64> {
    Some(match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongLongInt(v) => *v,
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::ShortInt(v) => i64::from(*v),
        AMQPValue::ShortUInt(v) => i64::from(*v),
        AMQPValue::ShortShortInt(v) => i64::from(*v),
        AMQPValue::ShortShortUInt(v) => i64::from(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok()?,
        _ => return None,
    })
}

/// Whether `properties` carry header `name`.
pub fn has_header(properties: &BasicProperties, name: &str) -> bool {
    properties
        .headers()
        .as_ref()
        .is_some_and(|headers| headers.inner().contains_key(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_waits_in_the_longest_step_that_fits() {
        assert_eq!(step_for(0), 100);
        assert_eq!(step_for(99), 100);
        assert_eq!(step_for(150), 100);
        assert_eq!(step_for(1_000), 1_000);
        assert_eq!(step_for(59_999), 10_000);
        assert_eq!(step_for(10 * 86_400_000), 3_600_000);
        let names = Names::new("jobs");
        assert_eq!(names.delay(5_000), "jobs.delay.5000");
        assert_eq!(names.dead, "jobs.dead");
    }
}

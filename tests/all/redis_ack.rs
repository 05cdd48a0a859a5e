//! The acknowledgement scripts' key-value writes, checked against the
//! one-by-one reference: `ack.lua` applies a batch's writes with one MSET and
//! one INCRBY per key where it can, and `ack_fast.lua` applies writes the
//! host merged beforehand (or nothing, and the host falls back to
//! `ack.lua`); both must leave exactly the store that applying each owned
//! job's writes in order (`kv_apply.lua`) leaves, with the same count of
//! left-out adds per job, on random batches. Two keys start one step from
//! the ends of the 64-bit range, where the order of adds of both signs
//! decides which overflow.

use jobhost::kv::redis::apply_script;
use jobhost::kv::KvWrite;
use jobhost::queue::redis::fast_ack;
use jobhost::queue::redis::scripts::Scripts;
use jobhost::redis::keys::{QueueKeys, GROUP};
use redis::Value;

use crate::redis_util::RedisServer;

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// One write, as the scripts take it: (op, key, value).
type Write = (&'static str, String, String);

fn random_write(rng: &mut Rng) -> Write {
    let key = format!("jobhost:kv:t:k{}", rng.next() % 5);
    match rng.next() % 10 {
        0..=3 => {
            let value = rng
                .pick(&["1", "-4", "text", "", "9223372036854775806", "00", " 3"])
                .to_string();
            ("s", key, value)
        }
        4 => ("d", key, String::new()),
        // A set that expires (a URL's validators), on keys others write too.
        5 => ("e600000", key, rng.pick(&["v1", "v2", "7"]).to_string()),
        _ => {
            let delta = rng
                .pick(&[
                    "1",
                    "2",
                    "-1",
                    "-2",
                    "0",
                    "-7",
                    "40",
                    "4611686018427387904",
                    "-9223372036854775808",
                    "1000000000000000",
                ])
                .to_string();
            ("a", key, delta)
        }
    }
}

/// A write that usually merges with the batch's others (see `fast_ack.rs`):
/// sets to k3 and k4 only, expiring sets to k6 and k7 only, adds to k1 and
/// k2 with the key's sign for this batch (`signs`), so that Redis takes most
/// sums and refuses some (k1 and k2 start next to the ends of the 64-bit
/// range), and now and then an add to k0 (not an integer), to k5 (absent at
/// first: undoing it deletes it) or of the other sign.
fn mergeable_write(rng: &mut Rng, signs: [i64; 2]) -> Write {
    if rng.next() % 2 == 0 {
        if rng.next() % 3 == 0 {
            // Only ever expiring sets on k6 and k7.
            let key = format!("jobhost:kv:t:k{}", 6 + rng.next() % 2);
            return ("e600000", key, rng.pick(&["v1", "v2"]).to_string());
        }
        let key = format!("jobhost:kv:t:k{}", 3 + rng.next() % 2);
        let value = rng.pick(&["1", "-4", "text", "", "00"]).to_string();
        return ("s", key, value);
    }
    let k = (rng.next() % 2) as usize;
    let magnitude = *rng.pick(&[1i64, 2, 7, 40, 0, 1_000_000_000_000_000]);
    let sign = if rng.next() % 12 == 0 {
        -signs[k]
    } else {
        signs[k]
    };
    let key = match rng.next() % 25 {
        0 => 0,
        1..=5 => 5,
        _ => k + 1,
    };
    (
        "a",
        format!("jobhost:kv:t:k{key}"),
        (sign * magnitude).to_string(),
    )
}

/// The host's form of a write: its key without the `jobhost:kv:` prefix,
/// which the script call adds.
fn kv_write((op, key, value): &Write) -> KvWrite {
    let key = &key
        .strip_prefix("jobhost:kv:")
        .expect("test keys are kv keys")
        .to_owned();
    match *op {
        "s" => KvWrite::Set {
            key: key.clone(),
            value: value.as_bytes().to_vec(),
        },
        "d" => KvWrite::Delete { key: key.clone() },
        op if op.starts_with('e') => KvWrite::Expiring {
            key: key.clone(),
            value: value.as_bytes().to_vec(),
            ttl_ms: op[1..].parse().expect("milliseconds"),
        },
        _ => KvWrite::Add {
            key: key.clone(),
            delta: value.parse().expect("deltas are integers"),
        },
    }
}

/// Every `jobhost:kv:t:*` key and its value, sorted.
fn store(conn: &mut redis::Connection) -> Vec<(String, String)> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("jobhost:kv:t:*")
        .query(conn)
        .expect("KEYS");
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let value: String = redis::cmd("GET").arg(&key).query(conn).expect("GET");
            (key, value)
        })
        .collect()
}

#[test]
fn the_ack_script_leaves_the_store_that_one_by_one_writes_leave() {
    run_trials(false);
}

#[test]
fn the_fast_ack_script_applies_all_or_nothing_as_one_by_one_writes_would() {
    run_trials(true);
}

/// 300 random batches through `ack.lua`, or (`fast`) 600 through
/// `ack_fast.lua` when their writes merge, falling back to `ack.lua` as the
/// host does, compared with the one-by-one reference.
fn run_trials(fast: bool) {
    let server = RedisServer::start(false);
    let client = |db: u32| {
        redis::Client::open(format!("redis://127.0.0.1:{}/{db}", server.port))
            .and_then(|c| c.get_connection())
            .expect("connect to the test redis")
    };
    // db 0: the batch through ack.lua; db 1: the reference, job by job.
    let (mut batch, mut reference) = (client(0), client(1));
    let scripts = Scripts::new();
    let apply = apply_script();
    let stream = "jobhost:{t}:stream";
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut batch)
        .expect("XGROUP CREATE");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut merged_keys, mut lost_jobs, mut left_out) = (0, 0, 0);
    let (mut fast_applied, mut fast_refused, mut fast_lost) = (0, 0, 0);
    let mut owned_jobs = 0;
    for trial in 0..if fast { 600 } else { 300 } {
        for conn in [&mut batch, &mut reference] {
            let _: () = redis::cmd("DEL")
                .arg(
                    (0..6)
                        .map(|k| format!("jobhost:kv:t:k{k}"))
                        .collect::<Vec<_>>(),
                )
                .query(conn)
                .expect("DEL");
            let _: () = redis::cmd("MSET")
                .arg(&[
                    "jobhost:kv:t:k0",
                    "text",
                    "jobhost:kv:t:k1",
                    "9223372036854775806",
                    "jobhost:kv:t:k2",
                    "-9223372036854775807",
                ])
                .query(conn)
                .expect("MSET");
        }
        let jobs = 1 + (rng.next() % 8) as usize;
        // In the fast trials, three batches in four are built to merge.
        let mergeable = fast && rng.next() % 4 != 0;
        let signs = [-1, 1].map(|sign| if rng.next() % 4 == 0 { -sign } else { sign });
        let writes: Vec<Vec<Write>> = (0..jobs)
            .map(|_| {
                (0..rng.next() % 6)
                    .map(|_| {
                        if mergeable {
                            mergeable_write(&mut rng, signs)
                        } else {
                            random_write(&mut rng)
                        }
                    })
                    .collect()
            })
            .collect();
        // Deliver the jobs to `me`, then hand some over to `other` (their
        // lease was lost): those must change nothing.
        let mut ids = Vec::new();
        for _ in 0..jobs {
            let id: String = redis::cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("task")
                .arg("{}")
                .query(&mut batch)
                .expect("XADD");
            ids.push(id);
        }
        let _: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg("me")
            .arg("COUNT")
            .arg(jobs)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query(&mut batch)
            .expect("XREADGROUP");
        let lost: Vec<bool> = (0..jobs).map(|_| rng.next() % 6 == 0).collect();
        for (id, _) in ids.iter().zip(&lost).filter(|(_, lost)| **lost) {
            let _: Value = redis::cmd("XCLAIM")
                .arg(stream)
                .arg(GROUP)
                .arg("other")
                .arg(0)
                .arg(id)
                .query(&mut batch)
                .expect("XCLAIM");
        }

        let mut fast_answer = None;
        let host_writes: Vec<Vec<KvWrite>> = writes
            .iter()
            .map(|job| job.iter().map(kv_write).collect())
            .collect();
        let merged = fast_ack::merge_writes(host_writes.iter().map(Vec::as_slice));
        if let (true, Some(merged)) = (fast, merged) {
            let before = store(&mut batch);
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let ended = fast_ack::Ended {
                plugins: vec![("t", jobs)],
                ..Default::default()
            };
            let done: usize = fast_ack::invocation(
                &scripts.ack_fast,
                &QueueKeys::new("t"),
                "me",
                &id_refs,
                (&ids[0], &ids[jobs - 1]),
                &ended,
                &merged,
            )
            .invoke(&mut batch)
            .expect("ack_fast.lua");
            let context = format!("trial {trial}: writes {writes:?}, lost {lost:?}");
            if done == jobs {
                assert!(
                    !lost.contains(&true),
                    "{context}: applied with a lost lease"
                );
                fast_applied += 1;
                fast_answer = Some(vec![0; 2 * jobs]);
            } else {
                assert_eq!(done, 0, "{context}");
                assert_eq!(store(&mut batch), before, "{context}: refused, yet changed");
                if lost.contains(&true) {
                    fast_lost += 1;
                } else {
                    fast_refused += 1;
                }
            }
        }
        let mut invocation = scripts.ack.prepare_invoke();
        invocation
            .key(stream)
            .key("jobhost:{t}:stats")
            .key("jobhost:{t}:seen")
            .key("jobhost:unused")
            .arg(GROUP)
            .arg("me")
            .arg("0")
            .arg(jobs)
            .arg(&ids[0])
            .arg(&ids[jobs - 1]);
        for (id, job) in ids.iter().zip(&writes) {
            // No round, no unique URL, not ended on a 304.
            invocation
                .arg(id)
                .arg("t")
                .arg(0)
                .arg(0)
                .arg(job.len())
                .arg("")
                .arg("")
                .arg("0");
            for (op, key, value) in job {
                invocation.arg(*op).arg(key).arg(value);
            }
        }
        let answers: Vec<i64> = match fast_answer {
            Some(answers) => answers,
            None => invocation.invoke(&mut batch).expect("ack.lua"),
        };

        let mut want = Vec::new();
        for (job, lost) in writes.iter().zip(&lost) {
            if *lost {
                want.extend([-1, 0]);
                lost_jobs += 1;
                continue;
            }
            let mut call = apply.prepare_invoke();
            call.arg(job.len());
            for (op, key, value) in job {
                call.arg(*op).arg(key).arg(value);
            }
            let skipped: i64 = call.invoke(&mut reference).expect("kv_apply.lua");
            left_out += skipped;
            want.extend([0, skipped]);
        }
        let context = format!("trial {trial}: writes {writes:?}, lost {lost:?}");
        assert_eq!(answers, want, "{context}");
        owned_jobs += lost.iter().filter(|lost| !**lost).count();
        let counters: (usize, usize) = redis::cmd("HMGET")
            .arg("jobhost:{t}:stats")
            .arg("done")
            .arg("done:t")
            .query(&mut batch)
            .expect("HMGET stats");
        assert_eq!(
            counters,
            (owned_jobs, owned_jobs),
            "{context}: done, done:t"
        );
        assert_eq!(store(&mut batch), store(&mut reference), "{context}");

        // How often the batch took the merged paths at all (below).
        let owned = writes.iter().zip(&lost).filter(|(_, lost)| !**lost);
        let mut adds = std::collections::HashMap::<&str, usize>::new();
        for (job, _) in owned {
            for (op, key, _) in job {
                if *op == "a" {
                    *adds.entry(key).or_default() += 1;
                }
            }
        }
        merged_keys += adds.values().filter(|n| **n > 1).count();
    }
    // The random batches must reach every path: several adds to one key,
    // lost leases, and adds that Redis refuses.
    assert!(merged_keys > 100, "{merged_keys} keys with several adds");
    assert!(lost_jobs > 50, "{lost_jobs} lost jobs");
    assert!(left_out > 50, "{left_out} adds left out");
    // And the fast trials every outcome of the fast script: applied, refused
    // by Redis (then undone), and refused for a lost lease.
    if fast {
        assert!(
            fast_applied > 100,
            "{fast_applied} batches applied by ack_fast.lua"
        );
        assert!(
            fast_refused > 50,
            "{fast_refused} batches whose adds Redis refused"
        );
        assert!(fast_lost > 100, "{fast_lost} batches with a lost lease");
    }
}

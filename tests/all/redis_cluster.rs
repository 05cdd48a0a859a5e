//! Redis Cluster: three masters that each test starts on loopback, and two
//! queues whose hash slots live on different nodes. Every key of a queue
//! carries its hash tag, so the scripts stay atomic; the key-value writes
//! travel with the acknowledgement into the queue's slot.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::redis_util::*;
use crate::util::*;

/// One node of a test cluster, killed when dropped.
struct Node {
    port: u16,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn query<T: redis::FromRedisValue>(port: u16, cmd: &mut redis::Cmd) -> redis::RedisResult<T> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))?
        .get_connection_with_timeout(Duration::from_secs(2))?;
    cmd.query(&mut conn)
}

/// Three masters, all 16,384 slots assigned, no replicas.
struct Cluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes: Vec<Node> = (0..3)
            .map(|i| {
                let port = free_port();
                let sub = dir.path().join(format!("node{i}"));
                std::fs::create_dir_all(&sub).expect("mkdir");
                start_node(&sub, port)
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Cluster { nodes, _dir: dir };
        wait_until(
            Duration::from_secs(30),
            || {
                cluster.nodes.iter().all(|n| {
                    query::<String>(n.port, redis::cmd("CLUSTER").arg("INFO"))
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
                })
            },
            || "the cluster did not reach cluster_state:ok".into(),
        );
        cluster
    }

    fn url(&self) -> String {
        // One seed node is enough: the client learns the others.
        format!("redis+cluster://127.0.0.1:{}", self.nodes[0].port)
    }

    /// The port of the node that holds `key`.
    fn node_of(&self, key: &str) -> u16 {
        let slot: u16 = query(
            self.nodes[0].port,
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(key),
        )
        .expect("CLUSTER KEYSLOT");
        let slots: redis::Value =
            query(self.nodes[0].port, redis::cmd("CLUSTER").arg("SLOTS")).expect("CLUSTER SLOTS");
        let redis::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}")
        };
        for range in ranges {
            let redis::Value::Array(parts) = range else {
                continue;
            };
            let (Some(redis::Value::Int(start)), Some(redis::Value::Int(end))) =
                (parts.first(), parts.get(1))
            else {
                continue;
            };
            if (*start..=*end).contains(&i64::from(slot)) {
                if let Some(redis::Value::Array(master)) = parts.get(2) {
                    if let Some(redis::Value::Int(port)) = master.get(1) {
                        return u16::try_from(*port).expect("a port");
                    }
                }
            }
        }
        panic!("no node holds slot {slot}")
    }
}

fn start_node(dir: &Path, port: u16) -> Node {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
        .args([
            "--cluster-node-timeout",
            "5000",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed");
    let node = Node { port, child };
    wait_until(
        Duration::from_secs(10),
        || query::<String>(port, &mut redis::cmd("PING")).is_ok(),
        || format!("cluster node did not start on port {port}"),
    );
    node
}

/// `jobhost ARGS --queue URL --queue-name NAME`, checked to succeed.
fn cli(url: &str, name: &str, args: &[&str]) -> Run {
    let run = run(jobhost()
        .args(args)
        .args(["--queue", url, "--queue-name", name]));
    assert_eq!(run.code, 0, "{run:?}");
    run
}

#[test]
fn two_queues_on_different_nodes_of_a_cluster_each_finish_every_job() {
    let cluster = Cluster::start();
    let url = cluster.url();
    // Two queue names whose slots are on different nodes.
    let names: Vec<String> = (0..100).map(|i| format!("q{i}")).collect();
    let first = &names[0];
    let first_node = cluster.node_of(&format!("{{{first}}}"));
    let second = names
        .iter()
        .find(|name| cluster.node_of(&format!("{{{name}}}")) != first_node)
        .expect("a queue name on another node");
    let second_node = cluster.node_of(&format!("{{{second}}}"));

    // Each job sets a mark and adds 1 to a counter, and succeeds on its
    // second attempt: retries, delays, the kv writes with the ack.
    let total = 300;
    let plugins = PluginDir::with(&["chaos"]);
    let mut hosts = Vec::new();
    for name in [first, second] {
        let tasks = chaos_tasks(
            &format!("{name}-"),
            total,
            r#"{"action":"kv-add","succeed_at":"2"}"#,
        );
        let (_dir, input) = input_file(&tasks);
        let queued = run(jobhost()
            .args(["enqueue", "--queue", &url, "--queue-name", name, "--input"])
            .arg(&input));
        assert_eq!(queued.code, 0, "{queued:?}");
        let stream = format!("{{{name}}}:records");
        hosts.push(
            host_on(&url, &plugins, name)
                .args(&[
                    "--queue-name",
                    name,
                    "--until-empty",
                    "--retry-delay",
                    "10ms",
                    "--output",
                    &format!("redis-stream:{stream}"),
                ])
                .start(),
        );
    }
    all_exit(&mut hosts, 0, MINUTE);

    for (name, node) in [(first, first_node), (second, second_node)] {
        let stats: Value =
            serde_json::from_str(&cli(&url, name, &["stats", "--json"]).stdout).expect("JSON");
        assert_eq!(
            stats["done"].as_u64(),
            Some(total as u64),
            "{name}: {stats}"
        );
        assert_eq!(
            stats["retried"].as_u64(),
            Some(total as u64),
            "{name}: {stats}"
        );
        assert_eq!(stats["dead"].as_u64(), Some(0), "{name}: {stats}");
        // The queue's keys, its records and its kv keys are on its node.
        let exists = |key: &str| query::<u64>(node, redis::cmd("EXISTS").arg(key)).expect("EXISTS");
        assert_eq!(exists(&format!("jobhost:{{{name}}}:stream")), 1);
        let records: u64 =
            query(node, redis::cmd("XLEN").arg(format!("{{{name}}}:records"))).expect("XLEN");
        assert_eq!(records, total as u64, "{name}: one record per job");
        let adds: Option<String> = query(
            node,
            redis::cmd("GET").arg(format!("jobhost:{{{name}}}:kv:chaos:adds")),
        )
        .expect("GET");
        assert_eq!(
            adds.as_deref(),
            Some(total.to_string().as_str()),
            "{name}: the writes of the failed attempts were never applied"
        );
    }
    assert_ne!(first_node, second_node);
}

#[test]
fn names_outside_the_queues_slot_are_refused_with_what_to_write() {
    let cluster = Cluster::start();
    let plugins = PluginDir::with(&["chaos"]);
    let mut host = host_on(&cluster.url(), &plugins, "bad")
        .args(&["--until-empty", "--output", "redis-stream:records"])
        .start();
    host.exits(2, MINUTE);
    let log = host.log();
    assert!(
        log.contains("must be in the hash slot of queue `jobs`") && log.contains("{jobs}:records"),
        "{log}"
    );
}

//! The connection every Redis user of jobhost holds: one server's
//! reconnecting connection; behind Sentinel, the current master's,
//! switched to the promoted replica after a failover; or a Redis Cluster's,
//! which sends each command to the node that owns its keys.
//!
//! Contract: a [`Conn`] is cheap to clone and clones share the underlying
//! connection. A command that fails is returned to the caller as it failed
//! (callers wait out outages and retry); behind Sentinel, a failure that
//! looks like the master going away also makes the connection ask the
//! sentinels where the master is now, so that the caller's retry goes
//! there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

use super::sentinel::Sentinel;

/// A connection to the Redis server jobhost works on (see the module doc).
#[derive(Clone)]
pub struct Conn(Inner);

#[derive(Clone)]
enum Inner {
    /// One fixed server.
    Direct(ConnectionManager),
    /// The master the sentinels name: the shared state that follows it,
    /// and the connection of generation `seen` of it.
    Following {
        manager: ConnectionManager,
        follower: Arc<Follower>,
        seen: u64,
    },
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl Conn {
    /// A connection to one fixed server.
    pub(super) fn direct(manager: ConnectionManager) -> Self {
        Conn(Inner::Direct(manager))
    }

    /// A connection to a Redis Cluster.
    pub(super) fn cluster(connection: ClusterConnection) -> Self {
        Conn(Inner::Cluster(connection))
    }

    /// A connection that follows the master `sentinel` names, starting at
    /// `manager` (a connection to `address`).
    pub(super) fn following(
        sentinel: Sentinel,
        manager: ConnectionManager,
        address: String,
    ) -> Self {
        let follower = Arc::new(Follower {
            sentinel: tokio::sync::Mutex::new(sentinel),
            current: Mutex::new(Current {
                generation: 0,
                manager: manager.clone(),
                address,
                asked_at: None,
            }),
            generation: AtomicU64::new(0),
        });
        Conn(Inner::Following {
            manager,
            follower,
            seen: 0,
        })
    }

    /// Run `cmd`, which names no key, on the server that holds `key` (in a
    /// Redis Cluster, the node that owns its hash slot; elsewhere, the one
    /// server). For `SCAN` over keys of one hash tag.
    pub async fn query_beside<T: FromRedisValue>(
        &mut self,
        key: &str,
        cmd: &Cmd,
    ) -> redis::RedisResult<T> {
        let Inner::Cluster(cluster) = &mut self.0 else {
            return cmd.query_async(self).await;
        };
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(cluster)
            .await?;
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            slot,
            SlotAddr::Master,
        )));
        let value = cluster.route_command(cmd.clone(), routing).await?;
        Ok(T::from_redis_value(value)?)
    }

    /// Behind Sentinel: switch to the newest master connection if another
    /// clone found one since this clone last looked.
    fn catch_up(&mut self) {
        if let Inner::Following {
            manager,
            follower,
            seen,
        } = &mut self.0
        {
            if follower.generation.load(Ordering::Acquire) != *seen {
                if let Ok(current) = follower.current.lock() {
                    *manager = current.manager.clone();
                    *seen = current.generation;
                }
            }
        }
    }

    /// Behind Sentinel, after `error`: if it may mean the master moved, ask
    /// the sentinels and switch to the master they name.
    async fn after(&mut self, error: &redis::RedisError) {
        let Inner::Following { follower, seen, .. } = &self.0 else {
            return;
        };
        if !super::is_outage(error) {
            return;
        }
        let (follower, seen) = (follower.clone(), *seen);
        follower.find_master(seen).await;
        self.catch_up();
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if !matches!(self.0, Inner::Following { .. }) {
            return match &mut self.0 {
                Inner::Cluster(cluster) => cluster.req_packed_command(cmd),
                Inner::Direct(manager) | Inner::Following { manager, .. } => {
                    manager.req_packed_command(cmd)
                }
            };
        }
        Box::pin(async move {
            self.catch_up();
            let result = match &mut self.0 {
                Inner::Cluster(cluster) => cluster.req_packed_command(cmd).await,
                Inner::Direct(manager) | Inner::Following { manager, .. } => {
                    manager.send_packed_command(cmd).await
                }
            };
            if let Err(error) = &result {
                self.after(error).await;
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if !matches!(self.0, Inner::Following { .. }) {
            return match &mut self.0 {
                Inner::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
                Inner::Direct(manager) | Inner::Following { manager, .. } => {
                    manager.req_packed_commands(pipeline, offset, count)
                }
            };
        }
        Box::pin(async move {
            self.catch_up();
            let result = match &mut self.0 {
                Inner::Cluster(cluster) => {
                    cluster.req_packed_commands(pipeline, offset, count).await
                }
                Inner::Direct(manager) | Inner::Following { manager, .. } => {
                    manager.send_packed_commands(pipeline, offset, count).await
                }
            };
            if let Err(error) = &result {
                self.after(error).await;
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Direct(manager) | Inner::Following { manager, .. } => manager.get_db(),
            Inner::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// What the clones of one Sentinel-backed [`Conn`] share.
struct Follower {
    /// Asked one caller at a time, so that a burst of failures asks once.
    sentinel: tokio::sync::Mutex<Sentinel>,
    current: Mutex<Current>,
    /// `current.generation`, readable without the lock on every command.
    generation: AtomicU64,
}

struct Current {
    generation: u64,
    manager: ConnectionManager,
    /// `HOST:PORT` of the master `manager` talks to.
    address: String,
    /// When the sentinels were last asked.
    asked_at: Option<Instant>,
}

/// The sentinels are asked at most this often; callers retry with backoff
/// in between anyway.
const ASK_EVERY: Duration = Duration::from_millis(200);

impl Follower {
    /// Ask the sentinels where the master is, unless a newer connection
    /// than generation `seen` exists already or they were asked just now;
    /// switch to it if it moved.
    async fn find_master(&self, seen: u64) {
        let mut sentinel = self.sentinel.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        let (old, recently) = match self.current.lock() {
            Ok(current) => (
                current.address.clone(),
                current.asked_at.is_some_and(|at| at.elapsed() < ASK_EVERY),
            ),
            Err(_) => return,
        };
        if recently {
            return;
        }
        let found = sentinel.master().await;
        if let Ok(mut current) = self.current.lock() {
            current.asked_at = Some(Instant::now());
        }
        let (address, manager) = match found {
            Ok(found) => found,
            Err(reason) => {
                tracing::debug!("asking the sentinels for the master failed: {reason}");
                return;
            }
        };
        if address == old {
            return;
        }
        let manager = match sentinel.connect(manager).await {
            Ok(manager) => manager,
            Err(reason) => {
                tracing::debug!("the new master at {address} did not answer: {reason}");
                return;
            }
        };
        tracing::warn!(
            "Redis master `{}` moved from {old} to {address} (a Sentinel failover); following it",
            sentinel.master_name()
        );
        if let Ok(mut current) = self.current.lock() {
            current.generation += 1;
            current.manager = manager;
            current.address = address;
            self.generation.store(current.generation, Ordering::Release);
        }
    }
}

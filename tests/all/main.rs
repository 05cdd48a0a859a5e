//! Integration tests: the real `jobhost` binary, real compiled plugins, and a
//! real HTTP server on 127.0.0.1 started by each test.
//!
//! The plugins must be built first (`plugins/build.sh`); the README's test
//! command does that.

mod db_util;
mod redis_util;
mod util;

mod ahead;
mod amqp_tls;
mod cache;
mod compression;
mod config;
mod crawl;
mod dashboard;
mod db_sink;
mod failures;
mod guest_errors;
mod input;
mod languages;
mod logs;
mod metrics;
mod music_sync;
mod pipelining;
mod plugins;
mod politeness;
mod progress;
mod providers;
mod queue_suite;
mod redis_ack;
mod redis_cluster;
mod redis_queue;
mod redis_sentinel;
mod redis_tls;
mod reload;
mod routing;
mod sandbox;
mod scaffold;
mod schedules;
mod threads;
mod url_policy;

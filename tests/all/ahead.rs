//! Instances made ahead of their job (`Plugin::prepare`), through the public
//! API: the next job takes the instance made ahead, each instance still
//! serves one job, at most one waits per plugin and four in all (a plugin
//! dropped by a reload gives its place back), and none is made when
//! instances are reused.

use std::sync::Arc;
use std::time::Duration;

use jobhost::fetch::Fetched;
use jobhost::kv::{AnyKv, MemoryKv};
use jobhost::runtime::engine::EngineLimits;
use jobhost::runtime::{CallLimits, Plugin, Runtime};
use jobhost::task::Task;

use crate::util::plugin_file;

async fn chaos(limits: CallLimits) -> Arc<Plugin> {
    let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
    // Room for warm instances, for the reuse case.
    let engine = EngineLimits {
        warm_instances: 4,
        ..EngineLimits::default()
    };
    let runtime = Runtime::new(&engine, limits, kv, None).expect("engine");
    Arc::new(
        runtime
            .load_file(&plugin_file("chaos"))
            .await
            .expect("chaos loads"),
    )
}

/// A `static` job: chaos records how many calls its instance has seen.
async fn calls_seen(plugin: &Plugin, id: &str) -> u64 {
    let line = format!(r#"{{"id":"{id}","payload":"x","metadata":{{"action":"static"}}}}"#);
    let mut task = Task::parse_line(&line).unwrap().unwrap();
    task.attempt = 1;
    let content = Fetched {
        status: 200,
        final_url: task.url.clone(),
        headers: Vec::new(),
        content_type: Some("text/plain".into()),
        body: b"x".to_vec(),
    };
    let handled = plugin
        .handle(&task, content)
        .await
        .expect("the job succeeds");
    let record: serde_json::Value =
        serde_json::from_slice(&handled.outcome.records[0].data).expect("a JSON record");
    record["calls"].as_u64().expect("a call count")
}

async fn until_ready(plugin: &Plugin) {
    for _ in 0..1000 {
        if plugin.has_ready_instance() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no instance was made ahead within 5 s");
}

#[tokio::test]
async fn the_next_job_takes_the_instance_made_ahead_and_it_is_fresh() {
    let plugin = chaos(CallLimits::default()).await;
    assert!(!plugin.has_ready_instance());
    for i in 0..5 {
        plugin.prepare();
        // A second call while one is being made or waits makes no other.
        plugin.prepare();
        until_ready(&plugin).await;
        assert_eq!(calls_seen(&plugin, &format!("a{i}")).await, 1, "job {i}");
        assert!(
            !plugin.has_ready_instance(),
            "job {i} did not take the instance made ahead"
        );
        // Without one made ahead, a job makes its own, fresh too.
        assert_eq!(calls_seen(&plugin, &format!("b{i}")).await, 1, "job b{i}");
    }
}

#[tokio::test]
async fn no_instance_is_made_ahead_when_instances_are_reused() {
    let mut limits = CallLimits::default();
    limits.reuse.insert("chaos".into(), 10);
    let plugin = chaos(limits).await;
    assert_eq!(plugin.reuse(), 10);
    plugin.prepare();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!plugin.has_ready_instance());
    assert_eq!(calls_seen(&plugin, "r1").await, 1);
    assert_eq!(
        calls_seen(&plugin, "r2").await,
        2,
        "the warm instance serves the next job"
    );
}

#[tokio::test]
async fn at_most_four_instances_wait_in_all_and_a_dropped_plugin_gives_its_place_back() {
    let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(
        &EngineLimits::default(),
        CallLimits::default(),
        kv,
        Some(cache.path()),
    )
    .expect("engine");
    let mut plugins = Vec::new();
    for _ in 0..5 {
        plugins.push(Arc::new(
            runtime
                .load_file(&plugin_file("chaos"))
                .await
                .expect("chaos loads"),
        ));
    }
    for plugin in &plugins[..4] {
        plugin.prepare();
        until_ready(plugin).await;
    }
    let fifth = plugins.pop().unwrap();
    fifth.prepare();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !fifth.has_ready_instance(),
        "a fifth instance was made ahead"
    );
    // A plugin that goes (hot reload) frees its place.
    drop(plugins.pop());
    fifth.prepare();
    until_ready(&fifth).await;
    assert_eq!(calls_seen(&fifth, "f1").await, 1);
}

#[test]
fn outside_a_tokio_runtime_prepare_does_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plugin = runtime.block_on(chaos(CallLimits::default()));
    // No runtime here to make it on: no panic, and nothing made.
    plugin.prepare();
    assert!(!plugin.has_ready_instance());
    // On a runtime, the same plugin makes one.
    runtime.block_on(async {
        plugin.prepare();
        until_ready(&plugin).await;
    });
}

//! Hot reload: watch the plugins folder and swap the registry when a
//! `.wasm` file is added, replaced or removed, without a restart.
//!
//! The folder is scanned every [`Reloader::interval`]; a file is loaded once
//! its size and modification time have held still for one scan (so a file
//! being copied in is not caught half-written). A file that fails to load
//! is logged once per version and changes nothing: the previous version of
//! that plugin keeps serving. Jobs already running keep the plugin version
//! they started with (they hold it); new jobs get the new one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::registry::Registry;
use crate::runtime::Runtime;

/// Size and modification time: a file's version, for change detection.
type Signature = (u64, Option<SystemTime>);

/// Watches one folder for one registry.
pub struct Reloader {
    runtime: Runtime,
    registry: Arc<ArcSwap<Registry>>,
    dir: PathBuf,
    /// How often the folder is scanned.
    pub interval: Duration,
    /// The version of each file the registry reflects (loaded or rejected).
    known: HashMap<PathBuf, Signature>,
    /// Versions seen once and waiting to hold still.
    pending: HashMap<PathBuf, Signature>,
}

fn scan(dir: &Path) -> std::io::Result<HashMap<PathBuf, Signature>> {
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            if let Ok(meta) = std::fs::metadata(&path) {
                if meta.is_file() {
                    files.insert(path, (meta.len(), meta.modified().ok()));
                }
            }
        }
    }
    Ok(files)
}

impl Reloader {
    /// A reloader for the registry loaded from `dir`.
    pub fn new(
        runtime: Runtime,
        registry: Arc<ArcSwap<Registry>>,
        dir: &Path,
        interval: Duration,
    ) -> Self {
        let known = scan(dir).unwrap_or_default();
        Reloader {
            runtime,
            registry,
            dir: dir.to_owned(),
            interval,
            known,
            pending: HashMap::new(),
        }
    }

    /// Scan forever (until the task is aborted).
    pub async fn run(mut self) {
        loop {
            tokio::time::sleep(self.interval).await;
            self.scan_once().await;
        }
    }

    /// One scan: apply every settled change.
    pub async fn scan_once(&mut self) {
        let now = match scan(&self.dir) {
            Ok(files) => files,
            Err(error) => {
                tracing::warn!(
                    "cannot scan the plugins folder {}: {error}",
                    self.dir.display()
                );
                return;
            }
        };
        let removed: Vec<PathBuf> = self
            .known
            .keys()
            .filter(|path| !now.contains_key(*path))
            .cloned()
            .collect();
        for path in removed {
            self.known.remove(&path);
            self.pending.remove(&path);
            let current = self.registry.load_full();
            if let Some(next) = current.without_path(&path) {
                tracing::info!("plugin file {} removed: unloaded", path.display());
                self.registry.store(Arc::new(next));
            }
        }
        let mut paths: Vec<_> = now.into_iter().collect();
        paths.sort();
        for (path, signature) in paths {
            if self.known.get(&path) == Some(&signature) {
                self.pending.remove(&path);
                continue;
            }
            // Load only once the file held still for a whole interval.
            if self.pending.get(&path) != Some(&signature) {
                self.pending.insert(path, signature);
                continue;
            }
            self.pending.remove(&path);
            self.known.insert(path.clone(), signature);
            match self.runtime.load_file(&path).await {
                Ok(plugin) => {
                    let note = plugin.load_note();
                    let (name, version) = (plugin.name().to_owned(), plugin.info().version.clone());
                    let current = self.registry.load_full();
                    match current.with_file(plugin) {
                        Ok(next) => {
                            self.registry.store(Arc::new(next));
                            tracing::info!(
                                "reloaded plugin {name} {version} from {} ({note})",
                                path.display()
                            );
                        }
                        Err(problem) => tracing::error!("plugin not reloaded: {problem}"),
                    }
                }
                Err(error) => {
                    let kept = self
                        .registry
                        .load()
                        .by_path(&path)
                        .map(|p| format!("; {} {} keeps serving", p.name(), p.info().version));
                    tracing::error!("plugin not reloaded: {error}{}", kept.unwrap_or_default());
                }
            }
        }
    }
}

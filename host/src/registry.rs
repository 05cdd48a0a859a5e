//! The plugin registry: every `*.wasm` in the plugins folder, loaded and
//! checked, indexed by name.
//!
//! A broken file never stops the others from loading: its error (which names
//! the file and what is wrong) is returned beside the plugins that did load.
//! Files load in name order, so routing by claims is deterministic.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::runtime::{LoadError, Plugin, Runtime};

/// Why the registry itself could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The folder cannot be listed.
    #[error("cannot read the plugins folder {path}: {error} (create it, or point --plugins at the folder with your .wasm files)")]
    Folder {
        /// The folder.
        path: String,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
    },
}

/// A problem with one file, reported while the others load.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// The file did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Two files claim the same plugin name; the later one is skipped.
    #[error("{path}: plugin name `{name}` is already used by {first}; the file was skipped (rename one of the plugins)")]
    DuplicateName {
        /// The skipped file.
        path: String,
        /// The name.
        name: String,
        /// The file that kept the name.
        first: String,
    },
}

/// Loaded plugins in load order, with a name index.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    plugins: Vec<Arc<Plugin>>,
    by_name: HashMap<String, usize>,
}

impl Registry {
    /// Load every `*.wasm` file directly inside `dir`.
    pub async fn load_dir(
        runtime: &Runtime,
        dir: &Path,
    ) -> Result<(Registry, Vec<FileProblem>), RegistryError> {
        let folder_error = |error| RegistryError::Folder {
            path: dir.display().to_string(),
            error,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(folder_error)? {
            let path = entry.map_err(folder_error)?.path();
            if path.extension().is_some_and(|ext| ext == "wasm") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        // Load (compile or map from the cache, then describe) all files at
        // once: a slow 18 MB component does not hold up the others.
        let mut loading = tokio::task::JoinSet::new();
        for (index, path) in files.into_iter().enumerate() {
            let runtime = runtime.clone();
            loading.spawn(async move { (index, runtime.load_file(&path).await) });
        }
        let mut loaded = Vec::new();
        while let Some(joined) = loading.join_next().await {
            if let Ok(result) = joined {
                loaded.push(result);
            }
        }
        // Insert in file-name order, so routing by claims is deterministic.
        loaded.sort_by_key(|(index, _)| *index);
        let mut registry = Registry::default();
        let mut problems = Vec::new();
        for (_, result) in loaded {
            match result {
                Ok(plugin) => {
                    if let Err(problem) = registry.insert(plugin) {
                        problems.push(problem);
                    }
                }
                Err(error) => problems.push(FileProblem::Load(error)),
            }
        }
        Ok((registry, problems))
    }

    /// Add a plugin; refuses a second plugin with the same name.
    pub fn insert(&mut self, plugin: Plugin) -> Result<(), FileProblem> {
        self.push(Arc::new(plugin))
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.by_name.get(name).map(|&i| &self.plugins[i])
    }

    /// All plugins, in load order.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// Names of all plugins, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }

    /// The plugin loaded from `path`, if any.
    pub fn by_path(&self, path: &Path) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| p.path() == path)
    }

    /// A copy with `plugin` in place of whatever came from the same file
    /// (or added, in file-name order). Refused if another file already
    /// holds the plugin's name.
    pub fn with_file(&self, plugin: Plugin) -> Result<Registry, FileProblem> {
        if let Some(existing) = self.get(plugin.name()) {
            if existing.path() != plugin.path() {
                return Err(FileProblem::DuplicateName {
                    path: plugin.path().display().to_string(),
                    name: plugin.name().to_owned(),
                    first: existing.path().display().to_string(),
                });
            }
        }
        let mut next = Registry::default();
        let mut pending = Some(plugin);
        for existing in &self.plugins {
            if let Some(new) = pending.as_ref() {
                if new.path() == existing.path() {
                    next.push(Arc::new(pending.take().expect("checked")))?;
                    continue;
                }
                if new.path() < existing.path() {
                    next.push(Arc::new(pending.take().expect("checked")))?;
                }
            }
            next.push(existing.clone())?;
        }
        if let Some(new) = pending {
            next.push(Arc::new(new))?;
        }
        Ok(next)
    }

    /// A copy without the plugin from `path`; `None` if none came from it.
    pub fn without_path(&self, path: &Path) -> Option<Registry> {
        self.by_path(path)?;
        let mut next = Registry::default();
        for plugin in self.plugins.iter().filter(|p| p.path() != path) {
            // Names were unique before, so they still are.
            let _ = next.push(plugin.clone());
        }
        Some(next)
    }

    fn push(&mut self, plugin: Arc<Plugin>) -> Result<(), FileProblem> {
        if let Some(&index) = self.by_name.get(plugin.name()) {
            return Err(FileProblem::DuplicateName {
                path: plugin.path().display().to_string(),
                name: plugin.name().to_owned(),
                first: self.plugins[index].path().display().to_string(),
            });
        }
        self.by_name
            .insert(plugin.name().to_owned(), self.plugins.len());
        self.plugins.push(plugin);
        Ok(())
    }

    /// Whether no plugin loaded.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

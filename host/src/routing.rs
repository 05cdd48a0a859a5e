//! Routing: which plugin handles a task.
//!
//! In order: the plugin the task names; the first plugin (in load order)
//! whose URL patterns match the task's URL; after the fetch, the first whose
//! content types match the response; then the `--plugin` default. Anything
//! else is a [`RouteError`], and the job goes to the dead letters with it.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::registry::Registry;
use crate::runtime::Plugin;
use crate::task::Task;

/// No plugin for a task.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RouteError {
    /// The task (or `--plugin`) names a plugin that is not loaded.
    #[error("no plugin named `{name}` is loaded (loaded: {loaded})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that are loaded.
        loaded: String,
    },
    /// Nothing claims the task.
    #[error("no plugin claims {url} (content type {content_type}); name one in the task (\"plugin\": \"NAME\") or set a default with --plugin NAME")]
    NoMatch {
        /// The task URL.
        url: String,
        /// The content type, or `unknown`.
        content_type: String,
    },
}

/// Routes tasks over the current registry. The registry can be swapped
/// while jobs run (hot reload): each routing decision reads the current one,
/// and a job keeps the plugin it was routed to until it ends.
#[derive(Debug, Clone)]
pub struct Router {
    registry: Arc<ArcSwap<Registry>>,
    default: Option<String>,
}

impl Router {
    /// A router; `default` is the `--plugin` fallback, which must be loaded.
    pub fn new(
        registry: Arc<ArcSwap<Registry>>,
        default: Option<String>,
    ) -> Result<Self, RouteError> {
        let router = Router { registry, default };
        if let Some(name) = &router.default {
            router.named(&router.registry.load(), name)?;
        }
        Ok(router)
    }

    /// The registry routed over (swap it to reload).
    pub fn registry(&self) -> &Arc<ArcSwap<Registry>> {
        &self.registry
    }

    fn named(&self, registry: &Registry, name: &str) -> Result<Arc<Plugin>, RouteError> {
        registry
            .get(name)
            .cloned()
            .ok_or_else(|| RouteError::Unknown {
                name: name.to_owned(),
                loaded: match registry.names() {
                    names if names.is_empty() => "none".to_owned(),
                    names => names.join(", "),
                },
            })
    }

    /// The route known before fetching: by name, then by URL pattern.
    /// `Ok(None)` means the content type decides ([`Router::after_fetch`]).
    pub fn before_fetch(&self, task: &Task) -> Result<Option<Arc<Plugin>>, RouteError> {
        let registry = self.registry.load();
        if let Some(name) = &task.plugin {
            return self.named(&registry, name).map(Some);
        }
        Ok(registry
            .plugins()
            .iter()
            .find(|plugin| {
                plugin
                    .info()
                    .url_patterns
                    .iter()
                    .any(|pattern| glob_match(pattern, &task.url))
            })
            .cloned())
    }

    /// The route by content type, then the default.
    pub fn after_fetch(
        &self,
        task: &Task,
        content_type: Option<&str>,
    ) -> Result<Arc<Plugin>, RouteError> {
        let registry = self.registry.load();
        if let Some(content_type) = content_type {
            let found = registry.plugins().iter().find(|plugin| {
                plugin
                    .info()
                    .content_types
                    .iter()
                    .any(|pattern| media_type_match(pattern, content_type))
            });
            if let Some(plugin) = found {
                return Ok(plugin.clone());
            }
        }
        match &self.default {
            Some(name) => self.named(&registry, name),
            None => Err(RouteError::NoMatch {
                url: task.url.clone(),
                content_type: content_type.unwrap_or("unknown").to_owned(),
            }),
        }
    }
}

/// `*` matches any run of characters (including none); everything else
/// matches itself. Iterative, with one backtrack point: linear in practice.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// `text/html` matches `text/html; charset=utf-8`; `text/*` and `*/*` match
/// families. Case-insensitive, parameters ignored.
pub fn media_type_match(pattern: &str, content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let pattern = pattern.trim().to_ascii_lowercase();
    if pattern == "*/*" || pattern == essence {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(family) => essence
            .split_once('/')
            .is_some_and(|(kind, _)| kind == family),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*/tracks/*", "https://api.x/tracks/1"));
        assert!(glob_match("https://a.com/*", "https://a.com/"));
        assert!(!glob_match("https://a.com/*", "https://b.com/x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn media_types() {
        assert!(media_type_match("text/html", "text/html; charset=utf-8"));
        assert!(media_type_match("TEXT/*", "text/plain"));
        assert!(media_type_match("*/*", "application/json"));
        assert!(!media_type_match("text/*", "application/json"));
        assert!(!media_type_match("application/json", "application/jsonx"));
    }
}

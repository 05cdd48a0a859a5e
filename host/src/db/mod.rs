//! The database sink: records go into the user's own tables in PostgreSQL,
//! MySQL/MariaDB or SQLite, batched, idempotently, and a job is
//! acknowledged only after the transaction holding its rows committed.
//!
//! - `url.rs`: which database a `--output` URL names, and its redaction.
//! - `schema.rs`: the tables records may go to (columns, primary key).
//! - `ops.rs`: a job's records become row operations (upsert or delete),
//!   checked against the table before anything is sent.
//! - `sql.rs`: the statements of a batch, per database.
//! - `writer.rs`: the one task that commits batches, waits out outages and
//!   sets aside the job whose rows the database refuses.
//!
//! How a record names its table and operation: media-type parameters of
//! its content type, `application/json; table=NAME` and `op=delete` (the
//! record then holds the key columns of the row to delete). A record that
//! names no table goes to its plugin's table (`--sink-table PLUGIN=TABLE`),
//! else to the table for every plugin (`--sink-table TABLE`); with no
//! `--sink-table` at all, every record goes to the raw table
//! `jobhost_records` that jobhost creates itself. A plugin may write only
//! the tables the operator allowed it.
//!
//! The contract with the commit pipeline (`commit.rs`): [`DbSink::prepare`]
//! turns a job's records into operations or says why it cannot (a
//! permanent failure of that job); [`DbSink::submit`] hands them to the
//! writer and answers once they are committed, or refused by the database
//! (the job's own fault), never before.

mod ops;
mod schema;
mod sql;
mod url;
mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub use self::ops::Op;
use self::schema::Table;
pub use self::url::{redact, Dialect};
use self::writer::{Pool, Submission};
use crate::record::Record;
use crate::task::Task;

/// The name of the table jobhost creates for records that name no table.
pub const RAW_TABLE: &str = "jobhost_records";

/// Which tables a plugin writes: `--sink-table [PLUGIN=]TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRule {
    /// The plugin, or every plugin.
    pub plugin: Option<String>,
    /// The table (`name` or `schema.name`).
    pub table: String,
}

impl TableRule {
    /// Parse `PLUGIN=TABLE` or `TABLE`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (plugin, table) = match text.split_once('=') {
            Some((plugin, table)) => (Some(plugin.trim().to_owned()), table.trim()),
            None => (None, text.trim()),
        };
        if let Some(plugin) = &plugin {
            if !crate::task::valid_plugin_name(plugin) {
                return Err(format!("`{plugin}` is not a plugin name (in `{text}`)"));
            }
        }
        schema::check_table_name(table)?;
        Ok(TableRule {
            plugin,
            table: table.to_owned(),
        })
    }
}

/// Settings of the database sink.
#[derive(Clone, PartialEq)]
pub struct DbOptions {
    /// `postgres://…`, `mysql://…`, `mariadb://…` or `sqlite:PATH`
    /// (may carry a password: never printed).
    pub url: String,
    /// Which plugin writes which tables; the first rule for a plugin (else
    /// the first without a plugin) is where its records go by default.
    pub tables: Vec<TableRule>,
    /// A column that orders updates: a row is never overwritten (or
    /// deleted) by a record with a smaller value in it.
    pub version_column: Option<String>,
    /// Deletes set this (timestamp) column to the current time instead of
    /// removing the row; an upsert clears it.
    pub soft_delete: Option<String>,
    /// Most rows in one transaction.
    pub batch_rows: usize,
    /// How long the writer waits for more rows before it commits a batch
    /// that is not full.
    pub batch_wait: Duration,
}

impl std::fmt::Debug for DbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbOptions")
            .field("url", &redact(&self.url))
            .field("tables", &self.tables)
            .field("version_column", &self.version_column)
            .field("soft_delete", &self.soft_delete)
            .field("batch_rows", &self.batch_rows)
            .field("batch_wait", &self.batch_wait)
            .finish()
    }
}

impl DbOptions {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            tables: Vec::new(),
            version_column: None,
            soft_delete: None,
            batch_rows: 1000,
            batch_wait: Duration::from_millis(2),
        }
    }
}

/// The database cannot be used (at start: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A bad URL or option.
    #[error("{0}")]
    Config(String),
    /// The server is unreachable or refused us.
    #[error("cannot connect to the database at {url}: {message}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// What failed.
        message: String,
    },
    /// A table that is not usable as configured.
    #[error("{0}")]
    Table(String),
}

/// Where records go, per plugin.
#[derive(Debug, Default)]
struct Routes {
    /// Tables by name.
    tables: HashMap<String, Arc<Table>>,
    /// A plugin's default table.
    default_for: HashMap<String, String>,
    /// The default table of every plugin without one of its own.
    default_all: Option<String>,
    /// Tables a plugin may name.
    allowed_for: HashMap<String, HashSet<String>>,
    /// Tables every plugin may name.
    allowed_all: HashSet<String>,
    /// The raw table, when no table is configured.
    raw: Option<Arc<Table>>,
}

/// The sink that writes records into a database.
pub struct DbSink {
    dialect: Dialect,
    routes: Routes,
    submit: tokio::sync::mpsc::Sender<Submission>,
    url: String,
}

impl std::fmt::Debug for DbSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSink")
            .field("url", &self.url)
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

impl DbSink {
    /// Connect, check every configured table (or create the raw table if
    /// none is), and start the writer on the current runtime.
    pub async fn connect(options: DbOptions) -> Result<Self, DbError> {
        let dialect = Dialect::of(&options.url)?;
        let redacted = redact(&options.url);
        let pool = Pool::connect(dialect, &options.url)
            .await
            .map_err(|error| DbError::Connect {
                url: redacted.clone(),
                message: writer::describe(&error),
            })?;
        let mut routes = Routes::default();
        for rule in &options.tables {
            if !routes.tables.contains_key(&rule.table) {
                let table =
                    pool.table(&rule.table, &options)
                        .await
                        .map_err(|error| match error {
                            schema::SchemaError::Table(message) => DbError::Table(message),
                            schema::SchemaError::Sql(error) => DbError::Connect {
                                url: redacted.clone(),
                                message: writer::describe(&error),
                            },
                        })?;
                routes.tables.insert(rule.table.clone(), Arc::new(table));
            }
            match &rule.plugin {
                Some(plugin) => {
                    routes
                        .default_for
                        .entry(plugin.clone())
                        .or_insert_with(|| rule.table.clone());
                    routes
                        .allowed_for
                        .entry(plugin.clone())
                        .or_default()
                        .insert(rule.table.clone());
                }
                None => {
                    routes.default_all.get_or_insert_with(|| rule.table.clone());
                    routes.allowed_all.insert(rule.table.clone());
                }
            }
        }
        if options.tables.is_empty() {
            // Hosts starting together race to create it, and PostgreSQL's
            // CREATE TABLE IF NOT EXISTS is not atomic: the loser's next
            // try finds the table.
            let mut tries = 0;
            let table = loop {
                match pool.raw_table().await {
                    Ok(table) => break table,
                    Err(_) if tries < 3 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                    }
                    Err(error) => {
                        return Err(DbError::Connect {
                            url: redacted.clone(),
                            message: format!(
                                "creating the table {RAW_TABLE} failed: {}",
                                writer::describe(&error)
                            ),
                        })
                    }
                }
            };
            routes.raw = Some(Arc::new(table));
        }
        let (submit, receive) = tokio::sync::mpsc::channel(options.batch_rows.max(1) * 4);
        tokio::spawn(writer::Writer::new(pool, &options, redacted.clone()).run(receive));
        Ok(DbSink {
            dialect,
            routes,
            submit,
            url: redacted,
        })
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The rows `records` of a job of `task` handled by `plugin` become,
    /// or why they cannot (the message names the record, the field and
    /// the table, and what to do): a permanent failure of the job.
    pub fn prepare(
        &self,
        task: &Task,
        plugin: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Op>, String> {
        let mut rows = Vec::with_capacity(records.len());
        for (index, record) in records.into_iter().enumerate() {
            let meta = ops::Meta::parse(&record.content_type)
                .map_err(|message| format!("record {index}: {message}"))?;
            let table = match &meta.table {
                Some(name) => self.allowed(plugin, name).ok_or_else(|| {
                    format!(
                        "record {index} names table `{name}`, which plugin {plugin} may not write: allow it with --sink-table {plugin}={name}"
                    )
                })?,
                None => match self.default_table(plugin) {
                    Some(table) => table,
                    None => {
                        // No table for this plugin: the raw table.
                        let raw = self.routes.raw.as_ref().ok_or_else(|| {
                            format!("plugin {plugin} has no table: name one with --sink-table {plugin}=TABLE (or --sink-table TABLE for every plugin)")
                        })?;
                        rows.push(ops::raw(raw, task, plugin, index, record, meta.delete)?);
                        continue;
                    }
                },
            };
            rows.push(ops::typed(table, index, record, meta.delete)?);
        }
        Ok(rows)
    }

    fn allowed(&self, plugin: &str, name: &str) -> Option<&Arc<Table>> {
        let allowed = self.routes.allowed_all.contains(name)
            || self
                .routes
                .allowed_for
                .get(plugin)
                .is_some_and(|tables| tables.contains(name));
        allowed.then(|| self.routes.tables.get(name)).flatten()
    }

    fn default_table(&self, plugin: &str) -> Option<&Arc<Table>> {
        let name = self
            .routes
            .default_for
            .get(plugin)
            .or(self.routes.default_all.as_ref())?;
        self.routes.tables.get(name)
    }

    /// Hand a job's rows to the writer. The answer comes once they are
    /// committed (`Ok`), or when the database refused them (`Err`, with its
    /// message: the job's own fault, e.g. a constraint or a type). While
    /// the database is unreachable the writer waits and retries, so the
    /// answer waits too.
    pub async fn submit(&self, ops: Vec<Op>) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if ops.is_empty() {
            let _ = reply.send(Ok(()));
            return answer;
        }
        // A closed writer drops `reply`: the receiver then reports it.
        let _ = self.submit.send(Submission { ops, reply }).await;
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rules_and_options_keep_the_password_out_of_debug() {
        assert_eq!(
            TableRule::parse("music-sync=tracks"),
            Ok(TableRule {
                plugin: Some("music-sync".into()),
                table: "tracks".into()
            })
        );
        assert_eq!(
            TableRule::parse("music.tracks"),
            Ok(TableRule {
                plugin: None,
                table: "music.tracks".into()
            })
        );
        assert!(TableRule::parse("Bad Name=tracks").is_err());
        assert!(TableRule::parse("p=tracks;drop").is_err());
        let options = DbOptions::new("postgres://app:s3cret@db/music");
        let shown = format!("{options:?}");
        assert!(shown.contains("app:***@db"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

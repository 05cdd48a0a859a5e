//! The writer: one task that takes the rows of many jobs, commits them in
//! one transaction, and answers each job.
//!
//! - A batch closes at `batch_rows` rows, or `batch_wait` after its first
//!   job, or at once when the writer is behind (the jobs that arrived while
//!   the last transaction ran make the next batch).
//! - One writer per host, so batches commit in the order jobs handed
//!   their rows in: an update that was acknowledged is never overwritten
//!   by an older one of this host.
//! - A connection failure, a restart of the server, a deadlock: the batch
//!   is retried whole, with backoff, for as long as it takes, and nobody is
//!   answered meanwhile (so no job is acknowledged). Retrying a batch that
//!   may have committed is safe: every statement is an idempotent upsert or
//!   delete.
//! - The database refused a row (a constraint, a type): the batch is
//!   applied again job by job, each in a savepoint, so that the job at
//!   fault gets the database's message and the others commit.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Executor as _, MySql, Postgres, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::ops::Op;
use super::schema::{self, SchemaError, Table};
use super::sql::{self, Param, Statement};
use super::{DbOptions, Dialect};

/// One job's rows, and where to answer.
pub struct Submission {
    /// The rows.
    pub ops: Vec<Op>,
    /// `Ok` once committed; `Err` with the database's message if it
    /// refused them.
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// A connection pool to one of the databases.
pub enum Pool {
    /// PostgreSQL.
    Pg(PgPool),
    /// MySQL or MariaDB.
    My(MySqlPool),
    /// SQLite.
    Lite(SqlitePool),
}

/// A transaction on one of the databases.
enum Tx {
    Pg(sqlx::Transaction<'static, Postgres>),
    My(sqlx::Transaction<'static, MySql>),
    Lite(sqlx::Transaction<'static, Sqlite>),
}

/// How long a new connection may take before the server counts as
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

macro_rules! execute {
    ($conn:expr, $statement:expr) => {{
        let statement: &Statement = $statement;
        let mut query = sqlx::query(&statement.sql);
        for param in &statement.params {
            query = match param {
                Param::Null => query.bind(None::<String>),
                Param::Bool(b) => query.bind(*b),
                Param::Int(i) => query.bind(*i),
                Param::Float(f) => query.bind(*f),
                Param::Text(t) => query.bind(t.as_str()),
            };
        }
        query.execute($conn).await.map(|_| ())
    }};
}

macro_rules! names {
    ($pool:expr, $query:expr, $first:expr, $second:expr) => {{
        let rows: Vec<(String,)> = sqlx::query_as($query)
            .bind($first)
            .bind($second)
            .fetch_all($pool)
            .await?;
        rows.into_iter()
            .map(|(name,)| name)
            .collect::<Vec<String>>()
    }};
}

impl Pool {
    /// Connect to `url` (one connection is made now, so an unreachable
    /// server is an error here).
    pub async fn connect(dialect: Dialect, url: &str) -> Result<Pool, sqlx::Error> {
        Ok(match dialect {
            Dialect::Postgres => Pool::Pg(
                PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(PgConnectOptions::from_str(url)?)
                    .await?,
            ),
            Dialect::MySql => {
                let url = match url.get(..10) {
                    Some(scheme) if scheme.eq_ignore_ascii_case("mariadb://") => {
                        format!("mysql://{}", &url[10..])
                    }
                    _ => url.to_owned(),
                };
                Pool::My(
                    MySqlPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(MySqlConnectOptions::from_str(&url)?)
                        .await?,
                )
            }
            Dialect::Sqlite => Pool::Lite(
                SqlitePoolOptions::new()
                    // One writer: SQLite takes one at a time anyway.
                    .max_connections(1)
                    .acquire_timeout(CONNECT_TIMEOUT)
                    .connect_with(
                        SqliteConnectOptions::from_str(url)?
                            .create_if_missing(true)
                            .journal_mode(SqliteJournalMode::Wal),
                    )
                    .await?,
            ),
        })
    }

    fn dialect(&self) -> Dialect {
        match self {
            Pool::Pg(_) => Dialect::Postgres,
            Pool::My(_) => Dialect::MySql,
            Pool::Lite(_) => Dialect::Sqlite,
        }
    }

    /// The table `name`, read from the database and checked.
    pub async fn table(&self, name: &str, options: &DbOptions) -> Result<Table, SchemaError> {
        let dialect = self.dialect();
        let (columns_sql, key_sql) = schema::introspection(dialect);
        let (schema_name, bare) = match name.split_once('.') {
            Some((schema_name, bare)) => (Some(schema_name.to_owned()), bare.to_owned()),
            None => (None, name.to_owned()),
        };
        let (columns, key) = match self {
            Pool::Pg(pool) => {
                let quoted = schema::quote_table(dialect, name);
                let columns: Vec<(String,)> = sqlx::query_as(columns_sql)
                    .bind(&quoted)
                    .fetch_all(pool)
                    .await?;
                let key: Vec<(String,)> = sqlx::query_as(key_sql)
                    .bind(&quoted)
                    .fetch_all(pool)
                    .await?;
                (
                    columns.into_iter().map(|(c,)| c).collect(),
                    key.into_iter().map(|(c,)| c).collect(),
                )
            }
            Pool::My(pool) => (
                names!(pool, columns_sql, &schema_name, &bare),
                names!(pool, key_sql, &schema_name, &bare),
            ),
            Pool::Lite(pool) => (
                names!(pool, columns_sql, &schema_name, &bare),
                names!(pool, key_sql, &schema_name, &bare),
            ),
        };
        schema::table(dialect, name, columns, key, options)
    }

    /// Create the raw table if absent, and describe it.
    pub async fn raw_table(&self) -> Result<Table, sqlx::Error> {
        let ddl = schema::raw_ddl(self.dialect());
        match self {
            Pool::Pg(pool) => sqlx::raw_sql(&ddl).execute(pool).await.map(|_| ())?,
            Pool::My(pool) => sqlx::raw_sql(&ddl).execute(pool).await.map(|_| ())?,
            Pool::Lite(pool) => sqlx::raw_sql(&ddl).execute(pool).await.map(|_| ())?,
        }
        Ok(schema::raw_table(self.dialect()))
    }

    fn begin(&self) -> Boxed<'_, Result<Tx, sqlx::Error>> {
        match self {
            Pool::Pg(pool) => {
                let begun = pool.begin();
                Box::pin(async move { begun.await.map(Tx::Pg) })
            }
            Pool::My(pool) => {
                let begun = pool.begin();
                Box::pin(async move { begun.await.map(Tx::My) })
            }
            Pool::Lite(pool) => {
                let begun = pool.begin();
                Box::pin(async move { begun.await.map(Tx::Lite) })
            }
        }
    }
}

/// A boxed, `Send` future: the drivers' executors are generic over a
/// lifetime that the compiler cannot prove `Send` for every lifetime when
/// the writer task is spawned, unless the future's type is erased here.
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl Tx {
    fn execute<'a>(&'a mut self, statement: &'a Statement) -> Boxed<'a, Result<(), sqlx::Error>> {
        match self {
            Tx::Pg(tx) => Box::pin(async move { execute!(&mut **tx, statement) }),
            Tx::My(tx) => Box::pin(async move { execute!(&mut **tx, statement) }),
            Tx::Lite(tx) => Box::pin(async move { execute!(&mut **tx, statement) }),
        }
    }

    fn raw<'a>(&'a mut self, sql: &'a str) -> Boxed<'a, Result<(), sqlx::Error>> {
        match self {
            Tx::Pg(tx) => Box::pin(async move { (&mut **tx).execute(sql).await.map(|_| ()) }),
            Tx::My(tx) => Box::pin(async move { (&mut **tx).execute(sql).await.map(|_| ()) }),
            Tx::Lite(tx) => Box::pin(async move { (&mut **tx).execute(sql).await.map(|_| ()) }),
        }
    }

    fn commit(self) -> Boxed<'static, Result<(), sqlx::Error>> {
        match self {
            Tx::Pg(tx) => Box::pin(tx.commit()),
            Tx::My(tx) => Box::pin(tx.commit()),
            Tx::Lite(tx) => Box::pin(tx.commit()),
        }
    }
}

/// Whether the database refused the rows themselves (a constraint, a
/// type, a value out of range): retrying the same rows cannot help. Every
/// other error (the connection, a restart, a deadlock, a full disk) is
/// waited out.
fn is_refusal(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    let code = error.code();
    let code = code.as_deref().unwrap_or("");
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // SQLite's (extended) result codes: BUSY and LOCKED pass.
        let primary = code.parse::<u32>().unwrap_or(0) & 0xff;
        return !matches!(primary, 5 | 6 | 10 | 13);
    }
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // Lock wait timeout, deadlock, too many connections, shutdown,
        // connection killed: everything else is about the rows.
        return !matches!(mysql.number(), 1205 | 1213 | 1040 | 1053 | 1927 | 3024);
    }
    // SQLSTATE classes: connection, transaction rollback (deadlock,
    // serialization), resources, operator intervention (shutdown), system.
    !matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58" | "XX"))
}

/// An error as one line: the database's own message and code, or what
/// failed on the way.
pub fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (code {code})", db.message()),
            None => db.message().to_owned(),
        },
        sqlx::Error::PoolTimedOut => {
            "no connection within the time allowed (is the server running and reachable?)".into()
        }
        other => other.to_string(),
    }
}

/// The writer task's state.
pub struct Writer {
    pool: Pool,
    batch_rows: usize,
    batch_wait: Duration,
    url: String,
}

impl Writer {
    /// A writer to `pool` (`url`: redacted, for messages).
    pub fn new(pool: Pool, options: &DbOptions, url: String) -> Self {
        Writer {
            pool,
            batch_rows: options.batch_rows.max(1),
            batch_wait: options.batch_wait,
            url,
        }
    }

    /// Commit batches until every sender is gone.
    pub async fn run(self, mut receive: mpsc::Receiver<Submission>) {
        let mut batch: Vec<Submission> = Vec::new();
        while let Some(first) = receive.recv().await {
            let mut rows = first.ops.len();
            batch.push(first);
            let deadline = tokio::time::Instant::now() + self.batch_wait;
            while rows < self.batch_rows {
                let next = match receive.try_recv() {
                    Ok(next) => Some(next),
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                    Err(mpsc::error::TryRecvError::Empty) if self.batch_wait.is_zero() => None,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        tokio::time::timeout_at(deadline, receive.recv())
                            .await
                            .ok()
                            .flatten()
                    }
                };
                let Some(next) = next else {
                    break;
                };
                rows += next.ops.len();
                batch.push(next);
            }
            let results = self.commit(&batch).await;
            for (submission, result) in batch.drain(..).zip(results) {
                let _ = submission.reply.send(result);
            }
        }
    }

    /// Commit `batch`, waiting out outages; one answer per job.
    async fn commit(&self, batch: &[Submission]) -> Vec<Result<(), String>> {
        let mut delay = Duration::from_millis(100);
        let mut failing = false;
        loop {
            let error = match self.all_at_once(batch).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("database at {} is back: batch committed", self.url);
                    }
                    return vec![Ok(()); batch.len()];
                }
                Err(error) if is_refusal(&error) => match self.one_by_one(batch).await {
                    Ok(results) => return results,
                    Err(error) => error,
                },
                Err(error) => error,
            };
            tracing::warn!(
                "database at {}: {}; retrying a batch of {} jobs in {delay:?} (none is acknowledged until it commits)",
                self.url,
                describe(&error),
                batch.len()
            );
            failing = true;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn all_at_once(&self, batch: &[Submission]) -> Result<(), sqlx::Error> {
        let dialect = self.pool.dialect();
        let statements = sql::statements(dialect, batch.iter().flat_map(|s| s.ops.iter()));
        let mut tx = self.pool.begin().await?;
        for statement in &statements {
            tx.execute(statement).await?;
        }
        tx.commit().await
    }

    /// Each job in a savepoint of one transaction: a job whose rows the
    /// database refuses is rolled back alone and told why.
    async fn one_by_one(
        &self,
        batch: &[Submission],
    ) -> Result<Vec<Result<(), String>>, sqlx::Error> {
        let dialect = self.pool.dialect();
        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        for submission in batch {
            tx.raw("SAVEPOINT jobhost_job").await?;
            let mut refused = None;
            for statement in sql::statements(dialect, &submission.ops) {
                if let Err(error) = tx.execute(&statement).await {
                    if !is_refusal(&error) {
                        return Err(error);
                    }
                    refused = Some(format!(
                        "the database refused the job's rows for table `{}`: {}",
                        statement.table,
                        describe(&error)
                    ));
                    break;
                }
            }
            match refused {
                Some(message) => {
                    tx.raw("ROLLBACK TO SAVEPOINT jobhost_job").await?;
                    results.push(Err(message));
                }
                None => {
                    tx.raw("RELEASE SAVEPOINT jobhost_job").await?;
                    results.push(Ok(()));
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }
}

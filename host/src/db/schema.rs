//! The tables records go to: their columns and primary key, read from the
//! database at start (so a misconfigured table stops the host before it
//! takes a job), and the raw table jobhost creates itself.

use std::collections::HashMap;

use super::{DbOptions, Dialect, RAW_TABLE};

/// A table rows are written to.
#[derive(Debug)]
pub struct Table {
    /// The name as configured (and as records name it).
    pub name: String,
    /// The name quoted for SQL.
    pub quoted: String,
    /// Its columns, in table order.
    pub columns: Vec<String>,
    /// Each column's position in `columns`.
    pub index: HashMap<String, usize>,
    /// The primary key's columns, in key order.
    pub key: Vec<String>,
    /// jobhost's own table: the record is one JSON column, and
    /// `updated_at` is set by the database when the record changes.
    pub raw: bool,
    /// The column that orders updates, if configured.
    pub version: Option<String>,
    /// The column deletes set instead of removing the row, if configured.
    pub soft_delete: Option<String>,
}

/// Why a table cannot be used.
#[derive(Debug)]
pub enum SchemaError {
    /// The table itself (missing, no primary key, a missing column).
    Table(String),
    /// The database failed.
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for SchemaError {
    fn from(error: sqlx::Error) -> Self {
        SchemaError::Sql(error)
    }
}

/// A table name is `name` or `schema.name`, each an SQL identifier of
/// letters, digits and `_` (not starting with a digit): names come from
/// the command line and from plugins' records, and are quoted into SQL.
pub fn check_table_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.split('.').count() <= 2
        && name.split('.').all(|part| {
            part.len() <= 63
                && part
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a table name: use letters, digits and _, as NAME or SCHEMA.NAME"
        ))
    }
}

/// `ident` quoted for `dialect` (a quote inside is doubled).
pub fn quote(dialect: Dialect, ident: &str) -> String {
    match dialect {
        Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
        Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

/// A checked table name quoted part by part.
pub fn quote_table(dialect: Dialect, name: &str) -> String {
    name.split('.')
        .map(|part| quote(dialect, part))
        .collect::<Vec<_>>()
        .join(".")
}

/// The table `name` with `columns` and `key` as read from the database,
/// checked against the options.
pub fn table(
    dialect: Dialect,
    name: &str,
    columns: Vec<String>,
    key: Vec<String>,
    options: &DbOptions,
) -> Result<Table, SchemaError> {
    if columns.is_empty() {
        return Err(SchemaError::Table(format!(
            "table `{name}` does not exist in {}: create it, or leave --sink-table out and jobhost writes its own table {RAW_TABLE}",
            super::redact(&options.url)
        )));
    }
    if key.is_empty() {
        return Err(SchemaError::Table(format!(
            "table `{name}` has no primary key: jobhost inserts or updates rows on it; add one (ALTER TABLE {name} ADD PRIMARY KEY (…))"
        )));
    }
    let index = positions(&columns);
    for (flag, column) in [
        ("--sink-version-column", &options.version_column),
        ("--sink-soft-delete", &options.soft_delete),
    ] {
        if let Some(column) = column {
            if !index.contains_key(column) {
                return Err(SchemaError::Table(format!(
                    "table `{name}` has no column `{column}` ({flag}): add it, or leave {flag} out"
                )));
            }
        }
    }
    Ok(Table {
        name: name.to_owned(),
        quoted: quote_table(dialect, name),
        columns,
        index,
        key,
        raw: false,
        version: options.version_column.clone(),
        soft_delete: options.soft_delete.clone(),
    })
}

fn positions(columns: &[String]) -> HashMap<String, usize> {
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| (column.clone(), i))
        .collect()
}

/// The raw table's statement, created if absent.
pub fn raw_ddl(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {RAW_TABLE} (plugin text NOT NULL, key text NOT NULL, \
             record jsonb NOT NULL, task_id text NOT NULL, \
             updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (plugin, key))"
        ),
        // 128 + 600 characters of utf8mb4 stay within InnoDB's 3072-byte key.
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {RAW_TABLE} (plugin VARCHAR(128) NOT NULL, \
             `key` VARCHAR(600) NOT NULL, record JSON NOT NULL, task_id VARCHAR(255) NOT NULL, \
             updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
             PRIMARY KEY (plugin, `key`)) CHARACTER SET utf8mb4"
        ),
        Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {RAW_TABLE} (plugin TEXT NOT NULL, key TEXT NOT NULL, \
             record TEXT NOT NULL, task_id TEXT NOT NULL, \
             updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), \
             PRIMARY KEY (plugin, key))"
        ),
    }
}

/// The raw table's description.
pub fn raw_table(dialect: Dialect) -> Table {
    let columns: Vec<String> = ["plugin", "key", "record", "task_id", "updated_at"]
        .map(str::to_owned)
        .to_vec();
    Table {
        name: RAW_TABLE.to_owned(),
        quoted: quote_table(dialect, RAW_TABLE),
        index: positions(&columns),
        columns,
        key: vec!["plugin".to_owned(), "key".to_owned()],
        raw: true,
        version: None,
        soft_delete: None,
    }
}

/// The queries that read a table's columns and primary key: `(columns,
/// key)`, each taking the table's name (Postgres: the quoted name; the
/// others: schema, or NULL, and name).
pub fn introspection(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Postgres => (
            "SELECT a.attname::text FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
        ),
        Dialect::MySql => (
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
             AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
        ),
        Dialect::Sqlite => (
            "SELECT name FROM pragma_table_info(?2, COALESCE(?1, 'main')) ORDER BY cid",
            "SELECT name FROM pragma_table_info(?2, COALESCE(?1, 'main')) WHERE pk > 0 ORDER BY pk",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        for good in ["tracks", "music.tracks", "_t1", "Tracks_2024"] {
            assert!(check_table_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a.b.c",
            "1tracks",
            "tracks; DROP TABLE x",
            "t\"x",
            "t-x",
            ".t",
        ] {
            let error = check_table_name(bad).expect_err(bad);
            assert!(error.contains("is not a table name"), "{error}");
        }
        assert_eq!(quote_table(Dialect::Postgres, "m.t"), "\"m\".\"t\"");
        assert_eq!(quote_table(Dialect::MySql, "t"), "`t`");
    }
}

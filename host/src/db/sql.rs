//! The statements of a batch, per database.
//!
//! A batch's operations apply as if one by one, in order: they are cut
//! into segments in which each row (table and key) appears once, and each
//! segment becomes one statement per table, operation and set of fields.
//! A repeated key starts a new segment, so two updates of one row apply in
//! order and the last wins.
//!
//! An upsert writes only the columns its record has (a column it lacks
//! keeps its value, or takes its default on insert), and only when a value
//! differs from the stored row: an unchanged row is not rewritten (no new
//! tuple in PostgreSQL, no changed row in MySQL). With a version column,
//! a row is never overwritten or deleted by an operation with a smaller
//! version. PostgreSQL gets a batch's rows as one JSON parameter that it
//! converts to the table's own column types (`jsonb_populate_recordset`);
//! MySQL and SQLite get bound values, many rows per statement.

use std::collections::{HashMap, HashSet};

use std::fmt::Write as _;

use serde_json::Value;

use super::ops::Op;
use super::schema::{quote, Table};
use super::Dialect;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (also a JSON object or array, as its JSON text).
    Text(String),
}

impl From<&Value> for Param {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Param::Null,
            Value::Bool(b) => Param::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Param::Int(i),
                // Beyond i64: the digits, for the database to convert.
                (None, _) if n.is_u64() => Param::Text(n.to_string()),
                (None, Some(f)) => Param::Float(f),
                (None, None) => Param::Text(n.to_string()),
            },
            Value::String(s) => Param::Text(s.clone()),
            other => Param::Text(other.to_string()),
        }
    }
}

/// One statement of a batch.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// The table it writes (for messages).
    pub table: String,
}

/// Most bound values in one MySQL or SQLite statement (both allow more
/// than 32,000).
const MAX_PARAMS: usize = 30_000;

/// The statements that apply `ops`, in order.
pub fn statements<'a>(dialect: Dialect, ops: impl IntoIterator<Item = &'a Op>) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut segment: Vec<&Op> = Vec::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for op in ops {
        if !seen.insert((op.table.name.as_str(), op.key.as_str())) {
            segment_statements(dialect, &segment, &mut out);
            segment.clear();
            seen.clear();
            seen.insert((op.table.name.as_str(), op.key.as_str()));
        }
        segment.push(op);
    }
    segment_statements(dialect, &segment, &mut out);
    out
}

/// Group a segment's operations by table, operation and fields (in the
/// order each group first appears) and write each group's statements.
fn segment_statements(dialect: Dialect, segment: &[&Op], out: &mut Vec<Statement>) {
    let mut groups: Vec<Vec<&Op>> = Vec::new();
    let mut index: HashMap<(&str, bool, &[u64]), usize> = HashMap::new();
    for op in segment {
        let id = (op.table.name.as_str(), op.delete, op.fields.as_slice());
        match index.get(&id) {
            Some(&i) => groups[i].push(op),
            None => {
                index.insert(id, groups.len());
                groups.push(vec![op]);
            }
        }
    }
    for ops in groups {
        let table = &ops[0].table;
        let bits = &ops[0].fields;
        // Columns in table order, for readable SQL.
        let columns: Vec<&str> = table
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                bits.get(i / 64)
                    .is_some_and(|word| word & (1 << (i % 64)) != 0)
            })
            .map(|(_, column)| column.as_str())
            .collect();
        let delete = ops[0].delete;
        match dialect {
            Dialect::Postgres => out.push(postgres(table, &columns, delete, &ops)),
            Dialect::MySql | Dialect::Sqlite => {
                let per_row = columns.len().max(1);
                for chunk in ops.chunks((MAX_PARAMS / per_row).max(1)) {
                    out.push(bound(dialect, table, &columns, delete, chunk));
                }
            }
        }
    }
}

fn q(dialect: Dialect, ident: &str) -> String {
    quote(dialect, ident)
}

/// `names` quoted and separated by commas: a column list.
fn quoted_list<'a>(dialect: Dialect, names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| q(dialect, name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL: the rows as one JSON array, converted by the database.
fn postgres(table: &Table, columns: &[&str], delete: bool, ops: &[&Op]) -> Statement {
    let d = Dialect::Postgres;
    let t = &table.quoted;
    let mut json = String::with_capacity(ops.iter().map(|op| op.json.len() + 1).sum::<usize>() + 2);
    json.push('[');
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&op.json);
    }
    json.push(']');
    // `json`, not `jsonb`: the text is parsed once, straight into the
    // table's row type.
    let source = format!("json_populate_recordset(NULL::{t}, $1::json)");
    let key_match = table
        .key
        .iter()
        .map(|k| format!("t0.{0} = d.{0}", q(d, k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let version = table
        .version
        .as_deref()
        .filter(|v| columns.contains(v))
        .map(|v| q(d, v));
    let sql = if delete {
        let older = version
            .as_ref()
            .map(|v| format!(" AND (d.{v} IS NULL OR t0.{v} IS NULL OR t0.{v} <= d.{v})"))
            .unwrap_or_default();
        match &table.soft_delete {
            Some(soft) => {
                let s = q(d, soft);
                format!(
                    "UPDATE {t} AS t0 SET {s} = {} FROM {source} AS d WHERE {key_match} AND t0.{s} IS NULL{older}",
                    now(d)
                )
            }
            None => format!("DELETE FROM {t} AS t0 USING {source} AS d WHERE {key_match}{older}"),
        }
    } else {
        let cols = quoted_list(d, columns.iter().copied());
        let conflict = on_conflict(d, table, columns, version.as_deref());
        format!("INSERT INTO {t} AS t0 ({cols}) SELECT {cols} FROM {source} {conflict}")
    };
    Statement {
        sql,
        params: vec![Param::Text(json)],
        table: table.name.clone(),
    }
}

/// MySQL and SQLite: bound values, one row of placeholders per record.
fn bound(
    dialect: Dialect,
    table: &Table,
    columns: &[&str],
    delete: bool,
    ops: &[&Op],
) -> Statement {
    let d = dialect;
    let t = &table.quoted;
    let mut params = Vec::new();
    let version = table
        .version
        .as_deref()
        .filter(|v| columns.contains(v))
        .map(|v| q(d, v));
    let now = now(d);
    let sql = if delete {
        let mut rows = Vec::with_capacity(ops.len());
        for op in ops {
            let row = op.values();
            let mut terms = Vec::new();
            for k in &table.key {
                terms.push(format!("{} = ?", q(d, k)));
                params.push(row.get(k).map_or(Param::Null, Param::from));
            }
            if let Some(v) = &version {
                let raw = table.version.as_deref().unwrap_or_default();
                terms.push(format!("({v} IS NULL OR {v} <= ?)"));
                params.push(row.get(raw).map_or(Param::Null, Param::from));
            }
            rows.push(format!("({})", terms.join(" AND ")));
        }
        let which = rows.join(" OR ");
        match &table.soft_delete {
            Some(soft) => {
                let s = q(d, soft);
                format!("UPDATE {t} SET {s} = {now} WHERE ({which}) AND {s} IS NULL")
            }
            None => format!("DELETE FROM {t} WHERE {which}"),
        }
    } else {
        let cols = quoted_list(d, columns.iter().copied());
        let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
        let mut values = String::with_capacity(ops.len() * (placeholders.len() + 2));
        for (i, op) in ops.iter().enumerate() {
            if i > 0 {
                values.push_str(", ");
            }
            values.push_str(&placeholders);
            let row = op.values();
            for c in columns {
                params.push(row.get(*c).map_or(Param::Null, Param::from));
            }
        }
        let updated: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !table.key.iter().any(|k| k == c))
            .collect();
        match d {
            Dialect::MySql => mysql_upsert(table, &cols, &values, &updated, version.as_deref()),
            _ => {
                let conflict = on_conflict(d, table, columns, version.as_deref());
                format!("INSERT INTO {t} AS t0 ({cols}) VALUES {values} {conflict}")
            }
        }
    };
    Statement {
        sql,
        params,
        table: table.name.clone(),
    }
}

fn mysql_upsert(
    table: &Table,
    cols: &str,
    values: &str,
    updated: &[&str],
    version: Option<&str>,
) -> String {
    let d = Dialect::MySql;
    let t = &table.quoted;
    // MySQL assigns left to right, and a later expression sees the new
    // value of an earlier column: the version column is assigned last, and
    // the raw table's bookkeeping before the record it compares.
    let guard = |set: String, column: &str| match version {
        Some(v) => format!("{column} = IF({v} IS NULL OR VALUES({v}) >= {v}, {set}, {column})"),
        None => format!("{column} = {set}"),
    };
    let mut sets = Vec::new();
    if table.raw {
        sets.push("updated_at = IF(record <=> VALUES(record), updated_at, NOW(6))".to_owned());
        sets.push("task_id = IF(record <=> VALUES(record), task_id, VALUES(task_id))".to_owned());
        sets.push("record = VALUES(record)".to_owned());
    } else {
        for c in updated {
            let column = q(d, c);
            if Some(column.as_str()) == version {
                continue;
            }
            sets.push(guard(format!("VALUES({column})"), &column));
        }
        if let Some(soft) = table
            .soft_delete
            .as_deref()
            .filter(|s| !updated.contains(s))
        {
            sets.push(guard("NULL".to_owned(), &q(d, soft)));
        }
        if let Some(v) = version {
            if updated.iter().any(|c| q(d, c) == v) {
                sets.push(format!(
                    "{v} = IF({v} IS NULL OR VALUES({v}) >= {v}, VALUES({v}), {v})"
                ));
            }
        }
    }
    if sets.is_empty() {
        // Nothing to update: a no-op keeps the existing row.
        let k = q(d, &table.key[0]);
        sets.push(format!("{k} = {k}"));
    }
    format!(
        "INSERT INTO {t} ({cols}) VALUES {values} ON DUPLICATE KEY UPDATE {}",
        sets.join(", ")
    )
}

/// PostgreSQL's and SQLite's `ON CONFLICT` clause: update the columns the
/// record has (the raw table: its record, and `updated_at`), clear the
/// soft-delete mark, and only where a value differs (and the version is
/// not older), so that an unchanged row is not rewritten.
fn on_conflict(d: Dialect, table: &Table, columns: &[&str], version: Option<&str>) -> String {
    let keys = quoted_list(d, table.key.iter().map(String::as_str));
    let updated: Vec<String> = columns
        .iter()
        .filter(|c| !table.key.iter().any(|k| k == *c))
        .map(|c| q(d, c))
        .collect();
    let mut sets: Vec<String> = updated
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let compared: &[String] = if table.raw {
        sets.push(format!("updated_at = {}", now(d)));
        &updated[updated
            .iter()
            .position(|c| c == &q(d, "record"))
            .map_or(0..0, |i| i..i + 1)]
    } else {
        &updated
    };
    let mut changed: Vec<String> = compared
        .iter()
        .map(|c| format!("t0.{c} IS DISTINCT FROM excluded.{c}"))
        .collect();
    if let Some(soft) = table
        .soft_delete
        .as_deref()
        .filter(|s| !columns.contains(s))
    {
        let s = q(d, soft);
        sets.push(format!("{s} = NULL"));
        changed.push(format!("t0.{s} IS NOT NULL"));
    }
    if sets.is_empty() {
        return format!("ON CONFLICT ({keys}) DO NOTHING");
    }
    let mut sql = format!(
        "ON CONFLICT ({keys}) DO UPDATE SET {} WHERE ({})",
        sets.join(", "),
        changed.join(" OR ")
    );
    if let Some(v) = version {
        let _ = write!(sql, " AND (t0.{v} IS NULL OR t0.{v} <= excluded.{v})");
    }
    sql
}

/// The current time, as the databases write it into a timestamp column.
fn now(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "now()",
        Dialect::MySql => "NOW(6)",
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::db::schema::quote_table;

    fn table(dialect: Dialect) -> Arc<Table> {
        let columns: Vec<String> = ["id", "title", "genre", "version"]
            .map(String::from)
            .to_vec();
        Arc::new(Table {
            name: "tracks".into(),
            quoted: quote_table(dialect, "tracks"),
            index: columns
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, c)| (c, i))
                .collect(),
            columns,
            key: vec!["id".into()],
            raw: false,
            version: None,
            soft_delete: None,
        })
    }

    fn op(table: &Arc<Table>, row: serde_json::Value, delete: bool) -> Op {
        let record = crate::record::Record {
            content_type: "application/json".into(),
            data: row.to_string().into_bytes(),
        };
        crate::db::ops::typed(table, 0, record, delete).expect("a good record")
    }

    #[test]
    fn a_repeated_key_starts_a_new_statement_so_updates_apply_in_order() {
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
            let t = table(dialect);
            let ops = [
                op(&t, serde_json::json!({"id": "1", "title": "a"}), false),
                op(&t, serde_json::json!({"id": "2", "title": "b"}), false),
                op(&t, serde_json::json!({"id": "1", "title": "c"}), false),
                op(&t, serde_json::json!({"id": "3"}), true),
            ];
            let statements = statements(dialect, &ops);
            // [1, 2] | [1 again, delete 3 (another group)]
            assert_eq!(statements.len(), 3, "{dialect:?}: {statements:#?}");
            assert!(statements[0].sql.starts_with("INSERT"));
            assert!(statements[1].sql.starts_with("INSERT"));
            assert!(statements[2].sql.starts_with("DELETE"));
            if dialect != Dialect::Postgres {
                assert_eq!(statements[0].params.len(), 4);
                assert_eq!(statements[1].params[1], Param::Text("c".into()));
            }
        }
    }

    #[test]
    fn records_with_other_fields_go_in_statements_of_their_own() {
        let t = table(Dialect::Sqlite);
        let ops = [
            op(&t, serde_json::json!({"id": "1", "title": "a"}), false),
            op(&t, serde_json::json!({"id": "2", "genre": "jazz"}), false),
            op(&t, serde_json::json!({"title": "b", "id": "3"}), false),
        ];
        let statements = statements(Dialect::Sqlite, &ops);
        assert_eq!(statements.len(), 2);
        assert!(statements[0].sql.contains("(\"id\", \"title\")"));
        assert_eq!(statements[0].params.len(), 4);
        // A column the record lacks is not touched.
        assert!(!statements[1].sql.contains("\"title\""));
    }

    #[test]
    fn json_values_bind_as_their_sql_kinds() {
        assert_eq!(Param::from(&serde_json::json!(7)), Param::Int(7));
        assert_eq!(Param::from(&serde_json::json!(1.5)), Param::Float(1.5));
        assert_eq!(
            Param::from(&serde_json::json!(u64::MAX)),
            Param::Text(u64::MAX.to_string())
        );
        assert_eq!(Param::from(&serde_json::json!(null)), Param::Null);
        assert_eq!(
            Param::from(&serde_json::json!({"a": [1]})),
            Param::Text("{\"a\":[1]}".into())
        );
    }
}

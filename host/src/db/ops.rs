//! A job's records as row operations: which table, upsert or delete, and
//! the row, checked against the table's columns before anything is sent,
//! so that a record the table cannot take fails its job with a message
//! that names the field, the table and what to do.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::schema::{check_table_name, Table};
use crate::record::Record;
use crate::task::Task;

/// What a record's content type asks of the sink.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// `table=NAME`.
    pub table: Option<String>,
    /// `op=delete`.
    pub delete: bool,
}

impl Meta {
    /// Read the parameters of `content_type` (`application/json;
    /// table=tracks; op=delete`); others (`charset`) are ignored.
    pub fn parse(content_type: &str) -> Result<Meta, String> {
        let mut parts = content_type.split(';');
        let essence = parts.next().unwrap_or("").trim();
        let is_json =
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json");
        if !is_json {
            return Err(format!(
                "the database sink takes JSON records, and this one is labelled `{content_type}`: label it application/json, or write JSON Lines with --output FILE"
            ));
        }
        let mut meta = Meta::default();
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "table" => {
                    check_table_name(value)?;
                    meta.table = Some(value.to_owned());
                }
                "op" => match value.to_ascii_lowercase().as_str() {
                    "upsert" => meta.delete = false,
                    "delete" => meta.delete = true,
                    other => {
                        return Err(format!(
                            "`op={other}` is not an operation: use op=upsert (the default) or op=delete"
                        ))
                    }
                },
                _ => {}
            }
        }
        Ok(meta)
    }
}

/// One row to write or delete.
#[derive(Debug, Clone)]
pub struct Op {
    /// Where.
    pub table: Arc<Table>,
    /// Delete (or soft-delete) the row with this key, instead of upserting.
    pub delete: bool,
    /// The row's fields, by column name.
    pub row: Map<String, Value>,
    /// The key's values as text, to spot two operations on one row.
    pub key: String,
}

fn parse(index: usize, record: &Record) -> Result<Value, String> {
    serde_json::from_slice(&record.data).map_err(|error| {
        format!(
            "record {index} is labelled {} but is not valid JSON: {error}",
            record.content_type
        )
    })
}

/// A record for `table`, a user's table: its fields are columns.
pub fn typed(
    table: &Arc<Table>,
    index: usize,
    record: &Record,
    delete: bool,
) -> Result<Op, String> {
    let name = &table.name;
    let Value::Object(row) = parse(index, record)? else {
        return Err(format!(
            "record {index} for table `{name}` is not a JSON object: its fields must name the table's columns"
        ));
    };
    for field in row.keys() {
        if !table.column_set.contains(field) {
            return Err(format!(
                "record {index}: field `{field}` has no column in table `{name}`: add the column (ALTER TABLE {name} ADD COLUMN {field} …) or stop the plugin from writing the field"
            ));
        }
    }
    let mut key = Vec::with_capacity(table.key.len());
    for column in &table.key {
        match row.get(column) {
            Some(value) if !value.is_null() => key.push(value),
            _ => {
                return Err(format!(
                    "record {index} for table `{name}` lacks `{column}`, a column of its primary key: every record must carry the key it upserts or deletes"
                ))
            }
        }
    }
    let key = serde_json::to_string(&key).unwrap_or_default();
    Ok(Op {
        table: table.clone(),
        delete,
        row,
        key,
    })
}

/// A record for the raw table: keyed by plugin and the task's URL (and
/// the record's position after the first), stored whole.
pub fn raw(
    table: &Arc<Table>,
    task: &Task,
    plugin: &str,
    index: usize,
    record: &Record,
    delete: bool,
) -> Result<Op, String> {
    let value = parse(index, record)?;
    let key = if index == 0 {
        task.url.clone()
    } else {
        format!("{}#{index}", task.url)
    };
    let mut row = Map::with_capacity(4);
    row.insert("plugin".into(), Value::String(plugin.to_owned()));
    row.insert("key".into(), Value::String(key.clone()));
    row.insert("record".into(), value);
    row.insert("task_id".into(), Value::String(task.id.clone()));
    Ok(Op {
        table: table.clone(),
        delete,
        row,
        key: format!("{plugin}\u{0}{key}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_name_table_and_operation() {
        assert_eq!(Meta::parse("application/json"), Ok(Meta::default()));
        assert_eq!(
            Meta::parse("application/json; table=tracks; op=delete"),
            Ok(Meta {
                table: Some("tracks".into()),
                delete: true
            })
        );
        assert_eq!(
            Meta::parse("application/vnd.x+json;charset=utf-8;table=\"music.artists\""),
            Ok(Meta {
                table: Some("music.artists".into()),
                delete: false
            })
        );
        let error = Meta::parse("application/json; op=drop").unwrap_err();
        assert!(error.contains("op=drop"), "{error}");
        let error = Meta::parse("application/json; table=x-y").unwrap_err();
        assert!(error.contains("is not a table name"), "{error}");
        let error = Meta::parse("text/plain").unwrap_err();
        assert!(error.contains("takes JSON records"), "{error}");
    }
}

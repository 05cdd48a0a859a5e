//! A job's records as row operations: which table, upsert or delete, and
//! the row, checked against the table's columns before anything is sent,
//! so that a record the table cannot take fails its job with a message
//! that names the field, the table and what to do.

use std::borrow::Cow;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

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
    /// The row: a JSON object whose fields are columns (for a user's
    /// table, the record's own text, moved, not re-encoded).
    pub json: String,
    /// Which of the table's columns the row has: bit `i` is
    /// `table.columns[i]`.
    pub fields: Vec<u64>,
    /// The key's values as JSON text, to spot two operations on one row.
    pub key: String,
}

impl Op {
    /// The row's fields as JSON values (for the databases that take bound
    /// values).
    pub fn values(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_str(&self.json) {
            Ok(Value::Object(map)) => map,
            // Checked to be an object when the op was made.
            _ => serde_json::Map::new(),
        }
    }
}

/// A JSON object's fields, borrowed from its text where the names need no
/// unescaping.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> DeserializeSeed<'de> for Name {
            type Value = Cow<'de, str>;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_str(self)
            }
        }
        impl<'de> Visitor<'de> for Name {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(name) = map.next_key_seed(Name)? {
                    fields.push((name, map.next_value()?));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

/// The record's text, or why it is not JSON.
fn text(index: usize, record: Record) -> Result<String, String> {
    let content_type = record.content_type;
    String::from_utf8(record.data).map_err(|error| {
        format!("record {index} is labelled {content_type} but is not valid JSON: {error}")
    })
}

fn not_json(index: usize, error: serde_json::Error) -> String {
    format!("record {index} is labelled JSON but is not valid JSON: {error}")
}

/// A record for `table`, a user's table: its fields are columns.
pub fn typed(table: &Arc<Table>, index: usize, record: Record, delete: bool) -> Result<Op, String> {
    let name = &table.name;
    let json = text(index, record)?;
    let parsed: Result<Fields, _> = serde_json::from_str(&json);
    let fields = match parsed {
        Ok(fields) => fields,
        Err(error) => {
            return Err(match serde_json::from_str::<&RawValue>(&json) {
                Ok(_) => format!(
                    "record {index} for table `{name}` is not a JSON object: its fields must name the table's columns"
                ),
                Err(_) => not_json(index, error),
            })
        }
    };
    let mut bits = vec![0u64; table.columns.len().div_ceil(64)];
    for (field, _) in &fields.0 {
        let Some(&column) = table.index.get(field.as_ref()) else {
            return Err(format!(
                "record {index}: field `{field}` has no column in table `{name}`: add the column (ALTER TABLE {name} ADD COLUMN {field} …) or stop the plugin from writing the field"
            ));
        };
        bits[column / 64] |= 1 << (column % 64);
    }
    let mut key = String::new();
    for column in &table.key {
        // The last of a repeated field wins, as in the databases.
        match fields.0.iter().rev().find(|(field, _)| field == column) {
            Some((_, value)) if value.get() != "null" => {
                key.push_str(value.get());
                key.push('\u{0}');
            }
            _ => {
                return Err(format!(
                    "record {index} for table `{name}` lacks `{column}`, a column of its primary key: every record must carry the key it upserts or deletes"
                ))
            }
        }
    }
    drop(fields);
    Ok(Op {
        table: table.clone(),
        delete,
        json,
        fields: bits,
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
    record: Record,
    delete: bool,
) -> Result<Op, String> {
    let record = text(index, record)?;
    if let Err(error) = serde_json::from_str::<&RawValue>(&record) {
        return Err(not_json(index, error));
    }
    let key = if index == 0 {
        task.url.clone()
    } else {
        format!("{}#{index}", task.url)
    };
    let quoted = |text: &str| Value::String(text.to_owned()).to_string();
    let json = format!(
        "{{\"plugin\":{},\"key\":{},\"record\":{},\"task_id\":{}}}",
        quoted(plugin),
        quoted(&key),
        record.trim(),
        quoted(&task.id)
    );
    // plugin, key, record, task_id: the raw table's first four columns.
    let fields = vec![0b1111];
    Ok(Op {
        table: table.clone(),
        delete,
        json,
        fields,
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

//! A fast first pass over a music-info document: parses the top-level
//! object, keeps only the fields the rules read ([`FIELDS`]) as JSON values,
//! and skips everything else while parsing, without building it. Real
//! documents carry many fields the plugin ignores; building all of them
//! into `serde_json::Value`s was most of the plugin's own time.
//!
//! It gives the same map of wanted fields that parsing the whole document
//! as a `Value` would (a repeated key keeps its last value, like
//! `serde_json`'s own map). Anything it cannot read (a syntax error, a
//! top-level value that is not an object) is left to the full parse in
//! `track.rs`, so error messages are unchanged.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Every top-level field `track::normalise` looks at.
pub const FIELDS: &[&str] = &[
    "id",
    "title",
    "artist",
    "album",
    "genre",
    "duration",
    "duration_ms",
    "release_year",
    "year",
    "release_date",
];

/// The wanted fields of a top-level JSON object, or `None` where the full
/// parse must decide (including its error message).
pub fn wanted(body: &[u8]) -> Option<Map<String, Value>> {
    let mut parser = serde_json::Deserializer::from_slice(body);
    let fields = parser.deserialize_map(WantedVisitor).ok()?;
    parser.end().ok()?;
    Some(fields)
}

struct WantedVisitor;

impl<'de> Visitor<'de> for WantedVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Some(name) => {
                    let value: Value = map.next_value()?;
                    fields.insert(name.to_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A key, matched against [`FIELDS`] without allocating.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(FIELDS.iter().copied().find(|&name| name == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wanted fields of a full `Value` parse, for comparison.
    fn slow(body: &str) -> Option<Map<String, Value>> {
        match serde_json::from_str::<Value>(body).ok()? {
            Value::Object(all) => Some(
                all.into_iter()
                    .filter(|(k, _)| FIELDS.contains(&k.as_str()))
                    .collect(),
            ),
            _ => None,
        }
    }

    #[test]
    fn keeps_exactly_what_the_full_parse_would() {
        let bodies = [
            r#"{"id": 7, "title": " T ", "extra": {"deep": [1, 2, {"x": null}]}, "artist": {"name": "A"}}"#,
            r#"{"title": "first", "title": "second", "duration": "3:15", "pad": "xxxxxxxx"}"#,
            r#"{"t\u0069tle": "escaped key", "year": "1999", "release_date": null}"#,
            r#"{}"#,
            r#"{"id": 1}   "#,
        ];
        for body in bodies {
            assert_eq!(wanted(body.as_bytes()), slow(body), "{body}");
        }
    }

    #[test]
    fn leaves_errors_and_non_objects_to_the_full_parse() {
        for body in [
            "[1, 2]",
            "\"a string\"",
            "{\"id\": 1",
            "{\"id\": 1} trailing",
            "{\"pad\": [1, 2,]}",
            "",
        ] {
            assert_eq!(wanted(body.as_bytes()), None, "{body}");
        }
    }
}

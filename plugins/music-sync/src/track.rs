//! Parsing, validation and normalisation of one music-info document into the
//! [`Track`] record. Pure code with no bindings, so it is unit-tested
//! natively; it must stay deterministic (no clock, no randomness), because
//! ports of this plugin to other languages are compared with it byte for byte.
//!
//! The rules, which every port must follow exactly:
//!
//! - The body is a JSON object; unknown fields are ignored. A field that is
//!   absent or `null` counts as missing.
//! - Every string is trimmed and each internal run of whitespace (Unicode
//!   `White_Space`, as Rust's `char::is_whitespace`) becomes one space.
//! - `id`: required; a non-empty string, or an integer written as decimal.
//! - `title`: required non-empty string.
//! - `artist`: required; a non-empty string, or an object whose `name` is one.
//! - `album`: optional string; an empty string counts as absent (`null`).
//! - `genre`: optional string, lower-cased (Unicode, as Rust's
//!   `str::to_lowercase`); an empty string counts as absent (`null`).
//! - Duration, from the first present of `duration` (seconds: a number, or an
//!   `"m:ss"` string) and `duration_ms` (milliseconds: a number): required,
//!   rounded to whole seconds half away from zero, and at least 1.
//! - Release year, from the first present of `release_year` (an integer),
//!   `year` (an integer or a `"YYYY"` string) and `release_date` (a
//!   `"YYYY-MM-DD"` or `"YYYY"` string): optional, within 1900..=2100.
//! - The output is compact JSON (no spaces), keys in [`Track`]'s field order,
//!   non-ASCII characters written as UTF-8 (not `\u` escapes).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};

/// The normalised record. The field order here is the key order of the
/// output JSON, which is part of the contract.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Track {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    pub genre: Option<String>,
    pub duration_seconds: u64,
    pub release_year: Option<u16>,
    pub source_url: String,
}

/// Earliest and latest release years accepted.
const YEARS: std::ops::RangeInclusive<i64> = 1900..=2100;

/// Parse `body` as a music-info document and normalise it; `source_url` is
/// recorded as is. The error is a message for the dead letters that names the
/// field at fault.
pub fn normalise(body: &[u8], source_url: &str) -> Result<Track, String> {
    let fields = match serde_json::from_slice::<KnownFields>(body) {
        Ok(KnownFields(fields)) => fields,
        // A type error: the top level is not an object, or the document
        // reaches a corner that only serde_json's own `Value` treats
        // exactly (see [`RAW_VALUE_TOKEN`]). Parse it in full: the rules are
        // defined by that parse, and the ports reproduce it.
        Err(error) if error.is_data() => full_parse(body)?,
        // Syntax errors: the fast parse reads in the same order as a full
        // one, so it fails at the same place with the same message.
        Err(error) => return Err(malformed_json(error)),
    };
    from_fields(&fields, source_url)
}

/// The whole document parsed as a `Value`, which must be an object.
fn full_parse(body: &[u8]) -> Result<Map<String, Value>, String> {
    let document: Value = serde_json::from_slice(body).map_err(malformed_json)?;
    match document {
        Value::Object(fields) => Ok(fields),
        other => Err(format!(
            "expected a JSON object at the top level, got {}",
            describe(&other)
        )),
    }
}

/// The rules, applied to the document's fields.
fn from_fields(fields: &Map<String, Value>, source_url: &str) -> Result<Track, String> {
    Ok(Track {
        id: id(fields)?,
        title: required_string(fields, "title")?,
        artist: artist(fields)?,
        album: optional_string(fields, "album")?,
        genre: optional_string(fields, "genre")?.map(|genre| genre.to_lowercase()),
        duration_seconds: duration(fields)?,
        release_year: release_year(fields)?,
        source_url: source_url.to_string(),
    })
}

/// The top-level fields the rules read; every other field is parsed exactly
/// as a full parse would (so a malformed one gives the same error at the
/// same place, which the ports reproduce) but never built, so the long
/// descriptions and credit lists of real documents cost no allocation.
const KNOWN: [&str; 10] = [
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

/// A document's [`KNOWN`] fields (a later duplicate wins, as in a full parse).
struct KnownFields(Map<String, Value>);

impl<'de> Deserialize<'de> for KnownFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = KnownFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KnownFields, A::Error> {
                let mut fields = Map::new();
                let mut first = true;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Private if first => return Err(private_key()),
                        Key::Known(name) => {
                            fields.insert(name.to_string(), map.next_value::<Value>()?);
                        }
                        Key::Other | Key::Private => {
                            map.next_value::<Discard>()?;
                        }
                    }
                    first = false;
                }
                Ok(KnownFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// Any JSON value, read the way `Value` reads one (strings unescaped and
/// checked, numbers parsed and range-checked) and then dropped; serde's
/// `IgnoredAny` checks less and would accept what a full parse refuses.
struct Discard;

impl<'de> Deserialize<'de> for Discard {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Discard)
    }
}

impl<'de> Visitor<'de> for Discard {
    type Value = Discard;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Discard, E> {
        Ok(Discard)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Discard, E> {
        Ok(Discard)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Discard, E> {
        Ok(Discard)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Discard, E> {
        Ok(Discard)
    }
    fn visit_str<E>(self, _: &str) -> Result<Discard, E> {
        Ok(Discard)
    }
    fn visit_unit<E>(self) -> Result<Discard, E> {
        Ok(Discard)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Discard, A::Error> {
        while seq.next_element::<Discard>()?.is_some() {}
        Ok(Discard)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Discard, A::Error> {
        match map.next_key::<Key>()? {
            None => return Ok(Discard),
            Some(Key::Private) => return Err(private_key()),
            Some(_) => map.next_value::<Discard>()?,
        };
        while map.next_key::<Discard>()?.is_some() {
            map.next_value::<Discard>()?;
        }
        Ok(Discard)
    }
}

/// serde_json's private key: an object whose *first* key is this (after
/// unescaping) is read by `Value` as a raw value, not as an object, with
/// errors of its own. The fast parse leaves such documents to a full one.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The error that hands a document over to a full parse (a type error).
fn private_key<E: de::Error>() -> E {
    E::custom(format!("the key {RAW_VALUE_TOKEN} needs a full parse"))
}

/// A field name, read without allocating.
enum Key {
    /// One of [`KNOWN`].
    Known(&'static str),
    /// [`RAW_VALUE_TOKEN`].
    Private,
    /// Any other.
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match KNOWN.iter().copied().find(|&name| name == key) {
                    Some(name) => Key::Known(name),
                    None if key == RAW_VALUE_TOKEN => Key::Private,
                    None => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(Name)
    }
}

/// "malformed JSON at line L column C: <what>", without serde_json's own
/// position suffix repeated.
fn malformed_json(error: serde_json::Error) -> String {
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let what = full.strip_suffix(&suffix).unwrap_or(&full);
    format!("malformed JSON at line {line} column {column}: {what}")
}

/// A field's value, treating `null` as absent.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|value| !value.is_null())
}

/// The first of `names` that is present, with its name.
fn first_field<'a>(
    fields: &'a Map<String, Value>,
    names: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    names
        .iter()
        .find_map(|&name| field(fields, name).map(|value| (name, value)))
}

/// Trim and collapse internal whitespace runs to one space.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A short description of a JSON value for error messages: scalars as JSON
/// (long strings cut), containers by kind only.
fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    match value {
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
        Value::String(text) if text.chars().count() > MAX_CHARS => {
            let cut: String = text.chars().take(MAX_CHARS).collect();
            format!("{}...", Value::String(cut))
        }
        scalar => scalar.to_string(),
    }
}

fn missing(name: &str) -> String {
    format!("missing field `{name}`")
}

/// A string value, cleaned; `what` names the field in errors.
fn string_value(value: &Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(clean(text)),
        other => Err(format!(
            "field `{what}` must be a string, got {}",
            describe(other)
        )),
    }
}

fn non_empty(text: String, what: &str) -> Result<String, String> {
    if text.is_empty() {
        Err(format!("field `{what}` must not be empty"))
    } else {
        Ok(text)
    }
}

fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, String> {
    let value = field(fields, name).ok_or_else(|| missing(name))?;
    non_empty(string_value(value, name)?, name)
}

fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match field(fields, name) {
        None => Ok(None),
        Some(value) => Ok(Some(string_value(value, name)?).filter(|text| !text.is_empty())),
    }
}

fn id(fields: &Map<String, Value>) -> Result<String, String> {
    match field(fields, "id").ok_or_else(|| missing("id"))? {
        Value::String(text) => non_empty(clean(text), "id"),
        Value::Number(number) if number.is_i64() || number.is_u64() => Ok(number.to_string()),
        other => Err(format!(
            "field `id` must be a string or an integer, got {}",
            describe(other)
        )),
    }
}

fn artist(fields: &Map<String, Value>) -> Result<String, String> {
    match field(fields, "artist").ok_or_else(|| missing("artist"))? {
        Value::String(text) => non_empty(clean(text), "artist"),
        Value::Object(artist) => {
            let name = field(artist, "name").ok_or_else(|| missing("artist.name"))?;
            non_empty(string_value(name, "artist.name")?, "artist.name")
        }
        other => Err(format!(
            "field `artist` must be a string or an object with a `name`, got {}",
            describe(other)
        )),
    }
}

fn duration(fields: &Map<String, Value>) -> Result<u64, String> {
    let (name, value) = first_field(fields, &["duration", "duration_ms"])
        .ok_or_else(|| "missing field `duration` (or `duration_ms`)".to_string())?;
    let (seconds, unit) = match (name, value) {
        ("duration", Value::Number(number)) => (number.as_f64(), "seconds"),
        ("duration", Value::String(text)) => {
            let seconds = minutes_seconds(text.trim()).ok_or_else(|| {
                format!(
                    "field `duration` must be a number of seconds or an \"m:ss\" string, got {}",
                    describe(value)
                )
            })?;
            (Some(seconds as f64), "seconds")
        }
        ("duration_ms", Value::Number(number)) => {
            (number.as_f64().map(|ms| ms / 1000.0), "milliseconds")
        }
        (name, other) => {
            let unit = if name == "duration" {
                "a number of seconds or an \"m:ss\" string"
            } else {
                "a number of milliseconds"
            };
            return Err(format!(
                "field `{name}` must be {unit}, got {}",
                describe(other)
            ));
        }
    };
    // `f64::round` rounds half away from zero; the range check also rejects
    // values too large to be a duration (and NaN, which JSON cannot carry).
    match seconds.map(f64::round) {
        Some(rounded) if (1.0..=u32::MAX as f64).contains(&rounded) => Ok(rounded as u64),
        _ => Err(format!(
            "field `{name}` must be a positive number of {unit}, got {}",
            describe(value)
        )),
    }
}

/// Seconds in an `"m:ss"` string: one or more digits of minutes, then exactly
/// two digits of seconds below 60.
fn minutes_seconds(text: &str) -> Option<u64> {
    let (minutes, seconds) = text.split_once(':')?;
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(minutes) || seconds.len() != 2 || !all_digits(seconds) {
        return None;
    }
    let minutes: u64 = minutes.parse().ok()?;
    let seconds: u64 = seconds.parse().ok()?;
    if seconds >= 60 {
        return None;
    }
    minutes.checked_mul(60)?.checked_add(seconds)
}

fn release_year(fields: &Map<String, Value>) -> Result<Option<u16>, String> {
    let Some((name, value)) = first_field(fields, &["release_year", "year", "release_date"]) else {
        return Ok(None);
    };
    let year = match (name, value) {
        ("release_year" | "year", Value::Number(number)) if number.is_i64() || number.is_u64() => {
            number.as_i64()
        }
        ("year", Value::String(text)) => year_of(text.trim(), false),
        ("release_date", Value::String(text)) => year_of(text.trim(), true),
        _ => None,
    };
    let Some(year) = year else {
        let expected = match name {
            "release_year" => "an integer",
            "year" => "an integer or a \"YYYY\" string",
            _ => "a \"YYYY-MM-DD\" or \"YYYY\" string",
        };
        return Err(format!(
            "field `{name}` must be {expected}, got {}",
            describe(value)
        ));
    };
    if !YEARS.contains(&year) {
        return Err(format!(
            "field `{name}` must be a year between {} and {}, got {}",
            YEARS.start(),
            YEARS.end(),
            describe(value)
        ));
    }
    u16::try_from(year)
        .map(Some)
        .map_err(|_| format!("field `{name}` is out of range"))
}

/// The year of `"YYYY"` or, if `full_date` is allowed, `"YYYY-MM-DD"` (month
/// 01-12, day 01-31; the day is not checked against the month).
fn year_of(text: &str, full_date: bool) -> Option<i64> {
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    let mut parts = text.split('-');
    let year = parts.next()?;
    if !digits(year, 4) {
        return None;
    }
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => {}
        (Some(month), Some(day), None) if full_date && digits(month, 2) && digits(day, 2) => {
            let month: u8 = month.parse().ok()?;
            let day: u8 = day.parse().ok()?;
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                return None;
            }
        }
        _ => return None,
    }
    year.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://api.example-music.test/tracks/7";

    fn run(json: &str) -> Result<Track, String> {
        normalise(json.as_bytes(), URL)
    }

    fn error(json: &str) -> String {
        match run(json) {
            Ok(track) => panic!("expected an error for {json}, got {track:?}"),
            Err(message) => message,
        }
    }

    fn output(json: &str) -> String {
        let track = run(json).expect("valid document");
        serde_json::to_string(&track).expect("serialisable")
    }

    #[test]
    fn minimal_document_gives_nulls_in_fixed_key_order() {
        assert_eq!(
            output(r#"{"id": 7, "title": "T", "artist": "A", "duration": 60}"#),
            format!(
                r#"{{"id":"7","title":"T","artist":"A","album":null,"genre":null,"duration_seconds":60,"release_year":null,"source_url":"{URL}"}}"#
            )
        );
    }

    #[test]
    fn strings_are_trimmed_and_collapsed_and_genre_lowercased() {
        let track = run(
            "{\"id\": \" x 1 \", \"title\": \" a \\t\\n b  \", \"artist\": {\"name\": \"  Ó   N \"},
              \"album\": \"  \", \"genre\": \"  Hip  HOP \", \"duration\": 1}",
        )
        .expect("valid");
        assert_eq!(track.id, "x 1");
        assert_eq!(track.title, "a b");
        assert_eq!(track.artist, "Ó N");
        assert_eq!(track.album, None);
        assert_eq!(track.genre.as_deref(), Some("hip hop"));
    }

    #[test]
    fn durations_in_every_form() {
        let seconds = |extra: &str| {
            run(&format!(r#"{{"id":1,"title":"t","artist":"a",{extra}}}"#))
                .map(|track| track.duration_seconds)
        };
        assert_eq!(seconds(r#""duration": 215"#), Ok(215));
        assert_eq!(seconds(r#""duration": 214.5"#), Ok(215));
        assert_eq!(seconds(r#""duration": 214.49"#), Ok(214));
        assert_eq!(seconds(r#""duration": "3:35""#), Ok(215));
        assert_eq!(seconds(r#""duration": " 12:04 ""#), Ok(724));
        assert_eq!(seconds(r#""duration_ms": 215500"#), Ok(216));
        assert_eq!(seconds(r#""duration_ms": 215499"#), Ok(215));
        assert_eq!(seconds(r#""duration": null, "duration_ms": 1000"#), Ok(1));
        // `duration` wins over `duration_ms` when both are present.
        assert_eq!(seconds(r#""duration": 10, "duration_ms": 99000"#), Ok(10));
    }

    #[test]
    fn bad_durations_name_the_field() {
        let base = r#""id":1,"title":"t","artist":"a""#;
        assert_eq!(
            error(&format!("{{{base}}}")),
            "missing field `duration` (or `duration_ms`)"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration":-3}}"#)),
            "field `duration` must be a positive number of seconds, got -3"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration":0.4}}"#)),
            "field `duration` must be a positive number of seconds, got 0.4"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration":"3:5"}}"#)),
            "field `duration` must be a number of seconds or an \"m:ss\" string, got \"3:5\""
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration":"1:60"}}"#)),
            "field `duration` must be a number of seconds or an \"m:ss\" string, got \"1:60\""
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration":true}}"#)),
            "field `duration` must be a number of seconds or an \"m:ss\" string, got true"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration_ms":0}}"#)),
            "field `duration_ms` must be a positive number of milliseconds, got 0"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"duration_ms":"215000"}}"#)),
            "field `duration_ms` must be a number of milliseconds, got \"215000\""
        );
    }

    #[test]
    fn release_years_in_every_form() {
        let year = |extra: &str| {
            run(&format!(
                r#"{{"id":1,"title":"t","artist":"a","duration":1{extra}}}"#
            ))
            .map(|track| track.release_year)
        };
        assert_eq!(year(""), Ok(None));
        assert_eq!(year(r#","release_year":1997"#), Ok(Some(1997)));
        assert_eq!(year(r#","year":1962"#), Ok(Some(1962)));
        assert_eq!(year(r#","year":"1962""#), Ok(Some(1962)));
        assert_eq!(year(r#","release_date":"2021-03-12""#), Ok(Some(2021)));
        assert_eq!(year(r#","release_date":" 2008 ""#), Ok(Some(2008)));
        assert_eq!(
            year(r#","release_year":2015,"release_date":"1999-01-01""#),
            Ok(Some(2015))
        );
        assert_eq!(year(r#","release_year":null,"year":1900"#), Ok(Some(1900)));
        assert_eq!(year(r#","release_year":2100"#), Ok(Some(2100)));
    }

    #[test]
    fn bad_release_years_name_the_field() {
        let base = r#""id":1,"title":"t","artist":"a","duration":1"#;
        assert_eq!(
            error(&format!(r#"{{{base},"release_year":1850}}"#)),
            "field `release_year` must be a year between 1900 and 2100, got 1850"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"release_date":"2101-01-01"}}"#)),
            "field `release_date` must be a year between 1900 and 2100, got \"2101-01-01\""
        );
        assert_eq!(
            error(&format!(r#"{{{base},"release_year":"1999"}}"#)),
            "field `release_year` must be an integer, got \"1999\""
        );
        assert_eq!(
            error(&format!(r#"{{{base},"year":1999.5}}"#)),
            "field `year` must be an integer or a \"YYYY\" string, got 1999.5"
        );
        assert_eq!(
            error(&format!(r#"{{{base},"release_date":"1999-13-01"}}"#)),
            "field `release_date` must be a \"YYYY-MM-DD\" or \"YYYY\" string, got \"1999-13-01\""
        );
        assert_eq!(
            error(&format!(r#"{{{base},"release_date":"May 1999"}}"#)),
            "field `release_date` must be a \"YYYY-MM-DD\" or \"YYYY\" string, got \"May 1999\""
        );
    }

    #[test]
    fn required_fields_name_themselves() {
        assert_eq!(
            error(r#"{"id":1,"artist":"a","duration":1}"#),
            "missing field `title`"
        );
        assert_eq!(
            error(r#"{"id":1,"title":null,"artist":"a","duration":1}"#),
            "missing field `title`"
        );
        assert_eq!(
            error(r#"{"id":1,"title":"  ","artist":"a","duration":1}"#),
            "field `title` must not be empty"
        );
        assert_eq!(
            error(r#"{"id":1,"title":42,"artist":"a","duration":1}"#),
            "field `title` must be a string, got 42"
        );
        assert_eq!(
            error(r#"{"title":"t","artist":"a","duration":1}"#),
            "missing field `id`"
        );
        assert_eq!(
            error(r#"{"id":1.5,"title":"t","artist":"a","duration":1}"#),
            "field `id` must be a string or an integer, got 1.5"
        );
        assert_eq!(
            error(r#"{"id":"","title":"t","artist":"a","duration":1}"#),
            "field `id` must not be empty"
        );
        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":{"id":3},"duration":1}"#),
            "missing field `artist.name`"
        );
        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":["a"],"duration":1}"#),
            "field `artist` must be a string or an object with a `name`, got an array"
        );
        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":"a","album":3,"duration":1}"#),
            "field `album` must be a string, got 3"
        );
    }

    #[test]
    fn bodies_that_are_not_objects() {
        assert_eq!(
            error("{\"id\": 1,\n  \"title\": }"),
            "malformed JSON at line 2 column 12: expected value"
        );
        assert_eq!(
            error("[1, 2]"),
            "expected a JSON object at the top level, got an array"
        );
        assert_eq!(
            error(""),
            "malformed JSON at line 1 column 0: EOF while parsing a value"
        );
        assert_eq!(
            error(r#""just a string""#),
            r#"expected a JSON object at the top level, got "just a string""#
        );
        assert_eq!(
            error("7 junk"),
            "malformed JSON at line 1 column 3: trailing characters"
        );
    }

    #[test]
    fn unknown_fields_are_skipped_but_must_still_be_json() {
        let minimal = r#""id":7,"title":"T","artist":"A","duration":60"#;
        let expected = output(&format!("{{{minimal}}}"));
        // Ignored fields of every shape change nothing...
        assert_eq!(
            output(&format!(
                r#"{{"credits":[{{"role":"x","name":"y"}}],{minimal},"n":-1.5e3,"z":null,"t":true}}"#
            )),
            expected
        );
        // ...but a malformed one is still malformed JSON, reported where a
        // full parse reports it.
        for bad in [
            format!(r#"{{{minimal},"credits":[1,}}"#),
            format!(r#"{{{minimal},"bad":"\q"}}"#),
            format!(r#"{{{minimal},"n":1e}}"#),
        ] {
            let full = serde_json::from_str::<Value>(&bad).expect_err("malformed");
            assert_eq!(error(&bad), malformed_json(full), "{bad}");
            assert!(error(&bad).starts_with("malformed JSON at line 1 column "));
        }
    }

    /// What a parse of the whole document as a `Value` gives: the rules'
    /// definition, which the fast parse must reproduce exactly.
    fn by_full_parse(body: &[u8]) -> Result<Track, String> {
        full_parse(body).and_then(|fields| from_fields(&fields, URL))
    }

    #[test]
    fn the_fast_parse_agrees_with_a_full_parse_on_every_edge_case() {
        let minimal = r#""id":7,"title":"T","artist":"A","duration":60"#;
        let mut bodies: Vec<Vec<u8>> = [
            // serde_json's private key, first in a skipped object: a full
            // parse reads a raw value there (and refuses a number).
            format!(r#"{{{minimal},"x":{{"$serde_json::private::RawValue":5}}}}"#),
            format!(r#"{{"x":[{{"\u0024serde_json::private::RawValue":"1"}}],{minimal}}}"#),
            r#"{"$serde_json::private::RawValue":"{}"}"#.to_string(),
            // Not first in its object: an ordinary key.
            format!(
                r#"{{{minimal},"x":{{"a":1,"$serde_json::private::RawValue":5}},"e":{{}},"f":[]}}"#
            ),
            format!(r#"{{{minimal},"x":{{"a":{{"b":[{{}},{{"c":null}}]}}}}}}"#),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        // The edge cases the ports are compared on (inline payloads).
        let edge = include_str!("../samples/edge-tasks.jsonl");
        for line in edge.lines() {
            let task: Value = serde_json::from_str(line).expect("edge task is JSON");
            // As the host makes a body of a task line.
            let body = match (&task["payload"], &task["payload_base64"]) {
                (Value::String(text), _) => text.clone().into_bytes(),
                (Value::Null, Value::String(data)) => base64(data),
                (value, _) => serde_json::to_vec(value).expect("payload encodes"),
            };
            bodies.push(body);
        }
        assert!(bodies.len() > 300, "{} bodies", bodies.len());
        for body in &bodies {
            assert_eq!(
                normalise(body, URL),
                by_full_parse(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Standard base64 (the edge tasks' binary bodies).
    fn base64(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
        let mut out = Vec::new();
        for chunk in digits.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
            out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
        }
        out
    }

    #[test]
    fn field_names_are_matched_after_unescaping_and_a_later_duplicate_wins() {
        assert_eq!(
            output(r#"{"id":7,"title":"first","title":"T","artist":"A","duration":60}"#),
            output(r#"{"id":7,"title":"T","artist":"A","duration":60}"#)
        );
    }

    #[test]
    fn long_strings_are_cut_in_messages() {
        let long = "x".repeat(100);
        assert_eq!(
            error(&format!(
                r#"{{"id":1,"title":"t","artist":"a","duration":"{long}"}}"#
            )),
            format!(
                "field `duration` must be a number of seconds or an \"m:ss\" string, got \"{}\"...",
                "x".repeat(40)
            )
        );
    }
}

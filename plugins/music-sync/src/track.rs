//! Parsing, validation and normalisation of one music-info document into the
//! [`Track`] record. Pure code with no bindings, so it is unit-tested
//! natively; deterministic (no clock, no randomness), because the ports of
//! this plugin (`plugins/music-sync-js`, `-py`, `-c`) follow the same rules
//! and are compared with it on the inputs in `samples/`.
//!
//! # The rules
//!
//! Each port follows them with its language's standard JSON parser
//! (`serde_json`, `JSON.parse`, `json.loads`; C has none and brings a small
//! one) and a few small helpers, so they are written in terms all of those
//! can follow:
//!
//! - The body is UTF-8 JSON. It is not JSON if `serde_json` refuses it:
//!   syntax, invalid UTF-8, and also a number too large for a double
//!   (`1e400`), an escaped lone surrogate (`"\ud800"`), or arrays and objects
//!   nested more than 127 deep, which `JSON.parse` and `json.loads` accept
//!   and the JavaScript and Python ports refuse by hand. (They check the
//!   parsed value, so an earlier value of a repeated key, which their parsers
//!   drop, escapes those three checks there.)
//! - The top level is an object; unknown fields are ignored; a repeated key
//!   keeps its last value; a field that is absent or `null` is missing.
//! - A number is the nearest double, as in JavaScript: `1`, `1.0` and `1e0`
//!   are the same number, and integers beyond 2^53 are rounded (serde_json
//!   rounds exactly with its `float_roundtrip` feature).
//! - Every string is cleaned: trimmed, and each run of whitespace inside it
//!   becomes one space. Whitespace is Unicode's `White_Space` (Rust's
//!   `char::is_whitespace`): U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680,
//!   U+2000–U+200A, U+2028, U+2029, U+202F, U+205F and U+3000. JavaScript's
//!   `\s` and Python's `str.split` use other sets, so the ports spell it out.
//! - `id`: required; a non-empty string, or a whole number of at most
//!   2^53 − 1 in magnitude (the integers every double holds exactly),
//!   written in decimal.
//! - `title`: required non-empty string.
//! - `artist`: required; a non-empty string, or an object whose `name` is one.
//! - `album`: optional string; an empty string counts as absent (`null`).
//! - `genre`: optional string with its ASCII letters lower-cased (the
//!   languages' Unicode case tables differ by version, and C has none); an
//!   empty string counts as absent (`null`).
//! - Duration, from the first present of `duration` (seconds: a number, or
//!   an `"m:ss"` string: ASCII digits, a colon, two digits below 60) and
//!   `duration_ms` (milliseconds: a number): required, rounded to whole
//!   seconds (halves up), from 1 to 4294967295.
//! - Release year, from the first present of `release_year` (a number),
//!   `year` (a number or a `"YYYY"` string) and `release_date` (a
//!   `"YYYY-MM-DD"` string with month 01–12 and day 01–31, or `"YYYY"`):
//!   optional, a whole number from 1900 to 2100.
//! - The fields are checked in the record's order, and the first fault is
//!   the error.
//! - The record is compact JSON (as `JSON.stringify` and `json.dumps` with
//!   `separators=(",", ":")` write it): keys in [`Track`]'s field order,
//!   non-ASCII characters as UTF-8, control characters escaped.
//!
//! # Errors
//!
//! An error reads `<field>: <reason>`, or `<field>: <reason>: <detail>`.
//! The field is one of the document's (`artist.name` inside `artist`), or
//! `body` for the whole document; the reason is one of [`Reason`]'s phrases.
//! The ports agree on the field and the reason; the detail is free text.
//!
//! The HTTP status rules (which statuses reach these rules, and the delete
//! record a 404 or 410 asks for instead) are in `status.rs`.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Number, Value};

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

/// Why a document was refused. Every port uses these phrases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotJson,
    NotAnObject,
    Missing,
    WrongType,
    Empty,
    BadFormat,
    NotAnInteger,
    OutOfRange,
}

impl Reason {
    pub fn phrase(self) -> &'static str {
        match self {
            Reason::NotJson => "not JSON",
            Reason::NotAnObject => "not an object",
            Reason::Missing => "missing",
            Reason::WrongType => "wrong type",
            Reason::Empty => "empty",
            Reason::BadFormat => "bad format",
            Reason::NotAnInteger => "not an integer",
            Reason::OutOfRange => "out of range",
        }
    }
}

/// A refused document: the message of the job's dead letter.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: Reason,
    pub detail: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason.phrase())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

fn invalid(field: &'static str, reason: Reason, detail: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason,
        detail: detail.into(),
    }
}

/// The largest whole double below which every integer is a double too
/// (2^53 − 1, JavaScript's `Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
/// Earliest and latest release years accepted.
const YEARS: std::ops::RangeInclusive<f64> = 1900.0..=2100.0;
/// Shortest and longest durations accepted, in seconds.
const SECONDS: std::ops::RangeInclusive<f64> = 1.0..=4_294_967_295.0;

/// Parse `body` as a music-info document and normalise it; `source_url` is
/// recorded as is.
pub fn normalise(body: &[u8], source_url: &str) -> Result<Track, Invalid> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|error| invalid("body", Reason::NotJson, error.to_string()))?;
    let Value::Object(fields) = document else {
        let detail = format!("got {}", describe(&document));
        return Err(invalid("body", Reason::NotAnObject, detail));
    };
    Ok(Track {
        id: id(&fields)?,
        title: required_string(&fields, "title")?,
        artist: artist(&fields)?,
        album: optional_string(&fields, "album")?,
        genre: optional_string(&fields, "genre")?.map(|genre| genre.to_ascii_lowercase()),
        duration_seconds: duration(&fields)?,
        release_year: release_year(&fields)?,
        source_url: source_url.to_string(),
    })
}

/// A field's value, treating `null` as absent.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|value| !value.is_null())
}

/// Trim and collapse internal whitespace runs to one space.
fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A JSON value in a message: scalars as JSON (long strings cut),
/// containers by kind.
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

fn missing(field: &'static str) -> Invalid {
    invalid(field, Reason::Missing, "")
}

fn wrong_type(field: &'static str, expected: &str, value: &Value) -> Invalid {
    let detail = format!("expected {expected}, got {}", describe(value));
    invalid(field, Reason::WrongType, detail)
}

fn bad_format(field: &'static str, expected: &str, value: &Value) -> Invalid {
    let detail = format!("expected {expected}, got {}", describe(value));
    invalid(field, Reason::BadFormat, detail)
}

/// A number's value as a double. Every `serde_json` number has one (it
/// would be `None` only with the `arbitrary_precision` feature).
fn double(number: &Number) -> f64 {
    number.as_f64().unwrap_or(f64::NAN)
}

/// A number that must be whole.
fn whole(field: &'static str, value: &Value, number: &Number) -> Result<f64, Invalid> {
    let number = double(number);
    if number.fract() != 0.0 {
        let detail = format!("got {}", describe(value));
        return Err(invalid(field, Reason::NotAnInteger, detail));
    }
    Ok(number)
}

/// A string value, cleaned and not empty.
fn non_empty(field: &'static str, text: &str) -> Result<String, Invalid> {
    let text = clean(text);
    if text.is_empty() {
        return Err(invalid(field, Reason::Empty, ""));
    }
    Ok(text)
}

fn required_string(fields: &Map<String, Value>, name: &'static str) -> Result<String, Invalid> {
    match field(fields, name) {
        None => Err(missing(name)),
        Some(Value::String(text)) => non_empty(name, text),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

fn optional_string(
    fields: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, Invalid> {
    match field(fields, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(clean(text)).filter(|text| !text.is_empty())),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

fn id(fields: &Map<String, Value>) -> Result<String, Invalid> {
    match field(fields, "id") {
        None => Err(missing("id")),
        Some(Value::String(text)) => non_empty("id", text),
        Some(value @ Value::Number(number)) => {
            let id = whole("id", value, number)?;
            if id.abs() > MAX_SAFE_INTEGER {
                let detail = format!("expected at most 2^53 - 1 in magnitude, got {value}");
                return Err(invalid("id", Reason::OutOfRange, detail));
            }
            // Exact: a whole double of at most 2^53 - 1 fits an i64.
            Ok((id as i64).to_string())
        }
        Some(other) => Err(wrong_type("id", "a string or a number", other)),
    }
}

fn artist(fields: &Map<String, Value>) -> Result<String, Invalid> {
    match field(fields, "artist") {
        None => Err(missing("artist")),
        Some(Value::String(text)) => non_empty("artist", text),
        Some(Value::Object(artist)) => match field(artist, "name") {
            None => Err(missing("artist.name")),
            Some(Value::String(name)) => non_empty("artist.name", name),
            Some(other) => Err(wrong_type("artist.name", "a string", other)),
        },
        Some(other) => Err(wrong_type("artist", "a string or an object", other)),
    }
}

fn duration(fields: &Map<String, Value>) -> Result<u64, Invalid> {
    let (name, value, seconds) = match (field(fields, "duration"), field(fields, "duration_ms")) {
        (Some(value @ Value::Number(number)), _) => ("duration", value, double(number)),
        (Some(value @ Value::String(text)), _) => {
            let seconds = minutes_seconds(&clean(text))
                .ok_or_else(|| bad_format("duration", "\"m:ss\"", value))?;
            ("duration", value, seconds)
        }
        (Some(other), _) => {
            let expected = "a number of seconds or an \"m:ss\" string";
            return Err(wrong_type("duration", expected, other));
        }
        (None, Some(value @ Value::Number(number))) => {
            ("duration_ms", value, double(number) / 1000.0)
        }
        (None, Some(other)) => {
            return Err(wrong_type("duration_ms", "a number of milliseconds", other));
        }
        (None, None) => {
            let detail = "give `duration` (seconds or \"m:ss\") or `duration_ms`";
            return Err(invalid("duration", Reason::Missing, detail));
        }
    };
    // Halves round away from zero, which for the positive values accepted
    // is up, as JavaScript's `Math.round` does.
    let rounded = seconds.round();
    if !SECONDS.contains(&rounded) {
        let detail = format!(
            "expected {} to {} seconds, got {}",
            SECONDS.start(),
            SECONDS.end(),
            describe(value)
        );
        return Err(invalid(name, Reason::OutOfRange, detail));
    }
    Ok(rounded as u64)
}

/// Seconds in an `"m:ss"` string: one or more ASCII digits of minutes, then
/// exactly two of seconds below 60.
fn minutes_seconds(text: &str) -> Option<f64> {
    let (minutes, seconds) = text.split_once(':')?;
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(minutes) || seconds.len() != 2 || !digits(seconds) {
        return None;
    }
    let seconds: f64 = seconds.parse().ok()?;
    if seconds >= 60.0 {
        return None;
    }
    // A double: a minute count too large for an integer is still a number,
    // and out of range.
    Some(minutes.parse::<f64>().ok()? * 60.0 + seconds)
}

fn release_year(fields: &Map<String, Value>) -> Result<Option<u16>, Invalid> {
    let names = ["release_year", "year", "release_date"];
    let Some((name, value)) = names
        .into_iter()
        .find_map(|name| field(fields, name).map(|value| (name, value)))
    else {
        return Ok(None);
    };
    let year = match (name, value) {
        ("release_year" | "year", Value::Number(number)) => whole(name, value, number)?,
        ("year", Value::String(text)) => {
            year_of(&clean(text), false).ok_or_else(|| bad_format(name, "\"YYYY\"", value))?
        }
        ("release_date", Value::String(text)) => year_of(&clean(text), true)
            .ok_or_else(|| bad_format(name, "\"YYYY-MM-DD\" or \"YYYY\"", value))?,
        (_, other) => {
            let expected = match name {
                "release_year" => "a number",
                "year" => "a number or a \"YYYY\" string",
                _ => "a \"YYYY-MM-DD\" or \"YYYY\" string",
            };
            return Err(wrong_type(name, expected, other));
        }
    };
    if !YEARS.contains(&year) {
        let detail = format!(
            "expected {} to {}, got {}",
            YEARS.start(),
            YEARS.end(),
            describe(value)
        );
        return Err(invalid(name, Reason::OutOfRange, detail));
    }
    Ok(Some(year as u16))
}

/// The year of `"YYYY"` or, if `full_date` is allowed, `"YYYY-MM-DD"` (month
/// 01-12, day 01-31; the day is not checked against the month).
fn year_of(text: &str, full_date: bool) -> Option<f64> {
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

    fn run(json: &str) -> Result<Track, Invalid> {
        normalise(json.as_bytes(), URL)
    }

    /// The (field, reason) of the error for `json`.
    fn error(json: &str) -> (&'static str, &'static str) {
        match run(json) {
            Ok(track) => panic!("expected an error for {json}, got {track:?}"),
            Err(invalid) => (invalid.field, invalid.reason.phrase()),
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
    fn strings_are_cleaned_and_genre_ascii_lowercased() {
        let track = run(
            "{\"id\": \" x 1 \", \"title\": \" a \\t\\n b\u{3000} \", \"artist\": {\"name\": \"  Ó   N \"},
              \"album\": \"  \", \"genre\": \"  Hip  HOP ÉLECTRO \", \"duration\": 1}",
        )
        .expect("valid");
        assert_eq!(track.id, "x 1");
        assert_eq!(track.title, "a b");
        assert_eq!(track.artist, "Ó N");
        assert_eq!(track.album, None);
        assert_eq!(track.genre.as_deref(), Some("hip hop Électro"));
        // U+FEFF and U+200B are not White_Space.
        let track =
            run("{\"id\":1,\"title\":\"\u{feff}a\u{200b}\",\"artist\":\"a\",\"duration\":1}")
                .expect("valid");
        assert_eq!(track.title, "\u{feff}a\u{200b}");
    }

    #[test]
    fn ids_are_strings_or_safe_integers() {
        let id = |value: &str| {
            run(&format!(
                r#"{{"id":{value},"title":"t","artist":"a","duration":1}}"#
            ))
            .map(|track| track.id)
            .map_err(|invalid| invalid.reason)
        };
        assert_eq!(id("1002"), Ok("1002".to_string()));
        assert_eq!(id("1.0"), Ok("1".to_string()));
        assert_eq!(id("1e3"), Ok("1000".to_string()));
        assert_eq!(id("-0.0"), Ok("0".to_string()));
        assert_eq!(id("-5"), Ok("-5".to_string()));
        assert_eq!(id("9007199254740991"), Ok("9007199254740991".to_string()));
        assert_eq!(id("9007199254740992"), Err(Reason::OutOfRange));
        assert_eq!(id("18446744073709551615"), Err(Reason::OutOfRange));
        assert_eq!(id("1.5"), Err(Reason::NotAnInteger));
        assert_eq!(id("true"), Err(Reason::WrongType));
        assert_eq!(id(r#"" ""#), Err(Reason::Empty));
    }

    #[test]
    fn durations_in_every_form() {
        let seconds = |extra: &str| {
            run(&format!(r#"{{"id":1,"title":"t","artist":"a",{extra}}}"#))
                .map(|track| track.duration_seconds)
                .map_err(|invalid| (invalid.field, invalid.reason))
        };
        assert_eq!(seconds(r#""duration": 215"#), Ok(215));
        assert_eq!(seconds(r#""duration": 214.5"#), Ok(215));
        assert_eq!(seconds(r#""duration": 214.49"#), Ok(214));
        assert_eq!(
            seconds(r#""duration": 0.49999999999999994"#),
            Err(("duration", Reason::OutOfRange))
        );
        assert_eq!(seconds(r#""duration": "3:35""#), Ok(215));
        assert_eq!(seconds(r#""duration": " 12:04 ""#), Ok(724));
        assert_eq!(seconds(r#""duration_ms": 215500"#), Ok(216));
        assert_eq!(seconds(r#""duration_ms": 215499"#), Ok(215));
        assert_eq!(seconds(r#""duration": null, "duration_ms": 1000"#), Ok(1));
        // `duration` wins over `duration_ms` when both are present.
        assert_eq!(seconds(r#""duration": 10, "duration_ms": 99000"#), Ok(10));
        assert_eq!(seconds(r#""duration": 4294967295.4"#), Ok(4_294_967_295));

        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":"a"}"#),
            ("duration", "missing")
        );
        assert_eq!(
            seconds(r#""duration": -3"#),
            Err(("duration", Reason::OutOfRange))
        );
        assert_eq!(
            seconds(r#""duration": 0.4"#),
            Err(("duration", Reason::OutOfRange))
        );
        assert_eq!(
            seconds(r#""duration": "0:00""#),
            Err(("duration", Reason::OutOfRange))
        );
        assert_eq!(
            seconds(r#""duration": "71582789:00""#),
            Err(("duration", Reason::OutOfRange))
        );
        assert_eq!(
            seconds(r#""duration": "99999999999999999999:00""#),
            Err(("duration", Reason::OutOfRange))
        );
        assert_eq!(
            seconds(r#""duration": "3:5""#),
            Err(("duration", Reason::BadFormat))
        );
        assert_eq!(
            seconds(r#""duration": "1:60""#),
            Err(("duration", Reason::BadFormat))
        );
        assert_eq!(
            seconds(r#""duration": "٣:٠٥""#),
            Err(("duration", Reason::BadFormat))
        );
        assert_eq!(
            seconds(r#""duration": true"#),
            Err(("duration", Reason::WrongType))
        );
        assert_eq!(
            seconds(r#""duration_ms": 0"#),
            Err(("duration_ms", Reason::OutOfRange))
        );
        assert_eq!(
            seconds(r#""duration_ms": "215000""#),
            Err(("duration_ms", Reason::WrongType))
        );
    }

    #[test]
    fn release_years_in_every_form() {
        let year = |extra: &str| {
            run(&format!(
                r#"{{"id":1,"title":"t","artist":"a","duration":1{extra}}}"#
            ))
            .map(|track| track.release_year)
            .map_err(|invalid| (invalid.field, invalid.reason))
        };
        assert_eq!(year(""), Ok(None));
        assert_eq!(year(r#","release_year":1997"#), Ok(Some(1997)));
        assert_eq!(year(r#","release_year":1997.0"#), Ok(Some(1997)));
        assert_eq!(year(r#","year":1962"#), Ok(Some(1962)));
        assert_eq!(year(r#","year":" 1962 ""#), Ok(Some(1962)));
        assert_eq!(year(r#","release_date":"2021-03-12""#), Ok(Some(2021)));
        assert_eq!(year(r#","release_date":"2021-02-31""#), Ok(Some(2021)));
        assert_eq!(year(r#","release_date":" 2008 ""#), Ok(Some(2008)));
        assert_eq!(
            year(r#","release_year":2015,"release_date":"1999-01-01""#),
            Ok(Some(2015))
        );
        assert_eq!(year(r#","release_year":null,"year":1900"#), Ok(Some(1900)));
        assert_eq!(year(r#","release_year":2100"#), Ok(Some(2100)));

        assert_eq!(
            year(r#","release_year":1850"#),
            Err(("release_year", Reason::OutOfRange))
        );
        assert_eq!(
            year(r#","release_date":"2101-01-01""#),
            Err(("release_date", Reason::OutOfRange))
        );
        assert_eq!(
            year(r#","release_year":"1999""#),
            Err(("release_year", Reason::WrongType))
        );
        assert_eq!(
            year(r#","year":1999.5"#),
            Err(("year", Reason::NotAnInteger))
        );
        assert_eq!(year(r#","year":"62""#), Err(("year", Reason::BadFormat)));
        assert_eq!(
            year(r#","release_date":"1999-13-01""#),
            Err(("release_date", Reason::BadFormat))
        );
        assert_eq!(
            year(r#","release_date":"May 1999""#),
            Err(("release_date", Reason::BadFormat))
        );
        assert_eq!(
            year(r#","release_date":2021"#),
            Err(("release_date", Reason::WrongType))
        );
    }

    #[test]
    fn required_fields_name_themselves() {
        assert_eq!(
            error(r#"{"id":1,"artist":"a","duration":1}"#),
            ("title", "missing")
        );
        assert_eq!(
            error(r#"{"id":1,"title":null,"artist":"a","duration":1}"#),
            ("title", "missing")
        );
        assert_eq!(
            error(r#"{"id":1,"title":"  ","artist":"a","duration":1}"#),
            ("title", "empty")
        );
        assert_eq!(
            error(r#"{"id":1,"title":42,"artist":"a","duration":1}"#),
            ("title", "wrong type")
        );
        assert_eq!(
            error(r#"{"title":"t","artist":"a","duration":1}"#),
            ("id", "missing")
        );
        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":{"id":3},"duration":1}"#),
            ("artist.name", "missing")
        );
        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":["a"],"duration":1}"#),
            ("artist", "wrong type")
        );
        assert_eq!(
            error(r#"{"id":1,"title":"t","artist":"a","album":3,"duration":1}"#),
            ("album", "wrong type")
        );
        // The first fault in the record's order wins.
        assert_eq!(error(r#"{"duration":"x","artist":5}"#), ("id", "missing"));
    }

    #[test]
    fn bodies_that_are_not_json_objects() {
        assert_eq!(error("{\"id\": 1,\n  \"title\": }"), ("body", "not JSON"));
        assert_eq!(error(""), ("body", "not JSON"));
        assert_eq!(error("7 junk"), ("body", "not JSON"));
        assert_eq!(error(r#"{"a":1e400}"#), ("body", "not JSON"));
        assert_eq!(error(r#"{"a":"\ud800"}"#), ("body", "not JSON"));
        assert_eq!(
            error(&format!("{}{}", "[".repeat(128), "]".repeat(128))),
            ("body", "not JSON")
        );
        assert_eq!(
            error(&format!("{}{}", "[".repeat(127), "]".repeat(127))),
            ("body", "not an object")
        );
        assert_eq!(error("[1, 2]"), ("body", "not an object"));
        assert_eq!(error(r#""just a string""#), ("body", "not an object"));
        assert_eq!(
            run("[1]").unwrap_err().to_string(),
            "body: not an object: got an array"
        );
        assert_eq!(
            run("{\"id\": 1,\n  \"title\": }").unwrap_err().to_string(),
            "body: not JSON: expected value at line 2 column 12"
        );
    }

    #[test]
    fn messages_read_field_reason_detail() {
        let base = r#""id":1,"title":"t","artist":"a""#;
        let message = |extra: &str| run(&format!("{{{base}{extra}}}")).unwrap_err().to_string();
        assert_eq!(
            message(r#","duration":-3"#),
            "duration: out of range: expected 1 to 4294967295 seconds, got -3"
        );
        assert_eq!(
            message(r#","duration":"3:5""#),
            "duration: bad format: expected \"m:ss\", got \"3:5\""
        );
        assert_eq!(
            message(r#","duration":1,"title":42"#),
            "title: wrong type: expected a string, got 42"
        );
        assert_eq!(message(r#","duration":1,"title":null"#), "title: missing");
        assert_eq!(
            message(&format!(r#","duration":"{}""#, "x".repeat(100))),
            format!(
                "duration: bad format: expected \"m:ss\", got \"{}\"...",
                "x".repeat(40)
            )
        );
    }

    #[test]
    fn unknown_fields_are_skipped_and_a_later_duplicate_wins() {
        let minimal = r#""id":7,"title":"T","artist":"A","duration":60"#;
        assert_eq!(
            output(&format!(
                r#"{{"credits":[{{"role":"x","name":"y"}}],{minimal},"n":-1.5e3,"z":null,"t":true}}"#
            )),
            output(&format!("{{{minimal}}}"))
        );
        assert_eq!(
            output(r#"{"id":7,"title":"first","title":"T","artist":"A","duration":60}"#),
            output(&format!("{{{minimal}}}"))
        );
    }
}

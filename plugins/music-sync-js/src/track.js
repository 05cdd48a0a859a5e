// Parsing, validation and normalisation of one music-info document, ported
// from plugins/music-sync/src/track.rs, whose header states the rules. Every
// message and every output byte must equal the Rust plugin's.
import { JsonNumber, JsonSyntaxError, parse, quote } from './json.js';
import { charCount, clean, takeChars, toLowercase, trim } from './text.js';

const YEAR_MIN = 1900;
const YEAR_MAX = 2100;
const U32_MAX = 4294967295;

/** A message for the dead letters; `normalise` throws nothing else. */
export class Invalid extends Error {}

/**
 * Parse `body` (a Uint8Array) and normalise it; `sourceUrl` is recorded as is.
 * Returns the record's fields in output order.
 */
export function normalise(body, sourceUrl) {
    let document;
    try {
        document = parse(body);
    } catch (error) {
        if (error instanceof JsonSyntaxError) {
            throw new Invalid(
                `malformed JSON at line ${error.line} column ${error.column}: ${error.what}`,
            );
        }
        throw error;
    }
    if (!(document instanceof Map)) {
        throw new Invalid(`expected a JSON object at the top level, got ${describe(document)}`);
    }
    // Object literal properties are evaluated in order: the first invalid
    // field reported is the same as in Rust.
    return {
        id: id(document),
        title: requiredString(document, 'title'),
        artist: artist(document),
        album: optionalString(document, 'album'),
        genre: lowercaseOrNull(optionalString(document, 'genre')),
        durationSeconds: duration(document),
        releaseYear: releaseYear(document),
        sourceUrl,
    };
}

const lowercaseOrNull = (text) => (text === null ? null : toLowercase(text));

/** The record as serde_json writes the Rust `Track`. */
export function encode(track) {
    const optional = (text) => (text === null ? 'null' : quote(text));
    return '{"id":' + quote(track.id)
        + ',"title":' + quote(track.title)
        + ',"artist":' + quote(track.artist)
        + ',"album":' + optional(track.album)
        + ',"genre":' + optional(track.genre)
        + ',"duration_seconds":' + track.durationSeconds
        + ',"release_year":' + (track.releaseYear === null ? 'null' : track.releaseYear)
        + ',"source_url":' + quote(track.sourceUrl)
        + '}';
}

/** A field's value, treating `null` as absent (undefined). */
function field(fields, name) {
    const value = fields.get(name);
    return value === null ? undefined : value;
}

/** The first of `names` that is present: [name, value], or undefined. */
function firstField(fields, names) {
    for (const name of names) {
        const value = field(fields, name);
        if (value !== undefined) return [name, value];
    }
    return undefined;
}

/** A short description of a JSON value for messages: scalars as JSON, long strings cut. */
function describe(value) {
    const MAX_CHARS = 40;
    if (Array.isArray(value)) return 'an array';
    if (value instanceof Map) return 'an object';
    if (typeof value === 'string') {
        return charCount(value) > MAX_CHARS ? `${quote(takeChars(value, MAX_CHARS))}...` : quote(value);
    }
    return String(value); // null, true, false, JsonNumber
}

const missing = (name) => new Invalid(`missing field \`${name}\``);

function stringValue(value, what) {
    if (typeof value === 'string') return clean(value);
    throw new Invalid(`field \`${what}\` must be a string, got ${describe(value)}`);
}

function nonEmpty(text, what) {
    if (text === '') throw new Invalid(`field \`${what}\` must not be empty`);
    return text;
}

function requiredString(fields, name) {
    const value = field(fields, name);
    if (value === undefined) throw missing(name);
    return nonEmpty(stringValue(value, name), name);
}

function optionalString(fields, name) {
    const value = field(fields, name);
    if (value === undefined) return null;
    const text = stringValue(value, name);
    return text === '' ? null : text;
}

function id(fields) {
    const value = field(fields, 'id');
    if (value === undefined) throw missing('id');
    if (typeof value === 'string') return nonEmpty(clean(value), 'id');
    if (value instanceof JsonNumber && value.isInteger()) return value.toString();
    throw new Invalid(`field \`id\` must be a string or an integer, got ${describe(value)}`);
}

function artist(fields) {
    const value = field(fields, 'artist');
    if (value === undefined) throw missing('artist');
    if (typeof value === 'string') return nonEmpty(clean(value), 'artist');
    if (value instanceof Map) {
        const name = field(value, 'name');
        if (name === undefined) throw missing('artist.name');
        return nonEmpty(stringValue(name, 'artist.name'), 'artist.name');
    }
    throw new Invalid(
        `field \`artist\` must be a string or an object with a \`name\`, got ${describe(value)}`,
    );
}

/** `f64::round`: half away from zero. */
function roundHalfAwayFromZero(x) {
    const truncated = Math.trunc(x);
    return Math.abs(x - truncated) >= 0.5 ? truncated + Math.sign(x) : truncated;
}

function duration(fields) {
    const found = firstField(fields, ['duration', 'duration_ms']);
    if (found === undefined) throw new Invalid('missing field `duration` (or `duration_ms`)');
    const [name, value] = found;
    let seconds;
    let unit;
    if (name === 'duration' && value instanceof JsonNumber) {
        seconds = value.asF64();
        unit = 'seconds';
    } else if (name === 'duration' && typeof value === 'string') {
        const total = minutesSeconds(trim(value));
        if (total === null) {
            throw new Invalid(
                `field \`duration\` must be a number of seconds or an "m:ss" string, got ${describe(value)}`,
            );
        }
        seconds = Number(total); // u64 as f64
        unit = 'seconds';
    } else if (name === 'duration_ms' && value instanceof JsonNumber) {
        seconds = value.asF64() / 1000;
        unit = 'milliseconds';
    } else {
        const expected = name === 'duration'
            ? 'a number of seconds or an "m:ss" string'
            : 'a number of milliseconds';
        throw new Invalid(`field \`${name}\` must be ${expected}, got ${describe(value)}`);
    }
    const rounded = roundHalfAwayFromZero(seconds);
    if (rounded >= 1 && rounded <= U32_MAX) return rounded;
    throw new Invalid(
        `field \`${name}\` must be a positive number of ${unit}, got ${describe(value)}`,
    );
}

const allDigits = (text) => text.length > 0 && /^[0-9]+$/.test(text);

/** Seconds in an "m:ss" string (a BigInt), or null. */
function minutesSeconds(text) {
    const colon = text.indexOf(':');
    if (colon < 0) return null;
    const minutes = text.slice(0, colon);
    const seconds = text.slice(colon + 1);
    if (!allDigits(minutes) || seconds.length !== 2 || !allDigits(seconds)) return null;
    const m = BigInt(minutes);
    const s = BigInt(seconds);
    if (m > 18446744073709551615n || s >= 60n) return null; // u64 parse, then the range
    const total = m * 60n + s;
    return total > 18446744073709551615n ? null : total; // checked_mul, checked_add
}

function releaseYear(fields) {
    const found = firstField(fields, ['release_year', 'year', 'release_date']);
    if (found === undefined) return null;
    const [name, value] = found;
    let year = null;
    if ((name === 'release_year' || name === 'year') && value instanceof JsonNumber
        && value.isInteger()) {
        year = value.asI64(); // a BigInt, or null above i64::MAX
    } else if (name === 'year' && typeof value === 'string') {
        year = yearOf(trim(value), false);
    } else if (name === 'release_date' && typeof value === 'string') {
        year = yearOf(trim(value), true);
    }
    if (year === null) {
        const expected = name === 'release_year'
            ? 'an integer'
            : name === 'year'
                ? 'an integer or a "YYYY" string'
                : 'a "YYYY-MM-DD" or "YYYY" string';
        throw new Invalid(`field \`${name}\` must be ${expected}, got ${describe(value)}`);
    }
    if (year < YEAR_MIN || year > YEAR_MAX) {
        throw new Invalid(
            `field \`${name}\` must be a year between ${YEAR_MIN} and ${YEAR_MAX}, got ${describe(value)}`,
        );
    }
    return Number(year);
}

/** The year of "YYYY" or, if `fullDate`, "YYYY-MM-DD" (month 01-12, day 01-31). */
function yearOf(text, fullDate) {
    const digits = (part, length) => part.length === length && /^[0-9]+$/.test(part);
    const parts = text.split('-');
    if (!digits(parts[0], 4)) return null;
    if (parts.length === 1) return Number(parts[0]);
    if (parts.length === 3 && fullDate && digits(parts[1], 2) && digits(parts[2], 2)) {
        const month = Number(parts[1]);
        const day = Number(parts[2]);
        if (month < 1 || month > 12 || day < 1 || day > 31) return null;
        return Number(parts[0]);
    }
    return null;
}

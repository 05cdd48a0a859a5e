// Parsing, validation and normalisation of one music-info document: the
// rules stated at the top of plugins/music-sync/src/track.rs, with
// JSON.parse. Errors read `<field>: <reason>` or `<field>: <reason>: <detail>`
// with the reasons listed there.

/** Unicode White_Space, which Rust's `char::is_whitespace` uses (`\s` differs). */
const WHITESPACE = /[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/g;
/** serde_json refuses arrays and objects nested deeper. */
const MAX_DEPTH = 127;
const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const YEAR_MIN = 1900;
const YEAR_MAX = 2100;
const SECONDS_MAX = 4294967295;

// Strict UTF-8, and a leading byte-order mark is kept (so JSON.parse refuses it).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A refused document; its message is the job's error. */
export class Invalid extends Error {
    constructor(field, reason, detail) {
        super(detail === undefined ? `${field}: ${reason}` : `${field}: ${reason}: ${detail}`);
    }
}

/**
 * Parse `body` (a Uint8Array) and normalise it; `sourceUrl` is recorded as
 * is. The record's keys are in output order, for JSON.stringify.
 */
export function normalise(body, sourceUrl) {
    const document = parse(body);
    if (!isObject(document)) {
        throw new Invalid('body', 'not an object', `got ${describe(document)}`);
    }
    // Object literal properties are evaluated in order, so the first fault
    // reported is the same as in the other ports.
    return {
        id: id(document),
        title: requiredString(document, 'title'),
        artist: artist(document),
        album: optionalString(document, 'album'),
        genre: asciiLowercase(optionalString(document, 'genre')),
        duration_seconds: duration(document),
        release_year: releaseYear(document),
        source_url: sourceUrl,
    };
}

function parse(body) {
    let document;
    try {
        document = JSON.parse(decoder.decode(body));
    } catch (error) {
        throw new Invalid('body', 'not JSON', error.message);
    }
    const problem = beyondSerde(document, 1);
    if (problem !== null) throw new Invalid('body', 'not JSON', problem);
    return document;
}

/**
 * What JSON.parse accepts and serde_json does not, or null. A `for...in`
 * loop: StarlingMonkey has no JIT, and `for (const [key, item] of
 * Object.entries(value))` runs SpiderMonkey's iterator protocol, itself
 * JavaScript, in the interpreter for every member (BENCHMARKS.md, the
 * JavaScript and Python section, has the difference).
 */
function beyondSerde(value, depth) {
    if (typeof value === 'number') return Number.isFinite(value) ? null : 'number out of range';
    if (typeof value === 'string') return value.isWellFormed() ? null : 'lone surrogate in a string';
    if (value === null || typeof value !== 'object') return null;
    if (depth > MAX_DEPTH) return `nested more than ${MAX_DEPTH} deep`;
    // JSON.parse makes plain objects and arrays: no inherited enumerable keys.
    for (const key in value) {
        if (!key.isWellFormed()) return 'lone surrogate in a key';
        const problem = beyondSerde(value[key], depth + 1);
        if (problem !== null) return problem;
    }
    return null;
}

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

const clean = (text) => text.replace(WHITESPACE, ' ').replace(/^ | $/g, '');

const asciiLowercase = (text) => text && text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/** A JSON value in a message: scalars as JSON (long strings cut), containers by kind. */
function describe(value) {
    if (Array.isArray(value)) return 'an array';
    if (isObject(value)) return 'an object';
    if (typeof value === 'string' && value.length > 40) return `${JSON.stringify(value.slice(0, 40))}...`;
    return JSON.stringify(value);
}

/** A field's value, treating `null` as absent (undefined). */
function field(fields, name) {
    return Object.hasOwn(fields, name) && fields[name] !== null ? fields[name] : undefined;
}

const missing = (name) => new Invalid(name, 'missing');
const wrongType = (name, expected, value) =>
    new Invalid(name, 'wrong type', `expected ${expected}, got ${describe(value)}`);

function nonEmpty(name, text) {
    const cleaned = clean(text);
    if (cleaned === '') throw new Invalid(name, 'empty');
    return cleaned;
}

function whole(name, number) {
    if (!Number.isInteger(number)) throw new Invalid(name, 'not an integer', `got ${describe(number)}`);
    return number;
}

function requiredString(fields, name) {
    const value = field(fields, name);
    if (value === undefined) throw missing(name);
    if (typeof value !== 'string') throw wrongType(name, 'a string', value);
    return nonEmpty(name, value);
}

function optionalString(fields, name) {
    const value = field(fields, name);
    if (value === undefined) return null;
    if (typeof value !== 'string') throw wrongType(name, 'a string', value);
    return clean(value) || null;
}

function id(fields) {
    const value = field(fields, 'id');
    if (value === undefined) throw missing('id');
    if (typeof value === 'string') return nonEmpty('id', value);
    if (typeof value !== 'number') throw wrongType('id', 'a string or a number', value);
    if (Math.abs(whole('id', value)) > MAX_SAFE_INTEGER) {
        throw new Invalid('id', 'out of range', `expected at most 2^53 - 1 in magnitude, got ${value}`);
    }
    return String(value); // -0 prints as "0"
}

function artist(fields) {
    const value = field(fields, 'artist');
    if (value === undefined) throw missing('artist');
    if (typeof value === 'string') return nonEmpty('artist', value);
    if (!isObject(value)) throw wrongType('artist', 'a string or an object', value);
    const name = field(value, 'name');
    if (name === undefined) throw missing('artist.name');
    if (typeof name !== 'string') throw wrongType('artist.name', 'a string', name);
    return nonEmpty('artist.name', name);
}

function duration(fields) {
    let name = 'duration';
    let value = field(fields, name);
    let seconds;
    if (value === undefined) {
        name = 'duration_ms';
        value = field(fields, name);
        if (value === undefined) {
            throw new Invalid('duration', 'missing', 'give `duration` (seconds or "m:ss") or `duration_ms`');
        }
        if (typeof value !== 'number') throw wrongType(name, 'a number of milliseconds', value);
        seconds = value / 1000;
    } else if (typeof value === 'number') {
        seconds = value;
    } else if (typeof value === 'string') {
        seconds = minutesSeconds(clean(value));
        if (seconds === null) throw new Invalid(name, 'bad format', `expected "m:ss", got ${describe(value)}`);
    } else {
        throw wrongType(name, 'a number of seconds or an "m:ss" string', value);
    }
    // Math.round rounds halves up, which for the positive values accepted
    // is Rust's `f64::round` (halves away from zero).
    const rounded = Math.round(seconds);
    if (!(rounded >= 1 && rounded <= SECONDS_MAX)) {
        throw new Invalid(name, 'out of range', `expected 1 to ${SECONDS_MAX} seconds, got ${describe(value)}`);
    }
    return rounded;
}

/** Seconds in an "m:ss" string (ASCII digits, seconds below 60), or null. */
function minutesSeconds(text) {
    const match = /^([0-9]+):([0-5][0-9])$/.exec(text);
    return match === null ? null : Number(match[1]) * 60 + Number(match[2]);
}

function releaseYear(fields) {
    const name = ['release_year', 'year', 'release_date'].find((key) => field(fields, key) !== undefined);
    if (name === undefined) return null;
    const value = fields[name];
    let year;
    if (typeof value === 'number' && name !== 'release_date') {
        year = whole(name, value);
    } else if (typeof value === 'string' && name !== 'release_year') {
        const pattern = name === 'year' ? /^([0-9]{4})$/ : /^([0-9]{4})(?:-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?$/;
        const match = pattern.exec(clean(value));
        if (match === null) {
            const expected = name === 'year' ? '"YYYY"' : '"YYYY-MM-DD" or "YYYY"';
            throw new Invalid(name, 'bad format', `expected ${expected}, got ${describe(value)}`);
        }
        year = Number(match[1]);
    } else {
        const expected = {
            release_year: 'a number',
            year: 'a number or a "YYYY" string',
            release_date: 'a "YYYY-MM-DD" or "YYYY" string',
        }[name];
        throw wrongType(name, expected, value);
    }
    if (year < YEAR_MIN || year > YEAR_MAX) {
        throw new Invalid(name, 'out of range', `expected ${YEAR_MIN} to ${YEAR_MAX}, got ${describe(value)}`);
    }
    return year;
}

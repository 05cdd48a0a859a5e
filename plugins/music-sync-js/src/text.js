// Rust's string rules, which music-sync's normalisation is written in:
// `char::is_whitespace`, `str::trim`, `str::split_whitespace` and
// `str::to_lowercase` (with its final-sigma rule). JavaScript's own `trim`,
// `\s` and `toLowerCase` differ (U+FEFF, U+0085, the Unicode version), so the
// tables come from the Rust standard library (unicode-tables.js, generated).
import { CASED, CASE_IGNORABLE, LOWER, LOWER_MULTI, WHITESPACE } from './unicode-tables.js';

// Native regular expressions do the scanning (the engine has no JIT inside a
// component); every White_Space code point is in the BMP.
const CLASS = `[${WHITESPACE.map((c) => `\\u${c.toString(16).padStart(4, '0')}`).join('')}]`;
const WHITESPACE_RUNS = new RegExp(`${CLASS}+`, 'g');
const ASCII = /^[\u0000-\u007f]*$/;
const whitespace = new Set(WHITESPACE);

/** `str::trim` (scanning code units is exact: no White_Space is astral). */
export function trim(text) {
    let start = 0;
    let end = text.length;
    while (start < end && whitespace.has(text.charCodeAt(start))) start++;
    while (end > start && whitespace.has(text.charCodeAt(end - 1))) end--;
    return text.slice(start, end);
}

/** `text.split_whitespace().collect::<Vec<_>>().join(" ")`. */
export function clean(text) {
    // Each run becomes one space; a run at either end leaves one to drop.
    let cleaned = text.replace(WHITESPACE_RUNS, ' ');
    if (cleaned.startsWith(' ')) cleaned = cleaned.slice(1);
    if (cleaned.endsWith(' ')) cleaned = cleaned.slice(0, -1);
    return cleaned;
}

/** Whether `codePoint` is in a table of sorted (first, last) pairs. */
function inRanges(table, codePoint) {
    let low = 0;
    let high = table.length / 2 - 1;
    while (low <= high) {
        const middle = (low + high) >> 1;
        if (codePoint < table[2 * middle]) high = middle - 1;
        else if (codePoint > table[2 * middle + 1]) low = middle + 1;
        else return true;
    }
    return false;
}

/** The lower case of one code point other than U+03A3, as code points. */
function lowerCodePoint(codePoint) {
    if (codePoint < 0x80) {
        return codePoint >= 0x41 && codePoint <= 0x5a ? codePoint + 32 : codePoint;
    }
    let low = 0;
    let high = LOWER.length / 4 - 1;
    while (low <= high) {
        const middle = (low + high) >> 1;
        const first = LOWER[4 * middle];
        const last = LOWER[4 * middle + 1];
        if (codePoint < first) high = middle - 1;
        else if (codePoint > last) low = middle + 1;
        else {
            const stride = LOWER[4 * middle + 2];
            return (codePoint - first) % stride === 0 ? codePoint + LOWER[4 * middle + 3] : codePoint;
        }
    }
    return codePoint;
}

/** Skipping case-ignorable code points from `index` by `step`, is the next one cased? */
function caseIgnorableThenCased(codePoints, index, step) {
    for (let i = index; i >= 0 && i < codePoints.length; i += step) {
        if (!inRanges(CASE_IGNORABLE, codePoints[i])) return inRanges(CASED, codePoints[i]);
    }
    return false;
}

/** `str::to_lowercase`. */
export function toLowercase(text) {
    if (ASCII.test(text)) return text.toLowerCase(); // exact for ASCII
    const codePoints = Array.from(text, (ch) => ch.codePointAt(0));
    const out = [];
    for (let i = 0; i < codePoints.length; i++) {
        const codePoint = codePoints[i];
        if (codePoint === 0x3a3) {
            // Σ is ς at the end of a word, σ elsewhere (Unicode Final_Sigma).
            const final = caseIgnorableThenCased(codePoints, i - 1, -1)
                && !caseIgnorableThenCased(codePoints, i + 1, 1);
            out.push(final ? 0x3c2 : 0x3c3);
            continue;
        }
        const multi = LOWER_MULTI.get(codePoint);
        if (multi !== undefined) out.push(...multi);
        else out.push(lowerCodePoint(codePoint));
    }
    let result = '';
    for (let i = 0; i < out.length; i += 4096) {
        result += String.fromCodePoint(...out.slice(i, i + 4096));
    }
    return result;
}

/** The number of code points (Rust's `chars().count()`). */
export function charCount(text) {
    let count = 0;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c < 0xd800 || c > 0xdbff) count++;
    }
    return count;
}

/** The first `n` code points. */
export function takeChars(text, n) {
    let i = 0;
    for (let taken = 0; taken < n && i < text.length; taken++) {
        const c = text.charCodeAt(i);
        i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    }
    return text.slice(0, i);
}

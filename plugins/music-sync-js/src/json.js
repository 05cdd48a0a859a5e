// A JSON reader and writer that behave exactly like serde_json 1.0 as the
// Rust music-sync plugin uses it (`from_slice::<Value>` without the
// `float_roundtrip` and `arbitrary_precision` features, `to_string`), so that
// this port fails on the same documents with the same messages and writes the
// same bytes. JSON.parse cannot serve: it reports other errors, accepts lone
// surrogates, and loses the integer/float distinction and 64-bit integers.
//
// Values: null, true, false, strings, JsonNumber, arrays (Array) and objects
// (Map, the last of duplicate keys wins, as in serde_json).

/** A JSON number as serde_json keeps it: u64, i64 (negative) or f64. */
export class JsonNumber {
    constructor(kind, value) {
        this.kind = kind; // 'u64' | 'i64' (value: BigInt) or 'f64' (value: number)
        this.value = value;
    }

    /** serde_json's `is_i64() || is_u64()`. */
    isInteger() {
        return this.kind !== 'f64';
    }

    /** serde_json's `as_f64()`. */
    asF64() {
        return this.kind === 'f64' ? this.value : Number(this.value);
    }

    /** serde_json's `as_i64()`: null for a u64 above i64::MAX or a float. */
    asI64() {
        if (this.kind === 'f64' || this.value > I64_MAX) return null;
        return this.value;
    }

    /** serde_json's Display: itoa for integers, ryu for floats. */
    toString() {
        return this.kind === 'f64' ? formatFloat(this.value) : this.value.toString();
    }
}

const U64_MAX = 18446744073709551615n;
const I64_MAX = 9223372036854775807n;
const I32_MAX = 2147483647;
const POW10 = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));
const RECURSION_LIMIT = 128;
const RAW_VALUE_TOKEN = '$serde_json::private::RawValue';

const EOF_LIST = 'EOF while parsing a list';
const EOF_OBJECT = 'EOF while parsing an object';
const EOF_STRING = 'EOF while parsing a string';
const EOF_VALUE = 'EOF while parsing a value';
const EXPECTED_COLON = 'expected `:`';
const EXPECTED_LIST_COMMA_OR_END = 'expected `,` or `]`';
const EXPECTED_OBJECT_COMMA_OR_END = 'expected `,` or `}`';
const EXPECTED_IDENT = 'expected ident';
const EXPECTED_VALUE = 'expected value';
const INVALID_ESCAPE = 'invalid escape';
const INVALID_NUMBER = 'invalid number';
const NUMBER_OUT_OF_RANGE = 'number out of range';
const INVALID_UNICODE = 'invalid unicode code point';
const CONTROL_CHARACTER = 'control character (\\u0000-\\u001F) found while parsing a string';
const KEY_MUST_BE_A_STRING = 'key must be a string';
const LONE_LEADING_SURROGATE = 'lone leading surrogate in hex escape';
const TRAILING_COMMA = 'trailing comma';
const TRAILING_CHARACTERS = 'trailing characters';
const UNEXPECTED_END_OF_HEX_ESCAPE = 'unexpected end of hex escape';
const RECURSION_LIMIT_EXCEEDED = 'recursion limit exceeded';

/** A syntax error with serde_json's message and 1-based line, byte column. */
export class JsonSyntaxError extends Error {
    constructor(what, line, column) {
        super(`${what} at line ${line} column ${column}`);
        this.what = what;
        this.line = line;
        this.column = column;
    }
}

// ignoreBOM: a string that starts with U+FEFF keeps it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();
const CONTROL_OR_REPLACEMENT = /[\u0000-\u001f\ufffd]/;

const isDigit = (b) => b >= 0x30 && b <= 0x39;

/** Parse `bytes` (a Uint8Array) into a value, or throw JsonSyntaxError. */
export function parse(bytes) {
    const parser = new Parser(bytes);
    const value = parser.parseValue();
    if (parser.parseWhitespace() !== -1) throw parser.peekError(TRAILING_CHARACTERS);
    return value;
}

class Parser {
    constructor(bytes) {
        this.bytes = bytes;
        this.index = 0;
        this.remainingDepth = RECURSION_LIMIT;
    }

    // -1 stands for "end of input" (serde_json's None).
    peek() {
        return this.index < this.bytes.length ? this.bytes[this.index] : -1;
    }

    peekOrNull() {
        return this.index < this.bytes.length ? this.bytes[this.index] : 0;
    }

    next() {
        return this.index < this.bytes.length ? this.bytes[this.index++] : -1;
    }

    positionOf(index) {
        const bytes = this.bytes;
        let startOfLine = 0;
        for (let i = index - 1; i >= 0; i--) {
            if (bytes[i] === 0x0a) {
                startOfLine = i + 1;
                break;
            }
        }
        let line = 1;
        for (let i = 0; i < startOfLine; i++) if (bytes[i] === 0x0a) line++;
        return { line, column: index - startOfLine };
    }

    /** An error caused by the byte last consumed. */
    error(what) {
        const { line, column } = this.positionOf(this.index);
        return new JsonSyntaxError(what, line, column);
    }

    /** An error caused by the byte that would be consumed next. */
    peekError(what) {
        const { line, column } = this.positionOf(Math.min(this.bytes.length, this.index + 1));
        return new JsonSyntaxError(what, line, column);
    }

    parseWhitespace() {
        for (;;) {
            const b = this.peek();
            if (b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d) this.index++;
            else return b;
        }
    }

    parseValue() {
        const peek = this.parseWhitespace();
        switch (peek) {
            case -1:
                throw this.peekError(EOF_VALUE);
            case 0x6e: // n
                this.index++;
                this.parseIdent('ull');
                return null;
            case 0x74: // t
                this.index++;
                this.parseIdent('rue');
                return true;
            case 0x66: // f
                this.index++;
                this.parseIdent('alse');
                return false;
            case 0x2d: // -
                this.index++;
                return this.parseInteger(false);
            case 0x22: // "
                this.index++;
                return this.parseString();
            case 0x5b: // [
                return this.parseArray();
            case 0x7b: // {
                return this.parseObject();
            default:
                if (isDigit(peek)) return this.parseInteger(true);
                throw this.peekError(EXPECTED_VALUE);
        }
    }

    enter() {
        if (--this.remainingDepth === 0) throw this.peekError(RECURSION_LIMIT_EXCEEDED);
        this.index++;
    }

    parseArray() {
        this.enter();
        const values = [];
        for (let first = true; ; first = false) {
            const peek = this.parseWhitespace();
            if (peek === -1) throw this.peekError(EOF_LIST);
            if (peek === 0x5d) break;
            if (!first) {
                if (peek !== 0x2c) throw this.peekError(EXPECTED_LIST_COMMA_OR_END);
                this.index++;
                const after = this.parseWhitespace();
                if (after === 0x5d) throw this.peekError(TRAILING_COMMA);
                if (after === -1) throw this.peekError(EOF_VALUE);
            }
            values.push(this.parseValue());
        }
        this.remainingDepth++;
        this.index++; // the `]` seen above
        return values;
    }

    parseObject() {
        this.enter();
        const fields = new Map();
        for (let first = true; ; first = false) {
            const peek = this.parseWhitespace();
            if (peek === -1) throw this.peekError(EOF_OBJECT);
            if (peek === 0x7d) break;
            if (first) {
                if (peek !== 0x22) throw this.peekError(KEY_MUST_BE_A_STRING);
            } else {
                if (peek !== 0x2c) throw this.peekError(EXPECTED_OBJECT_COMMA_OR_END);
                this.index++;
                const after = this.parseWhitespace();
                if (after === 0x7d) throw this.peekError(TRAILING_COMMA);
                if (after === -1) throw this.peekError(EOF_VALUE);
                if (after !== 0x22) throw this.peekError(KEY_MUST_BE_A_STRING);
            }
            this.index++; // the opening quote
            const key = this.parseString();
            const colon = this.parseWhitespace();
            if (colon === -1) throw this.peekError(EOF_OBJECT);
            if (colon !== 0x3a) throw this.peekError(EXPECTED_COLON);
            this.index++;
            if (first && key === RAW_VALUE_TOKEN) return this.parseRawValue();
            fields.set(key, this.parseValue());
        }
        this.remainingDepth++;
        this.index++; // the `}` seen above
        return fields;
    }

    /**
     * serde_json's `raw_value` feature (on in the Rust plugin's build) makes an
     * object whose first key is RAW_VALUE_TOKEN stand for the JSON document in
     * that key's string value; the rest of the object must be just `}`.
     */
    parseRawValue() {
        const peek = this.parseWhitespace();
        if (peek === -1) throw this.peekError(EOF_VALUE);
        if (peek !== 0x22) throw this.invalidRawValue();
        this.index++;
        const text = this.parseString();
        // A separate document (fresh depth, positions within `text`).
        const value = parse(encoder.encode(text));
        this.remainingDepth++;
        const end = this.parseWhitespace();
        if (end === 0x7d) {
            this.index++;
            return value;
        }
        if (end === 0x2c) throw this.peekError(TRAILING_COMMA);
        if (end === -1) throw this.peekError(EOF_OBJECT);
        throw this.peekError(TRAILING_CHARACTERS);
    }

    /** serde_json's "invalid type" error for a raw value that is not a string. */
    invalidRawValue() {
        let unexpected;
        const c = this.peekOrNull();
        if (c === 0x6e) {
            this.index++;
            this.parseIdent('ull');
            unexpected = 'null';
        } else if (c === 0x74 || c === 0x66) {
            this.index++;
            this.parseIdent(c === 0x74 ? 'rue' : 'alse');
            unexpected = `boolean \`${c === 0x74}\``;
        } else if (c === 0x2d || isDigit(c)) {
            if (c === 0x2d) this.index++;
            const number = this.parseInteger(c !== 0x2d);
            unexpected = number.kind === 'f64'
                ? `floating point \`${formatFloat(number.value)}\``
                : `integer \`${number.value}\``;
        } else if (c === 0x5b) {
            unexpected = 'sequence';
        } else if (c === 0x7b) {
            unexpected = 'map';
        } else {
            return this.peekError(EXPECTED_VALUE);
        }
        return this.error(`invalid type: ${unexpected}, expected raw value`);
    }

    parseIdent(rest) {
        for (let i = 0; i < rest.length; i++) {
            const b = this.next();
            if (b === -1) throw this.error(EOF_VALUE);
            if (b !== rest.charCodeAt(i)) throw this.error(EXPECTED_IDENT);
        }
    }

    // ---- strings ---------------------------------------------------------

    /** The string after its opening quote, up to and including the closing one. */
    parseString() {
        // Fast path, with native scans (the engine has no JIT inside a
        // component): no escape, no control character and valid UTF-8 up to
        // the next quote. Anything else takes the exact byte-by-byte path.
        const bytes = this.bytes;
        const quote = bytes.indexOf(0x22, this.index);
        if (quote >= 0) {
            const content = bytes.subarray(this.index, quote);
            if (content.indexOf(0x5c) < 0) {
                const text = decoder.decode(content);
                // U+FFFD: maybe invalid UTF-8 (or a genuine U+FFFD): let the slow path decide.
                if (!CONTROL_OR_REPLACEMENT.test(text)) {
                    this.index = quote + 1;
                    return text;
                }
            }
        }
        return this.parseStringSlowly();
    }

    parseStringSlowly() {
        const bytes = this.bytes;
        let scratch = null; // decoded bytes so far, once an escape was seen
        let start = this.index;
        for (;;) {
            let i = this.index;
            while (i < bytes.length) {
                const b = bytes[i];
                if (b === 0x22 || b === 0x5c || b < 0x20) break;
                i++;
            }
            this.index = i;
            if (i === bytes.length) throw this.error(EOF_STRING);
            const b = bytes[i];
            if (b === 0x22) {
                let content;
                if (scratch === null) {
                    content = bytes.subarray(start, i);
                } else {
                    pushBytes(scratch, bytes, start, i);
                    content = Uint8Array.from(scratch);
                }
                this.index = i + 1;
                const validUpTo = utf8ValidUpTo(content);
                if (validUpTo !== content.length) {
                    const { line, column } = this.positionOf(this.index);
                    throw new JsonSyntaxError(
                        INVALID_UNICODE,
                        line,
                        Math.max(0, column - (content.length - validUpTo)),
                    );
                }
                return decoder.decode(content);
            }
            if (b === 0x5c) {
                if (scratch === null) scratch = [];
                pushBytes(scratch, bytes, start, i);
                this.index = i + 1;
                this.parseEscape(scratch);
                start = this.index;
            } else {
                this.index = i + 1;
                throw this.error(CONTROL_CHARACTER);
            }
        }
    }

    parseEscape(scratch) {
        const ch = this.next();
        switch (ch) {
            case -1:
                throw this.error(EOF_STRING);
            case 0x22:
            case 0x5c:
            case 0x2f:
                scratch.push(ch);
                return;
            case 0x62: // b
                scratch.push(0x08);
                return;
            case 0x66: // f
                scratch.push(0x0c);
                return;
            case 0x6e: // n
                scratch.push(0x0a);
                return;
            case 0x72: // r
                scratch.push(0x0d);
                return;
            case 0x74: // t
                scratch.push(0x09);
                return;
            case 0x75: // u
                this.parseUnicodeEscape(scratch);
                return;
            default:
                throw this.error(INVALID_ESCAPE);
        }
    }

    decodeHexEscape() {
        const bytes = this.bytes;
        if (bytes.length - this.index < 4) {
            this.index = bytes.length;
            throw this.error(EOF_STRING);
        }
        let n = 0;
        let valid = true;
        for (let k = 0; k < 4; k++) {
            const b = bytes[this.index + k];
            let digit;
            if (b >= 0x30 && b <= 0x39) digit = b - 0x30;
            else if (b >= 0x41 && b <= 0x46) digit = b - 0x41 + 10;
            else if (b >= 0x61 && b <= 0x66) digit = b - 0x61 + 10;
            else valid = false;
            n = n * 16 + (digit ?? 0);
        }
        this.index += 4;
        if (!valid) throw this.error(INVALID_ESCAPE);
        return n;
    }

    parseUnicodeEscape(scratch) {
        const n = this.decodeHexEscape();
        if (n >= 0xdc00 && n <= 0xdfff) throw this.error(LONE_LEADING_SURROGATE);
        if (n < 0xd800 || n > 0xdbff) {
            pushCodePoint(scratch, n);
            return;
        }
        for (const expected of [0x5c, 0x75]) {
            const peek = this.peek();
            if (peek === -1) throw this.error(EOF_STRING);
            this.index++;
            if (peek !== expected) throw this.error(UNEXPECTED_END_OF_HEX_ESCAPE);
        }
        const n2 = this.decodeHexEscape();
        if (n2 < 0xdc00 || n2 > 0xdfff) throw this.error(LONE_LEADING_SURROGATE);
        pushCodePoint(scratch, (((n - 0xd800) << 10) | (n2 - 0xdc00)) + 0x10000);
    }

    // ---- numbers ---------------------------------------------------------

    parseInteger(positive) {
        const first = this.next();
        if (first === -1) throw this.error(EOF_VALUE);
        if (first === 0x30) {
            if (isDigit(this.peekOrNull())) throw this.peekError(INVALID_NUMBER);
            return this.parseNumber(positive, 0n);
        }
        if (!isDigit(first)) throw this.error(INVALID_NUMBER);
        let significand = BigInt(first - 0x30);
        for (;;) {
            const c = this.peekOrNull();
            if (!isDigit(c)) return this.parseNumber(positive, significand);
            const next = significand * 10n + BigInt(c - 0x30);
            if (next > U64_MAX) {
                return new JsonNumber('f64', this.parseLongInteger(positive, significand));
            }
            this.index++;
            significand = next;
        }
    }

    parseNumber(positive, significand) {
        const c = this.peekOrNull();
        if (c === 0x2e) return new JsonNumber('f64', this.parseDecimal(positive, significand, 0));
        if (c === 0x65 || c === 0x45) {
            return new JsonNumber('f64', this.parseExponent(positive, significand, 0));
        }
        if (positive) return new JsonNumber('u64', significand);
        // -0 and anything below i64::MIN become floats, as in serde_json.
        if (significand === 0n || significand > I64_MAX + 1n) {
            return new JsonNumber('f64', -Number(significand));
        }
        return new JsonNumber('i64', -significand);
    }

    parseDecimal(positive, significand, exponentBeforeDecimalPoint) {
        this.index++; // '.'
        let exponentAfterDecimalPoint = 0;
        for (;;) {
            const c = this.peekOrNull();
            if (!isDigit(c)) break;
            const next = significand * 10n + BigInt(c - 0x30);
            if (next > U64_MAX) {
                return this.parseDecimalOverflow(
                    positive,
                    significand,
                    exponentBeforeDecimalPoint + exponentAfterDecimalPoint,
                );
            }
            this.index++;
            significand = next;
            exponentAfterDecimalPoint--;
        }
        if (exponentAfterDecimalPoint === 0) {
            throw this.peekError(this.peek() === -1 ? EOF_VALUE : INVALID_NUMBER);
        }
        const exponent = exponentBeforeDecimalPoint + exponentAfterDecimalPoint;
        const c = this.peekOrNull();
        if (c === 0x65 || c === 0x45) return this.parseExponent(positive, significand, exponent);
        return this.f64FromParts(positive, significand, exponent);
    }

    parseExponent(positive, significand, startingExponent) {
        this.index++; // 'e' or 'E'
        let positiveExponent = true;
        const sign = this.peekOrNull();
        if (sign === 0x2b) {
            this.index++;
        } else if (sign === 0x2d) {
            this.index++;
            positiveExponent = false;
        }
        const first = this.next();
        if (first === -1) throw this.error(EOF_VALUE);
        if (!isDigit(first)) throw this.error(INVALID_NUMBER);
        let exponent = first - 0x30;
        for (;;) {
            const c = this.peekOrNull();
            if (!isDigit(c)) break;
            this.index++;
            const next = exponent * 10 + (c - 0x30);
            if (next > I32_MAX) {
                return this.parseExponentOverflow(positive, significand === 0n, positiveExponent);
            }
            exponent = next;
        }
        // i32 saturating arithmetic, as in serde_json.
        const finalExponent = positiveExponent
            ? Math.min(I32_MAX, startingExponent + exponent)
            : Math.max(-I32_MAX - 1, startingExponent - exponent);
        return this.f64FromParts(positive, significand, finalExponent);
    }

    parseExponentOverflow(positive, zeroSignificand, positiveExponent) {
        if (!zeroSignificand && positiveExponent) throw this.error(NUMBER_OUT_OF_RANGE);
        while (isDigit(this.peekOrNull())) this.index++;
        return positive ? 0 : -0;
    }

    parseLongInteger(positive, significand) {
        let exponent = 0;
        for (;;) {
            const c = this.peekOrNull();
            if (isDigit(c)) {
                this.index++;
                exponent++;
            } else if (c === 0x2e) {
                return this.parseDecimal(positive, significand, exponent);
            } else if (c === 0x65 || c === 0x45) {
                return this.parseExponent(positive, significand, exponent);
            } else {
                return this.f64FromParts(positive, significand, exponent);
            }
        }
    }

    parseDecimalOverflow(positive, significand, exponent) {
        // Further digits are ignored, as in serde_json.
        while (isDigit(this.peekOrNull())) this.index++;
        const c = this.peekOrNull();
        if (c === 0x65 || c === 0x45) return this.parseExponent(positive, significand, exponent);
        return this.f64FromParts(positive, significand, exponent);
    }

    /** serde_json's fast (not always correctly rounded) float assembly. */
    f64FromParts(positive, significand, exponent) {
        let f = Number(significand);
        for (;;) {
            const magnitude = Math.abs(exponent);
            if (magnitude < POW10.length) {
                if (exponent >= 0) {
                    f *= POW10[magnitude];
                    if (!Number.isFinite(f)) throw this.error(NUMBER_OUT_OF_RANGE);
                } else {
                    f /= POW10[magnitude];
                }
                break;
            }
            if (f === 0) break;
            if (exponent >= 0) throw this.error(NUMBER_OUT_OF_RANGE);
            f /= 1e308;
            exponent += 308;
        }
        return positive ? f : -f;
    }
}

function pushBytes(target, bytes, start, end) {
    for (let i = start; i < end; i++) target.push(bytes[i]);
}

function pushCodePoint(target, n) {
    if (n < 0x80) {
        target.push(n);
    } else if (n < 0x800) {
        target.push(0xc0 | (n >> 6), 0x80 | (n & 0x3f));
    } else if (n < 0x10000) {
        target.push(0xe0 | (n >> 12), 0x80 | ((n >> 6) & 0x3f), 0x80 | (n & 0x3f));
    } else {
        target.push(
            0xf0 | (n >> 18),
            0x80 | ((n >> 12) & 0x3f),
            0x80 | ((n >> 6) & 0x3f),
            0x80 | (n & 0x3f),
        );
    }
}

/** Length of the longest valid UTF-8 prefix, as Rust's `Utf8Error::valid_up_to`. */
function utf8ValidUpTo(bytes) {
    const length = bytes.length;
    let i = 0;
    while (i < length) {
        const b = bytes[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        let need;
        let low = 0x80;
        let high = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            if (b === 0xe0) low = 0xa0;
            else if (b === 0xed) high = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            if (b === 0xf0) low = 0x90;
            else if (b === 0xf4) high = 0x8f;
        } else {
            return i;
        }
        if (i + need >= length) return i; // incomplete sequence
        const second = bytes[i + 1];
        if (second < low || second > high) return i;
        for (let k = 2; k <= need; k++) {
            const next = bytes[i + k];
            if (next < 0x80 || next > 0xbf) return i;
        }
        i += need + 1;
    }
    return length;
}

// ---- writing -------------------------------------------------------------

/** A string as serde_json writes it: quotes, backslash and C0 controls escaped. */
export function quote(text) {
    let out = '"';
    let start = 0;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
        out += text.slice(start, i);
        start = i + 1;
        switch (c) {
            case 0x22:
                out += '\\"';
                break;
            case 0x5c:
                out += '\\\\';
                break;
            case 0x08:
                out += '\\b';
                break;
            case 0x09:
                out += '\\t';
                break;
            case 0x0a:
                out += '\\n';
                break;
            case 0x0c:
                out += '\\f';
                break;
            case 0x0d:
                out += '\\r';
                break;
            default:
                out += '\\u00' + c.toString(16).padStart(2, '0');
        }
    }
    return out + text.slice(start) + '"';
}

/** Shortest round-trip digits of a positive finite float: [digits, k], value = digits × 10^k. */
function shortestDigits(f) {
    const text = String(f);
    const e = text.indexOf('e');
    let mantissa = e < 0 ? text : text.slice(0, e);
    let k = e < 0 ? 0 : Number(text.slice(e + 1));
    const dot = mantissa.indexOf('.');
    if (dot >= 0) {
        k -= mantissa.length - dot - 1;
        mantissa = mantissa.slice(0, dot) + mantissa.slice(dot + 1);
    }
    let digits = mantissa.replace(/^0+/, '');
    const trailing = digits.length - digits.replace(/0+$/, '').length;
    digits = digits.slice(0, digits.length - trailing);
    return [digits, k + trailing];
}

/**
 * A finite float as serde_json 1.0.154 writes it (the zmij crate): the
 * shortest digits that round-trip (the same digits JavaScript picks), laid
 * out as `12.5`, `1.0`, `0.00001`, `1e-6`, `1e+16`, `1.5e+300`: plain while
 * the decimal exponent is within -5..=15, scientific otherwise.
 */
export function formatFloat(f) {
    if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
    const sign = f < 0 ? '-' : '';
    const [digits, k] = shortestDigits(Math.abs(f));
    const length = digits.length;
    const kk = length + k; // 10^(kk-1) <= value < 10^kk
    if (k >= 0 && kk <= 16) return `${sign}${digits}${'0'.repeat(k)}.0`;
    if (kk > 0 && kk <= 16) return `${sign}${digits.slice(0, kk)}.${digits.slice(kk)}`;
    if (kk > -5 && kk <= 0) return `${sign}0.${'0'.repeat(-kk)}${digits}`;
    const exponent = kk - 1 < 0 ? `e${kk - 1}` : `e+${kk - 1}`;
    if (length === 1) return `${sign}${digits}${exponent}`;
    return `${sign}${digits[0]}.${digits.slice(1)}${exponent}`;
}

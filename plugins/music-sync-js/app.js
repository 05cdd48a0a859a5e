// music-sync ported to JavaScript (ComponentizeJS): the glue between the WIT
// world `jobhost:plugin/plugin` and the pure modules in src/, mirroring
// plugins/music-sync/src/lib.rs. Deterministic: no clock, no randomness.
//
// Bindings as ComponentizeJS maps them: records are objects with camelCase
// fields, list<u8> is a Uint8Array, u64 a BigInt, option<T> is T or
// undefined; a result<T, E> import returns T or throws (the E in the error's
// `payload`), and a result<T, E> export returns T or throws E.
import { log } from 'jobhost:plugin/log@0.1.0';
import { add, set } from 'jobhost:plugin/kv@0.1.0';
import { check } from './src/status.js';
import { Invalid, normalise } from './src/track.js';

/** Key-value key counting every track synced. */
const TRACK_COUNTER = 'stats:tracks';

const encoder = new TextEncoder();

export function describe() {
    return {
        name: 'music-sync-js',
        version: '0.1.0',
        description: 'Normalises music API track documents into JSON records and stores them in kv',
        // None: the Rust music-sync claims `*/tracks/*`; this port is chosen by name.
        urlPatterns: [],
        contentTypes: [],
        limits: undefined,
    };
}

export function handle(task, content) {
    const rejection = check(content.status, content.headers, content.finalUrl);
    if (rejection !== null) {
        if (rejection.fail !== undefined) throw { tag: 'fail', val: rejection.fail };
        throw { tag: 'retry', val: rejection.retry };
    }

    let track;
    try {
        track = normalise(content.body, content.finalUrl);
    } catch (error) {
        if (error instanceof Invalid) throw { tag: 'fail', val: error.message };
        throw error;
    }
    const data = encoder.encode(JSON.stringify(track));

    const key = `music:${track.id}`;
    kvCall(() => set(key, data), 'set', key);
    kvCall(() => add(TRACK_COUNTER, 1n), 'add', TRACK_COUNTER);

    log('info', `synced track ${track.id}`);
    return {
        records: [{ contentType: 'application/json', data }],
        followUps: [],
    };
}

/** A key-value failure is transient as far as this plugin knows: retry. */
function kvCall(call, operation, key) {
    try {
        call();
    } catch (error) {
        const reason = typeof error === 'string' ? error : error?.payload ?? String(error);
        throw { tag: 'retry', val: { message: `kv ${operation} \`${key}\` failed: ${reason}`, delayMs: undefined } };
    }
}

// music-sync ported to JavaScript (ComponentizeJS): the glue between the WIT
// world `jobhost:plugin/plugin` and the pure modules in src/, mirroring
// plugins/music-sync/src/handler.rs. Deterministic: no clock, no randomness.
//
// Bindings as ComponentizeJS maps them: records are objects with camelCase
// fields, list<u8> is a Uint8Array, u64 a BigInt, option<T> is T or
// undefined; a result<T, E> import returns T or throws (the E in the error's
// `payload`), and a result<T, E> export returns T or throws E.
import { log } from 'jobhost:plugin/log@0.1.0';
// `delete` is a reserved word: the interface is imported whole.
import * as kv from 'jobhost:plugin/kv@0.1.0';
import { DELETE_CONTENT_TYPE, check } from './src/status.js';
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
    const verdict = check(content.status, content.headers, task.url, content.finalUrl);
    if (verdict !== null) {
        if (verdict.gone !== undefined) return gone(verdict.gone.status, verdict.gone.id);
        if (verdict.fail !== undefined) throw { tag: 'fail', val: verdict.fail };
        throw { tag: 'retry', val: verdict.retry };
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
    kvCall(() => kv.set(key, data), 'set', key);
    kvCall(() => kv.add(TRACK_COUNTER, 1n), 'add', TRACK_COUNTER);

    log('info', `synced track ${track.id}`);
    return {
        records: [{ contentType: 'application/json', data }],
        followUps: [],
    };
}

/**
 * The provider no longer serves track `id` (HTTP `status`, 404 or 410):
 * forget it in kv (the counter stays) and ask the sink to delete its row.
 */
function gone(status, id) {
    const data = encoder.encode(JSON.stringify({ id }));
    const key = `music:${id}`;
    kvCall(() => kv.delete(key), 'delete', key);

    log('info', `track ${id} gone (HTTP ${status}): asked for its row to be deleted`);
    return {
        records: [{ contentType: DELETE_CONTENT_TYPE, data }],
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

// ComponentizeJS runs this module's top level once, at build time, and every
// instance of the component starts from a snapshot of what it left. Running
// the rules once here puts them into that snapshot compiled (functions and
// regular expressions), instead of compiling them on every instance's first
// job. Nothing here reaches kv or the log, which do not exist at build time.
{
    const url = 'https://provider.example/tracks/1';
    check(200, [], url, url);
    check(503, [['retry-after', '5']], url, url);
    for (const sample of [
        '{"id":"1","title":" Warm\\tup ","artist":"A","album":null,"genre":"JAZZ","duration":"3:35","year":1962}',
        '{"id":1,"title":"Warm-up","artist":{"name":"B"},"duration_ms":245500,"release_date":"2021-03-12"}',
    ]) {
        normalise(encoder.encode(sample), url);
    }
}

// trivial-js: the smallest useful JavaScript plugin, for the dispatch
// figure of BENCHMARKS.md (item 13): it parses nothing and returns one
// record holding the body's length, so that what it costs is the host's
// and the runtime's, not the handler's.
const encoder = new TextEncoder();

export function describe() {
    return {
        name: 'trivial-js',
        version: '0.1.0',
        description: 'Returns one record per job (a benchmark plugin)',
        urlPatterns: [],
        contentTypes: [],
        limits: undefined,
    };
}

export function handle(task, content) {
    return {
        records: [{ contentType: 'application/json', data: encoder.encode(`{"bytes":${content.body.length}}`) }],
        followUps: [],
    };
}

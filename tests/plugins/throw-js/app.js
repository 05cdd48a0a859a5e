// A JavaScript plugin whose handle() throws an ordinary Error, as a plugin
// author's bug would. tests/all/guest_errors.rs checks that the exception's
// type and message reach the job's error in the dead letters, cut to a
// bounded length when the message is long (metadata `pad`: that many more
// characters in the message).

export function describe() {
    return {
        name: 'throw-js',
        version: '0.1.0',
        description: 'Throws new Error("boom") from handle(), for the tests',
        urlPatterns: [],
        contentTypes: [],
        limits: undefined,
    };
}

export function handle(task, content) {
    const pad = task.metadata.find(([key]) => key === 'pad');
    throw new Error('boom' + 'x'.repeat(pad ? Number(pad[1]) : 0));
}

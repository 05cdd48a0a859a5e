"""music-sync ported to Python (componentize-py): the glue between the WIT
world ``jobhost:plugin/plugin`` and the pure modules in music_sync/, mirroring
plugins/music-sync/src/handler.rs. Deterministic: no clock, no randomness.

Bindings as componentize-py maps them: records are dataclasses, list<u8> is
bytes, option<T> is T or None; a result<T, E> import returns T or raises
``Err(E)``, and a result<T, E> export returns T or raises ``Err(E)``."""
import wit_world
from componentize_py_types import Err
from wit_world.imports import kv, log, types

from music_sync import status, track

# Key-value key counting every track synced.
TRACK_COUNTER = "stats:tracks"


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="music-sync-py",
            version="0.1.0",
            description="Normalises music API track documents into JSON records and stores them in kv",
            # None: the Rust music-sync claims `*/tracks/*`; this port is chosen by name.
            url_patterns=[],
            content_types=[],
            limits=None,
        )

    def handle(self, task: types.Task, content: types.Content) -> types.Outcome:
        try:
            gone = status.check(content.status, content.headers, task.url, content.final_url)
        except status.Retry as retry:
            raise Err(types.HandleError_Retry(types.RetryError(retry.message, retry.delay_ms)))
        except status.Fail as fail:
            raise Err(types.HandleError_Fail(fail.message))
        if gone is not None:
            return _gone(content.status, gone)

        try:
            record = track.normalise(content.body, content.final_url)
        except track.Invalid as invalid:
            raise Err(types.HandleError_Fail(invalid.message))
        data = track.encode(record)

        key = f"music:{record['id']}"
        try:
            kv.set(key, data)
        except Err as error:
            raise _kv_retry("set", key, error.value)
        try:
            kv.add(TRACK_COUNTER, 1)
        except Err as error:
            raise _kv_retry("add", TRACK_COUNTER, error.value)

        log.log(log.Level.INFO, f"synced track {record['id']}")
        return types.Outcome(
            records=[types.SinkRecord(content_type="application/json", data=data)],
            follow_ups=[],
        )


def _gone(code, track_id):
    """The provider no longer serves track ``track_id`` (HTTP ``code``, 404 or
    410): forget it in kv (the counter stays) and ask the sink to delete its row."""
    data = track.encode({"id": track_id})
    key = f"music:{track_id}"
    try:
        kv.delete(key)
    except Err as error:
        raise _kv_retry("delete", key, error.value)

    log.log(log.Level.INFO, f"track {track_id} gone (HTTP {code}): asked for its row to be deleted")
    return types.Outcome(
        records=[types.SinkRecord(content_type=status.DELETE_CONTENT_TYPE, data=data)],
        follow_ups=[],
    )


def _kv_retry(operation, key, error):
    """A key-value failure is transient as far as this plugin knows: retry."""
    return Err(types.HandleError_Retry(types.RetryError(f"kv {operation} `{key}` failed: {error}", None)))


# componentize-py imports this module once, at build time, and every instance
# of the component starts from a snapshot of the interpreter it left. Running
# the rules here a few times puts them into that snapshot already specialised
# by CPython's adaptive interpreter, instead of specialising them again on
# every instance's first job. Nothing here reaches kv or the log, which do not
# exist at build time.
def _warm_up():
    url = "https://provider.example/tracks/1"
    status.check(200, [], url, url)
    try:
        status.check(503, [("retry-after", "5")], url, url)
    except status.Retry:
        pass
    for sample in (
        b'{"id":"1","title":" Warm\\tup ","artist":"A","album":null,"genre":"JAZZ","duration":"3:35","year":1962}',
        b'{"id":1,"title":"Warm-up","artist":{"name":"B"},"duration_ms":245500,"release_date":"2021-03-12"}',
    ):
        for _ in range(3):
            track.encode(track.normalise(sample, url))


_warm_up()

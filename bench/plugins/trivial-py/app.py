"""trivial-py: the smallest useful Python plugin, for the dispatch figure of
BENCHMARKS.md (item 13): it parses nothing and returns one record holding the
body's length, so that what it costs is the host's and the runtime's, not the
handler's."""
import wit_world
from wit_world.imports import types


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="trivial-py",
            version="0.1.0",
            description="Returns one record per job (a benchmark plugin)",
            url_patterns=[],
            content_types=[],
            limits=None,
        )

    def handle(self, task: types.Task, content: types.Content) -> types.Outcome:
        data = b'{"bytes":%d}' % len(content.body)
        return types.Outcome(
            records=[types.SinkRecord(content_type="application/json", data=data)],
            follow_ups=[],
        )

"""A Python plugin whose handle() raises an ordinary exception, as a plugin
author's bug would. tests/all/guest_errors.rs checks that the exception's
type and message reach the job's error in the dead letters, cut to a bounded
length when the message is long (metadata ``pad``: that many more characters
in the message)."""
import wit_world
from wit_world.imports import types


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="throw-py",
            version="0.1.0",
            description='Raises ValueError("boom") from handle(), for the tests',
            url_patterns=[],
            content_types=[],
            limits=None,
        )

    def handle(self, task: types.Task, content: types.Content) -> types.Outcome:
        pad = int(dict(task.metadata).get("pad", "0"))
        raise ValueError("boom" + "x" * pad)

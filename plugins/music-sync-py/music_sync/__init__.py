"""music-sync ported to Python: the pure modules (no bindings).

- ``track``: parsing, validation and normalisation, as plugins/music-sync/src/track.rs.
- ``status``: the HTTP status policy, as plugins/music-sync/src/status.rs.
"""

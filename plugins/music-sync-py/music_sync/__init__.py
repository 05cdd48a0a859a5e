"""music-sync ported to Python: the pure modules (no bindings).

- ``serde_json``: a JSON reader and writer that behave like serde_json 1.0.
- ``text``: Rust's whitespace, trim and lower-case rules.
- ``track``: validation and normalisation, as plugins/music-sync/src/track.rs.
- ``status``: the HTTP status policy, as plugins/music-sync/src/status.rs.
"""

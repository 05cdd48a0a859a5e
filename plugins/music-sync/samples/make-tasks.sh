#!/usr/bin/env bash
# Regenerates tasks.jsonl from tracks/*.json: one task per file, in file-name
# order, carrying the document inline as `payload` under a URL that routes to
# music-sync (`*/tracks/*`). Needs jq. The music-sync unit tests check that
# tasks.jsonl, tracks/ and expected.jsonl agree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for file in tracks/*.json; do
    id=$(basename "$file" .json)
    jq -c --arg url "https://api.example-music.test/tracks/$id" '{url: $url, payload: .}' "$file"
done > tasks.jsonl
echo "wrote $(wc -l < tasks.jsonl) tasks to $(pwd)/tasks.jsonl"

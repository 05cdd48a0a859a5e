/*
 * music-sync ported to C (clang + wasi-libc, wit-bindgen C bindings): the
 * glue between the WIT world jobhost:plugin/plugin and the pure modules
 * (json, track, status), mirroring plugins/music-sync/src/handler.rs.
 * Deterministic: no clock, no randomness.
 *
 * Ownership, as the generated bindings expect: the arguments of an export
 * belong to this code (freed here); what an export returns is freed by the
 * generated post-return functions, so it must be malloc'd; what an import
 * returns (kv error strings) belongs to this code.
 */
#include <stdlib.h>
#include <string.h>

#include "../bindings/plugin.h"
#include "common.h"
#include "json.h"
#include "status.h"
#include "track.h"

/* Key-value key counting every track synced. */
static const char TRACK_COUNTER[] = "stats:tracks";

/* A heap copy of a C string, as the host will free it. */
static plugin_string_t heap_string(const char *text) {
    plugin_string_t out;
    plugin_string_dup(&out, text);
    return out;
}

/* Hand a buffer over as a WIT string (the post-return frees it). */
static plugin_string_t buf_to_string(buf_t *buf) {
    plugin_string_t out = {buf->ptr, buf->len};
    *buf = (buf_t){0};
    return out;
}

void exports_plugin_describe(plugin_plugin_info_t *ret) {
    ret->name = heap_string("music-sync-c");
    ret->version = heap_string("0.1.0");
    ret->description = heap_string("Normalises music API track documents into JSON records and stores them in kv");
    /* None: the Rust music-sync claims the track URLs; this port is chosen by name. */
    ret->url_patterns = (plugin_list_string_t){NULL, 0};
    ret->content_types = (plugin_list_string_t){NULL, 0};
    ret->limits.is_some = false;
}

static void fail(plugin_handle_error_t *err, buf_t *message) {
    err->tag = JOBHOST_PLUGIN_TYPES_HANDLE_ERROR_FAIL;
    err->val.fail = buf_to_string(message);
}

static void retry(plugin_handle_error_t *err, buf_t *message, bool has_delay, uint64_t delay_ms) {
    err->tag = JOBHOST_PLUGIN_TYPES_HANDLE_ERROR_RETRY;
    err->val.retry.message = buf_to_string(message);
    err->val.retry.delay_ms.is_some = has_delay;
    err->val.retry.delay_ms.val = delay_ms;
}

/* A key-value failure is transient as far as this plugin knows: retry. */
static void kv_retry(plugin_handle_error_t *err, const char *operation, const uint8_t *key, size_t key_len,
                     plugin_string_t *reason) {
    buf_t message = {0};
    buf_cstr(&message, "kv ");
    buf_cstr(&message, operation);
    buf_cstr(&message, " `");
    buf_bytes(&message, key, key_len);
    buf_cstr(&message, "` failed: ");
    buf_bytes(&message, reason->ptr, reason->len);
    plugin_string_free(reason);
    retry(err, &message, false, 0);
}

/* The provider no longer serves track `id` (HTTP `status`, 404 or 410):
 * forget it in kv (the counter stays) and ask the sink to delete its row. */
static bool gone(uint16_t status, str_t id, plugin_outcome_t *ret, plugin_handle_error_t *err) {
    buf_t data = {0};
    buf_cstr(&data, "{\"id\":");
    json_write_string(&data, id);
    buf_byte(&data, '}');

    buf_t key = {0};
    buf_cstr(&key, "music:");
    buf_str(&key, id);
    plugin_string_t key_string = {key.ptr, key.len};
    bool existed;
    plugin_string_t reason;
    if (!jobhost_plugin_kv_delete(&key_string, &existed, &reason)) {
        kv_retry(err, "delete", key.ptr, key.len, &reason);
        free(key.ptr);
        free(data.ptr);
        return false;
    }
    free(key.ptr);

    buf_t line = {0};
    buf_cstr(&line, "track ");
    buf_str(&line, id);
    buf_cstr(&line, " gone (HTTP ");
    buf_u64(&line, status);
    buf_cstr(&line, "): asked for its row to be deleted");
    plugin_string_t line_string = {line.ptr, line.len};
    jobhost_plugin_log_log(JOBHOST_PLUGIN_LOG_LEVEL_INFO, &line_string);
    free(line.ptr);

    jobhost_plugin_types_sink_record_t *record = malloc(sizeof *record);
    if (record == NULL) out_of_memory();
    record->content_type = heap_string(STATUS_DELETE_CONTENT_TYPE);
    record->data = (plugin_list_u8_t){data.ptr, data.len};
    ret->records = (jobhost_plugin_types_list_sink_record_t){record, 1};
    ret->follow_ups = (jobhost_plugin_types_list_follow_up_t){NULL, 0};
    return true;
}

static bool handle(plugin_task_t *task, plugin_content_t *content, plugin_outcome_t *ret,
                   plugin_handle_error_t *err) {
    str_t task_url = {task->url.ptr, task->url.len};
    str_t url = {content->final_url.ptr, content->final_url.len};

    header_t *headers = arena_alloc((content->headers.len + 1) * sizeof(header_t));
    for (size_t i = 0; i < content->headers.len; i++) {
        plugin_tuple2_string_string_t *pair = &content->headers.ptr[i];
        headers[i] = (header_t){{pair->f0.ptr, pair->f0.len}, {pair->f1.ptr, pair->f1.len}};
    }
    buf_t message = {0};
    bool has_delay = false;
    uint64_t delay_ms = 0;
    str_t track_id;
    switch (status_check(content->status, headers, content->headers.len, task_url, url, &track_id, &message,
                         &has_delay, &delay_ms)) {
    case STATUS_PROCEED: break;
    case STATUS_GONE: return gone(content->status, track_id, ret, err);
    case STATUS_RETRY: retry(err, &message, has_delay, delay_ms); return false;
    case STATUS_FAIL: fail(err, &message); return false;
    }

    track_t track;
    if (!track_normalise((str_t){content->body.ptr, content->body.len}, url, &track, &message)) {
        fail(err, &message);
        return false;
    }
    buf_t data = {0};
    track_encode(&track, &data);

    buf_t key = {0};
    buf_cstr(&key, "music:");
    buf_str(&key, track.id);
    plugin_string_t key_string = {key.ptr, key.len};
    plugin_list_u8_t value = {data.ptr, data.len};
    plugin_string_t reason;
    if (!jobhost_plugin_kv_set(&key_string, &value, &reason)) {
        kv_retry(err, "set", key.ptr, key.len, &reason);
        free(key.ptr);
        free(data.ptr);
        return false;
    }
    free(key.ptr);
    plugin_string_t counter = {(uint8_t *)TRACK_COUNTER, sizeof TRACK_COUNTER - 1};
    if (!jobhost_plugin_kv_add(&counter, 1, &reason)) {
        kv_retry(err, "add", counter.ptr, counter.len, &reason);
        free(data.ptr);
        return false;
    }

    buf_t line = {0};
    buf_cstr(&line, "synced track ");
    buf_str(&line, track.id);
    plugin_string_t line_string = {line.ptr, line.len};
    jobhost_plugin_log_log(JOBHOST_PLUGIN_LOG_LEVEL_INFO, &line_string);
    free(line.ptr);

    jobhost_plugin_types_sink_record_t *record = malloc(sizeof *record);
    if (record == NULL) out_of_memory();
    record->content_type = heap_string("application/json");
    record->data = (plugin_list_u8_t){data.ptr, data.len};
    ret->records = (jobhost_plugin_types_list_sink_record_t){record, 1};
    ret->follow_ups = (jobhost_plugin_types_list_follow_up_t){NULL, 0};
    return true;
}

bool exports_plugin_handle(plugin_task_t *task, plugin_content_t *content, plugin_outcome_t *ret,
                           plugin_handle_error_t *err) {
    bool ok = handle(task, content, ret, err);
    arena_free_all();
    plugin_task_free(task);
    plugin_content_free(content);
    return ok;
}

/*
 * The three WASI calls that wasi-libc's stdio links in (snprintf shares its
 * FILE machinery with real streams), answered here instead of by the host.
 * Nothing in this plugin opens, writes or seeks a file descriptor, and a
 * jobhost plugin has no files anyway; with these definitions the core module
 * imports nothing from WASI, so the component needs no preview1 adapter and
 * imports only jobhost:plugin/log and kv, which makes each instance cheaper.
 */
#include <wasi/api.h>

__wasi_errno_t __wasi_fd_close(__wasi_fd_t fd) {
    (void)fd;
    return __WASI_ERRNO_BADF;
}

__wasi_errno_t __wasi_fd_seek(__wasi_fd_t fd, __wasi_filedelta_t offset, __wasi_whence_t whence,
                              __wasi_filesize_t *new_offset) {
    (void)fd, (void)offset, (void)whence, (void)new_offset;
    return __WASI_ERRNO_BADF;
}

__wasi_errno_t __wasi_fd_write(__wasi_fd_t fd, const __wasi_ciovec_t *iovs, size_t iovs_len,
                               __wasi_size_t *written) {
    (void)fd, (void)iovs, (void)iovs_len, (void)written;
    return __WASI_ERRNO_BADF;
}

/* A slow disk for F8 (tests/faults/f8_slow_disk.rs), loaded into `latch serve` with LD_PRELOAD.
 *
 * While the file named by SLOW_SYNC_FLAG exists, every fsync and fdatasync of the process
 * first sleeps SLOW_SYNC_MS milliseconds (2000 if unset) and appends one line to
 * SLOW_SYNC_LOG (when set): a disk that takes seconds to make a write durable, as a
 * saturated or failing device does. SQLite (bundled, linked statically) calls the C library's
 * fsync/fdatasync, so the interposed ones are the ones it reaches.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void maybe_stall(void) {
    const char *flag = getenv("SLOW_SYNC_FLAG");
    if (flag == NULL || access(flag, F_OK) != 0) {
        return;
    }
    const char *ms = getenv("SLOW_SYNC_MS");
    long wait = ms ? atol(ms) : 2000;
    usleep((useconds_t)(wait * 1000));
    const char *log = getenv("SLOW_SYNC_LOG");
    if (log != NULL) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd >= 0) {
            (void)!write(fd, "stalled\n", 8);
            close(fd);
        }
    }
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    maybe_stall();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    }
    maybe_stall();
    return real(fd);
}

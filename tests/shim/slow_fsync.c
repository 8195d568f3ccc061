/*  slow_fsync - a disk that takes its time (LD_PRELOAD, tests only)

    Preloaded into a program, makes each fsync and fdatasync wait
    ZT_SLOW_FSYNC_MS milliseconds (default 300) before doing the real one.
    The data still goes to the real disk through the real call: only the
    latency of a loaded or slow disk is added. test_sync_faults uses it to
    show that a Raft group elects a leader when writes take longer than the
    election timeout.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void
s_wait (void)
{
    const char *text = getenv ("ZT_SLOW_FSYNC_MS");
    long ms = text ? strtol (text, NULL, 10) : 300;
    if (ms <= 0 || ms > 10000)
        return;
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep (&pause, &pause) != 0)
        ;
}

int
fsync (int fd)
{
    int (*real) (int) = (int (*) (int)) dlsym (RTLD_NEXT, "fsync");
    s_wait ();
    return real ? real (fd) : -1;
}

int
fdatasync (int fd)
{
    int (*real) (int) = (int (*) (int)) dlsym (RTLD_NEXT, "fdatasync");
    s_wait ();
    return real ? real (fd) : -1;
}

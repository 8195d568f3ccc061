/*  sync_node - a node that takes locks over and over, for the sync fault
    tests (tests/test_sync_faults.c)

    Usage: sync_node [config flags...]
        e.g. --node.name=m0 --sync.members=m0,m1,m2 --registry.peers=...
             --app.locks=2 --app.hold=150 --app.ttl=1000 --app.wait=2000

    Starts a node with the given config (a member when it is named in
    sync.members) and, from one thread, takes one of app.locks locks
    ("L0", "L1", ...; picked in turn) for app.ttl ms, waiting up to
    app.wait ms, holds it about app.hold ms while checking every 10 ms that
    it still holds it, and releases it; again and again, for at most
    app.duration ms. Prints, one line each, flushed (<us> is
    CLOCK_MONOTONIC in microseconds, comparable across processes and
    network namespaces of one machine):
        READY <rpc port> <public key>
        GRANT <lock> <token> <us>         the grant arrived
        HELD <lock> <token> <us>          zm_lock_held said yes at <us>
        LOST <lock> <token> <us>          it said no before the release
        RELEASE <lock> <token> <rc> <us>  released (rc: 0 or an error code)
        FAIL <lock> <rc> <us>             an acquire that did not succeed
    A holder acts on its lock only at a HELD: the fault test checks that no
    two holders' [GRANT, last HELD] spans of one lock overlap. It dies with
    its parent (PR_SET_PDEATHSIG).
*/
#include <czmq.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include "zmicro.h"

static pthread_mutex_t s_out = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool s_stop;

static void
s_say (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_say (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    pthread_mutex_lock (&s_out);
    vprintf (format, args);
    putchar ('\n');
    fflush (stdout);
    pthread_mutex_unlock (&s_out);
    va_end (args);
}

typedef struct {
    zm_node_t *node;
    int locks, hold, ttl, wait, duration;
} work_t;

static void *
s_work (void *arg)
{
    work_t *work = (work_t *) arg;
    int64_t end = zclock_mono () + work->duration;
    for (unsigned n = 0; !s_stop && zclock_mono () < end; n++) {
        char lock[16];
        snprintf (lock, sizeof lock, "L%u", n % (unsigned) work->locks);
        uint64_t token = 0;
        int rc = zm_lock_acquire (work->node, lock, work->ttl, work->wait, &token);
        if (rc) {
            s_say ("FAIL %s %d %" PRId64, lock, rc, zclock_usecs ());
            zclock_sleep (20);
            continue;
        }
        s_say ("GRANT %s %" PRIu64 " %" PRId64, lock, token, zclock_usecs ());
        //  Hold it, a little longer each time around (past the ttl now and
        //  then, so that renewals count)
        int64_t until = zclock_mono () + work->hold + (n % 7 == 6 ? work->ttl : 0);
        bool held = true;
        while (!s_stop && zclock_mono () < until) {
            int64_t now = zclock_usecs ();
            if (!zm_lock_held (work->node, lock, token)) {
                s_say ("LOST %s %" PRIu64 " %" PRId64, lock, token, now);
                held = false;
                break;
            }
            s_say ("HELD %s %" PRIu64 " %" PRId64, lock, token, now);
            zclock_sleep (10);
        }
        rc = zm_lock_release (work->node, lock, token);
        s_say ("RELEASE %s %" PRIu64 " %d %" PRId64, lock, token, held ? rc : -1,
               zclock_usecs ());
    }
    return NULL;
}

int
main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "sync_node: %s\n", reason);
        free (reason);
        return 2;
    }
    work_t work = {.locks = (int) zm_config_get_int (config, "app.locks", 1),
                   .hold = (int) zm_config_get_int (config, "app.hold", 100),
                   .ttl = (int) zm_config_get_int (config, "app.ttl", 1000),
                   .wait = (int) zm_config_get_int (config, "app.wait", 2000),
                   .duration = (int) zm_config_get_int (config, "app.duration", 120000)};
    if (work.locks < 0 || work.locks > 100 || work.hold < 0 || work.ttl < 100 || work.wait < 0
        || work.duration < 0) {
        fprintf (stderr, "sync_node: app.locks 0..100, app.hold >= 0, app.ttl >= 100, "
                         "app.wait >= 0, app.duration >= 0\n");
        zm_config_destroy (&config);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    work.node = node;
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    s_say ("READY %d %s", zm_node_rpc_port (node, 0), key);
    pthread_t worker;
    bool working = work.locks > 0 && pthread_create (&worker, NULL, s_work, &work) == 0;
    zm_node_run (node);
    s_stop = true;
    if (working)
        pthread_join (worker, NULL);
    zm_node_destroy (&node);
    s_say ("BYE");
    return 0;
}

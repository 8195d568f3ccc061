/*  sub - get every event pub.c publishes, each exactly once

    Subscribes to "demo.>" and waits for a publisher (pub.c), found by
    discovery: by beacon on a LAN, or named as a static peer, with the key
    it prints on its READY line:

        sub --registry.peers=tcp://127.0.0.1:7301#KEY [config flags]

    It prints "sub: listening on demo.>" once subscribed; start it before
    or after pub. On the first "demo.hello" it calls ticker.Listening on
    the publisher: its SUB connection is up, so what follows reaches it.
    It prints each "demo.tick" event {n, of} as it comes,

        demo.tick 1 of 100

    and once it holds every n of 1..of, calls ticker.Got with its count,
    prints

        sub: 100 of 100 events, 0 missing, 0 twice

    and exits 0; 1 when some event came twice, or after sub.wait ms
    (60000) with some missing.
*/
#include <czmq.h>
#include <stdatomic.h>
#include <unistd.h>
#include "zmicro.h"

#define EVENTS_MAX 10000 //  pub.c publishes at most this many

//  What the subscription saw. Its handler runs one event at a time; main
//  reads the atomics.
typedef struct {
    atomic_bool heard;            //  a demo.hello came
    atomic_int of;                //  events published, from the first tick
    atomic_int distinct;          //  n seen at least once
    atomic_int twice;             //  n seen again
    uint8_t seen[EVENTS_MAX + 1]; //  seen[n]: n came
} tally_t;

//  Every event on "demo.>"
static int
s_on_event (zm_ctx_t *ctx, zm_msg_t *event)
{
    tally_t *self = (tally_t *)zm_ctx_state (ctx);
    const char *topic = zm_ctx_topic (ctx);
    if (topic && streq (topic, "demo.hello")) {
        atomic_store (&self->heard, true);
        return 0;
    }
    int64_t n = zm_msg_get_int (event, "n", 0), of = zm_msg_get_int (event, "of", 0);
    if (n < 1 || n > of || of > EVENTS_MAX)
        return zm_error (ctx, ZM_EINVAL, "not a tick: n %" PRId64 " of %" PRId64, n, of);
    printf ("%s %" PRId64 " of %" PRId64 "\n", topic, n, of);
    fflush (stdout);
    atomic_store (&self->of, (int)of);
    if (self->seen[n])
        atomic_fetch_add (&self->twice, 1);
    else {
        self->seen[n] = 1;
        atomic_fetch_add (&self->distinct, 1);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (!config ||
        zm_config_define (config, "sub.wait", ZM_CONFIG_INT, "60000",
                          "ms to wait for every event") ||
        zm_config_load_all (config, argc, argv, &reason)) {
        fprintf (stderr, "sub: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    if (!*zm_config_get_str (config, "node.name", "")) {
        char name[32];
        snprintf (name, sizeof name, "sub-%d", (int)getpid ());
        zm_config_set (config, "node.name", name, NULL);
    }
    int64_t deadline = zclock_mono () + zm_config_get_int (config, "sub.wait", 60000);
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    tally_t *tally = (tally_t *)calloc (1, sizeof (tally_t));
    int err = 0;
    if (!tally || !zm_subscribe (node, "demo.>", NULL, s_on_event, tally, &err)) {
        fprintf (stderr, "sub: cannot subscribe: %s\n", zm_strerror (err));
        zm_node_destroy (&node);
        free (tally);
        return 1;
    }
    printf ("sub: listening on demo.>\n");
    fflush (stdout);

    //  Tell the publisher we hear it, then wait for every tick
    bool told = false;
    while (zclock_mono () < deadline) {
        int of = atomic_load (&tally->of);
        if (of && atomic_load (&tally->distinct) == of)
            break;
        if (!told && atomic_load (&tally->heard)) {
            zm_msg_t *req = zm_msg_new ();
            zm_msg_set_str (req, "node", zm_node_uuid (node));
            told = zm_call (node, "ticker", "Listening", &req, NULL, NULL, NULL) == 0;
        }
        zclock_sleep (10);
    }
    int of = atomic_load (&tally->of), got = atomic_load (&tally->distinct);
    int twice = atomic_load (&tally->twice);
    //  Say what we got: the publisher waits for it before it goes
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "name", zm_node_name (node));
    zm_msg_set_int (req, "got", twice ? -1 : got);
    zm_msg_set_int (req, "of", of);
    zm_call (node, "ticker", "Got", &req, NULL, NULL, NULL);
    zm_node_destroy (&node);
    free (tally);

    printf ("sub: %d of %d events, %d missing, %d twice\n", got, of, of - got, twice);
    return of > 0 && got == of && twice == 0 ? 0 : 1;
}

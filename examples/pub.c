/*  pub - publish numbered events once the subscribers listen

    Publishes count events on topic "demo.tick", each {n, of} with n = 1
    .. count and of = count, to every subscriber in the cluster (sub.c is
    the other half):

        pub --pub.count=100 --pub.subscribers=2 [config flags]

    It needs to know none of them: they find it by discovery (beacons on a
    LAN, or their --registry.peers naming this node's port and key; give
    it a fixed --rpc.port and --auth.keys for that).

    An event published before a subscriber's node has heard of this node is
    not sent to it (docs/pubsub.md), so pub waits for its subscribers
    first. Until pub.subscribers of them have said so, it publishes
    "demo.hello" every 100 ms; a subscriber that hears one calls
    ticker.Listening here. Its SUB connection is up then: the ticks follow
    on it, in order. Each subscriber calls ticker.Got with its count at the
    end, and pub exits once all of them have (the last events have left).

    Prints "READY <port> <key>" (its RPC port and public key), then

        pub: 2 subscribers listening
        pub: 100 events published on demo.tick
        pub: sub-4242 got 100 of 100
        pub: sub-4243 got 100 of 100

    Exits 0 when every subscriber got every event; 1 when one did not, or
    after pub.wait ms (60000) without the subscribers.
*/
#include <czmq.h>
#include <stdatomic.h>
#include "zmicro.h"

#define SUBSCRIBERS_MAX 64

//  The ticker service: who listens, who got what (one instance)
typedef struct {
    char listening[SUBSCRIBERS_MAX][33]; //  node UUIDs that called Listening
    atomic_int listeners;                //  how many, read by main
    atomic_int reports;                  //  Got calls, read by main
    atomic_int complete;                 //  Got calls that had every event
} ticker_t;

//  ticker.Listening {node}: a subscriber hears us. A retried call is not a
//  second subscriber: they are told apart by node UUID.
static int
s_listening (zm_ctx_t *ctx, zm_msg_t *req)
{
    ticker_t *self = (ticker_t *)zm_ctx_state (ctx);
    const char *uuid = zm_msg_get_str (req, "node", "");
    int count = atomic_load (&self->listeners);
    for (int i = 0; i < count; i++)
        if (streq (self->listening[i], uuid))
            return zm_reply (ctx, NULL);
    if (count == SUBSCRIBERS_MAX)
        return zm_error (ctx, ZM_EUNAVAIL, "enough subscribers");
    snprintf (self->listening[count], sizeof self->listening[count], "%s", uuid);
    atomic_store (&self->listeners, count + 1);
    return zm_reply (ctx, NULL);
}

//  ticker.Got {name, got, of}: a subscriber's count at the end
static int
s_got (zm_ctx_t *ctx, zm_msg_t *req)
{
    ticker_t *self = (ticker_t *)zm_ctx_state (ctx);
    int64_t got = zm_msg_get_int (req, "got", -1), of = zm_msg_get_int (req, "of", 0);
    printf ("pub: %s got %" PRId64 " of %" PRId64 "\n", zm_msg_get_str (req, "name", "?"), got, of);
    fflush (stdout);
    //  The answer first: main may exit as soon as the count is in
    int rc = zm_reply (ctx, NULL);
    if (got == of)
        atomic_fetch_add (&self->complete, 1);
    atomic_fetch_add (&self->reports, 1);
    return rc;
}

int
main (int argc, char **argv)
{
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (!config ||
        zm_config_define (config, "pub.count", ZM_CONFIG_INT, "100", "events to publish") ||
        zm_config_define (config, "pub.subscribers", ZM_CONFIG_INT, "1",
                          "subscribers to wait for") ||
        zm_config_define (config, "pub.wait", ZM_CONFIG_INT, "60000",
                          "ms to wait for the subscribers") ||
        zm_config_load_all (config, argc, argv, &reason)) {
        fprintf (stderr, "pub: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    int64_t count = zm_config_get_int (config, "pub.count", 100);
    int64_t wanted = zm_config_get_int (config, "pub.subscribers", 1);
    int64_t deadline = zclock_mono () + zm_config_get_int (config, "pub.wait", 60000);
    //  One burst: past pubsub.hwm events libzmq would drop for a slow reader
    if (count < 1 || count > 10000 || wanted < 1 || wanted > SUBSCRIBERS_MAX) {
        fprintf (stderr, "pub: pub.count is 1..10000, pub.subscribers 1..%d\n", SUBSCRIBERS_MAX);
        zm_config_destroy (&config);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    ticker_t ticker = {0};
    zm_service_t *service = zm_service_new (node, "ticker", "1.0.0");
    if (!service || zm_service_set_state (service, NULL, NULL, &ticker) ||
        zm_service_handle (service, "Listening", s_listening) ||
        zm_service_handle (service, "Got", s_got) || zm_service_start (service)) {
        fprintf (stderr, "pub: cannot start the ticker service\n");
        zm_node_destroy (&node);
        return 1;
    }
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", zm_node_rpc_port (node, 0), key);
    fflush (stdout);

    //  Say hello until every subscriber listens
    while (atomic_load (&ticker.listeners) < wanted && zclock_mono () < deadline) {
        zm_msg_t *hello = zm_msg_new ();
        zm_msg_set_str (hello, "from", zm_node_name (node));
        zm_publish (node, "demo.hello", &hello, NULL);
        zclock_sleep (100);
    }
    int status = 1;
    if (atomic_load (&ticker.listeners) < wanted) {
        printf ("pub: %d of %" PRId64 " subscribers listening; giving up\n",
                atomic_load (&ticker.listeners), wanted);
        goto done;
    }
    printf ("pub: %" PRId64 " subscribers listening\n", wanted);
    fflush (stdout);

    //  The events: zm_publish never blocks, and no event waits for another
    for (int64_t n = 1; n <= count; n++) {
        zm_msg_t *event = zm_msg_new ();
        zm_msg_set_int (event, "n", n);
        zm_msg_set_int (event, "of", count);
        int rc = zm_publish (node, "demo.tick", &event, NULL);
        if (rc) {
            printf ("pub: event %" PRId64 ": %s\n", n, zm_strerror (rc));
            goto done;
        }
    }
    printf ("pub: %" PRId64 " events published on demo.tick\n", count);
    fflush (stdout);

    //  Stay until each subscriber has said what it got
    while (atomic_load (&ticker.reports) < wanted && zclock_mono () < deadline)
        zclock_sleep (20);
    if (atomic_load (&ticker.complete) == wanted)
        status = 0;
    else
        printf ("pub: %d of %" PRId64 " subscribers got every event\n",
                atomic_load (&ticker.complete), wanted);
done:
    fflush (stdout);
    zm_node_destroy (&node);
    return status;
}

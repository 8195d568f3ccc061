/*  greeter_client - call the "greeter" service on a set of nodes

    Usage: greeter_client PEERS [calls]

    PEERS is a comma-separated list of RPC endpoints with their public keys,
    e.g. tcp://127.0.0.1:7101#KEY1,tcp://127.0.0.1:7102#KEY2 (greeter_server
    prints READY <port> <key>; CURVE needs the server's key). The client's
    node asks each peer which services it serves (config registry.peers),
    then makes calls (default 8) to greeter
    Say.Hello, picking instances in turn (rpc.selector=round_robin). It
    prints each greeting with the node that answered, and a summary.

    Exits 0 when every call succeeded and every peer answered at least once.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zmicro.h"

#define MAX_NODES 64

typedef struct {
    char name[256]; //  node name from the reply
    int answers;    //  calls it answered
} answerer_t;

//  Number of endpoints in a comma-separated list (as registry.peers reads it).
static int
s_peer_count (const char *peers)
{
    char *copy = strdup (peers);
    int count = 0;
    for (char *save = NULL, *peer = strtok_r (copy, ", ", &save); peer;
         peer = strtok_r (NULL, ", ", &save))
        count++;
    free (copy);
    return count;
}

int
main (int argc, char **argv)
{
    if (argc < 2 || argc > 3 || s_peer_count (argv[1]) == 0) {
        fprintf (stderr, "usage: greeter_client tcp://host:port#KEY[,tcp://host:port#KEY...] [calls]\n");
        return 2;
    }
    const char *peers = argv[1];
    int calls = argc > 2 ? atoi (argv[2]) : 8;
    if (calls < 1 || calls > 1000000) {
        fprintf (stderr, "greeter_client: calls is 1..1000000\n");
        return 2;
    }
    char *reason = NULL;
    zm_config_t *config = zm_config_load (0, NULL, &reason); //  defaults and ZM_* env
    if (!config) {
        fprintf (stderr, "greeter_client: %s\n", reason);
        free (reason);
        return 2;
    }
    zm_config_set (config, "registry.peers", peers, NULL);
    zm_config_set (config, "rpc.selector", "round_robin", NULL);
    zm_config_set (config, "rpc.bind", "", NULL); //  a pure client: no RPC socket
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;

    answerer_t nodes[MAX_NODES];
    int node_count = 0, failed = 0;
    for (int i = 1; i <= calls; i++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_setf (req, "name", "world %d", i);
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        int rc = zm_call (node, "greeter", "Say.Hello", &req, &rep, &error, NULL);
        if (rc) {
            printf ("call %d: failed: %s (%s)\n", i, zm_strerror (rc),
                    error ? zm_error_detail (error) : "");
            zm_error_destroy (&error);
            failed++;
            continue;
        }
        const char *from = zm_msg_get_str (rep, "node", "?");
        printf ("call %d: %s (from %s)\n", i, zm_msg_get_str (rep, "greeting", ""), from);
        int n;
        for (n = 0; n < node_count; n++)
            if (strcmp (nodes[n].name, from) == 0)
                break;
        if (n == node_count && node_count < MAX_NODES) {
            snprintf (nodes[n].name, sizeof nodes[n].name, "%s", from);
            nodes[n].answers = 0;
            node_count++;
        }
        if (n < node_count)
            nodes[n].answers++;
        zm_msg_destroy (&rep);
    }
    zm_node_destroy (&node);

    int peer_count = s_peer_count (peers);
    printf ("greeter_client: %d calls, %d ok, %d failed;", calls, calls - failed, failed);
    for (int n = 0; n < node_count; n++)
        printf (" %s answered %d%s", nodes[n].name, nodes[n].answers,
                n + 1 < node_count ? "," : "");
    printf ("; %d of %d peers answered\n", node_count, peer_count);
    return failed == 0 && node_count >= peer_count ? 0 : 1;
}

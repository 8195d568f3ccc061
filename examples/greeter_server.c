/*  greeter_server - a node serving the "greeter" service over RPC

    Serves "greeter" 1.0.0 with one endpoint:

        Say.Hello  {name} -> {greeting, node}

    node is the answering node's name, so a client calling several servers
    sees who answered. Every flag is a config key (docs/config.md):

        greeter_server --node.name=alpha --rpc.port=7101 --rpc.bind=127.0.0.1

    Without --node.name the node is called greeter-<pid>, so that servers on
    one host tell apart. Prints "READY <port> <key>" (its RPC port and
    public key) once serving, then serves until SIGINT or SIGTERM.
*/
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "zmicro.h"

//  Say.Hello {name} -> {greeting, node}
static int
s_say_hello (zm_ctx_t *ctx, zm_msg_t *req)
{
    const char *name = zm_msg_get_str (req, "name", "stranger");
    if (!*name)
        return zm_error (ctx, ZM_EINVAL, "empty name");
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_setf (rep, "greeting", "Hello %s", name);
    zm_msg_set_str (rep, "node", zm_node_name (zm_ctx_node (ctx)));
    return zm_reply (ctx, &rep);
}

int
main (int argc, char **argv)
{
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "greeter_server: %s\n", reason);
        free (reason);
        return 2;
    }
    if (!*zm_config_get_str (config, "node.name", "")) {
        char name[32];
        snprintf (name, sizeof name, "greeter-%d", (int)getpid ());
        zm_config_set (config, "node.name", name, NULL);
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    zm_service_t *greeter = zm_service_new (node, "greeter", "1.0.0");
    if (!greeter || zm_service_handle (greeter, "Say.Hello", s_say_hello) ||
        zm_service_start (greeter)) {
        fprintf (stderr, "greeter_server: cannot start the greeter service\n");
        zm_node_destroy (&node);
        return 1;
    }
    int port = zm_node_rpc_port (node, 0);
    if (port == 0) {
        fprintf (stderr, "greeter_server: RPC is off (rpc.bind is empty)\n");
        zm_node_destroy (&node);
        return 1;
    }
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", port, key);
    fflush (stdout);
    zm_node_run (node); //  until SIGINT or SIGTERM
    zm_node_destroy (&node);
    return 0;
}

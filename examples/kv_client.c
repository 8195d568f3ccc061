/*  kv_client - write to the kv service and ride out its restarts

    Usage: kv_client ADDRESS [count]

    ADDRESS is kv_server's RPC endpoint and public key, as it prints them
    (tcp://127.0.0.1:7201#KEY: the connection is CURVE). The client
    puts count (default 50) keys "item-N" = "value-N", one every 50 ms.
    When a Put fails (the server is down or restarting) it tries again,
    for up to 20 s: a Put is idempotent, so trying again is always safe.
    Then it reads every key back. It prints one line per Put and a summary:

        50 puts, 50 found, 7 retries

    Exits 0 when every acknowledged Put is found with its value.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "zmicro.h"

//  One call to the kv service at address; 0 or the error
static int
s_kv (zm_node_t *node, const char *address, const char *endpoint, const char *key,
      const char *value, zm_msg_t **rep_p)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 1000;
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", key);
    if (value)
        zm_msg_set_str (req, "value", value);
    zm_error_t *error = NULL;
    int rc = zm_call (node, "kv", endpoint, &req, rep_p, &error, &opts);
    zm_error_destroy (&error);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf (stderr, "usage: kv_client ADDRESS [count]\n");
        return 2;
    }
    int count = argc == 3 ? atoi (argv[2]) : 50;
    if (count < 1 || count > 100000) {
        fprintf (stderr, "kv_client: count is 1..100000\n");
        return 2;
    }
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "rpc.bind", "", NULL);           //  a pure client
    zm_config_set (config, "registry.beacon", "false", NULL); //  it has the address
    zm_config_set (config, "log.level", "error", NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    int retries = 0, acked = 0;
    for (int i = 1; i <= count; i++) {
        char key[32], value[32];
        snprintf (key, sizeof key, "item-%d", i);
        snprintf (value, sizeof value, "value-%d", i);
        int64_t deadline = zclock_mono () + 20000;
        int rc;
        while ((rc = s_kv (node, argv[1], "Put", key, value, NULL)) != 0
               && zclock_mono () < deadline) {
            printf ("put %s failed (%s): trying again\n", key, zm_strerror (rc));
            fflush (stdout);
            retries++;
            zclock_sleep (100);
        }
        if (rc) {
            printf ("put %s: gave up: %s\n", key, zm_strerror (rc));
            break;
        }
        acked++;
        printf ("put %s ok\n", key);
        fflush (stdout);
        zclock_sleep (50);
    }
    int found = 0;
    for (int i = 1; i <= acked; i++) {
        char key[32], value[32];
        snprintf (key, sizeof key, "item-%d", i);
        snprintf (value, sizeof value, "value-%d", i);
        zm_msg_t *rep = NULL;
        if (s_kv (node, argv[1], "Get", key, NULL, &rep) == 0
            && strcmp (zm_msg_get_str (rep, "value", ""), value) == 0)
            found++;
        else
            printf ("get %s: missing or wrong\n", key);
        zm_msg_destroy (&rep);
    }
    printf ("%d puts, %d found, %d retries\n", acked, found, retries);
    zm_node_destroy (&node);
    return acked == count && found == acked ? 0 : 1;
}

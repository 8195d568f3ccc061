/*  kv_server - a key-value service whose records survive restarts

    Serves "kv" 1.0.0 with two endpoints, over the node's store (LMDB by
    default: a write is acknowledged once it is on disk):

        Put  {key, value}  -> {version}          value is a string
        Get  {key}         -> {value, version}   404 when there is none

    The records live in the node's store under the database "kv" (the
    service's own: zm_ctx_store). Every flag is a config key
    (docs/config.md), e.g.

        kv_server --store.path=/var/lib/kv --rpc.port=7201 --rpc.bind=127.0.0.1

    Prints "READY <port> <key>" (its RPC port and public key) once serving,
    then serves until SIGINT or SIGTERM. Kill it, start it again on the
    same path: every acknowledged Put is still there.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zmicro.h"

//  Put {key, value} -> {version}
static int
s_put (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_store_t *store = zm_ctx_store (ctx);
    if (!store)
        return zm_error (ctx, ZM_EUNAVAIL, "the store cannot be opened");
    const char *key = zm_msg_get_str (req, "key", "");
    const char *value = zm_msg_get_str (req, "value", NULL);
    if (!value)
        return zm_error (ctx, ZM_EINVAL, "Put wants {key, value} with a string value");
    uint64_t version = 0;
    int rc = zm_store_write (store, key, value, strlen (value), NULL, &version);
    if (rc)
        return zm_error (ctx, rc, "cannot write \"%s\": %s", key, zm_strerror (rc));
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_uint (rep, "version", version);
    return zm_reply (ctx, &rep);
}

//  Get {key} -> {value, version}
static int
s_get (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_store_t *store = zm_ctx_store (ctx);
    if (!store)
        return zm_error (ctx, ZM_EUNAVAIL, "the store cannot be opened");
    const char *key = zm_msg_get_str (req, "key", "");
    zm_records_t *records = NULL;
    int rc = zm_store_read (store, key, NULL, &records);
    if (rc == ZM_ENOTFOUND)
        return zm_error (ctx, rc, "no key \"%s\"", key);
    if (rc)
        return zm_error (ctx, rc, "cannot read \"%s\": %s", key, zm_strerror (rc));
    const zm_record_t *record = zm_records_at (records, 0);
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_setf (rep, "value", "%.*s", (int) record->size, (const char *) record->value);
    zm_msg_set_uint (rep, "version", record->version);
    zm_records_destroy (&records);
    return zm_reply (ctx, &rep);
}

int
main (int argc, char **argv)
{
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "kv_server: %s\n", reason);
        free (reason);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    zm_service_t *kv = zm_service_new (node, "kv", "1.0.0");
    //  Writes wait for the disk: a reactor of its own keeps them off the
    //  reactors that serve everything else
    if (!kv || zm_service_handle (kv, "Put", s_put) || zm_service_handle (kv, "Get", s_get)
        || zm_service_set_dedicated (kv, true) || zm_service_start (kv)) {
        fprintf (stderr, "kv_server: cannot start the kv service\n");
        zm_node_destroy (&node);
        return 1;
    }
    if (!zm_node_store (node)) {
        fprintf (stderr, "kv_server: cannot open the store (see store.path)\n");
        zm_node_destroy (&node);
        return 1;
    }
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", zm_node_rpc_port (node, 0), key);
    fflush (stdout);
    zm_node_run (node); //  until SIGINT or SIGTERM
    zm_node_destroy (&node);
    return 0;
}

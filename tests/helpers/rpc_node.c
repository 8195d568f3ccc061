/*  rpc_node - a node serving the "greeter" test service, for multi-process
    tests. Prints "READY <port>" once serving, then runs until SIGTERM.
    Flags are config keys (--node.name=a --rpc.port=7000 ...).

    greeter endpoints:
      Say.Hello  {name}          -> {greeting, node}
      Echo       {seq}           -> {seq, node, pid, meta_user, trace_id, remaining}
      Fail       {}              -> error 409 "it failed on purpose"
      Slow       {ms, seq}       -> sleeps ms (blocks its reactor on purpose), {seq, node}
    slow endpoints (a dedicated reactor):
      Slow       as above
*/
#include <czmq.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "zmicro.h"

static int
s_hello (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_setf (rep, "greeting", "Hello %s", zm_msg_get_str (req, "name", "stranger"));
    zm_msg_set_str (rep, "node", zm_node_name (zm_ctx_node (ctx)));
    return zm_reply (ctx, &rep);
}

static int
s_echo (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_int (rep, "seq", zm_msg_get_int (req, "seq", -1));
    zm_msg_set_str (rep, "node", zm_node_name (zm_ctx_node (ctx)));
    zm_msg_set_int (rep, "pid", getpid ());
    const char *user = zm_ctx_meta (ctx, "user");
    if (user)
        zm_msg_set_str (rep, "meta_user", user);
    const char *trace = zm_ctx_trace_id (ctx);
    if (trace)
        zm_msg_set_str (rep, "trace_id", trace);
    zm_msg_set_int (rep, "remaining", zm_ctx_remaining (ctx));
    return zm_reply (ctx, &rep);
}

static int
s_fail (zm_ctx_t *ctx, zm_msg_t *req)
{
    return zm_error (ctx, ZM_ECONFLICT, "it failed on purpose");
}

static int
s_slow (zm_ctx_t *ctx, zm_msg_t *req)
{
    zclock_sleep ((int) zm_msg_get_int (req, "ms", 100));
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_int (rep, "seq", zm_msg_get_int (req, "seq", -1));
    zm_msg_set_str (rep, "node", zm_node_name (zm_ctx_node (ctx)));
    return zm_reply (ctx, &rep);
}

int
main (int argc, char **argv)
{
    //  Die with the test that started us, even when it is killed.
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "rpc_node: %s\n", reason);
        free (reason);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    zm_service_t *svc = zm_service_new (node, "greeter", "1.0.0");
    zm_service_set_meta (svc, "team", "core");
    zm_service_set_meta (svc, "node", zm_node_name (node)); //  for metadata filters
    zm_service_handle (svc, "Say.Hello", s_hello);
    zm_service_handle (svc, "Echo", s_echo);
    zm_service_handle (svc, "Fail", s_fail);
    zm_service_handle (svc, "Slow", s_slow);
    if (zm_service_start (svc) != 0)
        return 1;
    //  Slow work blocks: it gets a reactor of its own, so the RPC socket is
    //  read (and deadlines measured) while it works.
    zm_service_t *slow = zm_service_new (node, "slow", "1.0.0");
    zm_service_handle (slow, "Slow", s_slow);
    zm_service_set_dedicated (slow, true);
    if (zm_service_start (slow) != 0)
        return 1;
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", zm_node_rpc_port (node, 0), key);
    fflush (stdout);
    zm_node_run (node);
    zm_node_destroy (&node);
    return 0;
}

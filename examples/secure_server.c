/*  secure_server - a service of a secure cluster, open to named identities

    Serves "vault" 1.0.0 on a node that admits only members of its cluster
    and the identities it was given (docs/security.md):

        Status       {} -> {status, caller}   any member or identity
        Secret.Read  {} -> {secret, caller}   role "admin" only

    Which is the access rules below, this program's default for auth.rules.
    The keys come from the zm tool, once:

        zm keygen --cluster --out cluster.key              # the members' key (0600)
        zm keygen --name alice --roles admin --dir keys    # identities: a keypair
        zm keygen --name bob --roles ops --dir keys        #   each, name and roles
        mkdir admitted && cp keys/alice.cert keys/bob.cert admitted/

    admitted/ holds the public halves only: the secrets stay with alice and
    bob. Then

        secure_server --auth.cluster_key=cluster.key --auth.identities=admitted \
                      --rpc.bind=127.0.0.1

    prints "READY <port> <key>" (its RPC port and public key) and serves
    until SIGINT or SIGTERM. Every TCP connection is CURVE: a caller whose
    key is neither the members' nor an admitted identity's never gets past
    the handshake. secure_client.c calls it.
*/
#include <stdio.h>
#include <stdlib.h>
#include "zmicro.h"

//  Status for any member or identity ("*"), the secret for role admin;
//  once any rule exists, whatever no rule allows is denied (403)
#define RULES                                                                                      \
    "[{\"name\": \"vault\", \"endpoint\": \"Status\", \"role\": \"*\", \"access\": "               \
    "\"allow\"},"                                                                                  \
    " {\"name\": \"vault\", \"endpoint\": \"Secret.*\", \"role\": \"admin\", "                     \
    "\"access\": \"allow\"}]"

//  Who called: the identity the CURVE handshake proved, never a claim
static const char *
s_caller (zm_ctx_t *ctx)
{
    const char *caller = zm_ctx_caller (ctx);
    return caller ? caller : "(this process)";
}

//  Status {} -> {status, caller}
static int
s_status (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_str (rep, "status", "sealed");
    zm_msg_set_str (rep, "caller", s_caller (ctx));
    return zm_reply (ctx, &rep);
}

//  Secret.Read {} -> {secret, caller}: the rules keep all but admins out
static int
s_secret_read (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_str (rep, "secret", "the combination is 12-34-56");
    zm_msg_set_str (rep, "caller", s_caller (ctx));
    return zm_reply (ctx, &rep);
}

int
main (int argc, char **argv)
{
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (!config ||
        zm_config_define (config, "auth.rules", ZM_CONFIG_STR, RULES,
                          "secure_server: the vault's access rules") ||
        zm_config_load_all (config, argc, argv, &reason)) {
        fprintf (stderr, "secure_server: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    //  Without these the node would be open to anybody: refuse
    if (!*zm_config_get_str (config, "auth.cluster_key", "") ||
        !*zm_config_get_str (config, "auth.identities", "")) {
        fprintf (stderr, "secure_server: give it --auth.cluster_key=FILE and "
                         "--auth.identities=DIR (see the top of secure_server.c)\n");
        zm_config_destroy (&config);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1; //  a bad key, key file or rule: the log says which
    zm_service_t *vault = zm_service_new (node, "vault", "1.0.0");
    if (!vault || zm_service_handle (vault, "Status", s_status) ||
        zm_service_handle (vault, "Secret.Read", s_secret_read) || zm_service_start (vault)) {
        fprintf (stderr, "secure_server: cannot start the vault service\n");
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

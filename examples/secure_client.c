/*  secure_client - call the vault of secure_server.c as an identity

    Usage: secure_client IDENTITY ADDRESS [ENDPOINT]

    IDENTITY is a keypair made by zm keygen, as DIR/NAME (keys/alice reads
    keys/alice.cert and keys/alice.cert_secret); ADDRESS is the server's
    RPC endpoint and public key, as it prints them (tcp://127.0.0.1:7401#KEY);
    ENDPOINT is Secret.Read (the default) or Status. The client presents the
    identity in the CURVE handshake; the server decides by its rules. It
    prints the answer, or why there is none:

        secure_client keys/alice ADDRESS   ->  Secret.Read: the combination is 12-34-56 (as alice)
        secure_client keys/bob ADDRESS     ->  Secret.Read: error 403: ...
        secure_client keys/bob ADDRESS Status  ->  Status: sealed (as bob)

    and a key the server does not admit gets no answer at all: its
    handshake fails, and the call with it (error 503 or 408).

    Exits 0 with an answer, 1 without.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zmicro.h"

int
main (int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: secure_client DIR/NAME tcp://host:port#KEY [ENDPOINT]\n");
        return 2;
    }
    const char *endpoint = argc > 3 ? argv[3] : "Secret.Read";
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (zm_config_set (config, "auth.identity", argv[1], &reason)) {
        fprintf (stderr, "secure_client: %s\n", reason);
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    zm_config_set (config, "rpc.bind", "", NULL);             //  a pure client
    zm_config_set (config, "registry.beacon", "false", NULL); //  it has the address
    zm_config_set (config, "log.level", "error", NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node) {
        fprintf (stderr, "secure_client: cannot use the identity %s\n", argv[1]);
        return 1;
    }
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = argv[2];
    opts.timeout_ms = 3000;
    zm_msg_t *rep = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (node, "vault", endpoint, NULL, &rep, &error, &opts);
    if (rc == 0)
        printf ("%s: %s (as %s)\n", endpoint,
                zm_msg_get_str (rep, "secret", zm_msg_get_str (rep, "status", "?")),
                zm_msg_get_str (rep, "caller", "?"));
    else
        printf ("%s: error %d: %s\n", endpoint, error ? zm_error_code (error) : zm_err_http (rc),
                error ? zm_error_detail (error) : zm_strerror (rc));
    zm_msg_destroy (&rep);
    zm_error_destroy (&error);
    zm_node_destroy (&node);
    return rc == 0 ? 0 : 1;
}

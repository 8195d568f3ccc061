/*  Keys: node keypairs made on first start and checked at every start (a
    secret readable by others, or a tampered key, is refused), identity
    keypairs from zm keygen, and the cluster key.
*/
#include "support.h"

#include <czmq.h>
#include <sys/stat.h>

#include "zmicro.h"

static char s_dir[64];

static const char *
s_new_dir (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/zm-auth-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    return s_dir;
}

static void
s_teardown (void)
{
    if (*s_dir) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        cr_assert_eq (system (command), 0);
        *s_dir = 0;
    }
}

//  A node with the keys in dir and the cluster key (NULL: none); NULL
//  when it refuses to start
static zm_node_t *
s_node (const char *dir, const char *cluster)
{
    zm_config_t *config = zm_config_new ();
    cr_assert_not_null (config);
    char *reason = NULL;
    cr_assert_eq (zm_config_set (config, "auth.keys", dir, &reason), 0);
    cr_assert_eq (zm_config_set (config, "rpc.bind", "", &reason), 0);
    cr_assert_eq (zm_config_set (config, "registry.beacon", "false", &reason), 0);
    cr_assert_eq (zm_config_set (config, "log.level", "error", &reason), 0);
    if (cluster)
        cr_assert_eq (zm_config_set (config, "auth.cluster_key", cluster, &reason), 0);
    zm_node_t *node = zm_node_new (&config);
    zm_config_destroy (&config);
    return node;
}

//  Replace the first occurrence of what in file by with (same length)
static void
s_edit (const char *path, const char *what, const char *with)
{
    char *text = NULL;
    size_t size = 0;
    FILE *file = fopen (path, "r");
    cr_assert_not_null (file);
    cr_assert_gt (getdelim (&text, &size, 0, file), 0);
    fclose (file);
    char *at = strstr (text, what);
    cr_assert_not_null (at, "%s holds no '%s'", path, what);
    memcpy (at, with, strlen (with));
    file = fopen (path, "w");
    fputs (text, file);
    fclose (file);
    free (text);
}

//  The value of key = "..." in a czmq certificate file
static void
s_cert_value (const char *path, const char *key, char *out, size_t size)
{
    zconfig_t *root = zconfig_load (path);
    cr_assert_not_null (root, "%s", path);
    snprintf (out, size, "%s", zconfig_get (root, key, ""));
    zconfig_destroy (&root);
}

Test (auth, a_node_makes_its_keypair_once_and_keeps_it, .fini = s_teardown, .timeout = 20)
{
    char keys[128];
    snprintf (keys, sizeof keys, "%s/keys", s_new_dir ());
    zm_node_t *node = s_node (keys, NULL);
    cr_assert_not_null (node);
    zm_node_destroy (&node);
    char secret[160], public_path[160];
    snprintf (secret, sizeof secret, "%s/node.cert_secret", keys);
    snprintf (public_path, sizeof public_path, "%s/node.cert", keys);
    struct stat info;
    cr_assert_eq (stat (secret, &info), 0);
    cr_assert_eq (info.st_mode & 0777, 0600, "the secret is the owner's only");
    cr_assert_eq (stat (keys, &info), 0);
    cr_assert_eq (info.st_mode & 0777, 0700);
    char first[ZM_KEY_TEXT], again[ZM_KEY_TEXT];
    cr_assert_eq (zm_keypair_check (keys, "node", first), 0);
    node = s_node (keys, NULL);
    cr_assert_not_null (node, "a second start uses the same keys");
    zm_node_destroy (&node);
    cr_assert_eq (zm_keypair_check (keys, "node", again), 0);
    cr_assert_str_eq (first, again);
}

Test (auth, a_secret_open_to_others_or_a_tampered_key_stops_the_start, .fini = s_teardown,
      .timeout = 20)
{
    const char *dir = s_new_dir ();
    char public_text[ZM_KEY_TEXT];
    cr_assert_eq (zm_keypair_create (dir, "node", NULL, public_text), 0);
    char secret[160], public_path[160];
    snprintf (secret, sizeof secret, "%s/node.cert_secret", dir);
    snprintf (public_path, sizeof public_path, "%s/node.cert", dir);
    //  Readable by the group: refused, as ssh refuses such a key
    cr_assert_eq (chmod (secret, 0640), 0);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), ZM_EDENIED);
    cr_assert_null (s_node (dir, NULL));
    cr_assert_eq (chmod (secret, 0600), 0);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), 0);
    //  The public key in the public file changed: refused
    char key[64];
    s_cert_value (public_path, "curve/public-key", key, sizeof key);
    char other[ZM_KEY_TEXT];
    cr_assert_eq (zm_cluster_key_new (other), 0); //  any other valid Z85 key
    s_edit (public_path, key, other);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), ZM_EIO);
    cr_assert_null (s_node (dir, NULL));
    s_edit (public_path, other, key);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), 0, "restored");
    //  The secret key changed: it no longer gives the public key
    s_cert_value (secret, "curve/secret-key", key, sizeof key);
    s_edit (secret, key, other);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), ZM_EIO);
    cr_assert_null (s_node (dir, NULL));
    //  Garbage in the secret file
    FILE *file = fopen (secret, "w");
    fputs ("curve\n    secret-key = \"not a key\"\n", file);
    fclose (file);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), ZM_EIO);
    //  The public file gone
    s_edit (secret, "not a key", "not a kez");
    cr_assert_eq (unlink (public_path), 0);
    cr_assert_eq (zm_keypair_check (dir, "node", NULL), ZM_EIO);
    cr_assert_null (s_node (dir, NULL));
    //  No keypair at all
    cr_assert_eq (zm_keypair_check (dir, "nobody", NULL), ZM_ENOTFOUND);
}

Test (auth, identity_keypairs_carry_name_and_roles_and_are_never_overwritten,
      .fini = s_teardown, .timeout = 10)
{
    const char *dir = s_new_dir ();
    char public_text[ZM_KEY_TEXT];
    cr_assert_eq (zm_keypair_create (dir, "deploy-bot", "admin,ops", public_text), 0);
    char path[160], value[64];
    snprintf (path, sizeof path, "%s/deploy-bot.cert", dir);
    s_cert_value (path, "metadata/name", value, sizeof value);
    cr_assert_str_eq (value, "deploy-bot");
    s_cert_value (path, "metadata/roles", value, sizeof value);
    cr_assert_str_eq (value, "admin,ops");
    s_cert_value (path, "curve/public-key", value, sizeof value);
    cr_assert_str_eq (value, public_text);
    cr_assert_eq (zm_keypair_create (dir, "deploy-bot", NULL, NULL), ZM_ECONFLICT);
    s_cert_value (path, "curve/public-key", value, sizeof value);
    cr_assert_str_eq (value, public_text, "the first keypair is untouched");
    cr_assert_eq (zm_keypair_create (dir, "bad name", NULL, NULL), ZM_EINVAL);
    cr_assert_eq (zm_keypair_create (dir, "ok", "admin;rm", NULL), ZM_EINVAL);
    cr_assert_eq (zm_keypair_create (dir, "", NULL, NULL), ZM_EINVAL);
    cr_assert_eq (zm_keypair_create (NULL, "x", NULL, NULL), ZM_EINVAL);
}

Test (auth, the_cluster_key_comes_as_text_or_a_private_file, .fini = s_teardown, .timeout = 20)
{
    const char *dir = s_new_dir ();
    char text[ZM_KEY_TEXT];
    cr_assert_eq (zm_cluster_key_new (text), 0);
    cr_assert_eq (strlen (text), 40);
    uint8_t key[32], from_file[32];
    cr_assert_eq (zm_cluster_key_read (text, key), 0);
    char path[128];
    snprintf (path, sizeof path, "%s/cluster.key", dir);
    cr_assert_eq (zm_cluster_key_save (path, text), 0);
    cr_assert_eq (zm_cluster_key_save (path, text), ZM_ECONFLICT, "never overwritten");
    cr_assert_eq (zm_cluster_key_read (path, from_file), 0);
    cr_assert_eq (memcmp (key, from_file, 32), 0);
    zm_node_t *node = s_node (":memory:", path);
    cr_assert_not_null (node);
    zm_node_destroy (&node);
    node = s_node (":memory:", text);
    cr_assert_not_null (node);
    zm_node_destroy (&node);
    //  Open to others, missing, or not a key: the node does not start
    cr_assert_eq (chmod (path, 0644), 0);
    cr_assert_eq (zm_cluster_key_read (path, key), ZM_EDENIED);
    cr_assert_null (s_node (":memory:", path));
    char missing[160];
    snprintf (missing, sizeof missing, "%s/none", dir);
    cr_assert_eq (zm_cluster_key_read (missing, key), ZM_ENOTFOUND);
    cr_assert_null (s_node (":memory:", missing));
    char bad[128];
    snprintf (bad, sizeof bad, "%s/bad.key", dir);
    FILE *file = fopen (bad, "w");
    fputs ("hello\n", file);
    fclose (file);
    cr_assert_eq (chmod (bad, 0600), 0);
    cr_assert_eq (zm_cluster_key_read (bad, key), ZM_EINVAL);
    cr_assert_null (s_node (":memory:", bad));
    cr_assert_eq (zm_cluster_key_save (path, "short"), ZM_EINVAL);
}

//  --------------------------------------------------------------------------
//  Callers and access rules, on loopback

//  Who is calling, as the serving node sees it: {caller, roles}
static int
s_whoami (zm_ctx_t *ctx, zm_msg_t *req)
{
    (void) req;
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_str (rep, "caller", zm_ctx_caller (ctx) ? zm_ctx_caller (ctx) : "(local)");
    zm_msg_set_str (rep, "roles", zm_ctx_caller_roles (ctx) ? zm_ctx_caller_roles (ctx) : "");
    return zm_reply (ctx, &rep);
}

//  A node with config pairs (key, value, ..., NULL); asserts it starts
static zm_node_t *
s_node_with (const char *key, ...)
{
    zm_config_t *config = zm_config_new ();
    cr_assert_not_null (config);
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    va_list args;
    va_start (args, key);
    for (const char *at = key; at; at = va_arg (args, const char *)) {
        const char *value = va_arg (args, const char *);
        char *reason = NULL;
        cr_assert_eq (zm_config_set (config, at, value, &reason), 0, "%s: %s", at, reason);
    }
    va_end (args);
    zm_node_t *node = zm_node_new (&config);
    zm_config_destroy (&config);
    return node;
}

//  Call greeter endpoint at address from node: 0 and the caller the server
//  saw in seen (when not NULL), or the error code
static int
s_whoami_call (zm_node_t *node, const char *address, const char *endpoint, char *seen,
               size_t size)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 3000;
    opts.retries = 0;
    zm_msg_t *rep = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (node, "greeter", endpoint, NULL, &rep, &error, &opts);
    if (rc == 0 && seen)
        snprintf (seen, size, "%s/%s", zm_msg_get_str (rep, "caller", "?"),
                  zm_msg_get_str (rep, "roles", "?"));
    rc = rc ? zm_error_code (error) : 0;
    zm_msg_destroy (&rep);
    zm_error_destroy (&error);
    return rc;
}

//  Copy file from to to
static void
s_copy (const char *from, const char *to)
{
    char command[512];
    snprintf (command, sizeof command, "cp '%s' '%s'", from, to);
    cr_assert_eq (system (command), 0);
}

#define S_RULES                                                                                  \
    "[{\"name\": \"greeter\", \"endpoint\": \"Who\", \"role\": \"*\", \"access\": \"allow\"},"   \
    " {\"name\": \"greeter\", \"endpoint\": \"Secret\", \"role\": \"admin\", \"access\": "       \
    "\"allow\"}]"

Test (auth, callers_come_from_the_handshake_and_rules_decide, .fini = s_teardown, .timeout = 60)
{
    //  Two identities: viewer (ops) and boss (admin); the server admits
    //  both through their public certificates only.
    const char *dir = s_new_dir ();
    char keys[128], admitted[128], from[192], to[192];
    snprintf (keys, sizeof keys, "%s/keys", dir);
    snprintf (admitted, sizeof admitted, "%s/admitted", dir);
    cr_assert_eq (mkdir (admitted, 0700), 0);
    cr_assert_eq (zm_keypair_create (keys, "viewer", "ops", NULL), 0);
    cr_assert_eq (zm_keypair_create (keys, "boss", "admin,ops", NULL), 0);
    const char *names[] = {"viewer", "boss"};
    for (int i = 0; i < 2; i++) {
        snprintf (from, sizeof from, "%s/%s.cert", keys, names[i]);
        snprintf (to, sizeof to, "%s/%s.cert", admitted, names[i]);
        s_copy (from, to);
    }
    zm_node_t *server = s_node_with ("auth.identities", admitted, "auth.rules", S_RULES, NULL);
    cr_assert_not_null (server);
    zm_service_t *greeter = zm_service_new (server, "greeter", "1.0.0");
    zm_service_handle (greeter, "Who", s_whoami);
    zm_service_handle (greeter, "Secret", s_whoami);
    cr_assert_eq (zm_service_start (greeter), 0);
    char address[128];
    zt_node_address (server, address, sizeof address);

    char viewer_flag[160], boss_flag[160];
    snprintf (viewer_flag, sizeof viewer_flag, "%s/viewer", keys);
    snprintf (boss_flag, sizeof boss_flag, "%s/boss", keys);
    zm_node_t *viewer = s_node_with ("auth.identity", viewer_flag, NULL);
    zm_node_t *boss = s_node_with ("auth.identity", boss_flag, NULL);
    zm_node_t *stranger = s_node_with (NULL);
    cr_assert (viewer && boss && stranger);

    //  The identity is the certificate's, never a claim: the stranger (an
    //  anonymous caller of this open node) holds no role, not even "*".
    char seen[128] = "";
    cr_assert_eq (s_whoami_call (viewer, address, "Who", seen, sizeof seen), 0);
    cr_assert_str_eq (seen, "viewer/ops");
    cr_assert_eq (s_whoami_call (viewer, address, "Secret", NULL, 0), 403);
    cr_assert_eq (s_whoami_call (boss, address, "Secret", seen, sizeof seen), 0);
    cr_assert_str_eq (seen, "boss/admin,ops");
    cr_assert_eq (s_whoami_call (stranger, address, "Who", NULL, 0), 403);
    //  No rule for it: denied once rules exist
    cr_assert_eq (s_whoami_call (boss, address, "Other", NULL, 0), 403);

    //  Rules reloaded at run time: ops may now see the secret, at a higher
    //  priority than a deny for everyone else.
    char *reason = NULL;
    cr_assert_eq (zm_config_set (zm_node_config (server), "auth.rules",
                                 "[{\"name\": \"greeter\", \"endpoint\": \"*\", \"role\": \"\","
                                 " \"access\": \"deny\", \"priority\": 1},"
                                 " {\"name\": \"greeter\", \"endpoint\": \"Secret\", \"role\": "
                                 "\"ops\", \"access\": \"allow\", \"priority\": 5}]",
                                 &reason),
                  0);
    cr_assert_eq (s_whoami_call (viewer, address, "Secret", seen, sizeof seen), 0);
    cr_assert_eq (s_whoami_call (viewer, address, "Who", NULL, 0), 403);
    //  Bad rules are refused, and the rules in force stay
    cr_assert_eq (zm_config_set (zm_node_config (server), "auth.rules",
                                 "[{\"name\": \"greeter\", \"access\": \"maybe\", \"role\": \"\"}]",
                                 &reason),
                  0);
    cr_assert_eq (s_whoami_call (viewer, address, "Secret", NULL, 0), 0);
    //  No rules at all: every caller admitted may call
    cr_assert_eq (zm_config_set (zm_node_config (server), "auth.rules", "", &reason), 0);
    cr_assert_eq (s_whoami_call (stranger, address, "Who", seen, sizeof seen), 0);
    cr_assert_str_eq (seen, "/", "an anonymous caller has no name: %s", seen);

    zm_node_destroy (&stranger);
    zm_node_destroy (&boss);
    zm_node_destroy (&viewer);
    zm_node_destroy (&server);
}

Test (auth, bad_rules_or_identities_stop_the_start, .fini = s_teardown, .timeout = 20)
{
    const char *bad[] = {
        "{}",                                                         //  not an array
        "[1]",                                                        //  not an object
        "[{\"role\": \"\"}]",                                         //  no access
        "[{\"access\": \"allow\"}]",                                  //  no role
        "[{\"type\": \"queue\", \"role\": \"\", \"access\": \"allow\"}]", //  unknown type
        "[{\"role\": \"\", \"access\": \"allow\", \"priority\": \"high\"}]",
        "[{\"role\": \"\", \"access\": \"allow\", \"who\": \"me\"}]", //  unknown field
        "[{\"role\": \"",                                             //  not JSON
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_null (s_node_with ("auth.rules", bad[i], NULL), "started with %s", bad[i]);
    cr_assert_null (s_node_with ("auth.identities", "/nonexistent/zm", NULL));
    cr_assert_null (s_node_with ("auth.identity", "/nonexistent/zm/who", NULL));
    cr_assert_null (s_node_with ("auth.identity", "nobody", NULL));
    const char *dir = s_new_dir ();
    char keys[128];
    snprintf (keys, sizeof keys, "%s/keys", dir);
    cr_assert_eq (zm_keypair_create (keys, "viewer", "ops", NULL), 0);
    char flag[160];
    snprintf (flag, sizeof flag, "%s/viewer", keys);
    zm_node_t *node = s_node_with ("auth.identity", flag, NULL);
    cr_assert_not_null (node, "an identity of our own: starts");
    zm_node_destroy (&node);
}

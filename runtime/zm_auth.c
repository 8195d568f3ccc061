/*  =========================================================================
    zm_auth - keys on disk, the cluster key, authenticated beacons

    Keypairs are czmq certificates: NAME.cert (public key, metadata) and
    NAME.cert_secret (both keys), in a directory of mode 0700. A node
    checks its own keypair at start the way ssh checks a private key: a
    secret file that group or others can read is refused, and so is one
    whose keys are malformed or do not belong together (the secret key
    must give the public key), so a tampered file is a clear error at
    start, never a node running on a key it did not make.

    The cluster key (32 bytes, Z85 text) never goes on the wire. The node
    derives from it, with libsodium's KDF, the key of its beacons' MACs
    (HMAC-SHA-512-256, crypto_auth), and the members' keypair: every
    holder of the cluster key can compute it, and a node's ZAP handler
    admits it as a member.

    CURVE: every TCP socket of the runtime is a CURVE server (the node's
    keypair) or client (its client keypair: an identity of auth.identity,
    else the members' keypair, else, on an open node, its own). One ZAP
    handler per process (libzmq has one per context) answers for every
    node in it by ZAP domain (the node's UUID): members, identities listed
    in auth.identities (public certificates with name and roles), and on
    an open node anybody. A CURVE socket of the application's own (another
    domain) is answered as libzmq would with no handler: admitted. The
    answer's metadata (Zm-Kind, Zm-Name,
    Zm-Roles) rides on every message of the connection: the caller of a
    request is read from it, never from a header.

    Access rules (auth.rules, JSON, reloaded live) have go-micro's
    semantics: highest priority first, first match decides, and once a
    rule exists what no rule matches is denied. docs/security.md.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zmicro/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

#define S_KDF_CONTEXT "zmbeacon" //  8 bytes: the beacon MAC key's context

//  Is text 40 characters of Z85 that decode to 32 bytes?
static bool
s_key_decode (const char *text, uint8_t key[32])
{
    return text && strlen (text) == 40 && zmq_z85_decode (key, text) != NULL;
}

int
zm_cluster_key_new (char text[ZM_KEY_TEXT])
{
    if (!text || sodium_init () < 0)
        return ZM_EIO;
    uint8_t key[32];
    randombytes_buf (key, sizeof key);
    bool ok = zmq_z85_encode (text, key, sizeof key) != NULL;
    sodium_memzero (key, sizeof key);
    return ok ? 0 : ZM_EIO;
}

//  Write text and a newline to a new file at path, mode 0600
static int
s_write_new (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return errno == EEXIST ? ZM_ECONFLICT : ZM_EIO;
    size_t size = strlen (text);
    bool ok =
        write (fd, text, size) == (ssize_t)size && write (fd, "\n", 1) == 1 && fsync (fd) == 0;
    ok = close (fd) == 0 && ok;
    if (!ok)
        unlink (path);
    return ok ? 0 : ZM_EIO;
}

int
zm_cluster_key_save (const char *path, const char *text)
{
    uint8_t key[32];
    if (!path || !*path || !s_key_decode (text, key))
        return ZM_EINVAL;
    sodium_memzero (key, sizeof key);
    return s_write_new (path, text);
}

//  A file holding a secret: 0, ZM_ENOTFOUND, ZM_EDENIED (open to group or
//  others: logged), ZM_EIO
static int
s_secret_file_ok (const char *path)
{
    struct stat info;
    if (stat (path, &info) != 0)
        return errno == ENOENT ? ZM_ENOTFOUND : ZM_EIO;
    if (!S_ISREG (info.st_mode)) {
        zm_log_error ("auth: %s is not a file", path);
        return ZM_EIO;
    }
    if (info.st_mode & 077) {
        zm_log_error ("auth: %s holds a secret and group or others can read it (mode %04o): "
                      "refused; chmod 600 %s",
                      path, (unsigned)(info.st_mode & 07777), path);
        return ZM_EDENIED;
    }
    return 0;
}

int
zm_cluster_key_read (const char *text_or_path, uint8_t key[32])
{
    if (!text_or_path || !*text_or_path || !key)
        return ZM_EINVAL;
    if (s_key_decode (text_or_path, key))
        return 0;
    int rc = s_secret_file_ok (text_or_path);
    if (rc == ZM_ENOTFOUND)
        zm_log_error ("auth: no cluster key file %s", text_or_path);
    if (rc)
        return rc;
    FILE *file = fopen (text_or_path, "r");
    if (!file) {
        zm_log_error ("auth: cannot read %s: %s", text_or_path, strerror (errno));
        return ZM_EIO;
    }
    char text[64] = "";
    bool read = fgets (text, sizeof text, file) != NULL;
    fclose (file);
    text[strcspn (text, "\r\n")] = 0;
    bool ok = read && s_key_decode (text, key);
    sodium_memzero (text, sizeof text);
    if (!ok) {
        zm_log_error ("auth: %s does not hold a cluster key (40 characters of Z85, as "
                      "zm keygen --cluster writes)",
                      text_or_path);
        return ZM_EINVAL;
    }
    return 0;
}

//  Is text a name or a roles list we write into a certificate?
static bool
s_meta_ok (const char *text, bool list)
{
    if (!text)
        return list;
    size_t size = strlen (text);
    if (size > 64 * (list ? 16 : 1) || (!list && size == 0))
        return false;
    for (const char *c = text; *c; c++)
        if (!(isalnum ((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.' ||
              (list && *c == ',')))
            return false;
    return true;
}

int
zm_keypair_create (const char *dir, const char *name, const char *roles,
                   char public_text[ZM_KEY_TEXT])
{
    if (!dir || !*dir || !s_meta_ok (name, false) || !s_meta_ok (roles, true))
        return ZM_EINVAL;
    if (zsys_dir_create ("%s", dir) != 0 && zsys_file_exists (dir) == false) {
        zm_log_error ("auth: cannot create %s: %s", dir, strerror (errno));
        return ZM_EIO;
    }
    chmod (dir, 0700);
    char *path = zsys_sprintf ("%s/%s.cert", dir, name);
    char *secret = zsys_sprintf ("%s/%s.cert_secret", dir, name);
    int rc = path && secret ? 0 : ZM_ENOMEM;
    if (rc == 0 && (zsys_file_exists (path) || zsys_file_exists (secret)))
        rc = ZM_ECONFLICT;
    zcert_t *cert = rc == 0 ? zcert_new () : NULL;
    if (rc == 0 && !cert)
        rc = ZM_EIO;
    if (rc == 0) {
        zcert_set_meta (cert, "name", "%s", name);
        if (roles && *roles)
            zcert_set_meta (cert, "roles", "%s", roles);
        //  The secret file first, created 0600 (czmq writes with the umask)
        mode_t mask = umask (077);
        if (zcert_save (cert, path) != 0)
            rc = ZM_EIO;
        umask (mask);
        if (rc == 0 && (chmod (secret, 0600) != 0 || chmod (path, 0644) != 0))
            rc = ZM_EIO;
        if (rc) {
            zm_log_error ("auth: cannot write %s: %s", path, strerror (errno));
            unlink (path);
            unlink (secret);
        }
    }
    if (rc == 0 && public_text)
        snprintf (public_text, ZM_KEY_TEXT, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    zstr_free (&path);
    zstr_free (&secret);
    return rc;
}

//  Load and check keypair name in dir into *cert_p
static int
s_keypair_load (const char *dir, const char *name, zcert_t **cert_p)
{
    char *path = zsys_sprintf ("%s/%s.cert", dir, name);
    char *secret = zsys_sprintf ("%s/%s.cert_secret", dir, name);
    int rc = path && secret ? 0 : ZM_ENOMEM;
    if (rc == 0)
        rc = s_secret_file_ok (secret);
    if (rc == 0 && !zsys_file_exists (path)) {
        zm_log_error ("auth: %s is missing (its secret file is there)", path);
        rc = ZM_EIO;
    }
    zcert_t *both = rc == 0 ? zcert_load (secret) : NULL;
    //  zcert_load (path) would read path_secret when it is there: the
    //  public file is read as it is
    zconfig_t *public = rc == 0 ? zconfig_load (path) : NULL;
    if (rc == 0) {
        uint8_t public_key[32], secret_key[32], derived[32], shared[32];
        bool ok = both && public && s_key_decode (zcert_public_txt (both), public_key)
                  && s_key_decode (zcert_secret_txt (both), secret_key)
                  && crypto_scalarmult_base (derived, secret_key) == 0
                  && memcmp (derived, public_key, 32) == 0
                  && s_key_decode (zconfig_get (public, "curve/public-key", ""), shared)
                  && memcmp (shared, public_key, 32) == 0;
        sodium_memzero (secret_key, sizeof secret_key);
        if (!ok) {
            zm_log_error ("auth: the keypair %s in %s is damaged or tampered with (its keys are "
                          "malformed or do not belong together): refused",
                          name, dir);
            rc = ZM_EIO;
        }
    }
    zconfig_destroy (&public);
    if (rc == 0)
        *cert_p = both;
    else
        zcert_destroy (&both);
    zstr_free (&path);
    zstr_free (&secret);
    return rc;
}

int
zm_keypair_check (const char *dir, const char *name, char public_text[ZM_KEY_TEXT])
{
    if (!dir || !*dir || !s_meta_ok (name, false))
        return ZM_EINVAL;
    zcert_t *cert = NULL;
    int rc = s_keypair_load (dir, name, &cert);
    if (rc == 0 && public_text)
        snprintf (public_text, ZM_KEY_TEXT, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return rc;
}

//  --------------------------------------------------------------------------
//  Access rules

typedef struct {
    int type;          //  ZM_RES_*, or -1 for any
    char *name;        //  pattern: exact, "*", or "prefix*"
    char *endpoint;    //  pattern likewise
    char *role;        //  "" public, "*" authenticated, or a role
    bool allow;        //  allow or deny
    int64_t priority;  //  higher first
    size_t order;      //  place in the list: ties keep it
} s_rule_t;

struct _zm_rules_t {
    size_t count;
    s_rule_t rule[];
};

static void
s_rules_free (zm_rules_t **rules_p)
{
    zm_rules_t *rules = *rules_p;
    if (rules) {
        for (size_t i = 0; i < rules->count; i++) {
            free (rules->rule[i].name);
            free (rules->rule[i].endpoint);
            free (rules->rule[i].role);
        }
        free (rules);
        *rules_p = NULL;
    }
}

static int
s_rule_cmp (const void *a, const void *b)
{
    const s_rule_t *x = (const s_rule_t *)a, *y = (const s_rule_t *)b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

//  A rule's text field: *out_p (malloc'ed; fallback when missing), or false
//  with why set
static bool
s_rule_str (const zm_val_t *rule, const char *key, const char *fallback, char **out_p,
            char *why, size_t size, size_t index)
{
    const zm_val_t *value = zm_val_get (rule, key);
    const char *text = value ? zm_val_str (value, NULL, NULL) : fallback;
    if (!text || (!value && !fallback) || strlen (text) > 255) {
        snprintf (why, size, "rule %zu: \"%s\" %s", index + 1, key,
                  value ? "must be text of at most 255 bytes" : "is missing");
        return false;
    }
    *out_p = strdup (text);
    return *out_p != NULL;
}

//  Compile rules from JSON text (an array of objects, or ""/"[]" for none).
//  Returns 0 and *rules_p (NULL for none), or ZM_ECONFIG with why.
static int
s_rules_parse (const char *text, zm_rules_t **rules_p, char *why, size_t size)
{
    *rules_p = NULL;
    if (!text || !*text)
        return 0;
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    if (zm_msg_decode (ZM_CT_JSON, text, strlen (text), &msg, &reason) != 0
        || zm_val_type (zm_msg_root (msg)) != ZM_TYPE_ARRAY) {
        snprintf (why, size, "not a JSON array of rules%s%s", reason ? ": " : "",
                  reason ? reason : "");
        zm_msg_destroy (&msg);
        return ZM_ECONFIG;
    }
    const zm_val_t *list = zm_msg_root (msg);
    size_t count = zm_val_size (list);
    zm_rules_t *rules = count ? (zm_rules_t *)calloc (1, sizeof *rules + count * sizeof (s_rule_t))
                              : NULL;
    int rc = count && !rules ? ZM_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const zm_val_t *item = zm_val_at (list, i);
        s_rule_t *rule = &rules->rule[i];
        rules->count = i + 1;
        rule->order = i;
        char *type = NULL, *access = NULL;
        if (zm_val_type (item) != ZM_TYPE_MAP) {
            snprintf (why, size, "rule %zu is not an object", i + 1);
            rc = ZM_ECONFIG;
            break;
        }
        bool ok = s_rule_str (item, "type", "service", &type, why, size, i)
                  && s_rule_str (item, "name", "*", &rule->name, why, size, i)
                  && s_rule_str (item, "endpoint", "*", &rule->endpoint, why, size, i)
                  && s_rule_str (item, "role", NULL, &rule->role, why, size, i)
                  && s_rule_str (item, "access", NULL, &access, why, size, i);
        const zm_val_t *priority = zm_val_get (item, "priority");
        if (ok) {
            rule->type = streq (type, "service") ? ZM_RES_SERVICE
                         : streq (type, "topic") ? ZM_RES_TOPIC
                         : streq (type, "store") ? ZM_RES_STORE
                         : streq (type, "*")     ? -1
                                                 : -2;
            if (rule->type == -2) {
                snprintf (why, size, "rule %zu: type \"%s\" is not service, topic, store or *",
                          i + 1, type);
                ok = false;
            }
            else if (!streq (access, "allow") && !streq (access, "deny")) {
                snprintf (why, size, "rule %zu: access \"%s\" is not allow or deny", i + 1,
                          access);
                ok = false;
            }
            else if (priority && zm_val_type (priority) != ZM_TYPE_INT
                     && zm_val_type (priority) != ZM_TYPE_UINT) {
                snprintf (why, size, "rule %zu: priority must be an integer", i + 1);
                ok = false;
            }
            for (size_t k = 0; ok && k < zm_val_size (item); k++) {
                const char *key = zm_val_key_at (item, k, NULL);
                if (!key
                    || !(streq (key, "type") || streq (key, "name") || streq (key, "endpoint")
                         || streq (key, "role") || streq (key, "access")
                         || streq (key, "priority"))) {
                    snprintf (why, size, "rule %zu: unknown field \"%s\"", i + 1,
                              key ? key : "?");
                    ok = false;
                }
            }
            rule->allow = ok && streq (access, "allow");
            rule->priority = priority ? zm_val_int (priority, 0) : 0;
        }
        free (type);
        free (access);
        if (!ok)
            rc = ZM_ECONFIG;
    }
    zm_msg_destroy (&msg);
    if (rc) {
        s_rules_free (&rules);
        return rc;
    }
    if (rules)
        qsort (rules->rule, rules->count, sizeof (s_rule_t), s_rule_cmp);
    *rules_p = rules;
    return 0;
}

static bool
s_pattern_match (const char *pattern, const char *text)
{
    size_t size = strlen (pattern);
    if (size && pattern[size - 1] == '*')
        return strncmp (pattern, text, size - 1) == 0;
    return streq (pattern, text);
}

//  Does the caller hold role? ('' everyone, '*' any authenticated)
static bool
s_has_role (const char *caller, const char *role)
{
    if (!*role)
        return true;
    if (!caller || caller[0] == 'a')
        return false;
    if (streq (role, "*"))
        return true;
    const char *name = caller + 1;
    const char *roles = name + strlen (name) + 1;
    size_t size = strlen (role);
    for (const char *at = roles; *at;) {
        const char *comma = strchr (at, ',');
        size_t len = comma ? (size_t)(comma - at) : strlen (at);
        if (len == size && strncmp (at, role, size) == 0)
            return true;
        at += len + (comma ? 1 : 0);
    }
    return false;
}

int
zm_auth_check (zm_node_t *node, int type, const char *name, const char *endpoint,
               const char *caller)
{
    zm_auth_t *self = node->auth;
    if (!self)
        return 0;
    int rc = 0;
    pthread_rwlock_rdlock (&self->rules_lock);
    zm_rules_t *rules = self->rules;
    if (rules && caller) {
        rc = ZM_EDENIED; //  default deny once any rule exists
        for (size_t i = 0; i < rules->count; i++) {
            const s_rule_t *rule = &rules->rule[i];
            if ((rule->type == -1 || rule->type == type) && s_pattern_match (rule->name, name)
                && s_pattern_match (rule->endpoint, endpoint ? endpoint : "")
                && s_has_role (caller, rule->role)) {
                rc = rule->allow ? 0 : ZM_EDENIED;
                break;
            }
        }
    }
    pthread_rwlock_unlock (&self->rules_lock);
    return rc;
}

//  (Re)load auth.rules; the rules in force stay when the new ones are bad.
static int
s_rules_load (zm_node_t *node)
{
    zm_auth_t *self = node->auth;
    const char *text = zm_config_get_str (node->config, "auth.rules", "");
    if (self->rules_text && streq (self->rules_text, text))
        return 0;
    char why[256] = "";
    zm_rules_t *rules = NULL;
    char *copy = strdup (text);
    int rc = copy ? s_rules_parse (text, &rules, why, sizeof why) : ZM_ENOMEM;
    if (rc) {
        zm_log_error ("auth: auth.rules refused (%s)%s", *why ? why : zm_strerror (rc),
                      self->rules_text ? ": the rules in force stay" : "");
        free (copy);
        return rc;
    }
    pthread_rwlock_wrlock (&self->rules_lock);
    zm_rules_t *old = self->rules;
    self->rules = rules;
    free (self->rules_text);
    self->rules_text = copy;
    pthread_rwlock_unlock (&self->rules_lock);
    s_rules_free (&old);
    zm_log_info ("auth: %zu access rule%s in force", rules ? rules->count : 0,
                 rules && rules->count == 1 ? "" : "s");
    return 0;
}

static void
s_on_config (zm_config_t *config, const char *const *keys, size_t count, void *arg)
{
    (void)config;
    for (size_t i = 0; keys && i < count; i++)
        if (streq (keys[i], "auth.rules"))
            s_rules_load ((zm_node_t *)arg);
}

//  --------------------------------------------------------------------------
//  Callers

char *
zm_caller_new (char kind, const char *name, const char *roles)
{
    name = name ? name : "";
    roles = roles ? roles : "";
    size_t a = strlen (name), b = strlen (roles);
    char *caller = (char *)malloc (a + b + 3);
    if (caller) {
        caller[0] = kind;
        memcpy (caller + 1, name, a + 1);
        memcpy (caller + a + 2, roles, b + 1);
    }
    return caller;
}

const char *
zm_caller_describe (const char *caller)
{
    static __thread char text[96];
    if (!caller)
        return "this process";
    if (caller[0] == 'm')
        return "a member";
    if (caller[0] != 'i')
        return "an anonymous caller";
    snprintf (text, sizeof text, "identity %s", caller + 1);
    return text;
}

char *
zm_caller_from (zmq_msg_t *part)
{
    const char *kind = zmq_msg_gets (part, "Zm-Kind");
    if (!kind || !*kind)
        return NULL;
    return zm_caller_new (kind[0], zmq_msg_gets (part, "Zm-Name"),
                          zmq_msg_gets (part, "Zm-Roles"));
}

//  --------------------------------------------------------------------------
//  The process's ZAP handler: nodes by domain

static pthread_mutex_t s_zap_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_zap;          //  the handler, while any node has CURVE on
static zhashx_t *s_zap_domains;  //  domain -> zm_auth_t (borrowed)
static bool s_zap_failed;        //  the handler could not bind (set before it signals)

//  Property of ZAP metadata: name length (1 byte), name, value length (4
//  bytes, network order), value
static void
s_meta_put (zchunk_t *chunk, const char *name, const char *value)
{
    uint8_t head = (uint8_t)strlen (name), size[4];
    uint32_t len = (uint32_t)strlen (value);
    size[0] = (uint8_t)(len >> 24);
    size[1] = (uint8_t)(len >> 16);
    size[2] = (uint8_t)(len >> 8);
    size[3] = (uint8_t)len;
    zchunk_extend (chunk, &head, 1);
    zchunk_extend (chunk, name, head);
    zchunk_extend (chunk, size, 4);
    zchunk_extend (chunk, value, len);
}

//  Decide one ZAP request (under s_zap_lock): a status code
static const char *
s_zap_decide (zm_auth_t *auth, const uint8_t *key, char *kind, char *name, char *roles)
{
    *kind = 'a';
    *name = *roles = 0;
    if (auth->cluster && memcmp (key, auth->member_key, 32) == 0) {
        *kind = 'm';
        strcpy (name, "member");
        return "200";
    }
    if (auth->identities) {
        char text[ZM_KEY_TEXT];
        zmq_z85_encode (text, key, 32);
        zcert_t *cert = zcertstore_lookup (auth->identities, text);
        if (cert) {
            *kind = 'i';
            snprintf (name, 65, "%s", zcert_meta (cert, "name") ? zcert_meta (cert, "name") : "");
            snprintf (roles, 1025, "%s",
                      zcert_meta (cert, "roles") ? zcert_meta (cert, "roles") : "");
            return "200";
        }
    }
    return auth->cluster ? "400" : "200"; //  an open node admits anybody
}

//  Is domain one of a node's (its UUID: 32 hex digits), live or gone?
static bool
s_is_node_domain (const char *domain)
{
    size_t size = strlen (domain);
    return size == 32 && strspn (domain, "0123456789ABCDEF") == size;
}

static void
s_zap_answer (zsock_t *handler)
{
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    const char *status = "400";
    char kind = 'a', name[65] = "", roles[1025] = "";
    if (version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE") && key
        && zframe_size (key) == 32 && domain) {
        pthread_mutex_lock (&s_zap_lock);
        zm_auth_t *auth = s_zap_domains ? (zm_auth_t *)zhashx_lookup (s_zap_domains, domain)
                                        : NULL;
        if (auth)
            status = s_zap_decide (auth, zframe_data (key), &kind, name, roles);
        else if (!s_is_node_domain (domain))
            status = "200"; //  a CURVE socket of the application's: as with no handler
        pthread_mutex_unlock (&s_zap_lock);
    }
    if (streq (status, "400"))
        zm_log_info ("auth: %s refused a CURVE client from %s: not a member of the cluster",
                     domain ? domain : "?", address ? address : "?");
    zmsg_t *reply = zmsg_new ();
    zchunk_t *meta = zchunk_new (NULL, 0);
    if (reply && meta) {
        char text[2] = {kind, 0};
        s_meta_put (meta, "Zm-Kind", text);
        s_meta_put (meta, "Zm-Name", name);
        s_meta_put (meta, "Zm-Roles", roles);
        zmsg_addstr (reply, "1.0");
        zmsg_addstr (reply, id ? id : "");
        zmsg_addstr (reply, status);
        zmsg_addstr (reply, streq (status, "200") ? "OK" : "not a member");
        zmsg_addstr (reply, name);
        zmsg_addmem (reply, streq (status, "200") ? zchunk_data (meta) : NULL,
                     streq (status, "200") ? zchunk_size (meta) : 0);
        zmsg_send (&reply, handler);
    }
    zmsg_destroy (&reply);
    zchunk_destroy (&meta);
    zframe_destroy (&key);
    zstr_free (&version);
    zstr_free (&id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zmsg_destroy (&request);
}

static void
s_zap_actor (zsock_t *pipe, void *args)
{
    (void)args;
    zsock_t *handler = zsock_new (ZMQ_REP);
    //  A handler just stopped (the last node went) may still hold the
    //  endpoint for a moment
    bool ok = false;
    for (int attempt = 0; handler && !ok && attempt < 50; attempt++)
        if (!(ok = zsock_bind (handler, S_ZAP_ENDPOINT) == 0))
            zclock_sleep (10);
    zpoller_t *poller = ok ? zpoller_new (pipe, handler, NULL) : NULL;
    if (!poller)
        zm_log_error ("auth: cannot bind the ZAP handler (%s): is zauth running in this "
                      "process?", S_ZAP_ENDPOINT);
    s_zap_failed = poller == NULL;
    zsock_signal (pipe, 0); //  zactor_new waits for this
    if (poller)
        zpoller_set_nonstop (poller, true); //  nodes drain after SIGINT: keep answering
    while (poller) {
        void *which = zpoller_wait (poller, -1);
        if (which == handler)
            s_zap_answer (handler);
        else if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                break;
        }
        else if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    if (ok) //  at once: a handler started next can bind
        zsock_unbind (handler, S_ZAP_ENDPOINT);
    zsock_destroy (&handler);
}

//  Answer ZAP for this node from now on (the handler starts with the first)
static int
s_zap_join (zm_auth_t *auth)
{
    int rc = 0;
    pthread_mutex_lock (&s_zap_lock);
    if (!s_zap_domains)
        s_zap_domains = zhashx_new ();
    if (s_zap_domains && !s_zap) {
        s_zap = zactor_new (s_zap_actor, NULL);
        if (s_zap && s_zap_failed)
            zactor_destroy (&s_zap);
    }
    if (!s_zap_domains || !s_zap || zhashx_insert (s_zap_domains, auth->domain, auth) != 0)
        rc = ZM_EIO;
    pthread_mutex_unlock (&s_zap_lock);
    return rc;
}

static void
s_zap_leave (zm_auth_t *auth)
{
    zactor_t *doomed = NULL;
    pthread_mutex_lock (&s_zap_lock);
    if (s_zap_domains && zhashx_lookup (s_zap_domains, auth->domain) == auth)
        zhashx_delete (s_zap_domains, auth->domain);
    if (s_zap_domains && zhashx_size (s_zap_domains) == 0) {
        doomed = s_zap;
        s_zap = NULL;
        zhashx_destroy (&s_zap_domains);
    }
    pthread_mutex_unlock (&s_zap_lock);
    zactor_destroy (&doomed);
}

//  --------------------------------------------------------------------------
//  Sockets

int
zm_auth_server (zm_node_t *node, zsock_t *sock)
{
    zm_auth_t *self = node->auth;
    if (!self || !self->curve)
        return 0;
    zsock_set_zap_domain (sock, self->domain);
    zsock_set_curve_server (sock, 1);
    zcert_apply (self->cert, sock);
    return zsock_curve_server (sock) == 1 ? 0 : ZM_EIO;
}

int
zm_auth_connect (zm_node_t *node, zsock_t *sock, const char *address)
{
    zm_auth_t *self = node->auth;
    const char *hash = address ? strchr (address, '#') : NULL;
    size_t size = hash ? (size_t)(hash - address) : (address ? strlen (address) : 0);
    char endpoint[128];
    if (!address || size >= sizeof endpoint)
        return ZM_EINVAL;
    memcpy (endpoint, address, size);
    endpoint[size] = 0;
    if (self && self->curve) {
        //  Without "#KEY", the key of the node the registry knows there
        char known[ZM_KEY_TEXT] = "";
        const char *text = hash ? hash + 1 : zm_registry_key (node, endpoint, known) ? known : "";
        uint8_t key[32];
        if (!s_key_decode (text, key)) {
            zm_log_debug ("auth: %s: no server key (tcp://host:port#KEY, KEY the node's "
                          "public key, or a node the registry knows): not connected",
                          endpoint);
            return ZM_EINVAL;
        }
        zcert_apply (self->client, sock);
        zsock_set_curve_serverkey (sock, text);
    }
    return zsock_connect (sock, "%s", endpoint) == 0 ? 0 : ZM_EIO;
}

void
zm_auth_disconnect (zsock_t *sock, const char *address)
{
    const char *hash = address ? strchr (address, '#') : NULL;
    int size = hash ? (int)(hash - address) : (int)strlen (address ? address : "");
    if (address)
        zsock_disconnect (sock, "%.*s", size, address);
}

int
zm_node_public_key (zm_node_t *node, char text[ZM_KEY_TEXT])
{
    if (!node || !text || !node->auth || !node->auth->cert)
        return ZM_EINVAL;
    zm_auth_public_text (node, text);
    return 0;
}

void
zm_auth_public_text (zm_node_t *node, char *text)
{
    snprintf (text, ZM_KEY_TEXT, "%s",
              node->auth && node->auth->cert ? zcert_public_txt (node->auth->cert) : "");
}

//  --------------------------------------------------------------------------
//  The node's keys

//  The members' keypair, derived from the cluster key
static zcert_t *
s_member_cert (const uint8_t cluster[32])
{
    uint8_t seed[32], public_key[32], secret_key[32];
    crypto_kdf_derive_from_key (seed, sizeof seed, 2, "zmmember", cluster);
    crypto_box_seed_keypair (public_key, secret_key, seed);
    zcert_t *cert = zcert_new_from (public_key, secret_key);
    sodium_memzero (seed, sizeof seed);
    sodium_memzero (secret_key, sizeof secret_key);
    if (cert)
        zcert_set_meta (cert, "name", "member");
    return cert;
}

int
zm_auth_new (zm_node_t *node)
{
    zm_auth_t *self = (zm_auth_t *)calloc (1, sizeof *self);
    if (!self)
        return ZM_ENOMEM;
    pthread_rwlock_init (&self->rules_lock, NULL);
    node->auth = self;
    snprintf (self->domain, sizeof self->domain, "%s", node->uuid);
    self->curve = zm_config_get_bool (node->config, "auth.curve", true);
    const char *keys = zm_config_get_str (node->config, "auth.keys", "");
    int rc = 0;
    if (streq (keys, ":memory:")) {
        self->cert = zcert_new ();
        rc = self->cert ? 0 : ZM_EIO;
    }
    else {
        char *dir = *keys ? strdup (keys) : zsys_sprintf ("zm-keys/%s", node->name);
        rc = dir ? s_keypair_load (dir, "node", &self->cert) : ZM_ENOMEM;
        if (rc == ZM_ENOTFOUND) { //  first start: make them
            if (!*keys && zsys_dir_create ("zm-keys") == 0)
                chmod ("zm-keys", 0700);
            char public_text[ZM_KEY_TEXT];
            rc = zm_keypair_create (dir, "node", NULL, public_text);
            if (rc == 0) {
                zm_log_notice ("auth: new node keypair in %s (public key %s)", dir, public_text);
                rc = s_keypair_load (dir, "node", &self->cert);
            }
            else
                zm_log_error ("auth: cannot make a keypair in %s", dir);
        }
        free (dir);
    }
    if (rc)
        return rc;
    //  The cluster key: the text in auth.cluster_key, or the file it names
    const char *cluster = zm_config_get_str (node->config, "auth.cluster_key", "");
    if (*cluster) {
        uint8_t key[32];
        rc = zm_cluster_key_read (cluster, key);
        if (rc)
            return rc;
        crypto_kdf_derive_from_key (self->beacon_key, sizeof self->beacon_key, 1, S_KDF_CONTEXT,
                                    key);
        self->client = s_member_cert (key);
        sodium_memzero (key, sizeof key);
        if (!self->client)
            return ZM_EIO;
        memcpy (self->member_key, zcert_public_key (self->client), 32);
        self->cluster = true;
    }
    else if (!streq (keys, ":memory:"))
        zm_log_warning ("auth: NO CLUSTER KEY: this node is OPEN. Any host on the LAN can find "
                        "it, call it and subscribe to it (encrypted, but to anybody); set "
                        "auth.cluster_key (zm keygen --cluster)");
    else //  a passing process (the zm tool, a test): no lasting identity either
        zm_log_info ("auth: no cluster key: this node is open");
    //  Calls go out as an identity of our own when one is named
    const char *identity = zm_config_get_str (node->config, "auth.identity", "");
    if (*identity) {
        char *dir = strdup (identity);
        char *slash = dir ? strrchr (dir, '/') : NULL;
        zcert_t *cert = NULL;
        rc = !dir ? ZM_ENOMEM : !slash ? ZM_EINVAL : 0;
        if (rc == 0) {
            *slash = 0;
            rc = s_keypair_load (*dir ? dir : "/", slash + 1, &cert);
        }
        if (rc == ZM_EINVAL || rc == ZM_ENOTFOUND)
            zm_log_error ("auth: auth.identity %s: no keypair there (DIR/NAME, as zm keygen "
                          "--name NAME --dir DIR makes)",
                          identity);
        free (dir);
        if (rc)
            return rc;
        zcert_destroy (&self->client);
        self->client = cert;
    }
    if (!self->client)
        self->client = zcert_dup (self->cert);
    if (!self->client)
        return ZM_ENOMEM;
    //  This node as a caller, for the rules it checks on itself (publish,
    //  subscribe): what the ZAP handler of a peer would say of its key
    const char *meta_name = zcert_meta (self->client, "name");
    const char *meta_roles = zcert_meta (self->client, "roles");
    self->self_caller = *identity ? zm_caller_new ('i', meta_name, meta_roles)
                        : self->cluster ? zm_caller_new ('m', "member", "")
                                        : zm_caller_new ('a', "", "");
    if (!self->self_caller)
        return ZM_ENOMEM;
    //  Identities this node admits, with their roles
    const char *identities = zm_config_get_str (node->config, "auth.identities", "");
    if (*identities) {
        if (!zsys_file_exists (identities)) {
            zm_log_error ("auth: auth.identities %s: no such directory", identities);
            return ZM_ECONFIG;
        }
        self->identities = zcertstore_new (identities);
        if (!self->identities)
            return ZM_EIO;
    }
    rc = s_rules_load (node);
    if (rc)
        return ZM_ECONFIG;
    if (zm_config_watch (node->config, s_on_config, node) != 0)
        return ZM_ENOMEM;
    if (!self->curve) {
        zm_log_warning ("auth: CURVE IS OFF (auth.curve): traffic is in the clear and callers "
                        "are not known");
        return 0;
    }
    return s_zap_join (self);
}

void
zm_auth_destroy (zm_node_t *node)
{
    zm_auth_t *self = node->auth;
    if (self) {
        zm_config_unwatch (node->config, s_on_config, node);
        s_zap_leave (self);
        zcert_destroy (&self->cert);
        zcert_destroy (&self->client);
        zcertstore_destroy (&self->identities);
        s_rules_free (&self->rules);
        free (self->rules_text);
        free (self->self_caller);
        pthread_rwlock_destroy (&self->rules_lock);
        sodium_memzero (self->beacon_key, sizeof self->beacon_key);
        free (self);
        node->auth = NULL;
    }
}

const uint8_t *
zm_auth_public_key (zm_node_t *node)
{
    return node->auth && node->auth->cert ? zcert_public_key (node->auth->cert) : NULL;
}

void
zm_auth_mac (zm_node_t *node, const uint8_t *data, size_t size, uint8_t mac[32])
{
    crypto_auth (mac, data, size, node->auth->beacon_key);
}

bool
zm_auth_mac_ok (zm_node_t *node, const uint8_t *data, size_t size, const uint8_t mac[32])
{
    return crypto_auth_verify (mac, data, size, node->auth->beacon_key) == 0;
}

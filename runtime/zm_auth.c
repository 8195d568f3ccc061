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
    (HMAC-SHA-512-256, crypto_auth). docs/security.md.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zmicro/auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

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
//  The node's keys

int
zm_auth_new (zm_node_t *node)
{
    zm_auth_t *self = (zm_auth_t *)calloc (1, sizeof *self);
    if (!self)
        return ZM_ENOMEM;
    node->auth = self;
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
        sodium_memzero (key, sizeof key);
        self->cluster = true;
    }
    else if (!streq (keys, ":memory:"))
        zm_log_warning ("auth: NO CLUSTER KEY: this node is OPEN. Any host on the LAN can find "
                        "it and be found by it; set auth.cluster_key (zm keygen --cluster)");
    else //  a passing process (the zm tool, a test): no lasting identity either
        zm_log_info ("auth: no cluster key: this node is open");
    return 0;
}

void
zm_auth_destroy (zm_node_t *node)
{
    zm_auth_t *self = node->auth;
    if (self) {
        zcert_destroy (&self->cert);
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

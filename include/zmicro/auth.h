/*  =========================================================================
    zmicro/auth.h - keys: node and identity keypairs, the cluster key

    A keypair is a czmq certificate pair in a directory: NAME.cert (the
    public key and metadata, shareable) and NAME.cert_secret (both keys,
    mode 0600). A cluster key is 32 random bytes written as Z85 text (40
    characters); every member of a cluster holds the same one. docs/security.md.
    =========================================================================
*/
#ifndef ZMICRO_AUTH_H_INCLUDED
#define ZMICRO_AUTH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  A key as Z85 text: 40 characters and a NUL
#define ZM_KEY_TEXT 41

//  Make a new cluster key into text. Returns 0, or ZM_EIO when there is no
//  randomness.
int zm_cluster_key_new (char text[ZM_KEY_TEXT]);

//  Write text (a cluster key) to a new file at path, mode 0600. Returns 0,
//  ZM_EINVAL (not a key), ZM_ECONFLICT (the file exists: never
//  overwritten), ZM_EIO.
int zm_cluster_key_save (const char *path, const char *text);

//  Make a keypair NAME.cert / NAME.cert_secret in dir (created 0700 when
//  missing), with metadata name and roles (comma-separated, may be NULL
//  or ""). The public key into public_text when given. Returns 0,
//  ZM_EINVAL (bad name or roles), ZM_ECONFLICT (the files exist: never
//  overwritten), ZM_EIO.
int zm_keypair_create (const char *dir, const char *name, const char *roles,
                       char public_text[ZM_KEY_TEXT]);

//  Check the keypair NAME in dir as a node does at start: both files
//  there, the secret file not readable by group or others, the keys
//  well-formed and the secret key the public key's. Returns 0, ZM_ENOTFOUND
//  (no such keypair), ZM_EDENIED (secret file open to others), ZM_EIO
//  (unreadable or tampered: the reason in the log). The public key into
//  public_text when given.
int zm_keypair_check (const char *dir, const char *name, char public_text[ZM_KEY_TEXT]);

//  Read a cluster key: text itself when it is 40 characters of Z85, else
//  the file it names (refused when group or others can read it). Returns
//  0 and the key's 32 bytes, ZM_ENOTFOUND, ZM_EDENIED, ZM_EINVAL (not a
//  key: the reason in the log), ZM_EIO.
int zm_cluster_key_read (const char *text_or_path, uint8_t key[32]);

typedef struct _zm_node_t zm_node_t;

//  The node's public key (its servers' CURVE key) as Z85 text, what a
//  static peer entry carries after '#' (tcp://host:port#KEY). Returns 0 or
//  ZM_EINVAL (no node, or not started).
int zm_node_public_key (zm_node_t *node, char text[ZM_KEY_TEXT]);

#ifdef __cplusplus
}
#endif

#endif

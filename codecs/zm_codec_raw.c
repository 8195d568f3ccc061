/*  =========================================================================
    zm_codec_raw - application/octet-stream: bytes passed through untouched

    A raw body is one binary value holding the bytes. Encoding gives back
    the bytes of a root binary or string; any other root has no raw form.
    zm_msg_decode_inplace reads a raw body without copying (zm_msg.c).
    =========================================================================
*/
#include "zm_msg_internal.h"

static int
s_decode (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p)
{
    int rc = zm_msg_decode_check (data, size, msg_p, err_p);
    if (rc)
        return rc;
    zm_msg_t *msg = zm_msg_alloc (size + 1);
    if (!msg)
        return zm_msg_fail (err_p, ZM_ENOMEM, "out of memory");
    //  The arena was sized for the copy; the NUL is a courtesy to callers
    //  who read the body as text.
    char *copy = (char *)zm_msg_arena_alloc (msg, size + 1);
    if (size)
        memcpy (copy, data, size);
    copy[size] = 0;
    msg->root.type = ZM_TYPE_BIN;
    msg->root.n = (uint32_t)size;
    msg->root.v.s = copy;
    *msg_p = msg;
    return 0;
}

static int
s_encode (const zm_msg_t *msg, void **data_p, size_t *size_p)
{
    if (!msg || !data_p || !size_p)
        return ZM_EINVAL;
    const zm_val_t *root = &msg->root;
    if (root->type != ZM_TYPE_BIN && root->type != ZM_TYPE_STR)
        return ZM_ECODEC;
    //  malloc (0) may return NULL: always ask for at least one byte
    void *data = malloc (root->n ? root->n : 1);
    if (!data)
        return ZM_ENOMEM;
    if (root->n)
        memcpy (data, root->v.s, root->n);
    *data_p = data;
    *size_p = root->n;
    return 0;
}

const zm_codec_t zm_codec_raw = {
    .content_type = ZM_CT_RAW,
    .decode = s_decode,
    .encode = s_encode,
};

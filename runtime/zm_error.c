/*  =========================================================================
    zm_error - error codes, their names and HTTP codes, and the error value

    The table below is the one place codes meet names and HTTP statuses, so
    the wire form (HTTP code) and the C form (zm_err_t) cannot drift apart.
    =========================================================================
*/
#include "zm_internal.h"

typedef struct {
    const char *name;   //  zm_strerror () text
    int http;           //  HTTP-like code
    const char *status; //  HTTP reason phrase
} s_err_info_t;

static const s_err_info_t s_errors[ZM_ERR_MAX_] = {
    [ZM_OK] = {"success", 200, "OK"},
    [ZM_EINVAL] = {"invalid argument", 400, "Bad Request"},
    [ZM_EUNAUTH] = {"not authenticated", 401, "Unauthorized"},
    [ZM_EDENIED] = {"permission denied", 403, "Forbidden"},
    [ZM_ENOTFOUND] = {"not found", 404, "Not Found"},
    [ZM_ETIMEOUT] = {"timed out", 408, "Request Timeout"},
    [ZM_ECONFLICT] = {"conflict", 409, "Conflict"},
    [ZM_ETOOMANY] = {"too many requests", 429, "Too Many Requests"},
    [ZM_EINTERNAL] = {"internal error", 500, "Internal Server Error"},
    [ZM_EUNAVAIL] = {"service unavailable", 503, "Service Unavailable"},
    [ZM_ENOMEM] = {"out of memory", 500, "Internal Server Error"},
    [ZM_EPROTO] = {"protocol error", 400, "Bad Request"},
    [ZM_ECODEC] = {"cannot decode or encode body", 400, "Bad Request"},
    [ZM_ETOOBIG] = {"size or nesting limit exceeded", 400, "Bad Request"},
    [ZM_ECLOSED] = {"closed", 503, "Service Unavailable"},
    [ZM_EBLOCKING] = {"blocking call from inside a reactor", 500, "Internal Server Error"},
    [ZM_ECONFIG] = {"bad configuration", 400, "Bad Request"},
    [ZM_EIO] = {"I/O error", 500, "Internal Server Error"},
    [ZM_ECANCELED] = {"cancelled", 499, "Cancelled"},
};

struct _zm_error_t {
    int err;      //  zm_err_t
    char *id;     //  origin, "" when unset
    char *detail; //  human text, "" when unset
};

static const s_err_info_t *
s_info (int code)
{
    static const s_err_info_t unknown = {"unknown error", 500, "Internal Server Error"};
    if (code < 0 || code >= ZM_ERR_MAX_)
        return &unknown;
    return &s_errors[code];
}

const char *
zm_strerror (int code)
{
    return s_info (code)->name;
}

int
zm_err_http (int code)
{
    return s_info (code)->http;
}

int
zm_err_from_http (int http)
{
    //  First code in the table with that status wins; that is the canonical one.
    for (int code = 0; code < ZM_ERR_MAX_; code++)
        if (s_errors[code].http == http)
            return code;
    if (http >= 200 && http < 300)
        return ZM_OK;
    if (http >= 400 && http < 500)
        return ZM_EINVAL;
    return ZM_EINTERNAL;
}

zm_error_t *
zm_error_new (int err, const char *id, const char *detail_fmt, ...)
{
    zm_error_t *self = (zm_error_t *) calloc (1, sizeof (zm_error_t));
    if (!self)
        return NULL;
    self->err = err;
    self->id = strdup (id ? id : "");
    if (detail_fmt) {
        va_list args;
        va_start (args, detail_fmt);
        if (vasprintf (&self->detail, detail_fmt, args) < 0)
            self->detail = NULL;
        va_end (args);
    }
    else
        self->detail = strdup ("");
    if (!self->id || !self->detail)
        zm_error_destroy (&self);
    return self;
}

void
zm_error_destroy (zm_error_t **self_p)
{
    if (self_p && *self_p) {
        zm_error_t *self = *self_p;
        free (self->id);
        free (self->detail);
        free (self);
        *self_p = NULL;
    }
}

zm_error_t *
zm_error_dup (const zm_error_t *self)
{
    if (!self)
        return NULL;
    return zm_error_new (self->err, self->id, "%s", self->detail);
}

int
zm_error_err (const zm_error_t *self)
{
    return self ? self->err : ZM_OK;
}

int
zm_error_code (const zm_error_t *self)
{
    return zm_err_http (zm_error_err (self));
}

const char *
zm_error_id (const zm_error_t *self)
{
    return self ? self->id : "";
}

const char *
zm_error_detail (const zm_error_t *self)
{
    return self ? self->detail : "";
}

const char *
zm_error_status (const zm_error_t *self)
{
    return s_info (zm_error_err (self))->status;
}

int
zm_error_to_msg (const zm_error_t *error, zm_msg_t **msg_p)
{
    if (!error || !msg_p || error->err == ZM_OK)
        return ZM_EINVAL;
    zm_msg_t *msg = zm_msg_new ();
    if (!msg)
        return ZM_ENOMEM;
    int rc = zm_msg_set_str (msg, "id", error->id);
    if (!rc)
        rc = zm_msg_set_uint (msg, "code", (uint64_t)zm_error_code (error));
    if (!rc)
        rc = zm_msg_set_str (msg, "detail", error->detail);
    if (!rc)
        rc = zm_msg_set_str (msg, "status", zm_error_status (error));
    if (!rc)
        rc = zm_msg_set_uint (msg, "err", (uint64_t)error->err);
    if (rc) {
        zm_msg_destroy (&msg);
        return rc;
    }
    *msg_p = msg;
    return 0;
}

//  A string field of an error map: 0 and *text_p (fallback "" when absent
//  or nil), -1 when present with another type
static int
s_error_str (const zm_val_t *map, const char *key, const char **text_p)
{
    const zm_val_t *value = zm_val_get (map, key);
    *text_p = "";
    if (!value || zm_val_type (value) == ZM_TYPE_NIL)
        return 0;
    if (zm_val_type (value) != ZM_TYPE_STR)
        return -1;
    *text_p = zm_val_str (value, "", NULL);
    return 0;
}

zm_error_t *
zm_error_from_msg (const zm_msg_t *msg)
{
    const zm_val_t *map = zm_msg_root (msg);
    if (!msg || zm_val_type (map) != ZM_TYPE_MAP)
        return NULL;
    const zm_val_t *code_val = zm_val_get (map, "code");
    zm_type_t type = zm_val_type (code_val);
    if (type != ZM_TYPE_UINT && type != ZM_TYPE_INT)
        return NULL;
    int64_t code = zm_val_int (code_val, 0);
    if (code < 400 || code > 599)
        return NULL;
    const char *id = NULL, *detail = NULL, *status = NULL;
    if (s_error_str (map, "id", &id) || s_error_str (map, "detail", &detail) ||
        s_error_str (map, "status", &status))
        return NULL;
    int err = zm_err_from_http ((int)code);
    //  The exact code, when the sender gave one that agrees with "code"
    uint64_t exact = zm_val_uint (zm_val_get (map, "err"), 0);
    if (exact > ZM_OK && exact < ZM_ERR_MAX_ && zm_err_http ((int)exact) == code)
        err = (int)exact;
    return zm_error_new (err, id, "%s", detail);
}

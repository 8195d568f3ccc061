/*  =========================================================================
    zmicro/error.h - error codes and the error value that travels in replies

    Every verb in zmicro returns 0 (ZM_OK) or a negative-free zm_err_t code from
    the enum below. zm_strerror () names it. A zm_error_t is the richer value a
    failed call carries back to its caller: the fields go-micro users know
    (id, code, detail, status), where code is HTTP-like (400, 404, 408, 500...).
    =========================================================================
*/
#ifndef ZMICRO_ERROR_H_INCLUDED
#define ZMICRO_ERROR_H_INCLUDED

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Error codes. ZM_OK is zero; every error is a positive number, stable across
//  releases (they travel on the wire).
typedef enum {
    ZM_OK = 0,
    ZM_EINVAL = 1,      //  bad argument or bad input (HTTP 400)
    ZM_EUNAUTH = 2,     //  caller not authenticated (401)
    ZM_EDENIED = 3,     //  caller not allowed (403)
    ZM_ENOTFOUND = 4,   //  no such actor, service, endpoint, key (404)
    ZM_ETIMEOUT = 5,    //  deadline passed (408)
    ZM_ECONFLICT = 6,   //  conflicting state, e.g. name already taken (409)
    ZM_ETOOMANY = 7,    //  rate or capacity limit hit (429)
    ZM_EINTERNAL = 8,   //  handler or runtime failure (500)
    ZM_EUNAVAIL = 9,    //  service unavailable, node stopping (503)
    ZM_ENOMEM = 10,     //  out of memory (500)
    ZM_EPROTO = 11,     //  malformed or unknown-version message (400)
    ZM_ECODEC = 12,     //  body cannot be decoded or encoded (400)
    ZM_ETOOBIG = 13,    //  size or nesting limit exceeded (400)
    ZM_ECLOSED = 14,    //  node or actor stopped (503)
    ZM_EBLOCKING = 15,  //  blocking call made from inside a reactor (500)
    ZM_ECONFIG = 16,    //  bad configuration value (400)
    ZM_EIO = 17,        //  file or socket I/O failed (500)
    ZM_ECANCELED = 18,  //  a stream was cancelled by one of its ends (499)
    ZM_ERR_MAX_ = 19
} zm_err_t;

//  Name of an error code, e.g. "not found". Never NULL; unknown codes give
//  "unknown error".
const char *
    zm_strerror (int code);

//  The HTTP-like status code for an error code (ZM_ENOTFOUND -> 404).
int
    zm_err_http (int code);

//  The error code for an HTTP-like status (404 -> ZM_ENOTFOUND); unknown
//  4xx map to ZM_EINVAL, anything else to ZM_EINTERNAL, 2xx to ZM_OK.
int
    zm_err_from_http (int http);

//  An error value: what a failed call carries back. All fields are owned by
//  the value. "status" is the textual form of code ("Not Found").
typedef struct _zm_error_t zm_error_t;

//  Create an error. err is a zm_err_t; detail is printf-style, may be NULL.
//  id names the origin (e.g. "greeter.Say.Hello"), may be NULL.
//  Caller owns return value. Returns NULL only when out of memory.
zm_error_t *
    zm_error_new (int err, const char *id, const char *detail_fmt, ...)
        __attribute__ ((format (printf, 3, 4)));

//  Destroy an error; idempotent, nulls the pointer.
void
    zm_error_destroy (zm_error_t **self_p);

//  Copy an error. Caller owns return value.
zm_error_t *
    zm_error_dup (const zm_error_t *self);

//  zm_err_t code of the error.
int
    zm_error_err (const zm_error_t *self);

//  HTTP-like code of the error (404).
int
    zm_error_code (const zm_error_t *self);

//  Origin id, never NULL ("" when unset).
const char *
    zm_error_id (const zm_error_t *self);

//  Human detail, never NULL ("" when unset).
const char *
    zm_error_detail (const zm_error_t *self);

//  Status text ("Not Found"), never NULL.
const char *
    zm_error_status (const zm_error_t *self);

//  The error as a map, the body of a protocol ERROR message:
//      {"id": str, "code": uint (HTTP-like), "detail": str, "status": str,
//       "err": uint (zm_err_t)}
//  "err" keeps the exact code where several share one HTTP status (400).
//  Returns 0 and *msg_p (caller owns), ZM_EINVAL when error is NULL or its
//  code is ZM_OK (not an error), ZM_ENOMEM.
int
    zm_error_to_msg (const zm_error_t *error, zm_msg_t **msg_p);

//  The error a map describes, or NULL when it is not a valid error map:
//  root not a map, "code" missing or not an integer in 400..599, or "id",
//  "detail" or "status" present but not a string (nil counts as absent).
//  The code is "err" when that is a known zm_err_t whose HTTP code is
//  "code", else zm_err_from_http (code); "status" is not read (it follows
//  from the code). Caller owns return value.
zm_error_t *
    zm_error_from_msg (const zm_msg_t *msg);

#ifdef __cplusplus
}
#endif

#endif

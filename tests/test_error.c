/*  Errors: codes, names, HTTP mapping, the error value; log levels. */
#include <criterion/criterion.h>
#include <string.h>
#include "zmicro.h"

Test (error, names_and_http_codes, .timeout = 10)
{
    cr_assert_str_eq (zm_strerror (ZM_OK), "success");
    cr_assert_str_eq (zm_strerror (ZM_ENOTFOUND), "not found");
    cr_assert_str_eq (zm_strerror (-1), "unknown error");
    cr_assert_str_eq (zm_strerror (ZM_ERR_MAX_), "unknown error");
    const struct {
        int err, http;
    } table[] = {{ZM_EINVAL, 400},   {ZM_EUNAUTH, 401},  {ZM_EDENIED, 403},
                 {ZM_ENOTFOUND, 404}, {ZM_ETIMEOUT, 408}, {ZM_ECONFLICT, 409},
                 {ZM_ETOOMANY, 429},  {ZM_EINTERNAL, 500}, {ZM_EUNAVAIL, 503}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        cr_assert_eq (zm_err_http (table[i].err), table[i].http);
        cr_assert_eq (zm_err_from_http (table[i].http), table[i].err);
    }
    //  Every code has a real name.
    for (int code = 0; code < ZM_ERR_MAX_; code++)
        cr_assert_str_neq (zm_strerror (code), "unknown error", "code %d", code);
    cr_assert_eq (zm_err_from_http (204), ZM_OK);
    cr_assert_eq (zm_err_from_http (418), ZM_EINVAL);
    cr_assert_eq (zm_err_from_http (599), ZM_EINTERNAL);
}

Test (error, value, .timeout = 10)
{
    zm_error_t *error = zm_error_new (ZM_ENOTFOUND, "users.Get", "no user %d", 42);
    cr_assert_not_null (error);
    cr_assert_eq (zm_error_err (error), ZM_ENOTFOUND);
    cr_assert_eq (zm_error_code (error), 404);
    cr_assert_str_eq (zm_error_id (error), "users.Get");
    cr_assert_str_eq (zm_error_detail (error), "no user 42");
    cr_assert_str_eq (zm_error_status (error), "Not Found");
    zm_error_t *copy = zm_error_dup (error);
    zm_error_destroy (&error);
    cr_assert_null (error);
    zm_error_destroy (&error); //  idempotent
    cr_assert_str_eq (zm_error_detail (copy), "no user 42");
    zm_error_destroy (&copy);

    zm_error_t *bare = zm_error_new (ZM_EINTERNAL, NULL, NULL);
    cr_assert_str_eq (zm_error_id (bare), "");
    cr_assert_str_eq (zm_error_detail (bare), "");
    cr_assert_eq (zm_error_code (bare), 500);
    zm_error_destroy (&bare);
    //  NULL reads as "no error"
    cr_assert_eq (zm_error_err (NULL), ZM_OK);
    cr_assert_str_eq (zm_error_detail (NULL), "");
}

Test (log, levels, .timeout = 10)
{
    cr_assert_eq (zm_log_level_parse ("debug"), ZM_LOG_DEBUG);
    cr_assert_eq (zm_log_level_parse ("WARNING"), ZM_LOG_WARNING);
    cr_assert_eq (zm_log_level_parse ("loud"), -1);
    cr_assert_eq (zm_log_level_parse (NULL), -1);
    cr_assert_eq (zm_log_set_level_name ("error"), 0);
    cr_assert_eq (zm_log_level (), ZM_LOG_ERROR);
    cr_assert_eq (zm_log_set_level_name ("nope"), ZM_EINVAL);
    cr_assert_eq (zm_log_level (), ZM_LOG_ERROR, "a bad name changes nothing");
    zm_log_set_level (ZM_LOG_DEBUG);
    cr_assert_eq (zm_log_level (), ZM_LOG_DEBUG);
}

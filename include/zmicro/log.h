/*  =========================================================================
    zmicro/log.h - logging through czmq's zsys, filtered by level

    The level comes from config key log.level (error, warning, notice, info,
    debug; default notice) and can change at run time (hot reload). Messages
    go where zsys sends them (stderr by default, syslog with log.syslog).
    =========================================================================
*/
#ifndef ZMICRO_LOG_H_INCLUDED
#define ZMICRO_LOG_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ZM_LOG_ERROR = 0,
    ZM_LOG_WARNING,
    ZM_LOG_NOTICE,
    ZM_LOG_INFO,
    ZM_LOG_DEBUG
} zm_log_level_t;

//  Set the process-wide level by name. Returns 0 or ZM_EINVAL (unknown name).
int
    zm_log_set_level_name (const char *name);

//  Set / get the process-wide level.
void
    zm_log_set_level (zm_log_level_t level);
zm_log_level_t
    zm_log_level (void);

//  Parse a level name; returns -1 when unknown.
int
    zm_log_level_parse (const char *name);

//  Log at a level; dropped cheaply when above the current level.
void
    zm_log (zm_log_level_t level, const char *format, ...)
        __attribute__ ((format (printf, 2, 3)));

#define zm_log_error(...)   zm_log (ZM_LOG_ERROR, __VA_ARGS__)
#define zm_log_warning(...) zm_log (ZM_LOG_WARNING, __VA_ARGS__)
#define zm_log_notice(...)  zm_log (ZM_LOG_NOTICE, __VA_ARGS__)
#define zm_log_info(...)    zm_log (ZM_LOG_INFO, __VA_ARGS__)
#define zm_log_debug(...)   zm_log (ZM_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif

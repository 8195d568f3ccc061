/*  =========================================================================
    zm_log - level-filtered logging on top of czmq's zsys

    zsys has no level threshold of its own, so the filter lives here: one
    atomic level read per call, and the format is only expanded when the
    message will be written. Output goes wherever zsys sends it.
    =========================================================================
*/
#include "zm_internal.h"

static atomic_int s_level = ZM_LOG_NOTICE;

static const char *s_names[] = {"error", "warning", "notice", "info", "debug"};

int
zm_log_level_parse (const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < (int) (sizeof (s_names) / sizeof (s_names[0])); i++)
        if (strcasecmp (name, s_names[i]) == 0)
            return i;
    return -1;
}

int
zm_log_set_level_name (const char *name)
{
    int level = zm_log_level_parse (name);
    if (level < 0)
        return ZM_EINVAL;
    zm_log_set_level ((zm_log_level_t) level);
    return 0;
}

void
zm_log_set_level (zm_log_level_t level)
{
    if (level > ZM_LOG_DEBUG)
        level = ZM_LOG_DEBUG;
    atomic_store_explicit (&s_level, (int) level, memory_order_relaxed);
}

zm_log_level_t
zm_log_level (void)
{
    return (zm_log_level_t) atomic_load_explicit (&s_level, memory_order_relaxed);
}

void
zm_log (zm_log_level_t level, const char *format, ...)
{
    if ((int) level > atomic_load_explicit (&s_level, memory_order_relaxed))
        return;
    va_list args;
    va_start (args, format);
    char *text = NULL;
    if (vasprintf (&text, format, args) < 0)
        text = NULL;
    va_end (args);
    if (!text)
        return;
    switch (level) {
    case ZM_LOG_ERROR:
        zsys_error ("%s", text);
        break;
    case ZM_LOG_WARNING:
        zsys_warning ("%s", text);
        break;
    case ZM_LOG_NOTICE:
        zsys_notice ("%s", text);
        break;
    case ZM_LOG_INFO:
        zsys_info ("%s", text);
        break;
    default:
        zsys_debug ("%s", text);
        break;
    }
    free (text);
}

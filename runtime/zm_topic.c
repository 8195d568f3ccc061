/*  =========================================================================
    zm_topic - the topic grammar of pub/sub (docs/pubsub.md)

    A topic is dot-separated segments of [A-Za-z0-9_-], 1..255 bytes in
    all. A pattern may use "*" for exactly one segment and, as its last
    segment only, ">" for one or more segments. Matching walks both strings
    once, segment by segment: no allocation, no backtracking.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zmicro/pubsub.h"

//  A-Z a-z 0-9 _ - (ASCII, whatever the locale)
static inline bool
s_segment_char (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
           || c == '-';
}

int
zm_topic_check (const char *topic, bool pattern, const char **reason_p)
{
    const char *reason = NULL;
    if (!topic || !*topic)
        reason = "topic is empty";
    else if (strnlen (topic, ZM_TOPIC_MAX + 1) > ZM_TOPIC_MAX)
        reason = "topic is over 255 bytes";
    else {
        const char *p = topic;
        while (!reason) {
            const char *start = p;
            while (*p && *p != '.')
                p++;
            size_t len = (size_t) (p - start);
            if (len == 0)
                reason = "topic has an empty segment";
            else if (len == 1 && (*start == '*' || *start == '>')) {
                if (!pattern)
                    reason = "wildcards (* and >) are for subscriptions, not topics";
                else if (*start == '>' && *p)
                    reason = "> must be the last segment";
            }
            else
                for (const char *c = start; c < p && !reason; c++)
                    if (!s_segment_char (*c))
                        reason = *c == '*' || *c == '>'
                                     ? "a wildcard must be a whole segment"
                                     : "topic has a character other than A-Z a-z 0-9 _ - .";
            if (!*p)
                break;
            p++; //  past the dot
        }
    }
    if (reason_p)
        *reason_p = reason;
    return reason ? ZM_EINVAL : 0;
}

bool
zm_topic_match (const char *pattern, const char *topic)
{
    if (!pattern || !topic)
        return false;
    const char *p = pattern, *t = topic;
    while (true) {
        if (p[0] == '>' && p[1] == 0)
            return *t != 0; //  one or more segments left
        if (p[0] == '*' && (p[1] == '.' || p[1] == 0)) {
            if (!*t || *t == '.')
                return false;
            while (*t && *t != '.')
                t++;
            p++;
        }
        else {
            while (*p && *p != '.' && *p == *t) {
                p++;
                t++;
            }
            if ((*p && *p != '.') || (*t && *t != '.'))
                return false; //  the segments differ
        }
        //  Both at a dot or at the end
        if (!*p || !*t)
            return !*p && !*t;
        p++;
        t++;
    }
}

size_t
zm_topic_prefix (const char *pattern)
{
    //  The bytes before the first wildcard segment: what libzmq's SUB
    //  filter can match on ("orders.>" -> "orders.", "a.b" -> "a.b").
    size_t len = 0;
    for (const char *p = pattern; *p;) {
        if ((p[0] == '*' || p[0] == '>') && (p[1] == '.' || p[1] == 0))
            return len;
        while (*p && *p != '.')
            p++;
        if (*p)
            p++;
        len = (size_t) (p - pattern);
    }
    return len;
}

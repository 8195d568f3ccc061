/*  =========================================================================
    zmicro/config.h - layered configuration with hot reload

    Layers, lowest to highest priority:
        built-in defaults < config file (JSON) < environment (ZM_*) < flags
    Keys are dotted paths ("log.level", "actor.ask_timeout"); a JSON file's
    nested objects flatten to them ({"log": {"level": "debug"}}).

    Environment: ZM_LOG_LEVEL sets log.level. The name is the key upper-cased
    with '.' turned into '_'; a defined key is matched exactly first (so
    ZM_ACTOR_ASK_TIMEOUT sets actor.ask_timeout), otherwise every '_' becomes '.'.
    ZM_CONFIG is another name for ZM_CONFIG_FILE (config.file).

    Defined keys (every knob of the runtime is one, see docs/config.md) have
    a type; a value of the wrong type in any layer is refused with the key
    and the reason, and the last good configuration stays in force.
    Undefined keys are kept as strings and can be read by applications.

    Thread safety: all calls may be made from any thread. Strings returned by
    getters stay valid until the config is destroyed, even across reloads
    (every distinct string the config ever held is kept until then).
    =========================================================================
*/
#ifndef ZMICRO_CONFIG_H_INCLUDED
#define ZMICRO_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zm_config_t zm_config_t;

typedef enum {
    ZM_CONFIG_STR = 0,
    ZM_CONFIG_INT,      //  64-bit signed integer; durations are integers in ms
    ZM_CONFIG_FLOAT,
    ZM_CONFIG_BOOL      //  true/false, 1/0, yes/no, on/off
} zm_config_type_t;

//  New configuration holding the built-in defaults of every runtime key.
//  Caller owns return value; NULL only when out of memory.
zm_config_t *
    zm_config_new (void);

//  Destroy; idempotent, nulls the pointer. Stops the file watcher.
void
    zm_config_destroy (zm_config_t **self_p);

//  Convenience for main (): defaults, then the file named by --config=PATH
//  (or --config PATH) in argv, else by ZM_CONFIG, else none; then the
//  environment; then the flags (--key=value or --key value; "--" ends them).
//  argv may be NULL when argc is 0. Does not start the file watcher. On
//  error returns NULL and, when err_p is not NULL, a malloc'ed message
//  (caller frees).
zm_config_t *
    zm_config_load (int argc, char **argv, char **err_p);

//  What zm_config_load does, on a config made by zm_config_new: lets an
//  application define its keys first so their env names and types apply.
//  Returns 0 or the first error (ZM_EIO, ZM_ECODEC, ZM_ECONFIG) with *err_p
//  set; the layers loaded before the error stay in force.
int
    zm_config_load_all (zm_config_t *self, int argc, char **argv, char **err_p);

//  Define a key (application keys too): type, default (as text, parsed per
//  type) and a one-line description. Returns 0, ZM_EINVAL (bad key name or
//  default does not parse), ZM_ECONFLICT (already defined with another type).
//  Defining a key again with the same type replaces default and description.
//  Values already loaded for the key are checked against the type: one that
//  does not parse is dropped with a warning in the log. Watchers are not
//  called.
int
    zm_config_define (zm_config_t *self, const char *key, zm_config_type_t type,
                      const char *default_value, const char *description);

//  Load a JSON config file as the file layer and remember it for reload.
//  The top level must be an object; nested objects flatten to dotted keys;
//  null leaves a key unset; an array is kept as its JSON text (undefined
//  keys only). A JSON type that does not fit a defined key is refused (no
//  conversion: "reactors": "2" is an error). config.file reads back as path.
//  On error (missing, unreadable, empty, bad JSON, bad value) returns ZM_EIO,
//  ZM_ECODEC or ZM_ECONFIG, keeps the previous file layer, and sets *err_p
//  (when not NULL) to a malloc'ed message naming the key and the reason.
int
    zm_config_load_file (zm_config_t *self, const char *path, char **err_p);

//  Load the environment layer from environ (ZM_* variables), replacing the
//  previous one. Returns 0 or ZM_ECONFIG with *err_p set (naming the
//  variable and the key); the previous env layer then stays in force.
int
    zm_config_load_env (zm_config_t *self, char **err_p);

//  Load the flags layer from argv (argv[0] is skipped; argv may be NULL).
//  Recognises --key=value and --key value; a bare --flag for a bool key
//  means true (a following true/false/yes/no/on/off/1/0 is taken as its
//  value); "--config" is taken as the file path (config.file); "--" ends
//  the flags. Arguments that are not flags are left alone. Adds to the flags
//  already set. Returns 0 or ZM_ECONFIG with *err_p set (bad value, missing
//  value, bad flag name); nothing from argv is applied then.
int
    zm_config_load_args (zm_config_t *self, int argc, char **argv, char **err_p);

//  Set one value in the highest (flags) layer. Validated like any other;
//  value NULL removes the key from the flags layer. Watchers are told.
int
    zm_config_set (zm_config_t *self, const char *key, const char *value, char **err_p);

//  Typed getters: the value of the highest layer holding the key, or the
//  fallback when no layer has it or it does not parse as that type.
const char *
    zm_config_get_str (zm_config_t *self, const char *key, const char *fallback);
int64_t
    zm_config_get_int (zm_config_t *self, const char *key, int64_t fallback);
double
    zm_config_get_float (zm_config_t *self, const char *key, double fallback);
bool
    zm_config_get_bool (zm_config_t *self, const char *key, bool fallback);
//  Is the key set in any layer (defaults included)?
bool
    zm_config_has (zm_config_t *self, const char *key);

//  A watcher is told which keys changed value (in effect) on a reload, or
//  on any load or set that changed them; each key once, sorted. It runs on
//  the thread that performed the change (the watcher thread for automatic
//  reloads), after the new values are in force; keys are valid during the
//  call. Calls are serialised. It may read, set and unwatch, but must not
//  call zm_config_destroy or zm_config_start_watcher.
typedef void (zm_config_watch_fn) (zm_config_t *config, const char *const *keys,
                                   size_t count, void *arg);

//  Add a watcher. Returns 0 or ZM_ENOMEM.
int
    zm_config_watch (zm_config_t *self, zm_config_watch_fn *fn, void *arg);

//  Remove a watcher (same fn and arg). Returns 0 or ZM_ENOTFOUND. Once it
//  returns, the watcher is not running and will not be called (unless called
//  from inside that watcher).
int
    zm_config_unwatch (zm_config_t *self, zm_config_watch_fn *fn, void *arg);

//  Re-read the file now if it changed. Returns 0 (changed or not), ZM_EINVAL
//  when no file was loaded, or the load error, in which case the last good
//  config stays in force.
int
    zm_config_reload (zm_config_t *self, char **err_p);

//  Start a background thread that polls the file every interval_ms (0: use
//  config.reload_interval, following its changes) and reloads on change.
//  A bad, empty or missing file is logged as a warning, once per new state,
//  and the last good config stays in force. Called again, only changes the
//  interval. Returns 0, ZM_EINVAL when no file is loaded.
int
    zm_config_start_watcher (zm_config_t *self, int interval_ms);

//  Print every key with its value, type, layer and description (JSON lines,
//  one per key, sorted) into a malloc'ed string. Caller frees.
char *
    zm_config_dump (zm_config_t *self);

//  Markdown table of every defined key: key, type, default, allowed values,
//  meaning (docs/config.md holds the runtime's). Caller frees.
char *
    zm_config_describe (zm_config_t *self);

#ifdef __cplusplus
}
#endif

#endif

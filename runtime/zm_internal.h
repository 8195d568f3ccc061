/*  =========================================================================
    zm_internal.h - what the library's own files share and users do not see
    =========================================================================
*/
#ifndef ZM_INTERNAL_H_INCLUDED
#define ZM_INTERNAL_H_INCLUDED

#include <czmq.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmicro.h"

#endif

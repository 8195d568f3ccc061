/*  =========================================================================
    zmicro.h - the one public header of zmicro, a microservices runtime for C

    Include this; it pulls in the sub-headers under zmicro/. Link with
    `pkg-config --libs zmicro`.
    =========================================================================
*/
#ifndef ZMICRO_H_INCLUDED
#define ZMICRO_H_INCLUDED

#define ZM_VERSION_MAJOR 0
#define ZM_VERSION_MINOR 1
#define ZM_VERSION_PATCH 0

#include "zmicro/error.h"
#include "zmicro/msg.h"
#include "zmicro/config.h"
#include "zmicro/log.h"
#include "zmicro/node.h"
#include "zmicro/service.h"
#include "zmicro/client.h"
#include "zmicro/registry.h"
#include "zmicro/pubsub.h"
#include "zmicro/store.h"
#include "zmicro/auth.h"
#include "zmicro/sync.h"
#include "zmicro/stream.h"

#endif

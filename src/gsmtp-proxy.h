/* gsmtp-proxy.h — the PROXY protocol header a load balancer puts first (internal). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The longest header the connection looks for: v1 is at most 107 bytes. */
#define GSMTP_PROXY_HEADER_MAX 108

typedef enum {
        GSMTP_PROXY_NEED_MORE,          /* not all of the header has come */
        GSMTP_PROXY_OK,
        GSMTP_PROXY_INVALID,            /* not a PROXY header: drop the connection */
} GSmtpProxyStatus;

typedef struct {
        gsize           length;         /* bytes the header took */
        GSocketAddress *remote;         /* (owned) (nullable): NULL for UNKNOWN: keep the socket's */
        GSocketAddress *local;          /* (owned) (nullable) */
} GSmtpProxyHeader;

GSmtpProxyStatus gsmtp_proxy_parse       (const guint8 *data, gsize len, GSmtpProxyHeader *out);
void             gsmtp_proxy_header_clear (GSmtpProxyHeader *header);

G_END_DECLS

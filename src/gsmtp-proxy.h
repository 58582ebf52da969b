/* gsmtp-proxy.h — the PROXY protocol header a load balancer puts first (internal). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* v1 is one line of at most 107 bytes, CRLF included (proxy-protocol.txt 2.1). */
#define GSMTP_PROXY_V1_MAX 107

/* The longest header the connection looks for, v1 or v2.  A v2 header may
 * claim 16 + 65535 bytes; what HAProxy sends with every TLV it knows (UNIX
 * addresses, the SSL TLV with version, cipher, algorithms and a client CN,
 * the authority, a unique id, ALPN, a namespace, CRC32C) stays under 1.6 KiB.
 * Twice that is room enough, keeps the peek well inside the host's shared
 * read buffer, and bounds what a header trickled a byte at a time costs
 * (each piece re-peeks it: at most 2 KiB × 2 KiB / 2 bytes copied).  A header
 * that claims more is refused as soon as its length field arrives. */
#define GSMTP_PROXY_HEADER_MAX 2048

typedef enum {
        GSMTP_PROXY_NEED_MORE,          /* not all of the header has come */
        GSMTP_PROXY_OK,
        GSMTP_PROXY_INVALID,            /* not a PROXY header: drop the connection */
} GSmtpProxyStatus;

/* The <client> bits of the v2 SSL TLV (proxy-protocol.txt 2.2.6). */
#define GSMTP_PROXY_CLIENT_SSL       0x01       /* the client spoke TLS to the proxy */
#define GSMTP_PROXY_CLIENT_CERT_CONN 0x02       /* ...and sent a certificate on this connection */
#define GSMTP_PROXY_CLIENT_CERT_SESS 0x04       /* ...or once in its TLS session */

/* The v2 SSL TLV.  Strings are NULL when absent, empty, or not clean text
 * (a control character, bad UTF-8; for the tokens, a space or parenthesis):
 * they may end up in a Received header. */
typedef struct {
        guint8          client;         /* GSMTP_PROXY_CLIENT_* */
        guint32         verify;         /* 0: the client's certificate was verified */
        char           *version;        /* (owned) (nullable): "TLSv1.3" */
        char           *cipher;         /* (owned) (nullable) */
        char           *cn;             /* (owned) (nullable): the client certificate's CN */
        char           *sig_alg;        /* (owned) (nullable) */
        char           *key_alg;        /* (owned) (nullable) */
} GSmtpProxyTls;

typedef struct {
        gsize           length;         /* bytes the header took */
        guint           version;        /* 1 or 2 */
        gboolean        local_command;  /* v2 LOCAL: the proxy's own connection (a health check) */
        GSocketAddress *remote;         /* (owned) (nullable): NULL: keep the socket's (v1 UNKNOWN,
                                         * v2 LOCAL, UNSPEC, UNIX) */
        GSocketAddress *local;          /* (owned) (nullable): set with @remote */
        gboolean        has_tls;        /* v2: an SSL TLV came; see @tls */
        GSmtpProxyTls   tls;
        char           *authority;      /* (owned) (nullable): PP2_TYPE_AUTHORITY (the SNI) */
        gboolean        crc32c_checked; /* a CRC32C TLV came, and matched */
} GSmtpProxyHeader;

GSmtpProxyStatus gsmtp_proxy_parse        (const guint8 *data, gsize len, GSmtpProxyHeader *out);
void             gsmtp_proxy_header_clear (GSmtpProxyHeader *header);
/* CRC32C (Castagnoli, RFC 4960 appendix B) of @len bytes: "123456789" gives 0xe3069283. */
guint32          gsmtp_proxy_crc32c       (const guint8 *data, gsize len);

G_END_DECLS

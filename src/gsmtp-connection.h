/* gsmtp-connection.h — one client socket driving one session (internal). */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-session-host.h"

G_BEGIN_DECLS

typedef struct _GSmtpConnection GSmtpConnection;
typedef struct _GSmtpConnectionHost GSmtpConnectionHost;
struct _GSmtpPoller;
struct _GSmtpTlsCredentials;

/* What a connection needs from whoever accepted it (gsmtp-server.c). */
typedef struct {
        guint8              *(*read_buffer)     (GSmtpConnectionHost *host, gsize *size);
        struct _GSmtpPoller *(*poller)          (GSmtpConnectionHost *host);
        /* (nullable): NULL when TLS is not configured or the certificate unusable */
        struct _GSmtpTlsCredentials *(*tls_credentials) (GSmtpConnectionHost *host);
        /* Counts one more session from @address; FALSE (and nothing counted)
         * past the per-address limit. */
        gboolean             (*admit_address)   (GSmtpConnectionHost *host, const char *address);
        void                 (*release_address) (GSmtpConnectionHost *host, const char *address);
        /* The session began (+1) or ended (-1) a message transfer, during
         * which it may hold more file descriptors (a spill file). */
        void                 (*transfer)        (GSmtpConnectionHost *host, int delta);
        /* The connection closed; the host drops its reference. */
        void                 (*closed)          (GSmtpConnectionHost *host, GSmtpConnection *conn);
} GSmtpConnectionHostFuncs;

struct _GSmtpConnectionHost {
        GSmtpSessionHost                session;        /* what the session sees of the host */
        const GSmtpConnectionHostFuncs *funcs;
};

/* Where the client's address comes from, and what the session speaks. */
typedef enum {
        GSMTP_CONNECTION_IMPLICIT_TLS = 1 << 0,         /* TLS from the first byte (RFC 8314) */
        GSMTP_CONNECTION_PROXY        = 1 << 1,         /* a PROXY header comes first */
        GSMTP_CONNECTION_LMTP         = 1 << 2,         /* the session speaks LMTP (RFC 2033) */
} GSmtpConnectionFlags;

GSmtpConnection *gsmtp_connection_new      (GSmtpConnectionHost *host, GSocketConnection *socket,
                                            GSmtpConnectionFlags flags);
void             gsmtp_connection_start    (GSmtpConnection *self);
void             gsmtp_connection_shutdown (GSmtpConnection *self, gboolean force);
void             gsmtp_connection_abort    (GSmtpConnection *self);
GSmtpConnection *gsmtp_connection_ref      (GSmtpConnection *self);
void             gsmtp_connection_unref    (GSmtpConnection *self);
void             gsmtp_connection_check_timeout (GSmtpConnection *self, gint64 now);

G_END_DECLS

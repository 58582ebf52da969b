/* gsmtp-tls-server.h — the server side of TLS, GnuTLS driven without blocking (internal). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Forward secrecy only (ECDHE, DHE; TLS 1.3 always), TLS 1.2 and newer, the
 * server's cipher order.  CONTRACT.md states the same for dump-mail. */
#define GSMTP_DEFAULT_TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:%SERVER_PRECEDENCE"

typedef struct _GSmtpTlsCredentials GSmtpTlsCredentials;
typedef struct _GSmtpTlsSession     GSmtpTlsSession;

typedef enum {
        GSMTP_TLS_OK,
        GSMTP_TLS_WANT_READ,            /* try again when the socket is readable */
        GSMTP_TLS_WANT_WRITE,           /* try again when the socket is writable */
        GSMTP_TLS_EOF,                  /* the peer ended the TLS session or the connection */
        GSMTP_TLS_ERROR,
} GSmtpTlsStatus;

gboolean             gsmtp_tls_priority_check     (const char *priority, GError **error);

GSmtpTlsCredentials *gsmtp_tls_credentials_new    (GTlsCertificate *certificate, const char *priority,
                                                   GError **error);
GSmtpTlsCredentials *gsmtp_tls_credentials_ref    (GSmtpTlsCredentials *creds);
void                 gsmtp_tls_credentials_unref  (GSmtpTlsCredentials *creds);

GSmtpTlsSession     *gsmtp_tls_session_new        (GSmtpTlsCredentials *creds, int fd, GError **error);
void                 gsmtp_tls_session_free       (GSmtpTlsSession *self);
GSmtpTlsStatus       gsmtp_tls_session_handshake  (GSmtpTlsSession *self, GError **error);
gssize               gsmtp_tls_session_recv       (GSmtpTlsSession *self, guint8 *buf, gsize size,
                                                   GSmtpTlsStatus *status);
gssize               gsmtp_tls_session_send       (GSmtpTlsSession *self, const guint8 *data, gsize len,
                                                   GSmtpTlsStatus *status);
gboolean             gsmtp_tls_session_has_pending (GSmtpTlsSession *self);
void                 gsmtp_tls_session_bye        (GSmtpTlsSession *self);
const char          *gsmtp_tls_session_get_version (GSmtpTlsSession *self);
const char          *gsmtp_tls_session_get_cipher  (GSmtpTlsSession *self);
GTlsCertificate     *gsmtp_tls_session_get_peer_certificate (GSmtpTlsSession *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GSmtpTlsCredentials, gsmtp_tls_credentials_unref)

G_END_DECLS

/* gsmtp-session.h — the protocol state machine; bytes in, bytes out, no sockets (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

typedef struct _GSmtpSession GSmtpSession;

typedef enum {
        GSMTP_SESSION_CONTINUE,         /* write the output, then read more if wanted */
        GSMTP_SESSION_START_TLS,        /* write the output, then handshake */
        GSMTP_SESSION_CLOSE,            /* write the output, then close */
} GSmtpSessionAction;

/* Called when a deferred stage completes or a delay ends: the session has new
 * output or wants input again. */
typedef void (*GSmtpSessionWakeup) (gpointer user_data);

GSmtpSession      *gsmtp_session_new         (GSmtpServer *server, GSmtpPeer *peer,
                                              gboolean tls_active,
                                              GSmtpSessionWakeup wakeup, gpointer user_data);
void               gsmtp_session_free        (GSmtpSession *self);
void               gsmtp_session_expect_proxy (GSmtpSession *self);
void               gsmtp_session_start       (GSmtpSession *self);
void               gsmtp_session_feed        (GSmtpSession *self, const guint8 *data, gsize len);
void               gsmtp_session_eof         (GSmtpSession *self);
void               gsmtp_session_timeout     (GSmtpSession *self);
void               gsmtp_session_shutdown    (GSmtpSession *self, gboolean force);
void               gsmtp_session_tls_started (GSmtpSession *self, const char *version,
                                              const char *cipher, GTlsCertificate *client_cert);

gboolean           gsmtp_session_has_output  (GSmtpSession *self);
GBytes            *gsmtp_session_take_output (GSmtpSession *self);
GSmtpSessionAction gsmtp_session_get_action  (GSmtpSession *self);
gboolean           gsmtp_session_wants_input (GSmtpSession *self);
gboolean           gsmtp_session_in_data     (GSmtpSession *self);

G_END_DECLS

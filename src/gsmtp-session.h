/* gsmtp-session.h — the protocol state machine; bytes in, bytes out, no sockets (internal). */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-session-host.h"

G_BEGIN_DECLS

typedef struct _GSmtpSession GSmtpSession;

typedef enum {
        GSMTP_SESSION_CONTINUE,         /* write the output, then read more if wanted */
        GSMTP_SESSION_START_TLS,        /* write the output, then handshake */
        GSMTP_SESSION_CLOSE,            /* write the output, then close */
} GSmtpSessionAction;

/* What the session tells whoever moves its bytes (gsmtp-connection.c). */
typedef struct {
        /* A deferred stage completed or a delay ended: there is new output, or
         * the session wants input again. */
        void     (*wakeup)       (gpointer data);
        /* The client's address changed (XCLIENT).  FALSE refuses the new
         * address (over the per-address limit): the session answers 421 and
         * closes. */
        gboolean (*peer_changed) (gpointer data, GSmtpPeer *peer);
} GSmtpSessionCallbacks;

GSmtpSession      *gsmtp_session_new         (GSmtpSessionHost *host, GSmtpPeer *peer,
                                              gboolean tls_active,
                                              const GSmtpSessionCallbacks *callbacks,
                                              gpointer data);
void               gsmtp_session_free        (GSmtpSession *self);
void               gsmtp_session_start       (GSmtpSession *self);
void               gsmtp_session_early_talker (GSmtpSession *self);
void               gsmtp_session_feed        (GSmtpSession *self, const guint8 *data, gsize len);
void               gsmtp_session_eof         (GSmtpSession *self);
void               gsmtp_session_timeout     (GSmtpSession *self);
void               gsmtp_session_shutdown    (GSmtpSession *self, gboolean force);
void               gsmtp_session_abort       (GSmtpSession *self);
void               gsmtp_session_refuse      (GSmtpSession *self, guint code, const char *enhanced,
                                              const char *text);
void               gsmtp_session_tls_started (GSmtpSession *self, const char *version,
                                              const char *cipher, GTlsCertificate *client_cert);

GSmtpPeer         *gsmtp_session_get_peer    (GSmtpSession *self);
const GSmtpLimits *gsmtp_session_get_limits  (GSmtpSession *self);
gboolean           gsmtp_session_has_output  (GSmtpSession *self);
GBytes            *gsmtp_session_take_output (GSmtpSession *self);
GSmtpSessionAction gsmtp_session_get_action  (GSmtpSession *self);
gboolean           gsmtp_session_wants_input (GSmtpSession *self);
gboolean           gsmtp_session_in_data     (GSmtpSession *self);
gboolean           gsmtp_session_is_waiting  (GSmtpSession *self);
gboolean           gsmtp_session_has_partial_line (GSmtpSession *self);

G_END_DECLS

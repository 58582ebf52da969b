#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-reply.h>
#include <gsmtp/gsmtp-peer.h>
#include <gsmtp/gsmtp-envelope.h>

G_BEGIN_DECLS

/**
 * GSmtpStageKind:
 * @GSMTP_STAGE_CONNECT: a client connected; the reply is the banner
 * @GSMTP_STAGE_HELO: HELO or EHLO; the argument is the client's name
 * @GSMTP_STAGE_AUTH: AUTH; the argument is the user name, see g_smtp_stage_get_password()
 * @GSMTP_STAGE_MAIL: MAIL FROM; the argument is the reverse-path ("" for `<>`)
 * @GSMTP_STAGE_RCPT: RCPT TO; the argument is the forward-path
 * @GSMTP_STAGE_DATA: the end of DATA; the envelope holds the message
 *
 * The points of a session at which the application decides.  In order:
 * connect, HELO/EHLO, (STARTTLS), AUTH, MAIL, each RCPT, end of DATA.
 *
 * Since: 0.1
 */
typedef enum {
        GSMTP_STAGE_CONNECT = 1,
        GSMTP_STAGE_HELO,
        GSMTP_STAGE_AUTH,
        GSMTP_STAGE_MAIL,
        GSMTP_STAGE_RCPT,
        GSMTP_STAGE_DATA,
} GSmtpStageKind;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_stage_kind_get_type (void);
#define GSMTP_TYPE_STAGE_KIND (g_smtp_stage_kind_get_type ())

#define GSMTP_TYPE_STAGE (g_smtp_stage_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpStage, g_smtp_stage, GSMTP, STAGE, GObject)

GSMTP_AVAILABLE_IN_ALL
GSmtpStageKind g_smtp_stage_get_kind (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpPeer *g_smtp_stage_get_peer (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_stage_get_argument (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_stage_get_address (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_stage_get_local_part (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_stage_get_domain (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_stage_is_local_domain (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_stage_get_password (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GHashTable *g_smtp_stage_get_parameters (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpEnvelope *g_smtp_stage_get_envelope (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpDsnNotify g_smtp_stage_get_dsn_notify (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_stage_get_dsn_orcpt (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_stage_get_default_reply (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_stage_accept_default (GSmtpStage *self);

GSMTP_AVAILABLE_IN_ALL
GSmtpStage *g_smtp_stage_defer (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_stage_complete (GSmtpStage *self, GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_stage_complete_code (GSmtpStage *self, guint code);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_stage_is_pending (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_stage_is_cancelled (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
GCancellable *g_smtp_stage_get_cancellable (GSmtpStage *self);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_stage_set_recipient_reply (GSmtpStage *self, guint index, GSmtpReply *reply);

G_END_DECLS

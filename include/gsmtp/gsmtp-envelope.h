#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gmime/gmime.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-peer.h>

G_BEGIN_DECLS

/**
 * GSmtpDsnRet:
 * @GSMTP_DSN_RET_UNSPECIFIED: MAIL had no `RET=`: the MTA that makes a DSN chooses
 * @GSMTP_DSN_RET_FULL: `RET=FULL`: a DSN for this message should carry all of it
 * @GSMTP_DSN_RET_HDRS: `RET=HDRS`: a DSN should carry the headers only
 *
 * What a delivery status notification should return of the message (RFC 3461
 * 4.3).  gsmtp makes no DSN; the application that does reads this.
 *
 * Since: 0.2
 */
typedef enum {
        GSMTP_DSN_RET_UNSPECIFIED,
        GSMTP_DSN_RET_FULL,
        GSMTP_DSN_RET_HDRS,
} GSmtpDsnRet;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_dsn_ret_get_type (void);
#define GSMTP_TYPE_DSN_RET (g_smtp_dsn_ret_get_type ())

/**
 * GSmtpDsnNotify:
 * @GSMTP_DSN_NOTIFY_UNSPECIFIED: RCPT had no `NOTIFY=` (RFC 3461 4.1: the MTA
 *   behaves as for `FAILURE`, or `FAILURE,DELAY`)
 * @GSMTP_DSN_NOTIFY_NEVER: `NOTIFY=NEVER`: no DSN at all; never with another flag
 * @GSMTP_DSN_NOTIFY_SUCCESS: a DSN when the message is delivered
 * @GSMTP_DSN_NOTIFY_FAILURE: a DSN when delivery fails
 * @GSMTP_DSN_NOTIFY_DELAY: a DSN when delivery is delayed
 *
 * When a recipient's delivery status notifications were asked for (RFC 3461
 * 4.1).
 *
 * Since: 0.2
 */
typedef enum {
        GSMTP_DSN_NOTIFY_UNSPECIFIED = 0,
        GSMTP_DSN_NOTIFY_NEVER = 1 << 0,
        GSMTP_DSN_NOTIFY_SUCCESS = 1 << 1,
        GSMTP_DSN_NOTIFY_FAILURE = 1 << 2,
        GSMTP_DSN_NOTIFY_DELAY = 1 << 3,
} GSmtpDsnNotify;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_dsn_notify_get_type (void);
#define GSMTP_TYPE_DSN_NOTIFY (g_smtp_dsn_notify_get_type ())

#define GSMTP_TYPE_ENVELOPE (g_smtp_envelope_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpEnvelope, g_smtp_envelope, GSMTP, ENVELOPE, GObject)

GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_sender (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_envelope_is_null_sender (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_reverse_path (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GHashTable *g_smtp_envelope_get_mail_parameters (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_envelope_get_recipients (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
guint g_smtp_envelope_get_n_recipients (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GBytes *g_smtp_envelope_get_data (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
gsize g_smtp_envelope_get_size (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_received_header (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GInputStream *g_smtp_envelope_open_with_trace (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GMimeMessage *g_smtp_envelope_get_message (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_mime_error (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpPeer *g_smtp_envelope_get_peer (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_body (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_envelope_is_chunked (GSmtpEnvelope *self);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_envelope_is_smtputf8 (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_envelope_requires_tls (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpDsnRet g_smtp_envelope_get_dsn_ret (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_dsn_envid (GSmtpEnvelope *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpDsnNotify g_smtp_envelope_get_dsn_notify (GSmtpEnvelope *self, guint index);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_envelope_get_dsn_orcpt (GSmtpEnvelope *self, guint index);

G_END_DECLS

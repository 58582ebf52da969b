#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gmime/gmime.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-peer.h>

G_BEGIN_DECLS

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

G_END_DECLS

#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <glib-object.h>
#include <gsmtp/gsmtp-visibility.h>

G_BEGIN_DECLS

#define GSMTP_TYPE_REPLY (g_smtp_reply_get_type ())

typedef struct _GSmtpReply GSmtpReply;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_reply_get_type (void);

GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_reply_new (guint code, const char *enhanced_code, const char *text);
GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_reply_new_code (guint code);
GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_reply_new_lines (guint code, const char *enhanced_code,
                                    const char *const *lines);
GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_reply_parse (const char *text, gsize length, GError **error);

GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_reply_ref (GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_reply_unref (GSmtpReply *reply);

GSMTP_AVAILABLE_IN_ALL
guint g_smtp_reply_get_code (const GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_reply_get_enhanced_code (const GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_reply_get_text (const GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_reply_get_lines (const GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_reply_is_success (const GSmtpReply *reply);
GSMTP_AVAILABLE_IN_ALL
char *g_smtp_reply_to_string (const GSmtpReply *reply);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GSmtpReply, g_smtp_reply_unref)

G_END_DECLS

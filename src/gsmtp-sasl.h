/* gsmtp-sasl.h — AUTH PLAIN and LOGIN encodings, server and client (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean gsmtp_sasl_decode_plain (const char *base64, char **out_user, char **out_password);
char    *gsmtp_sasl_decode_text  (const char *base64);
char    *gsmtp_sasl_encode_plain (const char *user, const char *password);
char    *gsmtp_sasl_encode_text  (const char *text);
void     gsmtp_sasl_wipe         (char *secret);

G_END_DECLS

/* gsmtp-client-params.h — what the client may put on a MAIL or RCPT line (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean gsmtp_client_check_path      (const char *what, const char *address, gboolean allow_null,
                                       char **out_path, GError **error);
gboolean gsmtp_client_check_parameter (const char *keyword, const char *value, GError **error);
gboolean gsmtp_client_check_envid     (const char *envid, GError **error);
gboolean gsmtp_client_keyword_is_managed (const char *keyword);
gboolean gsmtp_client_is_ascii        (const char *text);
void     gsmtp_xtext_append           (GString *out, const char *text);
void     gsmtp_utf8_addr_xtext_append (GString *out, const char *text);

/* gsmtp-client-sasl.c: the client's half of the SASL mechanisms */
char    *gsmtp_sasl_encode_xoauth2     (const char *user, const char *token);
char    *gsmtp_sasl_encode_oauthbearer (const char *user, const char *host, guint port,
                                        const char *token);

G_END_DECLS

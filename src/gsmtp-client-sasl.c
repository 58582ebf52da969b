/* gsmtp-client-sasl.c — the client's half of the OAuth 2.0 SASL mechanisms.
 * Owns: the initial responses of XOAUTH2 (Google's and Microsoft's) and
 * OAUTHBEARER (RFC 7628 3.1), base64-encoded.  Pure.
 * Not: PLAIN and LOGIN (gsmtp-sasl.c, shared with the server), the dialogue and
 * where the token comes from (gsmtp-client-connection.c). */
#include "config.h"
#include "gsmtp-client-params.h"
#include "gsmtp-sasl.h"

#include <string.h>

static char *
sasl_encode_wiped (GString *raw)
{
        char *out = g_base64_encode ((const guchar *) raw->str, raw->len);

        memset (raw->str, 0, raw->len);
        g_string_free (raw, TRUE);
        return out;
}

/* "user=" user ^A "auth=Bearer " token ^A ^A */
char *
gsmtp_sasl_encode_xoauth2 (const char *user, const char *token)
{
        GString *raw = g_string_new (NULL);

        g_string_append_printf (raw, "user=%s\001auth=Bearer %s\001\001", user, token);
        return sasl_encode_wiped (raw);
}

/* RFC 7628 3.1: gs2-header "n,a=" saslname ",", then key=value pairs each ended by
 * ^A, and a final ^A.  In a saslname "," is "=2C" and "=" is "=3D" (RFC 5801). */
char *
gsmtp_sasl_encode_oauthbearer (const char *user, const char *host, guint port, const char *token)
{
        GString *raw = g_string_new ("n,a=");

        for (const char *p = user; *p != '\0'; p++) {
                if (*p == ',')
                        g_string_append (raw, "=2C");
                else if (*p == '=')
                        g_string_append (raw, "=3D");
                else
                        g_string_append_c (raw, *p);
        }
        g_string_append_c (raw, ',');
        if (host != NULL)
                g_string_append_printf (raw, "\001host=%s", host);
        if (port != 0)
                g_string_append_printf (raw, "\001port=%u", port);
        g_string_append_printf (raw, "\001auth=Bearer %s\001\001", token);
        return sasl_encode_wiped (raw);
}

/* gsmtp-sasl.c — the two SASL mechanisms SMTP uses in practice.
 * Owns: base64 and the PLAIN message layout, strictly checked.  Pure; fuzzed.
 * Not: the AUTH dialogue (gsmtp-session.c, gsmtp-client.c).
 * RFC 4954, RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN). */
#include "config.h"
#include "gsmtp-sasl.h"

#include <string.h>

/* g_base64_decode() skips bad characters; a client's AUTH must be strict base64
 * or be refused with 501, so check the alphabet and the padding first. */
static guchar *
sasl_base64_decode (const char *in, gsize *out_len)
{
        gsize len = strlen (in), pad = 0;

        if (len % 4 != 0)
                return NULL;
        for (gsize i = 0; i < len; i++) {
                char c = in[i];

                if (c == '=') {
                        pad++;
                        continue;
                }
                if (pad > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
                        return NULL;
        }
        if (pad > 2)
                return NULL;
        if (len == 0) {
                *out_len = 0;
                return (guchar *) g_strdup ("");
        }
        return g_base64_decode (in, out_len);
}

/* PLAIN: [authzid] NUL authcid NUL passwd.  An authzid other than the user
 * itself (proxy authorisation) is refused: nobody here can vouch for it. */
gboolean
gsmtp_sasl_decode_plain (const char *base64, char **out_user, char **out_password)
{
        gsize len = 0;
        g_autofree guchar *raw = sasl_base64_decode (base64, &len);
        const char *authzid, *authcid, *passwd, *end;
        const char *nul1, *nul2;
        gboolean ok = FALSE;

        if (raw == NULL)
                return FALSE;
        end = (const char *) raw + len;
        authzid = (const char *) raw;
        nul1 = memchr (authzid, '\0', end - authzid);
        if (nul1 == NULL)
                goto out;
        authcid = nul1 + 1;
        nul2 = memchr (authcid, '\0', end - authcid);
        if (nul2 == NULL)
                goto out;
        passwd = nul2 + 1;
        if (memchr (passwd, '\0', end - passwd) != NULL || nul2 == authcid)
                goto out;
        if (nul1 != authzid && (nul1 - authzid != nul2 - authcid ||
                                memcmp (authzid, authcid, nul1 - authzid) != 0))
                goto out;
        if (!g_utf8_validate (authcid, nul2 - authcid, NULL) ||
            !g_utf8_validate (passwd, end - passwd, NULL))
                goto out;
        *out_user = g_strndup (authcid, nul2 - authcid);
        *out_password = g_strndup (passwd, end - passwd);
        ok = TRUE;
out:
        memset (raw, 0, len);
        return ok;
}

/* One LOGIN step: base64 of UTF-8 text without NUL. */
char *
gsmtp_sasl_decode_text (const char *base64)
{
        gsize len = 0;
        g_autofree guchar *raw = sasl_base64_decode (base64, &len);
        char *text;

        if (raw == NULL)
                return NULL;
        if (memchr (raw, '\0', len) != NULL || !g_utf8_validate ((char *) raw, len, NULL)) {
                memset (raw, 0, len);
                return NULL;
        }
        text = g_strndup ((char *) raw, len);
        memset (raw, 0, len);
        return text;
}

char *
gsmtp_sasl_encode_plain (const char *user, const char *password)
{
        gsize ulen = strlen (user), plen = strlen (password);
        g_autofree guchar *raw = g_malloc (ulen + plen + 2);
        char *out;

        raw[0] = '\0';
        memcpy (raw + 1, user, ulen);
        raw[ulen + 1] = '\0';
        memcpy (raw + ulen + 2, password, plen);
        out = g_base64_encode (raw, ulen + plen + 2);
        memset (raw, 0, ulen + plen + 2);
        return out;
}

char *
gsmtp_sasl_encode_text (const char *text)
{
        return g_base64_encode ((const guchar *) text, strlen (text));
}

void
gsmtp_sasl_wipe (char *secret)
{
        if (secret != NULL) {
                memset (secret, 0, strlen (secret));
                g_free (secret);
        }
}

/* gsmtp-xtext.c — decodes xtext (RFC 3461 4) and the UTF-8 address forms of
 * RFC 6533 3 (utf-8-addr-xtext, utf-8-addr-unitext).
 * Owns: the grammar of one encoded value.  Pure; fuzzed (fuzz/fuzz-xtext.c).
 * Not: which parameter holds what, or what a decoded value may contain
 * (gsmtp-esmtp-params.c, gsmtp-session-xclient.c). */
#include "config.h"
#include "gsmtp-xtext.h"
#include "gsmtp-address.h"

#include <string.h>

/* xtext = *( xchar / hexchar ): xchar is "!" to "~" but "+" and "=";
 * hexchar is "+" and two hex digits.  RFC 3461 asks for upper case digits;
 * lower case is taken too, as Postfix takes it.  NULL for anything else,
 * and for "+00": a value never holds a NUL. */
char *
gsmtp_xtext_decode (const char *in)
{
        GString *out = g_string_sized_new (strlen (in));

        for (const char *p = in; *p != '\0'; p++) {
                unsigned char c = (unsigned char) *p;

                if (c == '+') {
                        int hi, lo;

                        if (!g_ascii_isxdigit (p[1]) || !g_ascii_isxdigit (p[2]))
                                goto bad;
                        hi = g_ascii_xdigit_value (p[1]);
                        lo = g_ascii_xdigit_value (p[2]);
                        if (hi == 0 && lo == 0)
                                goto bad;
                        g_string_append_c (out, (char) (hi * 16 + lo));
                        p += 2;
                } else if (c >= 33 && c <= 126 && c != '=') {
                        g_string_append_c (out, (char) c);
                } else {
                        goto bad;
                }
        }
        return g_string_free (out, FALSE);
bad:
        g_string_free (out, TRUE);
        return NULL;
}

/* "\x{HEX}" (EmbeddedUnicodeChar): one Unicode scalar value, 1 to 6 hex
 * digits.  Returns the characters used, 0 when malformed. */
static gsize
embedded_char (const char *p, gunichar *out)
{
        gunichar value = 0;
        gsize n = 0;

        if (p[0] != '\\' || p[1] != 'x' || p[2] != '{')
                return 0;
        for (p += 3; g_ascii_isxdigit (*p) && n < 6; p++, n++)
                value = value * 16 + g_ascii_xdigit_value (*p);
        if (n == 0 || *p != '}')
                return 0;
        /* no NUL, no surrogate, nothing past U+10FFFF */
        if (value == 0 || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
                return 0;
        *out = value;
        return 3 + n + 1;
}

/* utf-8-addr-xtext / utf-8-addr-unitext (RFC 6533 3), the value of
 * ORCPT=utf-8;...: QCHAR is printable ASCII but "+", "=" and "\"; unitext adds
 * UTF-8 (RFC 6532 UTF8-non-ascii); either may hold "\x{HEX}".  Whether raw
 * UTF-8 may come at all (only under SMTPUTF8) is the caller's question.  NULL
 * when malformed or empty. */
char *
gsmtp_utf8_addr_decode (const char *in)
{
        GString *out = g_string_sized_new (strlen (in));

        for (const char *p = in; *p != '\0';) {
                unsigned char c = (unsigned char) *p;
                gunichar u;
                gsize n;

                if (c == '\\') {
                        n = embedded_char (p, &u);
                        if (n == 0)
                                goto bad;
                        g_string_append_unichar (out, u);
                        p += n;
                } else if (c >= 0x80) {
                        n = gsmtp_utf8_char_len (p);
                        if (n == 0)
                                goto bad;
                        g_string_append_len (out, p, n);
                        p += n;
                } else if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=') {
                        g_string_append_c (out, (char) c);
                        p++;
                } else {
                        goto bad;
                }
        }
        if (out->len == 0)
                goto bad;
        return g_string_free (out, FALSE);
bad:
        g_string_free (out, TRUE);
        return NULL;
}

/* fuzz-xtext.c — xtext (RFC 3461 4) and RFC 6533's utf-8 address forms.
 * Invariants: a decoded value is never longer than its input; xtext that
 * decodes comes back the same through an encoder; a utf-8 address decodes to
 * well-formed, non-empty UTF-8. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-xtext.h"

#include <stdlib.h>
#include <string.h>

static char *
xtext_encode (const char *s)
{
        GString *out = g_string_new (NULL);

        for (; *s != '\0'; s++) {
                unsigned char c = (unsigned char) *s;

                if (c >= 33 && c <= 126 && c != '+' && c != '=')
                        g_string_append_c (out, (char) c);
                else
                        g_string_append_printf (out, "+%02X", c);
        }
        return g_string_free (out, FALSE);
}

FUZZ_ENTRY (xtext)
{
        g_autofree char *in = g_strndup ((const char *) data, size);
        g_autofree char *x = gsmtp_xtext_decode (in);
        g_autofree char *u = gsmtp_utf8_addr_decode (in);

        if (x != NULL) {
                g_autofree char *again = xtext_encode (x);
                g_autofree char *back = gsmtp_xtext_decode (again);

                FUZZ_CHECK (strlen (x) <= strlen (in));
                FUZZ_CHECK (back != NULL && g_str_equal (back, x));
        }
        if (u != NULL) {
                /* "\x{10FFFF}" is 10 characters for 4 bytes: never longer */
                FUZZ_CHECK (strlen (u) <= strlen (in));
                FUZZ_CHECK (u[0] != '\0');
                FUZZ_CHECK (g_utf8_validate (u, -1, NULL));
        }
        return 0;
}

/* fuzz-sasl.c — AUTH PLAIN and LOGIN decoding. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-sasl.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY (sasl)
{
        g_autofree char *s = g_strndup ((const char *) data, size);
        g_autofree char *user = NULL, *pass = NULL, *text = NULL;

        if (gsmtp_sasl_decode_plain (s, &user, &pass)) {
                g_autofree char *again = gsmtp_sasl_encode_plain (user, pass);
                g_autofree char *u2 = NULL, *p2 = NULL;

                FUZZ_CHECK (user[0] != '\0');
                FUZZ_CHECK (g_utf8_validate (user, -1, NULL) && g_utf8_validate (pass, -1, NULL));
                FUZZ_CHECK (gsmtp_sasl_decode_plain (again, &u2, &p2));
                FUZZ_CHECK (g_str_equal (user, u2) && g_str_equal (pass, p2));
        }
        text = gsmtp_sasl_decode_text (s);
        if (text != NULL)
                FUZZ_CHECK (g_utf8_validate (text, -1, NULL));
        return 0;
}

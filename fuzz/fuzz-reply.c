/* fuzz-reply.c — the client's reply parser, and formatting what it parsed. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-private.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY (reply)
{
        g_autoptr(GSmtpReply) reply = g_smtp_reply_parse ((const char *) data, size, NULL);
        g_autoptr(GString) out = NULL;

        if (reply == NULL)
                return 0;
        FUZZ_CHECK (g_smtp_reply_get_code (reply) >= 200 && g_smtp_reply_get_code (reply) <= 599);
        out = g_string_new (NULL);
        gsmtp_reply_format (reply, NULL, TRUE, out);
        /* what we format parses back to the same code and line count */
        {
                g_autoptr(GSmtpReply) again = g_smtp_reply_parse (out->str, out->len, NULL);

                FUZZ_CHECK (again != NULL);
                FUZZ_CHECK (g_smtp_reply_get_code (again) == g_smtp_reply_get_code (reply));
                FUZZ_CHECK (g_strv_length ((char **) g_smtp_reply_get_lines (again)) ==
                            g_strv_length ((char **) g_smtp_reply_get_lines (reply)));
        }
        return 0;
}

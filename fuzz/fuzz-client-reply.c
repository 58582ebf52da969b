/* fuzz-client-reply.c — the client's reply framer, however the network splits the
 * bytes: whole, one byte at a time and in odd pieces give the same replies, each
 * framed reply parses to the framer's code, and what is buffered stays bounded. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-private.h"
#include "gsmtp-client-reply.h"

#include <stdlib.h>
#include <string.h>

/* Feeds @data @step bytes at a time, as reads would; returns "code:length;" per
 * reply, then "E" for an error or "+N" for N bytes left over. */
static char *
frame_all (const guint8 *data, size_t size, size_t step)
{
        g_autoptr(GByteArray) buf = g_byte_array_new ();
        GString *out = g_string_new (NULL);
        GSmtpReplyFramer framer;
        size_t fed = 0;

        gsmtp_reply_framer_reset (&framer);
        while (fed < size) {
                size_t n = MIN (step, size - fed);

                g_byte_array_append (buf, data + fed, n);
                fed += n;
                for (;;) {
                        g_autoptr(GError) error = NULL;
                        gsize len = 0;
                        GSmtpFrameStatus status = gsmtp_reply_framer_scan (&framer, buf->data, buf->len, &len, &error);

                        if (status == GSMTP_FRAME_MORE) {
                                /* a partial reply is bounded by the limits */
                                FUZZ_CHECK (buf->len < GSMTP_REPLY_MAX + GSMTP_REPLY_LINE_MAX + step);
                                break;
                        }
                        if (status == GSMTP_FRAME_ERROR) {
                                FUZZ_CHECK (error != NULL);
                                g_string_append_c (out, 'E');
                                return g_string_free (out, FALSE);
                        }
                        FUZZ_CHECK (len > 0 && len <= buf->len);
                        FUZZ_CHECK (buf->data[len - 1] == '\n');
                        {
                                g_autoptr(GSmtpReply) reply = g_smtp_reply_parse ((const char *) buf->data, len, NULL);

                                FUZZ_CHECK (reply != NULL);
                                FUZZ_CHECK (g_smtp_reply_get_code (reply) >= 200 && g_smtp_reply_get_code (reply) <= 599);
                                g_string_append_printf (out, "%u:%zu;", g_smtp_reply_get_code (reply), (size_t) len);
                        }
                        g_byte_array_remove_range (buf, 0, len);
                }
        }
        g_string_append_printf (out, "+%u", buf->len);
        return g_string_free (out, FALSE);
}

FUZZ_ENTRY (client_reply)
{
        g_autofree char *whole = frame_all (data, size, MAX (size, 1));
        g_autofree char *odd = frame_all (data, size, 7);

        FUZZ_CHECK (g_str_equal (whole, odd));
        /* one byte at a time costs a scan per byte: only for inputs of a few KiB */
        if (size <= 4096) {
                g_autofree char *bytes = frame_all (data, size, 1);

                FUZZ_CHECK (g_str_equal (whole, bytes));
        }
        return 0;
}

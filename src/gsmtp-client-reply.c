/* gsmtp-client-reply.c — the client's reply framer.
 * Owns: where one server reply ends in a stream of bytes that the network split
 * anywhere (one byte per packet, inside a line, a reply larger than one read), and
 * the limits on what a server may make the client buffer.  Pure; fuzzed.
 * Not: turning the bytes into a GSmtpReply (g_smtp_reply_parse, gsmtp-reply.c),
 * reading (gsmtp-client-connection.c).  RFC 5321 4.2, 4.2.1, 4.5.3.1.5. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-client-reply.h"

#include <string.h>

void
gsmtp_reply_framer_reset (GSmtpReplyFramer *self)
{
        self->scanned = 0;
        self->code = 0;
}

static GSmtpFrameStatus
framer_fail (GSmtpReplyFramer *self, GError **error, const char *why, const guint8 *line, gsize len)
{
        g_autofree char *shown = g_strndup ((const char *) line, MIN (len, 60));

        /* the quote is for humans: no control byte from the server reaches a log */
        for (char *p = shown; *p != '\0'; p++)
                if ((guchar) *p < 0x20 || (guchar) *p >= 0x7f)
                        *p = '?';
        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL, "%s: \"%s\"", why, shown);
        gsmtp_reply_framer_reset (self);
        return GSMTP_FRAME_ERROR;
}

/* Looks for the end of the reply that starts at buf[0].  Whole lines are checked
 * once: a later call resumes at the first line not yet ended, never inside one,
 * so however the bytes were split the answer is the same.  The same rules as
 * g_smtp_reply_parse(), so a framed reply always parses: three digits 200-599,
 * then ' ', '-' or the end of the line; every line the same code; the last line
 * has no '-'.  A line ends with LF; one CR before it is dropped. */
GSmtpFrameStatus
gsmtp_reply_framer_scan (GSmtpReplyFramer *self, const guint8 *buf, gsize len, gsize *length,
                         GError **error)
{
        while (self->scanned < len) {
                const guint8 *line = buf + self->scanned;
                gsize avail = len - self->scanned;
                const guint8 *lf = memchr (line, '\n', MIN (avail, GSMTP_REPLY_LINE_MAX));
                gsize n;
                guint code;

                if (lf == NULL) {
                        if (avail >= GSMTP_REPLY_LINE_MAX)
                                return framer_fail (self, error, "The server's reply line is too long",
                                                    line, avail);
                        break;
                }
                n = lf - line;
                if (n > 0 && line[n - 1] == '\r')
                        n--;
                if (n < 3 || !g_ascii_isdigit (line[0]) || !g_ascii_isdigit (line[1]) ||
                    !g_ascii_isdigit (line[2]) || (n > 3 && line[3] != ' ' && line[3] != '-'))
                        return framer_fail (self, error, "Malformed SMTP reply line", line, n);
                code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
                if (code < 200 || code > 599 || (self->code != 0 && code != self->code))
                        return framer_fail (self, error, "Unexpected SMTP reply code", line, n);
                self->code = code;
                self->scanned += (lf - line) + 1;
                if (n == 3 || line[3] == ' ') {
                        *length = self->scanned;
                        gsmtp_reply_framer_reset (self);
                        return GSMTP_FRAME_REPLY;
                }
                if (self->scanned >= GSMTP_REPLY_MAX)
                        return framer_fail (self, error, "The server's reply is too long", buf,
                                            MIN (len, 3));
        }
        return GSMTP_FRAME_MORE;
}

/* gsmtp-dot-stuffer.c — message bytes to their wire form.
 * Owns: line ends to CRLF (a bare LF or a bare CR ends a line), dot-stuffing for
 * DATA, the end-of-data marker, and measuring a message before it is sent: its
 * exact SIZE, 8-bit and NUL bytes.  Pure; fuzzed.
 * Not: BINARYMIME data, which goes out untouched (gsmtp-client-connection.c).
 * RFC 5321 2.3.8, 4.5.2; RFC 1870 (SIZE counts CRLF, not the stuffed dots). */
#include "config.h"
#include "gsmtp-dot-stuffer.h"

#include <string.h>

void
gsmtp_dot_stuffer_init (GSmtpDotStuffer *self, gboolean stuff_dots)
{
        self->stuff_dots = stuff_dots;
        self->bol = TRUE;
        self->cr = FALSE;
}

/* Appends the wire form of in[] to out; the state carries over, so any split of
 * the message into calls gives the same bytes.  At most twice the input, plus
 * one: the LF of a CR that ended the previous call (found by fuzz-dot-stuffer). */
void
gsmtp_dot_stuffer_feed (GSmtpDotStuffer *self, const guint8 *in, gsize len, GByteArray *out)
{
        const guint8 *p = in, *end = in + len;
        gsize base = out->len;
        guint8 *o;

        g_byte_array_set_size (out, base + 2 * len + 1);
        o = out->data + base;
        while (p < end) {
                guint8 c = *p++;

                if (self->cr) {
                        self->cr = FALSE;
                        *o++ = '\n';
                        self->bol = TRUE;
                        if (c == '\n')
                                continue;
                        /* a bare CR ended the line; c starts the next */
                }
                if (c == '\r') {
                        *o++ = '\r';
                        self->cr = TRUE;
                        continue;
                }
                if (c == '\n') {
                        *o++ = '\r';
                        *o++ = '\n';
                        self->bol = TRUE;
                        continue;
                }
                if (self->bol && c == '.' && self->stuff_dots)
                        *o++ = '.';
                self->bol = FALSE;
                *o++ = c;
                /* the rest of the line needs no decision */
                while (p < end && *p != '\r' && *p != '\n')
                        *o++ = *p++;
        }
        g_byte_array_set_size (out, o - out->data);
}

/* The last line gets its CRLF if it had none; DATA then gets ".\r\n". */
void
gsmtp_dot_stuffer_finish (GSmtpDotStuffer *self, GByteArray *out)
{
        if (self->cr)
                g_byte_array_append (out, (const guint8 *) "\n", 1);
        else if (!self->bol)
                g_byte_array_append (out, (const guint8 *) "\r\n", 2);
        if (self->stuff_dots)
                g_byte_array_append (out, (const guint8 *) ".\r\n", 3);
        self->bol = TRUE;
        self->cr = FALSE;
}

/* The same walk as gsmtp_dot_stuffer_feed(), counting instead of copying. */
void
gsmtp_data_scan (const guint8 *data, gsize len, GSmtpDataScan *scan)
{
        gboolean bol = TRUE, cr = FALSE, in_header = TRUE;
        guint64 size = 0;

        memset (scan, 0, sizeof *scan);
        scan->canonical = TRUE;
        for (gsize i = 0; i < len; i++) {
                guint8 c = data[i];

                if (cr) {
                        cr = FALSE;
                        size++;
                        if (c != '\n')
                                scan->canonical = FALSE;
                        in_header = in_header && !bol;
                        bol = TRUE;
                        if (c == '\n')
                                continue;
                }
                if (c == '\r') {
                        size++;
                        cr = TRUE;
                        continue;
                }
                if (c == '\n') {
                        size += 2;
                        scan->canonical = FALSE;
                        /* RFC 5322 2.1: an empty line ends the header section */
                        in_header = in_header && !bol;
                        bol = TRUE;
                        continue;
                }
                if (bol && c == '.')
                        scan->n_dot_lines++;
                if (c >= 0x80) {
                        scan->eight_bit = TRUE;
                        scan->header_eight_bit |= in_header;
                } else if (c == '\0') {
                        scan->nul = TRUE;
                }
                bol = FALSE;
                size++;
        }
        if (cr) {
                size++;
                scan->canonical = FALSE;
        } else if (!bol) {
                size += 2;
                scan->canonical = FALSE;
        }
        scan->size = size;
}

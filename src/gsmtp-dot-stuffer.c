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

typedef struct {
        gboolean bol;
        gboolean cr;
        gboolean in_header;
        guint64  size;
} ScanState;

/* The same walk as gsmtp_dot_stuffer_feed(), byte by byte, counting instead of
 * copying: for lines with a bare CR in them. */
static void
scan_slow (ScanState *st, const guint8 *data, gsize len, GSmtpDataScan *scan)
{
        for (gsize i = 0; i < len; i++) {
                guint8 c = data[i];

                if (st->cr) {
                        st->cr = FALSE;
                        st->size++;
                        if (c != '\n')
                                scan->canonical = FALSE;
                        st->in_header = st->in_header && !st->bol;
                        st->bol = TRUE;
                        if (c == '\n')
                                continue;
                }
                if (c == '\r') {
                        st->size++;
                        st->cr = TRUE;
                        continue;
                }
                if (c == '\n') {
                        st->size += 2;
                        scan->canonical = FALSE;
                        /* RFC 5322 2.1: an empty line ends the header section */
                        st->in_header = st->in_header && !st->bol;
                        st->bol = TRUE;
                        continue;
                }
                if (st->bol && c == '.')
                        scan->n_dot_lines++;
                if (c >= 0x80) {
                        scan->eight_bit = TRUE;
                        scan->header_eight_bit |= st->in_header;
                } else if (c == '\0') {
                        scan->nul = TRUE;
                }
                st->bol = FALSE;
                st->size++;
        }
}

#define ONES  G_GUINT64_CONSTANT (0x0101010101010101)
#define HIGHS G_GUINT64_CONSTANT (0x8080808080808080)

/* Eight bytes at a time: any with its high bit set, any zero. */
static void
scan_classify (const guint8 *p, gsize n, gboolean *high, gboolean *nul)
{
        guint64 any = 0, zero = 0;
        gsize i = 0;

        for (; i + 8 <= n; i += 8) {
                guint64 w;

                memcpy (&w, p + i, 8);
                any |= w;
                zero |= (w - ONES) & ~w & HIGHS;
        }
        for (; i < n; i++) {
                any |= p[i];
                zero |= p[i] == 0;
        }
        *high = (any & HIGHS) != 0;
        *nul = zero != 0;
}

/* Measures what gsmtp_dot_stuffer_feed() will make of a whole message.  Lines
 * ending in LF or CRLF with no other CR, the usual case, are measured a line at a
 * time with memchr; the rest byte by byte (fuzz-dot-stuffer checks both agree
 * with the stuffer). */
void
gsmtp_data_scan (const guint8 *data, gsize len, GSmtpDataScan *scan)
{
        ScanState st = { TRUE, FALSE, TRUE, 0 };
        const guint8 *p = data, *end = data + len;

        memset (scan, 0, sizeof *scan);
        scan->canonical = TRUE;
        while (p < end) {
                const guint8 *lf = memchr (p, '\n', end - p);
                gsize n, content;
                gboolean crlf, high, nul;

                if (lf == NULL || st.cr || !st.bol) {
                        /* the last line, unended; or a state only the slow walk knows */
                        scan_slow (&st, p, lf != NULL ? (gsize) (lf + 1 - p) : (gsize) (end - p), scan);
                        p = lf != NULL ? lf + 1 : end;
                        continue;
                }
                n = lf - p;
                crlf = n > 0 && p[n - 1] == '\r';
                content = n - crlf;
                if (memchr (p, '\r', content) != NULL) {
                        scan_slow (&st, p, n + 1, scan);
                        p = lf + 1;
                        continue;
                }
                if (content > 0 && p[0] == '.')
                        scan->n_dot_lines++;
                scan_classify (p, content, &high, &nul);
                if (high) {
                        scan->eight_bit = TRUE;
                        scan->header_eight_bit |= st.in_header;
                }
                scan->nul |= nul;
                if (!crlf)
                        scan->canonical = FALSE;
                if (content == 0)
                        st.in_header = FALSE;
                st.size += content + 2;
                p = lf + 1;
        }
        if (st.cr) {
                st.size++;
                scan->canonical = FALSE;
        } else if (!st.bol) {
                st.size += 2;
                scan->canonical = FALSE;
        }
        scan->size = st.size;
}

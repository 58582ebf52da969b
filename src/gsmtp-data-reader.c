/* gsmtp-data-reader.c — turns DATA bytes into the message.
 * Owns: end of data (CRLF.CRLF only), dot-unstuffing, bare CR/LF policy, the
 * size and line caps, spilling to an unlinked temporary file.
 * Not: replies (gsmtp-session.c), MIME parsing (gsmtp-envelope.c).
 * RFC 5321 4.1.1.4, 4.5.2, 4.5.3.1.6; RFC 1870 (SIZE).
 *
 * Bare LF and bare CR never end the data, whatever the policy: only the five
 * bytes CR LF "." CR LF on the wire do (the SMTP smuggling family,
 * CVE-2023-51764 and kin).  With NORMALIZE, each bare LF or CR ends a text line
 * inside the content and is stored as CRLF; with REJECT, the message is read to
 * its end and refused.
 *
 * Every input costs time linear in its size: within one feed the next CR and
 * the next LF are each searched for once, past the last one found, so no byte
 * is scanned more than twice whatever the mix of line ends.  Once the message
 * is refused (too big, a line too long, a bare LF under REJECT) nothing more
 * is parsed: a memchr() for dots finds CR LF . CR LF, which is where the state
 * machine would have ended too (every CR LF on the wire ends a line). */
#include "config.h"
#include "gsmtp-data-reader.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Written to the spill file in pieces this big: one syscall per 64 KiB. */
#define SPILL_CHUNK (64 * 1024)

typedef enum {
        ST_BOL,         /* at the start of a line */
        ST_DOT,         /* a line began with "." */
        ST_DOT_CR,      /* ".\r" */
        ST_TEXT,        /* inside a line */
        ST_CR,          /* a CR inside a line */
} ReaderState;

struct _GSmtpDataReader {
        ReaderState       state;
        gboolean          wire_bol;     /* this line began after a real CRLF */
        gsize             line_len;     /* wire bytes of the current line, without its end */

        gsize             max_size;     /* 0: no limit */
        gsize             max_line;     /* with CRLF; 0: no limit */
        GSmtpBareLinefeed bare_linefeed;
        gsize             spill_threshold;

        GSmtpDataStatus   status;
        gsize             size;         /* message bytes, stored or not */
        GByteArray       *buf;          /* (owned): the message, or the spill staging area */
        int               fd;           /* the spill file, or -1 */

        gboolean          skipping;     /* refused: only the terminator is sought */
        guint             matched;      /* while skipping: bytes of CR LF . CR LF seen */
        gsize             n_examined;   /* bytes looked at by the scans, for the tests */
};

#define TERMINATOR     "\r\n.\r\n"
#define TERMINATOR_LEN 5

GSmtpDataReader *
gsmtp_data_reader_new (gsize max_size, gsize max_line_length, GSmtpBareLinefeed bare_linefeed,
                       gsize spill_threshold)
{
        GSmtpDataReader *r = g_new0 (GSmtpDataReader, 1);

        r->state = ST_BOL;
        r->wire_bol = TRUE;
        r->max_size = max_size;
        r->max_line = max_line_length;
        r->bare_linefeed = bare_linefeed;
        r->spill_threshold = spill_threshold;
        /* small messages fit the first allocation */
        r->buf = g_byte_array_sized_new (8 * 1024);
        r->fd = -1;
        return r;
}

void
gsmtp_data_reader_free (GSmtpDataReader *r)
{
        if (r == NULL)
                return;
        g_byte_array_unref (r->buf);
        if (r->fd >= 0)
                close (r->fd);
        g_free (r);
}

static void
reader_fail (GSmtpDataReader *r, GSmtpDataStatus status)
{
        if (r->status != GSMTP_DATA_OK)
                return;
        r->status = status;
        /* Nothing of a refused message is kept: memory stays flat while the
         * rest of it is read and discarded. */
        g_byte_array_set_size (r->buf, 0);
        if (r->fd >= 0) {
                close (r->fd);
                r->fd = -1;
        }
}

static gboolean
reader_flush (GSmtpDataReader *r)
{
        gsize off = 0;

        while (off < r->buf->len) {
                ssize_t n = write (r->fd, r->buf->data + off, r->buf->len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        g_warning ("gsmtp: writing the message spill file: %s", g_strerror (errno));
                        reader_fail (r, GSMTP_DATA_IO_ERROR);
                        return FALSE;
                }
                off += n;
        }
        g_byte_array_set_size (r->buf, 0);
        return TRUE;
}

/* Past the threshold the message moves to a temporary file, unlinked at once so
 * that nothing is left behind whatever happens to the process. */
static void
reader_spill (GSmtpDataReader *r)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;

        r->fd = g_file_open_tmp ("gsmtp-XXXXXX.eml", &path, &error);
        if (r->fd < 0) {
                g_warning ("gsmtp: cannot spill a large message: %s", error->message);
                reader_fail (r, GSMTP_DATA_IO_ERROR);
                return;
        }
        unlink (path);
        reader_flush (r);
}

static inline void
reader_emit (GSmtpDataReader *r, const guint8 *data, gsize len)
{
        r->size += len;
        if (r->max_size != 0 && r->size > r->max_size)
                reader_fail (r, GSMTP_DATA_TOO_BIG);
        if (r->status != GSMTP_DATA_OK)
                return;
        g_byte_array_append (r->buf, data, len);
        if (r->fd >= 0) {
                if (r->buf->len >= SPILL_CHUNK)
                        reader_flush (r);
        } else if (r->spill_threshold != 0 && r->buf->len > r->spill_threshold) {
                reader_spill (r);
        }
}

static inline void
reader_count_line (GSmtpDataReader *r, gsize n)
{
        r->line_len += n;
        if (r->max_line != 0 && r->line_len + 2 > r->max_line)
                reader_fail (r, GSMTP_DATA_LINE_TOO_LONG);
}

static void
reader_crlf_line_end (GSmtpDataReader *r)
{
        reader_emit (r, (const guint8 *) "\r\n", 2);
        r->state = ST_BOL;
        r->wire_bol = TRUE;
}

static void
reader_bare_line_end (GSmtpDataReader *r)
{
        if (r->bare_linefeed == GSMTP_BARE_LINEFEED_REJECT)
                reader_fail (r, GSMTP_DATA_BARE_LINEFEED);
        reader_emit (r, (const guint8 *) "\r\n", 2);
        r->state = ST_BOL;
        r->wire_bol = FALSE;
}

/* One feed's bytes, with where its next CR and next LF are.  Each is looked
 * for once past the last one found (i only grows within a feed), so the
 * searches cover the bytes at most once each. */
typedef struct {
        const guint8 *data;
        gsize         len;
        gsize         cr, lf;           /* index of the next one, or len for none */
        gboolean      cr_known, lf_known;
} Scan;

static inline gsize
scan_next (GSmtpDataReader *r, const Scan *s, gsize from, guint8 c, gsize *pos, gboolean *known)
{
        if (!*known || *pos < from) {
                const guint8 *p = memchr (s->data + from, c, s->len - from);

                *pos = p != NULL ? (gsize) (p - s->data) : s->len;
                *known = TRUE;
                r->n_examined += MIN (*pos + 1, s->len) - from;
        }
        return *pos;
}

static inline gsize
scan_cr (GSmtpDataReader *r, Scan *s, gsize from)
{
        return scan_next (r, s, from, '\r', &s->cr, &s->cr_known);
}

static inline gsize
scan_lf (GSmtpDataReader *r, Scan *s, gsize from)
{
        return scan_next (r, s, from, '\n', &s->lf, &s->lf_known);
}

/* The length of the run of ordinary lines starting at @i: complete,
 * CRLF-terminated, within the length limit, no bare CR or LF, not starting with
 * a dot.  Such lines are copied as they are, in one append: the common case. */
static gsize
reader_plain_lines (GSmtpDataReader *r, Scan *s, gsize i)
{
        gsize start = i;

        while (i < s->len && s->data[i] != '.') {
                gsize lf = scan_lf (r, s, i);
                const guint8 *cr;

                if (lf == s->len || lf == i || s->data[lf - 1] != '\r')
                        break;
                if (r->max_line != 0 && lf + 1 - i > r->max_line)
                        break;
                /* no CR inside: a search bounded by the line, which is never
                 * searched again (the next call starts after a later CRLF) */
                cr = memchr (s->data + i, '\r', lf - 1 - i);
                r->n_examined += (cr != NULL ? (gsize) (cr + 1 - s->data) : lf - 1) - i;
                if (cr != NULL)
                        break;
                i = lf + 1;
        }
        return i - start;
}

/* How much of CR LF . CR LF the bytes consumed so far end with, from the
 * state machine's point of view: every CR LF on the wire ends a line. */
static guint
reader_matched (GSmtpDataReader *r)
{
        switch (r->state) {
        case ST_BOL: return r->wire_bol ? 2 : 0;
        case ST_DOT: return r->wire_bol ? 3 : 0;
        case ST_DOT_CR: return r->wire_bol ? 4 : 1;
        case ST_CR: return 1;
        case ST_TEXT:
        default: return 0;
        }
}

/* One byte through the matcher of CR LF . CR LF.  On a mismatch only a CR can
 * begin the terminator again (no other prefix of it is also a suffix). */
static inline void
reader_match_byte (GSmtpDataReader *r, guint8 c)
{
        if (c == (guint8) TERMINATOR[r->matched])
                r->matched++;
        else
                r->matched = c == '\r' ? 1 : 0;
}

/* The first CR LF . CR LF within @data, or NULL.  It is sought by its dot,
 * which text holds fewer of than CRs or LFs; each dot is looked at once. */
static const guint8 *
skip_find_terminator (GSmtpDataReader *r, const guint8 *data, gsize len)
{
        for (gsize k = 2; k + 3 <= len; k++) {
                const guint8 *dot = memchr (data + k, '.', len - 2 - k);

                if (dot == NULL)
                        break;
                k = dot - data;
                if (data[k - 2] == '\r' && data[k - 1] == '\n' && data[k + 1] == '\r' && data[k + 2] == '\n') {
                        r->n_examined += k + 3;
                        return data + k - 2;
                }
        }
        r->n_examined += len;
        return NULL;
}

/* A refused message: its bytes are neither parsed nor kept, only the end of
 * data is looked for.  Returns the bytes consumed. */
static gsize
reader_skip (GSmtpDataReader *r, const guint8 *data, gsize len, gboolean *done)
{
        const guint8 *end;
        gsize i = 0;

        if (!r->skipping) {
                r->skipping = TRUE;
                r->matched = reader_matched (r);
        }
        /* a terminator begun in an earlier feed: finish or drop it byte by byte
         * while part of it lies in that feed (at most four bytes) */
        while (r->matched > i && i < len) {
                reader_match_byte (r, data[i++]);
                r->n_examined++;
                if (r->matched == TERMINATOR_LEN)
                        goto found;
        }
        if (i == len)
                goto out;
        /* the partial match lies in this feed now: search again from its start */
        i -= r->matched;
        r->matched = 0;
        end = skip_find_terminator (r, data + i, len - i);
        if (end != NULL) {
                i = end + TERMINATOR_LEN - data;
                goto found;
        }
        /* none here: the last four bytes may begin one */
        for (i = MAX (i, len >= TERMINATOR_LEN - 1 ? len - (TERMINATOR_LEN - 1) : 0); i < len; i++)
                reader_match_byte (r, data[i]);
out:
        r->size += len;
        return len;
found:
        r->size += i;
        r->matched = 0;
        *done = TRUE;
        return i;
}

/* Consumes bytes up to and including the end of data; returns how many.  On
 * return *done says whether the end was seen; bytes after it are the next
 * commands and are left to the caller. */
gsize
gsmtp_data_reader_feed (GSmtpDataReader *r, const guint8 *data, gsize len, gboolean *done)
{
        Scan scan = { data, len, 0, 0, FALSE, FALSE };
        gsize i = 0;

        *done = FALSE;
        while (i < len) {
                guint8 c = data[i];

                if (r->status != GSMTP_DATA_OK)
                        return i + reader_skip (r, data + i, len - i, done);
                switch (r->state) {
                case ST_BOL: {
                        gsize plain = r->wire_bol ? reader_plain_lines (r, &scan, i) : 0;

                        if (plain > 0) {
                                reader_emit (r, data + i, plain);
                                i += plain;
                                /* on with the line that stopped the run: asking
                                 * again would search it again */
                                if (i == len || r->status != GSMTP_DATA_OK)
                                        break;
                                c = data[i];
                        }
                        r->line_len = 0;
                        if (c == '.') {
                                reader_count_line (r, 1);
                                r->state = ST_DOT;
                                i++;
                        } else {
                                r->state = ST_TEXT;
                        }
                        break;
                }
                case ST_DOT:
                        if (c == '\r') {
                                r->state = ST_DOT_CR;
                                i++;
                        } else {
                                /* RFC 5321 4.5.2: drop the first dot of the line */
                                r->state = ST_TEXT;
                        }
                        break;
                case ST_DOT_CR:
                        if (c == '\n' && r->wire_bol) {
                                *done = TRUE;
                                return i + 1;
                        }
                        /* "." alone on a line that did not begin with a real CRLF,
                         * or ".\r" and more: content, never the end */
                        reader_emit (r, (const guint8 *) ".", 1);
                        if (c == '\n') {
                                reader_crlf_line_end (r);
                                i++;
                        } else {
                                reader_bare_line_end (r);
                        }
                        break;
                case ST_TEXT: {
                        /* the bulk of every message: up to the next CR or LF at once */
                        gsize j = MIN (scan_cr (r, &scan, i), scan_lf (r, &scan, i));

                        if (j > i) {
                                reader_count_line (r, j - i);
                                reader_emit (r, data + i, j - i);
                                i = j;
                        } else if (c == '\r') {
                                r->state = ST_CR;
                                i++;
                        } else {
                                reader_bare_line_end (r);
                                i++;
                        }
                        break;
                }
                case ST_CR:
                        if (c == '\n') {
                                reader_crlf_line_end (r);
                                i++;
                        } else {
                                reader_bare_line_end (r);
                        }
                        break;
                }
        }
        return i;
}

/* BDAT content: appends all @len bytes (the caller knows where the chunk
 * ends).  @binary: BODY=BINARYMIME, the bytes are the message as they are.
 * Otherwise they are text, as DATA's after unstuffing: each bare CR or LF
 * ends a line (stored as CRLF, or the message is refused under REJECT), and
 * lines are held to the cap.  A CR at the end of one chunk pairs with an LF
 * at the start of the next.  Linear: each byte is searched once for CR and
 * once for LF. */
void
gsmtp_data_reader_feed_raw (GSmtpDataReader *r, const guint8 *data, gsize len, gboolean binary)
{
        Scan scan = { data, len, 0, 0, FALSE, FALSE };
        gsize i = 0;

        if (binary) {
                reader_emit (r, data, len);
                return;
        }
        while (i < len) {
                if (r->status != GSMTP_DATA_OK) {
                        /* refused: the rest is counted, not looked at */
                        r->size += len - i;
                        return;
                }
                if (r->state == ST_CR) {
                        if (data[i] == '\n') {
                                reader_crlf_line_end (r);
                                i++;
                        } else {
                                reader_bare_line_end (r);
                        }
                        r->line_len = 0;
                        continue;
                }
                {
                        gsize j = MIN (scan_cr (r, &scan, i), scan_lf (r, &scan, i));

                        if (j > i) {
                                reader_count_line (r, j - i);
                                reader_emit (r, data + i, j - i);
                                i = j;
                        } else if (data[i] == '\r') {
                                r->state = ST_CR;
                                i++;
                        } else {
                                reader_bare_line_end (r);
                                r->line_len = 0;
                                i++;
                        }
                }
        }
}

/* The message is refused before its bytes come (a BDAT chunk that cannot
 * fit): they are counted, never stored. */
void
gsmtp_data_reader_refuse (GSmtpDataReader *r, GSmtpDataStatus status)
{
        reader_fail (r, status);
}

/* The last chunk came: a CR that ended it was a bare one. */
void
gsmtp_data_reader_end_raw (GSmtpDataReader *r)
{
        if (r->status == GSMTP_DATA_OK && r->state == ST_CR) {
                reader_bare_line_end (r);
                r->line_len = 0;
        }
}

GSmtpDataStatus
gsmtp_data_reader_get_status (GSmtpDataReader *r)
{
        return r->status;
}

/* Message bytes; once the message is refused, bytes on the wire. */
gsize
gsmtp_data_reader_get_size (GSmtpDataReader *r)
{
        return r->size;
}

/* Bytes looked at by the reader's scans so far: the tests bound it by the
 * input's size, which proves the reader linear without timing it. */
gsize
gsmtp_data_reader_get_n_examined (GSmtpDataReader *r)
{
        return r->n_examined;
}

/* Hands the message to @envelope: the memory buffer itself, or the spill file. */
gboolean
gsmtp_data_reader_finish (GSmtpDataReader *r, GSmtpEnvelope *envelope, GError **error)
{
        g_return_val_if_fail (r->status == GSMTP_DATA_OK, FALSE);

        if (r->fd < 0) {
                gsmtp_envelope_set_data_memory (envelope, r->buf);
                return TRUE;
        }
        if (!reader_flush (r)) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                     "could not write the message spill file");
                return FALSE;
        }
        gsmtp_envelope_set_data_file (envelope, r->fd, r->size, error);
        r->fd = -1;
        return g_smtp_envelope_get_data (envelope) != NULL;
}

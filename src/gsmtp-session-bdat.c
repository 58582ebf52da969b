/* gsmtp-session-bdat.c — CHUNKING and BINARYMIME (RFC 3030) on a session.
 * Owns: BDAT's syntax; reading each chunk's counted bytes into the
 * transaction's data reader, or draining a refused chunk; a reply per chunk;
 * the end of the message at BDAT LAST.
 * Not: the form the bytes are stored in (gsmtp-data-reader.c, feed_raw), the
 * end-of-data stage and its replies (gsmtp-session.c, the same as after
 * DATA; under LMTP gsmtp-session-lmtp.c), BODY= on MAIL (gsmtp-session.c).
 *
 * A chunk's bytes follow its command line at once, whatever the reply is
 * going to be, so every BDAT whose size can be read has its chunk read
 * before anything else: a refused one (out of order, no recipients, before
 * STARTTLS) is drained and then answered (RFC 3030 2), never parsed as
 * commands.  Without a size there is no telling where the chunk ends: the
 * session says so and closes.
 *
 * Once a chunk fails (too big, a line too long, a bare LF under
 * bare-linefeed=reject, a spill file error) the message is lost: each later
 * chunk of the transaction is drained and answered the same, and BDAT LAST
 * ends the transaction (RFC 3030 2: the client must not send more, but some
 * were on their way already).  BDAT after DATA cannot happen (DATA ends the
 * transaction); DATA or RCPT after a BDAT gets 503 (the table). */
#include "config.h"
#include "gsmtp-session-private.h"
#include "gsmtp-data-reader.h"

#include <string.h>

struct _GSmtpSessionBdat {
        guint64     left;       /* bytes of the current chunk still to come */
        guint64     size;       /* the current chunk's size */
        gboolean    active;     /* a chunk is being read */
        gboolean    last;       /* it is the last one (BDAT n LAST) */
        gboolean    binary;     /* the transaction is BODY=BINARYMIME */
        GSmtpReply *refusal;    /* (owned) (nullable): the command was refused: the
                                 * chunk is drained, then this is the reply */
};

typedef enum {
        BDAT_OK,
        BDAT_BAD_SIZE,          /* no chunk size, or one past 64 bits: the chunk is lost */
        BDAT_BAD_SYNTAX,        /* a size, then something other than LAST */
} BdatSyntax;

/* bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT;
 * end-marker = "LAST" (RFC 3030 2; keywords are case-insensitive). */
static BdatSyntax
bdat_parse (const char *args, guint64 *size, gboolean *last)
{
        const char *p = args;
        guint64 n = 0;

        if (!g_ascii_isdigit (*p))
                return BDAT_BAD_SIZE;
        for (; g_ascii_isdigit (*p); p++) {
                guint digit = *p - '0';

                if (n > (G_MAXUINT64 - digit) / 10)
                        return BDAT_BAD_SIZE;
                n = n * 10 + digit;
        }
        if (*p != '\0' && *p != ' ')
                return BDAT_BAD_SIZE;
        *size = n;
        *last = FALSE;
        if (*p == '\0')
                return BDAT_OK;
        if (g_ascii_strcasecmp (p + 1, "LAST") != 0)
                return BDAT_BAD_SYNTAX;
        *last = TRUE;
        return BDAT_OK;
}

static GSmtpSessionBdat *
bdat_get (GSmtpSession *self)
{
        if (self->bdat == NULL)
                self->bdat = g_new0 (GSmtpSessionBdat, 1);
        return self->bdat;
}

void
gsmtp_session_bdat_free (GSmtpSessionBdat *bdat)
{
        if (bdat == NULL)
                return;
        g_clear_pointer (&bdat->refusal, g_smtp_reply_unref);
        g_free (bdat);
}

gboolean
gsmtp_session_bdat_in_chunk (GSmtpSession *self)
{
        return self->bdat != NULL && self->bdat->active;
}

/* The whole chunk was read: its reply. */
static void
bdat_chunk_done (GSmtpSession *self)
{
        GSmtpSessionBdat *b = self->bdat;
        GSmtpReply *refusal = g_steal_pointer (&b->refusal);
        char text[64];

        b->active = FALSE;
        gsmtp_session_log (self, "C:", "<chunk data>", 12);
        if (refusal != NULL) {
                gsmtp_session_reply (self, refusal, NULL);
                return;
        }
        if (b->last) {
                /* the same end as DATA's: the DATA stage, or the refusal
                 * (once per recipient under LMTP) */
                gsmtp_data_reader_end_raw (self->reader);
                gsmtp_session_end_data (self, TRUE);
                return;
        }
        refusal = gsmtp_session_data_refusal (self);
        if (refusal != NULL) {
                gsmtp_session_reply (self, refusal, NULL);
                return;
        }
        g_snprintf (text, sizeof text, "%" G_GUINT64_FORMAT " octets received", b->size);
        gsmtp_session_say (self, 250, "2.0.0", text);
}

/* A chunk of @size begins: its bytes are next on the wire.  @refusal
 * (taken, nullable): the reply once they are drained. */
static void
bdat_begin_chunk (GSmtpSession *self, guint64 size, gboolean last, GSmtpReply *refusal)
{
        GSmtpSessionBdat *b = bdat_get (self);

        g_clear_pointer (&b->refusal, g_smtp_reply_unref);
        b->refusal = refusal;
        b->size = size;
        b->left = size;
        b->last = last;
        b->active = TRUE;
        if (size == 0)
                bdat_chunk_done (self);
}

GSmtpReply *
gsmtp_session_check_bdat (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        guint64 size;
        gboolean last;

        if (bdat_parse (args, &size, &last) != BDAT_OK)
                return g_smtp_reply_new (501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
        return gsmtp_session_check_recipients (self);
}

void
gsmtp_session_proceed_bdat (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                            const char *args)
{
        gsize max = self->limits.max_message_size;
        guint64 size = 0;
        gboolean last = FALSE;
        gsize have;

        bdat_parse (args, &size, &last);
        if (self->state != SESSION_BDAT) {
                /* the first chunk: the message begins */
                self->reader = gsmtp_session_new_reader (self);
                bdat_get (self)->binary = g_strcmp0 (g_smtp_envelope_get_body (self->tx), "BINARYMIME") == 0;
                gsmtp_session_enter_state (self, SESSION_BDAT);
        }
        /* a chunk that cannot fit is not stored while it is drained: bytes
         * are never fewer once stored (bare LFs only grow) */
        have = gsmtp_data_reader_get_size (self->reader);
        if (max != 0 && (have > max || size > max - have))
                gsmtp_data_reader_refuse (self->reader, GSMTP_DATA_TOO_BIG);
        bdat_begin_chunk (self, size, last, NULL);
}

/* The command was refused (the table, or the check above); takes @refusal. */
void
gsmtp_session_bdat_refuse (GSmtpSession *self, const char *args, GSmtpReply *refusal)
{
        guint64 size;
        gboolean last;

        if (bdat_parse (args, &size, &last) == BDAT_BAD_SIZE) {
                /* The chunk's bytes come next and nothing says where they
                 * end: read as commands they would be a channel to smuggle
                 * some in.  Nothing after this line can be trusted. */
                g_smtp_reply_unref (refusal);
                gsmtp_session_say (self, 501, "5.5.4",
                                   "Bad BDAT chunk size; the chunk cannot be skipped, closing connection");
                gsmtp_session_close (self);
                return;
        }
        bdat_begin_chunk (self, size, FALSE, refusal);
}

/* Chunk bytes: takes what belongs to the current chunk, returns how many. */
gsize
gsmtp_session_bdat_feed (GSmtpSession *self, const guint8 *data, gsize len)
{
        GSmtpSessionBdat *b = self->bdat;
        gsize n = (gsize) MIN ((guint64) len, b->left);

        if (b->refusal == NULL && self->reader != NULL)
                gsmtp_data_reader_feed_raw (self->reader, data, n, b->binary);
        b->left -= n;
        if (b->left == 0)
                bdat_chunk_done (self);
        return n;
}

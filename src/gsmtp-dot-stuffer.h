/* gsmtp-dot-stuffer.h — message bytes to their wire form, and what they need (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
        gboolean stuff_dots;    /* DATA doubles a leading dot; BDAT sends it as is */
        gboolean bol;           /* the next byte starts a line */
        gboolean cr;            /* the last byte was a CR, its LF not yet seen */
} GSmtpDotStuffer;

void gsmtp_dot_stuffer_init   (GSmtpDotStuffer *self, gboolean stuff_dots);
void gsmtp_dot_stuffer_feed   (GSmtpDotStuffer *self, const guint8 *in, gsize len, GByteArray *out);
void gsmtp_dot_stuffer_finish (GSmtpDotStuffer *self, GByteArray *out);

/* What a whole message is, measured before anything is sent. */
typedef struct {
        guint64  size;                  /* after CRLF conversion, before dot-stuffing (SIZE=) */
        guint64  n_dot_lines;           /* lines that DATA must stuff */
        gboolean eight_bit;             /* a byte >= 0x80 anywhere */
        gboolean header_eight_bit;      /* ... in the header section */
        gboolean nul;                   /* a NUL byte: only BINARYMIME may carry it */
        gboolean canonical;             /* already CRLF everywhere and ends with CRLF */
} GSmtpDataScan;

void gsmtp_data_scan (const guint8 *data, gsize len, GSmtpDataScan *scan);

G_END_DECLS

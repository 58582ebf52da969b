/* fuzz-chunk.c — BDAT chunk bytes through the data reader's raw mode, with
 * chunk boundaries from the input (first byte: 0x3f the chunk size, 0x40
 * binary, 0x80 bare-linefeed=reject).  Invariants: binary keeps the bytes as
 * they are; text ends every line with CRLF and keeps the same lines (each
 * CRLF, bare CR or bare LF one line end), or, under reject, is refused exactly
 * when it had a bare one; the size cap holds; the searches are linear. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-data-reader.h"

#include <stdlib.h>
#include <string.h>

/* The input's lines, each end as "\n": what text mode must keep. */
static GString *
lines_of (const guint8 *data, gsize len, gboolean *had_bare)
{
        GString *out = g_string_new (NULL);

        *had_bare = FALSE;
        for (gsize i = 0; i < len; i++) {
                if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
                        g_string_append_c (out, '\n');
                        i++;
                } else if (data[i] == '\r' || data[i] == '\n') {
                        g_string_append_c (out, '\n');
                        *had_bare = TRUE;
                } else {
                        g_string_append_c (out, data[i]);
                }
        }
        return out;
}

FUZZ_ENTRY (chunk)
{
        g_autoptr(GSmtpDataReader) r = NULL;
        g_autoptr(GSmtpPeer) peer = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GString) want = NULL;
        gboolean binary, reject, had_bare;
        gsize step, n_feeds = 0, len;
        const guint8 *out;

        if (size < 1)
                return 0;
        step = (data[0] & 0x3f) + 1;
        binary = (data[0] & 0x40) != 0;
        reject = (data[0] & 0x80) != 0;
        r = gsmtp_data_reader_new (4096, 0, reject ? GSMTP_BARE_LINEFEED_REJECT : GSMTP_BARE_LINEFEED_NORMALIZE, 64);
        for (gsize pos = 1; pos < size; pos += step, n_feeds++)
                gsmtp_data_reader_feed_raw (r, data + pos, MIN (step, size - pos), binary);
        gsmtp_data_reader_end_raw (r);
        FUZZ_CHECK (gsmtp_data_reader_get_n_examined (r) <= 2 * size + 2 * n_feeds);
        want = lines_of (data + 1, size - 1, &had_bare);
        if (!binary && reject && had_bare) {
                FUZZ_CHECK (gsmtp_data_reader_get_status (r) != GSMTP_DATA_OK);
                return 0;
        }
        if (gsmtp_data_reader_get_status (r) != GSMTP_DATA_OK) {
                /* only the size cap refuses here */
                FUZZ_CHECK (gsmtp_data_reader_get_status (r) == GSMTP_DATA_TOO_BIG);
                FUZZ_CHECK (size - 1 + (binary ? 0 : want->len) > 4096);
                return 0;
        }
        peer = gsmtp_peer_new (NULL, NULL);
        env = gsmtp_envelope_new (peer, "MAILER-DAEMON@x");
        FUZZ_CHECK (gsmtp_data_reader_finish (r, env, NULL));
        out = g_bytes_get_data (g_smtp_envelope_get_data (env), &len);
        FUZZ_CHECK (len <= 4096);
        if (binary) {
                FUZZ_CHECK (len == size - 1);
                FUZZ_CHECK (len == 0 || memcmp (out, data + 1, len) == 0);
                return 0;
        }
        {
                g_autoptr(GString) got = NULL;
                gboolean got_bare;

                for (gsize i = 0; i < len; i++) {
                        if (out[i] == '\r')
                                FUZZ_CHECK (i + 1 < len && out[i + 1] == '\n');
                        if (out[i] == '\n')
                                FUZZ_CHECK (i > 0 && out[i - 1] == '\r');
                }
                got = lines_of (out, len, &got_bare);
                FUZZ_CHECK (!got_bare);
                FUZZ_CHECK (g_string_equal (got, want));
        }
        return 0;
}

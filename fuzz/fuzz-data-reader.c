/* fuzz-data-reader.c — DATA bytes with chunk boundaries from the input itself.
 * Invariants: only CRLF.CRLF on the wire ends the data; a message refused from
 * its first byte (size cap 1) ends at exactly the same byte; in normalize mode
 * the message has no bare CR or LF; the size cap holds; the bytes the reader
 * examines grow linearly with the input. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-data-reader.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY (data_reader)
{
        g_autoptr(GSmtpDataReader) r = NULL;
        g_autoptr(GSmtpDataReader) refused = NULL;
        g_autoptr(GSmtpPeer) peer = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        gsize pos = 1, step, n_feeds = 0, offered = 0, refused_pos = 1;
        gboolean done = FALSE, refused_done = FALSE;

        if (size < 1)
                return 0;
        step = (data[0] & 0x3f) + 1;
        r = gsmtp_data_reader_new (4096, 200, (data[0] & 0x40) ? GSMTP_BARE_LINEFEED_REJECT
                                                                : GSMTP_BARE_LINEFEED_NORMALIZE,
                                   (data[0] & 0x80) ? 64 : 0);
        refused = gsmtp_data_reader_new (1, 200, GSMTP_BARE_LINEFEED_NORMALIZE, 0);
        while (pos < size && !done) {
                gsize n = MIN (step, size - pos);
                gsize used = gsmtp_data_reader_feed (r, data + pos, n, &done);

                FUZZ_CHECK (used <= n);
                FUZZ_CHECK (done || used == n);
                pos += used;
                offered += n;
                n_feeds++;
        }
        /* each byte offered is looked at three times at most (the next LF, the
         * next CR, a CR inside a CRLF line), plus a few bytes a feed */
        FUZZ_CHECK (gsmtp_data_reader_get_n_examined (r) <= 3 * offered + 8 * n_feeds);
        /* the same bytes, refused at once: only the terminator is sought, and
         * it is found at the same place (refusing never shifts the end of data) */
        while (refused_pos < size && !refused_done) {
                gsize n = MIN (step, size - refused_pos);

                refused_pos += gsmtp_data_reader_feed (refused, data + refused_pos, n, &refused_done);
        }
        FUZZ_CHECK (refused_done == done);
        FUZZ_CHECK (refused_pos == pos);
        if (done) {
                /* the five bytes before the end are CR LF . CR LF (or the data began with ".\r\n") */
                FUZZ_CHECK (pos >= 4);
                FUZZ_CHECK (memcmp (data + pos - 3, ".\r\n", 3) == 0);
                FUZZ_CHECK (pos == 4 || memcmp (data + pos - 5, "\r\n", 2) == 0);
        }
        if (!done || gsmtp_data_reader_get_status (r) != GSMTP_DATA_OK)
                return 0;
        gsmtp_ensure_gmime ();
        peer = gsmtp_peer_new (NULL, NULL);
        env = gsmtp_envelope_new (peer, "MAILER-DAEMON@x");
        FUZZ_CHECK (gsmtp_data_reader_finish (r, env, NULL));
        {
                gsize len;
                const guint8 *out = g_bytes_get_data (g_smtp_envelope_get_data (env), &len);

                FUZZ_CHECK (len <= 4096);
                for (gsize i = 0; i < len; i++) {
                        if (out[i] == '\r')
                                FUZZ_CHECK (i + 1 < len && out[i + 1] == '\n');
                        if (out[i] == '\n')
                                FUZZ_CHECK (i > 0 && out[i - 1] == '\r');
                }
        }
        (void) g_smtp_envelope_get_message (env);
        return 0;
}

/* fuzz-data-reader.c — DATA bytes with chunk boundaries from the input itself.
 * Invariants: only CRLF.CRLF on the wire ends the data; in normalize mode the
 * message has no bare CR or LF; the size cap holds. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-data-reader.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY (data_reader)
{
        g_autoptr(GSmtpDataReader) r = NULL;
        g_autoptr(GSmtpPeer) peer = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        gsize pos = 1, step;
        gboolean done = FALSE;

        if (size < 1)
                return 0;
        step = (data[0] & 0x3f) + 1;
        r = gsmtp_data_reader_new (4096, 200, (data[0] & 0x40) ? GSMTP_BARE_LINEFEED_REJECT
                                                                : GSMTP_BARE_LINEFEED_NORMALIZE,
                                   (data[0] & 0x80) ? 64 : 0);
        while (pos < size && !done) {
                gsize n = MIN (step, size - pos);
                gsize used = gsmtp_data_reader_feed (r, data + pos, n, &done);

                FUZZ_CHECK (used <= n);
                FUZZ_CHECK (done || used == n);
                pos += used;
        }
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

/* fuzz-session.c — a whole server session from a byte script with chunk
 * boundaries taken from the input (first byte: 0x80 strict pipelining, 0x40
 * LMTP (was the PROXY header, now fuzz-proxy's), the rest the chunk size).  Invariants: every reply line ends in CRLF,
 * has a code from 200 to 599, and is at most 512 bytes; buffered input stays
 * bounded. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-private.h"
#include "gsmtp-session.h"
#include "gsmtp-server-private.h"

#include <stdlib.h>
#include <string.h>

static GSmtpServer *server;

static GSmtpReply *
on_data (GSmtpServer *s, GSmtpStage *stage, gpointer data)
{
        (void) g_smtp_envelope_get_message (g_smtp_stage_get_envelope (stage));
        return g_smtp_reply_new_code (250);
}

static GSmtpReply *
on_auth (GSmtpServer *s, GSmtpStage *stage, gpointer data)
{
        return g_smtp_reply_new_code (g_str_equal (g_smtp_stage_get_password (stage), "pw") ? 235 : 535);
}

static void
check_output (GBytes *out)
{
        gsize len, start = 0;
        const char *p = g_bytes_get_data (out, &len);

        for (gsize i = 0; i < len; i++) {
                if (p[i] != '\n')
                        continue;
                FUZZ_CHECK (i > start && p[i - 1] == '\r');
                FUZZ_CHECK (i + 1 - start <= 512);
                FUZZ_CHECK (i - start >= 4);
                FUZZ_CHECK (p[start] >= '2' && p[start] <= '5');
                FUZZ_CHECK (g_ascii_isdigit (p[start + 1]) && g_ascii_isdigit (p[start + 2]));
                FUZZ_CHECK (p[start + 3] == ' ' || p[start + 3] == '-');
                for (gsize j = start; j < i - 1; j++)
                        FUZZ_CHECK (p[j] != '\r' && p[j] != '\0');
                start = i + 1;
        }
        FUZZ_CHECK (start == len);
}

FUZZ_ENTRY (session)
{
        g_autoptr(GSmtpPeer) peer = NULL;
        GSmtpSession *session;
        gsize pos = 1, step;

        if (size < 1)
                return 0;
        if (server == NULL) {
                gsmtp_ensure_gmime ();
                server = g_smtp_server_new ("fuzz.example");
                g_smtp_server_add_domain (server, "example.org");
                /* no main loop here: the DATA handler parses, not the worker pool */
                g_object_set (server, "auth-failure-delay", 0, "allow-insecure-auth", TRUE,
                              "max-message-size", (guint64) 65536, "spill-threshold", (guint64) 1024,
                              "parse-messages", FALSE, NULL);
                g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, on_data, NULL, NULL);
                g_smtp_server_set_handler (server, GSMTP_STAGE_AUTH, on_auth, NULL, NULL);
                /* the fuzzed client comes from a trusted network: XCLIENT is parsed too */
                g_smtp_server_add_xclient_network (server, "127.0.0.0/8", NULL);
        }
        g_object_set (server, "strict-pipelining", (data[0] & 0x80) != 0, NULL);
        step = (data[0] & 0x3f) + 1;
        {
                g_autoptr(GSocketAddress) lo = g_inet_socket_address_new_from_string ("127.0.0.1", 1025);

                peer = gsmtp_peer_new (lo, NULL);
                gsmtp_peer_set_lmtp (peer, (data[0] & 0x40) != 0);
        }
        session = gsmtp_session_new (gsmtp_server_get_session_host (server), peer, FALSE, NULL, NULL);
        gsmtp_session_start (session);
        while (pos < size && gsmtp_session_get_action (session) == GSMTP_SESSION_CONTINUE) {
                gsize n = MIN (step, size - pos);
                g_autoptr(GBytes) out = NULL;

                gsmtp_session_feed (session, data + pos, n);
                pos += n;
                out = gsmtp_session_take_output (session);
                check_output (out);
        }
        if (gsmtp_session_get_action (session) == GSMTP_SESSION_START_TLS)
                gsmtp_session_tls_started (session, "TLSv1.3", "fuzz", NULL);
        gsmtp_session_timeout (session);
        {
                g_autoptr(GBytes) out = gsmtp_session_take_output (session);

                check_output (out);
        }
        gsmtp_session_free (session);
        return 0;
}

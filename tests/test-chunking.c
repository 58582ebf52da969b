/* test-chunking.c — CHUNKING and BINARYMIME (RFC 3030): the data reader's raw
 * mode, BDAT on a session fed directly, and the data timeout on a real socket.
 * The dialogues themselves are in tests/transcripts/bdat-*.smtp. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-session-private.h"
#include "gsmtp-server-private.h"
#include "gsmtp-data-reader.h"
#include "test-util.h"
#include "session-fixture.h"

#include <string.h>

/* ---- the reader's raw mode ---- */

static GBytes *
reader_message (GSmtpDataReader *r)
{
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        g_autoptr(GSmtpEnvelope) env = gsmtp_envelope_new (peer, "MAILER-DAEMON@x");

        g_assert_cmpint (gsmtp_data_reader_get_status (r), ==, GSMTP_DATA_OK);
        g_assert_true (gsmtp_data_reader_finish (r, env, NULL));
        return g_bytes_ref (g_smtp_envelope_get_data (env));
}

static void
assert_bytes (GBytes *bytes, const char *want, gsize want_len)
{
        gsize len;
        const char *got = g_bytes_get_data (bytes, &len);

        g_assert_cmpmem (got, len, want, want_len);
}

static void
test_raw_binary (void)
{
        static const char chunk[] = "a\nb\rc\0d\r\n.\r\n..\n";
        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (1000, 10, GSMTP_BARE_LINEFEED_REJECT, 0);
        g_autoptr(GBytes) out = NULL;

        g_test_summary ("BINARYMIME: the bytes are kept as sent (bare CR, LF, NUL, dots), whatever the "
                        "bare-linefeed policy and line cap");
        gsmtp_data_reader_feed_raw (r, (const guint8 *) chunk, sizeof chunk - 1, TRUE);
        gsmtp_data_reader_feed_raw (r, (const guint8 *) "0123456789abcdef", 16, TRUE);
        gsmtp_data_reader_end_raw (r);
        out = reader_message (r);
        {
                g_autofree char *want = g_malloc (sizeof chunk - 1 + 16);

                memcpy (want, chunk, sizeof chunk - 1);
                memcpy (want + sizeof chunk - 1, "0123456789abcdef", 16);
                assert_bytes (out, want, sizeof chunk - 1 + 16);
        }
}

static void
test_raw_text (void)
{
        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (1000, 100, GSMTP_BARE_LINEFEED_NORMALIZE, 0);
        g_autoptr(GBytes) out = NULL;
        static const char want[] = "a\r\nb\r\nc\r\n..dot\r\n.\r\nsplit\r\nend\r\n";

        g_test_summary ("Text by BDAT: no dot-unstuffing, no end of data; bare CR and LF stored as CRLF as "
                        "with DATA; a CR at a chunk's end pairs with the LF that begins the next");
        gsmtp_data_reader_feed_raw (r, (const guint8 *) "a\nb\rc\r\n..dot\n.\r\nsplit\r", 22, FALSE);
        gsmtp_data_reader_feed_raw (r, (const guint8 *) "\nend\r", 5, FALSE);
        gsmtp_data_reader_end_raw (r);
        out = reader_message (r);
        assert_bytes (out, want, sizeof want - 1);
}

static void
test_raw_refusals (void)
{
        g_autoptr(GSmtpDataReader) lf = gsmtp_data_reader_new (1000, 100, GSMTP_BARE_LINEFEED_REJECT, 0);
        g_autoptr(GSmtpDataReader) line = gsmtp_data_reader_new (1000, 10, GSMTP_BARE_LINEFEED_NORMALIZE, 0);
        g_autoptr(GSmtpDataReader) big = gsmtp_data_reader_new (10, 0, GSMTP_BARE_LINEFEED_NORMALIZE, 0);

        g_test_summary ("Text by BDAT keeps DATA's limits: bare LF under reject, the line cap, the size cap");
        gsmtp_data_reader_feed_raw (lf, (const guint8 *) "ok\r\nbare\nrest", 13, FALSE);
        g_assert_cmpint (gsmtp_data_reader_get_status (lf), ==, GSMTP_DATA_BARE_LINEFEED);
        gsmtp_data_reader_feed_raw (line, (const guint8 *) "0123456789\r\n", 12, FALSE);
        g_assert_cmpint (gsmtp_data_reader_get_status (line), ==, GSMTP_DATA_LINE_TOO_LONG);
        gsmtp_data_reader_feed_raw (big, (const guint8 *) "0123456789", 10, TRUE);
        g_assert_cmpint (gsmtp_data_reader_get_status (big), ==, GSMTP_DATA_OK);
        gsmtp_data_reader_feed_raw (big, (const guint8 *) "x", 1, TRUE);
        g_assert_cmpint (gsmtp_data_reader_get_status (big), ==, GSMTP_DATA_TOO_BIG);
        /* refused: the rest is counted, never stored or searched */
        gsmtp_data_reader_feed_raw (big, (const guint8 *) "\n\n\n\n", 4, FALSE);
        g_assert_cmpuint (gsmtp_data_reader_get_size (big), ==, 15);
}

static void
test_raw_linear (void)
{
        const gsize len = 1 << 20;
        const char fills[] = { '\r', '\n', 'x' };

        g_test_summary ("Text by BDAT costs time linear in its size, in every shape of line ends, in "
                        "small and large chunks");
        for (guint f = 0; f < 4; f++) {
                for (gsize step = 1; step <= len; step *= 64) {
                        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (0, 0, GSMTP_BARE_LINEFEED_NORMALIZE, 0);
                        g_autofree guint8 *data = g_malloc (len);

                        for (gsize i = 0; i < len; i++)
                                data[i] = f < 3 ? fills[f] : "\r\nx"[i % 3];
                        for (gsize pos = 0; pos < len; pos += step)
                                gsmtp_data_reader_feed_raw (r, data + pos, MIN (step, len - pos), FALSE);
                        g_assert_cmpuint (gsmtp_data_reader_get_n_examined (r), <=, 2 * len + 2 * (len / step + 1));
                }
        }
}

/* ---- BDAT on a session ---- */

typedef SessionFx Fx;

static void
fx_greet (Fx *fx)
{
        session_fx_start (fx);
        session_fx_feed (fx, "EHLO client.test\r\n");
        session_fx_expect (fx, "220 *250 LIMITS RCPTMAX=*\r\n");
}

/* The transaction a test sends, with its message in chunks of @step bytes. */
static GString *
script_for (const char *mail_params, const char *message, gsize len, gsize step)
{
        GString *s = g_string_new (NULL);

        g_string_append_printf (s, "MAIL FROM:<a@x.test>%s\r\nRCPT TO:<b@example.org>\r\n", mail_params);
        for (gsize pos = 0; pos < len; pos += step) {
                gsize n = MIN (step, len - pos);

                g_string_append_printf (s, "BDAT %" G_GSIZE_FORMAT "%s\r\n", n, pos + n == len ? " LAST" : "");
                g_string_append_len (s, message + pos, n);
        }
        return s;
}

static void
test_session_bytes (Fx *fx, gconstpointer unused)
{
        static const char message[] = "Subject: by BDAT\r\n\r\n.leading dot\r\nbody\r\n.\r\nafter\r\n";
        g_autoptr(GString) script = script_for ("", message, sizeof message - 1, 7);
        GSmtpEnvelope *env;

        g_test_summary ("A message in chunks, every byte fed on its own (a network that splits every "
                        "packet): the envelope holds exactly the bytes sent, says it was chunked, and "
                        "parses with its Received header");
        fx_greet (fx);
        for (gsize i = 0; i < script->len; i++)
                session_fx_feed_len (fx, script->str + i, 1);
        session_fx_expect (fx, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.0.0 7 octets received\r\n*"
                       "250 2.0.0 OK: queued as *\r\n");
        g_assert_cmpuint (fx->messages->len, ==, 1);
        env = fx->messages->pdata[0];
        assert_bytes (g_smtp_envelope_get_data (env), message, sizeof message - 1);
        g_assert_true (g_smtp_envelope_is_chunked (env));
        g_assert_null (g_smtp_envelope_get_body (env));
        g_assert_nonnull (g_smtp_envelope_get_received_header (env));
        g_assert_nonnull (g_smtp_envelope_get_message (env));
        g_assert_cmpstr (g_mime_message_get_subject (g_smtp_envelope_get_message (env)), ==, "by BDAT");
}

static void
test_session_binarymime (Fx *fx, gconstpointer unused)
{
        static const char message[] = "Subject: bin\r\n\r\n\x00\x01\n\r\xff.\n";
        g_autoptr(GString) script = script_for (" BODY=binarymime", message, sizeof message - 1, 5);
        GSmtpEnvelope *env;

        g_test_summary ("BODY=BINARYMIME: bare LF, bare CR and NUL reach the application as sent; the "
                        "envelope says BINARYMIME; a DATA message says how it came too");
        g_object_set (fx->server, "bare-linefeed", GSMTP_BARE_LINEFEED_REJECT, NULL);
        fx_greet (fx);
        session_fx_feed_len (fx, script->str, script->len);
        session_fx_expect (fx, "*250 2.0.0 OK: queued as *\r\n");
        g_assert_cmpuint (fx->messages->len, ==, 1);
        env = fx->messages->pdata[0];
        assert_bytes (g_smtp_envelope_get_data (env), message, sizeof message - 1);
        g_assert_cmpstr (g_smtp_envelope_get_body (env), ==, "BINARYMIME");
        g_assert_true (g_smtp_envelope_is_chunked (env));

        session_fx_feed (fx, "MAIL FROM:<a@x.test> BODY=8bitmime\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
        session_fx_expect (fx, "250 *250 *354 *");
        session_fx_feed (fx, "Subject: data\r\n\r\nx\r\n.\r\n");
        session_fx_expect (fx, "250 2.0.0 OK: queued as *");
        env = fx->messages->pdata[1];
        g_assert_cmpstr (g_smtp_envelope_get_body (env), ==, "8BITMIME");
        g_assert_false (g_smtp_envelope_is_chunked (env));
}

static void
test_session_drain_bounded (Fx *fx, gconstpointer unused)
{
        const gsize piece = 64 * 1024, total = 64 * 1024 * 1024;
        g_autofree char *junk = g_malloc (piece);

        g_test_summary ("A 64 MiB chunk past the size limit, and one that is refused outright, are read "
                        "and dropped with nothing buffered: the 552/503 comes after the chunk, and the "
                        "session goes on");
        g_object_set (fx->server, "max-message-size", (guint64) 1000, NULL);
        memset (junk, '\n', piece);
        fx_greet (fx);
        session_fx_feed (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n");
        session_fx_expect (fx, "250 *250 *");
        session_fx_feed (fx, "BDAT 67108864\r\n");
        for (gsize sent = 0; sent < total; sent += piece) {
                g_autofree char *out = NULL;

                session_fx_feed_len (fx, junk, piece);
                g_assert_null (fx->session->in);
                out = session_fx_take (fx);
                if (sent + piece < total)
                        g_assert_cmpstr (out, ==, "");
                else
                        g_assert_cmpstr (out, ==, "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
        }
        session_fx_feed (fx, "RSET\r\nBDAT 67108864 LAST\r\n");
        session_fx_expect (fx, "250 2.0.0 Reset state\r\n");
        for (gsize sent = 0; sent < total; sent += piece) {
                session_fx_feed_len (fx, junk, piece);
                g_assert_null (fx->session->in);
        }
        session_fx_expect (fx, "503 5.5.1 Need MAIL command first\r\n");
        session_fx_feed (fx, "NOOP\r\n");
        session_fx_expect (fx, "250 2.0.0 OK\r\n");
        g_assert_cmpuint (fx->messages->len, ==, 0);
}

static void
test_session_deferred_last (Fx *fx, gconstpointer unused)
{
        gint64 give_up = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

        g_test_summary ("BDAT LAST asks the DATA stage like DATA's end: a deferred answer holds the "
                        "pipelined commands, and the replies stay in order");
        fx->defer = TRUE;
        fx_greet (fx);
        session_fx_feed (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nBDAT 3 LAST\r\nabcNOOP\r\n");
        session_fx_expect (fx, "250 *250 *");
        g_assert_nonnull (fx->deferred);
        g_assert_true (gsmtp_session_is_waiting (fx->session));
        g_smtp_stage_complete (fx->deferred, g_smtp_reply_new (250, "2.0.0", "Stored"));
        while (fx->wakeups == 0 && g_get_monotonic_time () < give_up)
                g_main_context_iteration (NULL, FALSE);
        session_fx_expect (fx, "250 2.0.0 Stored\r\n250 2.0.0 OK\r\n");
}

static void
test_session_timeout_state (Fx *fx, gconstpointer unused)
{
        g_test_summary ("From the first BDAT to the last, and while any chunk is read, the session is "
                        "in data (the data timeout runs) and a chunk is never a partial command line");
        fx_greet (fx);
        session_fx_feed (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n");
        g_free (session_fx_take (fx));
        g_assert_false (gsmtp_session_in_data (fx->session));
        session_fx_feed (fx, "BDAT 10\r\nabc");
        g_assert_true (gsmtp_session_in_data (fx->session));
        g_assert_false (gsmtp_session_has_partial_line (fx->session));
        session_fx_feed (fx, "defghij");
        g_assert_true (gsmtp_session_in_data (fx->session));
        session_fx_feed (fx, "BDA");
        g_assert_true (gsmtp_session_has_partial_line (fx->session));
        session_fx_feed (fx, "T 0 LAST\r\n");
        g_assert_false (gsmtp_session_in_data (fx->session));
        session_fx_expect (fx, "250 2.0.0 10 octets received\r\n250 2.0.0 OK: queued as *");
        /* a refused chunk's bytes are bounded by the data timeout too */
        session_fx_feed (fx, "BDAT 10\r\nabc");
        g_assert_true (gsmtp_session_in_data (fx->session));
        session_fx_feed (fx, "defghij");
        g_assert_false (gsmtp_session_in_data (fx->session));
        session_fx_expect (fx, "503 5.5.1 *");
}

/* ---- the data timeout, on a socket ---- */

static void
setup_short_data_timeout (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "idle-timeout", 60, "data-timeout", 1, NULL);
}

static void
test_data_timeout_covers_chunks (void)
{
        TestServer *ts = test_server_new (setup_short_data_timeout, NULL);
        LineClient *a = line_client_new (ts->port);
        g_autofree char *reply = NULL;
        gint64 start;

        g_test_summary ("The data timeout covers all the chunks of a message: a client that stops between "
                        "two chunks gets 421 4.4.2 after data-timeout, not after the idle timeout");
        line_client_expect (a, "220 ");
        line_client_chat (a, "EHLO c.test", "250 ");
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        start = g_get_monotonic_time ();
        line_client_send (a, "BDAT 4");
        line_client_send_raw (a, "abcd", 4);
        line_client_expect (a, "250 2.0.0 4 octets");
        /* ... and nothing more: the server's one-second tick finds the deadline */
        reply = line_client_reply (a);
        g_assert_nonnull (reply);
        g_assert_true (g_str_has_prefix (reply, "421 4.4.2"));
        g_assert_cmpint (g_get_monotonic_time () - start, <, 30 * G_USEC_PER_SEC);
        g_assert_true (line_client_closed (a));
        g_assert_null (test_server_pop (ts, 10));
        line_client_free (a);
        test_server_free (ts);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        g_test_add_func ("/chunking/reader/binary", test_raw_binary);
        g_test_add_func ("/chunking/reader/text", test_raw_text);
        g_test_add_func ("/chunking/reader/refusals", test_raw_refusals);
        g_test_add_func ("/chunking/reader/linear", test_raw_linear);
#define ADD(path, fn) g_test_add ("/chunking/session/" path, Fx, NULL, session_fx_setup, fn, session_fx_teardown)
        ADD ("bytes", test_session_bytes);
        ADD ("binarymime", test_session_binarymime);
        ADD ("drain-bounded", test_session_drain_bounded);
        ADD ("deferred-last", test_session_deferred_last);
        ADD ("timeout-state", test_session_timeout_state);
        g_test_add_func ("/chunking/server/data-timeout", test_data_timeout_covers_chunks);
        return g_test_run ();
}

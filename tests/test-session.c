/* test-session.c — the protocol state machine, fed bytes directly (no sockets). */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-session.h"
#include "session-fixture.h"
#include "gsmtp-server-private.h"
#include "test-util.h"

#include <string.h>

typedef SessionFx Fx;

static void
fx_setup (Fx *fx, gconstpointer unused)
{
        session_fx_setup (fx, unused);
        g_smtp_server_add_domain (fx->server, "*.sub.test");
        /* no main loop here: the DATA handler parses, not the worker pool */
        g_object_set (fx->server, "auth-failure-delay", 0, "parse-messages", FALSE, NULL);
}

static void
fx_greet (Fx *fx)
{
        g_autofree char *banner = NULL;

        session_fx_start (fx);
        banner = session_fx_take (fx);
        g_assert_cmpstr (banner, ==, "220 mx.example.org ESMTP gsmtp\r\n");
        session_fx_chat (fx, "EHLO client.test\r\n", "250-mx.example.org Hello client.test\r\n*");
}

static void
test_ehlo (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("EHLO advertises PIPELINING, SIZE, 8BITMIME, CHUNKING, BINARYMIME, ENHANCEDSTATUSCODES, "
                        "SMTPUTF8, DSN, LIMITS; no STARTTLS, AUTH or REQUIRETLS unconfigured and without TLS");
        session_fx_start (fx);
        g_free (session_fx_take (fx));
        session_fx_feed (fx, "EHLO client.test\r\n");
        out = session_fx_take (fx);
        g_assert_cmpstr (out, ==, "250-mx.example.org Hello client.test\r\n250-PIPELINING\r\n"
                         "250-SIZE 10485760\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-BINARYMIME\r\n"
                         "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-DSN\r\n250 LIMITS RCPTMAX=100\r\n");
        session_fx_chat (fx, "HELO other.test\r\n", "250 mx.example.org Hello other.test\r\n");
        g_assert_false (g_smtp_peer_get_esmtp (gsmtp_session_get_peer (fx->session)));
        g_assert_cmpstr (g_smtp_peer_get_helo (gsmtp_session_get_peer (fx->session)), ==, "other.test");
        session_fx_chat (fx, "EHLO\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "NOOP\r\n", "250 2.0.0 OK\r\n");
        session_fx_chat (fx, "VRFY someone\r\n", "252 2.0.0 *");
        session_fx_chat (fx, "EXPN list\r\n", "502 5.5.1 *");
        session_fx_chat (fx, "HELP\r\n", "214 2.0.0 *");
        session_fx_chat (fx, "QUIT\r\n", "221 2.0.0 Bye\r\n");
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
}

/* The date after the last ";" of the Received header is an RFC 5322 date, now
 * (the formatted date is kept for a second: it must not be an old one). */
static void
assert_received_now (GSmtpEnvelope *env)
{
        const char *date = strrchr (g_smtp_envelope_get_received_header (env), ';');
        g_autoptr(GDateTime) stamp = NULL;
        g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

        g_assert_nonnull (date);
        stamp = g_mime_utils_header_decode_date (date + 1);
        g_assert_nonnull (stamp);
        g_assert_cmpint (ABS (g_date_time_difference (now, stamp)), <=, 2 * G_TIME_SPAN_SECOND);
}

static void
fx_one_message (Fx *fx, const char *rcpt, const char *queued)
{
        g_autofree char *line = g_strdup_printf ("RCPT TO:<%s>\r\n", rcpt);

        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\n", "250 2.1.0 OK\r\n");
        session_fx_chat (fx, line, "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "DATA\r\n", "354 *");
        session_fx_chat (fx, "Subject: hi\r\n\r\nx\r\n.\r\n", queued);
}

static void
test_received_follows_session (Fx *fx, gconstpointer unused)
{
        const char *first, *second, *third;
        g_autofree char *third_queued = NULL;

        g_test_summary ("The Received header of each message names the HELO name and recipient of its own "
                        "transaction (its session part is kept between messages while the peer is the same)");
        g_test_bug ("14");
        fx_greet (fx);
        fx_one_message (fx, "b@example.org", "250 2.0.0 OK: queued as *.1\r\n");
        fx_one_message (fx, "c@example.org", "250 2.0.0 OK: queued as *.2\r\n");
        session_fx_chat (fx, "EHLO other.test\r\n", "250-mx.example.org Hello other.test\r\n*");
        /* the reply names the session and counts its messages */
        third_queued = g_strdup_printf ("250 2.0.0 OK: queued as %s.3\r\n",
                                        g_smtp_peer_get_session_id (g_smtp_envelope_get_peer (fx->messages->pdata[0])));
        fx_one_message (fx, "d@example.org", third_queued);
        g_assert_cmpuint (fx->messages->len, ==, 3);
        first = g_smtp_envelope_get_received_header (fx->messages->pdata[0]);
        second = g_smtp_envelope_get_received_header (fx->messages->pdata[1]);
        third = g_smtp_envelope_get_received_header (fx->messages->pdata[2]);
        g_assert_true (g_str_has_prefix (first, "from client.test "));
        g_assert_nonnull (strstr (first, " for <b@example.org>; "));
        g_assert_true (g_str_has_prefix (second, "from client.test "));
        g_assert_nonnull (strstr (second, " for <c@example.org>; "));
        g_assert_true (g_str_has_prefix (third, "from other.test "));
        g_assert_nonnull (strstr (third, " for <d@example.org>; "));
        assert_received_now (fx->messages->pdata[2]);
}

static void
test_transaction_bytes (Fx *fx, gconstpointer unused)
{
        GSmtpEnvelope *env;
        GBytes *data;
        const char *want = "Subject: hi\r\n\r\n.leading dot\r\nline\r\n..\r\n";

        g_test_summary ("A message arrives with exactly the bytes sent, dot-unstuffed, and a Received header");
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\n", "250 2.1.0 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<b@example.org>\r\n", "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
        session_fx_chat (fx, "Subject: hi\r\n\r\n..leading dot\r\nline\r\n...\r\n.\r\n", "250 2.0.0 OK: queued as *");
        g_assert_cmpuint (fx->messages->len, ==, 1);
        env = fx->messages->pdata[0];
        data = g_smtp_envelope_get_data (env);
        g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), want, strlen (want));
        g_assert_cmpstr (g_smtp_envelope_get_sender (env), ==, "a@x.test");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[0], ==, "b@example.org");
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (env), "by mx.example.org (gsmtp) with ESMTP"));
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (env), "for <b@example.org>"));
        g_assert_cmpstr (g_mime_message_get_subject (g_smtp_envelope_get_message (env)), ==, "hi");
        g_assert_nonnull (g_mime_object_get_header (GMIME_OBJECT (g_smtp_envelope_get_message (env)), "Received"));
        assert_received_now (env);
        /* the session is ready for the next transaction */
        session_fx_chat (fx, "RCPT TO:<b@example.org>\r\n", "503 5.5.1 *");
}

static void
test_pipelining (Fx *fx, gconstpointer unused)
{
        g_test_summary ("RFC 2920: a whole transaction in one write gets its replies in order, in one batch");
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@nowhere.test>\r\n"
                     "RCPT TO:<d@example.org>\r\nDATA\r\n",
                 "250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.7.1 Relay access denied\r\n250 2.1.5 OK\r\n"
                 "354 End data with <CR><LF>.<CR><LF>\r\n");
        session_fx_chat (fx, "body\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nRSET\r\nQUIT\r\n",
                 "250 2.0.0 OK*");
        g_assert_cmpuint (fx->messages->len, ==, 1);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (fx->messages->pdata[0]), ==, 2);
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
}

static void
test_sequence (Fx *fx, gconstpointer unused)
{
        g_test_summary ("503 for commands out of order, 500/501/555 for bad commands");
        session_fx_start (fx);
        g_free (session_fx_take (fx));
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\n", "503 5.5.1 Send HELO/EHLO first\r\n");
        session_fx_chat (fx, "EHLO c.test\r\n", "250-*");
        session_fx_chat (fx, "RCPT TO:<b@example.org>\r\n", "503 5.5.1 Need MAIL command first\r\n");
        session_fx_chat (fx, "DATA\r\n", "503 5.5.1 *");
        session_fx_chat (fx, "FOO bar\r\n", "500 5.5.2 Command not recognized\r\n");
        session_fx_chat (fx, "MAIL TO:<a@x.test>\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<not an address>\r\n", "501 5.1.7 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> FOO=BAR\r\n", "555 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> SIZE=abc\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM: <a@x.test> BODY=8BITMIME\r\n", "250 2.1.0 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\n", "503 5.5.1 Nested MAIL command\r\n");
        session_fx_chat (fx, "DATA\r\n", "554 5.5.1 No valid recipients\r\n");
        session_fx_chat (fx, "RCPT TO:<b@example.org> NOTIFY=SOMETIMES\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<b@example.org> FOO=BAR\r\n", "555 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<@relay.test:b@example.org>\r\n", "250 2.1.5 *");
        session_fx_chat (fx, "DATA extra\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<\xff\xfe@example.org>\r\n", "501 5.1.3 *");
        session_fx_chat (fx, "HELO \xc3\xa9t\xc3\xa9\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RSET\r\n", "250 2.0.0 *");
        session_fx_chat (fx, "RCPT TO:<b@example.org>\r\n", "503 5.5.1 *");
        gsmtp_session_feed (fx->session, (const guint8 *) "NOOP\0x\r\n", 8);
        session_fx_chat (fx, "", "500 5.5.2 Invalid character in command\r\n");
}

static void
test_domains (Fx *fx, gconstpointer unused)
{
        g_autofree char *md = NULL;

        g_test_summary ("Local domains match without case, *.x matches subdomains, postmaster always; others are relay denied");
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<>\r\n", "250 2.1.0 *");
        session_fx_chat (fx, "RCPT TO:<u@EXAMPLE.org>\r\n", "250 2.1.5 *");
        session_fx_chat (fx, "RCPT TO:<u@a.sub.test>\r\n", "250 2.1.5 *");
        session_fx_chat (fx, "RCPT TO:<u@sub.test>\r\n", "550 5.7.1 Relay access denied\r\n");
        session_fx_chat (fx, "RCPT TO:<u@evil.test>\r\n", "550 5.7.1 *");
        session_fx_chat (fx, "RCPT TO:<Postmaster>\r\n", "250 2.1.5 *");
        session_fx_chat (fx, "RCPT TO:<postmaster@example.org>\r\n", "250 2.1.5 *");
        session_fx_chat (fx, "RCPT TO:<nobody>\r\n", "501 5.1.3 *");
        session_fx_chat (fx, "DATA\r\n", "354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 *");
        g_assert_true (g_smtp_envelope_is_null_sender (fx->messages->pdata[0]));
        g_assert_cmpstr (g_smtp_envelope_get_sender (fx->messages->pdata[0]), ==, "");
        g_assert_cmpstr (g_smtp_envelope_get_reverse_path (fx->messages->pdata[0]), ==, "MAILER-DAEMON@example.org");
        md = g_smtp_server_dup_mailer_daemon (fx->server);
        g_assert_cmpstr (md, ==, "MAILER-DAEMON@example.org");

        g_smtp_server_add_domain (fx->server, "*");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<u@anywhere.test>\r\n", "250 2.1.0 OK\r\n250 2.1.5 OK\r\n");
}

static void
test_limits (Fx *fx, gconstpointer unused)
{
        g_autoptr(GString) big = g_string_new (NULL);

        g_test_summary ("max-recipients 452 4.5.3, SIZE 552 5.3.4, line too long 500 5.5.2; the session stays usable");
        g_object_set (fx->server, "max-recipients", 2, "max-message-size", (guint64) 1000, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test> SIZE=5000\r\n", "552 5.3.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> SIZE=500\r\n", "250 *");
        session_fx_chat (fx, "RCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n",
                 "250 2.1.5 OK\r\n250 2.1.5 OK\r\n452 4.5.3 Too many recipients\r\n");
        session_fx_chat (fx, "DATA\r\n", "354 *");
        for (int i = 0; i < 30; i++)
                g_string_append (big, "0123456789012345678901234567890123456789\r\n");
        session_fx_feed (fx, big->str);
        session_fx_chat (fx, ".\r\n", "552 5.3.4 *");
        g_assert_cmpuint (fx->messages->len, ==, 0);

        g_string_truncate (big, 0);
        g_string_append (big, "MAIL FROM:<a@x.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
        session_fx_chat (fx, big->str, "250 *");
        g_string_truncate (big, 0);
        g_string_append_len (big, "x", 0);
        for (int i = 0; i < 1100; i++)
                g_string_append_c (big, 'y');
        g_string_append (big, "\r\n.\r\n");
        session_fx_chat (fx, big->str, "500 5.5.2 Message has a line too long\r\n");
        g_assert_cmpuint (fx->messages->len, ==, 0);

        /* an overlong command line, fed in pieces with no newline for a while */
        session_fx_feed (fx, big->str + 5);
        g_free (session_fx_take (fx));
        g_string_truncate (big, 0);
        for (int i = 0; i < 5000; i++)
                g_string_append_c (big, 'z');
        session_fx_feed (fx, big->str);
        session_fx_feed (fx, big->str);
        session_fx_chat (fx, "\r\n", "500 5.5.2 Line too long\r\n");
        session_fx_chat (fx, "NOOP\r\n", "250 *");
}

static void
test_smuggling (Fx *fx, gconstpointer unused)
{
        static const char *const vectors[] = {
                "\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r\n.\n", "\r.\r\n", "\n.\r",
        };

        g_test_summary ("SMTP smuggling: bare LF/CR around a dot never ends DATA; no smuggled command runs");
        fx_greet (fx);
        for (guint i = 0; i < G_N_ELEMENTS (vectors); i++) {
                g_autofree char *msg = g_strdup_printf ("Subject: v%u\r\n\r\nhello%sMAIL FROM:<evil@x.test>\r\n"
                                                        "RCPT TO:<victim@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n",
                                                        i, vectors[i]);
                session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n", "250 *");
                session_fx_chat (fx, "DATA\r\n", "354 *");
                /* exactly one reply: the smuggled commands are message content */
                session_fx_chat (fx, msg, "250 2.0.0 OK: queued as *");
                g_assert_cmpuint (fx->messages->len, ==, i + 1);
                g_assert_cmpstr (g_smtp_envelope_get_sender (fx->messages->pdata[i]), ==, "a@x.test");
        }
        /* the reject policy refuses such messages (a new setting applies to
         * the sessions that start after it) */
        g_object_set (fx->server, "bare-linefeed", GSMTP_BARE_LINEFEED_REJECT, NULL);
        gsmtp_session_free (fx->session);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "250 *");
        session_fx_chat (fx, "a\nb\r\n.\r\n", "550 5.5.2 *");
        g_assert_cmpuint (fx->messages->len, ==, G_N_ELEMENTS (vectors));
}

static void
test_error_limit (Fx *fx, gconstpointer unused)
{
        g_autoptr(GString) junk = g_string_new (NULL);
        g_autofree char *out = NULL;

        g_test_summary ("Too many bad commands: 421 4.7.0 and close (Postfix's hard error limit)");
        g_object_set (fx->server, "max-errors", 3, NULL);
        fx_greet (fx);
        session_fx_feed (fx, "X\r\nY\r\nZ\r\nNOOP\r\n");
        out = session_fx_take (fx);
        g_assert_true (g_str_has_suffix (out, "421 4.7.0 Too many errors, closing connection\r\n"));
        g_assert_null (strstr (out, "250"));
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);

        /* refused recipients count too: nobody probes addresses for ever */
        gsmtp_session_free (fx->session);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<a@elsewhere.test>\r\nRCPT TO:<b@elsewhere.test>\r\n"
                     "RCPT TO:<c@elsewhere.test>\r\nRCPT TO:<d@example.org>\r\n",
                 "250 2.1.0 OK\r\n550 5.7.1 *550 5.7.1 *550 5.7.1 Relay access denied\r\n421 4.7.0 *");
}

static GSmtpReply *
defer_rcpt (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        fx->deferred = g_smtp_stage_defer (stage);
        return NULL;
}

static void
test_deferred (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("A deferred RCPT holds the pipelined commands; completing it replies in order");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_RCPT, defer_rcpt, fx, NULL);
        fx_greet (fx);
        session_fx_feed (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nNOOP\r\n");
        out = session_fx_take (fx);
        g_assert_cmpstr (out, ==, "250 2.1.0 OK\r\n");
        g_assert_nonnull (fx->deferred);
        g_assert_true (g_smtp_stage_is_pending (fx->deferred));
        g_assert_true (g_smtp_stage_is_local_domain (fx->deferred));
        g_assert_cmpstr (g_smtp_stage_get_domain (fx->deferred), ==, "example.org");
        session_fx_complete (fx, fx->deferred, g_smtp_reply_new (550, NULL, "No such user\r\n250 injected"));
        g_free (out);
        out = session_fx_take (fx);
        g_assert_cmpstr (out, ==, "550 5.1.1 No such user  250 injected\r\n250 2.0.0 OK\r\n");
        g_clear_object (&fx->deferred);

        /* a client gone while the application thinks: the stage says so */
        session_fx_feed (fx, "RCPT TO:<c@example.org>\r\n");
        gsmtp_session_eof (fx->session);
        g_assert_true (g_smtp_stage_is_cancelled (fx->deferred));
        g_assert_true (g_cancellable_is_cancelled (g_smtp_stage_get_cancellable (fx->deferred)));
        g_smtp_stage_complete_code (fx->deferred, 250);
        while (g_main_context_iteration (NULL, FALSE))
                ;
}

static GSmtpReply *
forgetful (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        return NULL;
}

static void
test_handler_failure (Fx *fx, gconstpointer unused)
{
        g_test_summary ("A handler that neither replies nor defers gets 451 4.3.0, not a crash");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_MAIL, forgetful, NULL, NULL);
        fx_greet (fx);
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_WARNING, "*returned no reply*");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\n", "451 4.3.0 *");
        g_test_assert_expected_messages ();
}

static void
test_auth (Fx *fx, gconstpointer unused)
{
        g_autofree char *plain = g_base64_encode ((const guchar *) "\0user\0secret", 12);
        g_autofree char *bad = g_base64_encode ((const guchar *) "\0user\0wrong", 11);
        g_autofree char *line = NULL;

        g_test_summary ("AUTH PLAIN and LOGIN; 538 without TLS; cancel 501; bad base64 501; 535; second AUTH 503");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_AUTH, test_auth_user_secret, NULL, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "AUTH PLAIN\r\n", "538 5.7.11 *");
        g_object_set (fx->server, "allow-insecure-auth", TRUE, NULL);
        gsmtp_session_free (fx->session);
        fx_greet (fx);
        session_fx_chat (fx, "EHLO c.test\r\n", "*250 AUTH PLAIN LOGIN\r\n");
        session_fx_chat (fx, "AUTH CRAM-MD5\r\n", "504 5.5.4 *");
        session_fx_chat (fx, "AUTH PLAIN\r\n", "334 \r\n");
        session_fx_chat (fx, "*\r\n", "501 5.0.0 Authentication cancelled\r\n");
        session_fx_chat (fx, "AUTH PLAIN !!!!\r\n", "501 5.5.2 *");
        line = g_strdup_printf ("AUTH PLAIN %s\r\n", bad);
        session_fx_chat (fx, line, "535 5.7.8 *");
        session_fx_chat (fx, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
        session_fx_chat (fx, "dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n");
        session_fx_chat (fx, "c2VjcmV0\r\n", "235 2.7.0 Authentication successful\r\n");
        g_assert_cmpstr (g_smtp_peer_get_username (gsmtp_session_get_peer (fx->session)), ==, "user");
        g_assert_cmpstr (g_smtp_peer_get_protocol (gsmtp_session_get_peer (fx->session)), ==, "ESMTPA");
        session_fx_chat (fx, "AUTH PLAIN\r\n", "503 5.5.1 *");
        /* authenticated users may relay (permit_sasl_authenticated) */
        session_fx_chat (fx, "MAIL FROM:<user@example.org> AUTH=<>\r\nRCPT TO:<x@elsewhere.test>\r\n",
                 "250 2.1.0 OK\r\n250 2.1.5 OK\r\n");
}

static void
test_auth_failures (Fx *fx, gconstpointer unused)
{
        g_autofree char *bad = g_base64_encode ((const guchar *) "\0user\0wrong", 11);
        g_autofree char *line = g_strdup_printf ("AUTH PLAIN %s\r\n", bad);
        g_autofree char *out = NULL;

        g_test_summary ("After max-auth-failures the session gets 421 and closes");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_AUTH, test_auth_user_secret, NULL, NULL);
        g_object_set (fx->server, "allow-insecure-auth", TRUE, NULL);
        fx_greet (fx);
        session_fx_chat (fx, line, "535 *");
        session_fx_chat (fx, line, "535 *");
        session_fx_feed (fx, line);
        out = session_fx_take (fx);
        g_assert_cmpstr (out, ==, "535 5.7.8 Authentication credentials invalid\r\n421 4.7.0 Too many authentication failures\r\n");
}

static void
test_auth_overlong_line (Fx *fx, gconstpointer unused)
{
        g_autoptr(GString) huge = g_string_new (NULL);

        g_test_summary ("An overlong line inside an AUTH exchange gets 500 and ends the exchange: the next "
                        "command is a command, not a SASL answer");
        g_test_bug ("10");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_AUTH, test_auth_user_secret, NULL, NULL);
        g_object_set (fx->server, "allow-insecure-auth", TRUE, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
        g_string_append_c_inline (huge, 'A');
        while (huge->len < 4000)
                g_string_append (huge, "QUFB");
        g_string_append (huge, "\r\n");
        session_fx_chat (fx, huge->str, "500 5.5.2 Line too long\r\n");
        session_fx_chat (fx, "NOOP\r\n", "250 2.0.0 OK\r\n");
        /* and the same in pieces, the line's end coming later */
        session_fx_chat (fx, "AUTH PLAIN\r\n", "334 \r\n");
        g_string_truncate (huge, huge->len - 2);
        session_fx_chat (fx, huge->str, "");
        session_fx_chat (fx, "\r\nNOOP\r\n", "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n");
        /* a NUL inside an answer ends it too */
        session_fx_chat (fx, "AUTH PLAIN\r\n", "334 \r\n");
        gsmtp_session_feed (fx->session, (const guint8 *) "a\0b\r\nNOOP\r\n", 11);
        session_fx_chat (fx, "", "500 5.5.2 Invalid character in command\r\n250 2.0.0 OK\r\n");
}

static void
test_junk_commands (Fx *fx, gconstpointer unused)
{
        g_test_summary ("Past max-junk-commands, NOOP/RSET/VRFY/HELP count as errors, so a client idling with "
                        "NOOPs is ended by the error budget; a delivered message starts the count again");
        g_test_bug ("10");
        g_object_set (fx->server, "max-junk-commands", 3, "max-errors", 2, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "NOOP\r\nRSET\r\nVRFY x\r\n", "250 *250 *252 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "250 *250 *354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 2.0.0 *");
        session_fx_chat (fx, "NOOP\r\nNOOP\r\nNOOP\r\n", "250 *250 *250 *");
        session_fx_chat (fx, "NOOP\r\n", "250 2.0.0 OK\r\n");
        session_fx_chat (fx, "HELP\r\n", "214 *\r\n421 4.7.0 Too many errors, closing connection\r\n");
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
}

static GSmtpReply *
refuse_connect_421 (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        return g_smtp_reply_new_code (421);
}

static GSmtpReply *
refuse_helo_421 (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        return g_smtp_reply_new (421, "4.7.0", "Go away");
}

static void
test_handler_421 (Fx *fx, gconstpointer unused)
{
        g_test_summary ("421 from any handler closes the session (RFC 5321 3.8)");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_HELO, refuse_helo_421, NULL, NULL);
        session_fx_start (fx);
        g_free (session_fx_take (fx));
        session_fx_chat (fx, "EHLO c.test\r\nNOOP\r\n", "421 4.7.0 Go away\r\n");
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
        gsmtp_session_free (fx->session);
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_CONNECT, refuse_connect_421, NULL, NULL);
        session_fx_start (fx);
        session_fx_chat (fx, "", "421 4.7.0 *");
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
}

static GSmtpReply *
defer_auth (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        fx->deferred = g_smtp_stage_defer (stage);
        return NULL;
}

static gboolean
output_ready (gpointer data)
{
        return !gsmtp_session_has_output (((Fx *) data)->session);
}

static void
test_auth_deferred_and_slow (Fx *fx, gconstpointer unused)
{
        g_autofree char *good = g_base64_encode ((const guchar *) "\0user\0secret", 12);
        g_autofree char *line = g_strdup_printf ("AUTH PLAIN %s\r\nNOOP\r\n", good);
        gint64 deadline;

        g_test_summary ("The authenticator may answer later; a refusal is answered only after auth-failure-delay");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_AUTH, defer_auth, fx, NULL);
        g_object_set (fx->server, "allow-insecure-auth", TRUE, "auth-failure-delay", 50, NULL);
        fx_greet (fx);
        session_fx_feed (fx, line);
        g_assert_false (gsmtp_session_has_output (fx->session));
        g_assert_cmpstr (g_smtp_stage_get_password (fx->deferred), ==, "secret");
        g_smtp_stage_complete (fx->deferred, g_smtp_reply_new_code (535));
        g_clear_object (&fx->deferred);
        /* not yet: the failure waits for the delay, and the NOOP behind it too */
        g_assert_false (gsmtp_session_has_output (fx->session));
        deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
        while (output_ready (fx) && g_get_monotonic_time () < deadline)
                g_main_context_iteration (NULL, TRUE);
        session_fx_chat (fx, "", "535 5.7.8 Authentication credentials invalid\r\n250 2.0.0 OK\r\n");

        session_fx_feed (fx, line);
        session_fx_complete (fx, fx->deferred, g_smtp_reply_new_code (235));
        g_clear_object (&fx->deferred);
        session_fx_chat (fx, "", "235 2.7.0 Authentication successful\r\n250 2.0.0 OK\r\n");
        g_assert_cmpstr (g_smtp_peer_get_username (gsmtp_session_get_peer (fx->session)), ==, "user");
}

static void
test_sync (Fx *fx, gconstpointer unused)
{
        g_test_summary ("Content before 354 gets 554 5.5.0 and close; an HTTP request gets 421");
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: eager\r\n",
                 "250 2.1.0 OK\r\n250 2.1.5 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n554 5.5.0 *");
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
        gsmtp_session_free (fx->session);
        session_fx_start (fx);
        g_free (session_fx_take (fx));
        session_fx_chat (fx, "GET / HTTP/1.1\r\n", "421 4.7.0 *");
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
        /* configurable: a sloppy pipeliner may be let through */
        gsmtp_session_free (fx->session);
        g_object_set (fx->server, "strict-pipelining", FALSE, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: eager\r\n\r\n.\r\n",
                 "250 2.1.0 OK\r\n250 2.1.5 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 *");
}

static void
test_shutdown (Fx *fx, gconstpointer unused)
{
        g_test_summary ("Stop: an idle session gets 421 at once; one in a transaction finishes it first");
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n", "250 *");
        gsmtp_session_shutdown (fx->session, FALSE);
        g_assert_false (gsmtp_session_has_output (fx->session));
        session_fx_chat (fx, "DATA\r\n", "354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 2.0.0 OK: queued as *\r\n421 4.3.2 *");
        g_assert_cmpuint (fx->messages->len, ==, 1);
        g_assert_cmpint (gsmtp_session_get_action (fx->session), ==, GSMTP_SESSION_CLOSE);
}

static void
test_duplicates_and_spill (Fx *fx, gconstpointer unused)
{
        g_autoptr(GString) msg = g_string_new ("Subject: big\r\n\r\n");
        GBytes *data;

        g_test_summary ("Only true duplicates merge (local parts are case-sensitive, domains and quoting "
                        "are not); a message past spill-threshold comes from a mapped file intact");
        g_test_bug ("10");
        g_object_set (fx->server, "spill-threshold", (guint64) 4096, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<B@example.org>\r\n"
                     "RCPT TO:<b@EXAMPLE.org>\r\nRCPT TO:<\"b\"@example.org>\r\nRCPT TO:<Postmaster>\r\n"
                     "RCPT TO:<POSTMASTER>\r\nDATA\r\n", "250 *");
        for (int i = 0; i < 2000; i++)
                g_string_append_printf (msg, "line %d of a message that will not fit in memory\r\n", i);
        session_fx_feed (fx, msg->str);
        session_fx_chat (fx, ".\r\n", "250 2.0.0 *");
        /* every 250 reached the application: b@ and B@ are two mailboxes */
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (fx->messages->pdata[0]), ==, 3);
        g_assert_cmpstr (g_smtp_envelope_get_recipients (fx->messages->pdata[0])[0], ==, "b@example.org");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (fx->messages->pdata[0])[1], ==, "B@example.org");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (fx->messages->pdata[0])[2], ==, "Postmaster");
        data = g_smtp_envelope_get_data (fx->messages->pdata[0]);
        g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), msg->str, msg->len);
        g_assert_cmpstr (g_mime_message_get_subject (g_smtp_envelope_get_message (fx->messages->pdata[0])), ==, "big");
}

static void
test_byte_at_a_time (Fx *fx, gconstpointer unused)
{
        const char *script = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
        const char *body = "Subject: slow\r\n\r\n..x\r\n.\r\n";
        g_autofree char *out = NULL;
        GBytes *data;

        g_test_summary ("A client that sends one byte at a time gets the same result");
        g_object_set (fx->server, "strict-pipelining", TRUE, NULL);
        fx_greet (fx);
        for (const char *p = script; *p != '\0'; p++)
                gsmtp_session_feed (fx->session, (const guint8 *) p, 1);
        g_free (session_fx_take (fx));
        for (const char *p = body; *p != '\0'; p++)
                gsmtp_session_feed (fx->session, (const guint8 *) p, 1);
        out = session_fx_take (fx);
        g_assert_true (g_str_has_prefix (out, "250 2.0.0"));
        data = g_smtp_envelope_get_data (fx->messages->pdata[0]);
        g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), "Subject: slow\r\n\r\n.x\r\n", 21);
}

static void
test_xclient (Fx *fx, gconstpointer unused)
{
        g_autoptr(GSocketAddress) lo = g_inet_socket_address_new_from_string ("127.0.0.1", 40000);
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL;

        g_test_summary ("XCLIENT: refused to strangers; a trusted proxy names the real client, who starts over");
        g_object_unref (fx->peer);
        fx->peer = gsmtp_peer_new (lo, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "XCLIENT ADDR=192.0.2.5\r\n", "550 5.7.0 Insufficient authorization\r\n");
        g_assert_false (g_smtp_server_add_xclient_network (fx->server, "not a network", &error));
        g_clear_error (&error);
        g_assert_true (g_smtp_server_add_xclient_network (fx->server, "127.0.0.0/8", &error));
        session_fx_feed (fx, "EHLO proxy.test\r\n");
        out = session_fx_take (fx);
        g_assert_nonnull (strstr (out, "250 XCLIENT NAME ADDR PORT PROTO HELO LOGIN\r\n"));
        session_fx_chat (fx, "XCLIENT FOO=1\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "XCLIENT ADDR=not-an-ip\r\n", "501 5.5.4 *");
        /* values are xtext, decoded by the one strict decoder DSN uses too */
        session_fx_chat (fx, "XCLIENT HELO=bad+zzxtext\r\n", "501 5.5.4 *");
        {
                /* no longer than a domain: it goes into Received */
                g_autofree char *a252 = g_strnfill (252, 'a');
                g_autofree char *long_helo = g_strdup_printf ("XCLIENT HELO=%s.tst\r\n", a252);

                session_fx_chat (fx, long_helo, "501 5.5.4 *");
        }
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nXCLIENT ADDR=192.0.2.5\r\nRSET\r\n", "250 2.1.0 OK\r\n503 5.5.1 *250 2.0.0 *");
        session_fx_chat (fx, "XCLIENT ADDR=192.0.2.5 PORT=4242 NAME=[UNAVAILABLE] HELO=real+2Eclient.test PROTO=ESMTP LOGIN=bob\r\n",
                 "220 mx.example.org ESMTP gsmtp\r\n");
        g_assert_cmpstr (g_smtp_peer_get_host (gsmtp_session_get_peer (fx->session)), ==, "192.0.2.5");
        g_assert_cmpuint (g_smtp_peer_get_port (gsmtp_session_get_peer (fx->session)), ==, 4242);
        g_assert_cmpstr (g_smtp_peer_get_helo (gsmtp_session_get_peer (fx->session)), ==, "real.client.test");
        g_assert_cmpstr (g_smtp_peer_get_username (gsmtp_session_get_peer (fx->session)), ==, "bob");
        /* as bob, relaying is allowed (permit_sasl_authenticated) */
        session_fx_chat (fx, "MAIL FROM:<bob@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\n", "250 2.1.0 OK\r\n250 2.1.5 OK\r\n");
}

static GString *captured;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
        if (captured != NULL) {
                for (gsize i = 0; i < n_fields; i++)
                        if (g_str_equal (fields[i].key, "MESSAGE")) {
                                g_string_append (captured, fields[i].value);
                                g_string_append_c (captured, '\n');
                        }
                return G_LOG_WRITER_HANDLED;
        }
        return g_log_writer_default (level, fields, n_fields, data);
}

static void
test_protocol_log (Fx *fx, gconstpointer unused)
{
        g_autofree char *plain = g_base64_encode ((const guchar *) "\0user\0secret", 12);
        g_autofree char *line = g_strdup_printf ("AUTH PLAIN %s\r\n", plain);

        g_test_summary ("The protocol log shows commands and replies with the session id, never AUTH secrets");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_AUTH, test_auth_user_secret, NULL, NULL);
        g_object_set (fx->server, "allow-insecure-auth", TRUE, "protocol-log", TRUE, NULL);
        captured = g_string_new (NULL);
        fx_greet (fx);
        session_fx_chat (fx, line, "235 *");
        gsmtp_session_free (fx->session);
        g_object_unref (fx->peer);
        fx->peer = gsmtp_peer_new (NULL, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
        session_fx_chat (fx, "dXNlcg==\r\n", "334 *");
        session_fx_chat (fx, "c2VjcmV0\r\n", "235 *");
        g_assert_nonnull (strstr (captured->str, "C: EHLO client.test"));
        g_assert_nonnull (strstr (captured->str, "S: 235 2.7.0 Authentication successful"));
        g_assert_nonnull (strstr (captured->str, g_smtp_peer_get_session_id (fx->peer)));
        g_assert_nonnull (strstr (captured->str, "C: AUTH PLAIN ****"));
        g_assert_null (strstr (captured->str, plain));
        g_assert_null (strstr (captured->str, "c2VjcmV0"));
        g_assert_null (strstr (captured->str, "secret"));
        g_string_free (captured, TRUE);
        captured = NULL;
}

/* ---- SMTPUTF8, DSN, REQUIRETLS, LIMITS ---- */

static GSmtpReply *
keep_stage (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        g_ptr_array_add (data, g_object_ref (stage));
        return g_smtp_stage_accept_default (stage);
}

static void
test_smtputf8 (Fx *fx, gconstpointer unused)
{
        g_autoptr(GPtrArray) stages = g_ptr_array_new_with_free_func (g_object_unref);
        GSmtpEnvelope *env;
        const char *received;

        g_test_summary ("RFC 6531: UTF-8 addresses need SMTPUTF8 (MAIL 550, RCPT 553, X.6.7); malformed "
                        "UTF-8 is 501; U-labels and A-labels of a local domain are local and one mailbox; "
                        "stages, envelope and the Received header (UTF8SMTP) say so");
        g_smtp_server_add_domain (fx->server, "b\xc3\xbc" "cher.example");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_MAIL, keep_stage, stages, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<j\xc3\xb6rg@x.test>\r\n", "550 5.6.7 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\n", "250 2.1.0 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<j\xc3\xb6rg@example.org>\r\n", "553 5.6.7 *");
        session_fx_chat (fx, "RCPT TO:<b@example.org> ORCPT=utf-8;j\xc3\xb6rg@example.org\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RSET\r\n", "250 *");
        session_fx_chat (fx, "MAIL FROM:<\xc3@x.test> SMTPUTF8\r\n", "501 5.1.7 *");
        session_fx_chat (fx, "MAIL FROM:<\xed\xa0\x80@x.test> SMTPUTF8\r\n", "501 5.1.7 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> SMTPUTF8=1\r\n", "501 5.5.4 *");
        g_assert_cmpuint (stages->len, ==, 1);
        g_assert_false (g_smtp_envelope_is_smtputf8 (g_smtp_stage_get_envelope (stages->pdata[0])));
        session_fx_chat (fx, "MAIL FROM:<j\xc3\xb6rg@x.test> smtputf8\r\n", "250 2.1.0 OK\r\n");
        g_assert_true (g_smtp_envelope_is_smtputf8 (g_smtp_stage_get_envelope (stages->pdata[1])));
        g_assert_cmpstr (g_smtp_stage_get_local_part (stages->pdata[1]), ==, "j\xc3\xb6rg");
        session_fx_chat (fx, "RCPT TO:<\xc3\xbc@xn--bcher-kva.example>\r\n", "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<u@B\xc3\x9c" "CHER.example>\r\n", "250 2.1.5 OK\r\n");
        /* the same mailbox through the U-label: merged */
        session_fx_chat (fx, "RCPT TO:<\xc3\xbc@b\xc3\xbc" "cher.example>\r\n", "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<u@b\xc3\xbc" "cher.evil>\r\n", "550 5.7.1 *");
        session_fx_chat (fx, "RCPT TO:<\xc2\x85@example.org>\r\n", "501 5.1.3 *");
        session_fx_chat (fx, "RCPT TO:<u@e\xcc\x81.example>\r\n", "501 5.1.3 *");
        session_fx_chat (fx, "DATA\r\n", "354 *");
        session_fx_chat (fx, "Subject: gr\xc3\xbc\xc3\x9f" "e\r\n\r\nhi\r\n.\r\n", "250 2.0.0 *");
        env = fx->messages->pdata[0];
        g_assert_true (g_smtp_envelope_is_smtputf8 (env));
        g_assert_cmpstr (g_smtp_envelope_get_sender (env), ==, "j\xc3\xb6rg@x.test");
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (env), ==, 2);
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[0], ==, "\xc3\xbc@xn--bcher-kva.example");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[1], ==, "u@B\xc3\x9c" "CHER.example");
        received = g_smtp_envelope_get_received_header (env);
        g_assert_nonnull (strstr (received, " with UTF8SMTP id "));
        g_assert_cmpstr (g_mime_message_get_subject (g_smtp_envelope_get_message (env)), ==,
                         "gr\xc3\xbc\xc3\x9f" "e");

        /* the next transaction is ASCII again */
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "250 *354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 *");
        g_assert_false (g_smtp_envelope_is_smtputf8 (fx->messages->pdata[1]));
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (fx->messages->pdata[1]), " with ESMTP id "));
}

static void
test_dsn (Fx *fx, gconstpointer unused)
{
        g_autoptr(GPtrArray) stages = g_ptr_array_new_with_free_func (g_object_unref);
        GSmtpEnvelope *env, *seen;

        g_test_summary ("RFC 3461: RET, ENVID, NOTIFY, ORCPT decoded onto the envelope per recipient, "
                        "through copy-on-write and in RCPT stage snapshots; malformed or repeated ones 501, "
                        "unknown ones 555");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_RCPT, keep_stage, stages, NULL);
        fx_greet (fx);
        session_fx_chat (fx, "MAIL FROM:<a@x.test> RET=FULL RET=HDRS\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> RET=NONE\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> ENVID=a+\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> ENVID=a+0Db\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> ret=hdrs ENVID=QQ+2B314159\r\n", "250 2.1.0 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.org\r\n",
                 "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<c@example.org> NOTIFY=NEVER\r\n", "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<d@example.org>\r\n", "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "RCPT TO:<e@example.org> NOTIFY=NEVER,DELAY\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<e@example.org> NOTIFY=DELAY notify=DELAY\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<e@example.org> ORCPT=rfc822;a+ZZ\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<e@example.org> ORCPT=rfc822;a ORCPT=rfc822;b\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "RCPT TO:<e@example.org> XYZ=1\r\n", "555 5.5.4 *");
        /* the same mailbox again: merged, its first DSN request stands */
        session_fx_chat (fx, "RCPT TO:<b@EXAMPLE.org> NOTIFY=NEVER\r\n", "250 2.1.5 OK\r\n");
        session_fx_chat (fx, "DATA\r\n", "354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 2.0.0 *");

        env = fx->messages->pdata[0];
        g_assert_cmpint (g_smtp_envelope_get_dsn_ret (env), ==, GSMTP_DSN_RET_HDRS);
        g_assert_cmpstr (g_smtp_envelope_get_dsn_envid (env), ==, "QQ+314159");
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (env), ==, 3);
        g_assert_cmpuint (g_smtp_envelope_get_dsn_notify (env, 0), ==, GSMTP_DSN_NOTIFY_SUCCESS | GSMTP_DSN_NOTIFY_FAILURE);
        g_assert_cmpstr (g_smtp_envelope_get_dsn_orcpt (env, 0), ==, "rfc822;b@example.org");
        g_assert_cmpuint (g_smtp_envelope_get_dsn_notify (env, 1), ==, GSMTP_DSN_NOTIFY_NEVER);
        g_assert_null (g_smtp_envelope_get_dsn_orcpt (env, 1));
        g_assert_cmpuint (g_smtp_envelope_get_dsn_notify (env, 2), ==, GSMTP_DSN_NOTIFY_UNSPECIFIED);
        g_assert_null (g_smtp_envelope_get_dsn_orcpt (env, 2));
        g_assert_cmpuint (g_smtp_envelope_get_dsn_notify (env, 3), ==, GSMTP_DSN_NOTIFY_UNSPECIFIED);
        g_assert_null (g_smtp_envelope_get_dsn_orcpt (env, 99));
        /* the raw parameters stay for the application */
        g_assert_cmpstr (g_hash_table_lookup (g_smtp_envelope_get_mail_parameters (env), "ENVID"), ==, "QQ+2B314159");

        /* each RCPT stage: its own DSN request, and the envelope as it was */
        g_assert_cmpuint (stages->len, ==, 4);
        g_assert_cmpuint (g_smtp_stage_get_dsn_notify (stages->pdata[0]), ==,
                          GSMTP_DSN_NOTIFY_SUCCESS | GSMTP_DSN_NOTIFY_FAILURE);
        g_assert_cmpstr (g_smtp_stage_get_dsn_orcpt (stages->pdata[0]), ==, "rfc822;b@example.org");
        g_assert_cmpstr (g_hash_table_lookup (g_smtp_stage_get_parameters (stages->pdata[0]), "ORCPT"), ==,
                         "rfc822;b+40example.org");
        g_assert_cmpuint (g_smtp_stage_get_dsn_notify (stages->pdata[1]), ==, GSMTP_DSN_NOTIFY_NEVER);
        g_assert_null (g_smtp_stage_get_dsn_orcpt (stages->pdata[2]));
        seen = g_smtp_stage_get_envelope (stages->pdata[2]);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (seen), ==, 2);
        g_assert_cmpstr (g_smtp_envelope_get_dsn_orcpt (seen, 0), ==, "rfc822;b@example.org");
        g_assert_cmpuint (g_smtp_envelope_get_dsn_notify (seen, 1), ==, GSMTP_DSN_NOTIFY_NEVER);
        g_assert_cmpint (g_smtp_envelope_get_dsn_ret (seen), ==, GSMTP_DSN_RET_HDRS);
        g_assert_cmpstr (g_smtp_envelope_get_dsn_envid (seen), ==, "QQ+314159");
        seen = g_smtp_stage_get_envelope (stages->pdata[0]);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (seen), ==, 0);
        g_assert_null (g_smtp_envelope_get_dsn_orcpt (seen, 0));
}

static void
test_requiretls (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("RFC 8689: REQUIRETLS is offered and accepted only under TLS (530 5.7.0 "
                        "outside); the envelope carries it.  Received says UTF8SMTPS under TLS");
        session_fx_start (fx);
        g_free (session_fx_take (fx));
        session_fx_feed (fx, "EHLO client.test\r\n");
        out = session_fx_take (fx);
        g_assert_null (strstr (out, "REQUIRETLS"));
        session_fx_chat (fx, "MAIL FROM:<a@x.test> REQUIRETLS\r\n", "530 5.7.0 *");
        gsmtp_session_free (fx->session);

        /* as on an implicit-TLS listener */
        gsmtp_peer_set_tls (fx->peer, "TLSv1.3", "TLS_AES_128_GCM_SHA256", NULL);
        session_fx_start_full (fx, TRUE);
        g_free (session_fx_take (fx));
        session_fx_feed (fx, "EHLO client.test\r\n");
        g_free (out);
        out = session_fx_take (fx);
        g_assert_nonnull (strstr (out, "\r\n250-REQUIRETLS\r\n"));
        session_fx_chat (fx, "MAIL FROM:<a@x.test> REQUIRETLS=yes\r\n", "501 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> REQUIRETLS\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "250 *354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 2.0.0 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "250 *354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 2.0.0 *");
        g_assert_true (g_smtp_envelope_requires_tls (fx->messages->pdata[0]));
        g_assert_false (g_smtp_envelope_requires_tls (fx->messages->pdata[1]));
        /* RFC 6531 4.3 under TLS: UTF8SMTPS */
        session_fx_chat (fx, "MAIL FROM:<j\xc3\xb6rg@x.test> SMTPUTF8\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "250 *354 *");
        session_fx_chat (fx, "x\r\n.\r\n", "250 2.0.0 *");
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (fx->messages->pdata[2]),
                                  " with UTF8SMTPS (TLSv1.3 with cipher "));
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (fx->messages->pdata[1]), " with ESMTPS ("));
}

static void
test_limits_keyword (Fx *fx, gconstpointer unused)
{
        g_test_summary ("RFC 9422: LIMITS RCPTMAX is max-recipients; HELO gets no keywords");
        g_object_set (fx->server, "max-recipients", 7, NULL);
        session_fx_start (fx);
        g_free (session_fx_take (fx));
        session_fx_chat (fx, "EHLO client.test\r\n", "250-*\r\n250 LIMITS RCPTMAX=7\r\n");
        session_fx_chat (fx, "HELO client.test\r\n", "250 mx.example.org Hello client.test\r\n");
        session_fx_chat (fx, "MAIL FROM:<a@x.test> SMTPUTF8\r\n", "555 5.5.4 *");
        session_fx_chat (fx, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org> NOTIFY=NEVER\r\n", "250 *555 5.5.4 *");
}

int
main (int argc, char **argv)
{
        g_log_set_writer_func (capture_writer, NULL, NULL);
        g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/session/" path, Fx, NULL, fx_setup, fn, session_fx_teardown)
        ADD ("ehlo", test_ehlo);
        ADD ("transaction-bytes", test_transaction_bytes);
        ADD ("received-follows-session", test_received_follows_session);
        ADD ("pipelining", test_pipelining);
        ADD ("sequence", test_sequence);
        ADD ("domains", test_domains);
        ADD ("limits", test_limits);
        ADD ("smuggling", test_smuggling);
        ADD ("error-limit", test_error_limit);
        ADD ("deferred", test_deferred);
        ADD ("handler-failure", test_handler_failure);
        ADD ("auth", test_auth);
        ADD ("auth-failures", test_auth_failures);
        ADD ("auth-deferred-and-slow", test_auth_deferred_and_slow);
        ADD ("auth-overlong-line", test_auth_overlong_line);
        ADD ("junk-commands", test_junk_commands);
        ADD ("handler-421", test_handler_421);
        ADD ("sync", test_sync);
        ADD ("shutdown", test_shutdown);
        ADD ("duplicates-and-spill", test_duplicates_and_spill);
        ADD ("byte-at-a-time", test_byte_at_a_time);
        ADD ("protocol-log", test_protocol_log);
        ADD ("xclient", test_xclient);
        ADD ("smtputf8", test_smtputf8);
        ADD ("dsn", test_dsn);
        ADD ("requiretls", test_requiretls);
        ADD ("limits-keyword", test_limits_keyword);
        return g_test_run ();
}

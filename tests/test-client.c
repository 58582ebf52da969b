/* test-client.c — GSmtpClient against the gsmtp server and servers no one here wrote. */
#include "config.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static GSmtpReply *
refuse_bob (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        if (g_str_has_prefix (g_smtp_stage_get_argument (stage), "bob@"))
                return g_smtp_reply_new (550, "5.1.1", "No such user");
        return g_smtp_stage_accept_default (stage);
}

static void
setup_refuse (GSmtpServer *server, gpointer data)
{
        g_smtp_server_set_handler (server, GSMTP_STAGE_RCPT, refuse_bob, NULL, NULL);
        g_object_set (server, "max-message-size", (guint64) 100000, NULL);
}

static void
test_refused_and_dots (void)
{
        TestServer *ts = test_server_new (setup_refuse, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("127.0.0.1", ts->port);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GError) error = NULL;
        const char *text = "Subject: dots\n\n.\n..\nbare lf\nlast line without newline";
        const char *wire = "Subject: dots\r\n\r\n.\r\n..\r\nbare lf\r\nlast line without newline\r\n";
        g_autoptr(GBytes) msg = g_bytes_new_static (text, strlen (text));
        const char *rcpts[] = { "alice@example.org", "bob@example.org", NULL };
        const char *accepted[] = { "alice@example.org", NULL };
        const char *refused[] = { "bob@example.org", NULL };

        g_test_summary ("Per-recipient results; a line that is a single '.' survives; LF becomes CRLF");
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), accepted);
        g_assert_cmpstrv (g_smtp_send_result_get_refused (result), refused);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (result, "bob@example.org")), ==, 550);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_reply (result)), ==, 250);
        env = test_server_pop (ts, 10000);
        g_assert_cmpmem (g_bytes_get_data (g_smtp_envelope_get_data (env), NULL), g_smtp_envelope_get_size (env),
                         wire, strlen (wire));

        /* all refused: an error, nothing delivered; the connection is reused */
        g_clear_object (&result);
        result = g_smtp_client_send_bytes (client, "a@x.test", refused, msg, NULL, &error);
        g_assert_null (result);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_REJECTED);
        g_assert_cmpstr (g_smtp_reply_get_enhanced_code (g_smtp_error_get_reply (error)), ==, "5.1.1");
        g_clear_error (&error);

        /* too big for the advertised SIZE: refused before anything is sent */
        {
                g_autofree char *huge = g_strnfill (200000, 'x');
                g_autoptr(GBytes) big = g_bytes_new (huge, 200000);

                result = g_smtp_client_send_bytes (client, "a@x.test", accepted, big, NULL, &error);
                g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_REJECTED);
                g_assert_nonnull (strstr (error->message, "exceeds"));
                g_clear_error (&error);
        }
        g_assert_true (g_smtp_client_quit (client, NULL, &error));
        g_assert_null (test_server_pop (ts, 50));
        test_server_free (ts);
}

static void
test_gmime_message (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("127.0.0.1", ts->port);
        g_autoptr(GMimeMessage) msg = g_mime_message_new (TRUE);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GError) error = NULL;
        GMimeTextPart *body = g_mime_text_part_new_with_subtype ("plain");
        GMimeMessage *got;

        g_test_summary ("A GMimeMessage: envelope from From/To/Cc/Bcc, a mailbox named twice once, Bcc never sent");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_FROM, "Ann", "ann@x.test");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_TO, "Bo", "bo@example.org");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_BCC, "Hidden", "hidden@example.org");
        /* named twice, the domain in another case, and quoted to no effect: one RCPT */
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_CC, "Bo again", "bo@EXAMPLE.org");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_CC, "Bo quoted", "\"bo\"@example.org");
        g_mime_message_set_subject (msg, "gmime", NULL);
        g_mime_text_part_set_text (body, "hello\n");
        g_mime_message_set_mime_part (msg, GMIME_OBJECT (body));
        g_object_unref (body);
        result = g_smtp_client_send_message (client, msg, NULL, NULL, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_recipients (result),
                          ((const char *[]) { "bo@example.org", "hidden@example.org", NULL }));
        env = test_server_pop (ts, 10000);
        g_assert_cmpstr (g_smtp_envelope_get_sender (env), ==, "ann@x.test");
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (env), ==, 2);
        got = g_smtp_envelope_get_message (env);
        g_assert_cmpstr (g_mime_message_get_subject (got), ==, "gmime");
        g_assert_null (g_mime_object_get_header (GMIME_OBJECT (got), "Bcc"));
        test_server_free (ts);
}

static void
test_cancelled (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("127.0.0.1", ts->port);
        g_autoptr(GCancellable) cancel = g_cancellable_new ();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        const char *rcpts[] = { "b@example.org", NULL };

        g_test_summary ("A cancelled send fails with G_IO_ERROR_CANCELLED and delivers nothing");
        g_cancellable_cancel (cancel);
        g_assert_null (g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, cancel, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_null (test_server_pop (ts, 100));
        test_server_free (ts);
}

static GSmtpReply *
drop_at_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        return g_smtp_reply_new (421, "4.3.0", "Going away");
}

static void
setup_drop (GSmtpServer *server, gpointer data)
{
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, drop_at_data, NULL, NULL);
}

static void
test_temporary_failure (void)
{
        TestServer *ts = test_server_new (setup_drop, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        const char *rcpts[] = { "b@example.org", NULL };

        g_test_summary ("A 4xx after DATA is GSMTP_ERROR_TEMPORARY quoting the reply (the one-call API)");
        g_assert_false (g_smtp_send_message ("127.0.0.1", ts->port, "a@x.test", rcpts, msg, NULL, &error));
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TEMPORARY);
        g_assert_nonnull (strstr (error->message, "421 4.3.0 Going away"));
        /* the reply itself travels with the error */
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_error_get_reply (error)), ==, 421);
        g_assert_cmpstr (g_smtp_reply_get_enhanced_code (g_smtp_error_get_reply (error)), ==, "4.3.0");
        g_assert_cmpstr (g_smtp_reply_get_text (g_smtp_error_get_reply (error)), ==, "Going away");
        test_server_free (ts);
}

static void
test_one_call_refused_recipient (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        const char *rcpts[] = { "b@example.org", "c@elsewhere.test", NULL };

        g_test_summary ("The one-call API fails when a recipient was refused, naming it and quoting its reply");
        g_assert_false (g_smtp_send_message ("127.0.0.1", ts->port, "a@x.test", rcpts, msg, NULL, &error));
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_REJECTED);
        g_assert_cmpstr (error->message, ==, "Recipient c@elsewhere.test refused: 550 5.7.1 Relay access denied");
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_error_get_reply (error)), ==, 550);
        g_assert_nonnull (g_smtp_error_get_send_result (error));
        g_assert_cmpstr (g_smtp_send_result_get_refused (g_smtp_error_get_send_result (error))[0], ==,
                         "c@elsewhere.test");
        test_server_free (ts);
}

static char *cert_file, *key_file, *tmpdir;

typedef struct {
        GCancellable *cancel;
        guint64       progress_calls;
        guint64       last_sent;
        guint64       total;
        gboolean      sent;
} Progress;

static void
on_progress (GSmtpClient *client, guint64 sent, guint64 total, gpointer data)
{
        Progress *p = data;

        g_assert_cmpuint (sent, >=, p->last_sent);
        p->progress_calls++;
        p->last_sent = sent;
        p->total = total;
        if (p->cancel != NULL && sent >= 128 * 1024)
                g_cancellable_cancel (p->cancel);
}

static void
on_message_sent (GSmtpClient *client, gpointer data)
{
        ((Progress *) data)->sent = TRUE;
}

static void
test_progress_and_cancel_mid_message (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("127.0.0.1", ts->port);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) big = g_string_new ("Subject: big\r\n\r\n");
        g_autoptr(GBytes) msg = NULL;
        const char *rcpts[] = { "b@example.org", NULL };
        Progress p = { 0 };

        g_test_summary ("Byte progress and message-sent signals; cancelling mid-message delivers nothing");
        while (big->len < 1024 * 1024)
                g_string_append (big, "0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n");
        msg = g_bytes_new (big->str, big->len);
        g_signal_connect (client, "progress", G_CALLBACK (on_progress), &p);
        g_signal_connect (client, "message-sent", G_CALLBACK (on_message_sent), &p);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_no_error (error);
        g_assert_true (p.sent);
        g_assert_cmpuint (p.last_sent, ==, big->len);
        g_assert_cmpuint (p.total, ==, big->len);
        g_assert_cmpuint (p.progress_calls, >=, 2);
        g_object_unref (test_server_pop (ts, 10000));

        /* now cancel once 128 KiB are out: the server must not accept half a message */
        g_clear_object (&result);
        memset (&p, 0, sizeof p);
        p.cancel = g_cancellable_new ();
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, p.cancel, &error);
        g_assert_null (result);
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_false (p.sent);
        g_assert_null (test_server_pop (ts, 300));
        g_object_unref (p.cancel);
        test_server_free (ts);
}

static GSmtpReply *
record_body (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        GHashTable *params = g_smtp_stage_get_parameters (stage);
        char **body = g_object_get_data (G_OBJECT (server), "body");

        g_free (*body);
        *body = g_strdup (params != NULL ? g_hash_table_lookup (params, "BODY") : NULL);
        return g_smtp_stage_accept_default (stage);
}

static char *seen_body;

static void
setup_record_body (GSmtpServer *server, gpointer data)
{
        g_object_set_data (G_OBJECT (server), "body", &seen_body);
        g_smtp_server_set_handler (server, GSMTP_STAGE_MAIL, record_body, NULL, NULL);
}

static void
test_8bitmime (void)
{
        TestServer *ts = test_server_new (setup_record_body, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("127.0.0.1", ts->port);
        g_autoptr(GError) error = NULL;
        const char *ascii = "Subject: plain\r\n\r\nx\r\n";
        const char *utf8 = "Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n";
        const char *rcpts[] = { "b@example.org", NULL };

        g_test_summary ("BODY=8BITMIME is declared for 8-bit data when the server offers 8BITMIME, and only then");
        for (int i = 0; i < 2; i++) {
                const char *text = i == 0 ? ascii : utf8;
                g_autoptr(GBytes) msg = g_bytes_new_static (text, strlen (text));
                g_autoptr(GSmtpSendResult) result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg,
                                                                              NULL, &error);
                g_autoptr(GSmtpEnvelope) env = NULL;

                g_assert_no_error (error);
                env = test_server_pop (ts, 10000);
                g_assert_nonnull (env);
                if (i == 0)
                        g_assert_null (seen_body);
                else
                        g_assert_cmpstr (seen_body, ==, "8BITMIME");
                g_assert_cmpmem (g_bytes_get_data (g_smtp_envelope_get_data (env), NULL),
                                 g_smtp_envelope_get_size (env), text, strlen (text));
        }
        g_clear_pointer (&seen_body, g_free);
        test_server_free (ts);
}

static void
test_given_stream (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GSocketClient) sc = g_socket_client_new ();
        g_autoptr(GSocketConnection) conn = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("Subject: own stream\r\n\r\nx\r\n", strlen ("Subject: own stream\r\n\r\nx\r\n"));
        g_autoptr(GSmtpEnvelope) env = NULL;
        const char *rcpts[] = { "b@example.org", NULL };

        g_test_summary ("Sending over a GIOStream the application connected itself (Racket's #:tcp-connect)");
        g_socket_client_set_enable_proxy (sc, FALSE);
        conn = g_socket_client_connect_to_host (sc, "127.0.0.1", ts->port, NULL, &error);
        g_assert_no_error (error);
        client = g_smtp_client_new_for_stream (G_IO_STREAM (conn), NULL);
        g_smtp_client_set_helo_name (client, "own.stream.test");
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_no_error (error);
        env = test_server_pop (ts, 10000);
        g_assert_cmpstr (g_smtp_peer_get_helo (g_smtp_envelope_get_peer (env)), ==, "own.stream.test");
        g_assert_nonnull (strstr (g_smtp_client_get_extensions (client)[0], "PIPELINING"));
        test_server_free (ts);
}

static guint16
free_port (void)
{
        g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;

        g_assert_true (g_socket_bind (sock, addr, TRUE, NULL));
        bound = g_socket_get_local_address (sock, NULL);
        return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* A Python peer from tests/peers: started with its stdin and stdout piped; it
 * says "listening on 127.0.0.1:PORT", then one JSON line per message, and ends
 * when its stdin closes (peer_stop). */
static GSubprocess *
peer_start (const char *const *argv, GDataInputStream **out, guint *port)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL;
        GSubprocess *peer = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                               G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);

        g_assert_no_error (error);
        *out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (peer));
        line = g_data_input_stream_read_line (*out, NULL, NULL, &error);
        g_assert_nonnull (line);
        g_assert_cmpint (sscanf (line, "listening on 127.0.0.1:%u", port), ==, 1);
        return peer;
}

static void
peer_stop (GSubprocess *peer)
{
        g_output_stream_close (g_subprocess_get_stdin_pipe (peer), NULL, NULL);
        g_subprocess_wait (peer, NULL, NULL);
}

static void
aiosmtpd_run (const char *mode)
{
        g_autofree char *script = g_build_filename (g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".",
                                                    "tests", "peers", "aiosmtpd-peer.py", NULL);
        g_autoptr(GSubprocess) peer = NULL;
        g_autoptr(GDataInputStream) out = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autofree char *json = NULL, *want = NULL, *sha = NULL;
        const char *msg = "Subject: to aiosmtpd\r\n\r\n.dot\r\nbody\r\n";
        g_autoptr(GBytes) data = g_bytes_new_static (msg, strlen (msg));
        const char *rcpts[] = { "b@example.org", NULL };
        guint port = 0;

        if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE) ||
            !g_spawn_command_line_sync ("/usr/bin/python3 -c 'import aiosmtpd'", NULL, NULL, NULL, NULL)) {
                g_test_skip ("python3-aiosmtpd is not installed");
                return;
        }
        {
                const char *argv[] = { "/usr/bin/python3", script, cert_file, key_file, mode, NULL };

                peer = peer_start (argv, &out, &port);
        }

        client = g_smtp_client_new ("localhost", port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        g_smtp_client_set_credentials (client, "user", "secret");
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (g_smtp_reply_get_text (g_smtp_send_result_get_reply (result)), ==, "queued by aiosmtpd");
        g_smtp_client_quit (client, NULL, NULL);
        json = g_data_input_stream_read_line (out, NULL, NULL, &error);
        g_assert_nonnull (json);
        sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, msg, -1);
        want = g_strdup_printf ("\"sha256\": \"%s\"", sha);
        g_assert_nonnull (strstr (json, want));
        g_assert_nonnull (strstr (json, "\"tls\": true"));
        g_assert_nonnull (strstr (json, "\"user\": \"user\""));
        peer_stop (peer);
}

static void
test_aiosmtpd (void)
{
        g_test_summary ("Python's aiosmtpd (not ours): STARTTLS verified, AUTH PLAIN, exact bytes");
        aiosmtpd_run ("plain-and-login");
}

static void
test_aiosmtpd_login (void)
{
        g_test_summary ("aiosmtpd offering AUTH LOGIN alone: the client picks LOGIN");
        aiosmtpd_run ("login-only");
}

static void
test_helo_fallback (void)
{
        g_autofree char *script = g_build_filename (g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".",
                                                    "tests", "peers", "helo-only-peer.py", NULL);
        g_autofree char *python = test_find_program ("python3");
        g_autoptr(GSubprocess) peer = NULL;
        g_autoptr(GDataInputStream) out = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autofree char *json = NULL, *sha = NULL;
        const char *msg = "Subject: old\r\n\r\n.dot\r\n";
        g_autoptr(GBytes) data = g_bytes_new_static (msg, strlen (msg));
        const char *rcpts[] = { "nobody@example.org", "b@example.org", NULL };
        guint port = 0;

        g_test_summary ("A server that refuses EHLO: HELO fallback, one command at a time, one recipient refused");
        if (python == NULL) {
                g_test_skip ("python3 not installed");
                return;
        }
        {
                const char *argv[] = { python, script, NULL };

                peer = peer_start (argv, &out, &port);
        }
        client = g_smtp_client_new ("127.0.0.1", port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (g_smtp_send_result_get_refused (result)[0], ==, "nobody@example.org");
        g_assert_cmpstr (g_smtp_send_result_get_accepted (result)[0], ==, "b@example.org");
        g_assert_null (g_smtp_client_get_extensions (client)[0]);
        json = g_data_input_stream_read_line (out, NULL, NULL, &error);
        sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, msg, -1);
        g_assert_nonnull (strstr (json, sha));
        g_assert_true (g_smtp_client_quit (client, NULL, &error));
        peer_stop (peer);
}

/* Postfix's smtp-sink, run by itself (the Postfix daemon is never started), with
 * @extra arguments (its fault injection: -Q, -w, -L...). */
static GSubprocess *
sink_start (const char *dir, const char *const *extra, guint16 *port)
{
        g_autofree char *listen = NULL, *dump = NULL;
        GPtrArray *argv = g_ptr_array_new ();
        GSubprocess *sink;
        g_autoptr(GError) error = NULL;

        *port = free_port ();
        listen = g_strdup_printf ("127.0.0.1:%u", *port);
        dump = g_strdup_printf ("%s/%%M.", dir);
        g_ptr_array_add (argv, "/usr/sbin/smtp-sink");
        if (geteuid () == 0) {
                g_ptr_array_add (argv, "-u");
                g_ptr_array_add (argv, "nobody");
        }
        g_ptr_array_add (argv, "-d");
        g_ptr_array_add (argv, dump);
        for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
                g_ptr_array_add (argv, (char *) extra[i]);
        g_ptr_array_add (argv, listen);
        g_ptr_array_add (argv, "10");
        g_ptr_array_add (argv, NULL);
        /* silent: a failed test must not leave it holding the test driver's pipes */
        sink = g_subprocess_newv ((const char *const *) argv->pdata,
                                  G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
        g_ptr_array_unref (argv);
        g_assert_no_error (error);
        /* wait until it accepts connections, boundedly */
        for (int i = 0; i < 200; i++) {
                g_autoptr(GSocketClient) sc = g_socket_client_new ();
                g_autoptr(GSocketConnection) c = NULL;

                g_socket_client_set_enable_proxy (sc, FALSE);
                c = g_socket_client_connect_to_host (sc, "127.0.0.1", *port, NULL, NULL);
                if (c != NULL)
                        break;
                g_usleep (10000);
        }
        return sink;
}

static void
sink_stop (GSubprocess *sink)
{
        g_subprocess_force_exit (sink);
        g_subprocess_wait (sink, NULL, NULL);
        g_object_unref (sink);
}

/* The dump file of the transaction whose message holds @marker, written when the
 * transaction ends: waited for, boundedly. */
static char *
sink_dump (const char *dir, const char *marker)
{
        for (int i = 0; i < 200; i++) {
                g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
                const char *name;

                while ((name = g_dir_read_name (d)) != NULL) {
                        g_autofree char *path = g_build_filename (dir, name, NULL);
                        char *dump = NULL;

                        if (g_file_get_contents (path, &dump, NULL, NULL) && strstr (dump, marker) != NULL)
                                return dump;
                        g_free (dump);
                }
                g_usleep (10000);
        }
        return NULL;
}

static void
sink_dir_remove (char *dir)
{
        g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
        const char *name;

        while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
                g_autofree char *p = g_build_filename (dir, name, NULL);

                g_unlink (p);
        }
        g_rmdir (dir);
        g_free (dir);
}

static char *
sink_dir_new (void)
{
        g_autoptr(GError) error = NULL;
        char *dir = g_dir_make_tmp ("gsmtp-sink-XXXXXX", &error);

        g_assert_no_error (error);
        g_chmod (dir, 0777);
        return dir;
}

#define SKIP_WITHOUT_SINK()                                                     \
        G_STMT_START {                                                          \
                if (!g_file_test ("/usr/sbin/smtp-sink", G_FILE_TEST_IS_EXECUTABLE)) { \
                        g_test_skip ("postfix's smtp-sink is not installed");   \
                        return;                                                 \
                }                                                               \
        } G_STMT_END

static void
test_smtp_sink (void)
{
        char *dir = NULL;
        GSubprocess *sink = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *dump = NULL;
        const char *msg = "Subject: to smtp-sink\r\n\r\n.\r\n..two\r\nend\r\n";
        g_autoptr(GBytes) data = g_bytes_new_static (msg, strlen (msg));
        const char *rcpts[] = { "b@example.org", "c@example.org", NULL };
        const char *drop_at_dot[] = { "-Q", ".", NULL };
        guint16 port;

        g_test_summary ("Postfix's smtp-sink: pipelined transaction; a lone '.' line and '..' arrive unstuffed; "
                        "-Q . (421 at the end of data) is a 421 error");
        SKIP_WITHOUT_SINK ();
        dir = sink_dir_new ();
        sink = sink_start (dir, NULL, &port);
        client = g_smtp_client_new ("127.0.0.1", port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), rcpts);
        g_assert_true (g_smtp_client_quit (client, NULL, &error));
        dump = sink_dump (dir, "end");
        g_assert_nonnull (dump);
        g_assert_nonnull (strstr (dump, "X-Rcpt-Args: <c@example.org>"));
        g_assert_nonnull (strstr (dump, "Subject: to smtp-sink\n\n.\n..two\nend\n"));
        sink_stop (sink);

        /* a server that says 421 and drops the connection at the end of data */
        g_clear_object (&client);
        g_clear_object (&result);
        sink = sink_start (dir, drop_at_dot, &port);
        client = g_smtp_client_new ("127.0.0.1", port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_null (result);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TEMPORARY);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_error_get_reply (error)), ==, 421);
        sink_stop (sink);
        sink_dir_remove (dir);
}

static void
test_smtp_sink_421 (void)
{
        const char *commands[] = { "MAIL", "RCPT", "DATA" };
        const char *rcpts[] = { "b@example.org", "c@example.org", NULL };
        g_autoptr(GBytes) data = g_bytes_new_static ("x\r\n", 3);
        char *dir;

        g_test_summary ("smtp-sink -Q: 421 to MAIL, a pipelined RCPT or DATA is reported as 421, never as a "
                        "closed connection; the next send reconnects");
        g_test_bug ("12");
        SKIP_WITHOUT_SINK ();
        dir = sink_dir_new ();
        for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
                const char *extra[] = { "-Q", commands[i], NULL };
                g_autoptr(GSmtpClient) client = NULL;
                g_autoptr(GError) error = NULL;
                g_autoptr(GSmtpSendResult) result = NULL;
                GSubprocess *sink;
                guint16 port;

                sink = sink_start (dir, extra, &port);
                client = g_smtp_client_new ("127.0.0.1", port);
                for (int attempt = 0; attempt < 2; attempt++) {
                        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
                        g_assert_null (result);
                        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TEMPORARY);
                        g_assert_nonnull (strstr (error->message, "421 4.0.0"));
                        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_error_get_reply (error)), ==, 421);
                        g_clear_error (&error);
                }
                sink_stop (sink);
        }
        sink_dir_remove (dir);
}

static void
test_smtp_sink_refusals (void)
{
        const char *soft_rcpt[] = { "-r", "RCPT", NULL };
        const char *hard_mail[] = { "-f", "MAIL", NULL };
        const char *rcpts[] = { "b@example.org", "c@example.org", NULL };
        g_autoptr(GBytes) data = g_bytes_new_static ("x\r\n", 3);
        char *dir;

        g_test_summary ("smtp-sink -r RCPT (4xx, no PIPELINING): every refusal kept, TEMPORARY; -f MAIL (5xx): "
                        "REJECTED; the same again on the next try");
        g_test_bug ("12");
        SKIP_WITHOUT_SINK ();
        dir = sink_dir_new ();
        for (guint i = 0; i < 2; i++) {
                g_autoptr(GSmtpClient) client = NULL;
                GSubprocess *sink;
                guint16 port;

                sink = sink_start (dir, i == 0 ? soft_rcpt : hard_mail, &port);
                client = g_smtp_client_new ("127.0.0.1", port);
                for (int attempt = 0; attempt < 2; attempt++) {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GSmtpSendResult) result = NULL;
                        GSmtpSendResult *partial;

                        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
                        g_assert_null (result);
                        if (i == 0) {
                                g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TEMPORARY);
                                partial = g_smtp_error_get_send_result (error);
                                g_assert_nonnull (partial);
                                g_assert_cmpstrv (g_smtp_send_result_get_refused (partial), rcpts);
                                g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (
                                                          partial, "c@example.org")), ==, 450);
                        } else {
                                g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_REJECTED);
                                g_assert_nonnull (strstr (error->message, "MAIL FROM refused: 500"));
                                g_assert_null (g_smtp_error_get_send_result (error));
                        }
                }
                g_assert_true (g_smtp_client_quit (client, NULL, NULL));
                sink_stop (sink);
        }
        sink_dir_remove (dir);
}

static void
test_smtp_sink_slow_data (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        const char *slow[] = { "-w", "2", NULL };
        g_autoptr(GBytes) data = g_bytes_new_static ("x\r\n", 3);
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        GSubprocess *sink;
        guint16 port;
        char *dir;

        g_test_summary ("smtp-sink -w 2 (DATA answered after 2 s): a 1 s timeout fails the send and drops the "
                        "connection; with 10 s the next send works on a new one, its replies in step");
        g_test_bug ("12");
        SKIP_WITHOUT_SINK ();
        dir = sink_dir_new ();
        sink = sink_start (dir, slow, &port);
        client = g_smtp_client_new ("127.0.0.1", port);
        g_smtp_client_set_timeout (client, 1);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
        g_assert_nonnull (strstr (error->message, "(timeout;"));
        g_clear_error (&error);
        g_smtp_client_set_timeout (client, 10);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_reply (result)), ==, 250);
        sink_stop (sink);
        sink_dir_remove (dir);
}

static void
test_smtp_sink_lmtp_dsn (void)
{
        const char *rcpts[] = { "b@example.org", "c@example.org", NULL };
        const char *lmtp[] = { "-L", NULL };
        const char *msg = "Subject: lmtp dsn\r\n\r\nbody\r\n";
        g_autoptr(GBytes) data = g_bytes_new_static (msg, strlen (msg));
        g_autoptr(GSmtpSendOptions) options = g_smtp_send_options_new ();
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *dump = NULL;
        GSubprocess *sink;
        guint16 port;
        char *dir;

        g_test_summary ("smtp-sink -L: LMTP with one reply per recipient after the data; DSN parameters as "
                        "smtp-sink records them");
        SKIP_WITHOUT_SINK ();
        g_smtp_send_options_set_dsn_return (options, GSMTP_DSN_RET_HDRS);
        g_assert_true (g_smtp_send_options_set_dsn_envid (options, "env id", &error));
        g_smtp_send_options_set_dsn_notify (options, GSMTP_DSN_NOTIFY_FAILURE | GSMTP_DSN_NOTIFY_DELAY);
        g_assert_true (g_smtp_send_options_set_original_recipient (options, "c@example.org", "c+1@example.org",
                                                                  &error));
        dir = sink_dir_new ();
        sink = sink_start (dir, lmtp, &port);
        client = g_smtp_client_new ("127.0.0.1", port);
        g_smtp_client_set_lmtp (client, TRUE);
        result = g_smtp_client_send_bytes_full (client, "a@x.test", rcpts, data, options, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), rcpts);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (result, "c@example.org")),
                          ==, 250);
        g_smtp_client_quit (client, NULL, NULL);
        dump = sink_dump (dir, "lmtp dsn");
        g_assert_nonnull (dump);
        g_assert_nonnull (strstr (dump, "X-Client-Proto: LMTP"));
        g_assert_nonnull (strstr (dump, "X-Mail-Args: <a@x.test> RET=HDRS ENVID=env+20id"));
        g_assert_nonnull (strstr (dump, "X-Rcpt-Args: <b@example.org> NOTIFY=FAILURE,DELAY"));
        g_assert_nonnull (strstr (dump, "X-Rcpt-Args: <c@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;c+2B1@example.org"));
        sink_stop (sink);
        sink_dir_remove (dir);
}

static void
test_gmime_resent (void)
{
        const char *text = "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nResent-From: fwd@x.test\r\n"
                           "Resent-To: new@example.org\r\nResent-Bcc: quiet@example.org\r\n"
                           "From: ann@x.test\r\nTo: bo@example.org\r\nSubject: resent\r\n\r\nbody\r\n";
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("127.0.0.1", ts->port);
        g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer (text, strlen (text));
        g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream (stream);
        g_autoptr(GMimeMessage) msg = g_mime_parser_construct_message (parser, NULL);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GError) error = NULL;
        GBytes *data;

        g_test_summary ("A resent message goes to its Resent- recipients, from Resent-From; Resent-Bcc never sent");
        g_test_bug ("12");
        result = g_smtp_client_send_message (client, msg, NULL, NULL, NULL, &error);
        g_assert_no_error (error);
        env = test_server_pop (ts, 10000);
        g_assert_cmpstr (g_smtp_envelope_get_sender (env), ==, "fwd@x.test");
        g_assert_cmpstrv (g_smtp_envelope_get_recipients (env),
                          ((const char *[]) { "new@example.org", "quiet@example.org", NULL }));
        data = g_smtp_envelope_get_data (env);
        g_assert_null (g_strstr_len (g_bytes_get_data (data, NULL), g_bytes_get_size (data), "quiet"));
        test_server_free (ts);
}

static void
test_aiosmtpd_lmtp (void)
{
        g_autoptr(GSubprocess) peer = NULL;
        g_autoptr(GDataInputStream) out = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        const char *msg = "Subject: lmtp\r\n\r\nx\r\n";
        g_autoptr(GBytes) data = g_bytes_new_static (msg, strlen (msg));
        g_autofree char *script = g_build_filename (g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".",
                                                    "tests", "peers", "aiosmtpd-peer.py", NULL);
        g_autofree char *json = NULL;
        const char *rcpts[] = { "a@example.org", "full@example.org", NULL };
        guint port = 0;

        g_test_summary ("aiosmtpd's LMTP server: LHLO, and its reply for each recipient after the data in the result");
        if (!g_spawn_command_line_sync ("/usr/bin/python3 -c 'import aiosmtpd'", NULL, NULL, NULL, NULL)) {
                g_test_skip ("python3-aiosmtpd is not installed");
                return;
        }
        {
                const char *argv[] = { "/usr/bin/python3", script, cert_file, key_file, "lmtp", NULL };

                peer = peer_start (argv, &out, &port);
        }
        client = g_smtp_client_new ("127.0.0.1", port);
        g_object_set (client, "lmtp", TRUE, NULL);
        result = g_smtp_client_send_bytes (client, "s@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), ((const char *[]) { "a@example.org", NULL }));
        g_assert_cmpstrv (g_smtp_send_result_get_refused (result), ((const char *[]) { "full@example.org", NULL }));
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (result, "full@example.org")),
                          ==, 452);
        json = g_data_input_stream_read_line (out, NULL, NULL, &error);
        g_assert_nonnull (strstr (json, "\"recipients\": [\"a@example.org\", \"full@example.org\"]"));
        peer_stop (peer);
}

static void
test_aiosmtpd_smtputf8 (void)
{
        g_autoptr(GSubprocess) peer = NULL;
        g_autoptr(GDataInputStream) out = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        const char *msg = "Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n";
        g_autoptr(GBytes) data = g_bytes_new_static (msg, strlen (msg));
        g_autofree char *script = g_build_filename (g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".",
                                                    "tests", "peers", "aiosmtpd-peer.py", NULL);
        g_autofree char *json = NULL;
        const char *rcpts[] = { "\xc3\xbc\xc3\xb1\xc3\xaf@example.org", NULL };
        guint port = 0;

        g_test_summary ("aiosmtpd with SMTPUTF8: UTF-8 addresses go out with the SMTPUTF8 parameter");
        if (!g_spawn_command_line_sync ("/usr/bin/python3 -c 'import aiosmtpd'", NULL, NULL, NULL, NULL)) {
                g_test_skip ("python3-aiosmtpd is not installed");
                return;
        }
        {
                const char *argv[] = { "/usr/bin/python3", script, cert_file, key_file, NULL };

                peer = peer_start (argv, &out, &port);
        }
        client = g_smtp_client_new ("127.0.0.1", port);
        result = g_smtp_client_send_bytes (client, "j\xc3\xb8rn@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        json = g_data_input_stream_read_line (out, NULL, NULL, &error);
        g_assert_nonnull (strstr (json, "\"smtputf8\": true"));
        g_assert_nonnull (strstr (json, "\"sender\": \"j\xc3\xb8rn@x.test\""));
        g_assert_nonnull (strstr (json, "\xc3\xbc\xc3\xb1\xc3\xaf@example.org"));
        g_assert_nonnull (strstr (json, "BODY=8BITMIME"));
        peer_stop (peer);
}

static void
test_dump_mail (void)
{
        g_autofree char *dump_mail = g_build_filename (g_getenv ("GSMTP_BUILDDIR") ? g_getenv ("GSMTP_BUILDDIR") : ".",
                                                       "examples", "dump-mail", NULL);
        const char *text = "Subject: to dump-mail\n\n.dot\nbare lf\rbare cr\nno end";
        const char *wire = "Subject: to dump-mail\r\n\r\n.dot\r\nbare lf\r\nbare cr\r\nno end\r\n";
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GBytes) data = g_bytes_new_static (text, strlen (text));
        g_autoptr(GSubprocess) server = NULL;
        g_autoptr(GDataInputStream) err = NULL, out = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL, *json = NULL, *sha = NULL, *want_sha = NULL, *want_size = NULL;
        guint port = 0;

        g_test_summary ("examples/dump-mail as the peer: the bytes it stores are the wire form, of the size declared");
        server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                                   dump_mail, "--listen", "127.0.0.1:0", "--domain", "example.org", "--json", NULL);
        g_assert_no_error (error);
        err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (server));
        out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
        line = g_data_input_stream_read_line (err, NULL, NULL, &error);
        g_assert_nonnull (line);
        g_assert_cmpint (sscanf (line, "listening on 127.0.0.1:%u", &port), ==, 1);
        client = g_smtp_client_new ("127.0.0.1", port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (g_smtp_send_result_get_size (result), ==, strlen (wire));
        g_assert_true (g_smtp_client_quit (client, NULL, &error));
        json = g_data_input_stream_read_line (out, NULL, NULL, &error);
        g_assert_nonnull (json);
        want_sha = g_strdup_printf ("\"sha256\":\"%s\"", sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, wire, -1));
        want_size = g_strdup_printf ("\"size\":%zu", strlen (wire));
        g_assert_nonnull (strstr (json, want_sha));
        g_assert_nonnull (strstr (json, want_size));
        g_subprocess_send_signal (server, SIGTERM);
        g_subprocess_wait (server, NULL, NULL);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        g_test_add_func ("/client/refused-and-dots", test_refused_and_dots);
        g_test_add_func ("/client/gmime-message", test_gmime_message);
        g_test_add_func ("/client/cancelled", test_cancelled);
        g_test_add_func ("/client/temporary-failure", test_temporary_failure);
        g_test_add_func ("/client/one-call-refused-recipient", test_one_call_refused_recipient);
        g_test_add_func ("/client/progress-and-cancel", test_progress_and_cancel_mid_message);
        g_test_add_func ("/client/given-stream", test_given_stream);
        g_test_add_func ("/client/8bitmime", test_8bitmime);
        g_test_add_func ("/client/aiosmtpd", test_aiosmtpd);
        g_test_add_func ("/client/aiosmtpd-login", test_aiosmtpd_login);
        g_test_add_func ("/client/smtp-sink", test_smtp_sink);
        g_test_add_func ("/client/smtp-sink-421", test_smtp_sink_421);
        g_test_add_func ("/client/smtp-sink-refusals", test_smtp_sink_refusals);
        g_test_add_func ("/client/smtp-sink-slow-data", test_smtp_sink_slow_data);
        g_test_add_func ("/client/smtp-sink-lmtp-dsn", test_smtp_sink_lmtp_dsn);
        g_test_add_func ("/client/gmime-resent", test_gmime_resent);
        g_test_add_func ("/client/aiosmtpd-lmtp", test_aiosmtpd_lmtp);
        g_test_add_func ("/client/aiosmtpd-smtputf8", test_aiosmtpd_smtputf8);
        g_test_add_func ("/client/dump-mail", test_dump_mail);
        g_test_add_func ("/client/helo-fallback", test_helo_fallback);
        tmpdir = g_dir_make_tmp ("gsmtp-client-XXXXXX", NULL);
        if (!test_make_certificate (tmpdir, &cert_file, &key_file))
                g_error ("cannot make a test certificate (openssl missing?)");
        {
                int ret = g_test_run ();

                g_unlink (cert_file);
                g_unlink (key_file);
                g_rmdir (tmpdir);
                g_free (cert_file);
                g_free (key_file);
                g_free (tmpdir);
                return ret;
        }
}

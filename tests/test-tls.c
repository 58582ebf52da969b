/* test-tls.c — STARTTLS, implicit TLS, AUTH over TLS, and the attacks on them,
 * with certificates made at test time and real TLS clients. */
#include "config.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

static char *cert_file, *key_file, *tmpdir;

static gboolean
accept_any (GTlsConnection *conn, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
        return TRUE;
}

/* After the server's 220 to STARTTLS: the client side of the handshake, over
 * the line client's socket, trusting any server certificate and presenting
 * @client_cert when given. */
static GIOStream *
tls_handshake (LineClient *lc, GTlsCertificate *client_cert)
{
        g_autoptr(GError) error = NULL;
        GIOStream *tls = g_tls_client_connection_new (G_IO_STREAM (lc->conn), NULL, &error);

        g_assert_no_error (error);
        if (client_cert != NULL)
                g_tls_connection_set_certificate (G_TLS_CONNECTION (tls), client_cert);
        g_signal_connect (tls, "accept-certificate", G_CALLBACK (accept_any), NULL);
        g_assert_true (g_tls_connection_handshake (G_TLS_CONNECTION (tls), NULL, &error));
        g_assert_no_error (error);
        return tls;
}

static void
setup_tls (GSmtpServer *server, gpointer data)
{
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_server_set_tls_files (server, cert_file, key_file, &error));
        g_smtp_server_set_handler (server, GSMTP_STAGE_AUTH, test_auth_user_secret, NULL, NULL);
        if (data != NULL)
                g_object_set (server, "require-tls", TRUE, NULL);
}


static void
test_starttls_client (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("localhost", ts->port);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("Subject: tls\r\n\r\nsecret\r\n", strlen ("Subject: tls\r\n\r\nsecret\r\n"));
        const char *rcpts[] = { "b@example.org", "x@elsewhere.test", NULL };
        GSmtpPeer *peer;

        g_test_summary ("gsmtp's client: STARTTLS verified against a CA file, AUTH PLAIN, relay once authenticated");
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        g_smtp_client_set_credentials (client, "user", "secret");
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), rcpts);
        g_smtp_client_quit (client, NULL, NULL);
        env = test_server_pop (ts, 10000);
        peer = g_smtp_envelope_get_peer (env);
        g_assert_true (g_smtp_peer_get_tls (peer));
        g_assert_cmpstr (g_smtp_peer_get_username (peer), ==, "user");
        g_assert_cmpstr (g_smtp_peer_get_protocol (peer), ==, "ESMTPSA");
        g_assert_nonnull (g_smtp_peer_get_tls_version (peer));
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (env), "with ESMTPSA ("));
        test_server_free (ts);
}

static void
test_opportunistic (void)
{
        TestServer *tls_server = test_server_new (setup_tls, NULL);
        TestServer *plain_server = test_server_new (NULL, NULL);
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        const char *rcpts[] = { "b@example.org", NULL };
        TestServer *servers[] = { tls_server, plain_server };

        g_test_summary ("Opportunistic STARTTLS: encrypted where offered, plain where not; required STARTTLS fails where not offered");
        for (guint i = 0; i < 2; i++) {
                g_autoptr(GSmtpClient) client = g_smtp_client_new ("localhost", servers[i]->port);
                g_autoptr(GSmtpSendResult) result = NULL;
                g_autoptr(GSmtpEnvelope) env = NULL;
                g_autoptr(GError) error = NULL;

                g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS_OPPORTUNISTIC);
                g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
                result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
                g_assert_no_error (error);
                env = test_server_pop (servers[i], 10000);
                g_assert_cmpint (g_smtp_peer_get_tls (g_smtp_envelope_get_peer (env)), ==, i == 0);
        }
        {
                g_autoptr(GSmtpClient) client = g_smtp_client_new ("localhost", plain_server->port);
                g_autoptr(GError) error = NULL;

                g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
                g_assert_false (g_smtp_client_connect (client, NULL, &error));
                g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TLS_REQUIRED);
        }
        test_server_free (tls_server);
        test_server_free (plain_server);
}

static void
test_wrong_password (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("localhost", ts->port);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        const char *rcpts[] = { "b@example.org", NULL };

        g_test_summary ("Wrong credentials: 535 5.7.8, reported as GSMTP_ERROR_AUTH_FAILED; unverified server refused");
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_null (result);
        g_assert_nonnull (error);       /* self-signed and no CA file: verification fails */
        g_clear_error (&error);
        g_smtp_client_set_insecure (client, TRUE);
        g_smtp_client_set_credentials (client, "user", "wrong");
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED);
        g_assert_nonnull (strstr (error->message, "535 5.7.8"));
        test_server_free (ts);
}

static void
test_implicit_tls (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GError) error = NULL;
        guint16 port = 0;

        g_test_summary ("An implicit TLS listener needs a certificate");
        g_assert_false (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_IMPLICIT_TLS, &port, &error));
        /* a configuration mistake, not a peer's refusal */
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

typedef struct {
        GMainLoop *loop;
        GSmtpEnvelope *env;
} ImplicitRun;

static GSmtpReply *
implicit_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        ImplicitRun *run = data;

        run->env = g_object_ref (g_smtp_stage_get_envelope (stage));
        return g_smtp_reply_new_code (250);
}

static void
implicit_sent (GObject *source, GAsyncResult *res, gpointer data)
{
        ImplicitRun *run = data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = g_smtp_client_send_finish (GSMTP_CLIENT (source), res, &error);

        g_assert_no_error (error);
        g_assert_nonnull (result);
        g_main_loop_quit (run->loop);
}

static void
test_implicit_tls_async (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("Subject: 465\r\n\r\nx\r\n", strlen ("Subject: 465\r\n\r\nx\r\n"));
        const char *rcpts[] = { "b@example.org", NULL };
        ImplicitRun run = { 0 };
        guint16 port = 0;

        g_test_summary ("Implicit TLS (RFC 8314) with the async client in the same main loop");
        g_assert_true (g_smtp_server_set_tls_files (server, cert_file, key_file, &error));
        g_smtp_server_add_domain (server, "example.org");
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, implicit_data, &run, NULL);
        g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_IMPLICIT_TLS, &port, &error));
        client = g_smtp_client_new ("localhost", port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_IMPLICIT);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        run.loop = g_main_loop_new (NULL, FALSE);
        g_smtp_client_send_bytes_async (client, "a@x.test", rcpts, msg, NULL, implicit_sent, &run);
        g_main_loop_run (run.loop);
        g_assert_nonnull (run.env);
        g_assert_true (g_smtp_peer_get_tls (g_smtp_envelope_get_peer (run.env)));
        g_clear_object (&run.env);
        g_main_loop_unref (run.loop);
}

static void
test_starttls_injection (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GIOStream) tls = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDataInputStream) in = NULL;
        g_autofree char *line = NULL;

        g_test_summary ("CVE-2011-0411 class: commands pipelined after STARTTLS in cleartext are never run");
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO c.test", "250 ");
        /* both in one write: the RSET and QUIT must be thrown away */
        line_client_send (lc, "STARTTLS\r\nRSET\r\nQUIT");
        line_client_expect (lc, "220 2.0.0");
        tls = tls_handshake (lc, NULL);
        g_output_stream_write_all (g_io_stream_get_output_stream (tls), "EHLO c.test\r\n", 13, NULL, NULL, &error);
        in = g_data_input_stream_new (g_io_stream_get_input_stream (tls));
        line = g_data_input_stream_read_line (in, NULL, NULL, &error);
        g_assert_nonnull (line);
        /* the first reply after the handshake is the EHLO's, not RSET's 250 or QUIT's 221 */
        g_assert_true (g_str_has_prefix (line, "250-mx.example.org"));
        while (g_str_has_prefix (line, "250-")) {
                g_free (line);
                line = g_data_input_stream_read_line (in, NULL, NULL, &error);
        }
        g_assert_null (strstr (line, "STARTTLS"));
        g_output_stream_write_all (g_io_stream_get_output_stream (tls), "STARTTLS\r\n", 10, NULL, NULL, &error);
        g_free (line);
        line = g_data_input_stream_read_line (in, NULL, NULL, &error);
        g_assert_true (g_str_has_prefix (line, "503 5.5.1"));

        line_client_free (lc);
        test_server_free (ts);
}

static void
test_client_certificate (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GTlsCertificate) mine = NULL;
        g_autoptr(GIOStream) tls = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDataInputStream) in = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        const char *script = "EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
        GTlsCertificate *seen;
        int replies = 0;

        g_test_summary ("A client certificate presented in the handshake is visible to the application");
        mine = g_tls_certificate_new_from_files (cert_file, key_file, &error);
        g_assert_no_error (error);
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO c.test", "250 ");
        line_client_chat (lc, "STARTTLS", "220 ");
        tls = tls_handshake (lc, mine);
        in = g_data_input_stream_new (g_io_stream_get_input_stream (tls));
        g_output_stream_write_all (g_io_stream_get_output_stream (tls), script, strlen (script), NULL, NULL, &error);
        /* the EHLO reply's lines, 250, 250, then 354 */
        while (replies < 4) {
                g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);

                g_assert_nonnull (line);
                if (line[3] == ' ')
                        replies++;
        }
        {
                const char *body = "Subject: cert\r\n\r\n.\r\n";

                g_output_stream_write_all (g_io_stream_get_output_stream (tls), body, strlen (body),
                                           NULL, NULL, &error);
        }
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        seen = g_smtp_peer_get_tls_certificate (g_smtp_envelope_get_peer (env));
        g_assert_nonnull (seen);
        g_assert_true (g_tls_certificate_is_same (seen, mine));
        line_client_free (lc);
        test_server_free (ts);
}

static void
test_starttls_forgets (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GIOStream) tls = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDataInputStream) in = NULL;
        g_autofree char *line = NULL;

        g_test_summary ("RFC 3207 4.2: after the handshake the client must greet again");
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO c.test", "250 ");
        line_client_chat (lc, "STARTTLS", "220 2.0.0");
        tls = tls_handshake (lc, NULL);
        in = g_data_input_stream_new (g_io_stream_get_input_stream (tls));
        g_output_stream_write_all (g_io_stream_get_output_stream (tls), "MAIL FROM:<a@x.test>\r\n", 22,
                                   NULL, NULL, &error);
        line = g_data_input_stream_read_line (in, NULL, NULL, &error);
        g_assert_cmpstr (line, ==, "503 5.5.1 Send HELO/EHLO first\r");
        line_client_free (lc);
        test_server_free (ts);
}

static void
setup_tls_insecure_auth (GSmtpServer *server, gpointer data)
{
        setup_tls (server, NULL);
        g_object_set (server, "allow-insecure-auth", TRUE, NULL);
}

static char *
tls_chat (GIOStream *tls, GDataInputStream *in, const char *line)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *wire = g_strconcat (line, "\r\n", NULL);
        char *reply = NULL;

        g_output_stream_write_all (g_io_stream_get_output_stream (tls), wire, strlen (wire), NULL, NULL, &error);
        g_assert_no_error (error);
        /* the last line of the reply */
        for (;;) {
                g_free (reply);
                reply = g_data_input_stream_read_line (in, NULL, NULL, &error);
                g_assert_nonnull (reply);
                if (strlen (reply) < 4 || reply[3] != '-')
                        return reply;
        }
}

static void
test_starttls_forgets_auth (void)
{
        TestServer *ts = test_server_new (setup_tls_insecure_auth, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autofree char *plain = g_base64_encode ((const guchar *) "\0user\0secret", 12);
        g_autofree char *auth = g_strdup_printf ("AUTH PLAIN %s", plain);
        g_autoptr(GIOStream) tls = NULL;
        g_autoptr(GDataInputStream) in = NULL;
        g_autofree char *reply = NULL;

        g_test_summary ("RFC 3207 4.2: an AUTH done in cleartext is forgotten after STARTTLS: a man in the "
                        "middle's AUTH cannot be credited to the encrypted session");
        g_test_bug ("10");
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO c.test", "250 ");
        line_client_chat (lc, auth, "235 ");
        line_client_chat (lc, "STARTTLS", "220 2.0.0");
        tls = tls_handshake (lc, NULL);
        in = g_data_input_stream_new (g_io_stream_get_input_stream (tls));
        g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
        reply = tls_chat (tls, in, "EHLO c.test");
        g_assert_cmpstr (reply, ==, "250 AUTH PLAIN LOGIN");
        g_free (reply);
        reply = tls_chat (tls, in, "MAIL FROM:<user@example.org>");
        g_assert_true (g_str_has_prefix (reply, "250 "));
        g_free (reply);
        /* not authenticated any more: relaying is refused */
        reply = tls_chat (tls, in, "RCPT TO:<x@elsewhere.test>");
        g_assert_true (g_str_has_prefix (reply, "550 5.7.1"));
        g_free (reply);
        reply = tls_chat (tls, in, "RSET");
        g_free (reply);
        /* and AUTH over TLS works: the cleartext one did not count */
        reply = tls_chat (tls, in, auth);
        g_assert_true (g_str_has_prefix (reply, "235 "));
        line_client_free (lc);
        test_server_free (ts);
}

static void
test_require_tls (void)
{
        TestServer *ts = test_server_new (setup_tls, GINT_TO_POINTER (1));
        LineClient *lc = line_client_new (ts->port);

        g_test_summary ("require-tls: MAIL before STARTTLS gets 530 5.7.0; AUTH without TLS gets 538");
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO c.test", "250 ");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "530 5.7.0");
        line_client_chat (lc, "AUTH PLAIN AHVzZXIAc2VjcmV0", "530 5.7.0");
        line_client_free (lc);
        test_server_free (ts);
}

static void
test_python_ssl (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        g_autofree char *python = test_find_program ("python3");
        g_autofree char *script = NULL, *port = NULL, *err = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        int status;

        g_test_summary ("Python's ssl + smtplib: STARTTLS and AUTH LOGIN against the server");
        if (python == NULL) {
                g_test_skip ("python3 not installed");
                test_server_free (ts);
                return;
        }
        port = g_strdup_printf ("%u", ts->port);
        script = g_strdup ("import smtplib, ssl, sys\n"
                           "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
                           "s = smtplib.SMTP('localhost', int(sys.argv[1]), timeout=20)\n"
                           "s.ehlo()\n"
                           "assert not s.has_extn('auth')\n"
                           "s.starttls(context=ctx)\n"
                           "s.ehlo()\n"
                           "assert 'LOGIN' in s.esmtp_features['auth']\n"
                           "try:\n"
                           "    s.login('user', 'nope')\n"
                           "    raise SystemExit('bad password accepted')\n"
                           "except smtplib.SMTPAuthenticationError as e:\n"
                           "    assert e.smtp_code == 535\n"
                           "s.login('user', 'secret')\n"
                           "s.sendmail('a@x.test', ['b@example.org'], b'Subject: py-tls\\r\\n\\r\\nhi\\r\\n')\n"
                           "s.quit()\n");
        {
                const char *argv[] = { python, "-c", script, port, cert_file, NULL };

                g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status, NULL);
        }
        if (!g_spawn_check_wait_status (status, NULL))
                g_error ("python failed: %s", err);
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_cmpstr (g_smtp_peer_get_protocol (g_smtp_envelope_get_peer (env)), ==, "ESMTPSA");
        test_server_free (ts);
}

int
main (int argc, char **argv)
{
        g_autoptr(GError) error = NULL;
        int ret;

        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        tmpdir = g_dir_make_tmp ("gsmtp-tls-XXXXXX", &error);
        g_assert_no_error (error);
        if (!test_make_certificate (tmpdir, &cert_file, &key_file)) {
                g_printerr ("cannot make a test certificate (openssl missing?)\n");
                return 77;
        }
        g_test_add_func ("/tls/starttls-client-auth", test_starttls_client);
        g_test_add_func ("/tls/wrong-password", test_wrong_password);
        g_test_add_func ("/tls/opportunistic", test_opportunistic);
        g_test_add_func ("/tls/implicit-needs-certificate", test_implicit_tls);
        g_test_add_func ("/tls/implicit-async", test_implicit_tls_async);
        g_test_add_func ("/tls/starttls-injection", test_starttls_injection);
        g_test_add_func ("/tls/require-tls", test_require_tls);
        g_test_add_func ("/tls/starttls-forgets", test_starttls_forgets);
        g_test_add_func ("/tls/starttls-forgets-auth", test_starttls_forgets_auth);
        g_test_add_func ("/tls/client-certificate", test_client_certificate);
        g_test_add_func ("/tls/python-ssl", test_python_ssl);
        ret = g_test_run ();
        g_unlink (cert_file);
        g_unlink (key_file);
        g_rmdir (tmpdir);
        g_free (cert_file);
        g_free (key_file);
        g_free (tmpdir);
        return ret;
}

/* test-tls.c — STARTTLS, implicit TLS, AUTH over TLS, and the attacks on them,
 * with certificates made at test time and real TLS clients. */
#include "config.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <glib-unix.h>
#include <gnutls/gnutls.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

static char *cert_file, *key_file, *tmpdir;
static char *rsa_cert_file, *rsa_key_file;      /* for the static-RSA offer: an EC key cannot do it */
static char *root_file, *chain_file, *chain_key_file;   /* root CA; leaf + intermediate; leaf's key */

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
        g_assert_cmpstr (g_smtp_peer_get_tls_version (peer), ==, "TLSv1.3");
        g_assert_true (g_str_has_prefix (g_smtp_peer_get_tls_cipher (peer), "TLS_"));
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (env), "with ESMTPSA (TLSv1.3 with cipher TLS_"));
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

/* ---- policy, starvation: helpers ---------------------------------------------------- */

typedef struct {
        const char *cert, *key;
        const char *priority;           /* NULL: the default */
        guint       handshake_timeout;  /* 0: the default */
        guint16    *implicit_port;      /* non-NULL: also listen with implicit TLS */
        guint       idle_timeout;       /* 0: the default */
} TlsSetup;

static void
setup_tls_with (GSmtpServer *server, gpointer data)
{
        const TlsSetup *ts = data;
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_server_set_tls_files (server, ts->cert, ts->key, &error));
        /* after the certificate: the credentials are rebuilt for the new policy */
        if (ts->priority != NULL)
                g_assert_true (g_smtp_server_set_tls_priority (server, ts->priority, &error));
        g_assert_no_error (error);
        if (ts->handshake_timeout != 0)
                g_object_set (server, "tls-handshake-timeout", ts->handshake_timeout, NULL);
        if (ts->idle_timeout != 0)
                g_object_set (server, "idle-timeout", ts->idle_timeout, "max-errors", 1000000, NULL);
        if (ts->implicit_port != NULL)
                g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_IMPLICIT_TLS,
                                                          ts->implicit_port, &error));
        g_assert_no_error (error);
}

/* Runs @func in the server's thread and waits for it. */
typedef struct {
        GSourceFunc func;
        gpointer    data;
        GMutex      lock;
        GCond       cond;
        gboolean    done;
} SyncCall;

static gboolean
sync_call_run (gpointer data)
{
        SyncCall *call = data;

        call->func (call->data);
        g_mutex_lock (&call->lock);
        call->done = TRUE;
        g_cond_signal (&call->cond);
        g_mutex_unlock (&call->lock);
        return G_SOURCE_REMOVE;
}

static void
server_call (TestServer *ts, GSourceFunc func, gpointer data)
{
        SyncCall call = { func, data };

        g_mutex_init (&call.lock);
        g_cond_init (&call.cond);
        test_server_invoke (ts, sync_call_run, &call);
        g_mutex_lock (&call.lock);
        while (!call.done)
                g_cond_wait (&call.cond, &call.lock);
        g_mutex_unlock (&call.lock);
        g_mutex_clear (&call.lock);
        g_cond_clear (&call.cond);
}

typedef struct {
        TestServer *ts;
        guint       n;
} SessionCount;

static gboolean
count_sessions (gpointer data)
{
        SessionCount *c = data;

        c->n = g_smtp_server_get_n_sessions (c->ts->server);
        return G_SOURCE_REMOVE;
}

/* Waits (each look is a round trip through the server's loop) until the
 * server has @n sessions; fails after @seconds. */
static void
wait_for_sessions (TestServer *ts, guint n, guint seconds)
{
        gint64 end = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
        SessionCount c = { ts, G_MAXUINT };

        for (;;) {
                server_call (ts, count_sessions, &c);
                if (c.n == n)
                        return;
                if (g_get_monotonic_time () > end)
                        g_error ("the server has %u sessions, not %u, after %u s", c.n, n, seconds);
                g_thread_yield ();
        }
}

/* A GnuTLS client over the line client's socket, after the banner, EHLO and
 * STARTTLS (said here): a client the tests steer record by record, and that
 * starts no thread.  The socket is made blocking, with 20 s timeouts as the
 * guard. */
typedef struct {
        gnutls_session_t                 session;
        gnutls_certificate_credentials_t creds;
        int                              fd;
} GnutlsClient;

static GnutlsClient *
gnutls_client_new (LineClient *lc, const char *priority)
{
        GnutlsClient *gc = g_new0 (GnutlsClient, 1);
        struct timeval tv = { 20, 0 };
        int ret;

        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO c.test", "250 ");
        line_client_chat (lc, "STARTTLS", "220 2.0.0");
        gc->fd = g_socket_get_fd (g_socket_connection_get_socket (lc->conn));
        g_assert_true (g_unix_set_fd_nonblocking (gc->fd, FALSE, NULL));
        setsockopt (gc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt (gc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        g_assert_cmpint (gnutls_certificate_allocate_credentials (&gc->creds), ==, 0);
        g_assert_cmpint (gnutls_init (&gc->session, GNUTLS_CLIENT), ==, 0);
        g_assert_cmpint (gnutls_priority_set_direct (gc->session, priority, NULL), ==, 0);
        g_assert_cmpint (gnutls_credentials_set (gc->session, GNUTLS_CRD_CERTIFICATE, gc->creds), ==, 0);
        gnutls_transport_set_int (gc->session, gc->fd);
        ret = gnutls_handshake (gc->session);
        g_assert_cmpint (ret, ==, 0);
        return gc;
}

static void
gnutls_client_free (GnutlsClient *gc)
{
        gnutls_deinit (gc->session);
        gnutls_certificate_free_credentials (gc->creds);
        g_free (gc);
}

/* Reads replies until the last complete line is a final one ("NNN "), and
 * with @prefix one starting with it; returns them all, or NULL when the
 * session ended first. */
static char *
gnutls_client_read_replies (GnutlsClient *gc, const char *prefix)
{
        GString *in = g_string_new (NULL);

        for (gint64 end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;;) {
                char buf[4096];
                const char *last;
                gssize n = gnutls_record_recv (gc->session, buf, sizeof buf);

                /* GnuTLS says "again" after a TLS 1.3 session ticket too */
                if ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) && g_get_monotonic_time () < end)
                        continue;
                if (n <= 0) {
                        g_test_message ("TLS client: %s after \"%s\"", n == 0 ? "end of stream" : gnutls_strerror (n),
                                        in->str);
                        g_string_free (in, TRUE);
                        return NULL;
                }
                g_string_append_len (in, buf, n);
                if (in->len < 2 || in->str[in->len - 1] != '\n')
                        continue;
                /* the last complete line says whether the reply is over */
                last = in->str + in->len - 1;
                while (last > in->str && last[-1] != '\n')
                        last--;
                if (strlen (last) >= 4 && last[3] == ' ' && (prefix == NULL || g_str_has_prefix (last, prefix)))
                        return g_string_free (in, FALSE);
        }
}

/* Sends @line (CRLF added unless NULL) and returns the whole reply, or NULL
 * when the server ended the session. */
static char *
gnutls_client_chat (GnutlsClient *gc, const char *line)
{
        if (line != NULL) {
                g_autofree char *wire = g_strconcat (line, "\r\n", NULL);

                if (gnutls_record_send (gc->session, wire, strlen (wire)) != (gssize) strlen (wire))
                        return NULL;
        }
        return gnutls_client_read_replies (gc, NULL);
}

static void
gnutls_client_expect (GnutlsClient *gc, const char *line, const char *prefix)
{
        g_autofree char *reply = gnutls_client_chat (gc, line);
        const char *last;

        if (reply == NULL)
                g_error ("to \"%s\" no reply: the session ended", line != NULL ? line : "");
        last = g_strrstr_len (reply, strlen (reply) - 1, "\n");
        last = last != NULL ? last + 1 : reply;
        if (!g_str_has_prefix (last, prefix))
                g_error ("to \"%s\" expected \"%s\", got \"%s\"", line != NULL ? line : "", prefix, reply);
}

/* Python's ssl module (OpenSSL) as the STARTTLS client, with one offer:
 * "tls1.1" (TLS 1.1 only, every cipher OpenSSL has), "tls1.2", "tls1.3", or
 * "static-rsa" (TLS 1.2 with static RSA key exchange suites only).  Returns
 * "accepted VERSION CIPHER" or "refused REASON"; NULL when there is no python3. */
static char *
python_tls_try (guint16 port, const char *offer)
{
        static const char *script =
                "import smtplib, ssl, sys\n"
                "port, offer = int(sys.argv[1]), sys.argv[2]\n"
                "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
                "ctx.check_hostname = False\n"
                "ctx.verify_mode = ssl.CERT_NONE\n"
                "if offer == 'tls1.1':\n"
                "    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1\n"
                "    ctx.set_ciphers('ALL:@SECLEVEL=0')\n"
                "elif offer == 'tls1.2':\n"
                "    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
                "elif offer == 'tls1.3':\n"
                "    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3\n"
                "elif offer == 'static-rsa':\n"
                "    ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
                "    ctx.set_ciphers('kRSA:@SECLEVEL=0')\n"
                "s = smtplib.SMTP('127.0.0.1', port, timeout=20)\n"
                "s.ehlo()\n"
                "try:\n"
                "    s.starttls(context=ctx)\n"
                "except (ssl.SSLError, OSError) as e:\n"
                "    print('refused', e)\n"
                "    sys.exit(0)\n"
                "code, _ = s.ehlo()\n"
                "assert code == 250\n"
                "print('accepted', s.sock.version(), s.sock.cipher()[0])\n"
                "s.quit()\n";
        g_autofree char *python = test_find_program ("python3");
        g_autofree char *port_str = g_strdup_printf ("%u", port);
        g_autofree char *out = NULL, *err = NULL;
        const char *argv[] = { python, "-c", script, port_str, offer, NULL };
        int status;

        if (python == NULL)
                return NULL;
        g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                                     &status, NULL));
        if (!g_spawn_check_wait_status (status, NULL))
                g_error ("python failed: %s", err);
        g_strchomp (out);
        g_test_message ("%s: %s", offer, out);
        return g_steal_pointer (&out);
}

/* ---- policy ------------------------------------------------------------------------ */

static void
test_policy_versions (void)
{
        TlsSetup def = { cert_file, key_file, NULL };
        TlsSetup lax = { cert_file, key_file, "NORMAL:+VERS-TLS1.1" };
        TestServer *ts = test_server_new (setup_tls_with, &def);
        TestServer *old = test_server_new (setup_tls_with, &lax);
        g_autofree char *r11 = NULL, *r12 = NULL, *r13 = NULL, *r11_old = NULL;

        g_test_bug ("10");
        g_test_summary ("Default TLS policy with a real client (Python's ssl): TLS 1.1 refused, TLS 1.2 and 1.3 "
                        "accepted; the same TLS 1.1 client gets in where tls-priority allows it");
        r11 = python_tls_try (ts->port, "tls1.1");
        if (r11 == NULL) {
                g_test_skip ("python3 not installed");
        } else {
                g_assert_true (g_str_has_prefix (r11, "refused "));
                r11_old = python_tls_try (old->port, "tls1.1");
                g_assert_true (g_str_has_prefix (r11_old, "accepted TLSv1.1 "));
                r12 = python_tls_try (ts->port, "tls1.2");
                g_assert_true (g_str_has_prefix (r12, "accepted TLSv1.2 ECDHE-"));
                r13 = python_tls_try (ts->port, "tls1.3");
                g_assert_true (g_str_has_prefix (r13, "accepted TLSv1.3 TLS_"));
        }
        test_server_free (ts);
        test_server_free (old);
}

static void
test_policy_static_rsa (void)
{
        TlsSetup def = { rsa_cert_file, rsa_key_file, NULL };
        TlsSetup lax = { rsa_cert_file, rsa_key_file, "NORMAL:+RSA" };
        TestServer *ts = test_server_new (setup_tls_with, &def);
        TestServer *old = test_server_new (setup_tls_with, &lax);
        g_autofree char *rsa = NULL, *rsa_old = NULL, *fs = NULL;

        g_test_bug ("10");
        g_test_summary ("Default TLS policy: a client offering only static-RSA key exchange is refused (no forward "
                        "secrecy); with an RSA certificate ECDHE works, and tls-priority can allow static RSA");
        rsa = python_tls_try (ts->port, "static-rsa");
        if (rsa == NULL) {
                g_test_skip ("python3 not installed");
        } else {
                g_assert_true (g_str_has_prefix (rsa, "refused "));
                rsa_old = python_tls_try (old->port, "static-rsa");
                g_assert_true (g_str_has_prefix (rsa_old, "accepted TLSv1.2 AES"));
                fs = python_tls_try (ts->port, "tls1.2");
                g_assert_true (g_str_has_prefix (fs, "accepted TLSv1.2 ECDHE-RSA-"));
        }
        test_server_free (ts);
        test_server_free (old);
}

/* Reads lines of @in until one starts with @prefix; FALSE at the end. */
static gboolean
read_until (GDataInputStream *in, const char *prefix)
{
        for (;;) {
                g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, NULL);

                if (line == NULL)
                        return FALSE;
                if (g_str_has_prefix (line, prefix))
                        return TRUE;
        }
}

static void
test_policy_renegotiation_openssl (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        g_autofree char *openssl = test_find_program ("openssl");
        g_autofree char *timeout = test_find_program ("timeout");
        g_autofree char *connect = g_strdup_printf ("127.0.0.1:%u", ts->port);
        g_autoptr(GSubprocess) proc = NULL;
        g_autoptr(GDataInputStream) out = NULL, err = NULL;
        g_autoptr(GError) error = NULL;
        GOutputStream *in;
        gboolean noop_answered;

        g_test_bug ("10");
        g_test_summary ("Client-initiated renegotiation is refused: openssl s_client's R command over TLS 1.2 "
                        "gets a no_renegotiation alert");
        if (openssl == NULL || timeout == NULL) {
                g_test_skip ("openssl or timeout not installed");
                test_server_free (ts);
                return;
        }
        {
                const char *argv[] = { timeout, "60", openssl, "s_client", "-connect", connect, "-starttls", "smtp",
                                       "-tls1_2", "-crlf", NULL };

                proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                          G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
        }
        g_assert_no_error (error);
        in = g_subprocess_get_stdin_pipe (proc);
        out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
        err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (proc));
        /* the encrypted session works... */
        g_assert_true (g_output_stream_write_all (in, "EHLO c.test\n", 12, NULL, NULL, NULL));
        g_assert_true (read_until (out, "250-mx.example.org"));
        g_assert_true (read_until (out, "250 "));
        /* ...then the client asks to renegotiate, and sends a command after it */
        g_assert_true (g_output_stream_write_all (in, "R\n", 2, NULL, NULL, NULL));
        g_assert_true (read_until (err, "RENEGOTIATING"));
        g_output_stream_write_all (in, "NOOP\n", 5, NULL, NULL, NULL);  /* fails once s_client gave up */
        /* renegotiated, s_client would print the NOOP's reply; refused, it
         * ends at the server's no_renegotiation alert */
        noop_answered = read_until (out, "250 2.0.0");
        g_output_stream_close (in, NULL, NULL);
        g_assert_false (noop_answered);
        g_assert_true (g_subprocess_wait (proc, NULL, NULL));
        g_assert_false (g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0);
        test_server_free (ts);
}

static void
test_policy_renegotiation_gnutls (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        LineClient *lc = line_client_new (ts->port);
        GnutlsClient *gc;
        int ret;

        g_test_bug ("10");
        g_test_summary ("Client-initiated renegotiation is refused with a no_renegotiation warning (RFC 5746); "
                        "a client that insists (GnuTLS's does) is disconnected");
        gc = gnutls_client_new (lc, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
        gnutls_client_expect (gc, "EHLO c.test", "250 ");
        ret = gnutls_handshake (gc->session);   /* a client-initiated renegotiation */
        g_assert_cmpint (ret, ==, GNUTLS_E_WARNING_ALERT_RECEIVED);
        g_assert_cmpint (gnutls_alert_get (gc->session), ==, GNUTLS_A_NO_RENEGOTIATION);
        /* GnuTLS's client goes on with its handshake: the server ends the session */
        do
                ret = gnutls_handshake (gc->session);
        while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
        g_assert_cmpint (ret, <, 0);
        g_assert_null (gnutls_client_chat (gc, NULL));
        wait_for_sessions (ts, 0, 20);
        gnutls_client_free (gc);
        line_client_free (lc);
        test_server_free (ts);
}

/* Collects what the client's GnuTLS writes, to send it in one segment. */
static ssize_t
collect_push (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
        g_string_append_len (ptr, data, len);
        return len;
}

/* From now on what the client writes gathers in @wire, to be sent at once */
static void
gnutls_client_collect (GnutlsClient *gc, GString *wire)
{
        gnutls_transport_set_ptr2 (gc->session, GINT_TO_POINTER (gc->fd), wire);
        gnutls_transport_set_push_function (gc->session, collect_push);
}

static void
test_key_update (void)
{
        TestServer *ts = test_server_new (setup_tls, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GString) wire = g_string_new (NULL);
        GnutlsClient *gc;

        g_test_bug ("10");
        g_test_summary ("A TLS 1.3 KeyUpdate and a command in one segment: GnuTLS reports \"again\" after the "
                        "KeyUpdate with the command still in the socket, and the edge-triggered poller must not "
                        "wait for a readiness that never comes");
        gc = gnutls_client_new (lc, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
        gnutls_client_expect (gc, "EHLO c.test", "250 ");
        gnutls_client_collect (gc, wire);
        /* the server is asked to update its key too: it writes while reading */
        g_assert_cmpint (gnutls_session_key_update (gc->session, GNUTLS_KU_PEER), ==, 0);
        g_assert_cmpint (gnutls_record_send (gc->session, "NOOP\r\n", 6), ==, 6);
        g_assert_cmpint (send (gc->fd, wire->str, wire->len, MSG_NOSIGNAL), ==, (gssize) wire->len);
        g_string_truncate (wire, 0);
        gnutls_client_expect (gc, NULL, "250 2.0.0");
        gnutls_client_free (gc);
        line_client_free (lc);
        test_server_free (ts);
}

/* Reads replies until one whose last line starts with @prefix; returns them all. */
static char *
gnutls_client_read_until (GnutlsClient *gc, const char *prefix)
{
        char *replies = gnutls_client_read_replies (gc, prefix);

        if (replies == NULL)
                g_error ("the session ended before a \"%s\" reply", prefix);
        return replies;
}

/* The reply codes of @replies, final lines only, space-separated. */
static char *
reply_codes (const char *replies)
{
        g_auto(GStrv) lines = g_strsplit (replies, "\r\n", -1);
        GString *codes = g_string_new (NULL);

        for (guint i = 0; lines[i] != NULL; i++)
                if (strlen (lines[i]) >= 4 && lines[i][3] == ' ')
                        g_string_append_printf (codes, "%s%.3s", codes->len > 0 ? " " : "", lines[i]);
        return g_string_free (codes, FALSE);
}

/* Each of @records a TLS record of its own, all of them in one TCP segment. */
static void
gnutls_client_send_segment (GnutlsClient *gc, GString *wire, const char *const *records)
{
        for (guint i = 0; records[i] != NULL; i++)
                g_assert_cmpint (gnutls_record_send (gc->session, records[i], strlen (records[i])), ==,
                                 (gssize) strlen (records[i]));
        g_assert_cmpint (send (gc->fd, wire->str, wire->len, MSG_NOSIGNAL), ==, (gssize) wire->len);
        g_string_truncate (wire, 0);
}

typedef struct {
        const char *records[4];
} PipelinedCase;

static const PipelinedCase pipelined_cases[] = {
        { { "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", NULL } },
        { { "MAIL FROM:<a@x.test>\r\n", "RCPT TO:<b@example.org>\r\n", "DATA\r\n", NULL } },
        { { "MAIL FROM:<a@x", ".test>\r\nRCPT TO:<b@exa", "mple.org>\r\nDATA\r\n", NULL } },
};

static void
test_pipelined (gconstpointer data)
{
        const PipelinedCase *c = data;
        static const char *const message[] = { "Subject: p\r\n\r\nbody\r\n.\r\n", "QUIT\r\n", NULL };
        TestServer *ts = test_server_new (setup_tls, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GString) wire = g_string_new (NULL);
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autofree char *replies = NULL, *codes = NULL, *end = NULL, *end_codes = NULL;
        GnutlsClient *gc;

        g_test_summary ("Commands pipelined after STARTTLS, in one TLS record, a record each, or records cut "
                        "mid-command, all in one TCP segment: GnuTLS decrypts one record a read, and the "
                        "records after it bring no readiness edge of their own; every reply comes, in order");
        gc = gnutls_client_new (lc, "NORMAL");
        gnutls_client_expect (gc, "EHLO c.test", "250 ");
        gnutls_client_collect (gc, wire);
        gnutls_client_send_segment (gc, wire, c->records);
        replies = gnutls_client_read_until (gc, "354 ");
        codes = reply_codes (replies);
        g_assert_cmpstr (codes, ==, "250 250 354");
        gnutls_client_send_segment (gc, wire, message);
        end = gnutls_client_read_until (gc, "221 ");
        end_codes = reply_codes (end);
        g_assert_cmpstr (end_codes, ==, "250 221");
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_cmpstr (g_smtp_envelope_get_sender (env), ==, "a@x.test");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[0], ==, "b@example.org");
        g_assert_true (g_smtp_peer_get_tls (g_smtp_envelope_get_peer (env)));
        gnutls_client_free (gc);
        line_client_free (lc);
        test_server_free (ts);
}

/* Holds what the client's GnuTLS writes until it next reads: its last
 * handshake flight and what follows then leave in one TCP segment. */
typedef struct {
        int      fd;
        GString *wire;
} HeldWrites;

static ssize_t
held_push (gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
        g_string_append_len (((HeldWrites *) ptr)->wire, data, len);
        return len;
}

static void
held_flush (HeldWrites *held)
{
        if (held->wire->len > 0)
                g_assert_cmpint (send (held->fd, held->wire->str, held->wire->len, MSG_NOSIGNAL), ==,
                                 (gssize) held->wire->len);
        g_string_truncate (held->wire, 0);
}

static ssize_t
held_pull (gnutls_transport_ptr_t ptr, void *data, size_t len)
{
        HeldWrites *held = ptr;

        held_flush (held);
        return recv (held->fd, data, len, 0);
}

static void
setup_implicit (GSmtpServer *server, gpointer data)
{
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_server_set_tls_files (server, cert_file, key_file, &error));
        g_object_set (server, "strict-pipelining", FALSE, NULL);
        g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_IMPLICIT_TLS, data, &error));
}

static void
test_implicit_command_with_finished (void)
{
        guint16 port = 0;
        TestServer *ts = test_server_new (setup_implicit, &port);
        LineClient *lc = line_client_new (port);
        g_autoptr(GString) wire = g_string_new (NULL);
        g_autofree char *replies = NULL, *codes = NULL;
        HeldWrites held = { g_socket_get_fd (g_socket_connection_get_socket (lc->conn)), wire };
        GnutlsClient gc = { 0 };
        struct timeval tv = { 20, 0 };

        g_test_summary ("Implicit TLS: the client's first command in the TCP segment of its handshake's last "
                        "flight, so that no readiness edge comes after the handshake to announce it (and "
                        "whatever GnuTLS read ahead waits in GnuTLS): it is answered after the banner");
        g_assert_true (g_unix_set_fd_nonblocking (held.fd, FALSE, NULL));
        setsockopt (held.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        g_assert_cmpint (gnutls_certificate_allocate_credentials (&gc.creds), ==, 0);
        g_assert_cmpint (gnutls_init (&gc.session, GNUTLS_CLIENT), ==, 0);
        /* TLS 1.3: the client's Finished is its last flight, and nothing is read after it */
        g_assert_cmpint (gnutls_priority_set_direct (gc.session, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL), ==, 0);
        g_assert_cmpint (gnutls_credentials_set (gc.session, GNUTLS_CRD_CERTIFICATE, gc.creds), ==, 0);
        gnutls_transport_set_ptr (gc.session, &held);
        gnutls_transport_set_push_function (gc.session, held_push);
        gnutls_transport_set_pull_function (gc.session, held_pull);
        g_assert_cmpint (gnutls_handshake (gc.session), ==, 0);
        g_assert_cmpuint (wire->len, >, 0);             /* the Finished, held */
        g_assert_cmpint (gnutls_record_send (gc.session, "EHLO c.test\r\n", 13), ==, 13);
        held_flush (&held);
        replies = gnutls_client_read_until (&gc, "250 ");
        codes = reply_codes (replies);
        g_assert_cmpstr (codes, ==, "220 250");
        gnutls_deinit (gc.session);
        gnutls_certificate_free_credentials (gc.creds);
        line_client_free (lc);
        test_server_free (ts);
}

static void
test_policy_property (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GError) error = NULL;
        g_autofree char *prio = NULL;
        guint timeout = 0;

        g_test_bug ("10");
        g_test_summary ("tls-priority: the documented secure default; an invalid string is refused with a GError, "
                        "or a warning through the property, and the policy stays; NULL restores the default");
        g_object_get (server, "tls-priority", &prio, "tls-handshake-timeout", &timeout, NULL);
        g_assert_cmpstr (prio, ==, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:%SERVER_PRECEDENCE");
        g_assert_cmpuint (timeout, ==, 30);
        g_clear_pointer (&prio, g_free);

        g_assert_false (g_smtp_server_set_tls_priority (server, "NORMAL:+VERS-TLS9.9", &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull (strstr (error->message, "VERS-TLS9.9"));
        g_clear_error (&error);
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_WARNING, "*Invalid TLS priority string \"bogus\"*");
        g_object_set (server, "tls-priority", "bogus", NULL);
        g_test_assert_expected_messages ();
        g_object_get (server, "tls-priority", &prio, NULL);
        g_assert_cmpstr (prio, ==, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:%SERVER_PRECEDENCE");
        g_clear_pointer (&prio, g_free);

        g_assert_true (g_smtp_server_set_tls_priority (server, "SECURE256", &error));
        g_assert_no_error (error);
        g_object_get (server, "tls-priority", &prio, NULL);
        g_assert_cmpstr (prio, ==, "SECURE256");
        g_clear_pointer (&prio, g_free);
        g_object_set (server, "tls-priority", NULL, NULL);
        g_object_get (server, "tls-priority", &prio, NULL);
        g_assert_cmpstr (prio, ==, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:%SERVER_PRECEDENCE");
}

static void
test_certificate_without_key (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GTlsCertificate) cert = NULL;
        g_autoptr(GError) error = NULL;
        guint16 port = 0;

        g_test_summary ("A certificate without a readable key: a warning, and TLS stays off (no implicit TLS listener)");
        cert = g_tls_certificate_new_from_file (cert_file, &error);
        g_assert_no_error (error);
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_WARNING, "*no private key*");
        g_smtp_server_set_tls_certificate (server, cert);
        g_test_assert_expected_messages ();
        g_assert_false (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_IMPLICIT_TLS, &port, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_chain (void)
{
        TlsSetup chain = { chain_file, chain_key_file, NULL };
        TestServer *ts = test_server_new (setup_tls_with, &chain);
        g_autoptr(GSmtpClient) client = g_smtp_client_new ("localhost", ts->port);
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        const char *rcpts[] = { "b@example.org", NULL };

        g_test_summary ("The certificate's chain is sent: a client that trusts only the root verifies a leaf "
                        "signed by an intermediate");
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, root_file, &error));
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL, &error);
        g_assert_no_error (error);
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_true (g_smtp_peer_get_tls (g_smtp_envelope_get_peer (env)));
        test_server_free (ts);
}

static void
test_tls_not_reading (void)
{
        TlsSetup quick = { cert_file, key_file, NULL, 0, NULL, 1 };
        TestServer *ts = test_server_new (setup_tls_with, &quick);
        LineClient *lc = line_client_new (ts->port);
        g_autofree char *noops = g_strnfill (6 * 2000, ' ');
        gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
        gboolean closed = FALSE;
        GnutlsClient *gc;

        g_test_summary ("A TLS client that sends but never reads is cut off by the write timeout: closing does not "
                        "wait for a close_notify it would never take");
        for (gsize i = 0; i < 2000; i++)
                memcpy (noops + 6 * i, "NOOP\r\n", 6);
        gc = gnutls_client_new (lc, "NORMAL");
        /* blocking sends with a 20 s timeout; bounded in count and time */
        for (int i = 0; i < 5000 && !closed && g_get_monotonic_time () < deadline; i++) {
                gssize n = gnutls_record_send (gc->session, noops, 6 * 2000);

                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                        n = gnutls_record_send (gc->session, NULL, 0);
                closed = n < 0 && gnutls_error_is_fatal (n);
        }
        g_assert_true (closed);
        wait_for_sessions (ts, 0, 20);
        gnutls_client_free (gc);
        line_client_free (lc);
        test_server_free (ts);
}

/* ---- starvation ---------------------------------------------------------------------- */

#define N_STALLED_STARTTLS 200  /* STARTTLS, 220, then silence */
#define N_STALLED_IMPLICIT 80   /* connect to the implicit TLS port, then silence */
#define N_STALLED_PARTIAL  20   /* the first bytes of a ClientHello, then silence */

static gboolean
lengthen_handshake_timeout (gpointer data)
{
        TestServer *ts = data;

        g_object_set (ts->server, "tls-handshake-timeout", 60, NULL);
        return G_SOURCE_REMOVE;
}

static void
test_stalled_handshakes (void)
{
        guint16 implicit_port = 0;
        TlsSetup stall = { cert_file, key_file, NULL, 2, &implicit_port };
        TestServer *ts = test_server_new (setup_tls_with, &stall);
        g_autoptr(GPtrArray) stalled = g_ptr_array_new_with_free_func ((GDestroyNotify) line_client_free);
        /* a TLS record header promising a 512-byte handshake message, and one byte of it */
        static const guint8 partial_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
        g_autoptr(GSmtpEnvelope) env = NULL;
        LineClient *lc;
        GnutlsClient *gc;
        guint threads_before, threads_stalled;

        g_test_bug ("10");
        g_test_summary ("300 clients stalled in the TLS handshake (after STARTTLS, or silent on the implicit TLS "
                        "port) hold no thread; a real client still does STARTTLS and sends; the stalled ones are "
                        "dropped at tls-handshake-timeout, not the idle timeout");
        threads_before = test_count_threads ();
        for (guint i = 0; i < N_STALLED_STARTTLS; i++) {
                lc = line_client_new (ts->port);
                line_client_expect (lc, "220 ");
                line_client_chat (lc, "EHLO c.test", "250 ");
                line_client_chat (lc, "STARTTLS", "220 2.0.0");
                g_ptr_array_add (stalled, lc);
        }
        for (guint i = 0; i < N_STALLED_IMPLICIT; i++)
                g_ptr_array_add (stalled, line_client_new (implicit_port));
        for (guint i = 0; i < N_STALLED_PARTIAL; i++) {
                lc = line_client_new (implicit_port);
                line_client_send_raw (lc, partial_hello, sizeof partial_hello);
                g_ptr_array_add (stalled, lc);
        }
        /* every one of them is in its handshake now */
        wait_for_sessions (ts, stalled->len, 20);
        threads_stalled = test_count_threads ();
        g_test_message ("threads: %u before, %u with %u stalled handshakes", threads_before, threads_stalled,
                        stalled->len);
        g_assert_cmpuint (threads_stalled, <=, threads_before);

        /* the stalled ones keep their 2 s; the real client gets 60 s, so a slow
         * machine (valgrind) does not fail it */
        server_call (ts, lengthen_handshake_timeout, ts);
        lc = line_client_new (ts->port);
        gc = gnutls_client_new (lc, "NORMAL");
        gnutls_client_expect (gc, "EHLO c.test", "250 ");
        gnutls_client_expect (gc, "MAIL FROM:<a@x.test>", "250 ");
        gnutls_client_expect (gc, "RCPT TO:<b@example.org>", "250 ");
        gnutls_client_expect (gc, "DATA", "354 ");
        gnutls_client_expect (gc, "Subject: through\r\n\r\nhello\r\n.", "250 ");
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_true (g_smtp_peer_get_tls (g_smtp_envelope_get_peer (env)));
        g_assert_cmpuint (test_count_threads (), <=, threads_before);

        /* each stalled one is closed by the server (the idle timeout is 300 s:
         * this is the handshake's deadline); a read would time out after 20 s */
        for (guint i = 0; i < stalled->len; i++)
                g_assert_true (line_client_closed (stalled->pdata[i]));
        gnutls_client_expect (gc, "QUIT", "221 ");
        gnutls_client_free (gc);
        line_client_free (lc);
        wait_for_sessions (ts, 0, 20);
        test_server_free (ts);
}

/* openssl req with @args after the command name; FALSE if it fails. */
static gboolean
openssl_req (const char *const *args)
{
        g_autofree char *openssl = g_find_program_in_path ("openssl");
        g_autoptr(GPtrArray) argv = g_ptr_array_new ();
        int status = 0;

        if (openssl == NULL)
                return FALSE;
        g_ptr_array_add (argv, openssl);
        g_ptr_array_add (argv, "req");
        for (guint i = 0; args[i] != NULL; i++)
                g_ptr_array_add (argv, (gpointer) args[i]);
        g_ptr_array_add (argv, NULL);
        if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                           NULL, NULL, NULL, NULL, &status, NULL))
                return FALSE;
        return g_spawn_check_wait_status (status, NULL);
}

/* An RSA certificate, and a chain: root CA → intermediate → leaf for localhost. */
static gboolean
make_more_certificates (void)
{
        g_autofree char *root_key = g_build_filename (tmpdir, "root-key.pem", NULL);
        g_autofree char *mid = g_build_filename (tmpdir, "mid.pem", NULL);
        g_autofree char *mid_key = g_build_filename (tmpdir, "mid-key.pem", NULL);
        g_autofree char *leaf = g_build_filename (tmpdir, "leaf.pem", NULL);
        g_autofree char *leaf_pem = NULL, *mid_pem = NULL, *both = NULL;

        rsa_cert_file = g_build_filename (tmpdir, "rsa-cert.pem", NULL);
        rsa_key_file = g_build_filename (tmpdir, "rsa-key.pem", NULL);
        root_file = g_build_filename (tmpdir, "root.pem", NULL);
        chain_file = g_build_filename (tmpdir, "chain.pem", NULL);
        chain_key_file = g_build_filename (tmpdir, "leaf-key.pem", NULL);
        {
                const char *rsa[] = { "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", rsa_key_file, "-out",
                                      rsa_cert_file, "-days", "2", "-subj", "/CN=localhost", NULL };
                const char *root[] = { "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                       "-keyout", root_key, "-out", root_file, "-days", "2", "-subj",
                                       "/CN=gsmtp test root", NULL };
                const char *inter[] = { "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                        "-keyout", mid_key, "-out", mid, "-days", "2", "-subj",
                                        "/CN=gsmtp test intermediate", "-CA", root_file, "-CAkey", root_key,
                                        "-addext", "basicConstraints=critical,CA:TRUE",
                                        "-addext", "keyUsage=critical,keyCertSign,cRLSign", NULL };
                const char *lf[] = { "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                     "-keyout", chain_key_file, "-out", leaf, "-days", "2", "-subj", "/CN=localhost",
                                     "-CA", mid, "-CAkey", mid_key,
                                     "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                     "-addext", "basicConstraints=critical,CA:FALSE", NULL };

                if (!openssl_req (rsa) || !openssl_req (root) || !openssl_req (inter) || !openssl_req (lf))
                        return FALSE;
        }
        if (!g_file_get_contents (leaf, &leaf_pem, NULL, NULL) || !g_file_get_contents (mid, &mid_pem, NULL, NULL))
                return FALSE;
        both = g_strconcat (leaf_pem, mid_pem, NULL);
        g_unlink (root_key);
        g_unlink (mid);
        g_unlink (mid_key);
        g_unlink (leaf);
        return g_file_set_contents (chain_file, both, -1, NULL);
}

int
main (int argc, char **argv)
{
        g_autoptr(GError) error = NULL;
        int ret;

        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        /* a client killed by its server must not kill the test with it */
        signal (SIGPIPE, SIG_IGN);
        {
                /* the starvation test holds both ends of 300 connections */
                struct rlimit rl;

                if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
                        rl.rlim_cur = MIN (rl.rlim_max, 4096);
                        setrlimit (RLIMIT_NOFILE, &rl);
                }
        }
        tmpdir = g_dir_make_tmp ("gsmtp-tls-XXXXXX", &error);
        g_assert_no_error (error);
        if (!test_make_certificate (tmpdir, &cert_file, &key_file)) {
                g_printerr ("cannot make a test certificate (openssl missing?)\n");
                return 77;
        }
        if (!make_more_certificates ()) {
                g_printerr ("cannot make the RSA and chain test certificates\n");
                return 1;
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
        g_test_add_func ("/tls/chain", test_chain);
        g_test_add_func ("/tls/certificate-without-key", test_certificate_without_key);
        g_test_add_func ("/tls/not-reading", test_tls_not_reading);
        g_test_add_func ("/tls/policy/property", test_policy_property);
        g_test_add_func ("/tls/policy/versions", test_policy_versions);
        g_test_add_func ("/tls/policy/static-rsa", test_policy_static_rsa);
        g_test_add_func ("/tls/policy/renegotiation-openssl", test_policy_renegotiation_openssl);
        g_test_add_func ("/tls/policy/renegotiation-gnutls", test_policy_renegotiation_gnutls);
        g_test_add_func ("/tls/key-update", test_key_update);
        g_test_add_func ("/tls/implicit-command-with-finished", test_implicit_command_with_finished);
        g_test_add_data_func ("/tls/pipelined/one-record", &pipelined_cases[0], test_pipelined);
        g_test_add_data_func ("/tls/pipelined/record-per-command", &pipelined_cases[1], test_pipelined);
        g_test_add_data_func ("/tls/pipelined/records-cut-mid-command", &pipelined_cases[2], test_pipelined);
        g_test_add_func ("/tls/stalled-handshakes", test_stalled_handshakes);
        ret = g_test_run ();
        g_unlink (cert_file);
        g_unlink (key_file);
        g_unlink (rsa_cert_file);
        g_unlink (rsa_key_file);
        g_unlink (root_file);
        g_unlink (chain_file);
        g_unlink (chain_key_file);
        g_rmdir (tmpdir);
        g_free (cert_file);
        g_free (key_file);
        g_free (rsa_cert_file);
        g_free (rsa_key_file);
        g_free (root_file);
        g_free (chain_file);
        g_free (chain_key_file);
        g_free (tmpdir);
        return ret;
}

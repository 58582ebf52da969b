/* test-server.c — the server over real sockets on loopback: real clients,
 * connection limits, timeouts, stop with sessions in flight. */
#include "config.h"
#include "test-util.h"

#include <string.h>

static void
setup_limits (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "max-connections", 2, "max-connections-per-address", 0, NULL);
}

static void
test_smtplib (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autofree char *python = test_find_program ("python3");
        g_autofree char *script = NULL, *port = NULL, *out = NULL, *err = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GError) error = NULL;
        const char *message = "From: a@x.test\r\nTo: b@example.org\r\nSubject: smtplib\r\n\r\n"
                              ".starts with a dot\r\nplain line\r\n";
        int status;

        g_test_summary ("Python's smtplib (a client no one here wrote) delivers a message byte for byte");
        if (python == NULL) {
                g_test_skip ("python3 not installed");
                test_server_free (ts);
                return;
        }
        port = g_strdup_printf ("%u", ts->port);
        script = g_strdup_printf (
                "import smtplib, sys\n"
                "s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)\n"
                "s.ehlo('smtplib.test')\n"
                "assert s.has_extn('pipelining') and s.has_extn('size') and s.has_extn('8bitmime')\n"
                "r = s.sendmail('a@x.test', ['b@example.org', 'c@elsewhere.test'], sys.argv[2].encode())\n"
                "assert r == {'c@elsewhere.test': (550, b'5.7.1 Relay access denied')}, r\n"
                "s.quit()\n");
        {
                const char *argv[] = { python, "-c", script, port, message, NULL };

                g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
        }
        g_assert_no_error (error);
        if (!g_spawn_check_wait_status (status, NULL))
                g_error ("smtplib failed: %s", err);
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_cmpmem (g_bytes_get_data (g_smtp_envelope_get_data (env), NULL),
                         g_smtp_envelope_get_size (env), message, strlen (message));
        g_assert_cmpstr (g_smtp_peer_get_helo (g_smtp_envelope_get_peer (env)), ==, "smtplib.test");
        test_server_free (ts);
}

static void
test_swaks (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autofree char *swaks = test_find_program ("swaks");
        g_autofree char *port = NULL, *out = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        int status;

        g_test_summary ("swaks delivers with pipelining");
        if (swaks == NULL) {
                g_test_skip ("swaks not installed");
                test_server_free (ts);
                return;
        }
        port = g_strdup_printf ("%u", ts->port);
        {
                const char *argv[] = { swaks, "--server", "127.0.0.1", "--port", port, "--from", "s@x.test",
                                       "--to", "t@example.org", "--pipeline", "--header", "Subject: swaks",
                                       "--body", "hello from swaks", NULL };

                g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, NULL);
        }
        g_assert_true (g_spawn_check_wait_status (status, NULL));
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_cmpstr (g_mime_message_get_subject (g_smtp_envelope_get_message (env)), ==, "swaks");
        test_server_free (ts);
}

static void
test_max_connections (void)
{
        TestServer *ts = test_server_new (setup_limits, NULL);
        LineClient *a = line_client_new (ts->port), *b = line_client_new (ts->port), *c;

        g_test_summary ("Past max-connections a client gets 421 4.7.0 at once, then the connection closes");
        line_client_expect (a, "220 ");
        line_client_expect (b, "220 ");
        c = line_client_new (ts->port);
        line_client_expect (c, "421 4.7.0");
        g_assert_true (line_client_closed (c));
        line_client_free (c);
        line_client_chat (a, "QUIT", "221 ");
        g_assert_true (line_client_closed (a));
        line_client_free (a);
        /* a slot is free again; the server notices the close when it reads it */
        for (int i = 0; i < 500; i++) {         /* up to 10 s: valgrind is slow */
                g_autofree char *reply = NULL;

                c = line_client_new (ts->port);
                reply = line_client_reply (c);
                line_client_free (c);
                if (g_str_has_prefix (reply, "220 "))
                        break;
                g_usleep (20000);
                g_assert_cmpint (i, <, 499);
        }
        line_client_free (b);
        test_server_free (ts);
}

static void
setup_per_address (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "max-connections-per-address", 1, NULL);
}

static void
test_per_address (void)
{
        TestServer *ts = test_server_new (setup_per_address, NULL);
        LineClient *a = line_client_new (ts->port), *b;

        g_test_summary ("max-connections-per-address: one address cannot take every slot");
        line_client_expect (a, "220 ");
        b = line_client_new (ts->port);
        line_client_expect (b, "421 4.7.0 Too many connections from your address");
        line_client_free (b);
        line_client_free (a);
        test_server_free (ts);
}

static void
setup_timeout (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "idle-timeout", 1, NULL);
}

static void
test_idle_timeout (void)
{
        TestServer *ts = test_server_new (setup_timeout, NULL);
        LineClient *a = line_client_new (ts->port);

        g_test_summary ("A silent client gets 421 4.4.2 after the idle timeout, then close; also mid-DATA");
        line_client_expect (a, "220 ");
        line_client_expect (a, "421 4.4.2");
        g_assert_true (line_client_closed (a));
        line_client_free (a);

        a = line_client_new (ts->port);
        line_client_expect (a, "220 ");
        line_client_chat (a, "EHLO c.test", "250 ");
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (a, "DATA", "354 ");
        line_client_send (a, "Subject: stalled");
        line_client_expect (a, "421 4.4.2");
        g_assert_null (test_server_pop (ts, 100));
        line_client_free (a);
        test_server_free (ts);
}

static void
test_disconnect_mid_data (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *a = line_client_new (ts->port);

        g_test_summary ("A client that goes away mid-DATA delivers nothing");
        line_client_expect (a, "220 ");
        line_client_chat (a, "EHLO c.test", "250 ");
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (a, "DATA", "354 ");
        line_client_send_raw (a, "Subject: half\r\n\r\nhalf a message\r\n.", 33);
        line_client_free (a);
        /* a second session proves the server is fine and nothing was queued */
        a = line_client_new (ts->port);
        line_client_expect (a, "220 ");
        line_client_chat (a, "QUIT", "221 ");
        g_assert_null (test_server_pop (ts, 200));
        line_client_free (a);
        test_server_free (ts);
}

static void
test_stop_in_flight (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *busy = line_client_new (ts->port), *idle = line_client_new (ts->port);
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_summary ("Stop: idle sessions get 421 now; a transaction in flight finishes with 250, then 421");
        line_client_expect (busy, "220 ");
        line_client_expect (idle, "220 ");
        line_client_chat (busy, "EHLO c.test", "250 ");
        line_client_chat (busy, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (busy, "RCPT TO:<b@example.org>", "250 ");
        test_server_stop (ts, 20);
        line_client_expect (idle, "421 4.3.2");
        g_assert_true (line_client_closed (idle));
        line_client_chat (busy, "DATA", "354 ");
        line_client_send (busy, "Subject: in flight\r\n\r\nbody\r\n.");
        line_client_expect (busy, "250 2.0.0");
        line_client_expect (busy, "421 4.3.2");
        g_assert_true (test_server_wait_stopped (ts, 10000));
        env = test_server_pop (ts, 1000);
        g_assert_nonnull (env);
        g_assert_null (test_server_pop (ts, 10));
        line_client_free (busy);
        line_client_free (idle);
        test_server_free (ts);
}

static void
test_stop_grace_over (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *slow = line_client_new (ts->port);

        g_test_summary ("When the grace period ends, a half-sent message gets 421 and is not delivered");
        line_client_expect (slow, "220 ");
        line_client_chat (slow, "EHLO c.test", "250 ");
        line_client_chat (slow, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (slow, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (slow, "DATA", "354 ");
        line_client_send (slow, "Subject: slow");
        test_server_stop (ts, 1);
        line_client_expect (slow, "421 4.3.2");
        g_assert_true (test_server_wait_stopped (ts, 10000));
        g_assert_null (test_server_pop (ts, 10));
        line_client_free (slow);
        test_server_free (ts);
}

static void
test_big_message (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *a = line_client_new (ts->port);
        g_autoptr(GString) msg = g_string_new ("Subject: big\r\n\r\n");
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autofree char *want = NULL, *got = NULL;

        g_test_summary ("A 3 MiB message (spilled to a file) arrives with identical bytes (sha256)");
        while (msg->len < 3 * 1024 * 1024)
                g_string_append_printf (msg, "%08x the quick brown fox jumps over the lazy dog\r\n", (guint) msg->len);
        want = g_compute_checksum_for_string (G_CHECKSUM_SHA256, msg->str, msg->len);
        line_client_expect (a, "220 ");
        line_client_chat (a, "EHLO c.test", "250 ");
        line_client_send (a, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nDATA");
        line_client_expect (a, "250 ");
        line_client_expect (a, "250 ");
        line_client_expect (a, "354 ");
        line_client_send_raw (a, msg->str, msg->len);
        line_client_chat (a, ".", "250 2.0.0");
        env = test_server_pop (ts, 10000);
        got = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, g_smtp_envelope_get_data (env));
        g_assert_cmpstr (got, ==, want);
        line_client_free (a);
        test_server_free (ts);
}

static void
test_half_close (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *a = line_client_new (ts->port);
        GSocket *sock = g_socket_connection_get_socket (a->conn);

        g_test_summary ("A client that half-closes after pipelined commands gets its replies, then the server closes");
        line_client_expect (a, "220 ");
        line_client_send (a, "EHLO c.test\r\nNOOP");
        g_assert_true (g_socket_shutdown (sock, FALSE, TRUE, NULL));
        line_client_expect (a, "250 ");
        line_client_expect (a, "250 2.0.0");
        g_assert_true (line_client_closed (a));
        line_client_free (a);
        test_server_free (ts);
}

static void
setup_write_timeout (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "idle-timeout", 1, "max-errors", 1000000, NULL);
}

static void
test_not_reading (void)
{
        TestServer *ts = test_server_new (setup_write_timeout, NULL);
        LineClient *a = line_client_new (ts->port);
        GSocket *sock = g_socket_connection_get_socket (a->conn);
        g_autofree char *noops = NULL;
        gsize total = 0;
        gboolean closed = FALSE;

        g_test_summary ("A client that sends but never reads replies is cut off by the write timeout; the server does not buffer without bound");
        line_client_expect (a, "220 ");
        noops = g_strnfill (64 * 1024, 'x');
        for (gsize i = 0; i + 6 <= 64 * 1024; i += 6)
                memcpy (noops + i, "NOOP\r\n", 6);
        g_socket_set_blocking (sock, FALSE);
        /* write until the server stops reading (its replies pile up unread) or closes; bounded */
        gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

        for (int i = 0; i < 2000 && !closed && g_get_monotonic_time () < deadline; i++) {
                g_autoptr(GError) error = NULL;
                gssize n = g_socket_send (sock, noops, 64 * 1024 - (64 * 1024) % 6, NULL, &error);

                if (n > 0) {
                        total += n;
                        continue;
                }
                if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                        g_autoptr(GError) e2 = NULL;

                        /* blocked: wait for the server's timeout to close, up to 10 s */
                        g_socket_set_blocking (sock, TRUE);
                        g_socket_set_timeout (sock, 10);
                        g_socket_condition_timed_wait (sock, G_IO_OUT | G_IO_HUP | G_IO_ERR, 5 * G_USEC_PER_SEC, NULL, &e2);
                        g_socket_set_blocking (sock, FALSE);
                        continue;
                }
                closed = TRUE;
        }
        /* the server read at most what its output buffer allowed, far less than was offered */
        g_assert_true (closed);
        g_assert_cmpuint (total, <, 2000 * 64 * 1024);
        line_client_free (a);
        test_server_free (ts);
}

static void
setup_proxy (GSmtpServer *server, gpointer data)
{
        guint16 *port = data;
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_PROXY_PROTOCOL,
                                                  port, &error));
        /* implicit TLS needs a certificate, behind a proxy or not */
        g_assert_false (g_smtp_server_listen_inet (server, "127.0.0.1", 0,
                                                   GSMTP_LISTEN_PROXY_PROTOCOL | GSMTP_LISTEN_IMPLICIT_TLS,
                                                   NULL, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_proxy_listener (void)
{
        guint16 proxy_port = 0;
        TestServer *ts = test_server_new (setup_proxy, &proxy_port);
        LineClient *a = line_client_new (proxy_port), *b = line_client_new (ts->port);
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_summary ("A PROXY protocol listener beside a plain one on the same server");
        line_client_send (a, "PROXY TCP4 203.0.113.9 127.0.0.1 40000 25");
        line_client_expect (a, "220 ");
        line_client_expect (b, "220 ");         /* the plain listener greets at once */
        line_client_chat (a, "HELO behind.proxy", "250 ");
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (a, "DATA", "354 ");
        line_client_chat (a, "Subject: proxied\r\n\r\nx\r\n.", "250 ");
        env = test_server_pop (ts, 10000);
        g_assert_cmpstr (g_smtp_peer_get_host (g_smtp_envelope_get_peer (env)), ==, "203.0.113.9");
        line_client_free (a);
        line_client_free (b);
        test_server_free (ts);
}

static void
setup_proxy_per_address (GSmtpServer *server, gpointer data)
{
        guint16 *port = data;
        g_autoptr(GError) error = NULL;

        g_object_set (server, "max-connections-per-address", 1, NULL);
        g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_PROXY_PROTOCOL,
                                                  port, &error));
}

static LineClient *
proxied_client (guint16 port, const char *address, const char *expect)
{
        LineClient *lc = line_client_new (port);
        g_autofree char *header = g_strdup_printf ("PROXY TCP4 %s 127.0.0.1 40000 25", address);

        line_client_send (lc, header);
        line_client_expect (lc, expect);
        return lc;
}

static void
test_per_address_proxy (void)
{
        guint16 proxy_port = 0;
        TestServer *ts = test_server_new (setup_proxy_per_address, &proxy_port);
        LineClient *a, *b, *c;

        g_test_summary ("Behind a PROXY header, the per-address limit counts the client's address, taken and "
                        "released under the same one: sessions one after another never get 421");
        g_test_bug ("10");
        for (guint i = 0; i < 4; i++) {
                a = proxied_client (proxy_port, "203.0.113.9", "220 ");
                line_client_chat (a, "QUIT", "221 ");
                g_assert_true (line_client_closed (a));
                line_client_free (a);
        }
        a = proxied_client (proxy_port, "203.0.113.9", "220 ");
        b = proxied_client (proxy_port, "203.0.113.9", "421 4.7.0 Too many connections from your address");
        c = proxied_client (proxy_port, "203.0.113.10", "220 ");
        line_client_free (b);
        line_client_free (c);
        line_client_free (a);
        test_server_free (ts);
}

/* Sends @text a byte at a time, a byte every 300 ms, until the server says
 * something; returns that reply, or NULL when it said nothing. */
static char *
trickle (LineClient *lc, const char *text)
{
        GSocket *socket = g_socket_connection_get_socket (lc->conn);

        for (const char *p = text; *p != '\0'; p++) {
                line_client_send_raw (lc, p, 1);
                if (g_socket_condition_timed_wait (socket, G_IO_IN, 300 * 1000, NULL, NULL))
                        return line_client_reply (lc);
        }
        return NULL;
}

static void
setup_slow_client (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "idle-timeout", 2, "data-timeout", 2, NULL);
}

static void
test_trickling_client (void)
{
        TestServer *ts = test_server_new (setup_slow_client, NULL);
        LineClient *a = line_client_new (ts->port);
        g_autofree char *reply = NULL;
        g_autoptr(GString) lines = g_string_new (NULL);

        g_test_summary ("The idle timeout is also the deadline for one command line, and data-timeout for a "
                        "whole message: a client trickling a byte at a time is cut off like a silent one");
        g_test_bug ("10");
        line_client_expect (a, "220 ");
        /* 40 bytes at 300 ms: 12 s of line, far past the 2 s deadline */
        reply = trickle (a, "EHLO a.client.that.never.ends.its.line.test");
        g_assert_nonnull (reply);
        g_assert_true (g_str_has_prefix (reply, "421 4.4.2"));
        g_assert_true (line_client_closed (a));
        line_client_free (a);

        /* in DATA: each line comes quickly enough, the message never ends */
        a = line_client_new (ts->port);
        line_client_expect (a, "220 ");
        line_client_chat (a, "EHLO c.test", "250 ");
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (a, "DATA", "354 ");
        for (guint i = 0; i < 40; i++)
                g_string_append (lines, "line\r\n");
        g_clear_pointer (&reply, g_free);
        reply = trickle (a, lines->str);
        g_assert_nonnull (reply);
        g_assert_true (g_str_has_prefix (reply, "421 4.4.2"));
        g_assert_null (test_server_pop (ts, 10));
        line_client_free (a);
        test_server_free (ts);
}

static void
test_ipv6 (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.test");
        g_autoptr(GError) error = NULL;
        guint16 port = 0;

        g_test_summary ("Listeners on ::1 and on every address");
        if (!g_smtp_server_listen_inet (server, "::1", 0, GSMTP_LISTEN_DEFAULT, &port, &error)) {
                g_test_skip_printf ("no IPv6 loopback: %s", error->message);
                return;
        }
        g_assert_cmpuint (port, >, 0);
        g_assert_true (g_smtp_server_listen_all (server, 0, GSMTP_LISTEN_DEFAULT, &port, &error));
        g_assert_no_error (error);
        g_assert_false (g_smtp_server_listen_inet (server, "not-an-ip", 0, GSMTP_LISTEN_DEFAULT, NULL, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        g_test_add_func ("/server/smtplib", test_smtplib);
        g_test_add_func ("/server/swaks", test_swaks);
        g_test_add_func ("/server/max-connections", test_max_connections);
        g_test_add_func ("/server/per-address", test_per_address);
        g_test_add_func ("/server/idle-timeout", test_idle_timeout);
        g_test_add_func ("/server/disconnect-mid-data", test_disconnect_mid_data);
        g_test_add_func ("/server/stop-in-flight", test_stop_in_flight);
        g_test_add_func ("/server/stop-grace-over", test_stop_grace_over);
        g_test_add_func ("/server/big-message", test_big_message);
        g_test_add_func ("/server/ipv6", test_ipv6);
        g_test_add_func ("/server/half-close", test_half_close);
        g_test_add_func ("/server/proxy-listener", test_proxy_listener);
        g_test_add_func ("/server/per-address-proxy", test_per_address_proxy);
        g_test_add_func ("/server/trickling-client", test_trickling_client);
        g_test_add_func ("/server/not-reading", test_not_reading);
        return g_test_run ();
}

/* test-server.c — the server over real sockets on loopback: real clients,
 * connection limits, timeouts, stop with sessions in flight. */
#include "config.h"
#include "test-util.h"
#include "gsmtp-proxy.h"

#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* ---- PROXY v2 through the connection ---- */

typedef struct {
        guint16  port;
        char    *cert_file, *key_file;
} ProxyV2Setup;

static void
setup_proxy_v2 (GSmtpServer *server, gpointer data)
{
        ProxyV2Setup *ps = data;
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_server_set_tls_files (server, ps->cert_file, ps->key_file, &error));
        g_object_set (server, "require-tls", TRUE, "max-connections-per-address", 1, NULL);
        g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_PROXY_PROTOCOL,
                                                  &ps->port, &error));
}

static void
append_tlv (GByteArray *out, guint8 type, const void *value, gsize len)
{
        guint8 tl[3] = { type, len >> 8, len & 0xff };

        g_byte_array_append (out, tl, 3);
        g_byte_array_append (out, value, len);
}

/* A v2 header: PROXY (or LOCAL when @family is 0), TCP4 or TCP6 from
 * @client:@port to the server's port 25, then @tlvs, then a CRC32C over it all. */
static GByteArray *
proxy_v2_header (guint8 family, const char *client, guint16 port, GByteArray *tlvs)
{
        static const guint8 sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
        g_autoptr(GInetAddress) src = family != 0 ? g_inet_address_new_from_string (client) : NULL;
        GByteArray *h = g_byte_array_new ();
        guint8 fixed[4] = { family != 0 ? 0x21 : 0x20, family, 0, 0 };
        guint8 ports[4] = { port >> 8, port & 0xff, 0, 25 };
        guint32 crc;
        gsize n;

        g_byte_array_append (h, sig, sizeof sig);
        g_byte_array_append (h, fixed, sizeof fixed);
        if (src != NULL) {
                gsize alen = g_inet_address_get_native_size (src);
                g_autoptr(GInetAddress) dst = g_inet_address_new_loopback (g_inet_address_get_family (src));

                g_byte_array_append (h, g_inet_address_to_bytes (src), alen);
                g_byte_array_append (h, g_inet_address_to_bytes (dst), alen);
                g_byte_array_append (h, ports, sizeof ports);
        }
        if (tlvs != NULL)
                g_byte_array_append (h, tlvs->data, tlvs->len);
        append_tlv (h, 0x03, "\0\0\0\0", 4);
        n = h->len - 16;
        h->data[14] = n >> 8;
        h->data[15] = n & 0xff;
        crc = gsmtp_proxy_crc32c (h->data, h->len);
        for (guint i = 0; i < 4; i++)
                h->data[h->len - 4 + i] = crc >> (24 - 8 * i);
        return h;
}

/* Sends @h in pieces cut inside the signature, the fixed part, the addresses
 * and the TLVs; the server must say nothing before the last piece. */
static void
send_in_pieces (LineClient *lc, GByteArray *h)
{
        const gsize cuts[] = { 1, 12, 13, 15, 16, 20, 31, h->len - 10, h->len - 1, h->len };
        GSocket *socket = g_socket_connection_get_socket (lc->conn);
        gsize done = 0;

        g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
        for (guint i = 0; i < G_N_ELEMENTS (cuts); i++) {
                if (cuts[i] <= done || cuts[i] > h->len)
                        continue;
                line_client_send_raw (lc, h->data + done, cuts[i] - done);
                done = cuts[i];
                if (done < h->len)
                        g_assert_false (g_socket_condition_timed_wait (socket, G_IO_IN, 50 * 1000, NULL, NULL));
        }
}

static void
test_proxy_v2_listener (void)
{
        g_autofree char *dir = g_dir_make_tmp ("gsmtp-proxy-v2-XXXXXX", NULL);
        ProxyV2Setup ps = { 0 };
        TestServer *ts;
        g_autoptr(GByteArray) tlvs = g_byte_array_new ();
        g_autoptr(GByteArray) ssl = g_byte_array_new ();
        g_autoptr(GByteArray) ha = NULL, hb = NULL, hc = NULL, hd = NULL, he = NULL;
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autofree char *ehlo = NULL, *proxy_host = NULL;
        LineClient *a, *b, *c, *d, *e;
        GSmtpPeer *peer;

        g_test_summary ("PROXY v2 on the listener that takes v1: the client's address, its TLS to the proxy "
                        "(no STARTTLS offered, require-tls met, ESMTPS in Received), the authority; LOCAL "
                        "keeps the socket's address; a bad CRC32C is dropped unanswered; the per-address "
                        "limit counts the address v2 gives; headers split anywhere");
        if (!test_make_certificate (dir, &ps.cert_file, &ps.key_file)) {
                g_test_skip ("openssl not installed");
                return;
        }
        ts = test_server_new (setup_proxy_v2, &ps);
        /* the SSL TLV: TLS, a certificate in the session, verified */
        g_byte_array_append (ssl, (const guint8 *) "\x05\0\0\0\0", 5);
        append_tlv (ssl, 0x21, "TLSv1.3", 7);
        append_tlv (ssl, 0x23, "TLS_AES_256_GCM_SHA384", 22);
        append_tlv (ssl, 0x22, "client.example", 14);
        append_tlv (tlvs, 0x02, "mx.example.org", 14);
        append_tlv (tlvs, 0x20, ssl->data, ssl->len);

        a = line_client_new (ps.port);
        ha = proxy_v2_header (0x11, "203.0.113.9", 40000, tlvs);
        send_in_pieces (a, ha);
        line_client_expect (a, "220 ");
        line_client_send (a, "EHLO client.example");
        ehlo = line_client_reply (a);
        g_assert_true (g_str_has_prefix (ehlo, "250"));
        g_assert_null (strstr (ehlo, "STARTTLS"));      /* TLS already, up to the proxy */
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");   /* require-tls is met */
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (a, "DATA", "354 ");
        line_client_chat (a, "Subject: v2\r\n\r\nx\r\n.", "250 ");
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        peer = g_smtp_envelope_get_peer (env);
        g_assert_cmpstr (g_smtp_peer_get_host (peer), ==, "203.0.113.9");
        g_assert_cmpuint (g_smtp_peer_get_port (peer), ==, 40000);
        g_assert_nonnull (g_smtp_peer_get_proxy_address (peer));
        proxy_host = g_inet_address_to_string (g_inet_socket_address_get_address (
                G_INET_SOCKET_ADDRESS (g_smtp_peer_get_proxy_address (peer))));
        g_assert_cmpstr (proxy_host, ==, "127.0.0.1");
        g_assert_true (g_smtp_peer_get_tls (peer));
        g_assert_true (g_smtp_peer_get_proxy_tls (peer));
        g_assert_cmpstr (g_smtp_peer_get_proxy_tls_version (peer), ==, "TLSv1.3");
        g_assert_cmpstr (g_smtp_peer_get_proxy_tls_cipher (peer), ==, "TLS_AES_256_GCM_SHA384");
        g_assert_cmpstr (g_smtp_peer_get_tls_version (peer), ==, "TLSv1.3");
        g_assert_cmpstr (g_smtp_peer_get_proxy_tls_client_cn (peer), ==, "client.example");
        g_assert_true (g_smtp_peer_get_proxy_tls_client_verified (peer));
        g_assert_null (g_smtp_peer_get_tls_certificate (peer));
        g_assert_cmpstr (g_smtp_peer_get_proxy_authority (peer), ==, "mx.example.org");
        g_assert_cmpstr (g_smtp_peer_get_protocol (peer), ==, "ESMTPS");
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (env),
                                  "with ESMTPS (TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)"));

        /* v2 without the SSL TLV, over TCP6: plain, so STARTTLS and require-tls apply */
        b = line_client_new (ps.port);
        hb = proxy_v2_header (0x21, "2001:db8::7", 4000, NULL);
        send_in_pieces (b, hb);
        line_client_expect (b, "220 ");
        g_clear_pointer (&ehlo, g_free);
        line_client_send (b, "EHLO client.example");
        ehlo = line_client_reply (b);
        g_assert_nonnull (strstr (ehlo, "STARTTLS"));
        line_client_chat (b, "MAIL FROM:<a@x.test>", "530 ");

        /* LOCAL: the proxy's own health check, under the socket's address */
        c = line_client_new (ps.port);
        hc = proxy_v2_header (0, NULL, 0, NULL);
        send_in_pieces (c, hc);
        line_client_expect (c, "220 ");
        line_client_chat (c, "QUIT", "221 ");

        /* the same client again: the per-address limit counts 203.0.113.9 */
        d = line_client_new (ps.port);
        hd = proxy_v2_header (0x11, "203.0.113.9", 40001, NULL);
        line_client_send_raw (d, hd->data, hd->len);
        line_client_expect (d, "421 4.7.0");

        /* one bit wrong under the CRC32C: dropped, not a word said */
        e = line_client_new (ps.port);
        he = proxy_v2_header (0x11, "203.0.113.10", 40000, tlvs);
        he->data[20] ^= 0x01;
        line_client_send_raw (e, he->data, he->len);
        g_assert_true (line_client_closed (e));

        line_client_chat (a, "QUIT", "221 ");
        line_client_free (a);
        line_client_free (b);
        line_client_free (c);
        line_client_free (d);
        line_client_free (e);
        test_server_free (ts);
        g_unlink (ps.cert_file);
        g_unlink (ps.key_file);
        g_rmdir (dir);
        g_free (ps.cert_file);
        g_free (ps.key_file);
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
        g_test_add_func ("/server/proxy-v2", test_proxy_v2_listener);
        g_test_add_func ("/server/trickling-client", test_trickling_client);
        g_test_add_func ("/server/not-reading", test_not_reading);
        return g_test_run ();
}

/* test-client-peers.c — GSmtpClient against a server that misbehaves on purpose
 * (tests/peers/scripted-peer.py): replies split anywhere, 421 at every step, late
 * and unasked replies, idle timeouts; and the extensions no installed peer speaks
 * (CHUNKING, BINARYMIME, REQUIRETLS, XOAUTH2, OAUTHBEARER). */
#include "config.h"
#include "client-peer.h"
#include "test-util.h"

#include <glib/gstdio.h>
#include <string.h>

static char *cert_file, *key_file, *tmpdir;

static GBytes *
bytes_from (const char *text)
{
        return g_bytes_new (text, strlen (text));
}

/* Sends @text and checks the peer got exactly @wire as the message. */
static GVariant *
send_and_expect (GSmtpClient *client, ClientPeer *peer, const char *const *rcpts, const char *text,
                 const char *wire)
{
        g_autoptr(GBytes) data = bytes_from (text);
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GBytes) got = NULL;
        GVariant *event;

        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_nonnull (result);
        event = client_peer_event (peer, "message");
        if (strlen (wire) <= 16384) {
                got = client_peer_event_data (event);
                g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), wire, strlen (wire));
        } else {
                g_autofree char *sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, wire, -1);

                g_assert_cmpint (client_peer_lookup_int (event, "size"), ==, strlen (wire));
                g_assert_cmpstr (client_peer_lookup (event, "sha256"), ==, sha);
        }
        return event;
}

static void
test_byte_by_byte (void)
{
        const char *rcpts[] = { "b@example.org", "c@example.org", NULL };
        ClientPeer *peer;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) first = NULL, second = NULL;

        g_test_summary ("Every reply arrives one byte per packet: pipelined transactions still frame every reply");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"split\": 1}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        first = send_and_expect (client, peer, rcpts, "Subject: one\r\n\r\nbody\r\n", "Subject: one\r\n\r\nbody\r\n");
        second = send_and_expect (client, peer, rcpts, "Subject: two\n\n.dot\n", "Subject: two\r\n\r\n.dot\r\n");
        /* one connection for both: each reply was framed where it ends */
        g_assert_cmpint (client_peer_lookup_int (first, "session"), ==, client_peer_lookup_int (second, "session"));
        g_assert_true (g_smtp_client_quit (client, NULL, NULL));
        client_peer_stop (peer);
}

static void
test_ehlo_split (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        ClientPeer *peer;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL;

        g_test_summary ("An EHLO reply split after byte 13, inside its first line, is one reply");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"ehlo_split_at\": 13}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        event = send_and_expect (client, peer, rcpts, "x\r\n", "x\r\n");
        g_assert_cmpstrv (g_smtp_client_get_extensions (client),
                          ((const char *[]) { "PIPELINING", "8BITMIME", "SIZE 1000000", "ENHANCEDSTATUSCODES", NULL }));
        client_peer_stop (peer);
}

static void
test_big_reply (void)
{
        const char *rcpts[] = { "big@example.org", "b@example.org", NULL };
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GError) error = NULL;
        ClientPeer *peer;
        GSmtpReply *refusal;

        g_test_summary ("A 60-line, 5 KiB 550 to a pipelined RCPT, in 7-byte packets, is one reply kept whole");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"split\": 7, \"big_reply_for\": \"big\"}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        refusal = g_smtp_send_result_get_recipient_reply (result, "big@example.org");
        g_assert_cmpuint (g_smtp_reply_get_code (refusal), ==, 550);
        g_assert_cmpuint (g_strv_length ((char **) g_smtp_reply_get_lines (refusal)), ==, 60);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), ((const char *[]) { "b@example.org", NULL }));
        g_variant_unref (client_peer_event (peer, "message"));
        client_peer_stop (peer);
}

static void
test_idle_421 (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) first = NULL, second = NULL, closed = NULL;
        ClientPeer *peer;

        g_test_summary ("A connection the server closed with 421 while idle is noticed; the next send reconnects");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"idle_421_after\": 1}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        first = send_and_expect (client, peer, rcpts, "one\r\n", "one\r\n");
        closed = client_peer_event (peer, "idle-closed");
        second = send_and_expect (client, peer, rcpts, "two\r\n", "two\r\n");
        g_assert_cmpint (client_peer_lookup_int (second, "session"), ==, client_peer_lookup_int (first, "session") + 1);
        /* the new connection saw a whole transaction, nothing left from the old */
        g_assert_cmpstr (client_peer_lookup (second, "mail"), ==, "MAIL FROM:<a@x.test> SIZE=5");
        client_peer_stop (peer);
}

static void
test_idle_421_race (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) first = NULL, second = NULL;
        ClientPeer *peer;

        g_test_summary ("Sending at the moment the server says 421 on an idle connection: retried once on a new one");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"idle_421_after\": 1}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        first = send_and_expect (client, peer, rcpts, "one\r\n", "one\r\n");
        /* no waiting for idle-closed: the 421 comes before, with or after MAIL */
        second = send_and_expect (client, peer, rcpts, "two\r\n", "two\r\n");
        g_assert_cmpint (client_peer_lookup_int (second, "session"), ==, 2);
        client_peer_stop (peer);
}

static void
test_late_reply (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GBytes) data = bytes_from ("first\r\n");
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) event = NULL, second = NULL;
        ClientPeer *peer;

        g_test_summary ("A reply that comes after the client's timeout is never read as the next send's reply");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"late_first\": 3}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_smtp_client_set_timeout (client, 1);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
        g_assert_nonnull (strstr (error->message, "timeout"));
        event = client_peer_event (peer, "message");
        /* the next send: a new connection, its own replies ("queued as 2") */
        g_clear_object (&result);
        g_clear_error (&error);
        g_clear_pointer (&data, g_bytes_unref);
        data = bytes_from ("second\r\n");
        g_smtp_client_set_timeout (client, 10);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (g_smtp_reply_get_text (g_smtp_send_result_get_reply (result)), ==, "queued as 2");
        second = client_peer_event (peer, "message");
        g_assert_cmpint (client_peer_lookup_int (second, "session"), !=, client_peer_lookup_int (event, "session"));
        client_peer_stop (peer);
}

static void
test_extra_reply (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) first = NULL, second = NULL;
        ClientPeer *peer;

        g_test_summary ("A reply nobody asked for after the end of data: the connection is out of step and replaced");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"extra_reply\": \"250 2.0.0 unasked\"}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        first = send_and_expect (client, peer, rcpts, "one\r\n", "one\r\n");
        g_variant_unref (client_peer_event (peer, "extra-sent"));
        second = send_and_expect (client, peer, rcpts, "two\r\n", "two\r\n");
        g_assert_cmpint (client_peer_lookup_int (second, "session"), !=, client_peer_lookup_int (first, "session"));
        client_peer_stop (peer);
}

static void
expect_421 (const char *config, const char *const *rcpts)
{
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        ClientPeer *peer = client_peer_scripted (config);

        client = g_smtp_client_new ("127.0.0.1", peer->port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_null (result);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TEMPORARY);
        g_assert_nonnull (strstr (error->message, "421 4.3.2"));
        g_assert_null (strstr (error->message, "closed the connection"));
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_error_get_reply (error)), ==, 421);
        if (strstr (config, "RCPT") != NULL) {
                GSmtpSendResult *partial = g_smtp_error_get_send_result (error);

                g_assert_nonnull (partial);
                g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (partial, rcpts[0])),
                                  ==, 250);
                g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (partial, rcpts[1])),
                                  ==, 421);
                g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (partial, rcpts[2])),
                                  ==, 421);
        }
        client_peer_stop (peer);
}

static void
test_421_everywhere (void)
{
        const char *rcpts[] = { "b@example.org", "c@example.org", "d@example.org", NULL };
        const char *configs[] = {
                "{\"reply_421\": \"EHLO\"}", "{\"reply_421\": \"MAIL\"}",
                "{\"reply_421\": \"RCPT\", \"rcpt_421_index\": 1}", "{\"reply_421\": \"DATA\"}",
                "{\"reply_421\": \"DOT\"}", "{\"reply_421\": \"BDAT\", \"ehlo\": [\"CHUNKING\"]}",
                "{\"reply_421\": \"EHLO\", \"split\": 1}",
        };

        g_test_summary ("421 to EHLO, MAIL, a pipelined RCPT, DATA, the end of data or BDAT is reported as that 421");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
                expect_421 (configs[i], rcpts);
}

static void
test_all_refused (void)
{
        const char *rcpts[] = { "bob@example.org", "tmp@example.org", NULL };
        const char *ok[] = { "b@example.org", NULL };
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GVariant) event = NULL;
        GSmtpSendResult *partial;
        ClientPeer *peer;

        g_test_summary ("Every recipient refused (550 and 451): the error quotes both, keeps both replies, "
                        "is temporary; the connection serves the next send");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"rcpt_replies\": {\"bob\": \"550 5.1.1 no such user\", "
                                     "\"tmp\": \"451 4.3.0 try later\"}}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_null (result);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_TEMPORARY);
        g_assert_nonnull (strstr (error->message, "bob@example.org (550 5.1.1 no such user)"));
        g_assert_nonnull (strstr (error->message, "tmp@example.org (451 4.3.0 try later)"));
        partial = g_smtp_error_get_send_result (error);
        g_assert_nonnull (partial);
        g_assert_cmpstrv (g_smtp_send_result_get_refused (partial), rcpts);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (partial, rcpts[1])), ==, 451);
        event = send_and_expect (client, peer, ok, "y\r\n", "y\r\n");
        g_assert_cmpint (client_peer_lookup_int (event, "session"), ==, 1);
        client_peer_stop (peer);
}

static void
test_injection (void)
{
        const char *bad_senders[] = { "a@x.test> NOTIFY=NEVER", "a@x.test\r\nRSET", "<a@x.test", "a@x.test>",
                                      "a b@x.test", "a@x.test\x01", "\"unterminated@x.test" };
        const char *bad_rcpts[] = { "b@example.org\r\nMAIL FROM:<evil@x.test>", "b@example.org> ORCPT=rfc822;x",
                                    "b@example.org\n", "", "<>", "b@exa<mple.org" };
        const char *ok[] = { "b@example.org", NULL };
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL;
        g_auto(GStrv) commands = NULL;
        ClientPeer *peer;

        g_test_summary ("CR, LF, control bytes, spaces and unbalanced <> in addresses are refused before anything is sent");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        for (guint i = 0; i < G_N_ELEMENTS (bad_senders); i++) {
                g_autoptr(GError) error = NULL;

                g_assert_null (g_smtp_client_send_bytes (client, bad_senders[i], ok, data, NULL, &error));
                g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
                g_assert_true (g_str_has_prefix (error->message, "Invalid sender"));
        }
        for (guint i = 0; i < G_N_ELEMENTS (bad_rcpts); i++) {
                g_autoptr(GError) error = NULL;
                const char *rcpts[] = { "fine@example.org", bad_rcpts[i], NULL };

                g_assert_null (g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error));
                g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        }
        {
                /* a quoted local part may hold what is refused elsewhere; brackets given are taken off */
                const char *rcpts[] = { "\"odd > one\"@example.org", "<b@example.org>", NULL };

                event = send_and_expect (client, peer, rcpts, "x\r\n", "x\r\n");
        }
        /* nothing of the refused sends reached the server: this is its first session and transaction */
        g_assert_cmpint (client_peer_lookup_int (event, "session"), ==, 1);
        commands = client_peer_lookup_strv (event, "commands");
        for (guint i = 0; commands[i] != NULL; i++) {
                g_assert_null (strstr (commands[i], "evil"));
                g_assert_null (strstr (commands[i], "NOTIFY"));
        }
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, "MAIL FROM:<a@x.test> SIZE=3");
        client_peer_stop (peer);
}

static void
test_size_exact (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        const char *text = "Subject: size\n\n.leading dot\nbare lf\rbare cr\r\nlast";
        const char *wire = "Subject: size\r\n\r\n.leading dot\r\nbare lf\r\nbare cr\r\nlast\r\n";
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autofree char *want = NULL;
        ClientPeer *peer;

        g_test_summary ("SIZE= is the size after CRLF conversion, without the stuffed dots: what the server stores");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        event = send_and_expect (client, peer, rcpts, text, wire);
        want = g_strdup_printf ("MAIL FROM:<a@x.test> SIZE=%zu", strlen (wire));
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, want);
        g_assert_cmpint (client_peer_lookup_int (event, "size"), ==, strlen (wire));
        client_peer_stop (peer);
}

static void
expect_not_supported (GSmtpClient *client, const char *sender, const char *const *rcpts, const char *text,
                      GSmtpSendOptions *options, const char *extension)
{
        g_autoptr(GBytes) data = g_bytes_new (text, strlen (text));
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;

        result = g_smtp_client_send_bytes_full (client, sender, rcpts, data, options, NULL, &error);
        g_assert_null (result);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_NOT_SUPPORTED);
        if (strstr (error->message, extension) == NULL)
                g_error ("\"%s\" does not name %s", error->message, extension);
}

static void
test_8bit_without_8bitmime (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL;
        g_auto(GStrv) commands = NULL;
        ClientPeer *peer;

        g_test_summary ("8-bit data to a server without 8BITMIME is refused before MAIL (RFC 6152); the "
                        "connection stays usable");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"ehlo\": [\"PIPELINING\"]}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        expect_not_supported (client, "a@x.test", rcpts, "Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n", NULL,
                              "8BITMIME");
        event = send_and_expect (client, peer, rcpts, "ascii\r\n", "ascii\r\n");
        /* the refused message sent no MAIL: EHLO, then this one's MAIL, RCPT, DATA */
        commands = client_peer_lookup_strv (event, "commands");
        g_assert_cmpuint (g_strv_length (commands), ==, 4);
        client_peer_stop (peer);
}

static void
test_smtputf8 (void)
{
        const char *rcpts[] = { "j\xc3\xb8rn@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL;
        ClientPeer *plain, *peer;

        g_test_summary ("A UTF-8 address goes with SMTPUTF8 where offered, and fails before MAIL naming it where not");
        SKIP_WITHOUT_PYTHON ();
        plain = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", plain->port);
        expect_not_supported (client, "a@x.test", rcpts, "x\r\n", NULL, "SMTPUTF8");
        client_peer_stop (plain);
        g_clear_object (&client);

        peer = client_peer_scripted ("{\"ehlo\": [\"PIPELINING\", \"8BITMIME\", \"SMTPUTF8\"]}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        event = send_and_expect (client, peer, rcpts, "x\r\n", "x\r\n");
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, "MAIL FROM:<a@x.test> SMTPUTF8");
        client_peer_stop (peer);
}

static void
test_chunking (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL, big_event = NULL;
        g_autoptr(GString) big = g_string_new (NULL);
        g_autoptr(GString) big_wire = g_string_new (NULL);
        g_autoptr(GBytes) got = NULL;
        ClientPeer *peer;

        g_test_summary ("CHUNKING: the message goes by BDAT, not dot-stuffed; a 3 MiB one in several chunks");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"ehlo\": [\"PIPELINING\", \"8BITMIME\", \"CHUNKING\", \"SIZE 10000000\"]}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        event = send_and_expect (client, peer, rcpts, "Subject: bdat\n\n.\n..x\n", "Subject: bdat\r\n\r\n.\r\n..x\r\n");
        g_assert_true (client_peer_lookup_bool (event, "chunked"));
        while (big->len < 3 * 1024 * 1024) {
                g_string_append (big, ".line of text\n");
                g_string_append (big_wire, ".line of text\r\n");
        }
        big_event = send_and_expect (client, peer, rcpts, big->str, big_wire->str);
        g_assert_cmpint (client_peer_lookup_int (big_event, "session"), ==, 1);
        client_peer_stop (peer);
}

static void
test_binarymime (void)
{
        static const char binary[] = "Content-Type: application/octet-stream\r\n"
                                     "Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\n\r\x80.\n";
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GBytes) data = g_bytes_new_static (binary, sizeof binary - 1);
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autoptr(GBytes) got = NULL;
        ClientPeer *plain, *peer;

        g_test_summary ("A body with NUL bytes goes unchanged by BDAT with BODY=BINARYMIME, or is refused where not offered");
        SKIP_WITHOUT_PYTHON ();
        plain = client_peer_scripted ("{\"ehlo\": [\"PIPELINING\", \"8BITMIME\", \"CHUNKING\"]}");
        client = g_smtp_client_new ("127.0.0.1", plain->port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_NOT_SUPPORTED);
        g_assert_nonnull (strstr (error->message, "BINARYMIME"));
        g_clear_error (&error);
        client_peer_stop (plain);
        g_clear_object (&client);

        peer = client_peer_scripted ("{\"ehlo\": [\"PIPELINING\", \"8BITMIME\", \"CHUNKING\", \"BINARYMIME\", \"SIZE\"]}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        event = client_peer_event (peer, "message");
        got = client_peer_event_data (event);
        g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), binary, sizeof binary - 1);
        g_assert_nonnull (strstr (client_peer_lookup (event, "mail"), " BODY=BINARYMIME"));
        client_peer_stop (peer);
}

static void
test_dsn (void)
{
        const char *rcpts[] = { "b@example.org", "c@example.org", NULL };
        g_autoptr(GSmtpSendOptions) options = g_smtp_send_options_new ();
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_auto(GStrv) lines = NULL;
        ClientPeer *plain, *peer;

        g_test_summary ("DSN: RET, ENVID and ORCPT xtext-encoded, NOTIFY per recipient; refused before MAIL without DSN");
        SKIP_WITHOUT_PYTHON ();
        g_smtp_send_options_set_dsn_return (options, GSMTP_DSN_RET_HDRS);
        g_assert_true (g_smtp_send_options_set_dsn_envid (options, "id+1=two three", &error));
        g_smtp_send_options_set_dsn_notify (options, GSMTP_DSN_NOTIFY_SUCCESS | GSMTP_DSN_NOTIFY_FAILURE);
        g_smtp_send_options_set_recipient_notify (options, "c@example.org", GSMTP_DSN_NOTIFY_NEVER);
        g_assert_true (g_smtp_send_options_set_original_recipient (options, "b@example.org", "B+x@example.org", &error));
        g_assert_false (g_smtp_send_options_set_original_recipient (options, "b@example.org", "b\r\n@x", &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        g_clear_error (&error);
        g_assert_false (g_smtp_send_options_set_dsn_envid (options, "bad\nid", &error));
        g_clear_error (&error);

        plain = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", plain->port);
        expect_not_supported (client, "a@x.test", rcpts, "x\r\n", options, "DSN");
        client_peer_stop (plain);
        g_clear_object (&client);

        peer = client_peer_scripted ("{\"ehlo\": [\"PIPELINING\", \"DSN\"]}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        result = g_smtp_client_send_bytes_full (client, "a@x.test", rcpts, data, options, NULL, &error);
        g_assert_no_error (error);
        event = client_peer_event (peer, "message");
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, "MAIL FROM:<a@x.test> RET=HDRS ENVID=id+2B1+3Dtwo+20three");
        lines = client_peer_lookup_strv (event, "rcpts");
        g_assert_cmpstr (lines[0], ==, "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2Bx@example.org");
        g_assert_cmpstr (lines[1], ==, "RCPT TO:<c@example.org> NOTIFY=NEVER");
        client_peer_stop (peer);
}

static void
test_extra_parameters (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpSendOptions) options = g_smtp_send_options_new ();
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_auto(GStrv) lines = NULL;
        ClientPeer *peer;

        g_test_summary ("Other MAIL and RCPT parameters pass when their syntax is right, and only then");
        SKIP_WITHOUT_PYTHON ();
        g_assert_true (g_smtp_send_options_add_mail_parameter (options, "mt-priority", "3", &error));
        g_assert_true (g_smtp_send_options_add_mail_parameter (options, "HOLDFOR", NULL, &error));
        g_assert_true (g_smtp_send_options_add_recipient_parameter (options, "b@example.org", "X-TAG", "a.b", &error));
        g_assert_false (g_smtp_send_options_add_mail_parameter (options, "X", "1 NOTIFY=NEVER", &error));
        g_clear_error (&error);
        g_assert_false (g_smtp_send_options_add_mail_parameter (options, "X\r\nRSET", NULL, &error));
        g_clear_error (&error);
        g_assert_false (g_smtp_send_options_add_mail_parameter (options, "SIZE", "1", &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        g_clear_error (&error);
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        result = g_smtp_client_send_bytes_full (client, "a@x.test", rcpts, data, options, NULL, &error);
        g_assert_no_error (error);
        event = client_peer_event (peer, "message");
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, "MAIL FROM:<a@x.test> SIZE=3 MT-PRIORITY=3 HOLDFOR");
        lines = client_peer_lookup_strv (event, "rcpts");
        g_assert_cmpstr (lines[0], ==, "RCPT TO:<b@example.org> X-TAG=a.b");
        client_peer_stop (peer);
}

static char *
tls_config (const char *extra)
{
        return g_strdup_printf ("{\"cert\": \"%s\", \"key\": \"%s\"%s%s}", cert_file, key_file,
                                extra != NULL ? ", " : "", extra != NULL ? extra : "");
}

static void
test_requiretls (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpSendOptions) options = g_smtp_send_options_new ();
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autofree char *config = tls_config ("\"ehlo\": [\"PIPELINING\", \"REQUIRETLS\"]");
        ClientPeer *peer;

        g_test_summary ("REQUIRETLS: sent over verified TLS to a server offering it; refused in plain text");
        SKIP_WITHOUT_PYTHON ();
        g_smtp_send_options_set_requiretls (options, TRUE);
        peer = client_peer_scripted (config);
        client = g_smtp_client_new ("localhost", peer->port);
        /* STARTTLS when offered, but this is plain text so far */
        expect_not_supported (client, "a@x.test", rcpts, "x\r\n", options, "REQUIRETLS");
        g_clear_object (&client);
        client = g_smtp_client_new ("localhost", peer->port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        result = g_smtp_client_send_bytes_full (client, "a@x.test", rcpts, data, options, NULL, &error);
        g_assert_no_error (error);
        event = client_peer_event (peer, "message");
        g_assert_true (client_peer_lookup_bool (event, "tls"));
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, "MAIL FROM:<a@x.test> REQUIRETLS");
        client_peer_stop (peer);
}

static void
test_helo_after_tls_forgets_auth (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autofree char *config = tls_config ("\"auth\": [\"PLAIN\"], \"ehlo_refused_after_tls\": true");
        ClientPeer *peer;

        g_test_summary ("After STARTTLS a server that refuses EHLO and takes HELO offers nothing: the AUTH "
                        "list of the plain-text EHLO is not used (RFC 3207 4.2)");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted (config);
        client = g_smtp_client_new ("localhost", peer->port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        g_smtp_client_set_credentials (client, "user", "secret");
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_null (result);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED);
        g_assert_nonnull (strstr (error->message, "offers no AUTH"));
        client_peer_stop (peer);
}

static char *
token_func (GSmtpClient *client, const char *username, gpointer data)
{
        (*(int *) data)++;
        return g_strdup ("token");
}

static void
oauth_run (const char *mechanism, gboolean use_func)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autofree char *config = g_strdup_printf ("{\"cert\": \"%s\", \"key\": \"%s\", \"auth\": [\"%s\"]}",
                                                   cert_file, key_file, mechanism);
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) auth = NULL, bad = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autofree char *want = NULL;
        int calls = 0;
        ClientPeer *peer = client_peer_scripted (config);

        client = g_smtp_client_new ("localhost", peer->port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        if (use_func)
                g_smtp_client_set_token_func (client, "me@example.org", token_func, &calls, NULL);
        else
                g_smtp_client_set_oauth_token (client, "me@example.org", "token");
        result = g_smtp_client_send_bytes (client, "me@example.org", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpint (calls, ==, use_func ? 1 : 0);
        auth = client_peer_event (peer, "auth");
        g_assert_cmpstr (client_peer_lookup (auth, "mechanism"), ==, mechanism);
        if (g_str_equal (mechanism, "XOAUTH2"))
                want = g_strdup ("user=me@example.org\001auth=Bearer token\001\001");
        else
                want = g_strdup_printf ("n,a=me@example.org,\001host=localhost\001port=%u\001auth=Bearer token\001\001",
                                        peer->port);
        g_assert_cmpstr (client_peer_lookup (auth, "response"), ==, want);
        g_variant_unref (client_peer_event (peer, "message"));

        /* a refused token: the 334 error challenge is acknowledged, 535 follows */
        g_clear_object (&client);
        g_clear_object (&result);
        client = g_smtp_client_new ("localhost", peer->port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        g_smtp_client_set_oauth_token (client, "me@example.org", "expired-secret-token");
        g_object_set (client, "auth-mechanism", mechanism, NULL);
        result = g_smtp_client_send_bytes (client, "me@example.org", rcpts, data, NULL, &error);
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED);
        g_assert_nonnull (strstr (error->message, "535 5.7.8"));
        g_assert_null (strstr (error->message, "expired-secret-token"));
        bad = client_peer_event (peer, "auth");
        client_peer_stop (peer);
}

static void
test_xoauth2 (void)
{
        g_test_summary ("AUTH XOAUTH2 over STARTTLS with a token from a property or a function; a refused token");
        SKIP_WITHOUT_PYTHON ();
        oauth_run ("XOAUTH2", FALSE);
        oauth_run ("XOAUTH2", TRUE);
}

static void
test_oauthbearer (void)
{
        g_test_summary ("AUTH OAUTHBEARER (RFC 7628) with the GS2 header, host and port; a refused token");
        SKIP_WITHOUT_PYTHON ();
        oauth_run ("OAUTHBEARER", FALSE);
        oauth_run ("OAUTHBEARER", TRUE);
}

static void
test_lmtp (void)
{
        const char *rcpts[] = { "a@example.org", "full@example.org", "gone@example.org", NULL };
        const char *accepted[] = { "a@example.org", NULL };
        const char *refused[] = { "full@example.org", "gone@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_auto(GStrv) commands = NULL;
        ClientPeer *peer;

        g_test_summary ("LMTP: LHLO, and one reply per accepted recipient after the data, in the result");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"lmtp\": true, \"lmtp_replies\": {\"full\": \"452 4.2.2 mailbox full\"}, "
                                     "\"rcpt_replies\": {\"gone\": \"550 5.1.1 gone\"}}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_object_set (client, "lmtp", TRUE, NULL);
        result = g_smtp_client_send_bytes (client, "s@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        g_assert_cmpstrv (g_smtp_send_result_get_accepted (result), accepted);
        g_assert_cmpstrv (g_smtp_send_result_get_refused (result), refused);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (result, "full@example.org")), ==, 452);
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_recipient_reply (result, "gone@example.org")), ==, 550);
        event = client_peer_event (peer, "message");
        commands = client_peer_lookup_strv (event, "commands");
        g_assert_true (g_str_has_prefix (commands[0], "LHLO "));
        client_peer_stop (peer);
}

static void
test_helo_name (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        const char *helo;
        ClientPeer *peer;

        g_test_summary ("EHLO gives a domain with a dot or an address literal (RFC 5321 4.1.1.1); a bad name, and "
                        "an address literal without or with the wrong IPv6 tag, are refused");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        event = send_and_expect (client, peer, rcpts, "x\r\n", "x\r\n");
        helo = client_peer_lookup (event, "helo");
        g_assert_true (g_str_equal (helo, "[127.0.0.1]") || (strchr (helo, '.') != NULL && helo[0] != '['));
        /* an address literal given: IPv6 with its tag (RFC 5321 4.1.3) */
        g_clear_pointer (&event, g_variant_unref);
        g_smtp_client_set_helo_name (client, "[IPv6:::1]");
        g_smtp_client_quit (client, NULL, NULL);
        event = send_and_expect (client, peer, rcpts, "x\r\n", "x\r\n");
        g_assert_cmpstr (client_peer_lookup (event, "helo"), ==, "[IPv6:::1]");
        for (guint i = 0; i < 3; i++) {
                static const char *const bad[] = { "bad name\r\nRSET", "[::1]", "[IPv6:192.0.2.1]" };

                g_smtp_client_set_helo_name (client, bad[i]);
                g_smtp_client_quit (client, NULL, NULL);
                g_assert_null (g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error));
                g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
                g_clear_error (&error);
        }
        client_peer_stop (peer);
}

static void
cancel_when_sent (GSmtpClient *client, gpointer data)
{
        g_cancellable_cancel (data);
}

static void
test_cancel_after_data (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GCancellable) cancel = g_cancellable_new ();
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        ClientPeer *peer;

        g_test_summary ("Cancelled once the whole message is out: the server's verdict is still waited for, so "
                        "an accepted message never looks undelivered (and is not sent twice)");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"data_delay\": 0.5}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_signal_connect (client, "message-sent", G_CALLBACK (cancel_when_sent), cancel);
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, cancel, &error);
        g_assert_no_error (error);
        g_assert_true (g_cancellable_is_cancelled (cancel));
        g_assert_cmpuint (g_smtp_reply_get_code (g_smtp_send_result_get_reply (result)), ==, 250);
        client_peer_stop (peer);
}

/* A GTlsInteraction that answers a server's certificate request with the test's
 * certificate, and counts the requests. */
typedef struct {
        GTlsInteraction parent_instance;
        guint           requests;
} TestInteraction;
typedef GTlsInteractionClass TestInteractionClass;

GType test_interaction_get_type (void);
G_DEFINE_TYPE (TestInteraction, test_interaction, G_TYPE_TLS_INTERACTION)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestInteraction, g_object_unref)

static GTlsInteractionResult
test_interaction_request_certificate (GTlsInteraction *interaction, GTlsConnection *connection,
                                      GTlsCertificateRequestFlags flags, GCancellable *cancellable,
                                      GError **error)
{
        GTlsCertificate *cert = g_tls_certificate_new_from_files (cert_file, key_file, error);

        if (cert == NULL)
                return G_TLS_INTERACTION_FAILED;
        ((TestInteraction *) interaction)->requests++;
        g_tls_connection_set_certificate (connection, cert);
        g_object_unref (cert);
        return G_TLS_INTERACTION_HANDLED;
}

static void
test_interaction_class_init (TestInteractionClass *klass)
{
        klass->request_certificate = test_interaction_request_certificate;
}

static void
test_interaction_init (TestInteraction *self)
{
}

static void
test_tls_interaction (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autofree char *config = NULL;
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) tls = NULL;
        g_autoptr(TestInteraction) interaction = g_object_new (test_interaction_get_type (), NULL);
        ClientPeer *peer;

        g_test_summary ("tls-interaction: a server asking for a client certificate gets the one the "
                        "application's GTlsInteraction gives");
        SKIP_WITHOUT_PYTHON ();
        config = g_strdup_printf ("{\"cert\": \"%s\", \"key\": \"%s\", \"client_ca\": \"%s\"}",
                                  cert_file, key_file, cert_file);
        peer = client_peer_scripted (config);
        client = g_smtp_client_new ("localhost", peer->port);
        g_object_set (client, "tls-mode", GSMTP_TLS_STARTTLS, "tls-interaction", interaction, NULL);
        g_assert_true (g_smtp_client_set_ca_file (client, cert_file, &error));
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_no_error (error);
        tls = client_peer_event (peer, "tls");
        g_assert_cmpstr (client_peer_lookup (tls, "client_cert"), ==, "localhost");
        g_assert_cmpuint (interaction->requests, ==, 1);
        client_peer_stop (peer);
}

/* A certificate from tests/peers/make-cert.py; FALSE without python3-cryptography. */
static gboolean
make_cert (const char *name, int from_days, int to_days, char **cert, char **key)
{
        g_autofree char *script = g_build_filename (g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".",
                                                    "tests", "peers", "make-cert.py", NULL);
        g_autofree char *from = g_strdup_printf ("%d", from_days);
        g_autofree char *to = g_strdup_printf ("%d", to_days);
        g_autoptr(GError) error = NULL;
        g_autoptr(GSubprocess) proc = NULL;

        *cert = g_strdup_printf ("%s/%s%d.pem", tmpdir, name, to_days);
        *key = g_strdup_printf ("%s/%s%d.key", tmpdir, name, to_days);
        proc = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, "/usr/bin/python3", script, *cert, *key, name,
                                 from, to, NULL);
        g_assert_no_error (error);
        g_assert_true (g_subprocess_wait (proc, NULL, NULL));
        return g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0;
}

static void
expect_bad_certificate (const char *cert, const char *key, const char *ca, const char *words)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autofree char *config = g_strdup_printf ("{\"cert\": \"%s\", \"key\": \"%s\"}", cert, key);
        g_autoptr(GBytes) data = bytes_from ("x\r\n");
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        ClientPeer *peer = client_peer_scripted (config);

        client = g_smtp_client_new ("localhost", peer->port);
        g_smtp_client_set_tls_mode (client, GSMTP_TLS_STARTTLS);
        if (ca != NULL)
                g_assert_true (g_smtp_client_set_ca_file (client, ca, &error));
        result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, data, NULL, &error);
        g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
        g_test_message ("%s", error->message);
        if (strstr (error->message, words) == NULL)
                g_error ("\"%s\" does not say %s", error->message, words);
        client_peer_stop (peer);
}

static void
test_certificate_errors (void)
{
        g_autofree char *other = NULL, *other_key = NULL, *expired = NULL, *expired_key = NULL;

        g_test_summary ("A refused certificate says why: unknown authority, hostname mismatch, expired");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        expect_bad_certificate (cert_file, key_file, NULL, "unknown certificate authority");
        if (!make_cert ("other.test", -1, 30, &other, &other_key) ||
            !make_cert ("localhost", -10, -1, &expired, &expired_key)) {
                g_test_skip ("python3-cryptography is not installed");
                return;
        }
        expect_bad_certificate (other, other_key, other, "hostname mismatch");
        expect_bad_certificate (expired, expired_key, expired, "expired");
        g_unlink (other);
        g_unlink (other_key);
        g_unlink (expired);
        g_unlink (expired_key);
}

int
main (int argc, char **argv)
{
        int ret;

        g_test_init (&argc, &argv, NULL);
        g_test_bug_base ("issue ");
        gsmtp_ensure_gmime ();
        g_test_add_func ("/client-peer/split/byte-by-byte", test_byte_by_byte);
        g_test_add_func ("/client-peer/split/ehlo-after-13", test_ehlo_split);
        g_test_add_func ("/client-peer/split/big-reply", test_big_reply);
        g_test_add_func ("/client-peer/step/idle-421", test_idle_421);
        g_test_add_func ("/client-peer/step/idle-421-race", test_idle_421_race);
        g_test_add_func ("/client-peer/step/late-reply", test_late_reply);
        g_test_add_func ("/client-peer/step/unasked-reply", test_extra_reply);
        g_test_add_func ("/client-peer/421/everywhere", test_421_everywhere);
        g_test_add_func ("/client-peer/refused/all-mixed", test_all_refused);
        g_test_add_func ("/client-peer/args/injection", test_injection);
        g_test_add_func ("/client-peer/args/helo-name", test_helo_name);
        g_test_add_func ("/client-peer/args/extra-parameters", test_extra_parameters);
        g_test_add_func ("/client-peer/size/exact", test_size_exact);
        g_test_add_func ("/client-peer/ext/8bit-without-8bitmime", test_8bit_without_8bitmime);
        g_test_add_func ("/client-peer/ext/smtputf8", test_smtputf8);
        g_test_add_func ("/client-peer/ext/chunking", test_chunking);
        g_test_add_func ("/client-peer/ext/binarymime", test_binarymime);
        g_test_add_func ("/client-peer/ext/dsn", test_dsn);
        g_test_add_func ("/client-peer/ext/requiretls", test_requiretls);
        g_test_add_func ("/client-peer/ext/helo-after-tls-forgets-auth", test_helo_after_tls_forgets_auth);
        g_test_add_func ("/client-peer/auth/xoauth2", test_xoauth2);
        g_test_add_func ("/client-peer/auth/oauthbearer", test_oauthbearer);
        g_test_add_func ("/client-peer/lmtp", test_lmtp);
        g_test_add_func ("/client-peer/tls/certificate-errors", test_certificate_errors);
        g_test_add_func ("/client-peer/cancel/after-data", test_cancel_after_data);
        g_test_add_func ("/client-peer/tls/interaction", test_tls_interaction);
        tmpdir = g_dir_make_tmp ("gsmtp-client-peers-XXXXXX", NULL);
        if (!test_make_certificate (tmpdir, &cert_file, &key_file))
                g_error ("cannot make a test certificate (openssl missing?)");
        ret = g_test_run ();
        g_unlink (cert_file);
        g_unlink (key_file);
        g_rmdir (tmpdir);
        g_free (cert_file);
        g_free (key_file);
        g_free (tmpdir);
        return ret;
}

/* test-parsers.c — the pure pieces: replies, addresses, command lines, SASL, DATA bytes. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-address.h"
#include "gsmtp-command.h"
#include "gsmtp-sasl.h"
#include "gsmtp-data-reader.h"

#include <string.h>

static char *
format (GSmtpReply *reply, const char *fallback, gboolean enhanced)
{
        GString *out = g_string_new (NULL);

        gsmtp_reply_format (reply, fallback, enhanced, out);
        g_smtp_reply_unref (reply);
        return g_string_free (out, FALSE);
}

static void
test_reply (void)
{
        const char *lines[] = { "first", "second\r\n550 fake", NULL };
        g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        g_autoptr(GSmtpReply) parsed = NULL;
        g_autoptr(GError) error = NULL;

        g_test_summary ("Replies: defaults, neutralised text, multi-line, enhanced codes, parsing");
        a = format (g_smtp_reply_new_code (550), "5.1.1", TRUE);
        g_assert_cmpstr (a, ==, "550 5.1.1 Requested action not taken: mailbox unavailable\r\n");
        b = format (g_smtp_reply_new (250, "2.0.0", "ok\r\nRCPT TO:<x>\x01\xc3\xa9"), NULL, TRUE);
        g_assert_cmpstr (b, ==, "250 2.0.0 ok  RCPT TO:<x> ??\r\n");
        c = format (g_smtp_reply_new_lines (250, NULL, lines), NULL, FALSE);
        g_assert_cmpstr (c, ==, "250-first\r\n250 second  550 fake\r\n");
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_WARNING, "*does not fit*");
        d = format (g_smtp_reply_new (450, "5.1.1", "wrong class"), "4.0.0", TRUE);
        g_test_assert_expected_messages ();
        g_assert_cmpstr (d, ==, "450 4.0.0 wrong class\r\n");

        parsed = g_smtp_reply_parse ("250-mx hello\r\n250-PIPELINING\r\n250 SIZE 100\r\n", -1, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (g_smtp_reply_get_code (parsed), ==, 250);
        g_assert_cmpstr (g_smtp_reply_get_lines (parsed)[2], ==, "SIZE 100");
        g_clear_pointer (&parsed, g_smtp_reply_unref);
        parsed = g_smtp_reply_parse ("550 5.7.1 Relay access denied\r\n", -1, &error);
        g_assert_cmpstr (g_smtp_reply_get_enhanced_code (parsed), ==, "5.7.1");
        g_assert_cmpstr (g_smtp_reply_get_text (parsed), ==, "Relay access denied");
        g_assert_null (g_smtp_reply_parse ("25x nope\r\n", -1, &error));
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL);
        g_clear_error (&error);
        g_assert_null (g_smtp_reply_parse ("250-a\r\n251 b\r\n", -1, &error));
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL);
}

static void
test_address (void)
{
        static const char *const good[] = {
                "a@example.org", "first.last@sub.example.org", "\"quoted name\"@example.org",
                "x+tag@[127.0.0.1]", "u@[IPv6:::1]", "o'neil@example.org", "a@b-c.d",
        };
        static const char *const bad[] = {
                "", "noat", "@example.org", "a@", "a..b@example.org", ".a@example.org",
                "a.@example.org", "a@-bad.org", "a@bad-.org", "a@exa mple.org", "a b@example.org",
                "a@[300.1.1.1]", "a@[IPv6:zz]", "\"unterminated@example.org", "é@example.org",
                "a@example..org",
        };
        g_autofree char *local = NULL, *domain = NULL;
        g_autofree char *longlocal = g_strnfill (65, 'a');
        g_autofree char *toolong = g_strconcat (longlocal, "@example.org", NULL);

        g_test_summary ("RFC 5321 mailboxes: what must parse and what must not; domain matching");
        for (guint i = 0; i < G_N_ELEMENTS (good); i++)
                if (!gsmtp_address_parse (good[i], NULL, NULL))
                        g_error ("should parse: %s", good[i]);
        for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
                if (gsmtp_address_parse (bad[i], NULL, NULL))
                        g_error ("should not parse: %s", bad[i]);
        g_assert_false (gsmtp_address_parse (toolong, NULL, NULL));
        g_assert_true (gsmtp_address_parse ("Mixed.Case@Example.ORG", &local, &domain));
        g_assert_cmpstr (local, ==, "Mixed.Case");
        g_assert_cmpstr (domain, ==, "Example.ORG");

        g_assert_true (gsmtp_domain_matches ("*", "anything.test"));
        g_assert_true (gsmtp_domain_matches ("example.org", "EXAMPLE.org"));
        g_assert_true (gsmtp_domain_matches ("*.example.org", "a.b.example.org"));
        g_assert_false (gsmtp_domain_matches ("*.example.org", "example.org"));
        g_assert_false (gsmtp_domain_matches ("*.example.org", "badexample.org"));
        g_assert_false (gsmtp_domain_matches ("example.org", "example.org.evil"));
        g_assert_true (gsmtp_domain_pattern_is_valid ("*.x.org"));
        g_assert_false (gsmtp_domain_pattern_is_valid ("x.*.org"));
}

static void
test_command (void)
{
        GSmtpCommand cmd;
        g_autofree char *path = NULL;
        g_autoptr(GHashTable) params = NULL;

        g_test_summary ("Command lines: verbs, paths, ESMTP parameters, HTTP detection");
        g_assert_true (gsmtp_command_split ("mail FROM:<a@b.c>", &cmd));
        g_assert_cmpstr (cmd.verb, ==, "MAIL");
        g_assert_cmpstr (cmd.args, ==, "FROM:<a@b.c>");
        g_assert_true (gsmtp_command_split ("QUIT", &cmd));
        g_assert_false (gsmtp_command_split ("MAIL\tFROM", &cmd));
        g_assert_false (gsmtp_command_split ("", &cmd));
        g_assert_false (gsmtp_command_split ("ABCDEFGHIJKLMNOPQRSTUVWXYZ x", &cmd));

        g_assert_cmpint (gsmtp_command_parse_path ("FROM:<a@b.c> SIZE=10 body=8BITMIME", "FROM:", TRUE,
                                                   &path, &params), ==, GSMTP_PATH_OK);
        g_assert_cmpstr (path, ==, "a@b.c");
        g_assert_cmpstr (g_hash_table_lookup (params, "SIZE"), ==, "10");
        g_assert_cmpstr (g_hash_table_lookup (params, "BODY"), ==, "8BITMIME");
        g_clear_pointer (&path, g_free);
        g_clear_pointer (&params, g_hash_table_unref);
        g_assert_cmpint (gsmtp_command_parse_path ("FROM:<>", "FROM:", TRUE, &path, &params), ==, GSMTP_PATH_OK);
        g_assert_cmpstr (path, ==, "");
        g_clear_pointer (&path, g_free);
        g_clear_pointer (&params, g_hash_table_unref);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<>", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_BAD_ADDRESS);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:a@b.c", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_SYNTAX);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<a@b.c>x", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_SYNTAX);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<a@b.c> =x", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_BAD_PARAMETER);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<a@b.c> A=1 a=2", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_BAD_PARAMETER);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<\"a>b\"@b.c>", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_OK);
        g_assert_cmpstr (path, ==, "\"a>b\"@b.c");
        g_assert_true (gsmtp_command_is_http ("GET / HTTP/1.1"));
        g_assert_true (gsmtp_command_is_http ("CONNECT mx:25 HTTP/1.0"));
        g_assert_false (gsmtp_command_is_http ("GETX"));
}

static void
test_sasl (void)
{
        g_autofree char *user = NULL, *pass = NULL, *enc = NULL, *text = NULL;

        g_test_summary ("SASL PLAIN/LOGIN decoding is strict; encoding round-trips");
        enc = gsmtp_sasl_encode_plain ("user", "pa ss");
        g_assert_true (gsmtp_sasl_decode_plain (enc, &user, &pass));
        g_assert_cmpstr (user, ==, "user");
        g_assert_cmpstr (pass, ==, "pa ss");
        g_clear_pointer (&user, g_free);
        g_clear_pointer (&pass, g_free);
        g_assert_false (gsmtp_sasl_decode_plain ("dXNlcg==", &user, &pass));          /* no NULs */
        g_assert_false (gsmtp_sasl_decode_plain ("AHVzZXI=!", &user, &pass));         /* bad alphabet */
        g_assert_false (gsmtp_sasl_decode_plain ("b3RoZXIAdXNlcgBwdw==", &user, &pass)); /* other authzid */
        g_assert_true (gsmtp_sasl_decode_plain ("dXNlcgB1c2VyAHB3", &user, &pass));   /* same authzid */
        text = gsmtp_sasl_decode_text ("dXNlcg==");
        g_assert_cmpstr (text, ==, "user");
        g_assert_null (gsmtp_sasl_decode_text ("dXN"));
}

static char *
reader_run (const char *wire, gsize chunk, GSmtpBareLinefeed mode, GSmtpDataStatus *status, gsize *consumed)
{
        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (0, 1000, mode, 0);
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        gsize len = strlen (wire), pos = 0;
        gboolean done = FALSE;

        while (pos < len && !done)
                pos += gsmtp_data_reader_feed (r, (const guint8 *) wire + pos, MIN (chunk, len - pos), &done);
        *consumed = pos;
        *status = gsmtp_data_reader_get_status (r);
        if (!done || *status != GSMTP_DATA_OK)
                return NULL;
        env = gsmtp_envelope_new (peer, "MAILER-DAEMON@x");
        g_assert_true (gsmtp_data_reader_finish (r, env, NULL));
        if (g_smtp_envelope_get_size (env) == 0)
                return g_strdup ("");
        return g_strndup (g_bytes_get_data (g_smtp_envelope_get_data (env), NULL),
                          g_smtp_envelope_get_size (env));
}

static void
test_data_reader (void)
{
        GSmtpDataStatus status;
        gsize consumed;

        g_test_summary ("DATA: only CRLF.CRLF ends; dot-unstuffing; bare LF/CR normalised or rejected; any chunking");
        for (gsize chunk = 1; chunk <= 64; chunk *= 4) {
                g_autofree char *a = reader_run ("a\r\n..b\r\n.\r\nNEXT", chunk, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed);
                g_autofree char *b = reader_run ("x\n.\ny\r.\rz\r\n.\r\n", chunk, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed);
                g_autofree char *c = reader_run (".\r\n", chunk, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed);
                g_autofree char *d = NULL;

                g_assert_cmpstr (a, ==, "a\r\n.b\r\n");
                g_assert_cmpstr (b, ==, "x\r\n\r\ny\r\n.\r\nz\r\n");
                g_assert_cmpstr (c, ==, "");
                d = reader_run ("x\ny\r\n.\r\n", chunk, GSMTP_BARE_LINEFEED_REJECT, &status, &consumed);
                g_assert_null (d);
                g_assert_cmpint (status, ==, GSMTP_DATA_BARE_LINEFEED);
                g_assert_cmpuint (consumed, ==, 8);
        }
        g_free (reader_run ("a\r\n.\r\nNEXT", 1000, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed));
        g_assert_cmpuint (consumed, ==, 6);
}

/* Feeds @wire in reads of @chunk bytes, as the connection does; returns the
 * bytes consumed (the end of data included) and the reader's scan count. */
static gsize
reader_scan (const guint8 *wire, gsize len, gsize chunk, gsize max_size, gsize *examined,
             GSmtpDataStatus *status)
{
        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (max_size, 1000, GSMTP_BARE_LINEFEED_NORMALIZE, 0);
        gsize pos = 0;
        gboolean done = FALSE;

        while (pos < len && !done)
                pos += gsmtp_data_reader_feed (r, wire + pos, MIN (chunk, len - pos), &done);
        g_assert_true (done);
        *examined = gsmtp_data_reader_get_n_examined (r);
        *status = gsmtp_data_reader_get_status (r);
        return pos;
}

static void
test_data_reader_linear (void)
{
        /* every shape of line end, dot lines, long lines, and a mix */
        static const char *const shapes[] = {
                "a\n", "a\r\n", "a\r", "\r", "\n", "\r\n", ".a\r\n", ".\n", "..\r", "a\r\r\n",
                "a\nb\r\nc\rd\r\n", ".\r.\n.\r\n", NULL,
        };
        const gsize size = 4 * 1024 * 1024;

        g_test_summary ("DATA is scanned in time linear in its size, whatever its line ends: "
                        "bytes examined by the reader stay within a small multiple of the input "
                        "(4 MiB of bare-LF lines, CRLF lines, bare CR, dot lines, long lines; "
                        "64 KiB reads and 1-byte reads); past a limit only the terminator is sought");
        g_test_bug ("10");
        for (guint s = 0; shapes[s] != NULL; s++) {
                g_autoptr(GByteArray) wire = g_byte_array_sized_new (size + 8);
                gsize unit = strlen (shapes[s]), examined, used;
                GSmtpDataStatus status;

                while (wire->len < size)
                        g_byte_array_append (wire, (const guint8 *) shapes[s], unit);
                g_byte_array_append (wire, (const guint8 *) "\r\n.\r\n", 5);

                /* within the limits: every byte is looked at a bounded number of times */
                used = reader_scan (wire->data, wire->len, 64 * 1024, 0, &examined, &status);
                g_assert_cmpuint (used, ==, wire->len);
                g_assert_cmpint (status, ==, GSMTP_DATA_OK);
                if (examined > 3 * wire->len)
                        g_error ("\"%s\" lines: %" G_GSIZE_FORMAT " bytes examined for %u bytes of input",
                                 g_strescape (shapes[s], NULL), examined, wire->len);

                /* too big from the first line on: the feed where the limit was
                 * crossed, then one pass for the terminator, no more */
                used = reader_scan (wire->data, wire->len, 64 * 1024, 100, &examined, &status);
                g_assert_cmpuint (used, ==, wire->len);
                g_assert_cmpint (status, ==, GSMTP_DATA_TOO_BIG);
                if (examined > wire->len + 2 * 64 * 1024)
                        g_error ("\"%s\" lines past the size limit: %" G_GSIZE_FORMAT " bytes examined for %u",
                                 g_strescape (shapes[s], NULL), examined, wire->len);

                /* a client that sends one byte a packet */
                used = reader_scan (wire->data + wire->len - 64 * 1024 - 5, 64 * 1024 + 5, 1, 0,
                                    &examined, &status);
                g_assert_cmpuint (used, ==, 64 * 1024 + 5);
                g_assert_cmpuint (examined, <=, 3 * (64 * 1024 + 5));
        }
        {
                /* one line of 4 MiB: too long, then only the terminator is sought */
                g_autoptr(GByteArray) wire = g_byte_array_sized_new (size + 8);
                gsize examined, used;
                GSmtpDataStatus status;

                g_byte_array_set_size (wire, size);
                memset (wire->data, 'x', size);
                g_byte_array_append (wire, (const guint8 *) "\r\n.\r\n", 5);
                used = reader_scan (wire->data, wire->len, 64 * 1024, 0, &examined, &status);
                g_assert_cmpuint (used, ==, wire->len);
                g_assert_cmpint (status, ==, GSMTP_DATA_LINE_TOO_LONG);
                g_assert_cmpuint (examined, <=, 3 * wire->len);
        }
}

static void
test_data_reader_refused_end (void)
{
        /* bare LF and bare CR around dots: none of these ends the data early */
        static const char *const wires[] = {
                "a\r\n.\r\nNEXT", ".\r\nNEXT", "x\n.\ny\r\n.\r\nNEXT", "x\r.\rz\r\n.\r\nNEXT",
                "a\n.\r\nb\r\n.\r\nNEXT", "a\r\n.\nb\r\n.\r\nNEXT", ".\r\r\n.\r\nNEXT",
                "a\r\r\n.\r\nNEXT", "..\r\n.\r\nNEXT", "\r\n\r\n.\r\nNEXT", "a\r\n.a\r\n.\r\nNEXT",
                "a\r\n.\r\r\n.\r\nNEXT", "a\r\n\r.\r\n.\r\nNEXT",
        };

        g_test_summary ("A message refused for its size ends at exactly the same CR LF . CR LF as "
                        "one within the limit, however it is split: refusing never lets a smuggled "
                        "command through");
        g_test_bug ("10");
        for (guint w = 0; w < G_N_ELEMENTS (wires); w++) {
                const guint8 *wire = (const guint8 *) wires[w];
                gsize len = strlen (wires[w]);

                for (gsize chunk = 1; chunk <= 8; chunk++) {
                        gsize examined, ok_end, big_end;
                        GSmtpDataStatus status;

                        ok_end = reader_scan (wire, len, chunk, 0, &examined, &status);
                        g_assert_cmpint (status, ==, GSMTP_DATA_OK);
                        g_assert_cmpuint (ok_end, ==, len - 4);
                        big_end = reader_scan (wire, len, chunk, 1, &examined, &status);
                        g_assert_cmpuint (big_end, ==, ok_end);
                }
        }
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        g_test_add_func ("/reply/format-and-parse", test_reply);
        g_test_add_func ("/address/mailboxes-and-domains", test_address);
        g_test_add_func ("/command/tokenizer", test_command);
        g_test_add_func ("/sasl/decode", test_sasl);
        g_test_add_func ("/data-reader/end-and-unstuffing", test_data_reader);
        g_test_add_func ("/data-reader/linear", test_data_reader_linear);
        g_test_add_func ("/data-reader/refused-message-end", test_data_reader_refused_end);
        return g_test_run ();
}

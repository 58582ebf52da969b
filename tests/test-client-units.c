/* test-client-units.c — the client's pure parts, without sockets: the reply framer,
 * the dot-stuffer and its size, address and parameter checks, xtext, the OAuth
 * encodings, the envelope of a GMime message (Resent-, Bcc, duplicates). */
#include "config.h"
#include "gsmtp-client-connection.h"
#include "gsmtp-client-params.h"

#include <string.h>

/* Frames @wire fed @step bytes at a time; "code:length;" per reply, "E" on error. */
static char *
frame (const char *wire, gsize step)
{
        g_autoptr(GByteArray) buf = g_byte_array_new ();
        GString *out = g_string_new (NULL);
        GSmtpReplyFramer framer;
        gsize size = strlen (wire);

        gsmtp_reply_framer_reset (&framer);
        for (gsize fed = 0; fed < size; fed += step) {
                g_byte_array_append (buf, (const guint8 *) wire + fed, MIN (step, size - fed));
                for (;;) {
                        g_autoptr(GError) error = NULL;
                        gsize len = 0;
                        GSmtpFrameStatus status = gsmtp_reply_framer_scan (&framer, buf->data, buf->len, &len, &error);

                        if (status == GSMTP_FRAME_MORE)
                                break;
                        if (status == GSMTP_FRAME_ERROR) {
                                g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL);
                                g_string_append (out, "E");
                                return g_string_free (out, FALSE);
                        }
                        g_string_append_printf (out, "%c%c%c:%zu;", buf->data[0], buf->data[1], buf->data[2], len);
                        g_byte_array_remove_range (buf, 0, len);
                }
        }
        return g_string_free (out, FALSE);
}

static void
test_framer_splits (void)
{
        static const struct {
                const char *wire;
                const char *frames;
        } cases[] = {
                { "250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 100\r\n", "250:50;" },
                { "250 ok\r\n354 go\r\n", "250:8;354:8;" },
                { "250\r\n", "250:5;" },
                { "250 no CR\n", "250:10;" },
                { "250-a\r\n250 b\r\n421 4.3.2 bye\r\n", "250:14;421:15;" },
                { "250-a\r\n251 b\r\n", "E" },             /* codes differ */
                { "2x0 bad\r\n", "E" },
                { "199 too low\r\n", "E" },
                { "250x\r\n", "E" },
                { "250-only continuation\r\n", "" },        /* not whole yet */
                { "250 a\r\r\n", "250:8;" },                /* one CR is taken; the parser neutralises the other */
        };

        g_test_summary ("The framer finds the same replies whether bytes come whole, one at a time or split anywhere");
        g_test_bug ("12");
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                gsize size = strlen (cases[i].wire);

                for (gsize step = 1; step <= size; step++) {
                        g_autofree char *got = frame (cases[i].wire, step);

                        if (!g_str_equal (got, cases[i].frames))
                                g_error ("case %u, step %zu: %s, want %s", i, step, got, cases[i].frames);
                }
        }
}

static void
test_framer_limits (void)
{
        g_autoptr(GString) long_line = g_string_new ("250 ");
        g_autoptr(GString) many_lines = g_string_new (NULL);
        g_autoptr(GString) big_ok = g_string_new (NULL);
        g_autofree char *got = NULL, *many = NULL, *big = NULL, *want = NULL;

        g_test_summary ("A reply line past 8 KiB, or a reply past 256 KiB, is refused; a 5 KiB 60-line one is fine");
        while (long_line->len < GSMTP_REPLY_LINE_MAX + 10)
                g_string_append_c (long_line, 'x');
        got = frame (long_line->str, 1000);
        g_assert_cmpstr (got, ==, "E");
        while (many_lines->len < GSMTP_REPLY_MAX + 100)
                g_string_append (many_lines, "250-more and more of the same reply\r\n");
        many = frame (many_lines->str, 4096);
        g_assert_cmpstr (many, ==, "E");
        for (int i = 0; i < 59; i++)
                g_string_append_printf (big_ok, "550-5.1.1 line %02d of a long refusal: %s\r\n", i,
                                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        g_string_append (big_ok, "550 5.1.1 end\r\n");
        big = frame (big_ok->str, 4096);
        want = g_strdup_printf ("550:%zu;", big_ok->len);
        g_assert_cmpstr (big, ==, want);
}

static char *
stuff (const char *in, gsize len, gboolean dots, gsize step)
{
        g_autoptr(GByteArray) out = g_byte_array_new ();
        GSmtpDotStuffer st;

        gsmtp_dot_stuffer_init (&st, dots);
        for (gsize fed = 0; fed < len; fed += step)
                gsmtp_dot_stuffer_feed (&st, (const guint8 *) in + fed, MIN (step, len - fed), out);
        gsmtp_dot_stuffer_finish (&st, out);
        g_byte_array_append (out, (const guint8 *) "", 1);
        return (char *) g_byte_array_free (g_steal_pointer (&out), FALSE);
}

static void
test_dot_stuffer (void)
{
        static const struct {
                const char *in;
                const char *data;       /* DATA: stuffed, with the end marker */
                const char *bdat;       /* BDAT: CRLF only */
        } cases[] = {
                { "", ".\r\n", "" },
                { "a", "a\r\n.\r\n", "a\r\n" },
                { ".\n..\n", "..\r\n...\r\n.\r\n", ".\r\n..\r\n" },
                { "a\rb\r\n", "a\r\nb\r\n.\r\n", "a\r\nb\r\n" },
                { "x\r\r.y", "x\r\n\r\n..y\r\n.\r\n", "x\r\n\r\n.y\r\n" },
                { "end\r", "end\r\n.\r\n", "end\r\n" },
                { "\r\n.\r\n", "\r\n..\r\n.\r\n", "\r\n.\r\n" },
        };

        g_test_summary ("CRLF everywhere, a leading dot doubled for DATA only, the marker once; the scan predicts it");
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                gsize len = strlen (cases[i].in);
                GSmtpDataScan scan;

                for (gsize step = 1; step <= MAX (len, 1); step++) {
                        g_autofree char *data = stuff (cases[i].in, len, TRUE, step);
                        g_autofree char *bdat = stuff (cases[i].in, len, FALSE, step);

                        g_assert_cmpstr (data, ==, cases[i].data);
                        g_assert_cmpstr (bdat, ==, cases[i].bdat);
                }
                gsmtp_data_scan ((const guint8 *) cases[i].in, len, &scan);
                g_assert_cmpuint (scan.size, ==, strlen (cases[i].bdat));
                g_assert_cmpuint (scan.size + scan.n_dot_lines + 3, ==, strlen (cases[i].data));
                g_assert_cmpint (scan.canonical, ==, g_str_equal (cases[i].in, cases[i].bdat));
        }
}

static void
test_data_scan (void)
{
        GSmtpDataScan scan;
        const char *header_utf8 = "Subject: caf\xc3\xa9\r\n\r\nplain\r\n";
        const char *body_utf8 = "Subject: x\r\n\r\ncaf\xc3\xa9\r\n";

        g_test_summary ("The scan tells 8-bit headers from 8-bit bodies, and finds NUL bytes");
        gsmtp_data_scan ((const guint8 *) header_utf8, strlen (header_utf8), &scan);
        g_assert_true (scan.eight_bit && scan.header_eight_bit && !scan.nul);
        gsmtp_data_scan ((const guint8 *) body_utf8, strlen (body_utf8), &scan);
        g_assert_true (scan.eight_bit && !scan.header_eight_bit);
        gsmtp_data_scan ((const guint8 *) "a\0b\n", 4, &scan);
        g_assert_true (scan.nul && !scan.eight_bit);
}

static void
test_paths (void)
{
        static const char *const good[] = {
                "a@example.org", "<a@example.org>", "\"john doe\"@example.org", "\"a>b<c\"@example.org",
                "\"q\\\"uote\"@example.org", "postmaster", "j\xc3\xb8rn@example.org", "a+tag@[192.0.2.1]",
        };
        static const char *const bad[] = {
                "a@example.org\r\nRSET", "a@example.org\n", "a@example.org> NOTIFY=NEVER", "<a@example.org",
                "a@example.org>", "<<a@example.org>>", "a b@example.org", "a@exa\tmple.org", "\"open@example.org",
                "a\x7f@example.org", "\xff\xfe@example.org", "",
        };
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;

        g_test_summary ("Addresses: quoted local parts may hold spaces and brackets; CR, LF, controls, "
                        "spaces and unbalanced <> elsewhere are refused");
        g_test_bug ("12");
        for (guint i = 0; i < G_N_ELEMENTS (good); i++) {
                g_autofree char *p = NULL;

                if (!gsmtp_client_check_path ("recipient", good[i], FALSE, &p, &error))
                        g_error ("%s refused: %s", good[i], error->message);
        }
        for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
                g_clear_error (&error);
                if (gsmtp_client_check_path ("recipient", bad[i], FALSE, NULL, &error))
                        g_error ("\"%s\" accepted", bad[i]);
                g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        }
        g_clear_error (&error);
        g_assert_true (gsmtp_client_check_path ("sender", "<a@example.org>", TRUE, &path, &error));
        g_assert_cmpstr (path, ==, "a@example.org");
        g_clear_pointer (&path, g_free);
        g_assert_true (gsmtp_client_check_path ("sender", NULL, TRUE, &path, &error));
        g_assert_cmpstr (path, ==, "");
        /* the error quotes the input with its control bytes visible */
        g_assert_false (gsmtp_client_check_path ("sender", "a@x\r\n", TRUE, NULL, &error));
        g_assert_nonnull (strstr (error->message, "a@x\\x0d\\x0a"));
}

static void
test_parameters (void)
{
        g_autoptr(GError) error = NULL;

        g_test_summary ("ESMTP parameters: RFC 5321 keyword and value syntax; the client's own keywords refused");
        g_assert_true (gsmtp_client_check_parameter ("MT-PRIORITY", "3", &error));
        g_assert_true (gsmtp_client_check_parameter ("X9", NULL, &error));
        g_assert_true (gsmtp_client_check_parameter ("X", "caf\xc3\xa9", &error));
        g_assert_false (gsmtp_client_check_parameter ("-X", "1", &error));
        g_clear_error (&error);
        g_assert_false (gsmtp_client_check_parameter ("X_Y", "1", &error));
        g_clear_error (&error);
        g_assert_false (gsmtp_client_check_parameter ("X", "a=b", &error));
        g_clear_error (&error);
        g_assert_false (gsmtp_client_check_parameter ("X", "a b", &error));
        g_clear_error (&error);
        g_assert_false (gsmtp_client_check_parameter ("X", "a\r\nRSET", &error));
        g_clear_error (&error);
        g_assert_false (gsmtp_client_check_parameter ("X", "", &error));
        g_clear_error (&error);
        g_assert_false (gsmtp_client_check_parameter ("body", "8BITMIME", &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_xtext (void)
{
        g_autoptr(GString) out = g_string_new (NULL);

        g_test_summary ("xtext (RFC 3461 4) and utf-8-addr-xtext (RFC 6533 3)");
        gsmtp_xtext_append (out, "a+b=c d\x01\xc3\xa9~");
        g_assert_cmpstr (out->str, ==, "a+2Bb+3Dc+20d+01+C3+A9~");
        g_string_truncate (out, 0);
        gsmtp_utf8_addr_xtext_append (out, "j\xc3\xb8rn+x=\\@example.org");
        g_assert_cmpstr (out->str, ==, "j\\x{F8}rn\\x{2B}x\\x{3D}\\x{5C}@example.org");
}

static void
test_oauth_encodings (void)
{
        g_autofree char *xoauth2 = gsmtp_sasl_encode_xoauth2 ("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
        g_autofree char *bearer = gsmtp_sasl_encode_oauthbearer ("user@example.com", "server.example.com", 143,
                                                               "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
        g_autofree char *odd = gsmtp_sasl_encode_oauthbearer ("a,b=c", NULL, 0, "t");
        g_autofree guchar *raw = NULL;
        gsize len = 0;

        g_test_summary ("XOAUTH2 as Google documents it; OAUTHBEARER as RFC 7628 3.1's example, saslname escaped");
        g_assert_cmpstr (xoauth2, ==, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
        g_assert_cmpstr (bearer, ==, "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
        raw = g_base64_decode (odd, &len);
        g_assert_cmpmem (raw, len, "n,a=a=2Cb=3Dc,\001auth=Bearer t\001\001", 30);
}

static GMimeMessage *
parse_message (const char *text)
{
        g_autoptr(GMimeStream) stream = g_mime_stream_mem_new_with_buffer (text, strlen (text));
        g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream (stream);

        return g_mime_parser_construct_message (parser, NULL);
}

static void
test_mime_envelope (void)
{
        const char *original = "From: Ann <ann@x.test>\r\nSender: sec@x.test\r\nTo: bo@example.org, Bo <BO@EXAMPLE.ORG>\r\n"
                               "Cc: bo@example.org, cy@example.org\r\nBcc: hidden@example.org\r\nSubject: s\r\n\r\nbody\r\n";
        const char *resent = "Resent-Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nResent-From: fwd@y.test\r\n"
                             "Resent-To: new@example.org\r\nResent-Bcc: secret@example.org\r\n"
                             "Received: from a by b; Mon, 1 Jan 2024 09:00:00 +0000\r\n"
                             "Resent-Date: Sun, 31 Dec 2023 10:00:00 +0000\r\nResent-From: old@y.test\r\n"
                             "Resent-To: older@example.org\r\n"
                             "From: ann@x.test\r\nTo: bo@example.org\r\nBcc: hidden@example.org\r\nSubject: s\r\n\r\nbody\r\n";
        g_autoptr(GMimeMessage) msg = parse_message (original);
        g_autoptr(GMimeMessage) fwd = parse_message (resent);
        g_autoptr(GBytes) data = NULL, data2 = NULL;
        g_autofree char *sender = NULL, *sender2 = NULL;
        g_auto(GStrv) rcpts = NULL, rcpts2 = NULL;
        const char *text;

        g_test_summary ("A GMime message's envelope: Sender, To/Cc/Bcc; the newest Resent- block when there is "
                        "one (RFC 5322 3.6.6); Bcc and Resent-Bcc never in the bytes");
        g_test_bug ("12");
        data = gsmtp_client_mime_prepare (msg, NULL, NULL, &sender, &rcpts);
        g_assert_cmpstr (sender, ==, "sec@x.test");
        g_assert_cmpstrv (rcpts, ((const char *[]) { "bo@example.org", "BO@EXAMPLE.ORG", "bo@example.org",
                                                     "cy@example.org", "hidden@example.org", NULL }));
        text = g_bytes_get_data (data, NULL);
        g_assert_null (g_strstr_len (text, g_bytes_get_size (data), "hidden"));

        data2 = gsmtp_client_mime_prepare (fwd, NULL, NULL, &sender2, &rcpts2);
        g_assert_cmpstr (sender2, ==, "fwd@y.test");
        g_assert_cmpstrv (rcpts2, ((const char *[]) { "new@example.org", "secret@example.org", NULL }));
        text = g_bytes_get_data (data2, NULL);
        g_assert_null (g_strstr_len (text, g_bytes_get_size (data2), "secret@"));
        g_assert_null (g_strstr_len (text, g_bytes_get_size (data2), "hidden@"));
        g_assert_nonnull (g_strstr_len (text, g_bytes_get_size (data2), "Resent-To: new@example.org"));
}

static void
test_options_freeze (void)
{
        const char *rcpts[] = { "a@example.org", "b@Example.ORG", NULL };
        g_autoptr(GSmtpSendOptions) options = g_smtp_send_options_new ();
        g_autoptr(GSmtpSendParams) params = NULL;
        g_autoptr(GError) error = NULL;

        g_test_summary ("Options freeze into parameter text; per-recipient ones follow the mailbox, the domain's case aside");
        g_object_set (options, "dsn-return", GSMTP_DSN_RET_FULL, "requiretls", TRUE, NULL);
        g_smtp_send_options_set_recipient_notify (options, "<b@example.org>", GSMTP_DSN_NOTIFY_DELAY);
        g_assert_true (g_smtp_send_options_set_original_recipient (options, "a@example.org", "j\xc3\xb8rn@example.org", &error));
        g_assert_true (g_smtp_send_options_add_recipient_parameter (options, "a@example.org", "X-V", "caf\xc3\xa9", &error));
        params = gsmtp_send_options_freeze (options, rcpts);
        g_assert_cmpstr (params->mail_params, ==, " RET=FULL REQUIRETLS");
        g_assert_true (params->dsn && params->requiretls && params->needs_utf8);
        g_assert_cmpstr (g_hash_table_lookup (params->rcpt_params, "a@example.org"), ==,
                         " ORCPT=utf-8;j\\x{F8}rn@example.org X-V=caf\xc3\xa9");
        g_assert_cmpstr (g_hash_table_lookup (params->rcpt_params, "b@example.org"), ==, " NOTIFY=DELAY");
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_bug_base ("issue ");
        gsmtp_ensure_gmime ();
        g_test_add_func ("/client-units/framer/splits", test_framer_splits);
        g_test_add_func ("/client-units/framer/limits", test_framer_limits);
        g_test_add_func ("/client-units/dot-stuffer/wire", test_dot_stuffer);
        g_test_add_func ("/client-units/dot-stuffer/scan", test_data_scan);
        g_test_add_func ("/client-units/params/paths", test_paths);
        g_test_add_func ("/client-units/params/esmtp", test_parameters);
        g_test_add_func ("/client-units/params/xtext", test_xtext);
        g_test_add_func ("/client-units/sasl/oauth", test_oauth_encodings);
        g_test_add_func ("/client-units/mime/envelope", test_mime_envelope);
        g_test_add_func ("/client-units/options/freeze", test_options_freeze);
        return g_test_run ();
}

/* test-client.c — GSmtpClient against the gsmtp server and servers no one here wrote. */
#include "config.h"
#include "test-util.h"

#include <string.h>

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

        g_test_summary ("A GMimeMessage: envelope from From/To/Cc/Bcc, and Bcc never sent");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_FROM, "Ann", "ann@x.test");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_TO, "Bo", "bo@example.org");
        g_mime_message_add_mailbox (msg, GMIME_ADDRESS_TYPE_BCC, "Hidden", "hidden@example.org");
        g_mime_message_set_subject (msg, "gmime", NULL);
        g_mime_text_part_set_text (body, "hello\n");
        g_mime_message_set_mime_part (msg, GMIME_OBJECT (body));
        g_object_unref (body);
        result = g_smtp_client_send_message (client, msg, NULL, NULL, NULL, &error);
        g_assert_no_error (error);
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
        test_server_free (ts);
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
        return g_test_run ();
}

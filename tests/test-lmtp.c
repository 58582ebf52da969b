/* test-lmtp.c — LMTP (RFC 2033): the listener flag, per-recipient replies set
 * from other threads, what message-accepted means, and the API's misuse.
 * The dialogues themselves are in tests/transcripts/lmtp-*.smtp. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-session.h"
#include "gsmtp-server-private.h"
#include "test-util.h"

#include <string.h>

typedef struct {
        guint16    lmtp_port;
        GPtrArray *accepted;    /* GSmtpEnvelope from message-accepted, under @lock */
        GMutex     lock;
} Lmtp;

static void
on_accepted (GSmtpServer *server, GSmtpEnvelope *envelope, gpointer data)
{
        Lmtp *l = data;

        g_mutex_lock (&l->lock);
        g_ptr_array_add (l->accepted, g_object_ref (envelope));
        g_mutex_unlock (&l->lock);
}

static void
lmtp_listen (GSmtpServer *server, Lmtp *l)
{
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_server_listen_inet (server, "127.0.0.1", 0, GSMTP_LISTEN_LMTP, &l->lmtp_port, &error));
        g_assert_no_error (error);
        g_signal_connect (server, "message-accepted", G_CALLBACK (on_accepted), l);
}

static void
lmtp_init (Lmtp *l)
{
        g_mutex_init (&l->lock);
        l->accepted = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
lmtp_clear (Lmtp *l)
{
        g_ptr_array_unref (l->accepted);
        g_mutex_clear (&l->lock);
}

static guint
lmtp_n_accepted (Lmtp *l)
{
        guint n;

        g_mutex_lock (&l->lock);
        n = l->accepted->len;
        g_mutex_unlock (&l->lock);
        return n;
}

static void
setup_lmtp (GSmtpServer *server, gpointer data)
{
        lmtp_listen (server, data);
}

static void
test_listener (void)
{
        Lmtp l = { 0 };
        TestServer *ts;
        LineClient *smtp, *lmtp;
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_summary ("GSMTP_LISTEN_LMTP: that listener speaks LMTP, the server's others SMTP; the "
                        "Received header and the peer say LMTP");
        lmtp_init (&l);
        ts = test_server_new (setup_lmtp, &l);
        smtp = line_client_new (ts->port);
        lmtp = line_client_new (l.lmtp_port);
        line_client_expect (smtp, "220 mx.example.org ESMTP");
        line_client_expect (lmtp, "220 mx.example.org LMTP");
        line_client_chat (smtp, "LHLO c.test", "500 5.5.2");
        line_client_chat (lmtp, "EHLO c.test", "500 5.5.1");
        line_client_chat (smtp, "EHLO c.test", "250 ");
        line_client_chat (lmtp, "LHLO c.test", "250 ");
        line_client_chat (lmtp, "MAIL FROM:<a@x.test>", "250 2.1.0");
        line_client_chat (lmtp, "RCPT TO:<b@example.org>", "250 2.1.5");
        line_client_chat (lmtp, "DATA", "354 ");
        line_client_chat (lmtp, "Subject: lmtp\r\n\r\nx\r\n.", "250 2.0.0");
        env = test_server_pop (ts, 10000);
        g_assert_nonnull (env);
        g_assert_true (g_smtp_peer_is_lmtp (g_smtp_envelope_get_peer (env)));
        g_assert_cmpstr (g_smtp_peer_get_protocol (g_smtp_envelope_get_peer (env)), ==, "LMTP");
        g_assert_nonnull (strstr (g_smtp_envelope_get_received_header (env), " with LMTP "));
        line_client_chat (smtp, "QUIT", "221 ");
        line_client_chat (lmtp, "QUIT", "221 ");
        line_client_free (smtp);
        line_client_free (lmtp);
        test_server_free (ts);
        g_assert_cmpuint (lmtp_n_accepted (&l), ==, 1);
        lmtp_clear (&l);
}

/* ---- per-recipient replies from worker threads ---- */

typedef struct {
        GSmtpStage *stage;      /* (owned) */
        guint       index;
        int        *remaining;  /* (atomic): workers still running for this stage */
} Delivery;

/* One mailbox's delivery, in a thread of its own: its reply, and the last
 * worker to finish completes the stage. */
static gpointer
deliver_one (gpointer data)
{
        Delivery *d = data;
        GSmtpEnvelope *env = g_smtp_stage_get_envelope (d->stage);
        const char *rcpt = g_smtp_envelope_get_recipients (env)[d->index];

        if (g_str_has_prefix (rcpt, "full"))
                g_smtp_stage_set_recipient_reply (d->stage, d->index,
                                                  g_smtp_reply_new (452, "4.2.2", "Mailbox full"));
        else if (g_str_has_prefix (rcpt, "gone"))
                g_smtp_stage_set_recipient_reply (d->stage, d->index,
                                                  g_smtp_reply_new (550, "5.1.1", "No such user"));
        else
                g_smtp_stage_set_recipient_reply (d->stage, d->index,
                                                  g_smtp_reply_new (250, "2.0.0", "Delivered"));
        if (g_atomic_int_dec_and_test (d->remaining)) {
                g_smtp_stage_complete (d->stage, g_smtp_reply_new (451, "4.3.0", "Not reached"));
                g_free (d->remaining);
        }
        g_object_unref (d->stage);
        g_free (d);
        return NULL;
}

static GSmtpReply *
on_data_threads (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        guint n = g_smtp_envelope_get_n_recipients (g_smtp_stage_get_envelope (stage));
        int *remaining = g_new (int, 1);
        GSmtpStage *deferred = g_smtp_stage_defer (stage);

        g_atomic_int_set (remaining, n);
        for (guint i = 0; i < n; i++) {
                Delivery *d = g_new0 (Delivery, 1);

                d->stage = g_object_ref (deferred);
                d->index = i;
                d->remaining = remaining;
                g_thread_unref (g_thread_new ("delivery", deliver_one, d));
        }
        g_object_unref (deferred);
        return NULL;
}

static void
setup_lmtp_threads (GSmtpServer *server, gpointer data)
{
        lmtp_listen (server, data);
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, on_data_threads, NULL, NULL);
}

static void
test_threads (void)
{
        static const char *const rcpts[] = { "a", "full1", "b", "gone", "full2", "c", "a" };
        Lmtp l = { 0 };
        TestServer *ts;
        LineClient *c;
        g_autoptr(GString) batch = g_string_new ("MAIL FROM:<s@x.test>\r\n");
        GSmtpEnvelope *env;

        g_test_summary ("A deferred DATA stage whose recipients are each delivered by a thread of its "
                        "own, which sets its reply; the last completes: one reply per RCPT, in order, "
                        "the same mailbox twice answered twice; message-accepted once, for the "
                        "recipients that got 2xx only");
        lmtp_init (&l);
        ts = test_server_new (setup_lmtp_threads, &l);
        for (guint round = 0; round < 20; round++) {
                c = line_client_new (l.lmtp_port);
                line_client_expect (c, "220 ");
                line_client_chat (c, "LHLO c.test", "250 ");
                g_string_assign (batch, "MAIL FROM:<s@x.test>\r\n");
                for (guint i = 0; i < G_N_ELEMENTS (rcpts); i++)
                        g_string_append_printf (batch, "RCPT TO:<%s@example.org>\r\n", rcpts[i]);
                g_string_append (batch, "DATA\r\n");
                line_client_send_raw (c, batch->str, batch->len);
                line_client_expect (c, "250 2.1.0");
                for (guint i = 0; i < G_N_ELEMENTS (rcpts); i++)
                        line_client_expect (c, "250 2.1.5");
                line_client_expect (c, "354 ");
                line_client_send (c, "Subject: threads\r\n\r\nbody\r\n.");
                for (guint i = 0; i < G_N_ELEMENTS (rcpts); i++)
                        line_client_expect (c, g_str_has_prefix (rcpts[i], "full") ? "452 4.2.2 Mailbox full"
                                               : g_str_has_prefix (rcpts[i], "gone") ? "550 5.1.1 No such user"
                                               : "250 2.0.0 Delivered");
                line_client_chat (c, "NOOP", "250 2.0.0 OK");
                line_client_free (c);
        }
        test_server_free (ts);
        g_assert_cmpuint (l.accepted->len, ==, 20);
        env = l.accepted->pdata[0];
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (env), ==, 3);
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[0], ==, "a@example.org");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[1], ==, "b@example.org");
        g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[2], ==, "c@example.org");
        g_assert_nonnull (g_smtp_envelope_get_message (env));
        g_assert_cmpstr (g_mime_message_get_subject (g_smtp_envelope_get_message (env)), ==, "threads");
        lmtp_clear (&l);
}

/* ---- a session fed directly ---- */

typedef struct {
        GSmtpServer  *server;
        GSmtpPeer    *peer;
        GSmtpSession *session;
        GSmtpStage   *kept;
        GSmtpReply *(*answer) (GSmtpStage *stage);
        guint         n_accepted;
        GSmtpEnvelope *last_accepted;
} Fx;

static GSmtpReply *
fx_on_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        g_set_object (&fx->kept, stage);
        return fx->answer (stage);
}

static void
fx_on_accepted (GSmtpServer *server, GSmtpEnvelope *envelope, gpointer data)
{
        Fx *fx = data;

        fx->n_accepted++;
        g_set_object (&fx->last_accepted, envelope);
}

static void
fx_setup (Fx *fx, gconstpointer lmtp)
{
        gsmtp_ensure_gmime ();
        fx->server = g_smtp_server_new ("mx.example.org");
        g_smtp_server_add_domain (fx->server, "example.org");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, fx_on_data, fx, NULL);
        g_signal_connect (fx->server, "message-accepted", G_CALLBACK (fx_on_accepted), fx);
        fx->peer = gsmtp_peer_new (NULL, NULL);
        gsmtp_peer_set_lmtp (fx->peer, GPOINTER_TO_INT (lmtp));
        fx->session = gsmtp_session_new (gsmtp_server_get_session_host (fx->server), fx->peer, FALSE, NULL, NULL);
        gsmtp_session_start (fx->session);
}

static void
fx_teardown (Fx *fx, gconstpointer unused)
{
        gsmtp_session_free (fx->session);
        g_clear_object (&fx->kept);
        g_clear_object (&fx->last_accepted);
        g_object_unref (fx->peer);
        g_object_unref (fx->server);
}

/* Sends a transaction of @message (without its final dot) to b, c and d,
 * and returns what the session said. */
static char *
fx_transaction_of (Fx *fx, const char *message)
{
        static const char script[] = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n"
                                     "RCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\n"
                                     "DATA\r\n";
        g_autoptr(GBytes) out = NULL;

        g_bytes_unref (gsmtp_session_take_output (fx->session));
        gsmtp_session_feed (fx->session, (const guint8 *) script, sizeof script - 1);
        gsmtp_session_feed (fx->session, (const guint8 *) message, strlen (message));
        gsmtp_session_feed (fx->session, (const guint8 *) ".\r\n", 3);
        out = gsmtp_session_take_output (fx->session);
        return g_strndup (g_bytes_get_data (out, NULL), g_bytes_get_size (out));
}

static char *
fx_transaction (Fx *fx)
{
        return fx_transaction_of (fx, "Subject: x\r\n\r\nbody\r\n");
}

static void
fx_hello (Fx *fx, const char *verb)
{
        g_autofree char *line = g_strdup_printf ("%s c.test\r\n", verb);

        gsmtp_session_feed (fx->session, (const guint8 *) line, strlen (line));
}

static GSmtpReply *
answer_refuse_c (GSmtpStage *stage)
{
        g_smtp_stage_set_recipient_reply (stage, 1, g_smtp_reply_new (452, "4.2.2", "Mailbox full"));
        return g_smtp_reply_new_code (250);
}

static void
test_smtp_ignores (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("In SMTP the message has one reply, the stage's: per-recipient replies are ignored "
                        "and message-accepted has every recipient");
        fx->answer = answer_refuse_c;
        fx_hello (fx, "EHLO");
        out = fx_transaction (fx);
        if (!g_pattern_match_simple ("*354 *\r\n250 2.0.0 OK: queued as *\r\n", out))
                g_error ("got %s", out);
        g_assert_null (strstr (out, "452"));
        g_assert_cmpuint (fx->n_accepted, ==, 1);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (fx->last_accepted), ==, 3);
}

static void
test_partial (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("LMTP: a per-recipient refusal; the others get the stage's reply; message-accepted "
                        "once, with the recipients it was accepted for, the same bytes, the trace header");
        fx->answer = answer_refuse_c;
        fx_hello (fx, "LHLO");
        out = fx_transaction (fx);
        if (!g_pattern_match_simple ("*354 *\r\n250 2.0.0 OK: queued as *.1\r\n452 4.2.2 Mailbox full\r\n"
                                     "250 2.0.0 OK: queued as *.1\r\n", out))
                g_error ("got %s", out);
        g_assert_cmpuint (fx->n_accepted, ==, 1);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (fx->last_accepted), ==, 2);
        g_assert_cmpstr (g_smtp_envelope_get_recipients (fx->last_accepted)[1], ==, "d@example.org");
        g_assert_true (g_bytes_equal (g_smtp_envelope_get_data (fx->last_accepted),
                                      g_smtp_envelope_get_data (g_smtp_stage_get_envelope (fx->kept))));
        g_assert_cmpstr (g_smtp_envelope_get_received_header (fx->last_accepted), ==,
                         g_smtp_envelope_get_received_header (g_smtp_stage_get_envelope (fx->kept)));
}

/* As fx_setup, with a session that parses behind max-mime-parameters 1 */
static void
fx_setup_one_parameter (Fx *fx, gconstpointer lmtp)
{
        fx_setup (fx, lmtp);
        gsmtp_session_free (fx->session);
        g_object_set (fx->server, "max-mime-parameters", 1, NULL);
        fx->session = gsmtp_session_new (gsmtp_server_get_session_host (fx->server), fx->peer, FALSE, NULL, NULL);
        gsmtp_session_start (fx->session);
}

static void
test_partial_limits (Fx *fx, gconstpointer unused)
{
        static const char message[] = "Content-Type: text/plain; charset=us-ascii; format=flowed\r\n\r\nx\r\n";
        g_autofree char *out = NULL;

        g_test_summary ("LMTP: the copy message-accepted gets for the recipients accepted is parsed behind "
                        "the server's MIME limits, as the message itself, not the defaults");
        fx->answer = answer_refuse_c;
        fx_hello (fx, "LHLO");
        out = fx_transaction_of (fx, message);
        g_assert_cmpuint (fx->n_accepted, ==, 1);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (fx->last_accepted), ==, 2);
        g_assert_null (g_smtp_envelope_get_message (g_smtp_stage_get_envelope (fx->kept)));
        g_assert_null (g_smtp_envelope_get_message (fx->last_accepted));
        g_assert_cmpstr (g_smtp_envelope_get_mime_error (fx->last_accepted), ==, "more than 1 MIME parameters");
}

static GSmtpReply *
answer_refuse_all_but_one (GSmtpStage *stage)
{
        g_smtp_stage_set_recipient_reply (stage, 0, g_smtp_reply_new (450, "4.2.1", "Try later"));
        g_smtp_stage_set_recipient_reply (stage, 1, g_smtp_reply_new (350, NULL, "Nonsense"));
        return g_smtp_reply_new (550, "5.7.1", "Refused");
}

static void
test_none_accepted (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("LMTP: no recipient got 2xx: no message-accepted; a 3xx for a recipient becomes "
                        "451 with a warning");
        fx->answer = answer_refuse_all_but_one;
        fx_hello (fx, "LHLO");
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_WARNING, "*answered 350*");
        out = fx_transaction (fx);
        g_test_assert_expected_messages ();
        if (!g_pattern_match_simple ("*354 *\r\n450 4.2.1 Try later\r\n451 4.3.0 *\r\n550 5.7.1 Refused\r\n", out))
                g_error ("got %s", out);
        g_assert_cmpuint (fx->n_accepted, ==, 0);
}

static GSmtpReply *
answer_plain (GSmtpStage *stage)
{
        return g_smtp_reply_new_code (250);
}

static void
test_misuse (Fx *fx, gconstpointer unused)
{
        g_autofree char *out = NULL;

        g_test_summary ("A per-recipient reply after the stage was answered, for a recipient that is not "
                        "there, or on another stage: a critical, and nothing changes");
        fx->answer = answer_plain;
        fx_hello (fx, "LHLO");
        out = fx_transaction (fx);
        g_assert_true (g_pattern_match_simple ("*354 *\r\n250 *\r\n250 *\r\n250 *\r\n", out));
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_CRITICAL, "*after the stage was answered*");
        g_smtp_stage_set_recipient_reply (fx->kept, 0, g_smtp_reply_new_code (550));
        g_test_assert_expected_messages ();
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_CRITICAL, "*recipient 3 of 3*");
        g_smtp_stage_set_recipient_reply (fx->kept, 3, g_smtp_reply_new_code (550));
        g_test_assert_expected_messages ();
        {
                g_autoptr(GSmtpStage) other = gsmtp_stage_new (GSMTP_STAGE_RCPT, fx->peer, "x", NULL, NULL);

                g_test_expect_message ("gsmtp", G_LOG_LEVEL_CRITICAL, "*other than DATA*");
                g_smtp_stage_set_recipient_reply (other, 0, g_smtp_reply_new_code (550));
                g_test_assert_expected_messages ();
        }
}

static void
test_cancelled_quiet (void)
{
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        g_autoptr(GSmtpEnvelope) env = gsmtp_envelope_new (peer, "MAILER-DAEMON@x");
        g_autoptr(GSmtpStage) stage = NULL;

        g_test_summary ("The client went away while the application delivered: a late per-recipient "
                        "reply is dropped without a word (not a programming error)");
        gsmtp_envelope_add_recipient (env, "b@example.org");
        stage = gsmtp_stage_new (GSMTP_STAGE_DATA, peer, NULL, NULL, env);
        g_assert_nonnull (g_smtp_stage_defer (stage));
        g_object_unref (stage);         /* the reference defer() gave */
        gsmtp_stage_cancel (stage);
        g_smtp_stage_set_recipient_reply (stage, 0, g_smtp_reply_new_code (250));
        g_assert_true (g_smtp_stage_is_cancelled (stage));
        g_assert_null (gsmtp_stage_dup_recipient_reply (stage, 0));
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        g_test_add_func ("/lmtp/listener", test_listener);
        g_test_add_func ("/lmtp/threads", test_threads);
        g_test_add ("/lmtp/smtp-ignores", Fx, GINT_TO_POINTER (FALSE), fx_setup, test_smtp_ignores, fx_teardown);
        g_test_add ("/lmtp/partial", Fx, GINT_TO_POINTER (TRUE), fx_setup, test_partial, fx_teardown);
        g_test_add ("/lmtp/partial-limits", Fx, GINT_TO_POINTER (TRUE), fx_setup_one_parameter, test_partial_limits,
                    fx_teardown);
        g_test_add ("/lmtp/none-accepted", Fx, GINT_TO_POINTER (TRUE), fx_setup, test_none_accepted, fx_teardown);
        g_test_add ("/lmtp/misuse", Fx, GINT_TO_POINTER (TRUE), fx_setup, test_misuse, fx_teardown);
        g_test_add_func ("/lmtp/cancelled-quiet", test_cancelled_quiet);
        return g_test_run ();
}

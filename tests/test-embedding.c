/* test-embedding.c — the embedding contract, tried the way applications use the
 * library: handlers that answer late and from other threads, that keep what
 * they were given, that drop the server; timers, stops and cancellation.
 * The server runs in this thread's default context; clients run in threads. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-session.h"
#include "gsmtp-server-private.h"
#include "test-util.h"

#include <string.h>

/* ---- a server in the default context, clients in threads ------------------------ */

typedef struct {
        GSmtpServer *server;
        guint16      port;
        GPtrArray   *kept;              /* stages or envelopes a handler kept */
        GSmtpStage  *deferred;
        guint        n_messages;
        guint        n_started, n_ended, n_accepted;
        int          client_done;       /* (atomic) */
        gboolean     stop_done;
        GError      *stop_error;
        gboolean     cancelled;
} Fx;

static void
fx_setup (Fx *fx, gconstpointer unused)
{
        g_autoptr(GError) error = NULL;

        gsmtp_ensure_gmime ();
        fx->server = g_smtp_server_new ("mx.example.org");
        g_smtp_server_add_domain (fx->server, "example.org");
        g_object_set (fx->server, "auth-failure-delay", 0, NULL);
        g_assert_true (g_smtp_server_listen_inet (fx->server, "127.0.0.1", 0, GSMTP_LISTEN_DEFAULT,
                                                  &fx->port, &error));
        fx->kept = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
fx_teardown (Fx *fx, gconstpointer unused)
{
        g_clear_object (&fx->deferred);
        g_clear_object (&fx->server);
        g_ptr_array_unref (fx->kept);
        g_clear_error (&fx->stop_error);
        /* let the sources of closed connections run down */
        while (g_main_context_iteration (NULL, FALSE))
                ;
}

static gboolean
give_up (gpointer data)
{
        g_error ("gave up waiting");
        return G_SOURCE_REMOVE;
}

/* Runs the default context until @flag is set (whoever sets it wakes the
 * context up), failing after 20 s. */
static void
fx_run_until (int *flag)
{
        guint guard = g_timeout_add_seconds (20, give_up, NULL);

        while (!g_atomic_int_get (flag))
                g_main_context_iteration (NULL, TRUE);
        g_source_remove (guard);
}

typedef void (*ClientScript) (Fx *fx, LineClient *lc);

typedef struct {
        Fx          *fx;
        ClientScript script;
} ClientJob;

static gpointer
client_thread (gpointer data)
{
        ClientJob *job = data;
        LineClient *lc = line_client_new (job->fx->port);

        line_client_expect (lc, "220 ");
        job->script (job->fx, lc);
        line_client_free (lc);
        g_atomic_int_set (&job->fx->client_done, TRUE);
        g_main_context_wakeup (NULL);
        return NULL;
}

/* Runs @script in a client thread while this thread serves. */
static void
fx_client (Fx *fx, ClientScript script)
{
        ClientJob job = { fx, script };
        GThread *thread;

        g_atomic_int_set (&fx->client_done, FALSE);
        thread = g_thread_new ("client", client_thread, &job);
        fx_run_until (&fx->client_done);
        g_thread_join (thread);
}

static void
send_message (LineClient *lc, const char *rcpt)
{
        g_autofree char *line = g_strdup_printf ("RCPT TO:<%s>", rcpt);

        line_client_chat (lc, "EHLO client.test", "250 ");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (lc, line, "250 ");
        line_client_chat (lc, "DATA", "354 ");
        line_client_send (lc, "Subject: test\r\n\r\nhello\r\n.");
}

/* ---- 2. dropping the server inside a handler ------------------------------------- */

static GSmtpReply *
drop_server (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        g_clear_object (&fx->server);   /* the application's last reference */
        return g_smtp_reply_new_code (250);
}

static void
script_mail_then_eof (Fx *fx, LineClient *lc)
{
        line_client_chat (lc, "EHLO client.test", "250 ");
        line_client_send (lc, "MAIL FROM:<a@x.test>");
        /* the server went away: the session ends without a word */
        g_assert_true (line_client_closed (lc));
}

static void
test_drop_server_in_handler (Fx *fx, gconstpointer unused)
{
        g_test_summary ("A handler that drops the last reference to the server: the session ends, nothing "
                        "reads freed memory (valgrind and ASan runs check)");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_MAIL, drop_server, fx, NULL);
        fx_client (fx, script_mail_then_eof);
        g_assert_null (fx->server);
}

/* ---- 3. completing from another thread ---------------------------------------------- */

typedef struct {
        GSmtpStage  *stage;
        GThread     *wakeup_thread;
        guint        wakeups;
        int          go;                /* (atomic): the racers start together */
} Race;

static int criticals;                   /* (atomic) */

static void
race_wakeup (gpointer data)
{
        Race *race = data;

        race->wakeups++;
        race->wakeup_thread = g_thread_self ();
}

static const GSmtpSessionCallbacks race_callbacks = { race_wakeup, NULL };

static GSmtpReply *
keep_rcpt (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Race *race = data;

        race->stage = g_smtp_stage_defer (stage);
        return NULL;
}

static gpointer
complete_in_thread (gpointer data)
{
        Race *race = data;

        while (!g_atomic_int_get (&race->go))
                ;
        g_smtp_stage_complete (race->stage, g_smtp_reply_new_code (250));
        return NULL;
}

static GLogWriterOutput
count_criticals (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
        if (level & G_LOG_LEVEL_CRITICAL) {
                g_atomic_int_inc (&criticals);
                return G_LOG_WRITER_HANDLED;
        }
        return g_log_writer_default (level, fields, n_fields, NULL);
}

static void
test_complete_from_threads (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        g_autoptr(GBytes) out = NULL;
        GSmtpSession *session;
        GThread *threads[8];
        Race race = { 0 };
        GLogLevelFlags fatal;

        g_test_summary ("g_smtp_stage_complete() from other threads: the session always goes on in the "
                        "server's context, never on the completing thread; of racing completes one wins");
        g_test_bug ("11");
        g_smtp_server_add_domain (server, "example.org");
        g_smtp_server_set_handler (server, GSMTP_STAGE_RCPT, keep_rcpt, &race, NULL);
        session = gsmtp_session_new (gsmtp_server_get_session_host (server), peer, FALSE, &race_callbacks, &race);
        gsmtp_session_start (session);
        {
                const char *script = "HELO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n";

                gsmtp_session_feed (session, (const guint8 *) script, strlen (script));
        }
        g_bytes_unref (gsmtp_session_take_output (session));
        g_assert_nonnull (race.stage);

        /* Nobody owns the server's context now (this thread is not in it):
         * the completing threads must not run the session themselves. */
        fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
        g_atomic_int_set (&criticals, 0);
        for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
                threads[i] = g_thread_new ("completer", complete_in_thread, &race);
        g_atomic_int_set (&race.go, TRUE);
        for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
                g_thread_join (threads[i]);
        g_log_set_always_fatal (fatal);
        g_assert_cmpint (g_atomic_int_get (&criticals), ==, G_N_ELEMENTS (threads) - 1);
        g_assert_cmpuint (race.wakeups, ==, 0);
        g_assert_false (gsmtp_session_has_output (session));

        /* the server's context runs: the answer arrives, once, here */
        while (race.wakeups == 0)
                g_main_context_iteration (NULL, TRUE);
        g_assert_true (race.wakeup_thread == g_thread_self ());
        out = gsmtp_session_take_output (session);
        g_assert_cmpmem (g_bytes_get_data (out, NULL), g_bytes_get_size (out), "250 2.1.5 OK\r\n", 14);
        while (g_main_context_iteration (NULL, FALSE))
                ;
        g_assert_cmpuint (race.wakeups, ==, 1);
        g_clear_object (&race.stage);
        gsmtp_session_free (session);
}

/* ---- 4. no timer while the application decides ----------------------------------- */

static gboolean
answer_later (gpointer data)
{
        Fx *fx = data;

        g_smtp_stage_complete_code (fx->deferred, 250);
        g_clear_object (&fx->deferred);
        return G_SOURCE_REMOVE;
}

static GSmtpReply *
slow_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        fx->n_messages++;
        fx->deferred = g_smtp_stage_defer (stage);
        /* twice the idle timeout */
        g_timeout_add (2500, answer_later, fx);
        return NULL;
}

static void
script_one_message (Fx *fx, LineClient *lc)
{
        send_message (lc, "b@example.org");
        line_client_expect (lc, "250 2.0.0");
        line_client_chat (lc, "QUIT", "221 ");
}

static void
test_slow_handler_no_timeout (Fx *fx, gconstpointer unused)
{
        g_test_summary ("A DATA handler that answers after twice the idle timeout: the client gets 250, "
                        "not 421, and the message is delivered once");
        g_test_bug ("11");
        g_object_set (fx->server, "idle-timeout", 1, NULL);
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, slow_data, fx, NULL);
        fx_client (fx, script_one_message);
        g_assert_cmpuint (fx->n_messages, ==, 1);
}

static void
on_stage_cancelled (GCancellable *cancellable, gpointer data)
{
        ((Fx *) data)->cancelled = TRUE;
}

static GSmtpReply *
hold_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        fx->deferred = g_smtp_stage_defer (stage);
        g_cancellable_connect (g_smtp_stage_get_cancellable (stage), G_CALLBACK (on_stage_cancelled), fx, NULL);
        return NULL;
}

static void
script_message_then_leave (Fx *fx, LineClient *lc)
{
        send_message (lc, "b@example.org");
        /* hang up while the application decides */
}

static void
test_stage_cancellable (Fx *fx, gconstpointer unused)
{
        g_test_summary ("A client that leaves while the DATA stage is out: the stage's GCancellable fires, "
                        "and a late answer goes nowhere");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, hold_data, fx, NULL);
        fx_client (fx, script_message_then_leave);
        while (!fx->cancelled)
                g_main_context_iteration (NULL, TRUE);
        g_assert_true (g_smtp_stage_is_cancelled (fx->deferred));
        g_smtp_stage_complete_code (fx->deferred, 250);
        while (g_main_context_iteration (NULL, FALSE))
                ;
}

/* ---- 5. recipients past max-recipients ---------------------------------------------- */

static GSmtpReply *
count_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        fx->n_messages++;
        g_ptr_array_add (fx->kept, g_object_ref (g_smtp_stage_get_envelope (stage)));
        return g_smtp_reply_new_code (250);
}

static void
script_120_recipients (Fx *fx, LineClient *lc)
{
        g_autoptr(GString) batch = g_string_new ("MAIL FROM:<a@x.test>\r\n");

        line_client_chat (lc, "EHLO client.test", "250 ");
        for (guint i = 0; i < 120; i++)
                g_string_append_printf (batch, "RCPT TO:<r%u@example.org>\r\n", i);
        g_string_append (batch, "DATA\r\n");
        line_client_send_raw (lc, batch->str, batch->len);
        line_client_expect (lc, "250 2.1.0");
        for (guint i = 0; i < 120; i++)
                line_client_expect (lc, i < 100 ? "250 2.1.5" : "452 4.5.3");
        line_client_expect (lc, "354 ");
        line_client_chat (lc, "Subject: many\r\n\r\nx\r\n.", "250 2.0.0");
        line_client_chat (lc, "QUIT", "221 ");
}

static void
test_recipient_overshoot (Fx *fx, gconstpointer unused)
{
        g_test_summary ("120 recipients with the defaults: 100 accepted, 20 get 452 without counting as errors, "
                        "and the message reaches the 100");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, count_data, fx, NULL);
        fx_client (fx, script_120_recipients);
        g_assert_cmpuint (fx->n_messages, ==, 1);
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (fx->kept->pdata[0]), ==, 100);
}

/* ---- 6. a handler's 421 ends the session ------------------------------------------------ */

static GSmtpReply *
refuse_421 (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        return g_smtp_reply_new (421, "4.3.0", "Try again later");
}

static void
script_mail_421 (Fx *fx, LineClient *lc)
{
        line_client_chat (lc, "EHLO client.test", "250 ");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "421 4.3.0 Try again later");
        g_assert_true (line_client_closed (lc));
}

static void
test_handler_421_closes (Fx *fx, gconstpointer unused)
{
        g_test_summary ("A handler that answers 421 closes the session (RFC 5321 3.8)");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_MAIL, refuse_421, NULL, NULL);
        fx_client (fx, script_mail_421);
}

/* ---- 7. the AUTH delay timer, freed from another context ---------------------------- */

static void
test_auth_delay_other_context (void)
{
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        g_autofree char *bad = g_base64_encode ((const guchar *) "\0user\0wrong", 11);
        g_autofree char *line = g_strdup_printf ("EHLO c.test\r\nAUTH PLAIN %s\r\n", bad);
        GMainContext *other = g_main_context_new ();
        GSmtpSession *session;
        gint64 until;

        g_test_summary ("A session whose AUTH failure delay is running is freed under another thread-default "
                        "context: the timer goes with it and never fires on freed memory");
        g_test_bug ("11");
        g_smtp_server_set_handler (server, GSMTP_STAGE_AUTH, test_auth_user_secret, NULL, NULL);
        g_object_set (server, "allow-insecure-auth", TRUE, "auth-failure-delay", 100, NULL);
        session = gsmtp_session_new (gsmtp_server_get_session_host (server), peer, FALSE, NULL, NULL);
        gsmtp_session_start (session);
        gsmtp_session_feed (session, (const guint8 *) line, strlen (line));
        g_assert_true (gsmtp_session_is_waiting (session));
        g_main_context_push_thread_default (other);
        gsmtp_session_free (session);
        g_main_context_pop_thread_default (other);
        g_main_context_unref (other);
        until = g_get_monotonic_time () + 300 * 1000;
        while (g_get_monotonic_time () < until)
                g_main_context_iteration (NULL, FALSE);
}

/* ---- 8. stop: the grace period and the cancellable end it ----------------------------- */

static void
stop_done (GObject *source, GAsyncResult *result, gpointer data)
{
        Fx *fx = data;

        g_smtp_server_stop_finish (GSMTP_SERVER (source), result, &fx->stop_error);
        fx->stop_done = TRUE;
}

static void
script_message_wait_421 (Fx *fx, LineClient *lc)
{
        send_message (lc, "b@example.org");
        line_client_expect (lc, "421 4.3.2");
}

static gpointer
client_thread_plain (gpointer data)
{
        ClientJob *job = data;

        client_thread (job);
        return NULL;
}

static void
test_stop_grace_ends (Fx *fx, gconstpointer unused)
{
        ClientJob job = { fx, script_message_wait_421 };
        GThread *thread;

        g_test_summary ("A DATA stage never answered: the stop still ends at the grace period, the stage is "
                        "cancelled and its client gets 421, not 250");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, hold_data, fx, NULL);
        thread = g_thread_new ("client", client_thread_plain, &job);
        while (fx->deferred == NULL)
                g_main_context_iteration (NULL, TRUE);
        g_smtp_server_stop_async (fx->server, 1, NULL, stop_done, fx);
        while (!fx->stop_done)
                g_main_context_iteration (NULL, TRUE);
        g_assert_no_error (fx->stop_error);
        g_assert_true (g_smtp_stage_is_cancelled (fx->deferred));
        fx_run_until (&fx->client_done);
        g_thread_join (thread);
        g_assert_cmpuint (g_smtp_server_get_n_sessions (fx->server), ==, 0);
}

static void
script_message_wait_close (Fx *fx, LineClient *lc)
{
        send_message (lc, "b@example.org");
        g_assert_true (line_client_closed (lc));
}

static void
test_stop_cancelled (Fx *fx, gconstpointer unused)
{
        g_autoptr(GCancellable) cancellable = g_cancellable_new ();
        ClientJob job = { fx, script_message_wait_close };
        GThread *thread;

        g_test_summary ("A stop with a long grace period ends at once when cancelled: sessions are cut off, "
                        "the stage is cancelled, the stop says G_IO_ERROR_CANCELLED");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, hold_data, fx, NULL);
        thread = g_thread_new ("client", client_thread_plain, &job);
        while (fx->deferred == NULL)
                g_main_context_iteration (NULL, TRUE);
        g_smtp_server_stop_async (fx->server, 3600, cancellable, stop_done, fx);
        g_main_context_iteration (NULL, FALSE);
        g_assert_false (fx->stop_done);
        g_cancellable_cancel (cancellable);
        while (!fx->stop_done)
                g_main_context_iteration (NULL, TRUE);
        g_assert_error (fx->stop_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_true (g_smtp_stage_is_cancelled (fx->deferred));
        fx_run_until (&fx->client_done);
        g_thread_join (thread);
}

/* ---- 9. what a handler is given is a snapshot ----------------------------------------- */

typedef struct {
        GSmtpStage *stage;              /* (owned) */
        int         stop;               /* (atomic) */
        guint       reads;
} Reader;

static GSmtpReply *
keep_stage (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Fx *fx = data;

        g_ptr_array_add (fx->kept, g_object_ref (stage));
        return g_smtp_stage_accept_default (stage);
}

static gpointer
read_kept (gpointer data)
{
        Reader *r = data;

        /* another thread reads what the handlers kept, all the while the
         * session goes on (ThreadSanitizer watches this one) */
        do {
                GSmtpStage *stage = r->stage;
                GSmtpEnvelope *env = g_smtp_stage_get_envelope (stage);
                const char *const *rcpts = g_smtp_envelope_get_recipients (env);
                guint n = 0;

                while (rcpts[n] != NULL)
                        n++;
                g_assert_cmpuint (n, ==, g_smtp_envelope_get_n_recipients (env));
                g_assert_cmpstr (g_smtp_peer_get_helo (g_smtp_stage_get_peer (stage)), ==, "first.test");
                r->reads++;
                /* let the session's thread and the client run (valgrind runs
                 * one thread at a time) */
                g_thread_yield ();
        } while (!g_atomic_int_get (&r->stop) && r->reads < 1000000);
        return NULL;
}

static void
script_snapshots (Fx *fx, LineClient *lc)
{
        line_client_chat (lc, "EHLO first.test", "250 ");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "250 ");
        for (guint i = 0; i < 20; i++) {
                g_autofree char *rcpt = g_strdup_printf ("RCPT TO:<r%u@example.org>", i);

                line_client_chat (lc, rcpt, "250 ");
        }
        line_client_chat (lc, "DATA", "354 ");
        line_client_chat (lc, "Subject: s\r\n\r\nx\r\n.", "250 ");
        line_client_chat (lc, "EHLO second.test", "250 ");
        line_client_chat (lc, "QUIT", "221 ");
}

static void
test_snapshots (Fx *fx, gconstpointer unused)
{
        Reader reader = { 0 };
        GThread *thread;
        ClientJob job = { fx, script_snapshots };
        GThread *client;

        g_test_summary ("Stages, envelopes and peers a handler keeps never change afterwards, and may be read "
                        "from another thread while the session goes on");
        g_test_bug ("11");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_MAIL, keep_stage, fx, NULL);
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_RCPT, keep_stage, fx, NULL);
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, keep_stage, fx, NULL);
        client = g_thread_new ("client", client_thread_plain, &job);
        while (fx->kept->len == 0)
                g_main_context_iteration (NULL, TRUE);
        reader.stage = g_object_ref (fx->kept->pdata[0]);
        thread = g_thread_new ("reader", read_kept, &reader);
        fx_run_until (&fx->client_done);
        g_thread_join (client);
        g_atomic_int_set (&reader.stop, TRUE);
        g_thread_join (thread);
        g_object_unref (reader.stage);
        g_assert_cmpuint (reader.reads, >, 0);

        /* MAIL, 20 RCPTs, DATA: each saw the transaction as it was then */
        g_assert_cmpuint (fx->kept->len, ==, 22);
        for (guint i = 0; i < fx->kept->len; i++) {
                GSmtpStage *stage = fx->kept->pdata[i];
                guint expected = i == 0 ? 0 : i < 21 ? i - 1 : 20;

                g_assert_cmpuint (g_smtp_envelope_get_n_recipients (g_smtp_stage_get_envelope (stage)), ==, expected);
                g_assert_cmpstr (g_smtp_peer_get_helo (g_smtp_stage_get_peer (stage)), ==, "first.test");
        }
        g_assert_nonnull (g_smtp_envelope_get_data (g_smtp_stage_get_envelope (fx->kept->pdata[21])));
        g_assert_null (g_smtp_envelope_get_data (g_smtp_stage_get_envelope (fx->kept->pdata[20])));
}

/* ---- stages a handler saw are never reused ------------------------------------------- */

static void
stage_gone (gpointer data, GObject *where_the_stage_was)
{
        (*(guint *) data)++;
}

/* Marks every RCPT stage it sees and holds only a weak reference to it */
static GSmtpReply *
mark_rcpt (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        guint *gone = data;

        g_assert_null (g_object_get_data (G_OBJECT (stage), "seen"));
        g_object_set_data (G_OBJECT (stage), "seen", GINT_TO_POINTER (1));
        g_object_weak_ref (G_OBJECT (stage), stage_gone, gone);
        return g_smtp_reply_new_code (250);
}

static void
script_ten_rcpts (Fx *fx, LineClient *lc)
{
        line_client_chat (lc, "EHLO client.test", "250 ");
        for (guint m = 0; m < 2; m++) {
                line_client_chat (lc, "MAIL FROM:<a@x.test>", "250 ");
                for (guint i = 0; i < 5; i++) {
                        g_autofree char *line = g_strdup_printf ("RCPT TO:<r%u-%u@example.org>", m, i);

                        line_client_chat (lc, line, "250 ");
                }
                line_client_chat (lc, "DATA", "354 ");
                line_client_chat (lc, "Subject: s\r\n\r\nx\r\n.", "250 ");
        }
        line_client_chat (lc, "QUIT", "221 ");
}

static void
test_shown_stages_not_reused (Fx *fx, gconstpointer unused)
{
        guint gone = 0;

        g_test_summary ("A stage a handler saw is finalized when the last reference goes (weak references "
                        "fire, data set on it never reappears); the stages no handler saw, which the session "
                        "reuses, carry each command's own arguments");
        g_test_bug ("14");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_RCPT, mark_rcpt, &gone, NULL);
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, keep_stage, fx, NULL);
        fx_client (fx, script_ten_rcpts);
        g_assert_cmpuint (gone, ==, 10);
        /* MAIL had no handler: its stage was reused; DATA saw both transactions whole */
        g_assert_cmpuint (fx->kept->len, ==, 2);
        for (guint m = 0; m < 2; m++) {
                GSmtpEnvelope *env = g_smtp_stage_get_envelope (fx->kept->pdata[m]);
                g_autofree char *first = g_strdup_printf ("r%u-0@example.org", m);

                g_assert_cmpuint (g_smtp_envelope_get_n_recipients (env), ==, 5);
                g_assert_cmpstr (g_smtp_envelope_get_recipients (env)[0], ==, first);
                g_assert_cmpstr (g_smtp_envelope_get_sender (env), ==, "a@x.test");
                g_assert_cmpint (g_smtp_stage_get_kind (fx->kept->pdata[m]), ==, GSMTP_STAGE_DATA);
        }
}

/* ---- a handler that runs a nested main loop ------------------------------------------- */

typedef struct {
        Fx      *fx;
        GThread *other;
        int      other_done;            /* (atomic) */
        gboolean nested;
} Nested;

static void
script_other_client (Fx *fx, LineClient *lc)
{
        send_message (lc, "c@example.org");
        line_client_expect (lc, "250 2.0.0");
        line_client_chat (lc, "QUIT", "221 ");
        g_assert_true (line_client_closed (lc));
}

static gpointer
other_client_thread (gpointer data)
{
        Nested *n = data;
        ClientJob job = { n->fx, script_other_client };
        LineClient *lc = line_client_new (n->fx->port);

        line_client_expect (lc, "220 ");
        job.script (job.fx, lc);
        line_client_free (lc);
        g_atomic_int_set (&n->other_done, TRUE);
        g_main_context_wakeup (NULL);
        return NULL;
}

/* Like a GTK application showing a modal dialog: the handler runs the
 * server's context itself, and another whole session comes and goes inside. */
static GSmtpReply *
nested_mail (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Nested *n = data;

        if (n->nested)
                return g_smtp_reply_new_code (250);
        n->nested = TRUE;
        n->other = g_thread_new ("other", other_client_thread, n);
        while (!g_atomic_int_get (&n->other_done))
                g_main_context_iteration (NULL, TRUE);
        g_thread_join (n->other);
        return g_smtp_reply_new_code (250);
}

static void
test_nested_loop_in_handler (Fx *fx, gconstpointer unused)
{
        Nested n = { fx, NULL, FALSE, FALSE };

        g_test_summary ("A handler that runs the server's main context itself (a modal dialog): another "
                        "session starts, delivers and ends inside it, and the first goes on");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_MAIL, nested_mail, &n, NULL);
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, count_data, fx, NULL);
        fx_client (fx, script_one_message);
        g_assert_true (g_atomic_int_get (&n.other_done));
        g_assert_cmpuint (fx->n_messages, ==, 2);
}

/* ---- signals: observing without deciding ---------------------------------------------- */

static void
on_started (GSmtpServer *server, GSmtpPeer *peer, Fx *fx)
{
        g_assert_true (GSMTP_IS_PEER (peer));
        fx->n_started++;
}

static void
on_ended (GSmtpServer *server, GSmtpPeer *peer, Fx *fx)
{
        g_assert_cmpstr (g_smtp_peer_get_helo (peer), ==, "client.test");
        fx->n_ended++;
}

static void
on_accepted (GSmtpServer *server, GSmtpEnvelope *env, Fx *fx)
{
        g_assert_cmpuint (g_smtp_envelope_get_n_recipients (env), ==, 1);
        fx->n_accepted++;
}

static void
script_two_messages (Fx *fx, LineClient *lc)
{
        send_message (lc, "b@example.org");
        line_client_expect (lc, "250 2.0.0");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (lc, "RCPT TO:<c@example.org>", "250 ");
        line_client_chat (lc, "DATA", "354 ");
        line_client_chat (lc, "x\r\n.", "250 ");
        line_client_chat (lc, "QUIT", "221 ");
        g_assert_true (line_client_closed (lc));
}

static void
test_signals (Fx *fx, gconstpointer unused)
{
        g_test_summary ("session-started, session-ended and message-accepted observe without taking a stage");
        g_test_bug ("11");
        g_signal_connect (fx->server, "session-started", G_CALLBACK (on_started), fx);
        g_signal_connect (fx->server, "session-ended", G_CALLBACK (on_ended), fx);
        g_signal_connect (fx->server, "message-accepted", G_CALLBACK (on_accepted), fx);
        fx_client (fx, script_two_messages);
        while (fx->n_ended == 0)
                g_main_context_iteration (NULL, TRUE);
        g_assert_cmpuint (fx->n_started, ==, 1);
        g_assert_cmpuint (fx->n_ended, ==, 1);
        g_assert_cmpuint (fx->n_accepted, ==, 2);
}

int
main (int argc, char **argv)
{
        g_log_set_writer_func (count_criticals, NULL, NULL);
        g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/embedding/" path, Fx, NULL, fx_setup, fn, fx_teardown)
        ADD ("drop-server-in-handler", test_drop_server_in_handler);
        g_test_add_func ("/embedding/complete-from-threads", test_complete_from_threads);
        ADD ("slow-handler-no-timeout", test_slow_handler_no_timeout);
        ADD ("stage-cancellable", test_stage_cancellable);
        ADD ("recipient-overshoot", test_recipient_overshoot);
        ADD ("handler-421-closes", test_handler_421_closes);
        g_test_add_func ("/embedding/auth-delay-other-context", test_auth_delay_other_context);
        ADD ("stop-grace-ends", test_stop_grace_ends);
        ADD ("stop-cancelled", test_stop_cancelled);
        ADD ("snapshots", test_snapshots);
        ADD ("shown-stages-not-reused", test_shown_stages_not_reused);
        ADD ("signals", test_signals);
        ADD ("nested-loop-in-handler", test_nested_loop_in_handler);
        return g_test_run ();
}

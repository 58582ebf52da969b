/* test-util.c — a gsmtp server in its own thread and main context (as libsoup's
 * test server), and a blocking line client for the tests to talk with. */
#include "config.h"
#include "test-util.h"

#include <string.h>

static GSmtpReply *
collect_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        TestServer *ts = data;

        g_async_queue_push (ts->messages, g_object_ref (g_smtp_stage_get_envelope (stage)));
        return g_smtp_reply_new_code (250);
}

static gpointer
server_thread (gpointer data)
{
        TestServer *ts = data;
        g_autoptr(GError) error = NULL;

        g_main_context_push_thread_default (ts->context);
        ts->server = g_smtp_server_new ("mx.example.org");
        g_smtp_server_add_domain (ts->server, "example.org");
        g_object_set (ts->server, "auth-failure-delay", 0, NULL);
        g_smtp_server_set_handler (ts->server, GSMTP_STAGE_DATA, collect_data, ts, NULL);
        if (ts->setup != NULL)
                ts->setup (ts->server, ts->setup_data);
        if (!g_smtp_server_listen_inet (ts->server, "127.0.0.1", 0, GSMTP_LISTEN_DEFAULT, &ts->port, &error))
                g_error ("listen: %s", error->message);
        g_mutex_lock (&ts->lock);
        ts->ready = TRUE;
        g_cond_signal (&ts->cond);
        g_mutex_unlock (&ts->lock);
        g_main_loop_run (ts->loop);
        g_clear_object (&ts->server);
        /* let sources of closed connections run down */
        while (g_main_context_iteration (ts->context, FALSE))
                ;
        g_main_context_pop_thread_default (ts->context);
        return NULL;
}

TestServer *
test_server_new (TestServerSetup setup, gpointer data)
{
        TestServer *ts = g_new0 (TestServer, 1);

        ts->context = g_main_context_new ();
        ts->loop = g_main_loop_new (ts->context, FALSE);
        ts->messages = g_async_queue_new_full (g_object_unref);
        ts->setup = setup;
        ts->setup_data = data;
        g_mutex_init (&ts->lock);
        g_cond_init (&ts->cond);
        ts->thread = g_thread_new ("gsmtp-test-server", server_thread, ts);
        g_mutex_lock (&ts->lock);
        while (!ts->ready)
                g_cond_wait (&ts->cond, &ts->lock);
        g_mutex_unlock (&ts->lock);
        return ts;
}

static gboolean
quit_loop (gpointer data)
{
        g_main_loop_quit (data);
        return G_SOURCE_REMOVE;
}

void
test_server_free (TestServer *ts)
{
        g_main_context_invoke (ts->context, quit_loop, ts->loop);
        g_thread_join (ts->thread);
        g_main_loop_unref (ts->loop);
        g_main_context_unref (ts->context);
        g_async_queue_unref (ts->messages);
        g_mutex_clear (&ts->lock);
        g_cond_clear (&ts->cond);
        g_free (ts);
}

GSmtpEnvelope *
test_server_pop (TestServer *ts, guint timeout_ms)
{
        return g_async_queue_timeout_pop (ts->messages, (guint64) timeout_ms * 1000);
}

void
test_server_invoke (TestServer *ts, GSourceFunc func, gpointer data)
{
        g_main_context_invoke (ts->context, func, data);
}

typedef struct {
        TestServer *ts;
        guint       grace;
} StopData;

static void
stop_done (GObject *source, GAsyncResult *result, gpointer data)
{
        TestServer *ts = data;

        g_assert_true (g_smtp_server_stop_finish (GSMTP_SERVER (source), result, NULL));
        g_mutex_lock (&ts->lock);
        ts->stopped = TRUE;
        g_cond_signal (&ts->cond);
        g_mutex_unlock (&ts->lock);
}

static gboolean
stop_in_thread (gpointer data)
{
        StopData *sd = data;

        g_smtp_server_stop_async (sd->ts->server, sd->grace, NULL, stop_done, sd->ts);
        g_free (sd);
        return G_SOURCE_REMOVE;
}

/* Starts the stop; test_server_wait_stopped() is the caller's business */
void
test_server_stop (TestServer *ts, guint grace_seconds)
{
        StopData *sd = g_new0 (StopData, 1);

        sd->ts = ts;
        sd->grace = grace_seconds;
        g_main_context_invoke (ts->context, stop_in_thread, sd);
}

LineClient *
line_client_new (guint16 port)
{
        g_autoptr(GSocketClient) sc = g_socket_client_new ();
        g_autoptr(GError) error = NULL;
        LineClient *lc = g_new0 (LineClient, 1);

        g_socket_client_set_timeout (sc, 20);
        g_socket_client_set_enable_proxy (sc, FALSE);
        lc->conn = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, &error);
        g_assert_no_error (error);
        lc->stream = G_IO_STREAM (g_object_ref (lc->conn));
        lc->in = g_data_input_stream_new (g_io_stream_get_input_stream (lc->stream));
        g_data_input_stream_set_newline_type (lc->in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
        return lc;
}

void
line_client_free (LineClient *lc)
{
        g_clear_object (&lc->in);
        g_clear_object (&lc->stream);
        g_clear_object (&lc->conn);
        g_free (lc);
}

void
line_client_send_raw (LineClient *lc, const void *data, gsize len)
{
        g_autoptr(GError) error = NULL;

        g_output_stream_write_all (g_io_stream_get_output_stream (lc->stream), data, len, NULL, NULL, &error);
        g_assert_no_error (error);
}

void
line_client_send (LineClient *lc, const char *text)
{
        g_autofree char *wire = g_strconcat (text, "\r\n", NULL);

        line_client_send_raw (lc, wire, strlen (wire));
}

/* One whole reply, all lines joined with \n; NULL at end of stream. */
char *
line_client_reply (LineClient *lc)
{
        GString *all = g_string_new (NULL);

        for (;;) {
                g_autoptr(GError) error = NULL;
                g_autofree char *line = g_data_input_stream_read_line (lc->in, NULL, NULL, &error);

                if (line == NULL) {
                        if (all->len == 0) {
                                g_string_free (all, TRUE);
                                return NULL;
                        }
                        break;
                }
                if (all->len > 0)
                        g_string_append_c (all, '\n');
                g_string_append (all, line);
                if (strlen (line) < 4 || line[3] != '-')
                        break;
        }
        return g_string_free (all, FALSE);
}

void
line_client_expect (LineClient *lc, const char *prefix)
{
        g_autofree char *reply = line_client_reply (lc);
        const char *last;

        g_assert_nonnull (reply);
        last = strrchr (reply, '\n');
        last = last != NULL ? last + 1 : reply;
        if (!g_str_has_prefix (last, prefix))
                g_error ("expected \"%s\", got \"%s\"", prefix, reply);
}

void
line_client_chat (LineClient *lc, const char *line, const char *prefix)
{
        line_client_send (lc, line);
        line_client_expect (lc, prefix);
}

gboolean
line_client_closed (LineClient *lc)
{
        g_autoptr(GError) error = NULL;
        char buf[64];
        gssize n = g_input_stream_read (G_INPUT_STREAM (lc->in), buf, sizeof buf, NULL, &error);

        return n == 0 || (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED));
}

char *
test_find_program (const char *name)
{
        return g_find_program_in_path (name);
}

/* A self-signed EC certificate for localhost and 127.0.0.1, made now. */
gboolean
test_make_certificate (const char *dir, char **cert_file, char **key_file)
{
        g_autofree char *openssl = g_find_program_in_path ("openssl");
        g_autoptr(GError) error = NULL;
        int status = 0;

        if (openssl == NULL)
                return FALSE;
        *cert_file = g_build_filename (dir, "cert.pem", NULL);
        *key_file = g_build_filename (dir, "key.pem", NULL);
        {
                const char *argv[] = { openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", *key_file,
                                       "-out", *cert_file, "-days", "2", "-subj", "/CN=localhost",
                                       "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", NULL };
                if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                   NULL, NULL, NULL, NULL, &status, &error))
                        return FALSE;
        }
        return g_spawn_check_wait_status (status, NULL);
}

gboolean
test_server_wait_stopped (TestServer *ts, guint timeout_ms)
{
        gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
        gboolean stopped;

        g_mutex_lock (&ts->lock);
        while (!ts->stopped && g_cond_wait_until (&ts->cond, &ts->lock, end))
                ;
        stopped = ts->stopped;
        g_mutex_unlock (&ts->lock);
        return stopped;
}

/* The authenticator of the tests: user "user", password "secret". */
GSmtpReply *
test_auth_user_secret (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        if (g_str_equal (g_smtp_stage_get_argument (stage), "user") &&
            g_str_equal (g_smtp_stage_get_password (stage), "secret"))
                return g_smtp_reply_new_code (235);
        return g_smtp_reply_new_code (535);
}

/* The threads of this process now (Linux: /proc/self/task) */
guint
test_count_threads (void)
{
        g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
        guint n = 0;

        g_assert_nonnull (dir);
        while (g_dir_read_name (dir) != NULL)
                n++;
        return n;
}

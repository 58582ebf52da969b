/* test-client-async.c — GSmtpClient's _async calls run on the caller's main context
 * without threads; sends queue on one connection or run at once on a pool; sync
 * calls from several threads share a client; deadlines and cancellation. */
#include "config.h"
#include "client-peer.h"
#include "test-util.h"

#include <string.h>

typedef struct {
        guint    done;
        guint    failed;
        GError  *first_error;
        gint64   first_done_at;         /* monotonic µs; 0 before */
        GPtrArray *order;               /* (element-type utf8): subjects as they finished */
} Sends;

typedef struct {
        Sends *sends;
        char  *name;
} SendTag;

static void
send_done (GObject *source, GAsyncResult *res, gpointer data)
{
        SendTag *tag = data;
        Sends *sends = tag->sends;
        GError *error = NULL;
        g_autoptr(GSmtpSendResult) result = g_smtp_client_send_finish (GSMTP_CLIENT (source), res, &error);

        if (result == NULL) {
                sends->failed++;
                if (sends->first_error == NULL)
                        sends->first_error = error;
                else
                        g_error_free (error);
        }
        if (sends->first_done_at == 0)
                sends->first_done_at = g_get_monotonic_time ();
        if (sends->order != NULL)
                g_ptr_array_add (sends->order, g_strdup (tag->name));
        sends->done++;
        g_free (tag->name);
        g_free (tag);
}

static void
send_async (GSmtpClient *client, Sends *sends, const char *name, GCancellable *cancel)
{
        const char *rcpts[] = { "b@example.org", NULL };
        g_autofree char *text = g_strdup_printf ("Subject: %s\r\n\r\nbody\r\n", name);
        g_autoptr(GBytes) data = g_bytes_new (text, strlen (text));
        SendTag *tag = g_new0 (SendTag, 1);

        tag->sends = sends;
        tag->name = g_strdup (name);
        g_smtp_client_send_bytes_async (client, "a@x.test", rcpts, data, cancel, send_done, tag);
}

static gboolean
until_count (Sends *sends, guint n, guint seconds)
{
        gint64 end = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;

        while (sends->done < n && g_get_monotonic_time () < end)
                g_main_context_iteration (NULL, TRUE);
        return sends->done >= n;
}

typedef struct {
        guint    max_threads;
        gboolean stop;
} ThreadWatch;

static gboolean
watch_threads (gpointer data)
{
        ThreadWatch *watch = data;

        watch->max_threads = MAX (watch->max_threads, test_count_threads ());
        return watch->stop ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void
file_queried (GObject *source, GAsyncResult *res, gpointer data)
{
        g_autoptr(GFileInfo) info = g_file_query_info_finish (G_FILE (source), res, NULL);

        g_assert_nonnull (info);
        *(gboolean *) data = TRUE;
}

static void
connected (GObject *source, GAsyncResult *res, gpointer data)
{
        g_autoptr(GError) error = NULL;

        g_assert_true (g_smtp_client_connect_finish (GSMTP_CLIENT (source), res, &error));
        *(gboolean *) data = TRUE;
}

static void
test_concurrent (void)
{
        const guint n = 200;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) waiting = NULL;
        g_autoptr(GFile) file = g_file_new_for_path ("/proc/self/status");
        Sends sends = { 0 };
        ThreadWatch watch = { 0 };
        gboolean warm = FALSE, queried = FALSE;
        guint baseline;
        gint64 start;
        ClientPeer *peer;
        GSource *sampler;

        g_test_summary ("200 sends at once on a pool of 200 connections: all in flight together, no thread "
                        "added, and other GIO work in the same main context goes on meanwhile");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"hold\": 200}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_object_set (client, "max-connections", n, NULL);
        /* one connection first, so GLib's own lazily made threads are counted in */
        g_smtp_client_connect_async (client, NULL, connected, &warm);
        g_assert_true (client_iterate_until (&warm, 20));
        baseline = test_count_threads ();

        sampler = g_timeout_source_new (10);
        g_source_set_callback (sampler, watch_threads, &watch, NULL);
        g_source_attach (sampler, NULL);
        start = g_get_monotonic_time ();
        for (guint i = 0; i < n; i++) {
                g_autofree char *name = g_strdup_printf ("m%u", i);

                send_async (client, &sends, name, NULL);
        }
        /* the peer answers none until all 200 wait at once */
        waiting = client_peer_event (peer, "all-waiting");
        g_assert_cmpint (client_peer_lookup_int (waiting, "waiting"), ==, n);
        watch_threads (&watch);
        g_assert_cmpuint (watch.max_threads, ==, baseline);
        g_assert_cmpuint (sends.done, ==, 0);

        /* unrelated GIO work is not stuck behind 200 sends in flight */
        g_file_query_info_async (file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE, G_PRIORITY_DEFAULT,
                                 NULL, file_queried, &queried);
        g_assert_true (client_iterate_until (&queried, 10));
        g_assert_cmpuint (sends.done, ==, 0);

        g_output_stream_write_all (g_subprocess_get_stdin_pipe (peer->process), "release\n", 8, NULL, NULL, NULL);
        g_assert_true (until_count (&sends, n, 60));
        g_assert_no_error (sends.first_error);
        g_assert_cmpuint (sends.failed, ==, 0);
        g_test_message ("%u sends, all in flight at once, in %.2f s; %u threads before and during",
                        n, (g_get_monotonic_time () - start) / 1e6, baseline);
        watch.stop = TRUE;
        g_source_destroy (sampler);
        g_source_unref (sampler);
        g_smtp_client_quit (client, NULL, NULL);
        client_peer_stop (peer);
}

static void
test_queue (void)
{
        g_autoptr(GSmtpClient) client = NULL;
        Sends sends = { 0 };
        ClientPeer *peer;

        g_test_summary ("Sends on a busy client wait their turn and share its one connection, in order");
        g_test_bug ("12");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        sends.order = g_ptr_array_new_with_free_func (g_free);
        for (guint i = 0; i < 10; i++) {
                g_autofree char *name = g_strdup_printf ("m%u", i);

                send_async (client, &sends, name, NULL);
        }
        g_assert_true (until_count (&sends, 10, 30));
        g_assert_no_error (sends.first_error);
        for (guint i = 0; i < 10; i++) {
                g_autoptr(GVariant) event = client_peer_event (peer, "message");
                g_autofree char *want = g_strdup_printf ("m%u", i);

                g_assert_cmpstr (sends.order->pdata[i], ==, want);
                g_assert_cmpint (client_peer_lookup_int (event, "session"), ==, 1);
        }
        g_ptr_array_unref (sends.order);
        client_peer_stop (peer);
}

typedef struct {
        GSmtpClient *client;
        guint        ok;
} ThreadRun;

static gpointer
sync_sender (gpointer data)
{
        ThreadRun *run = data;
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);

        for (guint i = 0; i < 5; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GSmtpSendResult) result = g_smtp_client_send_bytes (run->client, "a@x.test", rcpts, msg,
                                                                              NULL, &error);

                g_assert_no_error (error);
                if (result != NULL)
                        run->ok++;
        }
        return NULL;
}

static void
test_sync_threads (void)
{
        g_autoptr(GSmtpClient) client = NULL;
        ThreadRun runs[4];
        GThread *threads[4];
        GHashTable *sessions = g_hash_table_new (NULL, NULL);
        ClientPeer *peer;

        g_test_summary ("Sync sends from four threads on one client with two connections: each waits its turn");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_smtp_client_set_max_connections (client, 2);
        for (guint i = 0; i < 4; i++) {
                runs[i].client = client;
                runs[i].ok = 0;
                threads[i] = g_thread_new ("sender", sync_sender, &runs[i]);
        }
        for (guint i = 0; i < 4; i++) {
                g_thread_join (threads[i]);
                g_assert_cmpuint (runs[i].ok, ==, 5);
        }
        for (guint i = 0; i < 20; i++) {
                g_autoptr(GVariant) event = client_peer_event (peer, "message");

                g_hash_table_add (sessions, GINT_TO_POINTER (client_peer_lookup_int (event, "session")));
        }
        g_assert_cmpuint (g_hash_table_size (sessions), <=, 2);
        g_hash_table_unref (sessions);
        client_peer_stop (peer);
}

typedef struct {
        GSmtpClient *client;
        GError      *error;
        gboolean     done;
} NestedSync;

static gboolean
sync_from_handler (gpointer data)
{
        NestedSync *nested = data;
        const char *rcpts[] = { "b@example.org", NULL };
        g_autoptr(GBytes) msg = g_bytes_new_static ("x\r\n", 3);
        g_autoptr(GSmtpSendResult) result = NULL;

        result = g_smtp_client_send_bytes (nested->client, "a@x.test", rcpts, msg, NULL, &nested->error);
        nested->done = TRUE;
        return G_SOURCE_REMOVE;
}

static void
test_would_block (void)
{
        g_autoptr(GSmtpClient) client = NULL;
        NestedSync nested = { 0 };
        Sends sends = { 0 };
        ClientPeer *peer;

        g_test_summary ("A sync send from a handler of the main context an async send of the same client runs "
                        "in fails at once instead of waiting for ever");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"hold\": 1}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        nested.client = client;
        send_async (client, &sends, "first", NULL);
        /* the async send is in flight (its end of data unanswered) when the handler runs */
        g_variant_unref (client_peer_event (peer, "all-waiting"));
        g_idle_add (sync_from_handler, &nested);
        g_assert_true (client_iterate_until (&nested.done, 20));
        g_assert_error (nested.error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        g_clear_error (&nested.error);
        g_output_stream_write_all (g_subprocess_get_stdin_pipe (peer->process), "release\n", 8, NULL, NULL, NULL);
        g_assert_true (until_count (&sends, 1, 20));
        g_assert_no_error (sends.first_error);
        client_peer_stop (peer);
}

static gpointer
sync_in_worker (gpointer data)
{
        NestedSync *nested = data;

        sync_from_handler (nested);
        return NULL;
}

static void
test_sync_behind_async (void)
{
        g_autoptr(GSmtpClient) client = NULL;
        NestedSync nested = { 0 };
        Sends sends = { 0 };
        GThread *worker;
        ClientPeer *peer;

        g_test_summary ("A sync send from a worker thread waits behind an async one that the main thread runs, "
                        "and both go through");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        nested.client = client;
        send_async (client, &sends, "first", NULL);
        worker = g_thread_new ("sync-sender", sync_in_worker, &nested);
        g_assert_true (until_count (&sends, 1, 20));
        g_thread_join (worker);
        g_assert_true (nested.done);
        g_assert_no_error (nested.error);
        g_assert_no_error (sends.first_error);
        client_peer_stop (peer);
}

static void
test_send_timeout (void)
{
        g_autoptr(GSmtpClient) client = NULL;
        Sends sends = { 0 };
        ClientPeer *peer;

        g_test_summary ("send-timeout bounds the whole send, queueing included: the one waiting and the one "
                        "in flight both end with G_IO_ERROR_TIMED_OUT");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"data_delay\": 5}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_object_set (client, "send-timeout", 1, NULL);
        send_async (client, &sends, "slow", NULL);
        send_async (client, &sends, "queued", NULL);
        g_assert_true (until_count (&sends, 2, 20));
        g_assert_cmpuint (sends.failed, ==, 2);
        g_assert_error (sends.first_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
        g_assert_nonnull (strstr (sends.first_error->message, "send-timeout"));
        g_clear_error (&sends.first_error);
        client_peer_stop (peer);
}

static void
test_cancel_queued (void)
{
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GCancellable) cancel = g_cancellable_new ();
        g_autoptr(GVariant) first = NULL, third = NULL;
        Sends sends = { 0 };
        ClientPeer *peer;

        g_test_summary ("Cancelling a send that waits in the queue ends it at once; the connection is untouched");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{\"hold\": 1}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        sends.order = g_ptr_array_new_with_free_func (g_free);
        send_async (client, &sends, "held", NULL);
        send_async (client, &sends, "cancelled", cancel);
        g_variant_unref (client_peer_event (peer, "all-waiting"));
        g_cancellable_cancel (cancel);
        g_assert_true (until_count (&sends, 1, 10));
        g_assert_cmpstr (sends.order->pdata[0], ==, "cancelled");
        g_assert_error (sends.first_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_clear_error (&sends.first_error);
        g_output_stream_write_all (g_subprocess_get_stdin_pipe (peer->process), "release\n", 8, NULL, NULL, NULL);
        g_assert_true (until_count (&sends, 2, 10));
        g_assert_cmpuint (sends.failed, ==, 1);
        send_async (client, &sends, "third", NULL);
        g_assert_true (until_count (&sends, 3, 10));
        g_assert_no_error (sends.first_error);
        first = client_peer_event (peer, "message");
        third = client_peer_event (peer, "message");
        g_assert_cmpint (client_peer_lookup_int (third, "session"), ==, client_peer_lookup_int (first, "session"));
        g_ptr_array_unref (sends.order);
        client_peer_stop (peer);
}

typedef struct {
        GSmtpSendResult *result;
        GError          *error;
        gboolean         done;
} StreamRun;

static void
stream_sent (GObject *source, GAsyncResult *res, gpointer data)
{
        StreamRun *run = data;

        run->result = g_smtp_client_send_finish (GSMTP_CLIENT (source), res, &run->error);
        run->done = TRUE;
}

static void
test_stream (void)
{
        const char *rcpts[] = { "b@example.org", NULL };
        const char *text = "Subject: caf\xc3\xa9\n\n.stream\n";
        const char *wire = "Subject: caf\xc3\xa9\r\n\r\n.stream\r\n";
        g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data (text, strlen (text), NULL);
        g_autoptr(GInputStream) nul = g_memory_input_stream_new_from_data ("a\0b\r\n", 5, NULL);
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GVariant) event = NULL, after = NULL;
        g_autoptr(GBytes) got = NULL;
        StreamRun run = { 0 };
        ClientPeer *peer;

        g_test_summary ("send_stream_async: read as it goes, BODY=8BITMIME where offered; a NUL byte on the way "
                        "stops it before the end of data and drops the connection");
        SKIP_WITHOUT_PYTHON ();
        peer = client_peer_scripted ("{}");
        client = g_smtp_client_new ("127.0.0.1", peer->port);
        g_smtp_client_send_stream_async (client, "a@x.test", rcpts, in, NULL, stream_sent, &run);
        g_assert_true (client_iterate_until (&run.done, 20));
        g_assert_no_error (run.error);
        g_clear_object (&run.result);
        event = client_peer_event (peer, "message");
        got = client_peer_event_data (event);
        g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), wire, strlen (wire));
        g_assert_cmpstr (client_peer_lookup (event, "mail"), ==, "MAIL FROM:<a@x.test> BODY=8BITMIME");

        run.done = FALSE;
        g_smtp_client_send_stream_async (client, "a@x.test", rcpts, nul, NULL, stream_sent, &run);
        g_assert_true (client_iterate_until (&run.done, 20));
        g_assert_error (run.error, GSMTP_ERROR, GSMTP_ERROR_NOT_SUPPORTED);
        g_clear_error (&run.error);
        g_variant_unref (client_peer_event (peer, "closed"));
        {
                g_autoptr(GBytes) msg = g_bytes_new_static ("y\r\n", 3);
                g_autoptr(GError) error = NULL;
                g_autoptr(GSmtpSendResult) result = g_smtp_client_send_bytes (client, "a@x.test", rcpts, msg, NULL,
                                                                              &error);

                g_assert_no_error (error);
        }
        after = client_peer_event (peer, "message");
        g_assert_cmpint (client_peer_lookup_int (after, "session"), ==, 2);
        client_peer_stop (peer);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_bug_base ("issue ");
        gsmtp_ensure_gmime ();
        g_test_add_func ("/client-async/concurrent-200", test_concurrent);
        g_test_add_func ("/client-async/queue", test_queue);
        g_test_add_func ("/client-async/sync-threads", test_sync_threads);
        g_test_add_func ("/client-async/would-block", test_would_block);
        g_test_add_func ("/client-async/sync-behind-async", test_sync_behind_async);
        g_test_add_func ("/client-async/send-timeout", test_send_timeout);
        g_test_add_func ("/client-async/cancel-queued", test_cancel_queued);
        g_test_add_func ("/client-async/stream", test_stream);
        return g_test_run ();
}

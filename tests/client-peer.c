/* client-peer.c — the client tests' peers: a Python server in tests/peers runs as a
 * subprocess, says "listening on 127.0.0.1:PORT", then one line per event, and
 * ends when its stdin closes.  Reads are bounded in time: a missing event fails
 * the test instead of hanging it. */
#include "config.h"
#include "client-peer.h"

#include <stdio.h>
#include <string.h>

#define PYTHON "/usr/bin/python3"

gboolean
client_peer_python_has (const char *module)
{
        g_autofree char *cmd = g_strdup_printf (PYTHON " -c 'import %s'", module);
        int status = -1;

        if (!g_file_test (PYTHON, G_FILE_TEST_IS_EXECUTABLE))
                return FALSE;
        return g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL) && status == 0;
}

static gboolean
deadline_passed (gpointer data)
{
        *(gboolean *) data = TRUE;
        return G_SOURCE_REMOVE;
}

/* Iterates the thread-default context until *done, for at most @seconds. */
gboolean
client_iterate_until (gboolean *done, guint seconds)
{
        GMainContext *context = g_main_context_ref_thread_default ();
        gboolean late = FALSE;
        GSource *timer = g_timeout_source_new_seconds (seconds);

        g_source_set_callback (timer, deadline_passed, &late, NULL);
        g_source_attach (timer, context);
        while (!*done && !late)
                g_main_context_iteration (context, TRUE);
        g_source_destroy (timer);
        g_source_unref (timer);
        g_main_context_unref (context);
        return *done;
}

typedef struct {
        char     *line;
        gboolean  done;
} LineRead;

static void
line_read (GObject *source, GAsyncResult *res, gpointer data)
{
        LineRead *read = data;

        read->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), res, NULL, NULL);
        read->done = TRUE;
}

/* The next line the peer printed, within 20 s. */
char *
client_peer_line (ClientPeer *peer)
{
        g_autoptr(GCancellable) cancel = g_cancellable_new ();
        LineRead read = { NULL, FALSE };

        g_data_input_stream_read_line_async (peer->out, G_PRIORITY_DEFAULT, cancel, line_read, &read);
        if (!client_iterate_until (&read.done, 20)) {
                g_cancellable_cancel (cancel);
                client_iterate_until (&read.done, 5);
                g_assert_not_reached ();
        }
        return read.line;
}

ClientPeer *
client_peer_start (const char *script, const char *const *args)
{
        g_autofree char *path = g_build_filename (g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".",
                                                  "tests", "peers", script, NULL);
        g_autoptr(GPtrArray) argv = g_ptr_array_new ();
        g_autoptr(GError) error = NULL;
        g_autofree char *line = NULL;
        ClientPeer *peer = g_new0 (ClientPeer, 1);
        guint port = 0;

        g_ptr_array_add (argv, (char *) PYTHON);
        g_ptr_array_add (argv, path);
        for (guint i = 0; args != NULL && args[i] != NULL; i++)
                g_ptr_array_add (argv, (char *) args[i]);
        g_ptr_array_add (argv, NULL);
        peer->process = g_subprocess_newv ((const char *const *) argv->pdata,
                                           G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
        g_assert_no_error (error);
        peer->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (peer->process));
        line = client_peer_line (peer);
        g_assert_nonnull (line);
        g_assert_cmpint (sscanf (line, "listening on 127.0.0.1:%u", &port), ==, 1);
        peer->port = port;
        return peer;
}

ClientPeer *
client_peer_scripted (const char *config_json)
{
        const char *args[] = { config_json, NULL };

        return client_peer_start ("scripted-peer.py", args);
}

static gboolean
event_is (GVariant *event, const char *kind)
{
        const char *got = NULL;

        return g_variant_lookup (event, "event", "&s", &got) && g_str_equal (got, kind);
}

/* The next event of @kind ("message", "connect"...); events of other kinds read
 * on the way are kept for later calls. */
GVariant *
client_peer_event (ClientPeer *peer, const char *kind)
{
        for (GList *l = peer->pending.head; l != NULL; l = l->next) {
                if (event_is (l->data, kind)) {
                        GVariant *event = l->data;

                        g_queue_delete_link (&peer->pending, l);
                        return event;
                }
        }
        for (;;) {
                g_autofree char *line = client_peer_line (peer);
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) event = NULL;

                g_assert_nonnull (line);
                event = g_variant_parse (G_VARIANT_TYPE_VARDICT, line, NULL, NULL, &error);
                g_assert_no_error (error);
                if (event_is (event, kind))
                        return g_steal_pointer (&event);
                g_queue_push_tail (&peer->pending, g_steal_pointer (&event));
        }
}

const char *
client_peer_lookup (GVariant *event, const char *key)
{
        const char *value = NULL;

        g_variant_lookup (event, key, "&s", &value);
        return value;
}

gint64
client_peer_lookup_int (GVariant *event, const char *key)
{
        gint64 value = -1;

        g_variant_lookup (event, key, "x", &value);
        return value;
}

gboolean
client_peer_lookup_bool (GVariant *event, const char *key)
{
        gboolean value = FALSE;

        g_variant_lookup (event, key, "b", &value);
        return value;
}

char **
client_peer_lookup_strv (GVariant *event, const char *key)
{
        char **value = NULL;

        g_variant_lookup (event, key, "^as", &value);
        return value;
}

GBytes *
client_peer_event_data (GVariant *event)
{
        gsize len = 0;
        guchar *data = g_base64_decode (client_peer_lookup (event, "data"), &len);

        return g_bytes_new_take (data, len);
}

void
client_peer_stop (ClientPeer *peer)
{
        g_output_stream_close (g_subprocess_get_stdin_pipe (peer->process), NULL, NULL);
        g_subprocess_wait (peer->process, NULL, NULL);
        g_queue_clear_full (&peer->pending, (GDestroyNotify) g_variant_unref);
        g_object_unref (peer->out);
        g_object_unref (peer->process);
        g_free (peer);
}

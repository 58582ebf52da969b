/* client-bench-gsmtp — the gsmtp client's side of bench/client-bench (not installed).
 * Public API only.
 *
 *   client-bench-gsmtp --port N [--count 2000] [--size 4096] [--mode sync|async|concurrent]
 *                      [--connections N]
 *
 * sync:       --count sends, one after another, with g_smtp_client_send_bytes()
 * async:      --count sends started at once with _async, queued on one connection
 * concurrent: --count sends started at once on a pool of --connections
 *
 * Prints one line: "messages=N seconds=S failed=F max_threads=T" (the time from the
 * first send to the last result, connecting included; threads of this process
 * sampled every 10 ms). */
#include <gsmtp/gsmtp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        guint done;
        guint failed;
        guint max_threads;
} Run;

static guint
count_threads (void)
{
        g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
        guint n = 0;

        while (dir != NULL && g_dir_read_name (dir) != NULL)
                n++;
        return n;
}

static gboolean
sample_threads (gpointer data)
{
        Run *run = data;

        run->max_threads = MAX (run->max_threads, count_threads ());
        return G_SOURCE_CONTINUE;
}

static void
sent (GObject *source, GAsyncResult *res, gpointer data)
{
        Run *run = data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpSendResult) result = g_smtp_client_send_finish (GSMTP_CLIENT (source), res, &error);

        if (result == NULL) {
                if (run->failed++ == 0)
                        g_printerr ("client-bench-gsmtp: %s\n", error->message);
        }
        run->done++;
}

int
main (int argc, char **argv)
{
        int port = 0, count = 2000, size = 4096, connections = 1;
        g_autofree char *mode = NULL;
        GOptionEntry entries[] = {
                { "port", 0, 0, G_OPTION_ARG_INT, &port, "Server port on 127.0.0.1", "N" },
                { "count", 0, 0, G_OPTION_ARG_INT, &count, "Messages", "N" },
                { "size", 0, 0, G_OPTION_ARG_INT, &size, "Bytes per message", "N" },
                { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "sync, async or concurrent", "MODE" },
                { "connections", 0, 0, G_OPTION_ARG_INT, &connections, "max-connections", "N" },
                { NULL }
        };
        g_autoptr(GOptionContext) context = g_option_context_new (NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GString) text = g_string_new ("From: bench-sender@example.org\r\nTo: bench-rcpt@example.net\r\n"
                                                "Subject: client bench\r\n\r\n");
        g_autoptr(GBytes) data = NULL;
        const char *rcpts[] = { "bench-rcpt@example.net", NULL };
        Run run = { 0 };
        gint64 start;
        guint sampler;

        g_option_context_add_main_entries (context, entries, NULL);
        if (!g_option_context_parse (context, &argc, &argv, &error) || port <= 0 || count <= 0 || size <= 0) {
                fprintf (stderr, "usage: client-bench-gsmtp --port N [--count N] [--size N] [--mode M]\n");
                return 2;
        }
        while (text->len < (gsize) size)
                g_string_append (text, "0123456789 the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n");
        g_string_truncate (text, size - 2);
        g_string_append (text, "\r\n");
        data = g_bytes_new (text->str, text->len);
        client = g_smtp_client_new ("127.0.0.1", port);
        g_smtp_client_set_helo_name (client, "bench-client.example");
        g_smtp_client_set_max_connections (client, MAX (connections, 1));
        run.max_threads = count_threads ();
        sampler = g_timeout_add (10, sample_threads, &run);

        start = g_get_monotonic_time ();
        if (mode == NULL || g_str_equal (mode, "sync")) {
                for (int i = 0; i < count; i++) {
                        g_autoptr(GSmtpSendResult) result = g_smtp_client_send_bytes (client, "bench-sender@example.org",
                                                                                      rcpts, data, NULL, &error);
                        if (result == NULL) {
                                if (run.failed++ == 0)
                                        g_printerr ("client-bench-gsmtp: %s\n", error->message);
                                g_clear_error (&error);
                        }
                        run.done++;
                }
        } else {
                for (int i = 0; i < count; i++)
                        g_smtp_client_send_bytes_async (client, "bench-sender@example.org", rcpts, data, NULL, sent, &run);
                while (run.done < (guint) count)
                        g_main_context_iteration (NULL, TRUE);
        }
        printf ("messages=%u seconds=%.4f failed=%u max_threads=%u\n", run.done,
                (g_get_monotonic_time () - start) / 1e6, run.failed, MAX (run.max_threads, count_threads ()));
        g_source_remove (sampler);
        g_smtp_client_quit (client, NULL, NULL);
        return run.failed > 0 ? 1 : 0;
}

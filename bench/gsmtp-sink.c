/* gsmtp-sink.c — the smallest server the library makes, to measure gsmtp's
 * protocol path like for like against Postfix's smtp-sink (../shared/CONTRACT.md).
 * Every domain is local, every message is answered 250 and dropped unparsed: no
 * handler, no GMime.  Public API only.  Not installed.
 *
 *   bench/gsmtp-sink [--listen HOST:PORT] [--max-connections N] */
#include <gsmtp/gsmtp.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean
on_signal (gpointer loop)
{
        g_main_loop_quit (loop);
        return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
        g_autofree char *listen = NULL;
        int max_connections = 512;
        GOptionEntry entries[] = {
                { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, "HOST:PORT (default 127.0.0.1:2525)", "HOST:PORT" },
                { "max-connections", 0, 0, G_OPTION_ARG_INT, &max_connections, "concurrent sessions", "N" },
                { NULL }
        };
        g_autoptr(GOptionContext) context = g_option_context_new ("- answer 250 to every message, keep nothing");
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpServer) server = NULL;
        g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
        g_autofree char *host = NULL;
        const char *colon;
        guint64 port;
        guint16 bound = 0;

        g_option_context_add_main_entries (context, entries, NULL);
        if (!g_option_context_parse (context, &argc, &argv, &error)) {
                fprintf (stderr, "gsmtp-sink: %s\n", error->message);
                return 2;
        }
        if (listen == NULL)
                listen = g_strdup ("127.0.0.1:2525");
        colon = strrchr (listen, ':');
        if (colon == NULL || !g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL) ||
            max_connections < 1) {
                fprintf (stderr, "gsmtp-sink: bad --listen or --max-connections\n");
                return 2;
        }
        host = g_strndup (listen, colon - listen);
        if (host[0] == '[' && host[strlen (host) - 1] == ']') {
                char *inner = g_strndup (host + 1, strlen (host) - 2);

                g_free (host);
                host = inner;
        }
        server = g_smtp_server_new ("gsmtp-sink.example");
        g_smtp_server_add_domain (server, "*");
        g_object_set (server, "max-connections", (guint) max_connections, NULL);
        if (!g_smtp_server_listen_inet (server, host, (guint16) port, GSMTP_LISTEN_DEFAULT, &bound, &error)) {
                fprintf (stderr, "gsmtp-sink: %s\n", error->message);
                return 2;
        }
        fprintf (stderr, strchr (host, ':') != NULL ? "listening on [%s]:%u\n" : "listening on %s:%u\n",
                 host, bound);
        g_unix_signal_add (SIGTERM, on_signal, loop);
        g_unix_signal_add (SIGINT, on_signal, loop);
        g_main_loop_run (loop);
        return 0;
}

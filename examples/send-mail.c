/* send-mail — sends the message on stdin through an SMTP server.
 * The command line is a contract: ../shared/CONTRACT.md.  Public API only. */
#include <gsmtp/gsmtp.h>
#include <gio/gunixinputstream.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
die_usage (const char *msg)
{
        fprintf (stderr, "send-mail: %s\n", msg);
        exit (2);
}

int
main (int argc, char **argv)
{
        g_autofree char *server = NULL, *from = NULL, *user = NULL, *password_file = NULL, *ca_file = NULL;
        g_auto(GStrv) to = NULL;
        gboolean starttls = FALSE, tls = FALSE, insecure = FALSE;
        int port = 0;
        GOptionEntry entries[] = {
                { "server", 0, 0, G_OPTION_ARG_STRING, &server, "SMTP server", "HOST" },
                { "port", 0, 0, G_OPTION_ARG_INT, &port, "Port (25, or 465 with --tls)", "N" },
                { "starttls", 0, 0, G_OPTION_ARG_NONE, &starttls, "Require STARTTLS", NULL },
                { "tls", 0, 0, G_OPTION_ARG_NONE, &tls, "Implicit TLS", NULL },
                { "user", 0, 0, G_OPTION_ARG_STRING, &user, "AUTH user", "USER" },
                { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file, "File holding the password", "FILE" },
                { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "Trust these CAs", "PEM" },
                { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure, "Do not verify the server", NULL },
                { "from", 0, 0, G_OPTION_ARG_STRING, &from, "Envelope sender", "ADDR" },
                { "to", 0, 0, G_OPTION_ARG_STRING_ARRAY, &to, "Recipient (repeatable)", "ADDR" },
                { NULL }
        };
        g_autoptr(GOptionContext) context = g_option_context_new ("< message");
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GInputStream) in = NULL;
        g_autoptr(GOutputStream) mem = NULL;
        g_autoptr(GBytes) data = NULL;
        const char *const *refused;

        g_option_context_add_main_entries (context, entries, NULL);
        if (!g_option_context_parse (context, &argc, &argv, &error))
                die_usage (error->message);
        if (server == NULL || from == NULL || to == NULL)
                die_usage ("--server, --from and --to are required");
        if (starttls && tls)
                die_usage ("--starttls and --tls exclude each other");
        if (ca_file != NULL && insecure)
                die_usage ("--ca-file and --insecure exclude each other");
        if ((user == NULL) != (password_file == NULL))
                die_usage ("--user and --password-file go together");
        if (port < 0 || port > 65535)
                die_usage ("--port is out of range");
        if (port == 0)
                port = tls ? 465 : 25;

        client = g_smtp_client_new (server, port);
        g_smtp_client_set_tls_mode (client, tls ? GSMTP_TLS_IMPLICIT
                                            : starttls ? GSMTP_TLS_STARTTLS : GSMTP_TLS_NONE);
        if (ca_file != NULL && !g_smtp_client_set_ca_file (client, ca_file, &error))
                die_usage (error->message);
        g_smtp_client_set_insecure (client, insecure);
        if (user != NULL) {
                g_autofree char *password = NULL;

                if (!g_file_get_contents (password_file, &password, NULL, &error))
                        die_usage (error->message);
                g_strchomp (password);
                g_smtp_client_set_credentials (client, user, password);
        }

        in = g_unix_input_stream_new (0, FALSE);
        mem = g_memory_output_stream_new_resizable ();
        if (g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error) < 0)
                die_usage (error->message);
        data = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));

        result = g_smtp_client_send_bytes (client, from, (const char *const *) to, data, NULL, &error);
        if (result == NULL) {
                fprintf (stderr, "send-mail: %s\n", error->message);
                return 1;
        }
        g_smtp_client_quit (client, NULL, NULL);
        refused = g_smtp_send_result_get_refused (result);
        for (guint i = 0; refused[i] != NULL; i++) {
                g_autofree char *text = g_smtp_reply_to_string (
                        g_smtp_send_result_get_recipient_reply (result, refused[i]));
                fprintf (stderr, "send-mail: %s refused: %s\n", refused[i], text);
        }
        return refused[0] != NULL ? 1 : 0;
}

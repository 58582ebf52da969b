/* send-mail — sends the message on stdin through an SMTP (or LMTP) server.
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

static GSmtpDsnNotify
parse_notify (const char *text)
{
        g_auto(GStrv) words = g_strsplit (text, ",", -1);
        GSmtpDsnNotify notify = GSMTP_DSN_NOTIFY_UNSPECIFIED;

        for (guint i = 0; words[i] != NULL; i++) {
                if (g_ascii_strcasecmp (words[i], "NEVER") == 0)
                        notify |= GSMTP_DSN_NOTIFY_NEVER;
                else if (g_ascii_strcasecmp (words[i], "SUCCESS") == 0)
                        notify |= GSMTP_DSN_NOTIFY_SUCCESS;
                else if (g_ascii_strcasecmp (words[i], "FAILURE") == 0)
                        notify |= GSMTP_DSN_NOTIFY_FAILURE;
                else if (g_ascii_strcasecmp (words[i], "DELAY") == 0)
                        notify |= GSMTP_DSN_NOTIFY_DELAY;
                else
                        die_usage ("--notify takes NEVER, or SUCCESS, FAILURE and DELAY separated by commas");
        }
        if ((notify & GSMTP_DSN_NOTIFY_NEVER) && notify != GSMTP_DSN_NOTIFY_NEVER)
                die_usage ("--notify NEVER goes alone");
        return notify;
}

int
main (int argc, char **argv)
{
        g_autofree char *server = NULL, *from = NULL, *user = NULL, *password_file = NULL, *ca_file = NULL;
        g_autofree char *notify = NULL, *ret = NULL, *envid = NULL, *mechanism = NULL;
        g_auto(GStrv) to = NULL;
        gboolean starttls = FALSE, tls = FALSE, insecure = FALSE, lmtp = FALSE, requiretls = FALSE;
        int port = 0;
        GOptionEntry entries[] = {
                { "server", 0, 0, G_OPTION_ARG_STRING, &server, "SMTP server", "HOST" },
                { "port", 0, 0, G_OPTION_ARG_INT, &port, "Port (25, or 465 with --tls)", "N" },
                { "starttls", 0, 0, G_OPTION_ARG_NONE, &starttls, "Require STARTTLS", NULL },
                { "tls", 0, 0, G_OPTION_ARG_NONE, &tls, "Implicit TLS", NULL },
                { "user", 0, 0, G_OPTION_ARG_STRING, &user, "AUTH user", "USER" },
                { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
                  "File holding the password (the access token with OAuth)", "FILE" },
                { "auth-mechanism", 0, 0, G_OPTION_ARG_STRING, &mechanism,
                  "PLAIN, LOGIN, XOAUTH2 or OAUTHBEARER", "MECH" },
                { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "Trust these CAs", "PEM" },
                { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure, "Do not verify the server", NULL },
                /* addresses are UTF-8 whatever the locale: no conversion (FILENAME) */
                { "from", 0, 0, G_OPTION_ARG_FILENAME, &from, "Envelope sender", "ADDR" },
                { "to", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &to, "Recipient (repeatable)", "ADDR" },
                { "lmtp", 0, 0, G_OPTION_ARG_NONE, &lmtp, "Speak LMTP (RFC 2033)", NULL },
                { "notify", 0, 0, G_OPTION_ARG_STRING, &notify, "DSN: NEVER, or SUCCESS,FAILURE,DELAY",
                  "WHEN" },
                { "ret", 0, 0, G_OPTION_ARG_STRING, &ret, "DSN: return FULL or HDRS", "WHAT" },
                { "envid", 0, 0, G_OPTION_ARG_STRING, &envid, "DSN: envelope identifier", "ID" },
                { "requiretls", 0, 0, G_OPTION_ARG_NONE, &requiretls, "REQUIRETLS (RFC 8689)", NULL },
                { NULL }
        };
        g_autoptr(GOptionContext) context = g_option_context_new ("< message");
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpClient) client = NULL;
        g_autoptr(GSmtpSendOptions) options = g_smtp_send_options_new ();
        g_autoptr(GSmtpSendResult) result = NULL;
        g_autoptr(GInputStream) in = NULL;
        g_autoptr(GOutputStream) mem = NULL;
        g_autoptr(GBytes) data = NULL;
        gboolean oauth;
        const char *const *refused;

        g_option_context_add_main_entries (context, entries, NULL);
        if (!g_option_context_parse (context, &argc, &argv, &error))
                die_usage (error->message);
        if (server == NULL || from == NULL || to == NULL)
                die_usage ("--server, --from and --to are required");
        if (!g_utf8_validate (from, -1, NULL))
                die_usage ("--from is not UTF-8");
        for (guint i = 0; to[i] != NULL; i++)
                if (!g_utf8_validate (to[i], -1, NULL))
                        die_usage ("--to is not UTF-8");
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
        if (mechanism != NULL) {
                char *upper = g_ascii_strup (mechanism, -1);

                g_free (mechanism);
                mechanism = upper;
        }
        if (mechanism != NULL && !g_strv_contains ((const char *const[]) { "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", NULL },
                                                   mechanism))
                die_usage ("--auth-mechanism takes PLAIN, LOGIN, XOAUTH2 or OAUTHBEARER");
        oauth = mechanism != NULL && (g_str_equal (mechanism, "XOAUTH2") || g_str_equal (mechanism, "OAUTHBEARER"));
        if (notify != NULL)
                g_smtp_send_options_set_dsn_notify (options, parse_notify (notify));
        if (ret != NULL) {
                if (g_ascii_strcasecmp (ret, "FULL") == 0)
                        g_smtp_send_options_set_dsn_return (options, GSMTP_DSN_RET_FULL);
                else if (g_ascii_strcasecmp (ret, "HDRS") == 0)
                        g_smtp_send_options_set_dsn_return (options, GSMTP_DSN_RET_HDRS);
                else
                        die_usage ("--ret takes FULL or HDRS");
        }
        if (envid != NULL && !g_smtp_send_options_set_dsn_envid (options, envid, &error))
                die_usage (error->message);
        g_smtp_send_options_set_requiretls (options, requiretls);

        client = g_smtp_client_new (server, port);
        g_smtp_client_set_tls_mode (client, tls ? GSMTP_TLS_IMPLICIT
                                            : starttls ? GSMTP_TLS_STARTTLS : GSMTP_TLS_NONE);
        g_smtp_client_set_lmtp (client, lmtp);
        if (ca_file != NULL && !g_smtp_client_set_ca_file (client, ca_file, &error))
                die_usage (error->message);
        g_smtp_client_set_insecure (client, insecure);
        if (user != NULL) {
                g_autofree char *secret = NULL;

                if (!g_file_get_contents (password_file, &secret, NULL, &error))
                        die_usage (error->message);
                g_strchomp (secret);
                if (oauth)
                        g_smtp_client_set_oauth_token (client, user, secret);
                else
                        g_smtp_client_set_credentials (client, user, secret);
                g_smtp_client_set_auth_mechanism (client, mechanism);
                memset (secret, 0, strlen (secret));
        }

        in = g_unix_input_stream_new (0, FALSE);
        mem = g_memory_output_stream_new_resizable ();
        if (g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error) < 0)
                die_usage (error->message);
        data = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (mem));

        result = g_smtp_client_send_bytes_full (client, from, (const char *const *) to, data, options, NULL, &error);
        if (result == NULL) {
                /* every recipient refused: each one's reply */
                GSmtpSendResult *partial = g_smtp_error_get_send_result (error);

                fprintf (stderr, "send-mail: %s\n", error->message);
                if (partial == NULL)
                        return 1;
                result = g_object_ref (partial);
        } else {
                g_smtp_client_quit (client, NULL, NULL);
        }
        refused = g_smtp_send_result_get_refused (result);
        for (guint i = 0; refused[i] != NULL; i++) {
                g_autofree char *text = g_smtp_reply_to_string (
                        g_smtp_send_result_get_recipient_reply (result, refused[i]));
                fprintf (stderr, "send-mail: %s refused: %s\n", refused[i], text);
        }
        return refused[0] != NULL || g_smtp_send_result_get_accepted (result)[0] == NULL ? 1 : 0;
}

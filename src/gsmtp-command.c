/* gsmtp-command.c — splits command lines; parses MAIL/RCPT paths and ESMTP parameters.
 * Owns: the grammar of RFC 5321 4.1.1 and 4.1.2 for one line.  Pure; fuzzed.
 * Not: whether a command is allowed now (gsmtp-session.c), mailbox syntax
 * (gsmtp-address.c), what a parameter means (gsmtp-esmtp-params.c).
 * RFC 5321 4.1.2, 4.1.4; RFC 1869 6 (esmtp-param); RFC 6531 3.3 (UTF-8). */
#include "config.h"
#include "gsmtp-command.h"
#include "gsmtp-address.h"

#include <string.h>

/* The verb is the letters up to the first space (RFC 5321 4.1.1: case-insensitive).
 * Returns FALSE for a line whose verb is too long or not letters. */
gboolean
gsmtp_command_split (const char *line, GSmtpCommand *cmd)
{
        gsize n = 0;

        while (g_ascii_isalpha (line[n]) && n < GSMTP_VERB_MAX - 1) {
                cmd->verb[n] = g_ascii_toupper (line[n]);
                n++;
        }
        cmd->verb[n] = '\0';
        if (line[n] == '\0') {
                cmd->args = line + n;
                return n > 0;
        }
        if (line[n] != ' ')
                return FALSE;
        cmd->args = line + n + 1;
        return n > 0;
}

/* RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"):
 * the @len bytes at @k.  The client checks the keywords it sends with it. */
gboolean
gsmtp_command_keyword_is_valid (const char *k, gsize len)
{
        if (len == 0 || !g_ascii_isalnum (k[0]))
                return FALSE;
        for (gsize i = 1; i < len; i++)
                if (!g_ascii_isalnum (k[i]) && k[i] != '-')
                        return FALSE;
        return TRUE;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), and =/ UTF8-non-ascii (RFC 6531
 * 3.3): well-formed UTF-8 passes here; whether the transaction may carry it
 * (SMTPUTF8) is gsmtp-esmtp-params.c's question. */
static gboolean
param_value_is_valid (const char *v)
{
        if (*v == '\0')
                return FALSE;
        for (; *v != '\0'; v++) {
                unsigned char c = (unsigned char) *v;
                gsize n;

                if (c >= 0x80 && (n = gsmtp_utf8_char_len (v)) > 0) {
                        v += n - 1;
                        continue;
                }
                if (c < 33 || c > 126 || c == '=')
                        return FALSE;
        }
        return TRUE;
}

static GSmtpPathStatus
parse_params (const char *p, GHashTable **out_params)
{
        g_autoptr(GHashTable) params = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                              g_free, g_free);
        while (*p != '\0') {
                const char *end, *eq;
                g_autofree char *key = NULL;
                char *value = NULL;

                while (*p == ' ')
                        p++;
                if (*p == '\0')
                        break;
                end = strchr (p, ' ');
                if (end == NULL)
                        end = p + strlen (p);
                eq = memchr (p, '=', end - p);
                if (!gsmtp_command_keyword_is_valid (p, (eq != NULL ? eq : end) - p))
                        return GSMTP_PATH_BAD_PARAMETER;
                key = g_ascii_strup (p, (eq != NULL ? eq : end) - p);
                if (eq != NULL) {
                        value = g_strndup (eq + 1, end - eq - 1);
                        if (!param_value_is_valid (value)) {
                                g_free (value);
                                return GSMTP_PATH_BAD_PARAMETER;
                        }
                }
                if (g_hash_table_contains (params, key)) {
                        g_free (value);
                        return GSMTP_PATH_BAD_PARAMETER;
                }
                g_hash_table_insert (params, g_steal_pointer (&key), value);
                p = end;
        }
        *out_params = g_steal_pointer (&params);
        return GSMTP_PATH_OK;
}

/* "FROM:<path> [params]" or "TO:<path> [params]".  Clients commonly put a space
 * after the colon; Postfix accepts it and so do we.  A source route
 * (<@a,@b:user@c>, RFC 5321 4.1.1.3) is accepted and dropped.  MAIL allows the
 * null path <>; RCPT allows a bare <postmaster> (RFC 5321 4.5.1). */
GSmtpPathStatus
gsmtp_command_parse_path (const char *args, const char *keyword, gboolean is_mail,
                          char **out_path, GHashTable **out_params)
{
        gsize klen = strlen (keyword);
        const char *p, *close;
        g_autofree char *path = NULL;
        const char *mailbox;
        GSmtpPathStatus status;

        if (g_ascii_strncasecmp (args, keyword, klen) != 0)
                return GSMTP_PATH_SYNTAX;
        p = args + klen;
        while (*p == ' ')
                p++;
        if (*p != '<')
                return GSMTP_PATH_SYNTAX;
        /* The closing bracket: the first '>' outside a quoted local part. */
        close = p + 1;
        {
                gboolean quoted = FALSE;

                for (; *close != '\0'; close++) {
                        if (quoted && *close == '\\' && close[1] != '\0') {
                                close++;
                                continue;
                        }
                        if (*close == '"')
                                quoted = !quoted;
                        else if (*close == '>' && !quoted)
                                break;
                }
        }
        if (*close != '>')
                return GSMTP_PATH_SYNTAX;
        if (close[1] != '\0' && close[1] != ' ')
                return GSMTP_PATH_SYNTAX;
        path = g_strndup (p + 1, close - p - 1);

        mailbox = path;
        if (mailbox[0] == '@') {
                const char *colon = strchr (mailbox, ':');

                if (colon == NULL)
                        return GSMTP_PATH_BAD_ADDRESS;
                mailbox = colon + 1;
        }
        if (mailbox[0] == '\0') {
                if (!is_mail)
                        return GSMTP_PATH_BAD_ADDRESS;
        } else if (!is_mail && g_ascii_strcasecmp (mailbox, "postmaster") == 0) {
                /* RFC 5321 4.5.1: always deliverable without a domain */
        } else if (!gsmtp_address_parse (mailbox, NULL, NULL)) {
                return GSMTP_PATH_BAD_ADDRESS;
        }
        status = parse_params (close + 1, out_params);
        if (status != GSMTP_PATH_OK)
                return status;
        *out_path = g_strdup (mailbox);
        return GSMTP_PATH_OK;
}

/* A browser or proxy talking to the SMTP port: Postfix's "reject_unauth..."
 * cousin, the HTTP request line check. */
gboolean
gsmtp_command_is_http (const char *line)
{
        static const char *const methods[] = { "GET ", "POST ", "CONNECT ", "PUT ", "HEAD ", "OPTIONS " };

        for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
                if (g_str_has_prefix (line, methods[i]))
                        return strstr (line, " HTTP/") != NULL || g_str_has_prefix (line, "CONNECT ");
        return FALSE;
}

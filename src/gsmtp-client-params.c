/* gsmtp-client-params.c — what the client may put on a MAIL or RCPT line.
 * Owns: checking every address and ESMTP parameter an application gives before
 * anything is sent (no CR, LF, NUL, control byte, space or unbalanced <> outside a
 * quoted local part: nothing can add a command or a parameter), xtext (RFC 3461 4)
 * and utf-8-addr-xtext (RFC 6533 3) for DSN.  Pure; tests/test-client-units.c.
 * Not: which parameters a server accepts (gsmtp-client-connection.c).
 * RFC 5321 4.1.2, 4.1.1.11; RFC 6531 3.3. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-client-params.h"
#include "gsmtp-command.h"

#include <string.h>

static gboolean
params_fail (GError **error, const char *what, const char *text, const char *why)
{
        g_autoptr(GString) shown = g_string_new (NULL);

        /* quote what was refused, with its control bytes made visible */
        for (const char *p = text; *p != '\0' && shown->len < 80; p++) {
                if ((guchar) *p < 0x20 || *p == 0x7f)
                        g_string_append_printf (shown, "\\x%02x", (guchar) *p);
                else
                        g_string_append_c (shown, *p);
        }
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Invalid %s \"%s\": %s", what,
                     shown->str, why);
        return FALSE;
}

gboolean
gsmtp_client_is_ascii (const char *text)
{
        for (const char *p = text; p != NULL && *p != '\0'; p++)
                if ((guchar) *p >= 0x80)
                        return FALSE;
        return TRUE;
}

/* An address as it goes between < and >: RFC 5321 Path without the brackets.  One
 * enclosing pair given by the application is taken off.  Outside a quoted local
 * part nothing but printable non-space bytes other than < and >; inside, printable
 * ASCII and space, with backslash pairs; the quote must close.  Non-ASCII must be
 * UTF-8 (it then needs SMTPUTF8, decided later).  A string can hold no NUL. */
gboolean
gsmtp_client_check_path (const char *what, const char *address, gboolean allow_null,
                         char **out_path, GError **error)
{
        const char *p, *end;
        gboolean quoted = FALSE;

        if (address == NULL)
                address = "";
        p = address;
        end = address + strlen (address);
        if (*p == '<') {
                if (end == p + 1 || end[-1] != '>')
                        return params_fail (error, what, address, "unbalanced < and >");
                p++;
                end--;
        }
        if (p == end && !allow_null)
                return params_fail (error, what, address, "empty");
        if (!g_utf8_validate (p, end - p, NULL))
                return params_fail (error, what, address, "not UTF-8");
        for (const char *q = p; q < end; q++) {
                guchar c = *q;

                if (c < 0x20 || c == 0x7f)
                        return params_fail (error, what, address,
                                            c == '\r' || c == '\n' ? "contains a line break"
                                                                   : "contains a control character");
                if (quoted) {
                        if (c == '\\') {
                                if (q + 1 >= end || (guchar) q[1] < 0x20 || q[1] == 0x7f)
                                        return params_fail (error, what, address, "bad quoted pair");
                                q++;
                        } else if (c == '"') {
                                quoted = FALSE;
                        }
                        continue;
                }
                if (c == '"') {
                        quoted = TRUE;
                        continue;
                }
                if (c == ' ')
                        return params_fail (error, what, address, "contains a space");
                if (c == '<' || c == '>')
                        return params_fail (error, what, address, "unbalanced < and >");
        }
        if (quoted)
                return params_fail (error, what, address, "unterminated quoted string");
        if (out_path != NULL)
                *out_path = g_strndup (p, end - p);
        return TRUE;
}

/* Parameters the client writes itself from its own settings: an application
 * giving one too would send it twice or contradict the client. */
gboolean
gsmtp_client_keyword_is_managed (const char *keyword)
{
        static const char *const managed[] = {
                "SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "NOTIFY", "ORCPT", "REQUIRETLS",
        };

        for (guint i = 0; i < G_N_ELEMENTS (managed); i++)
                if (g_ascii_strcasecmp (keyword, managed[i]) == 0)
                        return TRUE;
        return FALSE;
}

/* RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * esmtp-value = 1*(%d33-60 / %d62-126); RFC 6531 3.3 adds UTF-8 to the value. */
gboolean
gsmtp_client_check_parameter (const char *keyword, const char *value, GError **error)
{
        if (keyword == NULL || !gsmtp_command_keyword_is_valid (keyword, strlen (keyword)))
                return params_fail (error, "ESMTP keyword", keyword != NULL ? keyword : "",
                                    "letters, digits and '-' only, starting with a letter or digit");
        if (gsmtp_client_keyword_is_managed (keyword))
                return params_fail (error, "ESMTP keyword", keyword,
                                    "the client sets it from its own options");
        if (value == NULL)
                return TRUE;
        if (*value == '\0')
                return params_fail (error, "ESMTP value", value, "empty (pass NULL for none)");
        if (!g_utf8_validate (value, -1, NULL))
                return params_fail (error, "ESMTP value", value, "not UTF-8");
        for (const char *p = value; *p != '\0'; p++) {
                guchar c = *p;

                if (c <= 0x20 || c == 0x7f || c == '=')
                        return params_fail (error, "ESMTP value", value,
                                            "no space, '=' or control character allowed");
        }
        return TRUE;
}

/* RFC 3461 4.4: ENVID is printable ASCII (xtext-encoded on the wire). */
gboolean
gsmtp_client_check_envid (const char *envid, GError **error)
{
        if (*envid == '\0')
                return params_fail (error, "ENVID", envid, "empty");
        if (strlen (envid) > 100)
                return params_fail (error, "ENVID", envid, "longer than 100 characters (RFC 3461 4.4)");
        for (const char *p = envid; *p != '\0'; p++)
                if ((guchar) *p < 0x20 || (guchar) *p >= 0x7f)
                        return params_fail (error, "ENVID", envid, "printable ASCII only");
        return TRUE;
}

/* RFC 3461 4: xchar is "!" to "~" but "+" and "="; anything else is "+HH". */
void
gsmtp_xtext_append (GString *out, const char *text)
{
        for (const char *p = text; *p != '\0'; p++) {
                guchar c = *p;

                if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=')
                        g_string_append_c (out, c);
                else
                        g_string_append_printf (out, "+%02X", c);
        }
}

/* RFC 6533 3: utf-8-addr-xtext, for an ORCPT that is not ASCII: a character
 * outside "!" to "~", and "+", "=" and "\", becomes "\x{HEX}". */
void
gsmtp_utf8_addr_xtext_append (GString *out, const char *text)
{
        for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p)) {
                gunichar c = g_utf8_get_char (p);

                if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=' && c != '\\')
                        g_string_append_c (out, (char) c);
                else
                        g_string_append_printf (out, "\\x{%X}", c);
        }
}

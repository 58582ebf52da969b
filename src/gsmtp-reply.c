/* gsmtp-reply.c — GSmtpReply, an immutable SMTP reply.
 * Owns: reply codes, enhanced status codes, neutralising application text, the wire form.
 * Not: when replies are sent (gsmtp-session.c).  RFC 5321 4.2, RFC 3463, RFC 2034. */
#include "config.h"
#include "gsmtp-private.h"

#include <string.h>

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF.  Keep the
 * text well inside that, leaving room for the code and the enhanced code. */
#define REPLY_TEXT_MAX 480
/* A reply is for humans and clients; more lines than this is a mistake. */
#define REPLY_LINES_MAX 64

struct _GSmtpReply {
        gatomicrefcount ref;
        guint           code;
        char           *enhanced;       /* (owned) (nullable) */
        char          **lines;          /* (owned): at least one line */
};

/**
 * GSmtpReply:
 *
 * An SMTP reply: a code, an optional RFC 3463 enhanced status code and one or
 * more lines of text.  Immutable and reference-counted.
 *
 * Since: 0.1
 */
G_DEFINE_BOXED_TYPE (GSmtpReply, g_smtp_reply, g_smtp_reply_ref, g_smtp_reply_unref)

static const char *
reply_default_text (guint code)
{
        switch (code) {
        case 211: return "System status";
        case 214: return "See RFC 5321";
        case 220: return "Service ready";
        case 221: return "Service closing transmission channel";
        case 235: return "Authentication successful";
        case 250: return "OK";
        case 251: return "User not local; will forward";
        case 252: return "Cannot VRFY user, but will accept message and attempt delivery";
        case 334: return "";
        case 354: return "End data with <CR><LF>.<CR><LF>";
        case 421: return "Service not available, closing transmission channel";
        case 450: return "Requested mail action not taken: mailbox unavailable";
        case 451: return "Requested action aborted: local error in processing";
        case 452: return "Requested action not taken: insufficient system storage";
        case 454: return "TLS not available due to temporary reason";
        case 500: return "Syntax error, command unrecognized";
        case 501: return "Syntax error in parameters or arguments";
        case 502: return "Command not implemented";
        case 503: return "Bad sequence of commands";
        case 504: return "Command parameter not implemented";
        case 530: return "Authentication required";
        case 535: return "Authentication credentials invalid";
        case 550: return "Requested action not taken: mailbox unavailable";
        case 551: return "User not local";
        case 552: return "Requested mail action aborted: exceeded storage allocation";
        case 553: return "Requested action not taken: mailbox name not allowed";
        case 554: return "Transaction failed";
        case 555: return "MAIL FROM/RCPT TO parameters not recognized or not implemented";
        default:
                if (code < 300)
                        return "OK";
                if (code < 400)
                        return "Go ahead";
                if (code < 500)
                        return "Temporary failure";
                return "Permanent failure";
        }
}

/* No CR, LF, NUL or other control byte reaches the wire: each becomes a space, so
 * text from an application (or echoed from a client) can never start a reply line
 * of its own.  Non-ASCII becomes '?': replies are ASCII without SMTPUTF8. */
static char *
reply_neutralise (const char *text)
{
        gsize len = strlen (text);
        char *out;

        if (len > REPLY_TEXT_MAX)
                len = REPLY_TEXT_MAX;
        out = g_strndup (text, len);
        for (gsize i = 0; i < len; i++) {
                unsigned char c = (unsigned char) out[i];

                if (c < 0x20 || c == 0x7f)
                        out[i] = ' ';
                else if (c >= 0x80)
                        out[i] = '?';
        }
        return out;
}

static gboolean
enhanced_number (const char **p, int max_digits)
{
        int n = 0;

        while (g_ascii_isdigit (**p) && n < max_digits + 1) {
                (*p)++;
                n++;
        }
        return n >= 1 && n <= max_digits;
}

/* RFC 3463 2: class "." subject "." detail; the class matches the reply's. */
gboolean
gsmtp_enhanced_code_is_valid (const char *enhanced, guint code)
{
        const char *p = enhanced;

        if (enhanced == NULL)
                return FALSE;
        if (p[0] != '2' && p[0] != '4' && p[0] != '5')
                return FALSE;
        if (code != 0 && (guint) (p[0] - '0') != code / 100)
                return FALSE;
        if (p[1] != '.')
                return FALSE;
        p += 2;
        if (!enhanced_number (&p, 3) || *p++ != '.')
                return FALSE;
        if (!enhanced_number (&p, 3) || *p != '\0')
                return FALSE;
        return TRUE;
}

static GSmtpReply *
reply_alloc (guint code, const char *enhanced)
{
        GSmtpReply *reply = g_new0 (GSmtpReply, 1);

        g_atomic_ref_count_init (&reply->ref);
        reply->code = code;
        if (enhanced != NULL) {
                if (gsmtp_enhanced_code_is_valid (enhanced, code))
                        reply->enhanced = g_strdup (enhanced);
                else
                        g_warning ("gsmtp: enhanced status code \"%s\" does not fit reply %u; dropped",
                                   enhanced, code);
        }
        return reply;
}

/**
 * g_smtp_reply_new:
 * @code: the reply code, 200 to 599
 * @enhanced_code: (nullable): an RFC 3463 status code such as "5.1.1", whose class
 *   matches @code; %NULL lets the server pick one that fits the stage
 * @text: (nullable): one line of text; %NULL for the standard text of @code
 *
 * Makes a one-line reply.  Control characters in @text (CR, LF among them) become
 * spaces, so no text can inject a reply line; use g_smtp_reply_new_lines() for
 * several lines.
 *
 * Returns: (transfer full): a new reply
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_reply_new (guint code, const char *enhanced_code, const char *text)
{
        GSmtpReply *reply;

        g_return_val_if_fail (code >= 200 && code <= 599, NULL);

        reply = reply_alloc (code, enhanced_code);
        reply->lines = g_new0 (char *, 2);
        reply->lines[0] = reply_neutralise (text != NULL ? text : reply_default_text (code));
        return reply;
}

/* A reference to the reply made once in @slot (a static of the caller's):
 * the defaults every transaction gives (250 2.1.0 after MAIL...) need no
 * allocation each time, a reply being immutable. */
GSmtpReply *
gsmtp_reply_shared (GSmtpReply **slot, guint code, const char *enhanced)
{
        if (g_once_init_enter (slot))
                g_once_init_leave (slot, g_smtp_reply_new (code, enhanced, NULL));
        return g_smtp_reply_ref (*slot);
}

/**
 * g_smtp_reply_new_code:
 * @code: the reply code, 200 to 599
 *
 * The convenience form, as Pike's callbacks return a bare code: the standard
 * text, and an enhanced code chosen by the server for the stage.
 *
 * Returns: (transfer full): a new reply
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_reply_new_code (guint code)
{
        return g_smtp_reply_new (code, NULL, NULL);
}

/**
 * g_smtp_reply_new_lines:
 * @code: the reply code, 200 to 599
 * @enhanced_code: (nullable): RFC 3463 status code, or %NULL
 * @lines: (array zero-terminated=1): the lines of text, at least one
 *
 * Makes a multi-line reply (RFC 5321 4.2.1): every line but the last is sent
 * as `code-text`.  Each line is neutralised as in g_smtp_reply_new().
 *
 * Returns: (transfer full): a new reply
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_reply_new_lines (guint code, const char *enhanced_code, const char *const *lines)
{
        GSmtpReply *reply;
        guint n;

        g_return_val_if_fail (code >= 200 && code <= 599, NULL);
        g_return_val_if_fail (lines != NULL && lines[0] != NULL, NULL);

        n = MIN (g_strv_length ((char **) lines), REPLY_LINES_MAX);
        reply = reply_alloc (code, enhanced_code);
        reply->lines = g_new0 (char *, n + 1);
        for (guint i = 0; i < n; i++)
                reply->lines[i] = reply_neutralise (lines[i]);
        return reply;
}

/**
 * g_smtp_reply_parse:
 * @text: a whole reply as received, one or more CRLF-terminated lines
 * @length: the length of @text, or -1 when nul-terminated
 * @error: return location for a #GError
 *
 * Parses a reply read from a server.  The enhanced status code, when the
 * first line has one, is split off every line that carries it.
 *
 * Returns: (transfer full) (nullable): the reply, or %NULL with @error set
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_reply_parse (const char *text, gsize length, GError **error)
{
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
        g_autofree char *enhanced = NULL;
        const char *p = text, *end;
        guint code = 0;
        gboolean last = FALSE;
        GSmtpReply *reply;

        if (length == (gsize) -1)
                length = strlen (text);
        end = text + length;

        while (p < end && !last) {
                const char *eol = memchr (p, '\n', end - p);
                const char *line_end = eol != NULL ? eol : end;
                g_autofree char *line = NULL;
                const char *body;
                guint line_code;

                if (line_end > p && line_end[-1] == '\r')
                        line_end--;
                line = g_strndup (p, line_end - p);
                p = eol != NULL ? eol + 1 : end;

                if (strlen (line) < 3 || !g_ascii_isdigit (line[0]) || !g_ascii_isdigit (line[1]) ||
                    !g_ascii_isdigit (line[2]) || (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
                        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL,
                                     "Malformed SMTP reply line: %.60s", line);
                        return NULL;
                }
                line_code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
                if (line_code < 200 || line_code > 599 || (code != 0 && line_code != code)) {
                        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL,
                                     "Unexpected SMTP reply code in: %.60s", line);
                        return NULL;
                }
                code = line_code;
                last = line[3] != '-';
                body = line[3] != '\0' ? line + 4 : line + 3;

                if (lines->len == 0) {
                        const char *sp = strchr (body, ' ');
                        g_autofree char *candidate = sp != NULL ? g_strndup (body, sp - body)
                                                                : g_strdup (body);
                        if (gsmtp_enhanced_code_is_valid (candidate, code))
                                enhanced = g_steal_pointer (&candidate);
                }
                if (enhanced != NULL && g_str_has_prefix (body, enhanced)) {
                        body += strlen (enhanced);
                        if (*body == ' ')
                                body++;
                }
                g_ptr_array_add (lines, reply_neutralise (body));
        }
        if (!last) {
                g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL, "Incomplete SMTP reply");
                return NULL;
        }
        g_ptr_array_add (lines, NULL);
        reply = reply_alloc (code, enhanced);
        reply->lines = (char **) g_ptr_array_steal (lines, NULL);
        return reply;
}

/**
 * g_smtp_reply_ref:
 * @reply: a reply
 *
 * Takes a reference to @reply.
 *
 * Returns: (transfer full): @reply
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_reply_ref (GSmtpReply *reply)
{
        g_return_val_if_fail (reply != NULL, NULL);
        g_atomic_ref_count_inc (&reply->ref);
        return reply;
}

/**
 * g_smtp_reply_unref:
 * @reply: (transfer full): a reply
 *
 * Drops a reference to @reply, freeing it with the last.
 *
 * Since: 0.1
 */
void
g_smtp_reply_unref (GSmtpReply *reply)
{
        g_return_if_fail (reply != NULL);
        if (g_atomic_ref_count_dec (&reply->ref)) {
                g_free (reply->enhanced);
                g_strfreev (reply->lines);
                g_free (reply);
        }
}

/**
 * g_smtp_reply_get_code:
 * @reply: a reply
 *
 * Gets the three-digit reply code.
 *
 * Returns: the three-digit reply code
 *
 * Since: 0.1
 */
guint
g_smtp_reply_get_code (const GSmtpReply *reply)
{
        g_return_val_if_fail (reply != NULL, 0);
        return reply->code;
}

/**
 * g_smtp_reply_get_enhanced_code:
 * @reply: a reply
 *
 * Gets the RFC 3463 status code, such as "2.1.5".
 *
 * Returns: (nullable): the RFC 3463 status code, such as "2.1.5"
 *
 * Since: 0.1
 */
const char *
g_smtp_reply_get_enhanced_code (const GSmtpReply *reply)
{
        g_return_val_if_fail (reply != NULL, NULL);
        return reply->enhanced;
}

/**
 * g_smtp_reply_get_text:
 * @reply: a reply
 *
 * Gets the first line of text.
 *
 * Returns: the first line of text
 *
 * Since: 0.1
 */
const char *
g_smtp_reply_get_text (const GSmtpReply *reply)
{
        g_return_val_if_fail (reply != NULL, NULL);
        return reply->lines[0];
}

/**
 * g_smtp_reply_get_lines:
 * @reply: a reply
 *
 * Gets every line of text.
 *
 * Returns: (array zero-terminated=1) (transfer none): every line of text
 *
 * Since: 0.1
 */
const char *const *
g_smtp_reply_get_lines (const GSmtpReply *reply)
{
        g_return_val_if_fail (reply != NULL, NULL);
        return (const char *const *) reply->lines;
}

/**
 * g_smtp_reply_is_success:
 * @reply: a reply
 *
 * Tells whether @reply is a 2xx or 3xx reply, a success.
 *
 * Returns: %TRUE for 2xx and 3xx replies
 *
 * Since: 0.1
 */
gboolean
g_smtp_reply_is_success (const GSmtpReply *reply)
{
        g_return_val_if_fail (reply != NULL, FALSE);
        return reply->code < 400;
}

/**
 * g_smtp_reply_to_string:
 * @reply: a reply
 *
 * Formats @reply on one line.
 *
 * Returns: (transfer full): the reply as one line of text, "550 5.1.1 No such user",
 *   for messages and logs
 *
 * Since: 0.1
 */
char *
g_smtp_reply_to_string (const GSmtpReply *reply)
{
        g_autofree char *text = NULL;

        g_return_val_if_fail (reply != NULL, NULL);
        text = g_strjoinv (" / ", reply->lines);
        if (reply->enhanced != NULL)
                return g_strdup_printf ("%u %s %s", reply->code, reply->enhanced, text);
        return g_strdup_printf ("%u %s", reply->code, text);
}

/* The wire form: "250-first\r\n250 last\r\n", with the enhanced code on each line
 * when ENHANCEDSTATUSCODES applies (RFC 2034 3: not on the banner nor EHLO). */
void
gsmtp_reply_format (const GSmtpReply *reply, const char *fallback_enhanced,
                    gboolean with_enhanced, GString *out)
{
        const char *enhanced = reply->enhanced != NULL ? reply->enhanced : fallback_enhanced;

        if (enhanced != NULL && !gsmtp_enhanced_code_is_valid (enhanced, reply->code))
                enhanced = NULL;
        for (guint i = 0; reply->lines[i] != NULL; i++) {
                gboolean last = reply->lines[i + 1] == NULL;
                char head[4] = { '0' + reply->code / 100, '0' + reply->code / 10 % 10,
                                 '0' + reply->code % 10, last ? ' ' : '-' };

                /* no printf: this runs for every reply of every session */
                g_string_append_len (out, head, 4);
                if (with_enhanced && enhanced != NULL) {
                        g_string_append (out, enhanced);
                        if (reply->lines[i][0] != '\0')
                                g_string_append_c (out, ' ');
                }
                g_string_append (out, reply->lines[i]);
                g_string_append_len (out, "\r\n", 2);
        }
}

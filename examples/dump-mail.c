/* dump-mail — a receiving SMTP server that prints every message it accepts.
 * The command line is a contract: ../shared/CONTRACT.md.  Public API only. */
#include <gsmtp/gsmtp.h>
#include <glib-unix.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
        GMainLoop  *loop;
        GHashTable *users;      /* user → password, from --auth-file */
        char       *maildir;
        gboolean    json;
        guint       n_delivered;
        GString    *out;        /* one message's dump, reused: handlers run on the main loop */
} App;

static void
die_usage (const char *fmt, ...)
{
        va_list ap;

        fprintf (stderr, "dump-mail: ");
        va_start (ap, fmt);
        vfprintf (stderr, fmt, ap);
        va_end (ap);
        fputc ('\n', stderr);
        exit (2);
}

/* "HOST:PORT", "[v6]:PORT"; "*" or "" as HOST means every address */
static gboolean
parse_listen (const char *spec, char **host, guint16 *port)
{
        const char *colon;
        guint64 p;

        if (spec[0] == '[') {
                const char *close = strchr (spec, ']');

                if (close == NULL || close[1] != ':')
                        return FALSE;
                *host = g_strndup (spec + 1, close - spec - 1);
                colon = close + 1;
        } else {
                colon = strrchr (spec, ':');
                if (colon == NULL)
                        return FALSE;
                *host = g_strndup (spec, colon - spec);
        }
        if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &p, NULL)) {
                g_clear_pointer (host, g_free);
                return FALSE;
        }
        *port = p;
        return TRUE;
}

static guint16
listen_or_die (GSmtpServer *server, const char *spec, GSmtpListenFlags flags, gboolean announce)
{
        g_autofree char *host = NULL;
        g_autoptr(GError) error = NULL;
        guint16 port = 0, bound = 0;
        gboolean ok;

        if (!parse_listen (spec, &host, &port))
                die_usage ("bad listen address \"%s\" (want HOST:PORT)", spec);
        if ((host[0] == '\0' || g_str_equal (host, "*")) && !(flags & GSMTP_LISTEN_REUSE_PORT))
                ok = g_smtp_server_listen_all (server, port, flags, &bound, &error);
        else if (host[0] == '\0' || g_str_equal (host, "*"))
                ok = g_smtp_server_listen_inet (server, "::", port, flags, &bound, &error);
        else
                ok = g_smtp_server_listen_inet (server, host, port, flags, &bound, &error);
        if (!ok) {
                fprintf (stderr, "dump-mail: cannot listen on %s: %s\n", spec, error->message);
                exit (2);
        }
        if (announce && strchr (host, ':') != NULL)
                fprintf (stderr, "listening on [%s]:%u\n", host, bound);
        else if (announce)
                fprintf (stderr, "listening on %s:%u\n", host[0] ? host : "*", bound);
        return bound;
}

static GHashTable *
load_users (const char *path)
{
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) lines = NULL;
        GHashTable *users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

        if (!g_file_get_contents (path, &text, NULL, &error))
                die_usage ("cannot read --auth-file: %s", error->message);
        lines = g_strsplit (text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                char *line = g_strchomp (lines[i]);
                char *colon = strchr (line, ':');

                if (line[0] == '\0' || line[0] == '#')
                        continue;
                if (colon == NULL)
                        die_usage ("%s:%u: want user:password", path, i + 1);
                g_hash_table_insert (users, g_strndup (line, colon - line), g_strdup (colon + 1));
        }
        return users;
}

static GSmtpReply *
on_auth (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        App *app = data;
        const char *want = g_hash_table_lookup (app->users, g_smtp_stage_get_argument (stage));

        if (want != NULL && g_str_equal (want, g_smtp_stage_get_password (stage)))
                return g_smtp_reply_new_code (235);
        return g_smtp_reply_new (535, "5.7.8", "Authentication credentials invalid");
}

/* ---- printing ---- */

/* Characters that move the cursor, end a line, or reorder text on a terminal:
 * C0, DEL, C1 (U+0080..U+009F, which terminals may read as ESC [ and kin),
 * the line and paragraph separators, and the bidirectional controls. */
static gboolean
is_control (gunichar c)
{
        return c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029 ||
               c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
               (c >= 0x2066 && c <= 0x2069);
}

/* For the human-readable dump: what the client sent, with every control
 * character, every byte of invalid UTF-8 and the backslash itself written as
 * an escape, so that nothing it sends can start a line of the dump (a forged
 * record) or reach the terminal as a control sequence.  Appended in place:
 * this runs for every string of every message. */
static void
append_human (GString *out, const char *s)
{
        const char *p, *end;

        if (s == NULL) {
                g_string_append_c (out, '-');
                return;
        }
        end = s + strlen (s);
        for (p = s; p < end;) {
                const char *run = p;
                gunichar c;

                /* the common case, printable ASCII with no backslash, whole */
                while (p < end && *p >= 0x20 && *p < 0x7f && *p != '\\')
                        p++;
                if (p > run)
                        g_string_append_len (out, run, p - run);
                if (p == end)
                        break;
                c = g_utf8_get_char_validated (p, end - p);
                if (c == (gunichar) -1 || c == (gunichar) -2) {
                        g_string_append_printf (out, "\\x%02x", (guchar) *p++);
                        continue;
                }
                if (c == '\\')
                        g_string_append (out, "\\\\");
                else if (c == '\n')
                        g_string_append (out, "\\n");
                else if (c == '\r')
                        g_string_append (out, "\\r");
                else if (c == '\t')
                        g_string_append (out, "\\t");
                else if (c < 0x80 && is_control (c))
                        g_string_append_printf (out, "\\x%02x", c);
                else if (is_control (c))
                        g_string_append_printf (out, "\\u%04x", c);
                else
                        g_string_append_len (out, p, g_utf8_next_char (p) - p);
                p = g_utf8_next_char (p);
        }
}

/* A header's value as g_mime_header_get_value () gives it, without GMime's
 * decoder when there is nothing to decode: for a header parsed from the
 * message (not one GMime formatted, like the prepended Received) with no
 * encoded word and nothing but printable ASCII and folding white space, the
 * value is the raw value unfolded (CR and LF dropped, white space at either
 * end trimmed; checked against GMime 3.2 on 200 000 generated values).
 * Decoding every header was a twentieth of dump-mail's CPU for a message of
 * five headers. */
static void
append_header_value (GString *out, GMimeHeader *header)
{
        const char *raw = g_mime_header_get_raw_value (header);
        const char *p, *start, *end;
        char last = '\0';

        for (p = raw; p != NULL && *p != '\0'; p++) {
                guchar c = (guchar) *p;

                if (c >= 0x7f || (c < 0x20 && c != '\t' && c != '\r' && c != '\n'))
                        break;
                /* "=?" once unfolded: a CR or LF between them goes */
                if (c == '?' && last == '=')
                        break;
                if (c != '\r' && c != '\n')
                        last = (char) c;
        }
        if (raw == NULL || *p != '\0' || g_mime_header_get_offset (header) < 0) {
                append_human (out, g_mime_header_get_value (header));
                return;
        }
        for (start = raw; *start == ' ' || *start == '\t' || *start == '\r' || *start == '\n'; start++)
                ;
        for (end = p; end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'); end--)
                ;
        /* as append_human () would write it: only tab and backslash escaped */
        for (p = start; p < end;) {
                const char *run = p;

                while (p < end && *p != '\r' && *p != '\n' && *p != '\t' && *p != '\\')
                        p++;
                g_string_append_len (out, run, p - run);
                if (p == end)
                        break;
                if (*p == '\t')
                        g_string_append (out, "\\t");
                else if (*p == '\\')
                        g_string_append (out, "\\\\");
                p++;
        }
}

/* A JSON string (RFC 8259) in UTF-8: the control characters above (C1 and
 * U+2028/U+2029, which end a line in JavaScript, included) as \u escapes, a
 * byte of invalid UTF-8 as U+FFFD.  Valid JSON whatever the client sent. */
static void
json_string (GString *out, const char *s)
{
        const char *p, *end;

        if (s == NULL) {
                g_string_append (out, "null");
                return;
        }
        g_string_append_c (out, '"');
        end = s + strlen (s);
        for (p = s; p < end;) {
                gunichar c = g_utf8_get_char_validated (p, end - p);

                if (c == (gunichar) -1 || c == (gunichar) -2) {
                        g_string_append (out, "\\ufffd");
                        p++;
                        continue;
                }
                switch (c) {
                case '"': g_string_append (out, "\\\""); break;
                case '\\': g_string_append (out, "\\\\"); break;
                case '\n': g_string_append (out, "\\n"); break;
                case '\r': g_string_append (out, "\\r"); break;
                case '\t': g_string_append (out, "\\t"); break;
                default:
                        if (is_control (c))
                                g_string_append_printf (out, "\\u%04x", c);
                        else
                                g_string_append_len (out, p, g_utf8_next_char (p) - p);
                }
                p = g_utf8_next_char (p);
        }
        g_string_append_c (out, '"');
}

/* A decimal number, without printf's cost: this runs for every message. */
static void
append_size (GString *out, gsize value)
{
        char digits[24];
        int i = sizeof digits;

        do {
                digits[--i] = '0' + value % 10;
                value /= 10;
        } while (value > 0);
        g_string_append_len (out, digits + i, sizeof digits - i);
}

typedef struct {
        GString  *out;
        gboolean  json;
        gboolean  first;
        int       depth;
} PartWalk;

static gsize
part_size (GMimePart *part)
{
        GMimeDataWrapper *content = g_mime_part_get_content (part);
        GMimeStream *null;
        gsize size;

        if (content == NULL)
                return 0;
        /* the decoded size: what a user saving the attachment gets; without a
         * transfer encoding to undo, that is the content's own length */
        switch (g_mime_data_wrapper_get_encoding (content)) {
        case GMIME_CONTENT_ENCODING_DEFAULT:
        case GMIME_CONTENT_ENCODING_7BIT:
        case GMIME_CONTENT_ENCODING_8BIT:
        case GMIME_CONTENT_ENCODING_BINARY: {
                gint64 length = g_mime_stream_length (g_mime_data_wrapper_get_stream (content));

                if (length >= 0)
                        return (gsize) length;
                break;
        }
        default:
                break;
        }
        null = g_mime_stream_null_new ();
        g_mime_data_wrapper_write_to_stream (content, null);
        size = GMIME_STREAM_NULL (null)->written;
        g_object_unref (null);
        return size;
}

/* "type/subtype", as GMime parsed it */
static void
append_mime_type (GString *out, GMimeObject *part, gboolean json)
{
        GMimeContentType *type = g_mime_object_get_content_type (part);

        if (json) {
                g_autofree char *mime_type = g_mime_content_type_get_mime_type (type);

                json_string (out, mime_type);
                return;
        }
        append_human (out, g_mime_content_type_get_media_type (type));
        g_string_append_c (out, '/');
        append_human (out, g_mime_content_type_get_media_subtype (type));
}

static void
print_part (GMimeObject *parent, GMimeObject *part, gpointer data)
{
        PartWalk *walk = data;
        const char *filename;
        gsize size = 0;

        if (!GMIME_IS_PART (part)) {
                if (!walk->json) {
                        g_string_append (walk->out, "  part ");
                        append_mime_type (walk->out, part, FALSE);
                        g_string_append_c (walk->out, '\n');
                }
                return;
        }
        filename = g_mime_part_get_filename (GMIME_PART (part));
        size = part_size (GMIME_PART (part));
        if (walk->json) {
                g_string_append (walk->out, walk->first ? "" : ",");
                g_string_append (walk->out, "{\"content_type\":");
                append_mime_type (walk->out, part, TRUE);
                g_string_append (walk->out, ",\"filename\":");
                json_string (walk->out, filename);
                g_string_append (walk->out, ",\"size\":");
                append_size (walk->out, size);
                g_string_append_c (walk->out, '}');
        } else {
                g_string_append (walk->out, "  part ");
                append_mime_type (walk->out, part, FALSE);
                if (filename != NULL) {
                        g_string_append (walk->out, " \"");
                        append_human (walk->out, filename);
                        g_string_append_c (walk->out, '"');
                }
                g_string_append (walk->out, ", ");
                append_size (walk->out, size);
                g_string_append (walk->out, " bytes\n");
        }
        walk->first = FALSE;
}

static char *
sha256_hex (GBytes *data)
{
        return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, data);
}

/* "smtputf8", "requiretls", "dsn" and "recipient_params" (CONTRACT.md) */
static void
print_json_extensions (GString *out, GSmtpEnvelope *env)
{
        static const char *const ret[] = { NULL, "FULL", "HDRS" };
        static const struct {
                GSmtpDsnNotify flag;
                const char    *name;
        } notify[] = {
                { GSMTP_DSN_NOTIFY_NEVER, "NEVER" }, { GSMTP_DSN_NOTIFY_SUCCESS, "SUCCESS" },
                { GSMTP_DSN_NOTIFY_FAILURE, "FAILURE" }, { GSMTP_DSN_NOTIFY_DELAY, "DELAY" },
        };

        g_string_append_printf (out, ",\"smtputf8\":%s,\"requiretls\":%s,\"dsn\":{\"ret\":",
                                g_smtp_envelope_is_smtputf8 (env) ? "true" : "false",
                                g_smtp_envelope_requires_tls (env) ? "true" : "false");
        json_string (out, ret[g_smtp_envelope_get_dsn_ret (env) % G_N_ELEMENTS (ret)]);
        g_string_append (out, ",\"envid\":");
        json_string (out, g_smtp_envelope_get_dsn_envid (env));
        g_string_append (out, "},\"recipient_params\":[");
        for (guint i = 0; i < g_smtp_envelope_get_n_recipients (env); i++) {
                GSmtpDsnNotify flags = g_smtp_envelope_get_dsn_notify (env, i);
                gboolean first = TRUE;

                g_string_append (out, i > 0 ? ",{\"notify\":" : "{\"notify\":");
                if (flags == GSMTP_DSN_NOTIFY_UNSPECIFIED)
                        g_string_append (out, "null");
                for (guint j = 0; flags != GSMTP_DSN_NOTIFY_UNSPECIFIED && j < G_N_ELEMENTS (notify); j++) {
                        if (!(flags & notify[j].flag))
                                continue;
                        g_string_append (out, first ? "[" : ",");
                        json_string (out, notify[j].name);
                        first = FALSE;
                }
                if (flags != GSMTP_DSN_NOTIFY_UNSPECIFIED)
                        g_string_append_c (out, ']');
                g_string_append (out, ",\"orcpt\":");
                json_string (out, g_smtp_envelope_get_dsn_orcpt (env, i));
                g_string_append_c (out, '}');
        }
        g_string_append_c (out, ']');
}

static void
print_json (GString *out, GSmtpEnvelope *env, GMimeMessage *msg)
{
        GSmtpPeer *peer = g_smtp_envelope_get_peer (env);
        g_autofree char *digest = sha256_hex (g_smtp_envelope_get_data (env));
        g_autofree char *peer_addr = NULL;
        const char *subject = NULL, *message_id = NULL;
        const char *const *rcpts = g_smtp_envelope_get_recipients (env);
        PartWalk walk = { out, TRUE, TRUE, 0 };

        g_string_append (out, "{\"sender\":");
        json_string (out, g_smtp_envelope_get_sender (env));
        g_string_append (out, ",\"recipients\":[");
        for (guint i = 0; rcpts[i] != NULL; i++) {
                if (i > 0)
                        g_string_append_c (out, ',');
                json_string (out, rcpts[i]);
        }
        g_string_append_printf (out, "],\"size\":%" G_GSIZE_FORMAT ",\"sha256\":\"%s\",\"helo\":",
                                g_smtp_envelope_get_size (env), digest);
        json_string (out, g_smtp_peer_get_helo (peer));
        if (strchr (g_smtp_peer_get_host (peer), ':') != NULL)
                peer_addr = g_strdup_printf ("[%s]:%u", g_smtp_peer_get_host (peer), g_smtp_peer_get_port (peer));
        else
                peer_addr = g_strdup_printf ("%s:%u", g_smtp_peer_get_host (peer), g_smtp_peer_get_port (peer));
        g_string_append (out, ",\"peer\":");
        json_string (out, peer_addr);
        g_string_append_printf (out, ",\"tls\":%s,\"username\":", g_smtp_peer_get_tls (peer) ? "true" : "false");
        json_string (out, g_smtp_peer_get_username (peer));
        if (msg != NULL) {
                subject = g_mime_message_get_subject (msg);
                message_id = g_mime_message_get_message_id (msg);
        }
        g_string_append (out, ",\"subject\":");
        json_string (out, subject);
        g_string_append (out, ",\"message_id\":");
        json_string (out, message_id);
        print_json_extensions (out, env);
        g_string_append (out, ",\"body\":");
        json_string (out, g_smtp_envelope_get_body (env));
        g_string_append_printf (out, ",\"chunked\":%s,\"lmtp\":%s",
                                g_smtp_envelope_is_chunked (env) ? "true" : "false",
                                g_smtp_peer_is_lmtp (peer) ? "true" : "false");
        g_string_append (out, ",\"parts\":[");
        if (msg != NULL)
                g_mime_message_foreach (msg, print_part, &walk);
        if (msg != NULL && !GMIME_IS_MULTIPART (g_mime_message_get_mime_part (msg)) &&
            GMIME_IS_PART (g_mime_message_get_mime_part (msg)) && walk.first)
                print_part (NULL, g_mime_message_get_mime_part (msg), &walk);
        /* accepted, but past a MIME limit: not parsed, and why */
        g_string_append (out, "],\"mime_error\":");
        json_string (out, g_smtp_envelope_get_mime_error (env));
        g_string_append (out, "}\n");
}

static void
print_human (GString *out, GSmtpEnvelope *env, GMimeMessage *msg)
{
        GSmtpPeer *peer = g_smtp_envelope_get_peer (env);
        const char *const *rcpts = g_smtp_envelope_get_recipients (env);
        PartWalk walk = { out, FALSE, TRUE, 0 };

        /* all that came from the client goes through append_human (): one
         * header a line.  Appends, not printf: this runs for every message. */
        g_string_append (out, "=== message from ");
        append_human (out, g_smtp_peer_get_host (peer));
        g_string_append (out, " [");
        append_human (out, g_smtp_peer_get_protocol (peer));
        g_string_append (out, "] helo=");
        append_human (out, g_smtp_peer_get_helo (peer));
        g_string_append (out, g_smtp_peer_get_tls (peer) ? " tls=yes user=" : " tls=no user=");
        append_human (out, g_smtp_peer_get_username (peer));
        g_string_append (out, "\nMAIL FROM: <");
        append_human (out, g_smtp_envelope_get_sender (env));
        g_string_append_c (out, '>');
        if (g_smtp_envelope_is_null_sender (env)) {
                g_string_append (out, " (null sender, shown as \n  ");
                append_human (out, g_smtp_envelope_get_reverse_path (env));
                g_string_append_c (out, ')');
        }
        g_string_append_c (out, '\n');
        for (guint i = 0; rcpts[i] != NULL; i++) {
                g_string_append (out, "RCPT TO: <");
                append_human (out, rcpts[i]);
                g_string_append (out, ">\n");
        }
        g_string_append (out, "size: ");
        append_size (out, g_smtp_envelope_get_size (env));
        g_string_append (out, " bytes");
        if (g_smtp_envelope_is_chunked (env))
                g_string_append (out, ", by BDAT");
        if (g_strcmp0 (g_smtp_envelope_get_body (env), "BINARYMIME") == 0)
                g_string_append (out, ", binary");
        g_string_append_c (out, '\n');
        if (msg != NULL) {
                GMimeHeaderList *headers = g_mime_object_get_header_list (GMIME_OBJECT (msg));
                int n = g_mime_header_list_get_count (headers);
                const char *received = g_smtp_envelope_get_received_header (env);

                g_string_append (out, "headers:\n");
                for (int i = 0; i < n; i++) {
                        GMimeHeader *h = g_mime_header_list_get_header_at (headers, i);

                        g_string_append (out, "  ");
                        append_human (out, g_mime_header_get_name (h));
                        g_string_append (out, ": ");
                        /* the server's own trace header, first and not from the
                         * message: its value is the envelope's, not decoded again */
                        if (i == 0 && received != NULL && g_mime_header_get_offset (h) < 0)
                                append_human (out, received);
                        else
                                append_header_value (out, h);
                        g_string_append_c (out, '\n');
                }
                g_string_append (out, "MIME tree:\n");
                g_mime_message_foreach (msg, print_part, &walk);
                if (walk.first && GMIME_IS_PART (g_mime_message_get_mime_part (msg)))
                        print_part (NULL, g_mime_message_get_mime_part (msg), &walk);
        } else if (g_smtp_envelope_get_mime_error (env) != NULL) {
                g_string_append_printf (out, "(not parsed: %s)\n", g_smtp_envelope_get_mime_error (env));
        } else {
                g_string_append (out, "(not a parsable message)\n");
        }
        g_string_append_c (out, '\n');
}

/* ---- Maildir: tmp/, fsync, link into new/, fsync the directory, then 250 ---- */

static gboolean
fsync_path (const char *path)
{
        int fd = open (path, O_RDONLY | O_DIRECTORY);
        gboolean ok;

        if (fd < 0)
                return FALSE;
        ok = fsync (fd) == 0;
        close (fd);
        return ok;
}

static gboolean
maildir_deliver (App *app, GSmtpEnvelope *env, GError **error)
{
        static guint counter;
        g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT ".P%dQ%u.%s",
                                                 g_get_real_time () / G_USEC_PER_SEC, (int) getpid (),
                                                 ++counter, g_get_host_name ());
        g_autofree char *tmp = g_build_filename (app->maildir, "tmp", name, NULL);
        g_autofree char *dst = g_build_filename (app->maildir, "new", name, NULL);
        g_autofree char *newdir = g_build_filename (app->maildir, "new", NULL);
        g_autoptr(GInputStream) in = g_smtp_envelope_open_with_trace (env);
        int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        char buf[65536];
        gssize n;

        if (fd < 0)
                goto fail;
        while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, NULL)) > 0) {
                gssize off = 0;

                while (off < n) {
                        ssize_t w = write (fd, buf + off, n - off);

                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0) {
                                close (fd);
                                unlink (tmp);
                                goto fail;
                        }
                        off += w;
                }
        }
        if (fsync (fd) != 0 || close (fd) != 0 || rename (tmp, dst) != 0 || !fsync_path (newdir)) {
                unlink (tmp);
                goto fail;
        }
        return TRUE;
fail:
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "maildir: %s", g_strerror (errno));
        return FALSE;
}

static GSmtpReply *
on_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        App *app = data;
        GSmtpEnvelope *env = g_smtp_stage_get_envelope (stage);
        GMimeMessage *msg = g_smtp_envelope_get_message (env);

        if (app->maildir != NULL) {
                g_autoptr(GError) error = NULL;

                if (!maildir_deliver (app, env, &error)) {
                        g_printerr ("dump-mail: %s\n", error->message);
                        return g_smtp_reply_new (451, "4.3.0", "Cannot store the message");
                }
        }
        g_string_truncate (app->out, 0);
        if (app->json)
                print_json (app->out, env, msg);
        else
                print_human (app->out, env, msg);
        /* written before the 250: a message acknowledged is a message printed */
        fwrite (app->out->str, 1, app->out->len, stdout);
        fflush (stdout);
        app->n_delivered++;
        return g_smtp_reply_new_code (250);
}

typedef struct {
        char   **listen, **listen_tls, **domains, **xclient_networks;
        char    *hostname, *tls_cert, *tls_key, *tls_priority, *auth_file, *maildir;
        gboolean require_tls, allow_insecure_auth, json, proxy_protocol, lmtp;
        gint64   max_connections, max_connections_per_address, max_line, max_recipients;
        gint64   timeout, data_timeout, workers, max_size;
} Options;

static GSmtpServer *
server_new (const Options *o, App *app)
{
        GSmtpServer *server = g_smtp_server_new (o->hostname);
        g_autoptr(GError) error = NULL;

        /* every number was checked against its property's range in main () */
        g_object_set (server, "max-connections", (guint) o->max_connections,
                      "max-connections-per-address", (guint) o->max_connections_per_address,
                      "max-line-length", (guint) o->max_line, "max-message-size", (guint64) o->max_size,
                      "max-recipients", (guint) o->max_recipients, "idle-timeout", (guint) o->timeout,
                      "data-timeout", (guint) o->data_timeout,
                      "require-tls", o->require_tls, "allow-insecure-auth", o->allow_insecure_auth, NULL);
        for (guint i = 0; o->xclient_networks != NULL && o->xclient_networks[i] != NULL; i++)
                if (!g_smtp_server_add_xclient_network (server, o->xclient_networks[i], &error))
                        die_usage ("bad --xclient-network \"%s\": %s", o->xclient_networks[i], error->message);
        if (o->domains != NULL)
                g_smtp_server_set_domains (server, (const char *const *) o->domains);
        else
                g_smtp_server_add_domain (server, g_smtp_server_get_hostname (server));
        if (o->tls_priority != NULL && !g_smtp_server_set_tls_priority (server, o->tls_priority, &error))
                die_usage ("%s", error->message);
        if (o->tls_cert != NULL && !g_smtp_server_set_tls_files (server, o->tls_cert, o->tls_key, &error))
                die_usage ("cannot load the TLS certificate: %s", error->message);
        if (app->users != NULL)
                g_smtp_server_set_handler (server, GSMTP_STAGE_AUTH, on_auth, app, NULL);
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, on_data, app, NULL);
        return server;
}

/* Binds every listener; returns the addresses really bound ("HOST:PORT"), so
 * that workers can bind the same ports. */
static GPtrArray *
listen_all (GSmtpServer *server, const Options *o, GSmtpListenFlags extra, gboolean announce)
{
        GPtrArray *bound = g_ptr_array_new_with_free_func (g_free);

        for (int tls = 0; tls < 2; tls++) {
                char **specs = tls ? o->listen_tls : o->listen;

                for (guint i = 0; specs != NULL && specs[i] != NULL; i++) {
                        GSmtpListenFlags flags = extra | (tls ? GSMTP_LISTEN_IMPLICIT_TLS : 0) |
                                                 (o->lmtp ? GSMTP_LISTEN_LMTP : 0) |
                                                 (o->proxy_protocol ? GSMTP_LISTEN_PROXY_PROTOCOL : 0);
                        g_autofree char *host = NULL;
                        guint16 port = 0;

                        parse_listen (specs[i], &host, &port);
                        port = listen_or_die (server, specs[i], flags, announce);
                        g_ptr_array_add (bound, strchr (host, ':') ? g_strdup_printf ("[%s]:%u", host, port)
                                                                   : g_strdup_printf ("%s:%u", host, port));
                }
        }
        return bound;
}

/* A number for the server property @property must lie in its range: a
 * value the server would refuse is an error here, never a quiet default. */
static void
check_range (const char *flag, gint64 value, const char *property)
{
        GObjectClass *klass = g_type_class_ref (GSMTP_TYPE_SERVER);
        GParamSpec *pspec = g_object_class_find_property (klass, property);
        guint64 min, max;

        if (G_IS_PARAM_SPEC_UINT64 (pspec)) {
                min = G_PARAM_SPEC_UINT64 (pspec)->minimum;
                max = G_PARAM_SPEC_UINT64 (pspec)->maximum;
        } else {
                min = G_PARAM_SPEC_UINT (pspec)->minimum;
                max = G_PARAM_SPEC_UINT (pspec)->maximum;
        }
        g_type_class_unref (klass);
        if (value < 0 || (guint64) value < min || (guint64) value > max)
                die_usage ("%s %" G_GINT64_FORMAT " is out of range (%" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT ")",
                           flag, value, min, max);
}

/* Room for the sessions: the server refuses clients (421) past what the open
 * file limit allows, so take the hard limit rather than the soft one. */
static void
raise_fd_limit (void)
{
        struct rlimit rl;

        if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = MIN (rl.rlim_max, (rlim_t) 1 << 20);
        setrlimit (RLIMIT_NOFILE, &rl);
}

static GArray *workers;         /* pids of the worker processes, in the first process */

static void
stopped (GObject *source, GAsyncResult *result, gpointer data)
{
        App *app = data;

        g_smtp_server_stop_finish (GSMTP_SERVER (source), result, NULL);
        g_main_loop_quit (app->loop);
}

/* SIGINT and SIGTERM through a self-pipe rather than g_unix_signal_add(): GLib
 * routes those through its worker thread, which a forked worker lacks. */
static int signal_pipe[2] = { -1, -1 };

static void
on_unix_signal (int signo)
{
        int saved = errno;
        char c = (char) signo;

        if (write (signal_pipe[1], &c, 1) < 0) {
                /* the pipe is full: a stop is already on its way */
        }
        errno = saved;
}

static gboolean
on_signal (int fd, GIOCondition condition, gpointer data)
{
        GSmtpServer *server = data;
        static gboolean once;
        char buf[16];

        while (read (fd, buf, sizeof buf) > 0)
                ;
        if (!once) {
                once = TRUE;
                for (guint i = 0; workers != NULL && i < workers->len; i++)
                        kill (g_array_index (workers, pid_t, i), SIGTERM);
                g_smtp_server_stop_async (server, 10, NULL, stopped, g_object_get_data (G_OBJECT (server), "app"));
        }
        return G_SOURCE_CONTINUE;
}

static void
watch_signals (GSmtpServer *server)
{
        struct sigaction sa = { 0 };

        if (!g_unix_open_pipe (signal_pipe, FD_CLOEXEC, NULL) ||
            !g_unix_set_fd_nonblocking (signal_pipe[0], TRUE, NULL) ||
            !g_unix_set_fd_nonblocking (signal_pipe[1], TRUE, NULL))
                die_usage ("cannot make a pipe: %s", g_strerror (errno));
        sa.sa_handler = on_unix_signal;
        sigemptyset (&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction (SIGINT, &sa, NULL);
        sigaction (SIGTERM, &sa, NULL);
        g_unix_fd_add (signal_pipe[0], G_IO_IN, on_signal, server);
}

int
main (int argc, char **argv)
{
        Options o = { .max_connections = 512, .max_line = 1024, .max_recipients = 100,
                      .timeout = 300, .data_timeout = 600, .workers = 1, .max_size = 10485760 };
        GOptionEntry entries[] = {
                { "listen", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.listen, "Listen here (repeatable)", "HOST:PORT" },
                { "listen-tls", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.listen_tls, "Listen with implicit TLS", "HOST:PORT" },
                { "hostname", 0, 0, G_OPTION_ARG_STRING, &o.hostname, "Server name", "NAME" },
                /* bytes as given, whatever the locale: an IDN comes as UTF-8 */
                { "domain", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.domains, "Local domain (repeatable; * relays all)", "DOMAIN" },
                { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &o.tls_cert, "PEM certificate chain", "FILE" },
                { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &o.tls_key, "PEM private key", "FILE" },
                { "tls-priority", 0, 0, G_OPTION_ARG_STRING, &o.tls_priority, "TLS policy as a GnuTLS priority string", "STRING" },
                { "require-tls", 0, 0, G_OPTION_ARG_NONE, &o.require_tls, "Refuse MAIL before STARTTLS", NULL },
                { "auth-file", 0, 0, G_OPTION_ARG_FILENAME, &o.auth_file, "user:password lines; enables AUTH", "FILE" },
                { "allow-insecure-auth", 0, 0, G_OPTION_ARG_NONE, &o.allow_insecure_auth, "Offer AUTH without TLS", NULL },
                { "max-connections", 0, 0, G_OPTION_ARG_INT64, &o.max_connections, "Concurrent sessions", "N" },
                { "max-connections-per-address", 0, 0, G_OPTION_ARG_INT64, &o.max_connections_per_address,
                  "Concurrent sessions from one client address (0: no limit)", "N" },
                { "max-line-length", 0, 0, G_OPTION_ARG_INT64, &o.max_line, "Longest line, CRLF included", "N" },
                { "max-message-size", 0, 0, G_OPTION_ARG_INT64, &o.max_size, "Largest message in bytes", "N" },
                { "max-recipients", 0, 0, G_OPTION_ARG_INT64, &o.max_recipients, "RCPT TO per transaction", "N" },
                { "timeout", 0, 0, G_OPTION_ARG_INT64, &o.timeout, "Idle timeout in seconds", "SECONDS" },
                { "data-timeout", 0, 0, G_OPTION_ARG_INT64, &o.data_timeout,
                  "Longest time one message transfer may take, in seconds", "SECONDS" },
                { "xclient-network", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.xclient_networks,
                  "Clients from this network may use XCLIENT (repeatable)", "CIDR" },
                { "maildir", 0, 0, G_OPTION_ARG_FILENAME, &o.maildir, "Store messages in this Maildir", "DIR" },
                { "json", 0, 0, G_OPTION_ARG_NONE, &o.json, "One JSON object per message", NULL },
                { "workers", 0, 0, G_OPTION_ARG_INT64, &o.workers, "Processes sharing the ports (SO_REUSEPORT)", "N" },
                { "proxy-protocol", 0, 0, G_OPTION_ARG_NONE, &o.proxy_protocol, "--listen and --listen-tls ports expect a PROXY v1 or v2 header (HAProxy)", NULL },
                { "lmtp", 0, 0, G_OPTION_ARG_NONE, &o.lmtp, "Speak LMTP (RFC 2033) instead of SMTP", NULL },
                { NULL }
        };
        g_autoptr(GOptionContext) context = g_option_context_new ("- receive mail and print it");
        g_autoptr(GError) error = NULL;
        g_autoptr(GSmtpServer) server = NULL;
        g_autoptr(GPtrArray) bound = NULL;
        App app = { 0 };

        g_option_context_add_main_entries (context, entries, NULL);
        if (!g_option_context_parse (context, &argc, &argv, &error))
                die_usage ("%s", error->message);
        if (argc > 1)
                die_usage ("unexpected argument \"%s\"", argv[1]);
        check_range ("--max-connections", o.max_connections, "max-connections");
        check_range ("--max-connections-per-address", o.max_connections_per_address,
                     "max-connections-per-address");
        check_range ("--max-line-length", o.max_line, "max-line-length");
        check_range ("--max-message-size", o.max_size, "max-message-size");
        check_range ("--max-recipients", o.max_recipients, "max-recipients");
        check_range ("--timeout", o.timeout, "idle-timeout");
        check_range ("--data-timeout", o.data_timeout, "data-timeout");
        if (o.workers < 1 || o.workers > 64)
                die_usage ("--workers %" G_GINT64_FORMAT " is out of range (1 to 64)", o.workers);
        for (guint i = 0; o.domains != NULL && o.domains[i] != NULL; i++)
                if (!g_utf8_validate (o.domains[i], -1, NULL))
                        die_usage ("--domain \"%s\" is not UTF-8", o.domains[i]);
        if ((o.tls_cert == NULL) != (o.tls_key == NULL))
                die_usage ("--tls-cert and --tls-key go together");
        if (o.listen_tls != NULL && o.tls_cert == NULL)
                die_usage ("--listen-tls needs --tls-cert and --tls-key");
        if (o.require_tls && o.tls_cert == NULL)
                die_usage ("--require-tls needs --tls-cert and --tls-key");
        if (o.tls_priority != NULL && o.tls_cert == NULL)
                die_usage ("--tls-priority needs --tls-cert and --tls-key");
        if (o.listen == NULL)
                o.listen = g_strsplit ("127.0.0.1:2525", ",", -1);
        if (o.auth_file != NULL)
                app.users = load_users (o.auth_file);
        if (o.maildir != NULL) {
                const char *subdirs[] = { "tmp", "new", "cur" };

                for (guint i = 0; i < G_N_ELEMENTS (subdirs); i++) {
                        g_autofree char *d = g_build_filename (o.maildir, subdirs[i], NULL);

                        if (g_mkdir_with_parents (d, 0700) != 0)
                                die_usage ("cannot create maildir %s: %s", d, g_strerror (errno));
                }
                app.maildir = o.maildir;
        }
        app.json = o.json;
        app.out = g_string_sized_new (4096);
        raise_fd_limit ();

        server = server_new (&o, &app);
        bound = listen_all (server, &o, o.workers > 1 ? GSMTP_LISTEN_REUSE_PORT : 0, TRUE);
        if (o.workers > 1) {
                fflush (NULL);
                workers = g_array_new (FALSE, FALSE, sizeof (pid_t));
                for (int w = 1; w < o.workers; w++) {
                        pid_t pid = fork ();

                        if (pid < 0)
                                die_usage ("fork: %s", g_strerror (errno));
                        if (pid > 0) {
                                g_array_append_val (workers, pid);
                                continue;
                        }
                        /* a worker: drop the first process's sockets, bind its own */
                        g_clear_pointer (&workers, g_array_unref);
                        g_clear_object (&server);
                        server = server_new (&o, &app);
                        /* the same addresses, with the ports the first process got */
                        for (guint i = 0, nl = g_strv_length (o.listen); i < bound->len; i++) {
                                char **slot = i < nl ? &o.listen[i] : &o.listen_tls[i - nl];

                                g_free (*slot);
                                *slot = g_strdup (bound->pdata[i]);
                        }
                        g_ptr_array_unref (listen_all (server, &o, GSMTP_LISTEN_REUSE_PORT, FALSE));
                        break;
                }
        }

        app.loop = g_main_loop_new (NULL, FALSE);
        g_object_set_data (G_OBJECT (server), "app", &app);
        watch_signals (server);
        g_main_loop_run (app.loop);
        g_main_loop_unref (app.loop);
        for (guint i = 0; workers != NULL && i < workers->len; i++)
                waitpid (g_array_index (workers, pid_t, i), NULL, 0);
        g_clear_pointer (&app.users, g_hash_table_unref);
        g_string_free (app.out, TRUE);
        g_strfreev (o.listen);
        g_strfreev (o.listen_tls);
        g_strfreev (o.domains);
        g_strfreev (o.xclient_networks);
        g_free (o.hostname);
        g_free (o.tls_cert);
        g_free (o.tls_key);
        g_free (o.tls_priority);
        g_free (o.auth_file);
        g_free (o.maildir);
        return 0;
}

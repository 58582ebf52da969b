/* test-transcripts.c — protocol dialogues in tests/transcripts/NAME.smtp, replayed
 * against a session fed directly (as Postfix's .in/.ref and OpenSMTPD's
 * smtpscript).  "C: line" is sent with CRLF; "R: bytes" is sent raw with \r,
 * \n and \xHH escapes; "S: prefix" must match the next reply line; "S+ prefix" matches
 * one or more reply lines (an EHLO reply's keywords, however many there are);
 * "! name=value" sets a server property; "! batch" ... "! end" sends the C: and R:
 * lines between in one write.
 * Within a multi-line reply ("NNN-" lines), an S: line with that code matches
 * the next line it is a prefix of, passing over the others: an EHLO reply
 * grows as extensions are added, and a transcript names the lines it is about.
 * "! lmtp" makes the session an LMTP one (a listener with GSMTP_LISTEN_LMTP);
 * "! reply ADDRESS CODE X.Y.Z TEXT" makes the DATA handler answer CODE for that
 * recipient (g_smtp_stage_set_recipient_reply()), "! reply * CODE ..." for the
 * message (the stage's own reply; 250 when not given). */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-session.h"
#include "gsmtp-server-private.h"

#include <string.h>

/* "CODE X.Y.Z TEXT" */
static GSmtpReply *
reply_parse (const char *spec)
{
        g_auto(GStrv) parts = g_strsplit (spec, " ", 3);

        g_assert_nonnull (parts[0]);
        g_assert_nonnull (parts[1]);
        return g_smtp_reply_new ((guint) g_ascii_strtoull (parts[0], NULL, 10), parts[1], parts[2]);
}

/* The DATA handler, as the script's "! reply" lines say: ADDRESS → reply spec. */
static GSmtpReply *
accept_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        GHashTable *replies = data;
        const char *const *rcpts = g_smtp_envelope_get_recipients (g_smtp_stage_get_envelope (stage));
        const char *whole = g_hash_table_lookup (replies, "*");

        for (guint i = 0; rcpts[i] != NULL; i++) {
                const char *spec = g_hash_table_lookup (replies, rcpts[i]);

                if (spec != NULL)
                        g_smtp_stage_set_recipient_reply (stage, i, reply_parse (spec));
        }
        return whole != NULL ? reply_parse (whole) : g_smtp_reply_new_code (250);
}

typedef struct {
        GSmtpSession *session;
        GQueue        lines;            /* reply lines not matched yet */
        const char   *name;
        guint         lineno;
} Replay;

static void
replay_collect (Replay *r)
{
        g_autoptr(GBytes) out = gsmtp_session_take_output (r->session);
        gsize len;
        const char *p = g_bytes_get_data (out, &len);
        const char *end = p + len;

        while (p < end) {
                const char *crlf = g_strstr_len (p, end - p, "\r\n");

                g_assert_nonnull (crlf);        /* every reply line ends in CRLF */
                g_queue_push_tail (&r->lines, g_strndup (p, crlf - p));
                p = crlf + 2;
        }
}

static char *
unescape (const char *s)
{
        GString *out = g_string_new (NULL);

        for (; *s != '\0'; s++) {
                if (s[0] == '\\' && s[1] == 'r') {
                        g_string_append_c (out, '\r');
                        s++;
                } else if (s[0] == '\\' && s[1] == 'n') {
                        g_string_append_c (out, '\n');
                        s++;
                } else if (s[0] == '\\' && s[1] == 'x' && g_ascii_isxdigit (s[2]) && g_ascii_isxdigit (s[3])) {
                        g_string_append_c (out, (char) (g_ascii_xdigit_value (s[2]) * 16 + g_ascii_xdigit_value (s[3])));
                        s += 3;
                } else {
                        g_string_append_c (out, *s);
                }
        }
        return g_string_free (out, FALSE);
}

static void
server_set (GSmtpServer *server, const char *assignment)
{
        g_auto(GStrv) kv = g_strsplit (assignment, "=", 2);
        GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (server), kv[0]);
        GValue value = G_VALUE_INIT;

        g_assert_nonnull (pspec);
        g_assert_nonnull (kv[1]);
        g_value_init (&value, pspec->value_type);
        if (pspec->value_type == G_TYPE_UINT)
                g_value_set_uint (&value, (guint) g_ascii_strtoull (kv[1], NULL, 10));
        else if (pspec->value_type == G_TYPE_UINT64)
                g_value_set_uint64 (&value, g_ascii_strtoull (kv[1], NULL, 10));
        else if (pspec->value_type == G_TYPE_BOOLEAN)
                g_value_set_boolean (&value, g_str_equal (kv[1], "true"));
        else
                g_error ("property %s: type not handled", kv[0]);
        g_object_set_property (G_OBJECT (server), kv[0], &value);
        g_value_unset (&value);
}

static void
test_transcript (gconstpointer data)
{
        const char *path = data;
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GSmtpServer) server = g_smtp_server_new ("mx.example.org");
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        g_autoptr(GString) batch = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) replies = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
        Replay r = { 0 };
        char *banner;

        g_assert_true (g_file_get_contents (path, &text, NULL, &error));
        g_smtp_server_add_domain (server, "example.org");
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, accept_data, replies, NULL);
        /* no main loop here: the DATA handler parses, not the worker pool */
        g_object_set (server, "parse-messages", FALSE, NULL);
        lines = g_strsplit (text, "\n", -1);
        /* settings first: they apply from the banner on */
        for (guint i = 0; lines[i] != NULL; i++) {
                if (g_str_equal (lines[i], "! lmtp")) {
                        gsmtp_peer_set_lmtp (peer, TRUE);
                } else if (g_str_has_prefix (lines[i], "! reply ")) {
                        g_auto(GStrv) kv = g_strsplit (lines[i] + 8, " ", 2);

                        g_assert_nonnull (kv[1]);
                        g_hash_table_insert (replies, g_strdup (kv[0]), g_strdup (kv[1]));
                } else if (g_str_has_prefix (lines[i], "! ") && strchr (lines[i], '=') != NULL) {
                        server_set (server, lines[i] + 2);
                }
        }
        g_queue_init (&r.lines);
        r.session = gsmtp_session_new (gsmtp_server_get_session_host (server), peer, FALSE, NULL, NULL);
        gsmtp_session_start (r.session);
        replay_collect (&r);
        banner = g_queue_pop_head (&r.lines);
        g_assert_true (g_str_has_prefix (banner, "220 mx.example.org"));
        g_free (banner);

        for (guint i = 0; lines[i] != NULL; i++) {
                const char *line = lines[i];

                r.lineno = i + 1;
                if (line[0] == '\0' || line[0] == '#')
                        continue;
                if (g_str_equal (line, "! batch")) {
                        batch = g_string_new (NULL);
                } else if (g_str_equal (line, "! end")) {
                        gsmtp_session_feed (r.session, (const guint8 *) batch->str, batch->len);
                        g_string_free (g_steal_pointer (&batch), TRUE);
                } else if (g_str_has_prefix (line, "! ")) {
                        continue;
                } else if (g_str_has_prefix (line, "C: ") || g_str_equal (line, "C:")) {
                        g_autofree char *wire = g_strconcat (line + MIN (strlen (line), 3), "\r\n", NULL);

                        if (batch != NULL)
                                g_string_append (batch, wire);
                        else
                                gsmtp_session_feed (r.session, (const guint8 *) wire, strlen (wire));
                } else if (g_str_has_prefix (line, "R: ")) {
                        g_autofree char *raw = unescape (line + 3);

                        if (batch != NULL)
                                g_string_append (batch, raw);
                        else
                                gsmtp_session_feed (r.session, (const guint8 *) raw, strlen (raw));
                } else if (g_str_has_prefix (line, "S+ ")) {
                        guint n = 0;

                        replay_collect (&r);
                        while (!g_queue_is_empty (&r.lines) &&
                               g_str_has_prefix (g_queue_peek_head (&r.lines), line + 3)) {
                                g_free (g_queue_pop_head (&r.lines));
                                n++;
                        }
                        if (n == 0)
                                g_error ("%s:%u: expected lines \"%s\", got \"%s\"", path, r.lineno, line + 3,
                                         g_queue_is_empty (&r.lines) ? "(nothing)"
                                                                     : (char *) g_queue_peek_head (&r.lines));
                } else if (g_str_has_prefix (line, "S: ")) {
                        g_autofree char *got = NULL;

                        replay_collect (&r);
                        got = g_queue_pop_head (&r.lines);
                        /* within a multi-line reply, lines no S: names are passed over */
                        while (got != NULL && strlen (line + 3) >= 3 && strlen (got) >= 4 && got[3] == '-' &&
                               strncmp (got, line + 3, 3) == 0 && !g_str_has_prefix (got, line + 3)) {
                                g_free (got);
                                got = g_queue_pop_head (&r.lines);
                        }
                        if (got == NULL || !g_str_has_prefix (got, line + 3))
                                g_error ("%s:%u: expected \"%s\", got \"%s\"", path, r.lineno, line + 3,
                                         got != NULL ? got : "(nothing)");
                } else {
                        g_error ("%s:%u: what is \"%s\"?", path, r.lineno, line);
                }
        }
        replay_collect (&r);
        if (!g_queue_is_empty (&r.lines))
                g_error ("%s: unexpected reply \"%s\"", path, (char *) g_queue_peek_head (&r.lines));
        gsmtp_session_free (r.session);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
        return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
        const char *srcdir = g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".";
        g_autofree char *dir = g_build_filename (srcdir, "tests", "transcripts", NULL);
        g_autoptr(GDir) d = NULL;
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
        const char *name;

        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        d = g_dir_open (dir, 0, NULL);
        g_assert_nonnull (d);
        while ((name = g_dir_read_name (d)) != NULL)
                if (g_str_has_suffix (name, ".smtp"))
                        g_ptr_array_add (names, g_strdup (name));
        g_ptr_array_sort (names, compare_names);
        for (guint i = 0; i < names->len; i++) {
                g_autofree char *base = g_strndup (names->pdata[i], strlen (names->pdata[i]) - 5);
                g_autofree char *test = g_strconcat ("/transcripts/", base, NULL);

                g_test_add_data_func_full (test, g_build_filename (dir, names->pdata[i], NULL),
                                           test_transcript, g_free);
        }
        return g_test_run ();
}

/* test-transcripts.c — protocol dialogues in tests/transcripts/NAME.smtp, replayed
 * against a session fed directly (as Postfix's .in/.ref and OpenSMTPD's
 * smtpscript).  "C: line" is sent with CRLF; "R: bytes" is sent raw with \r and
 * \n escapes; "S: prefix" must match the next reply line; "! name=value" sets a
 * server property; "! batch" ... "! end" sends the C: lines between in one write. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-session.h"

#include <string.h>

static GSmtpReply *
accept_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        return g_smtp_reply_new_code (250);
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
        Replay r = { 0 };
        char *banner;

        g_assert_true (g_file_get_contents (path, &text, NULL, &error));
        g_smtp_server_add_domain (server, "example.org");
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, accept_data, NULL, NULL);
        /* no main loop here: the DATA handler parses, not the worker pool */
        g_object_set (server, "parse-messages", FALSE, NULL);
        lines = g_strsplit (text, "\n", -1);
        /* settings first: they apply from the banner on */
        for (guint i = 0; lines[i] != NULL; i++)
                if (g_str_has_prefix (lines[i], "! ") && strchr (lines[i], '=') != NULL)
                        server_set (server, lines[i] + 2);
        g_queue_init (&r.lines);
        r.session = gsmtp_session_new (server, peer, FALSE, NULL, NULL);
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

                        gsmtp_session_feed (r.session, (const guint8 *) raw, strlen (raw));
                } else if (g_str_has_prefix (line, "S: ")) {
                        g_autofree char *got = NULL;

                        replay_collect (&r);
                        got = g_queue_pop_head (&r.lines);
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

/* session-fixture.c — one session fed bytes directly, and what it said. */
#include "config.h"
#include "session-fixture.h"
#include "gsmtp-server-private.h"

#include <string.h>

static GSmtpReply *
on_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        SessionFx *fx = data;

        g_ptr_array_add (fx->messages, g_object_ref (g_smtp_stage_get_envelope (stage)));
        if (fx->defer) {
                fx->deferred = g_smtp_stage_defer (stage);
                return NULL;
        }
        return g_smtp_reply_new_code (250);
}

static void
on_wakeup (gpointer data)
{
        ((SessionFx *) data)->wakeups++;
}

static const GSmtpSessionCallbacks fx_callbacks = { on_wakeup, NULL };

/* mx.example.org, local domain example.org, every message kept in @messages */
void
session_fx_setup (SessionFx *fx, gconstpointer unused)
{
        gsmtp_ensure_gmime ();
        fx->server = g_smtp_server_new ("mx.example.org");
        g_smtp_server_add_domain (fx->server, "example.org");
        g_smtp_server_set_handler (fx->server, GSMTP_STAGE_DATA, on_data, fx, NULL);
        fx->messages = g_ptr_array_new_with_free_func (g_object_unref);
        fx->peer = gsmtp_peer_new (NULL, NULL);
}

void
session_fx_teardown (SessionFx *fx, gconstpointer unused)
{
        g_clear_pointer (&fx->session, gsmtp_session_free);
        g_clear_object (&fx->deferred);
        g_ptr_array_unref (fx->messages);
        g_object_unref (fx->peer);
        g_object_unref (fx->server);
}

/* After the test has set the server up: the session greets.  @implicit_tls:
 * as on a listener where TLS begins at once. */
void
session_fx_start_full (SessionFx *fx, gboolean implicit_tls)
{
        fx->session = gsmtp_session_new (gsmtp_server_get_session_host (fx->server), fx->peer,
                                         implicit_tls, &fx_callbacks, fx);
        gsmtp_session_start (fx->session);
}

void
session_fx_start (SessionFx *fx)
{
        session_fx_start_full (fx, FALSE);
}

/* A completion always reaches the session through the server's context (here
 * the default one): run it until the session woke up. */
void
session_fx_complete (SessionFx *fx, GSmtpStage *stage, GSmtpReply *reply)
{
        guint before = fx->wakeups;
        gint64 give_up = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

        g_smtp_stage_complete (stage, reply);
        while (fx->wakeups == before && g_get_monotonic_time () < give_up)
                g_main_context_iteration (NULL, FALSE);
        g_assert_cmpuint (fx->wakeups, ==, before + 1);
}

/* what the session has said since the last take */
char *
session_fx_take (SessionFx *fx)
{
        g_autoptr(GBytes) out = gsmtp_session_take_output (fx->session);

        return g_strndup (g_bytes_get_data (out, NULL), g_bytes_get_size (out));
}

void
session_fx_feed_len (SessionFx *fx, const char *bytes, gsize len)
{
        gsmtp_session_feed (fx->session, (const guint8 *) bytes, len);
}

void
session_fx_feed (SessionFx *fx, const char *bytes)
{
        session_fx_feed_len (fx, bytes, strlen (bytes));
}

/* Feeds @bytes and checks the whole output is exactly @expected, or matches
 * it as a glob when it holds a '*'. */
void
session_fx_chat (SessionFx *fx, const char *bytes, const char *expected)
{
        g_autofree char *out = NULL;

        session_fx_feed (fx, bytes);
        out = session_fx_take (fx);
        if (strchr (expected, '*') != NULL) {
                if (!g_pattern_match_simple (expected, out))
                        g_error ("sent %s\nexpected pattern %s\ngot %s", bytes, expected, out);
        } else if (strcmp (out, expected) != 0) {
                g_error ("sent %s\nexpected %s\ngot %s", bytes, expected, out);
        }
}

/* the output since the last take matches the glob @pattern */
void
session_fx_expect (SessionFx *fx, const char *pattern)
{
        g_autofree char *out = session_fx_take (fx);

        if (!g_pattern_match_simple (pattern, out))
                g_error ("expected %s\ngot %s", pattern, out);
}

/* test-message.c — messages through a real server: the MIME limits on hostile
 * content (delivered, not parsed), parsing off the main loop while other
 * sessions are answered, and a kept GMimeMessage that outlives its envelope. */
#include "config.h"
#include "test-util.h"
#include "hostile-mime.h"
#include "gsmtp-message-parser.h"
#include "gsmtp-server-private.h"

#include <gio/gunixinputstream.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define WAIT_MS 30000

/* ---- messages ---- */

static GString *
huge_header (void)
{
        GString *s = g_string_new ("From: a@example.org\r\nX-Huge: x");

        while (s->len < 120000)
                g_string_append (s, "\r\n aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        g_string_append (s, "\r\n\r\nbody\r\n");
        return s;
}

static GString *
many_headers (void)
{
        GString *s = g_string_new ("From: a@example.org\r\n");

        for (guint i = 0; i < 10001; i++)
                g_string_append_printf (s, "X-%u: y\r\n", i);
        g_string_append (s, "\r\nbody\r\n");
        return s;
}

/* 10001 parameters in one Content-Type, folded into lines GMime and the
 * server's line limit take */
static GString *
many_parameters (void)
{
        GString *s = g_string_new ("From: a@example.org\r\nContent-Type: text/plain");

        for (guint i = 0; i < 10001; i++)
                g_string_append_printf (s, "%s;p%u=1", i % 100 == 99 ? "\r\n " : "", i);
        g_string_append (s, "\r\n\r\nbody\r\n");
        return s;
}

/* The same count hidden in RFC 2047 words, which GMime decodes before it
 * reads the parameters: 12 a word, 834 words */
static GString *
encoded_parameters (void)
{
        GString *s = g_string_new ("From: a@example.org\r\nContent-Disposition: attachment");

        for (guint i = 0; i < 834; i++)
                g_string_append (s, "\r\n =?us-ascii?q?=3Bx=3D1=3Bx=3D1=3Bx=3D1=3Bx=3D1=3Bx=3D1=3Bx=3D1"
                                    "=3Bx=3D1=3Bx=3D1=3Bx=3D1=3Bx=3D1=3Bx=3D1=3Bx=3D1?=");
        g_string_append (s, "\r\n\r\nbody\r\n");
        return s;
}

/* A complex message near 10 MiB: long folded headers, 900 parts of 11 KB */
static GString *
big_complex (void)
{
        GString *s = g_string_new ("From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\n");

        for (guint i = 0; i < 40; i++) {
                g_string_append_printf (s, "X-Long-%u: start", i);
                for (guint j = 0; j < 100; j++)
                        g_string_append (s, "\r\n folded continuation line of a long header field, many of them");
                g_string_append (s, "\r\n");
        }
        g_string_append (s, "Content-Type: multipart/mixed; boundary=\"=_part\"\r\n\r\n");
        for (guint i = 0; i < 900; i++) {
                g_string_append_printf (s, "--=_part\r\nContent-Type: application/octet-stream; name=\"f%u\"\r\n"
                                        "Content-Transfer-Encoding: base64\r\n\r\n", i);
                for (guint j = 0; j < 160; j++)
                        g_string_append (s, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n");
        }
        g_string_append (s, "--=_part--\r\n");
        return s;
}

static const char multipart_message[] =
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: kept\r\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
        "--outer\r\nContent-Type: text/plain\r\n\r\nthe text part\r\n"
        "--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "YXR0YWNobWVudCBieXRlcw==\r\n"
        "--outer\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: c@example.org\r\nSubject: inner\r\n\r\nthe inner body\r\n"
        "--outer--\r\n";

/* multipart_message with a fourth part: more than the server parses on the
 * spot (16 KiB), so that the worker pool parses it */
static GString *
padded_message (void)
{
        GString *s = g_string_new (multipart_message);
        GString *part = g_string_new ("--outer\r\nContent-Type: text/plain\r\n\r\n");

        for (guint i = 0; i < 400; i++)
                g_string_append (part, "padding, so that the message goes to the worker pool\r\n");
        g_string_append (part, "--outer--\r\n");
        g_string_replace (s, "--outer--\r\n", part->str, 1);
        g_string_free (part, TRUE);
        g_assert_cmpuint (s->len, >, 20000);
        return s;
}

/* ---- the conversation ---- */

static LineClient *
client_in_data (guint16 port)
{
        LineClient *lc = line_client_new (port);

        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO client.test", "250 ");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (lc, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (lc, "DATA", "354 ");
        return lc;
}

/* The message and its end; none of ours has a line starting with '.' */
static void
client_send_message (LineClient *lc, const char *data, gsize len)
{
        line_client_send_raw (lc, data, len);
        line_client_send (lc, ".");
}

static GSmtpEnvelope *
deliver (TestServer *ts, const GString *message)
{
        LineClient *lc = client_in_data (ts->port);
        GSmtpEnvelope *env;

        client_send_message (lc, message->str, message->len);
        line_client_expect (lc, "250 ");
        line_client_chat (lc, "QUIT", "221 ");
        line_client_free (lc);
        env = test_server_pop (ts, WAIT_MS);
        g_assert_nonnull (env);
        return env;
}

static void
assert_bytes (GSmtpEnvelope *env, const GString *message)
{
        GBytes *data = g_smtp_envelope_get_data (env);

        g_assert_cmpmem (g_bytes_get_data (data, NULL), g_bytes_get_size (data), message->str, message->len);
}

/* ---- a parse job the test holds, through the parser's test hook ---- */

typedef struct {
        GMutex    lock;
        GCond     cond;
        guint     started;
        gboolean  release;
} Hold;

static Hold hold;

static void
hold_job (GSmtpEnvelope *envelope, gpointer data)
{
        gint64 end = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

        g_mutex_lock (&hold.lock);
        hold.started++;
        g_cond_broadcast (&hold.cond);
        while (!hold.release && g_cond_wait_until (&hold.cond, &hold.lock, end))
                ;
        g_mutex_unlock (&hold.lock);
}

static void
hold_begin (void)
{
        hold.started = 0;
        hold.release = FALSE;
        gsmtp_parse_set_test_hook (hold_job, NULL);
}

static void
hold_wait_started (guint n)
{
        gint64 end = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

        g_mutex_lock (&hold.lock);
        while (hold.started < n && g_cond_wait_until (&hold.cond, &hold.lock, end))
                ;
        g_assert_cmpuint (hold.started, >=, n);
        g_mutex_unlock (&hold.lock);
}

static void
hold_release (void)
{
        gsmtp_parse_set_test_hook (NULL, NULL);
        g_mutex_lock (&hold.lock);
        hold.release = TRUE;
        g_cond_broadcast (&hold.cond);
        g_mutex_unlock (&hold.lock);
}

static gboolean
hold_is_holding (void)
{
        gboolean holding;

        g_mutex_lock (&hold.lock);
        holding = hold.started > 0 && !hold.release;
        g_mutex_unlock (&hold.lock);
        return holding;
}

/* ---- an object's end, seen from another thread ---- */

typedef struct {
        GMutex   lock;
        GCond    cond;
        gboolean gone;
        GThread *thread;        /* where it ended */
} Gone;

static void
gone_notify (gpointer data, GObject *where_the_object_was)
{
        Gone *g = data;

        g_mutex_lock (&g->lock);
        g->gone = TRUE;
        g->thread = g_thread_self ();
        g_cond_broadcast (&g->cond);
        g_mutex_unlock (&g->lock);
}

static gboolean
gone_wait (Gone *g)
{
        gint64 end = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;
        gboolean gone;

        g_mutex_lock (&g->lock);
        while (!g->gone && g_cond_wait_until (&g->cond, &g->lock, end))
                ;
        gone = g->gone;
        g_mutex_unlock (&g->lock);
        return gone;
}

/* ---- tests ---- */

static void
test_nested_groups (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) attack = hostile_nested_groups (60000);
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_bug ("10");
        g_test_summary ("A To: of 60 000 nested groups (SIGSEGV in GMime before) is delivered "
                        "with 250 and its bytes, not parsed, with the reason");
        env = deliver (ts, attack);
        assert_bytes (env, attack);
        g_assert_null (g_smtp_envelope_get_message (env));
        /* 180 KB of To: is past max-header-size before its groups count */
        g_assert_cmpstr (g_smtp_envelope_get_mime_error (env), ==, "header field larger than 102400 bytes");
        test_server_free (ts);
}

static void
test_empty_parts (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) attack = hostile_empty_parts (1400000);
        g_autoptr(GSmtpEnvelope) env = NULL;
        gint64 start;

        g_test_bug ("10");
        g_test_summary ("1.4 million empty MIME parts in 10 MB (15 s on the main loop and 2 GB "
                        "before) are delivered and not parsed");
        g_assert_cmpuint (attack->len, <, GSMTP_DEFAULT_MAX_MESSAGE_SIZE);
        env = deliver (ts, attack);
        assert_bytes (env, attack);
        start = g_get_monotonic_time ();
        g_assert_null (g_smtp_envelope_get_message (env));
        g_assert_cmpstr (g_smtp_envelope_get_mime_error (env), ==, "more than 1000 MIME parts");
        /* parsed before the DATA handler ran: nothing left to do here */
        g_test_message ("get_message() in the application: %" G_GINT64_FORMAT " us",
                        g_get_monotonic_time () - start);
        test_server_free (ts);
}

typedef struct {
        const char *name;
        GString *(*make) (void);
        const char *reason;
} LimitCase;

static GString *deep_multipart (void) { return hostile_nested_multiparts (101, FALSE); }
static GString *deep_message (void) { return hostile_nested_messages (101); }

static const LimitCase limit_cases[] = {
        { "deep-multipart", deep_multipart, "MIME nesting deeper than 100" },
        { "deep-rfc822", deep_message, "MIME nesting deeper than 100" },
        { "huge-header", huge_header, "header field larger than 102400 bytes" },
        { "many-headers", many_headers, "more than 10000 header fields" },
        { "many-parameters", many_parameters, "more than 10000 MIME parameters" },
        { "encoded-parameters", encoded_parameters, "more than 10000 MIME parameters" },
};

static void
test_limit (gconstpointer data)
{
        const LimitCase *c = data;
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) message = c->make ();
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_bug ("10");
        g_test_summary ("A message past a MIME limit is delivered, not parsed, with the reason");
        env = deliver (ts, message);
        assert_bytes (env, message);
        g_assert_null (g_smtp_envelope_get_message (env));
        g_assert_cmpstr (g_smtp_envelope_get_mime_error (env), ==, c->reason);
        test_server_free (ts);
}

static void
setup_one_parameter (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "max-mime-parameters", 1, NULL);
}

static void
test_parameters_property (void)
{
        TestServer *ts = test_server_new (setup_one_parameter, NULL);
        g_autoptr(GString) two = g_string_new ("Content-Type: text/plain; charset=us-ascii; format=flowed\r\n\r\nx\r\n");
        g_autoptr(GString) one = g_string_new ("Content-Type: text/plain; charset=us-ascii\r\n\r\nx\r\n");
        g_autoptr(GSmtpEnvelope) env = NULL, env2 = NULL;

        g_test_summary ("max-mime-parameters counts the parameters of Content-Type: at 1, two are past it");
        env = deliver (ts, two);
        g_assert_null (g_smtp_envelope_get_message (env));
        g_assert_cmpstr (g_smtp_envelope_get_mime_error (env), ==, "more than 1 MIME parameters");
        env2 = deliver (ts, one);
        g_assert_nonnull (g_smtp_envelope_get_message (env2));
        test_server_free (ts);
}

static void
setup_tight_depth (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "max-mime-depth", 1, NULL);
}

static void
test_property (void)
{
        TestServer *ts = test_server_new (setup_tight_depth, NULL);
        g_autoptr(GString) message = g_string_new (multipart_message);
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_summary ("The limits are the server's properties: max-mime-depth 1 refuses a "
                        "message/rfc822 inside a multipart");
        env = deliver (ts, message);
        g_assert_null (g_smtp_envelope_get_message (env));
        g_assert_cmpstr (g_smtp_envelope_get_mime_error (env), ==, "MIME nesting deeper than 1");
        test_server_free (ts);
}

static void
test_parsed_with_trace (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) message = g_string_new (multipart_message);
        g_autoptr(GSmtpEnvelope) env = NULL;
        GMimeMessage *msg;
        GMimeHeaderList *headers;

        g_test_summary ("A message within the limits is parsed, with the server's Received header "
                        "first; its bytes stay as received");
        env = deliver (ts, message);
        assert_bytes (env, message);
        g_assert_null (g_smtp_envelope_get_mime_error (env));
        msg = g_smtp_envelope_get_message (env);
        g_assert_nonnull (msg);
        headers = g_mime_object_get_header_list (GMIME_OBJECT (msg));
        g_assert_cmpstr (g_mime_header_get_name (g_mime_header_list_get_header_at (headers, 0)), ==, "Received");
        g_assert_cmpstr (g_mime_header_get_value (g_mime_header_list_get_header_at (headers, 0)), ==,
                         g_smtp_envelope_get_received_header (env));
        g_assert_cmpstr (g_mime_message_get_subject (msg), ==, "kept");
        test_server_free (ts);
}

static char *
stream_contents (GMimeObject *part)
{
        g_autoptr(GMimeStream) mem = g_mime_stream_mem_new ();
        GByteArray *array;

        g_mime_data_wrapper_write_to_stream (g_mime_part_get_content (GMIME_PART (part)), mem);
        array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
        return g_strndup ((const char *) array->data, array->len);
}

enum {
        KEPT_SPILLED = 1 << 0,  /* the message in a file */
        KEPT_POOL = 1 << 1,     /* large enough for the worker pool */
};

static void
setup_spill (GSmtpServer *server, gpointer data)
{
        if (GPOINTER_TO_INT (data) & KEPT_SPILLED)
                g_object_set (server, "spill-threshold", (guint64) 64, NULL);
}

/* Messages GMime finds no header at the start of; the server's Received
 * header, added to the parsed message, must not make them parse */
typedef struct {
        const char *name;
        const char *message;
        gboolean    spilled;
} NoHeaderCase;

static const NoHeaderCase no_header_cases[] = {
        { "continuation-line", "\tby forged.example; Thu, 1 Jan 1970 00:00:00 +0000\r\nSubject: folded\r\n\r\nbody\r\n", FALSE },
        { "continuation-line-spilled", "\tby forged.example; Thu, 1 Jan 1970 00:00:00 +0000\r\nSubject: folded\r\n\r\nbody\r\n", TRUE },
        { "garbage-line", "garbage first line\r\nSubject: hi\r\n\r\nbody\r\n", FALSE },
};

static void
test_no_header_at_start (gconstpointer data)
{
        const NoHeaderCase *c = data;
        TestServer *ts = test_server_new (setup_spill, GINT_TO_POINTER (c->spilled ? KEPT_SPILLED : 0));
        g_autoptr(GString) message = g_string_new (c->message);
        g_autoptr(GSmtpEnvelope) env = NULL;

        g_test_summary ("A message GMime finds no header at the start of (a continuation line, a line that is "
                        "no header) is not parsed, as from its bytes alone; the server's Received header "
                        "neither extends nor stands in for its headers");
        g_test_bug ("14");
        env = deliver (ts, message);
        assert_bytes (env, message);
        g_assert_null (g_smtp_envelope_get_message (env));
        g_assert_null (g_smtp_envelope_get_mime_error (env));
        test_server_free (ts);
}

static void
test_trace_not_decoded (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GSmtpEnvelope) env = NULL;
        GMimeHeaderList *headers;
        const char *value;

        g_test_summary ("The Received header of the parsed message is the one the server wrote, not decoded: "
                        "a HELO name or recipient written as RFC 2047 words forges no header or address");
        g_test_bug ("14");
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO =?utf-8?q?mx.google.com_([8.8.8.8])=0D=0AX-Evil:_1?=", "250 ");
        line_client_chat (lc, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (lc, "RCPT TO:<=?utf-8?q?ceo=40bank.example=3E?=@example.org>", "250 ");
        line_client_chat (lc, "DATA", "354 ");
        client_send_message (lc, "Subject: s\r\n\r\nx\r\n", strlen ("Subject: s\r\n\r\nx\r\n"));
        line_client_expect (lc, "250 ");
        line_client_chat (lc, "QUIT", "221 ");
        line_client_free (lc);
        env = test_server_pop (ts, WAIT_MS);
        g_assert_nonnull (env);
        headers = g_mime_object_get_header_list (GMIME_OBJECT (g_smtp_envelope_get_message (env)));
        value = g_mime_header_get_value (g_mime_header_list_get_header_at (headers, 0));
        g_assert_cmpstr (value, ==, g_smtp_envelope_get_received_header (env));
        g_assert_null (strchr (value, '\n'));
        g_assert_null (strstr (value, "ceo@bank"));
        test_server_free (ts);
}

/* @data: the number of empty parts, 0 for a one-part message */
static void
test_freed_where (gconstpointer data)
{
        guint parts = GPOINTER_TO_UINT (data);
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) message = parts > 0 ? hostile_empty_parts (parts)
                                               : g_string_new ("From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n");
        Gone env_gone = { 0 }, msg_gone = { 0 };
        GSmtpEnvelope *env;
        GMimeMessage *msg;

        g_test_bug ("14");
        g_test_summary ("A message of many parts is freed by a worker, not by the thread that drops its "
                        "envelope last (13 ms on the main loop for 990 parts and 1000 addresses); a small "
                        "one on the spot");
        env = deliver (ts, message);
        msg = g_smtp_envelope_get_message (env);
        g_assert_nonnull (msg);
        if (parts > 0)
                g_assert_cmpint (g_mime_multipart_get_count (GMIME_MULTIPART (g_mime_message_get_mime_part (msg))),
                                 ==, parts);
        g_object_weak_ref (G_OBJECT (env), gone_notify, &env_gone);
        g_object_weak_ref (G_OBJECT (msg), gone_notify, &msg_gone);
        test_server_free (ts);
        g_object_unref (env);
        g_assert_true (gone_wait (&env_gone));
        g_assert_true (gone_wait (&msg_gone));
        if (parts > 0)
                g_assert_true (msg_gone.thread != env_gone.thread);
        else
                g_assert_true (msg_gone.thread == env_gone.thread);
}

static void
test_freed_kept (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) message = hostile_empty_parts (900);
        Gone gone = { 0 };
        GSmtpEnvelope *env;
        GMimeMessage *kept;

        g_test_bug ("14");
        g_test_summary ("A costly message the application keeps stays whole when its envelope goes, and "
                        "ends where the application drops it");
        env = deliver (ts, message);
        test_server_free (ts);
        kept = g_object_ref (g_smtp_envelope_get_message (env));
        g_object_weak_ref (G_OBJECT (kept), gone_notify, &gone);
        g_object_unref (env);
        g_assert_false (gone.gone);
        g_assert_cmpint (g_mime_multipart_get_count (GMIME_MULTIPART (g_mime_message_get_mime_part (kept))), ==, 900);
        g_object_unref (kept);
        g_assert_true (gone.gone);
        g_assert_true (gone.thread == g_thread_self ());
}

#define QUEUE_TRIES 10

static void
test_free_queue_bounded (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) message = hostile_empty_parts (300);
        GSmtpEnvelope *envs[QUEUE_TRIES];
        Gone gone[QUEUE_TRIES] = { { { 0 } } };
        guint inline_freed = 0;

        g_test_bug ("14");
        g_test_summary ("Messages wait for a free worker only up to a bound: with the workers held, the "
                        "ones past it are freed by the thread dropping their envelopes, which slows it down, "
                        "and no queue holds their memory");
        for (guint i = 0; i < QUEUE_TRIES; i++)
                envs[i] = deliver (ts, message);
        test_server_free (ts);
        hold.started = 0;
        hold.release = FALSE;
        gsmtp_parse_set_free_hook (hold_job, NULL);
        for (guint i = 0; i < QUEUE_TRIES; i++) {
                g_object_weak_ref (G_OBJECT (g_smtp_envelope_get_message (envs[i])), gone_notify, &gone[i]);
                g_object_unref (envs[i]);
                /* freed on the spot: gone already, on this thread */
                if (gone[i].gone) {
                        g_assert_true (gone[i].thread == g_thread_self ());
                        inline_freed++;
                }
        }
        /* the bound is 8 (a job of an earlier test may still count for a moment) */
        g_assert_cmpuint (inline_freed, >=, 2);
        g_assert_cmpuint (inline_freed, <=, 3);
        g_assert_false (gone[0].gone);
        gsmtp_parse_set_free_hook (NULL, NULL);
        hold_release ();
        for (guint i = 0; i < QUEUE_TRIES; i++) {
                g_assert_true (gone_wait (&gone[i]));
                if (i < QUEUE_TRIES - 2)
                        g_assert_true (gone[i].thread != g_thread_self ());
        }
}

typedef struct {
        const char *mail, *rcpt, *rcpt2;
        gboolean    folded_here;        /* the server folds it, not GMime's formatter */
} TraceCase;

static const TraceCase trace_cases[] = {
        { "MAIL FROM:<a@x.test>", "RCPT TO:<bo@example.org>", NULL, TRUE },
        { "MAIL FROM:<a@x.test>", "RCPT TO:<bo@example.org>", "RCPT TO:<cy@example.org>", TRUE },
        { "MAIL FROM:<a@x.test> SMTPUTF8", "RCPT TO:<b\xc3\xb6@example.org>", NULL, FALSE },
        { "MAIL FROM:<a@x.test>", "RCPT TO:<=?us-ascii?q?x?=@example.org>", NULL, FALSE },
};

/* The Received header as GMime gives it and writes it, whoever folded it. */
static void
test_trace_written (gconstpointer data)
{
        const TraceCase *c = data;
        TestServer *ts = test_server_new (NULL, NULL);
        LineClient *lc = line_client_new (ts->port);
        g_autoptr(GSmtpEnvelope) env = NULL;
        GMimeFormatOptions *dos = g_mime_format_options_new ();
        g_autofree char *written = NULL;
        g_autofree char *expected = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GString) unfolded = g_string_new (NULL);
        GMimeMessage *msg;
        GMimeHeader *header;
        const char *value;

        g_test_summary ("The server's Received header reads back from GMime as its value, unfolded and not "
                        "decoded, and GMime writes it folded, CRLF after CRLF, each line a continuation of "
                        "the first; the server folds a plain one itself, and leaves UTF-8 and encoded words "
                        "to GMime");
        g_test_bug ("14");
        line_client_expect (lc, "220 ");
        line_client_chat (lc, "EHLO client.example", "250 ");
        line_client_chat (lc, c->mail, "250 ");
        line_client_chat (lc, c->rcpt, "250 ");
        if (c->rcpt2 != NULL)
                line_client_chat (lc, c->rcpt2, "250 ");
        line_client_chat (lc, "DATA", "354 ");
        client_send_message (lc, "Subject: s\r\n\r\nx\r\n", strlen ("Subject: s\r\n\r\nx\r\n"));
        line_client_expect (lc, "250 ");
        line_client_chat (lc, "QUIT", "221 ");
        line_client_free (lc);
        env = test_server_pop (ts, WAIT_MS);
        g_assert_nonnull (env);
        msg = g_smtp_envelope_get_message (env);
        g_assert_nonnull (msg);
        header = g_mime_header_list_get_header_at (g_mime_object_get_header_list (GMIME_OBJECT (msg)), 0);
        g_assert_cmpstr (g_mime_header_get_name (header), ==, "Received");
        g_assert_cmpint (strstr (g_mime_header_get_raw_value (header), "\n by ") != NULL, ==, c->folded_here);
        value = g_mime_header_get_value (header);
        g_assert_cmpstr (value, ==, g_smtp_envelope_get_received_header (env));
        g_assert_null (strchr (value, '\n'));
        g_assert_cmpint (strstr (value, " for <") != NULL, ==, c->rcpt2 == NULL);

        g_mime_format_options_set_newline_format (dos, GMIME_NEWLINE_FORMAT_DOS);
        written = g_mime_object_to_string (GMIME_OBJECT (msg), dos);
        g_assert_true (g_str_has_prefix (written, "Received: from client.example "));
        lines = g_strsplit (written, "\r\n", -1);
        g_string_append (unfolded, lines[0]);
        for (guint i = 1; lines[i] != NULL && (lines[i][0] == ' ' || lines[i][0] == '\t'); i++) {
                g_assert_cmpuint (strlen (lines[i]), <=, 998);
                g_string_append (unfolded, lines[i]);
        }
        g_assert_null (strchr (unfolded->str, '\n'));
        expected = g_strconcat ("Received: ", value, NULL);
        if (c->folded_here)
                g_assert_cmpstr (unfolded->str, ==, expected);
        g_mime_format_options_free (dos);
        test_server_free (ts);
}

static void
count_job (GSmtpEnvelope *envelope, gpointer data)
{
        g_atomic_int_inc ((gint *) data);
}

static void
test_kept_message (gconstpointer data)
{
        gint jobs = 0;
        int flags = GPOINTER_TO_INT (data);
        TestServer *ts = test_server_new (setup_spill, (gpointer) data);
        g_autoptr(GString) message = flags & KEPT_POOL ? padded_message () : g_string_new (multipart_message);
        g_autoptr(GMimeMessage) kept = NULL;
        GMimeObject *kept_part;
        GSmtpEnvelope *env;
        GMimeMultipart *mp;
        GMimeMessage *inner;
        Gone gone = { 0 };
        g_autofree char *text = NULL, *attachment = NULL, *inner_body = NULL, *again = NULL;

        g_test_bug ("11");
        g_test_summary ("A kept GMimeMessage reads its parts after the envelope is gone (freed "
                        "memory before): in memory or spilled, parsed on the spot or in the pool");
        g_mutex_init (&gone.lock);
        g_cond_init (&gone.cond);
        gsmtp_parse_set_test_hook (count_job, &jobs);
        env = deliver (ts, message);
        gsmtp_parse_set_test_hook (NULL, NULL);
        /* small and simple: parsed on the spot; larger: in the pool */
        g_assert_cmpint (g_atomic_int_get (&jobs), ==, flags & KEPT_POOL ? 1 : 0);
        kept = g_object_ref (g_smtp_envelope_get_message (env));
        mp = GMIME_MULTIPART (g_mime_message_get_mime_part (kept));
        kept_part = g_object_ref (g_mime_multipart_get_part (mp, 1));
        g_object_weak_ref (G_OBJECT (env), gone_notify, &gone);
        g_object_unref (env);
        /* the server drops its references once the reply is out; wait for the last */
        g_assert_true (gone_wait (&gone));

        text = stream_contents (g_mime_multipart_get_part (mp, 0));
        g_assert_cmpstr (text, ==, "the text part");
        attachment = stream_contents (g_mime_multipart_get_part (mp, 1));
        g_assert_cmpstr (attachment, ==, "attachment bytes");
        inner = g_mime_message_part_get_message (GMIME_MESSAGE_PART (g_mime_multipart_get_part (mp, 2)));
        inner_body = stream_contents (g_mime_message_get_mime_part (inner));
        g_assert_cmpstr (inner_body, ==, "the inner body");
        g_assert_cmpstr (g_mime_message_get_subject (inner), ==, "inner");
        /* a part alone keeps its bytes too */
        g_clear_object (&kept);
        again = stream_contents (kept_part);
        g_assert_cmpstr (again, ==, "attachment bytes");
        g_object_unref (kept_part);
        g_mutex_clear (&gone.lock);
        g_cond_clear (&gone.cond);
        test_server_free (ts);
}

/* While the pool holds one client's 10 MiB message, another client is answered. */
static void
test_parse_off_loop (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) big = big_complex ();
        g_autoptr(GSmtpEnvelope) env = NULL;
        LineClient *a, *b;

        g_test_bug ("10");
        g_test_summary ("While a 10 MiB message is being parsed, another client's NOOP is answered");
        g_assert_cmpuint (big->len, >, 9 * 1024 * 1024);
        g_assert_cmpuint (big->len, <, GSMTP_DEFAULT_MAX_MESSAGE_SIZE);
        hold_begin ();
        a = client_in_data (ts->port);
        b = line_client_new (ts->port);
        line_client_expect (b, "220 ");
        client_send_message (a, big->str, big->len);
        hold_wait_started (1);

        line_client_chat (b, "EHLO other.test", "250 ");
        line_client_chat (b, "NOOP", "250 ");
        g_assert_true (hold_is_holding ());

        hold_release ();
        line_client_expect (a, "250 ");
        env = test_server_pop (ts, WAIT_MS);
        g_assert_nonnull (env);
        g_assert_nonnull (g_smtp_envelope_get_message (env));
        g_assert_cmpint (g_mime_multipart_get_count (GMIME_MULTIPART (
                g_mime_message_get_mime_part (g_smtp_envelope_get_message (env)))), ==, 900);
        line_client_chat (b, "QUIT", "221 ");
        line_client_free (a);
        line_client_free (b);
        test_server_free (ts);
}

/* A DATA handler that answers later, from another thread */
typedef struct {
        GMutex      lock;
        GCond       cond;
        GSmtpStage *stage;
} Slow;

static GSmtpReply *
slow_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Slow *slow = data;

        g_mutex_lock (&slow->lock);
        slow->stage = g_smtp_stage_defer (stage);
        g_cond_broadcast (&slow->cond);
        g_mutex_unlock (&slow->lock);
        return NULL;
}

static void
setup_slow (GSmtpServer *server, gpointer data)
{
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, slow_data, data, NULL);
}

static void
test_slow_handler (void)
{
        Slow slow = { 0 };
        TestServer *ts = (g_mutex_init (&slow.lock), g_cond_init (&slow.cond),
                          test_server_new (setup_slow, &slow));
        g_autoptr(GString) big = big_complex ();
        gint64 end = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;
        LineClient *a, *b;
        GSmtpStage *stage;

        g_test_summary ("A DATA handler that defers finds the message parsed, and other sessions "
                        "get replies until it answers");
        a = client_in_data (ts->port);
        b = line_client_new (ts->port);
        line_client_expect (b, "220 ");
        client_send_message (a, big->str, big->len);
        g_mutex_lock (&slow.lock);
        while (slow.stage == NULL && g_cond_wait_until (&slow.cond, &slow.lock, end))
                ;
        stage = g_steal_pointer (&slow.stage);
        g_mutex_unlock (&slow.lock);
        g_assert_nonnull (stage);
        g_assert_nonnull (g_smtp_envelope_get_message (g_smtp_stage_get_envelope (stage)));

        line_client_chat (b, "EHLO other.test", "250 ");
        line_client_chat (b, "NOOP", "250 ");
        g_smtp_stage_complete (stage, g_smtp_reply_new_code (250));
        g_object_unref (stage);
        line_client_expect (a, "250 ");
        line_client_free (a);
        line_client_free (b);
        test_server_free (ts);
        g_mutex_clear (&slow.lock);
        g_cond_clear (&slow.cond);
}

/* A handler that defers and answers at once, from inside itself */
static GSmtpReply *
instant_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        GSmtpStage *deferred = g_smtp_stage_defer (stage);

        g_smtp_stage_complete (deferred, g_smtp_reply_new (250, "2.0.0", "instant"));
        g_object_unref (deferred);
        return NULL;
}

static void
setup_instant (GSmtpServer *server, gpointer data)
{
        if (data != NULL)
                g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, instant_data, NULL, NULL);
}

static void
test_pipelined (gconstpointer data)
{
        TestServer *ts = test_server_new (setup_instant, (gpointer) data);
        g_autoptr(GString) message = padded_message ();
        LineClient *a;

        g_test_summary ("Commands pipelined after the message wait while it is parsed, then are "
                        "answered in order (also when the handler completes from inside itself)");
        hold_begin ();
        a = client_in_data (ts->port);
        line_client_send_raw (a, message->str, message->len);
        line_client_send_raw (a, ".\r\nNOOP\r\nRSET\r\n", 15);
        hold_wait_started (1);
        hold_release ();
        line_client_expect (a, "250 ");
        line_client_expect (a, "250 ");
        line_client_expect (a, "250 ");
        line_client_chat (a, "QUIT", "221 ");
        line_client_free (a);
        test_server_free (ts);
}

static gint data_calls;

static GSmtpReply *
count_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        g_atomic_int_inc (&data_calls);
        return g_smtp_reply_new_code (250);
}

static void
setup_count (GSmtpServer *server, gpointer data)
{
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, count_data, NULL, NULL);
}

static Gone job_envelope_gone;

static void
hold_and_watch (GSmtpEnvelope *envelope, gpointer data)
{
        g_object_weak_ref (G_OBJECT (envelope), gone_notify, &job_envelope_gone);
        hold_job (envelope, data);
}

static void
test_server_gone_while_parsing (void)
{
        TestServer *ts = test_server_new (setup_count, NULL);
        g_autoptr(GString) message = padded_message ();
        LineClient *a;

        g_test_summary ("A server freed while a message is parsed frees its sessions at once; the "
                        "job ends on its own references, and nobody is called");
        data_calls = 0;
        hold_begin ();
        gsmtp_parse_set_test_hook (hold_and_watch, NULL);
        a = client_in_data (ts->port);
        client_send_message (a, message->str, message->len);
        hold_wait_started (1);
        test_server_free (ts);
        g_assert_true (line_client_closed (a));
        hold_release ();
        g_assert_true (gone_wait (&job_envelope_gone));
        g_assert_cmpint (g_atomic_int_get (&data_calls), ==, 0);
        line_client_free (a);
}

static void
test_stop_while_parsing (void)
{
        TestServer *ts = test_server_new (NULL, NULL);
        g_autoptr(GString) message = padded_message ();
        LineClient *a;

        g_test_summary ("A server stopped with no grace while a message is parsed: the message was never "
                        "the application's, so it is dropped and its client gets 421 (it will send again), "
                        "never a 250 nobody gave");
        hold_begin ();
        a = client_in_data (ts->port);
        client_send_message (a, message->str, message->len);
        hold_wait_started (1);
        test_server_stop (ts, 0);
        line_client_expect (a, "421 4.3.2");
        hold_release ();
        g_assert_true (test_server_wait_stopped (ts, WAIT_MS));
        g_assert_null (test_server_pop (ts, 100));
        line_client_free (a);
        test_server_free (ts);
}

typedef struct {
        GMutex      lock;
        guint       calls;
        char       *mime_error;
        gboolean    parsed;
} Lazy;

static GSmtpReply *
lazy_data (GSmtpServer *server, GSmtpStage *stage, gpointer data)
{
        Lazy *lazy = data;
        GSmtpEnvelope *env = g_smtp_stage_get_envelope (stage);

        g_mutex_lock (&lazy->lock);
        lazy->calls++;
        lazy->parsed = g_smtp_envelope_get_message (env) != NULL;
        g_free (lazy->mime_error);
        lazy->mime_error = g_strdup (g_smtp_envelope_get_mime_error (env));
        g_mutex_unlock (&lazy->lock);
        return g_smtp_reply_new_code (250);
}

static void
setup_lazy (GSmtpServer *server, gpointer data)
{
        g_object_set (server, "parse-messages", FALSE, NULL);
        g_smtp_server_set_handler (server, GSMTP_STAGE_DATA, lazy_data, data, NULL);
}

static void
test_lazy (gconstpointer data)
{
        gboolean attack = GPOINTER_TO_INT (data);
        Lazy lazy = { 0 };
        TestServer *ts = (g_mutex_init (&lazy.lock), test_server_new (setup_lazy, &lazy));
        g_autoptr(GString) message = attack ? hostile_nested_groups (60000) : g_string_new (multipart_message);
        LineClient *a;

        g_test_summary (attack ? "With parse-messages off, the handler's first call parses, behind the same limits"
                               : "With parse-messages off, the handler's first call parses, not the pool");
        hold_begin ();
        a = client_in_data (ts->port);
        client_send_message (a, message->str, message->len);
        line_client_expect (a, "250 ");
        line_client_free (a);
        g_mutex_lock (&lazy.lock);
        g_assert_cmpuint (lazy.calls, ==, 1);
        g_assert_true (lazy.parsed == !attack);
        g_assert_cmpstr (lazy.mime_error, ==, attack ? "header field larger than 102400 bytes" : NULL);
        g_mutex_unlock (&lazy.lock);
        g_assert_false (hold_is_holding ());    /* the pool never ran */
        hold_release ();
        test_server_free (ts);
        g_free (lazy.mime_error);
        g_mutex_clear (&lazy.lock);
}

/* examples/dump-mail --json: the mime_error field of ../shared/CONTRACT.md */
static void
test_dump_mail_json (void)
{
        const char *builddir = g_getenv ("GSMTP_BUILDDIR") != NULL ? g_getenv ("GSMTP_BUILDDIR") : ".";
        g_autofree char *dump = g_build_filename (builddir, "examples", "dump-mail", NULL);
        const char *argv[] = { dump, "--listen", "127.0.0.1:0", "--domain", "example.org", "--json", NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GInputStream) out_stream = NULL, err_stream = NULL;
        g_autoptr(GDataInputStream) out = NULL, err = NULL;
        g_autoptr(GString) deep = hostile_nested_multiparts (101, FALSE);
        g_autoptr(GString) fine = g_string_new (multipart_message);
        g_autofree char *listening = NULL, *line1 = NULL, *line2 = NULL;
        guint64 port = 0;
        GPid pid;
        int out_fd, err_fd;
        LineClient *a;

        g_test_summary ("dump-mail --json says mime_error: the reason, or null");
        if (!g_file_test (dump, G_FILE_TEST_IS_EXECUTABLE)) {
                g_test_skip ("no examples/dump-mail");
                return;
        }
        g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                  NULL, &out_fd, &err_fd, &error);
        g_assert_no_error (error);
        out_stream = g_unix_input_stream_new (out_fd, TRUE);
        err_stream = g_unix_input_stream_new (err_fd, TRUE);
        out = g_data_input_stream_new (out_stream);
        err = g_data_input_stream_new (err_stream);
        listening = g_data_input_stream_read_line (err, NULL, NULL, &error);
        g_assert_no_error (error);
        g_assert_true (g_str_has_prefix (listening, "listening on 127.0.0.1:"));
        g_assert_true (g_ascii_string_to_unsigned (strrchr (listening, ':') + 1, 10, 1, 65535, &port, NULL));

        a = client_in_data ((guint16) port);
        client_send_message (a, deep->str, deep->len);
        line_client_expect (a, "250 ");
        line_client_chat (a, "MAIL FROM:<a@x.test>", "250 ");
        line_client_chat (a, "RCPT TO:<b@example.org>", "250 ");
        line_client_chat (a, "DATA", "354 ");
        client_send_message (a, fine->str, fine->len);
        line_client_expect (a, "250 ");
        line_client_chat (a, "QUIT", "221 ");
        line_client_free (a);

        line1 = g_data_input_stream_read_line (out, NULL, NULL, &error);
        g_assert_no_error (error);
        g_assert_nonnull (strstr (line1, ",\"mime_error\":\"MIME nesting deeper than 100\""));
        g_assert_nonnull (strstr (line1, "\"subject\":null"));
        line2 = g_data_input_stream_read_line (out, NULL, NULL, &error);
        g_assert_no_error (error);
        g_assert_nonnull (strstr (line2, ",\"mime_error\":null"));
        g_assert_nonnull (strstr (line2, "\"subject\":\"kept\""));
        kill (pid, SIGTERM);
        waitpid (pid, NULL, 0);
        g_spawn_close_pid (pid);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_bug_base ("issue ");
        g_mutex_init (&hold.lock);
        g_cond_init (&hold.cond);
        g_mutex_init (&job_envelope_gone.lock);
        g_cond_init (&job_envelope_gone.cond);
        g_test_add_func ("/message/limits/nested-groups", test_nested_groups);
        g_test_add_func ("/message/limits/empty-parts-10mb", test_empty_parts);
        for (guint i = 0; i < G_N_ELEMENTS (limit_cases); i++) {
                g_autofree char *path = g_strdup_printf ("/message/limits/%s", limit_cases[i].name);

                g_test_add_data_func (path, &limit_cases[i], test_limit);
        }
        g_test_add_func ("/message/limits/property", test_property);
        g_test_add_func ("/message/limits/parameters-property", test_parameters_property);
        g_test_add_func ("/message/parsed-with-trace", test_parsed_with_trace);
        g_test_add_func ("/message/trace-not-decoded", test_trace_not_decoded);
        g_test_add_data_func ("/message/freed/small-on-the-spot", GUINT_TO_POINTER (0), test_freed_where);
        g_test_add_data_func ("/message/freed/900-parts-in-a-worker", GUINT_TO_POINTER (900), test_freed_where);
        g_test_add_func ("/message/freed/queue-bounded", test_free_queue_bounded);
        g_test_add_func ("/message/freed/kept-by-application", test_freed_kept);
        g_test_add_data_func ("/message/trace-written/one-recipient", &trace_cases[0], test_trace_written);
        g_test_add_data_func ("/message/trace-written/two-recipients", &trace_cases[1], test_trace_written);
        g_test_add_data_func ("/message/trace-written/utf8", &trace_cases[2], test_trace_written);
        g_test_add_data_func ("/message/trace-written/encoded-word", &trace_cases[3], test_trace_written);
        for (guint i = 0; i < G_N_ELEMENTS (no_header_cases); i++) {
                g_autofree char *path = g_strdup_printf ("/message/no-header-at-start/%s", no_header_cases[i].name);

                g_test_add_data_func (path, &no_header_cases[i], test_no_header_at_start);
        }
        g_test_add_data_func ("/message/kept/memory", GINT_TO_POINTER (0), test_kept_message);
        g_test_add_data_func ("/message/kept/spilled", GINT_TO_POINTER (KEPT_SPILLED), test_kept_message);
        g_test_add_data_func ("/message/kept/memory-pool", GINT_TO_POINTER (KEPT_POOL), test_kept_message);
        g_test_add_data_func ("/message/kept/spilled-pool", GINT_TO_POINTER (KEPT_SPILLED | KEPT_POOL),
                              test_kept_message);
        g_test_add_func ("/message/pool/off-loop", test_parse_off_loop);
        g_test_add_func ("/message/pool/slow-handler", test_slow_handler);
        g_test_add_func ("/message/pool/server-gone", test_server_gone_while_parsing);
        g_test_add_data_func ("/message/pool/pipelined", NULL, test_pipelined);
        g_test_add_data_func ("/message/pool/pipelined-instant", "instant", test_pipelined);
        g_test_add_func ("/message/pool/stop", test_stop_while_parsing);
        g_test_add_data_func ("/message/lazy/parses", GINT_TO_POINTER (FALSE), test_lazy);
        g_test_add_data_func ("/message/lazy/limits", GINT_TO_POINTER (TRUE), test_lazy);
        g_test_add_func ("/message/dump-mail-json", test_dump_mail_json);
        return g_test_run ();
}

/* test-listener.c — listening and accepting: every listen function serves
 * clients and closes on stop; at the file descriptor limit the server neither
 * spins nor floods the log when accept() fails for want of fds, it serves
 * waiting clients once fds are free, and it counts each session's fds against
 * RLIMIT_NOFILE so that clients past it hear 421 4.7.0 instead of failing.
 * The limit is this process's own (setrlimit), restored after each case. */
#include "config.h"
#include "test-util.h"
#include "gsmtp-listener.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- every listen function ---- */

typedef struct {
        guint16 all_port, reuse_port, socket_port;
        GSocket *own;                   /* (owned): what listen_socket was given */
} Ports;

static void
setup_listeners (GSmtpServer *server, gpointer data)
{
        Ports *p = data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
        g_autoptr(GSocketAddress) bound = NULL, again = NULL, same = NULL;

        g_assert_true (g_smtp_server_listen_all (server, 0, GSMTP_LISTEN_DEFAULT, &p->all_port, &error));
        g_assert_no_error (error);
        /* SO_REUSEPORT: a second socket on the very same port binds too */
        g_assert_true (g_smtp_server_listen (server, any, GSMTP_LISTEN_REUSE_PORT, &bound, &error));
        g_assert_no_error (error);
        p->reuse_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
        same = g_inet_socket_address_new_from_string ("127.0.0.1", p->reuse_port);
        g_assert_true (g_smtp_server_listen (server, same, GSMTP_LISTEN_REUSE_PORT, &again, &error));
        g_assert_no_error (error);
        /* without it, the port is taken */
        g_assert_false (g_smtp_server_listen (server, same, GSMTP_LISTEN_DEFAULT, NULL, &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
        g_clear_error (&error);
        /* a socket bound elsewhere, as systemd hands them over */
        p->own = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
        g_assert_true (g_socket_bind (p->own, any, TRUE, &error) && g_socket_listen (p->own, &error));
        g_clear_object (&bound);
        bound = g_socket_get_local_address (p->own, &error);
        p->socket_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
        g_assert_true (g_smtp_server_listen_socket (server, p->own, GSMTP_LISTEN_DEFAULT, &error));
        g_assert_no_error (error);
}

static gboolean
port_refuses (guint16 port)
{
        g_autoptr(GSocketClient) sc = g_socket_client_new ();
        g_autoptr(GSocketConnection) conn = NULL;
        g_autoptr(GError) error = NULL;

        g_socket_client_set_enable_proxy (sc, FALSE);
        conn = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, &error);
        return conn == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void
test_every_listen_function (void)
{
        Ports p = { 0 };
        TestServer *ts = test_server_new (setup_listeners, &p);
        guint16 ports[] = { ts->port, p.all_port, p.reuse_port, p.reuse_port, p.socket_port };
        g_autoptr(GError) error = NULL;

        g_test_summary ("listen_inet, listen_all, listen with REUSE_PORT (twice on one port) and "
                        "listen_socket all serve clients; stopping closes every one of them");
        for (guint i = 0; i < G_N_ELEMENTS (ports); i++) {
                LineClient *lc = line_client_new (ports[i]);

                line_client_expect (lc, "220 ");
                line_client_chat (lc, "QUIT", "221 ");
                line_client_free (lc);
        }
        test_server_stop (ts, 0);
        g_assert_true (test_server_wait_stopped (ts, 10000));
        for (guint i = 0; i < G_N_ELEMENTS (ports); i++)
                g_assert_true (port_refuses (ports[i]));
        test_server_free (ts);
        g_clear_object (&p.own);
}

/* ---- what the server thread logs, and how much CPU it burns ---- */

static GMutex log_lock;
static GCond log_cond;
static guint n_accept_failures;         /* lines about accept() failing (ours or GIO's) */
static guint n_fd_limit;                /* lines about refusing at the fd limit */

static void
count_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
        g_mutex_lock (&log_lock);
        if (strstr (message, "accept") != NULL)
                n_accept_failures++;
        if (strstr (message, "file descriptor limit") != NULL)
                n_fd_limit++;
        g_cond_broadcast (&log_cond);
        g_mutex_unlock (&log_lock);
        if (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_MESSAGE))
                g_printerr ("# logged (%s): %s\n", domain, message);
}

/* Waits up to 10 s for a line counted in @counter. */
static gboolean
log_wait (guint *counter)
{
        gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
        gboolean seen;

        g_mutex_lock (&log_lock);
        while (*counter == 0 && g_cond_wait_until (&log_cond, &log_lock, end))
                ;
        seen = *counter > 0;
        g_mutex_unlock (&log_lock);
        return seen;
}

static guint
log_count (guint *counter)
{
        guint n;

        g_mutex_lock (&log_lock);
        n = *counter;
        g_mutex_unlock (&log_lock);
        return n;
}

static void
log_reset (void)
{
        g_mutex_lock (&log_lock);
        n_accept_failures = n_fd_limit = 0;
        g_mutex_unlock (&log_lock);
}

typedef struct {
        clockid_t clock;                /* the server thread's CPU clock */
        guint64   spill_threshold;
} Setup;

static void
setup_server (GSmtpServer *server, gpointer data)
{
        Setup *setup = data;

        /* runs in the server's thread */
        g_assert_cmpint (pthread_getcpuclockid (pthread_self (), &setup->clock), ==, 0);
        if (setup->spill_threshold != 0)
                g_object_set (server, "spill-threshold", setup->spill_threshold, NULL);
}

static double
thread_cpu_seconds (clockid_t clock)
{
        struct timespec ts;

        g_assert_cmpint (clock_gettime (clock, &ts), ==, 0);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static gboolean
lower_fd_limit (rlim_t soft, struct rlimit *saved)
{
        struct rlimit rl;

        g_assert_cmpint (getrlimit (RLIMIT_NOFILE, saved), ==, 0);
        rl = *saved;
        rl.rlim_cur = soft;
        return setrlimit (RLIMIT_NOFILE, &rl) == 0;
}

/* Valgrind keeps RLIMIT_NOFILE itself: the kernel's accept() succeeds, and
 * valgrind closes the new fd and says EMFILE, so the client is dropped where
 * the kernel would have left it waiting in the backlog. */
static gboolean
running_on_valgrind (void)
{
        const char *preload = g_getenv ("LD_PRELOAD");

        return preload != NULL && strstr (preload, "vgpreload") != NULL;
}

static void
restore_fd_limit (const struct rlimit *saved)
{
        g_assert_cmpint (setrlimit (RLIMIT_NOFILE, saved), ==, 0);
}

/* ---- accept() fails with EMFILE: pause, do not spin ---- */

static void
test_emfile_pauses (void)
{
        Setup setup = { 0 };
        TestServer *ts;
        g_autoptr(GSocket) client = NULL;
        g_autoptr(GSocketAddress) address = NULL;
        g_autoptr(GArray) filler = g_array_new (FALSE, FALSE, sizeof (int));
        g_autoptr(GError) error = NULL;
        struct rlimit saved;
        double cpu0, cpu1;
        char banner[128];
        gssize n;
        int fd;

        g_test_summary ("When accept() fails with EMFILE the server pauses accepting (it does not "
                        "retry at once forever), logs a few lines, not one per failure, and serves "
                        "the waiting client once file descriptors are free again");
        g_test_bug ("10");
        log_reset ();
        ts = test_server_new (setup_server, &setup);
        address = g_inet_socket_address_new_from_string ("127.0.0.1", ts->port);
        /* the client's socket exists before the fds run out: connecting takes none */
        client = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
        g_assert_no_error (error);
        g_socket_set_timeout (client, 20);
        if (!lower_fd_limit (256, &saved)) {
                g_test_skip ("cannot lower RLIMIT_NOFILE here");
                test_server_free (ts);
                return;
        }
        /* every fd this process may still open, taken */
        while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
                g_array_append_val (filler, fd);
        g_assert_cmpint (errno, ==, EMFILE);
        g_assert_true (g_socket_connect (client, address, NULL, &error));
        g_assert_no_error (error);

        /* the server tried and failed: it said so */
        g_assert_true (log_wait (&n_accept_failures));

        /* The measure is CPU over a stretch of wall time, so this one wait is
         * the test: a server that retries at once burns the whole second. */
        cpu0 = thread_cpu_seconds (setup.clock);
        g_usleep (G_USEC_PER_SEC);
        cpu1 = thread_cpu_seconds (setup.clock);
        g_test_message ("server thread CPU over 1 s at EMFILE: %.3f s; log lines: %u",
                        cpu1 - cpu0, log_count (&n_accept_failures));
        g_assert_cmpfloat (cpu1 - cpu0, <, 0.25);
        g_assert_cmpuint (log_count (&n_accept_failures), <=, 3);

        /* fds come back: the client that waited in the backlog is served */
        for (guint i = 0; i < filler->len; i++)
                close (g_array_index (filler, int, i));
        restore_fd_limit (&saved);
        n = g_socket_receive (client, banner, sizeof banner - 1, NULL, &error);
        g_assert_no_error (error);
        if (n == 0 && running_on_valgrind ()) {
                LineClient *lc = line_client_new (ts->port);

                g_test_message ("under valgrind the waiting client was dropped; a new one is served");
                line_client_expect (lc, "220 ");
                line_client_free (lc);
        } else {
                g_assert_cmpint (n, >, 4);
                banner[n] = '\0';
                g_assert_true (g_str_has_prefix (banner, "220 "));
        }
        g_socket_close (client, NULL);
        test_server_free (ts);
        g_assert_cmpuint (log_count (&n_accept_failures), <=, 3);
}

/* ---- sessions counted against the fd limit: 421 before EMFILE ---- */

/* Holds sessions in DATA, each past the spill threshold (so each holds a spill
 * file), until the server refuses one; then, told to, ends them all and sends
 * one more message. */
static const char client_script[] =
        "import socket, sys\n"
        "port, most = int(sys.argv[1]), int(sys.argv[2])\n"
        "def session():\n"
        "    s = socket.create_connection(('127.0.0.1', port), timeout=20)\n"
        "    return s, s.makefile('rb')\n"
        "def reply(f):\n"
        "    while True:\n"
        "        line = f.readline()\n"
        "        if line[3:4] != b'-':\n"
        "            return line.decode().strip()\n"
        "def chat(s, f, line):\n"
        "    s.sendall(line + b'\\r\\n')\n"
        "    return reply(f)\n"
        "sys.stdin.readline()\n"
        "held, refused = [], 'none'\n"
        "for i in range(most):\n"
        "    s, f = session()\n"
        "    banner = reply(f)\n"
        "    if not banner.startswith('220'):\n"
        "        refused = banner\n"
        "        s.close()\n"
        "        break\n"
        "    for c in (b'EHLO c.test', b'MAIL FROM:<a@c.test>', b'RCPT TO:<b@example.org>', b'DATA'):\n"
        "        chat(s, f, c)\n"
        "    s.sendall(b'Subject: held\\r\\n\\r\\n' + (b'x' * 78 + b'\\r\\n') * 50)\n"
        "    held.append((s, f))\n"
        "print('held', len(held), flush=True)\n"
        "print('refused', refused, flush=True)\n"
        "sys.stdin.readline()\n"
        "ok = 0\n"
        "for s, f in held:\n"
        "    if chat(s, f, b'.').startswith('250'):\n"
        "        ok += 1\n"
        "    chat(s, f, b'QUIT')\n"
        "    s.close()\n"
        "print('delivered', ok, flush=True)\n"
        "s, f = session()\n"
        "reply(f)\n"
        "for c in (b'EHLO c.test', b'MAIL FROM:<a@c.test>', b'RCPT TO:<b@example.org>', b'DATA'):\n"
        "    chat(s, f, c)\n"
        "print('after', chat(s, f, b'Subject: after\\r\\n\\r\\nbody\\r\\n.'), flush=True)\n"
        "chat(s, f, b'QUIT')\n";

static char *
read_line (GDataInputStream *in)
{
        g_autoptr(GError) error = NULL;
        char *line = g_data_input_stream_read_line (in, NULL, NULL, &error);

        g_assert_no_error (error);
        g_assert_nonnull (line);
        return line;
}

static void
test_fd_accounting (void)
{
        g_autofree char *python = test_find_program ("python3");
        Setup setup = { .spill_threshold = 1024 };
        TestServer *ts;
        g_autoptr(GSubprocess) proc = NULL;
        g_autoptr(GDataInputStream) out = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *port = NULL, *most = NULL;
        g_autofree char *held = NULL, *refused = NULL, *delivered = NULL, *after = NULL;
        GOutputStream *in;
        struct rlimit saved;
        guint limit, n_messages = 0;
        GSmtpEnvelope *env;

        g_test_summary ("Sessions are counted against RLIMIT_NOFILE (socket, spill file, its copy "
                        "for GMime): with a low limit, clients past what it has room for get "
                        "421 4.7.0 while sessions hold spill files, accept() never fails, and once "
                        "the sessions end new clients are served");
        g_test_bug ("10");
        if (python == NULL) {
                g_test_skip ("python3 not installed");
                return;
        }
        log_reset ();
        ts = test_server_new (setup_server, &setup);
        port = g_strdup_printf ("%u", ts->port);
        /* started before the limit is lowered: the clients' fds are not ours */
        most = g_strdup_printf ("%u", 200);
        proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                                 python, "-c", client_script, port, most, NULL);
        g_assert_no_error (error);
        in = g_subprocess_get_stdin_pipe (proc);
        out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
        if (!lower_fd_limit (160, &saved)) {
                g_test_skip ("cannot lower RLIMIT_NOFILE here");
                g_subprocess_force_exit (proc);
                test_server_free (ts);
                return;
        }
        limit = gsmtp_listener_get_fd_session_limit ();
        g_test_message ("RLIMIT_NOFILE 160 leaves room for %u sessions", limit);
        g_assert_cmpuint (limit, <, 100);

        g_assert_true (g_output_stream_write_all (in, "go\n", 3, NULL, NULL, &error));
        held = read_line (out);
        refused = read_line (out);
        g_test_message ("%s; %s", held, refused);
        g_assert_cmpstr (refused, ==, "refused 421 4.7.0 Too many connections, try again later");
        g_assert_true (g_str_has_prefix (held, "held "));
        g_assert_cmpuint (g_ascii_strtoull (held + 5, NULL, 10), ==, limit);
        g_assert_cmpuint (log_count (&n_accept_failures), ==, 0);
        g_assert_cmpuint (log_count (&n_fd_limit), ==, 1);

        /* the held sessions end their messages; then a new client is served */
        g_assert_true (g_output_stream_write_all (in, "end\n", 4, NULL, NULL, &error));
        delivered = read_line (out);
        g_assert_true (g_str_has_prefix (delivered, "delivered "));
        g_assert_cmpstr (delivered + strlen ("delivered "), ==, held + strlen ("held "));
        after = read_line (out);
        g_assert_true (g_str_has_prefix (after, "after 250 "));
        g_assert_true (g_subprocess_wait_check (proc, NULL, &error));
        g_assert_no_error (error);
        /* the messages reached the application, spill files and all */
        while ((env = test_server_pop (ts, 0)) != NULL) {
                n_messages++;
                g_object_unref (env);
        }
        g_assert_cmpuint (n_messages, ==, limit + 1);
        restore_fd_limit (&saved);
        test_server_free (ts);
        g_assert_cmpuint (log_count (&n_accept_failures), ==, 0);
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        /* the server's warnings are what these tests count: not fatal here */
        g_log_set_always_fatal (G_LOG_LEVEL_ERROR);
        g_log_set_handler ("gsmtp", G_LOG_LEVEL_MASK, count_log, NULL);
        g_log_set_handler ("GLib-GIO", G_LOG_LEVEL_MASK, count_log, NULL);
        g_test_add_func ("/listener/every-listen-function", test_every_listen_function);
        g_test_add_func ("/listener/emfile-pauses-accepting", test_emfile_pauses);
        g_test_add_func ("/listener/fds-counted-per-session", test_fd_accounting);
        return g_test_run ();
}

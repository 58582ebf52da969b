/* gsmtp-listener.c — the listening sockets, and accepting from them.
 * Owns: binding (a GSocketListener that never accepts does GIO's dual-stack
 * work; its "event" signal hands over each socket it made), SO_REUSEPORT,
 * accepting without blocking from the server's poller, and what to do when
 * accept() fails for want of file descriptors or memory: stop accepting for a
 * while (10 ms, doubling up to 1 s), log once as it begins and then once a
 * minute at most, try again.  (GSocketService retries at once, forever: 100 %
 * CPU and a warning a try.)  Also: how many sessions RLIMIT_NOFILE has room
 * for, so that clients past it get 421 while there are fds left to say it.
 * Not: what becomes of a connection (gsmtp-server.c, gsmtp-connection.c). */
#define _GNU_SOURCE             /* accept4() */
#include "config.h"
#include "gsmtp-listener.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Accept queue: a burst of clients is accepted and answered (421 if need be)
 * rather than left waiting silently in the kernel's backlog. */
#define LISTEN_BACKLOG 1024
/* Clients accepted in one go before the other sources get a turn. */
#define ACCEPT_BATCH 64
/* The pause after accept() failed for want of resources: short, so clients
 * wait little once fds are free; doubling, so a lasting shortage costs one
 * failed accept() a second. */
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000
/* While a shortage lasts, one log line per minute at most. */
#define LOG_INTERVAL (60 * G_USEC_PER_SEC)
/* The file descriptors a session holds: its socket; and while it transfers a
 * message, also the spill file of a large one and the duplicate of it that
 * GMime reads from while the message is parsed (gsmtp-envelope.c).  TLS and
 * the poller add none.  Idle sessions, the many, cost one. */
#define FDS_PER_SESSION  1
#define FDS_PER_TRANSFER 3

typedef struct {
        GSmtpListener   *listener;      /* (unowned): owns this */
        GSocket         *socket;        /* (owned) */
        GSmtpListenFlags flags;
        GSmtpWatch      *watch;         /* (owned) (nullable): NULL once closed */
} ListenSocket;

struct _GSmtpListener {
        gatomicrefcount  ref;           /* an accept loop holds one: the server may go meanwhile */
        GSmtpPoller     *poller;        /* (unowned): the server's, which outlives this */
        GSmtpAcceptFunc  func;
        gpointer         data;
        GSocketListener *binder;        /* (owned) (nullable): binds for us, never accepts */
        GPtrArray       *sockets;       /* (owned) (element-type ListenSocket) */
        GPtrArray       *just_bound;    /* (owned) (element-type GSocket): from the binder's "event" */
        gboolean         closed;

        GSource         *pause;         /* (owned) (nullable): accepting resumes when it fires */
        guint            pause_ms;      /* the last pause; doubles while accept() keeps failing */
        gint64           short_since;   /* monotonic µs: when accept() began to fail; 0: it works */
        guint            n_failed;      /* failed accepts since the last log line */
        gint64           logged;        /* monotonic µs of the last line about the shortage */
        gint64           fd_limit_logged; /* the same for refusals at the fd limit */
};

static void listener_accept (ListenSocket *ls);

static GSmtpListener *
listener_ref (GSmtpListener *self)
{
        g_atomic_ref_count_inc (&self->ref);
        return self;
}

static void
listen_socket_free (gpointer data)
{
        ListenSocket *ls = data;

        g_clear_pointer (&ls->watch, gsmtp_watch_remove);
        g_object_unref (ls->socket);
        g_free (ls);
}

static void
listener_unref (GSmtpListener *self)
{
        if (!g_atomic_ref_count_dec (&self->ref))
                return;
        g_ptr_array_unref (self->sockets);
        g_ptr_array_unref (self->just_bound);
        g_free (self);
}

static void
listener_bound (GSocketListener *binder, GSocketListenerEvent event, GSocket *socket, gpointer data)
{
        GSmtpListener *self = data;

        if (event == G_SOCKET_LISTENER_LISTENED)
                g_ptr_array_add (self->just_bound, g_object_ref (socket));
}

GSmtpListener *
gsmtp_listener_new (GSmtpPoller *poller, GSmtpAcceptFunc func, gpointer data)
{
        GSmtpListener *self = g_new0 (GSmtpListener, 1);

        g_atomic_ref_count_init (&self->ref);
        self->poller = poller;
        self->func = func;
        self->data = data;
        self->sockets = g_ptr_array_new_with_free_func (listen_socket_free);
        self->just_bound = g_ptr_array_new_with_free_func (g_object_unref);
        self->pause_ms = BACKOFF_MIN_MS;
        return self;
}

static void
listener_cancel_pause (GSmtpListener *self)
{
        if (self->pause != NULL) {
                g_source_destroy (self->pause);
                g_clear_pointer (&self->pause, g_source_unref);
        }
}

/* Stops accepting and closes every listening socket; no callback after this. */
void
gsmtp_listener_close (GSmtpListener *self)
{
        if (self->closed)
                return;
        self->closed = TRUE;
        listener_cancel_pause (self);
        for (guint i = 0; i < self->sockets->len; i++) {
                ListenSocket *ls = self->sockets->pdata[i];

                g_clear_pointer (&ls->watch, gsmtp_watch_remove);
                g_socket_close (ls->socket, NULL);
        }
        if (self->binder != NULL) {
                g_signal_handlers_disconnect_by_data (self->binder, self);
                g_socket_listener_close (self->binder);
                g_clear_object (&self->binder);
        }
}

void
gsmtp_listener_free (GSmtpListener *self)
{
        if (self == NULL)
                return;
        gsmtp_listener_close (self);
        listener_unref (self);
}

/* ---- accepting ----------------------------------------------------------------- */

static void
listener_watch_ready (gpointer data, GIOCondition condition)
{
        ListenSocket *ls = data;
        GSmtpListener *self = listener_ref (ls->listener);

        listener_accept (ls);
        listener_unref (self);
}

static gboolean
listener_resume (gpointer data)
{
        GSmtpListener *self = listener_ref (data);

        g_clear_pointer (&self->pause, g_source_unref);
        /* The poller is edge-triggered: clients that came during the pause
         * raised no new edge, so try every socket now. */
        for (guint i = 0; i < self->sockets->len && !self->closed && self->pause == NULL; i++)
                listener_accept (self->sockets->pdata[i]);
        listener_unref (self);
        return G_SOURCE_REMOVE;
}

/* accept() failed for want of something the process lacks (fds, memory):
 * pending clients stay in the backlog until the pause is over. */
static void
listener_pause (GSmtpListener *self, int err)
{
        gint64 now = g_get_monotonic_time ();

        self->n_failed++;
        if (self->short_since == 0) {
                self->short_since = now;
                self->pause_ms = BACKOFF_MIN_MS;
                self->logged = now;
                self->n_failed = 0;
                g_warning ("gsmtp: cannot accept connections: %s; pausing (clients wait in the backlog)",
                           g_strerror (err));
        } else {
                self->pause_ms = MIN (self->pause_ms * 2, BACKOFF_MAX_MS);
                if (now - self->logged >= LOG_INTERVAL) {
                        g_warning ("gsmtp: still cannot accept connections: %s (%u attempts in %" G_GINT64_FORMAT " s)",
                                   g_strerror (err), self->n_failed, (now - self->logged) / G_USEC_PER_SEC);
                        self->logged = now;
                        self->n_failed = 0;
                }
        }
        for (guint i = 0; i < self->sockets->len; i++) {
                ListenSocket *ls = self->sockets->pdata[i];

                if (ls->watch != NULL)
                        gsmtp_watch_set (ls->watch, 0);
        }
        self->pause = g_timeout_source_new (self->pause_ms);
        g_source_set_callback (self->pause, listener_resume, self, NULL);
        g_source_attach (self->pause, gsmtp_poller_get_context (self->poller));
}

static void
listener_accepted (GSmtpListener *self)
{
        if (self->short_since == 0)
                return;
        g_info ("gsmtp: accepting connections again after %.1f s",
                (g_get_monotonic_time () - self->short_since) / (double) G_USEC_PER_SEC);
        self->short_since = 0;
        self->pause_ms = BACKOFF_MIN_MS;
}

/* accept(2)'s errors that belong to the one connection it dequeued: the
 * next may be fine (Linux passes on pending network errors this way). */
static gboolean
accept_error_is_transient (int err)
{
        switch (err) {
        case ECONNABORTED:
        case EPROTO:
        case EPERM:             /* a firewall rule */
        case ENETDOWN:
        case ENETUNREACH:
        case EHOSTUNREACH:
        case ENOPROTOOPT:
        case EOPNOTSUPP:
#ifdef EHOSTDOWN
        case EHOSTDOWN:
#endif
#ifdef ENONET
        case ENONET:
#endif
                return TRUE;
        default:
                return FALSE;
        }
}

static int
listener_accept_fd (int fd)
{
#ifdef SOCK_CLOEXEC
        return accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
        int client = accept (fd, NULL, NULL);

        if (client >= 0)
                fcntl (client, F_SETFD, FD_CLOEXEC);
        return client;
#endif
}

static void
listener_hand_over (ListenSocket *ls, int fd)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);
        g_autoptr(GSocketConnection) connection = NULL;

        if (socket == NULL) {
                g_debug ("gsmtp: dropping an accepted connection: %s", error->message);
                close (fd);
                return;
        }
        connection = g_socket_connection_factory_create_connection (socket);
        ls->listener->func (connection, ls->flags, ls->listener->data);
}

/* Accepts until the backlog is empty, a batch is done, or accept() fails for
 * want of resources.  The caller holds a reference: the callback may free the
 * server, which closes the listener. */
static void
listener_accept (ListenSocket *ls)
{
        GSmtpListener *self = ls->listener;

        for (guint n = 0; !self->closed && self->pause == NULL && ls->watch != NULL; n++) {
                int fd, err;

                if (n == ACCEPT_BATCH) {
                        /* fairness: the sessions run, then this socket again */
                        gsmtp_watch_again (ls->watch);
                        return;
                }
                fd = listener_accept_fd (g_socket_get_fd (ls->socket));
                if (fd >= 0) {
                        listener_accepted (self);
                        listener_hand_over (ls, fd);
                        continue;
                }
                err = errno;
                if (err == EINTR || accept_error_is_transient (err))
                        continue;
                if (err == EAGAIN || err == EWOULDBLOCK) {
                        gsmtp_watch_set (ls->watch, G_IO_IN);
                        return;
                }
                /* EMFILE, ENFILE, ENOBUFS, ENOMEM, and whatever else would
                 * fail again at once if retried at once */
                listener_pause (self, err);
                return;
        }
}

/* ---- sockets ---------------------------------------------------------------------- */

static void
listener_add (GSmtpListener *self, GSocket *socket, GSmtpListenFlags flags)
{
        ListenSocket *ls = g_new0 (ListenSocket, 1);

        ls->listener = self;
        ls->socket = g_object_ref (socket);
        ls->flags = flags;
        g_ptr_array_add (self->sockets, ls);
        ls->watch = gsmtp_poller_watch (self->poller, g_socket_get_fd (socket), listener_watch_ready, ls);
        if (self->pause == NULL)
                gsmtp_watch_set (ls->watch, G_IO_IN);
}

static gboolean
listener_check (GSmtpListener *self, GError **error)
{
        if (self->closed) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The listener was closed");
                return FALSE;
        }
        if (self->binder == NULL) {
                self->binder = g_socket_listener_new ();
                g_socket_listener_set_backlog (self->binder, LISTEN_BACKLOG);
                g_signal_connect (self->binder, "event", G_CALLBACK (listener_bound), self);
        }
        return TRUE;
}

/* Takes the sockets the binder made in one call: all of them when the call
 * succeeded; none when it failed (a failed listen call leaves nothing open). */
static gboolean
listener_take_bound (GSmtpListener *self, gboolean ok, GSmtpListenFlags flags)
{
        for (guint i = 0; i < self->just_bound->len; i++) {
                if (ok)
                        listener_add (self, self->just_bound->pdata[i], flags);
                else
                        g_socket_close (self->just_bound->pdata[i], NULL);
        }
        g_ptr_array_set_size (self->just_bound, 0);
        return ok;
}

/* g_socket_bind() resets SO_REUSEPORT on stream sockets; bind(2) does not. */
static gboolean
listener_bind_keeping_options (GSocket *socket, GSocketAddress *address, GError **error)
{
        struct sockaddr_storage native;
        gssize len = g_socket_address_get_native_size (address);

        if (len < 0 || !g_socket_address_to_native (address, &native, sizeof native, error))
                return FALSE;
        if (bind (g_socket_get_fd (socket), (struct sockaddr *) &native, len) != 0) {
                int err = errno;

                g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                             "Error binding to address: %s", g_strerror (err));
                return FALSE;
        }
        return TRUE;
}

gboolean
gsmtp_listener_add_address (GSmtpListener *self, GSocketAddress *address, GSmtpListenFlags flags,
                            GSocketAddress **out_address, GError **error)
{
        g_autoptr(GSocket) socket = NULL;

        if (!listener_check (self, error))
                return FALSE;
        if (!(flags & GSMTP_LISTEN_REUSE_PORT))
                return listener_take_bound (self, g_socket_listener_add_address (self->binder, address,
                                                                                 G_SOCKET_TYPE_STREAM,
                                                                                 G_SOCKET_PROTOCOL_TCP, NULL,
                                                                                 out_address, error),
                                            flags);
        /* GSocketListener cannot set SO_REUSEPORT: bind the socket here */
        socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                               G_SOCKET_PROTOCOL_TCP, error);
        if (socket == NULL ||
            !g_socket_set_option (socket, SOL_SOCKET, SO_REUSEADDR, 1, error) ||
            !g_socket_set_option (socket, SOL_SOCKET, SO_REUSEPORT, 1, error) ||
            !listener_bind_keeping_options (socket, address, error))
                return FALSE;
        g_socket_set_listen_backlog (socket, LISTEN_BACKLOG);
        if (!g_socket_listen (socket, error))
                return FALSE;
        if (out_address != NULL && (*out_address = g_socket_get_local_address (socket, error)) == NULL)
                return FALSE;
        listener_add (self, socket, flags);
        return TRUE;
}

/* Every address, IPv6 and IPv4, as GIO does it (one dual-stack socket, or two). */
gboolean
gsmtp_listener_add_all (GSmtpListener *self, guint16 port, GSmtpListenFlags flags, guint16 *out_port,
                        GError **error)
{
        gboolean ok;

        if (!listener_check (self, error))
                return FALSE;
        if (port == 0) {
                port = g_socket_listener_add_any_inet_port (self->binder, NULL, error);
                ok = port != 0;
        } else {
                ok = g_socket_listener_add_inet_port (self->binder, port, NULL, error);
        }
        if (ok && out_port != NULL)
                *out_port = port;
        return listener_take_bound (self, ok, flags);
}

/* A socket already bound and listening (systemd's); closed with the others. */
gboolean
gsmtp_listener_add_socket (GSmtpListener *self, GSocket *socket, GSmtpListenFlags flags, GError **error)
{
        if (!listener_check (self, error))
                return FALSE;
        listener_add (self, socket, flags);
        return TRUE;
}

/* ---- file descriptors --------------------------------------------------------------- */

/* The fds RLIMIT_NOFILE leaves for sessions, after a reserve for everything
 * else: stdio, the listening sockets, the poller, GLib's wakeup fds, a refused
 * client's socket while it hears 421, and the application's own files. */
static guint64
listener_fd_budget (void)
{
        struct rlimit rl;
        guint64 cur, reserve;

        if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
                return G_MAXUINT;
        cur = rl.rlim_cur;
        reserve = 32 + cur / 16;
        if (cur <= reserve + FDS_PER_TRANSFER)
                return FDS_PER_TRANSFER;
        return cur - reserve;
}

/* How many sessions the fd limit has room for when all of them transfer a
 * message at once. */
guint
gsmtp_listener_get_fd_session_limit (void)
{
        return (guint) MIN (listener_fd_budget () / FDS_PER_TRANSFER, (guint64) G_MAXUINT);
}

/* Whether one more session fits in the fd limit beside @n_sessions, of which
 * @n_transfers are transferring a message, with room for it to transfer one
 * too; when it does not, says so in the log, once a minute at most. */
gboolean
gsmtp_listener_fds_allow (GSmtpListener *self, guint n_sessions, guint n_transfers)
{
        guint64 in_use = (guint64) (n_sessions - MIN (n_transfers, n_sessions)) * FDS_PER_SESSION +
                         (guint64) MIN (n_transfers, n_sessions) * FDS_PER_TRANSFER;
        gint64 now;

        /* one getrlimit() for each accept, the log's figure only when it logs */
        if (in_use + FDS_PER_TRANSFER <= listener_fd_budget ())
                return TRUE;
        now = g_get_monotonic_time ();
        if (self->fd_limit_logged == 0 || now - self->fd_limit_logged >= LOG_INTERVAL) {
                self->fd_limit_logged = now;
                g_warning ("gsmtp: %u sessions (%u of them receiving a message) fill what the file "
                           "descriptor limit (ulimit -n) leaves room for (%u sessions that all receive "
                           "one); new clients get 421 4.7.0", n_sessions, n_transfers,
                           gsmtp_listener_get_fd_session_limit ());
        }
        return FALSE;
}

/* gsmtp-connection.c — one client socket: reads, writes, timeouts, TLS upgrade.
 * Owns: moving bytes between the socket and the session, without blocking the
 * main loop and without a buffer per idle connection (reads go to the server's
 * shared buffer when the socket is readable); the idle, write and DATA timers;
 * STARTTLS and implicit TLS handshakes.
 * Not: the protocol (gsmtp-session.c), accepting (gsmtp-server.c).
 * RFC 5321 4.5.3.2 (timeouts), RFC 3207, RFC 8314. */
#include "config.h"
#include "gsmtp-connection.h"
#include "gsmtp-session.h"
#include "gsmtp-server-private.h"
#include "gsmtp-poller.h"

#include <errno.h>
#include <sys/socket.h>

/* Reads handled in one go before other connections get a turn. */
#define PUMP_READS_MAX 8

typedef enum {
        WAIT_NONE,
        WAIT_READ,              /* for the client's bytes: the idle timer runs */
        WAIT_WRITE,             /* for room to write: the same timer, as a write timeout */
        WAIT_HANDSHAKE,
        WAIT_APPLICATION,       /* a deferred stage: no timer, the application decides */
} WaitKind;

struct _GSmtpConnection {
        gatomicrefcount    ref;
        GSmtpServer       *server;      /* (unowned): the server owns the connection */
        GSocketConnection *socket;      /* (owned) */
        GIOStream         *stream;      /* (owned): @socket, or the TLS connection over it */
        GSmtpSession      *session;     /* (owned) */
        GSmtpPeer         *peer;        /* (owned) */
        gboolean           implicit_tls;

        GBytes            *output;      /* (owned) (nullable): being written */
        gsize              output_off;

        WaitKind           wait;
        GSource           *io_source;   /* (owned) (nullable): TLS streams' pollable source */
        GSmtpWatch        *watch;       /* (owned) (nullable): plain sockets, in the server's poller */
        int                fd;          /* plain sockets, until TLS starts; -1 then */
        gboolean           maybe_unread; /* bytes may wait in the socket: the poller is
                                          * edge-triggered, so read before waiting */
        gboolean           peer_hup;    /* the peer shut down its side: read to the end */
        gint64             deadline;    /* monotonic µs of the idle / write / DATA / handshake
                                         * timeout; 0: none.  The server's one-second tick
                                         * checks it, so no connection owns a timer source */
        gint64             data_deadline; /* monotonic; 0 outside DATA */
        GCancellable      *cancellable; /* (owned): the handshake */

        gboolean           in_pump;
        gboolean           pump_again;
        gboolean           closed;
};

static void connection_pump (GSmtpConnection *self);

GSmtpConnection *
gsmtp_connection_ref (GSmtpConnection *self)
{
        g_atomic_ref_count_inc (&self->ref);
        return self;
}

void
gsmtp_connection_unref (GSmtpConnection *self)
{
        if (!g_atomic_ref_count_dec (&self->ref))
                return;
        if (self->io_source != NULL) {
                g_source_destroy (self->io_source);
                g_source_unref (self->io_source);
        }
        g_clear_pointer (&self->watch, gsmtp_watch_remove);
        gsmtp_session_free (self->session);
        g_clear_pointer (&self->output, g_bytes_unref);
        g_object_unref (self->cancellable);
        g_object_unref (self->stream);
        g_object_unref (self->socket);
        g_object_unref (self->peer);
        g_free (self);
}

static void
connection_clear_io_source (GSmtpConnection *self)
{
        if (self->watch != NULL)
                gsmtp_watch_set (self->watch, 0);
        if (self->io_source != NULL) {
                g_source_destroy (self->io_source);
                g_clear_pointer (&self->io_source, g_source_unref);
        }
}

static void
connection_close (GSmtpConnection *self)
{
        GSocket *socket;

        if (self->closed)
                return;
        self->closed = TRUE;
        connection_clear_io_source (self);
        g_clear_pointer (&self->watch, gsmtp_watch_remove);
        self->deadline = 0;
        g_cancellable_cancel (self->cancellable);
        /* Close the socket itself: a TLS close_notify could block on a client
         * that no longer reads. */
        socket = g_socket_connection_get_socket (self->socket);
        g_socket_close (socket, NULL);
        gsmtp_session_eof (self->session);
        gsmtp_server_connection_closed (self->server, self);    /* drops the server's ref */
}

/* Sets the deadline the server's tick checks: no syscall, no allocation, no
 * source per connection. */
static void
connection_arm_timer (GSmtpConnection *self, WaitKind wait)
{
        gint64 deadline;
        guint idle = gsmtp_server_get_idle_timeout (self->server);

        self->wait = wait;
        if (wait == WAIT_APPLICATION || wait == WAIT_NONE || idle == 0) {
                self->deadline = 0;
                return;
        }
        deadline = g_get_monotonic_time () + (gint64) idle * G_USEC_PER_SEC;
        /* The DATA phase has an overall cap too: a slow but live upload runs on,
         * a trickle that would hold the slot forever does not. */
        if (self->data_deadline != 0 && self->data_deadline < deadline)
                deadline = self->data_deadline;
        self->deadline = deadline;
}

/* Called by the server's tick for every connection. */
void
gsmtp_connection_check_timeout (GSmtpConnection *self, gint64 now)
{
        if (self->closed || self->deadline == 0 || now < self->deadline)
                return;
        self->deadline = 0;
        switch (self->wait) {
        case WAIT_READ:
                connection_clear_io_source (self);
                gsmtp_session_timeout (self->session);
                self->wait = WAIT_NONE;
                connection_pump (self);
                break;
        case WAIT_WRITE:
        case WAIT_HANDSHAKE:
                /* nobody to say 421 to */
                connection_close (self);
                break;
        case WAIT_NONE:
        case WAIT_APPLICATION:
        default:
                break;
        }
}

static gboolean
connection_io_ready (GObject *stream, gpointer data)
{
        GSmtpConnection *self = data;

        g_clear_pointer (&self->io_source, g_source_unref);
        self->wait = WAIT_NONE;
        connection_pump (self);
        return G_SOURCE_REMOVE;
}

static void
connection_wait (GSmtpConnection *self, WaitKind wait)
{
        GSource *source;

        if (self->fd >= 0) {
                /* plain TCP: the server's poller, armed once */
                gsmtp_watch_set (self->watch, wait == WAIT_READ ? G_IO_IN : G_IO_OUT);
                connection_arm_timer (self, wait);
                return;
        }
        connection_clear_io_source (self);
        if (wait == WAIT_READ)
                source = g_pollable_input_stream_create_source (
                        G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (self->stream)), NULL);
        else
                source = g_pollable_output_stream_create_source (
                        G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (self->stream)), NULL);
        g_source_set_callback (source, (GSourceFunc) (GCallback) connection_io_ready, self, NULL);
        g_source_attach (source, g_main_context_get_thread_default ());
        self->io_source = source;
        connection_arm_timer (self, wait);
}

static void
connection_fd_ready (gpointer data, GIOCondition condition)
{
        GSmtpConnection *self = data;

        /* edge-triggered: whatever the event, bytes may be waiting now; after the
         * peer's FIN, the end of stream waits behind them with no edge of its own */
        self->maybe_unread = TRUE;
        if (condition & G_IO_HUP)
                self->peer_hup = TRUE;
        if (self->wait == WAIT_APPLICATION)
                return;         /* the session is not reading; it reads when it goes on */
        self->wait = WAIT_NONE;
        connection_pump (self);
}

/* Plain sockets are read and written with recv()/send() straight away: no
 * GError for every EAGAIN, no source allocated for every wait.  TLS goes
 * through GIO's pollable streams.  Returns -1 with *would_block, or -1 for an
 * error, or the count. */
static gssize
connection_read (GSmtpConnection *self, guint8 *buf, gsize size, gboolean *would_block)
{
        g_autoptr(GError) error = NULL;
        gssize n;

        *would_block = FALSE;
        if (self->fd >= 0) {
                do
                        n = recv (self->fd, buf, size, 0);
                while (n < 0 && errno == EINTR);
                *would_block = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
                return n;
        }
        n = g_pollable_input_stream_read_nonblocking (
                G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (self->stream)), buf, size, NULL, &error);
        *would_block = n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        return n;
}

static gssize
connection_write (GSmtpConnection *self, const guint8 *data, gsize len, gboolean *would_block)
{
        g_autoptr(GError) error = NULL;
        gssize n;

        *would_block = FALSE;
        if (self->fd >= 0) {
                do
                        n = send (self->fd, data, len, MSG_NOSIGNAL);
                while (n < 0 && errno == EINTR);
                *would_block = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
                return n;
        }
        n = g_pollable_output_stream_write_nonblocking (
                G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (self->stream)), data, len, NULL, &error);
        *would_block = n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        return n;
}

static void connection_start_tls (GSmtpConnection *self);

/* Writes what the session said, then acts on what it wants, then reads. */
static void
connection_pump_once (GSmtpConnection *self)
{
        guint reads = 0;
        gboolean just_replied = FALSE;

        for (;;) {
                gboolean would_block;
                gsize bufsize;
                guint8 *buf;
                gssize n;

                if (self->output == NULL && gsmtp_session_has_output (self->session)) {
                        self->output = gsmtp_session_take_output (self->session);
                        self->output_off = 0;
                }
                if (self->output != NULL) {
                        gsize size;
                        const guint8 *data = g_bytes_get_data (self->output, &size);

                        n = connection_write (self, data + self->output_off, size - self->output_off,
                                              &would_block);
                        if (n < 0 && would_block) {
                                connection_wait (self, WAIT_WRITE);
                                return;
                        }
                        if (n < 0) {
                                connection_close (self);
                                return;
                        }
                        self->output_off += n;
                        if (self->output_off == size) {
                                g_clear_pointer (&self->output, g_bytes_unref);
                                just_replied = TRUE;
                        }
                        continue;
                }

                switch (gsmtp_session_get_action (self->session)) {
                case GSMTP_SESSION_CLOSE:
                        connection_close (self);
                        return;
                case GSMTP_SESSION_START_TLS:
                        connection_start_tls (self);
                        return;
                case GSMTP_SESSION_CONTINUE:
                default:
                        break;
                }

                if (!gsmtp_session_wants_input (self->session)) {
                        connection_clear_io_source (self);
                        connection_arm_timer (self, WAIT_APPLICATION);
                        return;
                }
                if (gsmtp_session_in_data (self->session)) {
                        if (self->data_deadline == 0)
                                self->data_deadline = g_get_monotonic_time () +
                                        (gint64) gsmtp_server_get_data_timeout (self->server) * G_USEC_PER_SEC;
                } else {
                        self->data_deadline = 0;
                }
                /* A client that waited for this reply has not answered it yet,
                 * and the socket was empty when last read: wait for the poller
                 * instead of a read() that says EAGAIN. */
                if (just_replied && !self->maybe_unread && self->fd >= 0) {
                        connection_wait (self, WAIT_READ);
                        return;
                }
                if (reads++ == PUMP_READS_MAX) {
                        /* fairness: other connections first, then this one again */
                        connection_wait (self, WAIT_READ);
                        if (self->watch != NULL)
                                gsmtp_watch_again (self->watch);
                        return;
                }
                buf = gsmtp_server_get_read_buffer (self->server, &bufsize);
                n = connection_read (self, buf, bufsize, &would_block);
                /* a short read emptied the socket; a full one may not have */
                self->maybe_unread = self->peer_hup || (n > 0 && (gsize) n == bufsize);
                if (n < 0 && would_block) {
                        connection_wait (self, WAIT_READ);
                        return;
                }
                if (n <= 0) {
                        /* end of stream or reset: a message without CRLF.CRLF is dropped */
                        connection_close (self);
                        return;
                }
                gsmtp_session_feed (self->session, buf, n);
        }
}

static void
connection_pump (GSmtpConnection *self)
{
        if (self->in_pump) {
                self->pump_again = TRUE;
                return;
        }
        gsmtp_connection_ref (self);
        self->in_pump = TRUE;
        do {
                self->pump_again = FALSE;
                connection_pump_once (self);
        } while (self->pump_again && !self->closed);
        self->in_pump = FALSE;
        gsmtp_connection_unref (self);
}

static void
connection_session_wakeup (gpointer data)
{
        GSmtpConnection *self = data;

        if (self->wait == WAIT_APPLICATION || self->wait == WAIT_NONE)
                connection_pump (self);
        else if (self->wait == WAIT_READ && gsmtp_session_has_output (self->session))
                connection_pump (self);
}

/* ---- TLS ------------------------------------------------------------------------ */

static gboolean
connection_accept_client_certificate (GTlsConnection *conn, GTlsCertificate *cert,
                                      GTlsCertificateFlags errors, gpointer data)
{
        /* The certificate is shown to the application, which decides what it
         * is worth; the handshake does not fail over it. */
        return TRUE;
}

static void
connection_handshake_done (GObject *source, GAsyncResult *result, gpointer data)
{
        GSmtpConnection *self = data;
        GTlsConnection *tls = G_TLS_CONNECTION (source);
        g_autoptr(GError) error = NULL;
        g_autofree char *version = NULL;
        g_autofree char *cipher = NULL;
        const char *proto;

        if (!g_tls_connection_handshake_finish (tls, result, &error) || self->closed) {
                if (!self->closed) {
                        g_debug ("%s TLS handshake failed: %s",
                                 g_smtp_peer_get_session_id (self->peer), error->message);
                        connection_close (self);
                }
                g_object_unref (tls);
                gsmtp_connection_unref (self);
                return;
        }
        g_set_object (&self->stream, G_IO_STREAM (tls));
        g_object_unref (tls);
        switch (g_tls_connection_get_protocol_version (tls)) {
        case G_TLS_PROTOCOL_VERSION_TLS_1_0: proto = "TLSv1"; break;
        case G_TLS_PROTOCOL_VERSION_TLS_1_1: proto = "TLSv1.1"; break;
        case G_TLS_PROTOCOL_VERSION_TLS_1_2: proto = "TLSv1.2"; break;
        case G_TLS_PROTOCOL_VERSION_TLS_1_3: proto = "TLSv1.3"; break;
        default: proto = "TLS"; break;
        }
        version = g_strdup (proto);
        cipher = g_tls_connection_get_ciphersuite_name (tls);      /* (transfer full) */
        gsmtp_session_tls_started (self->session, version, cipher,
                                   g_tls_connection_get_peer_certificate (tls));
        self->wait = WAIT_NONE;
        if (self->implicit_tls) {
                self->implicit_tls = FALSE;
                gsmtp_session_start (self->session);
        }
        connection_pump (self);
        gsmtp_connection_unref (self);
}

static void
connection_start_tls (GSmtpConnection *self)
{
        g_autoptr(GError) error = NULL;
        GIOStream *tls;

        connection_clear_io_source (self);
        self->fd = -1;          /* from now on every byte goes through the TLS stream */
        g_clear_pointer (&self->watch, gsmtp_watch_remove);
        tls = g_tls_server_connection_new (G_IO_STREAM (self->socket),
                                           gsmtp_server_get_tls_certificate (self->server), &error);
        if (tls == NULL) {
                g_warning ("gsmtp: cannot start TLS: %s", error->message);
                connection_close (self);
                return;
        }
        /* Ask for a client certificate, require none (RFC 3207 4.1). */
        g_object_set (tls, "authentication-mode", G_TLS_AUTHENTICATION_REQUESTED, NULL);
        g_signal_connect (tls, "accept-certificate",
                          G_CALLBACK (connection_accept_client_certificate), NULL);
        connection_arm_timer (self, WAIT_HANDSHAKE);
        g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT,
                                          self->cancellable, connection_handshake_done,
                                          gsmtp_connection_ref (self));
}

/* ---- life ------------------------------------------------------------------------- */

GSmtpConnection *
gsmtp_connection_new (GSmtpServer *server, GSocketConnection *socket, gboolean implicit_tls,
                      gboolean proxy_protocol)
{
        GSmtpConnection *self = g_new0 (GSmtpConnection, 1);
        g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (socket, NULL);
        g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (socket, NULL);

        g_atomic_ref_count_init (&self->ref);
        self->server = server;
        self->socket = g_object_ref (socket);
        self->stream = G_IO_STREAM (g_object_ref (socket));
        self->implicit_tls = implicit_tls;
        self->peer = gsmtp_peer_new (remote, local);
        self->session = gsmtp_session_new (server, self->peer, FALSE,
                                           connection_session_wakeup, self);
        if (proxy_protocol)
                gsmtp_session_expect_proxy (self->session);
        self->cancellable = g_cancellable_new ();
        self->fd = g_socket_get_fd (g_socket_connection_get_socket (socket));
        self->watch = gsmtp_poller_watch (gsmtp_server_get_poller (server), self->fd,
                                          connection_fd_ready, self);
        return self;
}

void
gsmtp_connection_start (GSmtpConnection *self)
{
        if (self->implicit_tls) {
                connection_start_tls (self);
                return;
        }
        gsmtp_session_start (self->session);
        connection_pump (self);
}

void
gsmtp_connection_shutdown (GSmtpConnection *self, gboolean force)
{
        if (self->closed)
                return;
        if (self->wait == WAIT_HANDSHAKE) {
                if (force)
                        connection_close (self);
                return;
        }
        gsmtp_session_shutdown (self->session, force);
        if (self->wait == WAIT_READ || self->wait == WAIT_APPLICATION || self->wait == WAIT_NONE) {
                connection_clear_io_source (self);
                connection_pump (self);
        }
}

const char *
gsmtp_connection_get_host (GSmtpConnection *self)
{
        return g_smtp_peer_get_host (self->peer);
}

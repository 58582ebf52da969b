/* gsmtp-connection.c — one client socket: reads, writes, timeouts, TLS upgrade.
 * Owns: moving bytes between the socket and the session, without blocking the
 * main loop and without a buffer per idle connection (reads go to the host's
 * shared buffer when the socket is readable); the idle, line, write and DATA
 * deadlines; STARTTLS and implicit TLS handshakes; the PROXY header, which
 * comes before any session; counting the client's address against the
 * per-address limit under the address the session ends up with.
 * Not: the protocol (gsmtp-session.c), accepting (gsmtp-server.c).
 * RFC 5321 4.5.3.2 (timeouts), RFC 3207, RFC 8314, HAProxy's PROXY protocol. */
#include "config.h"
#include "gsmtp-connection.h"
#include "gsmtp-session.h"
#include "gsmtp-poller.h"
#include "gsmtp-proxy.h"

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
        GSmtpConnectionHost *host;      /* (unowned) (nullable): owns the connection; NULL once closed */
        GSocketConnection *socket;      /* (owned) */
        GIOStream         *stream;      /* (owned): @socket, or the TLS connection over it */
        GSmtpSession      *session;     /* (owned) (nullable): NULL while the PROXY header is awaited */
        GSmtpPeer         *peer;        /* (owned): the socket's view, until a session exists */
        char              *counted;     /* (owned) (nullable): the address counted against
                                         * the per-address limit, to release the same one */
        gboolean           implicit_tls;
        gboolean           expect_proxy;
        gboolean           lmtp;
        guint              idle_timeout;        /* s; 0: none */
        guint              data_timeout;        /* s */

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
        gint64             line_deadline; /* monotonic; 0 unless part of a command line came */
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
        g_clear_pointer (&self->session, gsmtp_session_free);
        g_clear_pointer (&self->output, g_bytes_unref);
        g_object_unref (self->cancellable);
        g_object_unref (self->stream);
        g_object_unref (self->socket);
        g_object_unref (self->peer);
        g_free (self->counted);
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
        GSmtpConnectionHost *host = self->host;
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
        if (self->session != NULL)
                gsmtp_session_eof (self->session);
        if (self->counted != NULL)
                host->funcs->release_address (host, self->counted);
        g_clear_pointer (&self->counted, g_free);
        /* the host is not touched again: it may be going away */
        self->host = NULL;
        host->funcs->closed (host, self);       /* drops the host's ref */
}

/* Counts the session against the per-address limit under @peer's address,
 * releasing the one counted before.  FALSE when that address is full. */
static gboolean
connection_count_address (GSmtpConnection *self, GSmtpPeer *peer)
{
        const char *address = g_smtp_peer_get_host (peer);

        if (self->host == NULL)
                return FALSE;
        if (g_strcmp0 (self->counted, address) == 0)
                return TRUE;
        if (!self->host->funcs->admit_address (self->host, address))
                return FALSE;
        if (self->counted != NULL)
                self->host->funcs->release_address (self->host, self->counted);
        g_free (self->counted);
        self->counted = g_strdup (address);
        return TRUE;
}

/* Sets the deadline the server's tick checks: no syscall, no allocation, no
 * source per connection. */
static void
connection_arm_timer (GSmtpConnection *self, WaitKind wait)
{
        gint64 now, deadline;
        guint idle = self->idle_timeout;

        self->wait = wait;
        /* No timer ends a session while the application decides (a deferred
         * stage) or a reply is held back: the session may still read a line of
         * what was pipelined, but the client is not the one keeping us. */
        if (wait == WAIT_APPLICATION || wait == WAIT_NONE ||
            (wait == WAIT_READ && self->session != NULL && gsmtp_session_is_waiting (self->session))) {
                self->deadline = 0;
                return;
        }
        now = g_get_monotonic_time ();
        deadline = idle != 0 ? now + (gint64) idle * G_USEC_PER_SEC : 0;
        if (wait == WAIT_READ && self->session != NULL && deadline != 0 &&
            gsmtp_session_has_partial_line (self->session)) {
                /* The idle timeout is also the deadline for a whole command
                 * line: a client trickling a byte now and then is cut off like a
                 * silent one. */
                if (self->line_deadline == 0)
                        self->line_deadline = deadline;
                deadline = self->line_deadline;
        } else {
                self->line_deadline = 0;
        }
        /* The DATA phase has an overall cap too: a slow but live upload runs on,
         * a trickle that would hold the slot forever does not. */
        if (self->data_deadline != 0 && (deadline == 0 || self->data_deadline < deadline))
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
                if (self->session == NULL) {
                        /* no PROXY header in time */
                        connection_close (self);
                        break;
                }
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
        g_source_attach (source, self->host->session.context);
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
static void connection_read_proxy (GSmtpConnection *self);

/* Writes what the session said, then acts on what it wants, then reads. */
static void
connection_pump_once (GSmtpConnection *self)
{
        guint reads = 0;
        gboolean just_replied = FALSE;

        if (self->expect_proxy) {
                connection_read_proxy (self);
                return;
        }
        for (;;) {
                gboolean would_block;
                gsize bufsize;
                guint8 *buf;
                gssize n;

                /* the host may have ended us from inside the session (a handler
                 * that dropped the server) */
                if (self->closed)
                        return;
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
                                        (gint64) self->data_timeout * G_USEC_PER_SEC;
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
                buf = self->host->funcs->read_buffer (self->host, &bufsize);
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

        if (self->closed)
                return;
        if (self->wait == WAIT_APPLICATION || self->wait == WAIT_NONE)
                connection_pump (self);
        else if (self->wait == WAIT_READ && (gsmtp_session_has_output (self->session) ||
                                             gsmtp_session_get_action (self->session) != GSMTP_SESSION_CONTINUE))
                connection_pump (self);
        else if (self->wait == WAIT_READ)
                connection_arm_timer (self, WAIT_READ);   /* the application answered: timers again */
}

/* XCLIENT named another client: count it under its own address. */
static gboolean
connection_session_peer_changed (gpointer data, GSmtpPeer *peer)
{
        return connection_count_address (data, peer);
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
                                 g_smtp_peer_get_session_id (gsmtp_session_get_peer (self->session)),
                                 error->message);
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
                                           self->host->funcs->tls_certificate (self->host), &error);
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

/* ---- the PROXY header ------------------------------------------------------------ */

/* The session begins, as the client the socket or the PROXY header named.
 * @early: bytes followed the PROXY header before any banner. */
static void
connection_begin (GSmtpConnection *self, gboolean early)
{
        static const GSmtpSessionCallbacks callbacks = {
                connection_session_wakeup,
                connection_session_peer_changed,
        };

        /* the session learns its protocol from the peer it starts with */
        gsmtp_peer_set_lmtp (self->peer, self->lmtp);
        self->session = gsmtp_session_new (&self->host->session, self->peer, FALSE, &callbacks, self);
        if (!connection_count_address (self, self->peer)) {
                /* Postfix anvil's smtpd_client_connection_count_limit */
                gsmtp_session_refuse (self->session, 421, "4.7.0", "Too many connections from your address");
        } else if (self->implicit_tls) {
                connection_start_tls (self);
                return;
        } else {
                gsmtp_session_start (self->session);
                if (early)
                        gsmtp_session_early_talker (self->session);
        }
        connection_pump (self);
}

/* Reads the PROXY header off the socket and nothing more: it is peeked at and
 * only its own bytes are taken, so what follows reaches the session (or the
 * TLS handshake) as if the header had never been there. */
static void
connection_read_proxy (GSmtpConnection *self)
{
        guint8 buf[GSMTP_PROXY_HEADER_MAX];
        GSmtpProxyHeader header;
        GSmtpProxyStatus status;
        gboolean early;
        gssize n;

        do
                n = recv (self->fd, buf, sizeof buf, MSG_PEEK);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                connection_wait (self, WAIT_READ);
                return;
        }
        if (n <= 0) {
                connection_close (self);
                return;
        }
        status = gsmtp_proxy_parse (buf, n, &header);
        if (status == GSMTP_PROXY_NEED_MORE && !self->peer_hup) {
                /* edge-triggered: the next bytes bring a new edge */
                connection_wait (self, WAIT_READ);
                return;
        }
        if (status != GSMTP_PROXY_OK) {
                /* not from the proxy: a client must not choose its own address */
                connection_close (self);
                return;
        }
        do
                n = recv (self->fd, buf, header.length, 0);
        while (n < 0 && errno == EINTR);
        if (n != (gssize) header.length) {
                gsmtp_proxy_header_clear (&header);
                connection_close (self);
                return;
        }
        /* anything right behind the header came before the banner */
        early = recv (self->fd, buf, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
        if (header.remote != NULL) {
                g_object_unref (self->peer);
                self->peer = gsmtp_peer_new (header.remote, header.local);
        }
        gsmtp_proxy_header_clear (&header);
        self->expect_proxy = FALSE;
        self->wait = WAIT_NONE;
        connection_begin (self, early && !self->implicit_tls);
}

/* ---- life ------------------------------------------------------------------------- */

GSmtpConnection *
gsmtp_connection_new (GSmtpConnectionHost *host, GSocketConnection *socket, GSmtpConnectionFlags flags)
{
        GSmtpConnection *self = g_new0 (GSmtpConnection, 1);
        g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (socket, NULL);
        g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (socket, NULL);

        g_atomic_ref_count_init (&self->ref);
        self->host = host;
        self->socket = g_object_ref (socket);
        self->stream = G_IO_STREAM (g_object_ref (socket));
        self->implicit_tls = (flags & GSMTP_CONNECTION_IMPLICIT_TLS) != 0;
        self->expect_proxy = (flags & GSMTP_CONNECTION_PROXY) != 0;
        self->lmtp = (flags & GSMTP_CONNECTION_LMTP) != 0;
        self->idle_timeout = host->session.limits->idle_timeout;
        self->data_timeout = host->session.limits->data_timeout;
        self->peer = gsmtp_peer_new (remote, local);
        self->cancellable = g_cancellable_new ();
        self->fd = g_socket_get_fd (g_socket_connection_get_socket (socket));
        self->watch = gsmtp_poller_watch (host->funcs->poller (host), self->fd,
                                          connection_fd_ready, self);
        return self;
}

void
gsmtp_connection_start (GSmtpConnection *self)
{
        if (self->expect_proxy) {
                connection_pump (self);
                return;
        }
        connection_begin (self, FALSE);
}

void
gsmtp_connection_shutdown (GSmtpConnection *self, gboolean force)
{
        if (self->closed)
                return;
        if (self->wait == WAIT_HANDSHAKE || self->session == NULL) {
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

/* The host goes away now: no word to the client, a stage out with the
 * application is cancelled. */
void
gsmtp_connection_abort (GSmtpConnection *self)
{
        if (self->closed)
                return;
        if (self->session != NULL)
                gsmtp_session_abort (self->session);
        connection_close (self);
}

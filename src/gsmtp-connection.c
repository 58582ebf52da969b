/* gsmtp-connection.c — one client socket: reads, writes, timeouts, TLS upgrade.
 * Owns: moving bytes between the socket and the session, without blocking the
 * main loop and without a buffer per idle connection (reads go to the host's
 * shared buffer when the socket is readable); the idle, line, write, DATA and
 * TLS handshake deadlines; when STARTTLS and implicit TLS handshakes step; the
 * PROXY header, which comes before any session; counting the client's address
 * against the per-address limit under the address the session ends up with.
 * Plain and TLS sessions take the same path: the host's poller says the socket
 * is ready, and recv()/send() or GnuTLS's record functions move the bytes.
 * Not: the protocol (gsmtp-session.c), accepting (gsmtp-server.c), GnuTLS
 * itself (gsmtp-tls-server.c), the PROXY header's grammar (gsmtp-proxy.c).
 * RFC 5321 4.5.3.2 (timeouts), RFC 3207, RFC 8314, HAProxy's PROXY protocol. */
#include "config.h"
#include "gsmtp-connection.h"
#include "gsmtp-session.h"
#include "gsmtp-poller.h"
#include "gsmtp-proxy.h"
#include "gsmtp-tls-server.h"

#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* Reads handled in one go before other connections get a turn. */
#define PUMP_READS_MAX 8

typedef enum {
        WAIT_NONE,
        WAIT_READ,              /* for the client's bytes: the idle timer runs */
        WAIT_WRITE,             /* for room to write: the same timer, as a write timeout */
        WAIT_HANDSHAKE,         /* for the TLS handshake: its own deadline, set once */
        WAIT_APPLICATION,       /* a deferred stage: no timer, the application decides */
} WaitKind;

struct _GSmtpConnection {
        gatomicrefcount    ref;
        GSmtpConnectionHost *host;      /* (unowned) (nullable): owns the connection; NULL once closed */
        GSocketConnection *socket;      /* (owned) */
        GSmtpTlsSession   *tls;         /* (owned) (nullable): from STARTTLS or implicit TLS on */
        GSmtpSession      *session;     /* (owned) (nullable): NULL while the PROXY header is awaited */
        GSmtpPeer         *peer;        /* (owned): the socket's view, or the PROXY header's */
        char              *counted;     /* (owned) (nullable): the address counted against
                                         * the per-address limit, to release the same one */
        gboolean           implicit_tls;
        gboolean           expect_proxy;
        gboolean           lmtp;
        guint              idle_timeout;        /* s; 0: none */
        guint              data_timeout;        /* s */
        guint              handshake_timeout;   /* s */

        GBytes            *output;      /* (owned) (nullable): being written */
        gsize              output_off;

        WaitKind           wait;
        GSmtpWatch        *watch;       /* (owned) (nullable): the socket in the server's poller */
        int                fd;
        gboolean           handshaking; /* @tls exists, its handshake is not done */
        gboolean           maybe_unread; /* bytes may wait in the socket or in GnuTLS: the
                                          * poller is edge-triggered, so read before waiting */
        gboolean           peer_hup;    /* the peer shut down its side: read to the end */
        gint64             deadline;    /* monotonic µs of the idle / write / DATA / handshake
                                         * timeout; 0: none.  The server's one-second tick
                                         * checks it, so no connection owns a timer source */
        gint64             data_deadline; /* monotonic; 0 outside DATA */
        gint64             line_deadline; /* monotonic; 0 unless part of a command line came */
        gboolean           in_transfer; /* counted as a transfer by the host */

        gboolean           in_pump;
        gboolean           pump_again;
        gboolean           closed;
};

static void connection_pump (GSmtpConnection *self);
static void connection_set_transfer (GSmtpConnection *self, gboolean in_transfer);

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
        g_clear_pointer (&self->watch, gsmtp_watch_remove);
        g_clear_pointer (&self->tls, gsmtp_tls_session_free);
        g_clear_pointer (&self->session, gsmtp_session_free);
        g_clear_pointer (&self->output, g_bytes_unref);
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
        /* close_notify only when nothing is stuck in the socket, and only as
         * far as the socket takes it now: a client that no longer reads
         * cannot hold the close up */
        if (self->tls != NULL && !self->handshaking && self->output == NULL)
                gsmtp_tls_session_bye (self->tls);
        g_clear_pointer (&self->tls, gsmtp_tls_session_free);
        socket = g_socket_connection_get_socket (self->socket);
        g_socket_close (socket, NULL);
        if (self->session != NULL)
                gsmtp_session_eof (self->session);
        if (self->counted != NULL)
                host->funcs->release_address (host, self->counted);
        g_clear_pointer (&self->counted, g_free);
        connection_set_transfer (self, FALSE);
        /* the host is not touched again: it may be going away */
        self->host = NULL;
        host->funcs->closed (host, self);       /* drops the host's ref */
}

/* A message transfer holds more fds (a spill file): the host counts them. */
static void
connection_set_transfer (GSmtpConnection *self, gboolean in_transfer)
{
        if (self->in_transfer == in_transfer || self->host == NULL)
                return;
        self->in_transfer = in_transfer;
        self->host->funcs->transfer (self->host, in_transfer ? 1 : -1);
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

/* Waits in the server's poller for @condition; @wait says which deadline runs.
 * TLS may need to write while reading (a key update) or the reverse. */
static void
connection_wait (GSmtpConnection *self, WaitKind wait, GIOCondition condition)
{
        gsmtp_watch_set (self->watch, condition);
        connection_arm_timer (self, wait);
}

static void connection_handshake_step (GSmtpConnection *self);

static void
connection_fd_ready (gpointer data, GIOCondition condition)
{
        GSmtpConnection *self = data;

        /* edge-triggered: whatever the event, bytes may be waiting now; after the
         * peer's FIN, the end of stream waits behind them with no edge of its own */
        self->maybe_unread = TRUE;
        if (condition & G_IO_HUP)
                self->peer_hup = TRUE;
        if (self->handshaking) {
                gsmtp_connection_ref (self);
                connection_handshake_step (self);
                gsmtp_connection_unref (self);
                return;
        }
        if (self->wait == WAIT_APPLICATION)
                return;         /* the session is not reading; it reads when it goes on */
        self->wait = WAIT_NONE;
        connection_pump (self);
}

static GIOCondition
tls_status_condition (GSmtpTlsStatus status)
{
        return status == GSMTP_TLS_WANT_READ ? G_IO_IN : status == GSMTP_TLS_WANT_WRITE ? G_IO_OUT : 0;
}

/* recv()/send() on plain sockets, GnuTLS's records on TLS ones, both straight
 * away: no GError for every EAGAIN, no source allocated for every wait.
 * Returns the count, 0 at the end of the stream, or -1 with *blocked (what
 * to wait for) or -1 for an error. */
static gssize
connection_read (GSmtpConnection *self, guint8 *buf, gsize size, GIOCondition *blocked)
{
        GSmtpTlsStatus status;
        gssize n;

        *blocked = 0;
        if (self->tls != NULL) {
                n = gsmtp_tls_session_recv (self->tls, buf, size, &status);
                *blocked = tls_status_condition (status);
                return n;
        }
        do
                n = recv (self->fd, buf, size, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                *blocked = G_IO_IN;
        return n;
}

/* With TLS, after a block the same bytes must be offered again: the pump does. */
static gssize
connection_write (GSmtpConnection *self, const guint8 *data, gsize len, GIOCondition *blocked)
{
        GSmtpTlsStatus status;
        gssize n;

        *blocked = 0;
        if (self->tls != NULL) {
                n = gsmtp_tls_session_send (self->tls, data, len, &status);
                *blocked = tls_status_condition (status);
                return n;
        }
        do
                n = send (self->fd, data, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                *blocked = G_IO_OUT;
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

        if (self->handshaking)
                return;         /* the handshake steps on its own (connection_handshake_step) */
        if (self->expect_proxy) {
                connection_read_proxy (self);
                return;
        }
        for (;;) {
                GIOCondition blocked;
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
                                              &blocked);
                        if (n < 0 && blocked != 0) {
                                connection_wait (self, WAIT_WRITE, blocked);
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
                        if (self->data_deadline == 0) {
                                self->data_deadline = g_get_monotonic_time () +
                                        (gint64) self->data_timeout * G_USEC_PER_SEC;
                                connection_set_transfer (self, TRUE);
                        }
                } else {
                        self->data_deadline = 0;
                        connection_set_transfer (self, FALSE);
                }
                /* A client that waited for this reply has not answered it yet,
                 * and the socket was empty when last read: wait for the poller
                 * instead of a read() that says EAGAIN. */
                if (just_replied && !self->maybe_unread &&
                    (self->tls == NULL || !gsmtp_tls_session_has_pending (self->tls))) {
                        connection_wait (self, WAIT_READ, G_IO_IN);
                        return;
                }
                if (reads++ == PUMP_READS_MAX) {
                        /* fairness: other connections first, then this one again */
                        connection_wait (self, WAIT_READ, G_IO_IN);
                        if (self->watch != NULL)
                                gsmtp_watch_again (self->watch);
                        return;
                }
                buf = self->host->funcs->read_buffer (self->host, &bufsize);
                n = connection_read (self, buf, bufsize, &blocked);
                /* A short read emptied the socket; a full one may not have.
                 * GnuTLS takes one record at a time from the socket, so after
                 * any TLS read more records may wait there, or decrypted bytes
                 * in GnuTLS (gnutls_record_check_pending): neither brings an
                 * edge of its own. */
                self->maybe_unread = self->peer_hup ||
                                     (n > 0 && ((gsize) n == bufsize || self->tls != NULL));
                if (n < 0 && blocked != 0) {
                        connection_wait (self, WAIT_READ, blocked);
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

/* Steps the handshake as far as the client's bytes allow, from the poller like
 * any read: a client that stops mid-handshake costs its socket and its GnuTLS
 * session until tls-handshake-timeout, never a thread. */
static void
connection_handshake_step (GSmtpConnection *self)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GTlsCertificate) client_cert = NULL;
        GSmtpTlsStatus status = gsmtp_tls_session_handshake (self->tls, &error);

        if (status == GSMTP_TLS_WANT_READ || status == GSMTP_TLS_WANT_WRITE) {
                gsmtp_watch_set (self->watch, tls_status_condition (status));
                return;         /* the deadline set at the start runs on */
        }
        if (status != GSMTP_TLS_OK) {
                g_debug ("%s TLS handshake failed: %s",
                         g_smtp_peer_get_session_id (gsmtp_session_get_peer (self->session)),
                         error != NULL ? error->message : "end of stream");
                connection_close (self);
                return;
        }
        self->handshaking = FALSE;
        self->wait = WAIT_NONE;
        self->deadline = 0;
        /* the client's first command may have come with its Finished */
        self->maybe_unread = TRUE;
        client_cert = gsmtp_tls_session_get_peer_certificate (self->tls);
        gsmtp_session_tls_started (self->session, gsmtp_tls_session_get_version (self->tls),
                                   gsmtp_tls_session_get_cipher (self->tls), client_cert);
        if (self->implicit_tls) {
                self->implicit_tls = FALSE;
                gsmtp_session_start (self->session);
        }
        connection_pump (self);
}

static void
connection_start_tls (GSmtpConnection *self)
{
        g_autoptr(GError) error = NULL;
        GSmtpTlsCredentials *creds = self->host->funcs->tls_credentials (self->host);
        int one = 1;

        connection_clear_io_source (self);
        /* GnuTLS sends a handshake flight as several records, a send() each:
         * with Nagle's algorithm the second waits for the client's delayed
         * ACK, 40 ms a handshake.  Plain replies go out whole in one send(),
         * so only TLS needs this. */
        setsockopt (self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (creds != NULL)
                self->tls = gsmtp_tls_session_new (creds, self->fd, &error);
        if (self->tls == NULL) {
                g_warning ("gsmtp: cannot start TLS: %s",
                           error != NULL ? error->message : "the server has no usable certificate");
                connection_close (self);
                return;
        }
        /* its own deadline, not the idle timeout: set once, not renewed by
         * each byte of a handshake that trickles */
        self->handshaking = TRUE;
        self->wait = WAIT_HANDSHAKE;
        self->deadline = g_get_monotonic_time () +
                         (gint64) self->handshake_timeout * G_USEC_PER_SEC;
        gsmtp_connection_ref (self);
        connection_handshake_step (self);
        gsmtp_connection_unref (self);
}

/* ---- the PROXY header ------------------------------------------------------------ */

/* The session begins, as the client the socket or the PROXY header named.
 * @early: bytes followed the PROXY header before any banner.  @tls_active: a
 * trusted proxy ended the client's TLS. */
static void
connection_begin (GSmtpConnection *self, gboolean early, gboolean tls_active)
{
        static const GSmtpSessionCallbacks callbacks = {
                connection_session_wakeup,
                connection_session_peer_changed,
        };

        /* the session learns its protocol from the peer it starts with */
        gsmtp_peer_set_lmtp (self->peer, self->lmtp);
        self->session = gsmtp_session_new (&self->host->session, self->peer, tls_active, &callbacks, self);
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

/* The client as the header names it: its addresses (the socket's stay for
 * v1 UNKNOWN and v2 LOCAL, UNSPEC, UNIX), and for a v2 PROXY its TLS to the
 * proxy and the authority.  TRUE when the client's TLS ended at the proxy. */
static gboolean
connection_take_proxy_header (GSmtpConnection *self, const GSmtpProxyHeader *header)
{
        g_autoptr(GSocketAddress) proxy = g_socket_connection_get_remote_address (self->socket, NULL);
        const GSmtpProxyTls *tls = &header->tls;
        gboolean client_tls;

        if (header->local_command)
                return FALSE;   /* the proxy's own connection: nothing it says is a client's */
        if (header->remote != NULL) {
                g_object_unref (self->peer);
                self->peer = gsmtp_peer_new (header->remote, header->local);
        }
        gsmtp_peer_set_proxy (self->peer, header->remote != NULL ? proxy : NULL, header->authority);
        client_tls = header->has_tls && (tls->client & GSMTP_PROXY_CLIENT_SSL) != 0;
        if (client_tls)
                gsmtp_peer_set_proxy_tls (self->peer, tls->version, tls->cipher, tls->cn,
                                          (tls->client & (GSMTP_PROXY_CLIENT_CERT_CONN |
                                                          GSMTP_PROXY_CLIENT_CERT_SESS)) != 0 &&
                                          tls->verify == 0);
        return client_tls;
}

/* Reads the PROXY header (v1 or v2, as its first byte says) off the socket
 * and nothing more: it is peeked at and only its own bytes are taken, so what
 * follows reaches the session (or the TLS handshake) as if the header had
 * never been there.  The peek goes to the host's shared read buffer: a v2
 * header may be GSMTP_PROXY_HEADER_MAX bytes, too many for the stack. */
static void
connection_read_proxy (GSmtpConnection *self)
{
        GSmtpProxyHeader header;
        GSmtpProxyStatus status;
        gboolean early, client_tls;
        gsize bufsize;
        guint8 *buf = self->host->funcs->read_buffer (self->host, &bufsize);
        guint8 next;
        gssize n;

        g_assert (bufsize >= GSMTP_PROXY_HEADER_MAX);    /* 64 KiB today */
        do
                n = recv (self->fd, buf, MIN (bufsize, GSMTP_PROXY_HEADER_MAX), MSG_PEEK);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                connection_wait (self, WAIT_READ, G_IO_IN);
                return;
        }
        if (n <= 0) {
                connection_close (self);
                return;
        }
        status = gsmtp_proxy_parse (buf, n, &header);
        if (status == GSMTP_PROXY_NEED_MORE && !self->peer_hup) {
                /* edge-triggered: the next bytes bring a new edge */
                connection_wait (self, WAIT_READ, G_IO_IN);
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
        early = recv (self->fd, &next, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
        client_tls = connection_take_proxy_header (self, &header);
        gsmtp_proxy_header_clear (&header);
        self->expect_proxy = FALSE;
        self->wait = WAIT_NONE;
        connection_begin (self, early && !self->implicit_tls, client_tls);
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
        self->implicit_tls = (flags & GSMTP_CONNECTION_IMPLICIT_TLS) != 0;
        self->expect_proxy = (flags & GSMTP_CONNECTION_PROXY) != 0;
        self->lmtp = (flags & GSMTP_CONNECTION_LMTP) != 0;
        self->idle_timeout = host->session.limits->idle_timeout;
        self->data_timeout = host->session.limits->data_timeout;
        self->handshake_timeout = host->session.limits->tls_handshake_timeout;
        self->peer = gsmtp_peer_new (remote, local);
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
        connection_begin (self, FALSE, FALSE);
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

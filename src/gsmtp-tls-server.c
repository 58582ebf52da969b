/* gsmtp-tls-server.c — the server side of TLS: GnuTLS over a non-blocking fd.
 * Owns: credentials (built once per certificate and policy), one GnuTLS session
 * per connection, the handshake, records in and out, refusing renegotiation,
 * what the application learns of the peer (version, cipher suite, certificate).
 * Not: when to read or write, deadlines (gsmtp-connection.c); the SMTP client,
 * which keeps GIO's GTlsClientConnection (gsmtp-client.c).
 * RFC 3207, RFC 8314, RFC 5746 (renegotiation), RFC 8446.
 *
 * Why GnuTLS itself and not GTlsServerConnection: GIO has no non-blocking
 * handshake.  glib-networking runs every g_tls_connection_handshake_async() on
 * a GTask worker thread doing blocking I/O, so a client that stops in the
 * middle of a handshake holds a thread until a timeout, and the shared pool
 * runs out: 200 silent STARTTLS clients took the server to 40 threads and a
 * real client waited for the idle timeout.  A thread pool of our own would only
 * move the limit.  GnuTLS in non-blocking mode (GNUTLS_NONBLOCK) steps a
 * handshake as far as the bytes received allow and returns GNUTLS_E_AGAIN, so
 * the connection waits in the server's poller like a plain socket: a stalled
 * handshake costs its socket and its session, never a thread.  GnuTLS and not
 * OpenSSL: it is the library glib-networking already loads into the process,
 * so the same TLS stack as before, and no second one to keep patched.  The
 * same non-blocking path carries the records after the handshake, so a TLS
 * session is read with the poller's edge-triggered readiness like a plain one,
 * with no GSource and no GError for each wait. */
#include "config.h"
#include "gsmtp-tls-server.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Warning alerts in a row that a handshake or a read goes on past: a peer that
 * sends only warnings is not talking TLS to us ("SSL Death Alert"). */
#define WARNINGS_MAX 8
/* The longest certificate chain sent or accepted: real chains have 2 to 4. */
#define CHAIN_MAX 16
/* GNUTLS_E_AGAIN with bytes still in the socket, in a row: GnuTLS says so after
 * each post-handshake message (a TLS 1.3 KeyUpdate), and itself allows only
 * 8 KeyUpdates a second; past this many the peer is only making us spin. */
#define SPINS_MAX 64

struct _GSmtpTlsCredentials {
        gatomicrefcount                  ref;
        gnutls_certificate_credentials_t x509;
        gnutls_priority_t                priority;
        gnutls_datum_t                   ticket_key;    /* (owned): session tickets of this server */
};

struct _GSmtpTlsSession {
        gnutls_session_t     session;
        GSmtpTlsCredentials *creds;     /* (owned): outlives the session that points to it */
        int                  fd;
        GSmtpTlsStatus       blocked;   /* WANT_READ or WANT_WRITE: recv() or send() said EAGAIN;
                                         * OK: GnuTLS's EAGAIN came with bytes still there */
        gboolean             renegotiation_refused;
};

/* ---- policy ---------------------------------------------------------------------- */

static gboolean
priority_init (const char *priority, gnutls_priority_t *out, GError **error)
{
        const char *where = NULL;
        int ret = gnutls_priority_init2 (out, priority, &where, 0);

        if (ret == GNUTLS_E_SUCCESS)
                return TRUE;
        if (ret == GNUTLS_E_INVALID_REQUEST && where != NULL)
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "Invalid TLS priority string \"%s\" at \"%s\"", priority, where);
        else
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "Invalid TLS priority string \"%s\": %s", priority, gnutls_strerror (ret));
        return FALSE;
}

/* Whether GnuTLS understands @priority (a GnuTLS priority string). */
gboolean
gsmtp_tls_priority_check (const char *priority, GError **error)
{
        gnutls_priority_t p;

        if (!priority_init (priority, &p, error))
                return FALSE;
        gnutls_priority_deinit (p);
        return TRUE;
}

/* ---- credentials ------------------------------------------------------------------ */

GSmtpTlsCredentials *
gsmtp_tls_credentials_ref (GSmtpTlsCredentials *creds)
{
        g_atomic_ref_count_inc (&creds->ref);
        return creds;
}

void
gsmtp_tls_credentials_unref (GSmtpTlsCredentials *creds)
{
        if (creds == NULL || !g_atomic_ref_count_dec (&creds->ref))
                return;
        if (creds->x509 != NULL)
                gnutls_certificate_free_credentials (creds->x509);
        if (creds->priority != NULL)
                gnutls_priority_deinit (creds->priority);
        if (creds->ticket_key.data != NULL) {
                gnutls_memset (creds->ticket_key.data, 0, creds->ticket_key.size);
                gnutls_free (creds->ticket_key.data);
        }
        g_free (creds);
}

/* The certificate and its issuers as one PEM text, leaf first: GnuTLS sends
 * the chain as given, so clients that lack the intermediates can still verify. */
static char *
credentials_chain_pem (GTlsCertificate *certificate)
{
        GString *pem = g_string_new (NULL);
        guint n = 0;

        for (GTlsCertificate *c = certificate; c != NULL && n < CHAIN_MAX; c = g_tls_certificate_get_issuer (c), n++) {
                g_autofree char *one = NULL;

                g_object_get (c, "certificate-pem", &one, NULL);
                if (one == NULL)
                        break;
                g_string_append (pem, one);
                if (pem->len > 0 && pem->str[pem->len - 1] != '\n')
                        g_string_append_c (pem, '\n');
        }
        return g_string_free (pem, FALSE);
}

/* Reads the PEM of @certificate and its key (GLib 2.70's "private-key-pem"),
 * so a certificate whose key lives in a PKCS #11 token is refused here, with a
 * clear error, rather than at the first handshake. */
GSmtpTlsCredentials *
gsmtp_tls_credentials_new (GTlsCertificate *certificate, const char *priority, GError **error)
{
        g_autoptr(GSmtpTlsCredentials) creds = g_new0 (GSmtpTlsCredentials, 1);
        g_autofree char *chain = NULL;
        g_autofree char *key = NULL;
        gnutls_datum_t chain_datum, key_datum;
        int ret;

        g_atomic_ref_count_init (&creds->ref);
        if (!priority_init (priority, &creds->priority, error))
                return NULL;
        g_object_get (certificate, "private-key-pem", &key, NULL);
        chain = credentials_chain_pem (certificate);
        if (key == NULL || *chain == '\0') {
                g_set_error_literal (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                                     "The TLS certificate has no private key in PEM form");
                return NULL;
        }
        ret = gnutls_certificate_allocate_credentials (&creds->x509);
        if (ret == GNUTLS_E_SUCCESS) {
                chain_datum.data = (unsigned char *) chain;
                chain_datum.size = strlen (chain);
                key_datum.data = (unsigned char *) key;
                key_datum.size = strlen (key);
                ret = gnutls_certificate_set_x509_key_mem2 (creds->x509, &chain_datum, &key_datum,
                                                            GNUTLS_X509_FMT_PEM, NULL, 0);
        }
        gnutls_memset (key, 0, strlen (key));
        if (ret < 0) {
                g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                             "Cannot use the TLS certificate: %s", gnutls_strerror (ret));
                return NULL;
        }
        /* DHE for clients without ECDHE: the RFC 7919 2048-bit group, no
         * parameters to generate */
        gnutls_certificate_set_known_dh_params (creds->x509, GNUTLS_SEC_PARAM_MEDIUM);
        /* Resumption by ticket: a returning MTA skips the full handshake, and
         * the server keeps no session cache.  GnuTLS rotates keys derived from
         * this one. */
        ret = gnutls_session_ticket_key_generate (&creds->ticket_key);
        if (ret < 0) {
                g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC,
                             "Cannot make a TLS session ticket key: %s", gnutls_strerror (ret));
                return NULL;
        }
        return g_steal_pointer (&creds);
}

/* ---- one session ------------------------------------------------------------------ */

/* GnuTLS's transport, so that its GNUTLS_E_AGAIN can be told apart: the
 * socket really is empty (or full), or GnuTLS only handled a message that
 * carried no data while more bytes wait.  With the poller edge-triggered the
 * second must not wait for readiness: no new edge would come. */
static ssize_t
session_pull (gnutls_transport_ptr_t ptr, void *buf, size_t size)
{
        GSmtpTlsSession *self = ptr;
        ssize_t n;

        do
                n = recv (self->fd, buf, size, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        self->blocked = GSMTP_TLS_WANT_READ;
                gnutls_transport_set_errno (self->session, errno);
        }
        return n;
}

static ssize_t
session_push (gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
        GSmtpTlsSession *self = ptr;
        struct msghdr msg = { 0 };
        ssize_t n;

        msg.msg_iov = (struct iovec *) iov;
        msg.msg_iovlen = iovcnt;
        do
                n = sendmsg (self->fd, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        self->blocked = GSMTP_TLS_WANT_WRITE;
                gnutls_transport_set_errno (self->session, errno);
        }
        return n;
}

/* Over @fd, which is non-blocking (GSocket makes every socket so). */
GSmtpTlsSession *
gsmtp_tls_session_new (GSmtpTlsCredentials *creds, int fd, GError **error)
{
        GSmtpTlsSession *self = g_new0 (GSmtpTlsSession, 1);
        int ret;

        ret = gnutls_init (&self->session, GNUTLS_SERVER | GNUTLS_NONBLOCK);
        if (ret == GNUTLS_E_SUCCESS)
                ret = gnutls_priority_set (self->session, creds->priority);
        if (ret == GNUTLS_E_SUCCESS)
                ret = gnutls_credentials_set (self->session, GNUTLS_CRD_CERTIFICATE, creds->x509);
        if (ret == GNUTLS_E_SUCCESS)
                ret = gnutls_session_ticket_enable_server (self->session, &creds->ticket_key);
        if (ret < 0) {
                g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_MISC, "Cannot start TLS: %s",
                             gnutls_strerror (ret));
                if (self->session != NULL)
                        gnutls_deinit (self->session);
                g_free (self);
                return NULL;
        }
        self->creds = gsmtp_tls_credentials_ref (creds);
        /* RFC 3207 4.1: a client certificate is asked for, never required, and
         * not verified here: the application sees it and decides. */
        gnutls_certificate_server_set_request (self->session, GNUTLS_CERT_REQUEST);
        /* the connection keeps the deadline (tls-handshake-timeout) */
        gnutls_handshake_set_timeout (self->session, 0);
        self->fd = fd;
        gnutls_transport_set_ptr (self->session, self);
        gnutls_transport_set_pull_function (self->session, session_pull);
        gnutls_transport_set_vec_push_function (self->session, session_push);
        return self;
}

void
gsmtp_tls_session_free (GSmtpTlsSession *self)
{
        if (self == NULL)
                return;
        gnutls_deinit (self->session);
        gsmtp_tls_credentials_unref (self->creds);
        g_free (self);
}

/* Runs the handshake as far as the bytes at hand allow. */
GSmtpTlsStatus
gsmtp_tls_session_handshake (GSmtpTlsSession *self, GError **error)
{
        guint warnings = 0, spins = 0;

        for (;;) {
                int ret;

                self->blocked = GSMTP_TLS_OK;
                ret = gnutls_handshake (self->session);
                if (ret == GNUTLS_E_SUCCESS)
                        return GSMTP_TLS_OK;
                if ((ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) && self->blocked != GSMTP_TLS_OK)
                        return self->blocked;
                if ((ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) && ++spins < SPINS_MAX)
                        continue;
                if (!gnutls_error_is_fatal (ret) && ++warnings < WARNINGS_MAX)
                        continue;
                /* tell the client why (protocol_version, handshake_failure...),
                 * once, without waiting for room to write it */
                gnutls_alert_send_appropriate (self->session, ret);
                g_set_error (error, G_TLS_ERROR, G_TLS_ERROR_HANDSHAKE, "%s", gnutls_strerror (ret));
                return ret == GNUTLS_E_PREMATURE_TERMINATION ? GSMTP_TLS_EOF : GSMTP_TLS_ERROR;
        }
}

/* RFC 5746 4.4 and RFC 5246 7.4.1.1: a server that will not renegotiate
 * answers a ClientHello with a no_renegotiation warning and goes on; the
 * client chooses whether to go on too.  Renegotiation is refused because a
 * client that renegotiates makes the server do public-key work on demand
 * (a cheap denial of service), and because it served the CVE-2009-3555 prefix
 * injection; no SMTP client needs it.  A second attempt closes the session:
 * a client that ignores the first answer would get the next one forever. */
static gboolean
session_refuse_renegotiation (GSmtpTlsSession *self)
{
        if (self->renegotiation_refused)
                return FALSE;
        self->renegotiation_refused = TRUE;
        return gnutls_alert_send (self->session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION) ==
               GNUTLS_E_SUCCESS;
}

/* Plaintext of at most one record into @buf.  Returns the count, 0 with
 * GSMTP_TLS_EOF at the end, or -1 with the status. */
gssize
gsmtp_tls_session_recv (GSmtpTlsSession *self, guint8 *buf, gsize size, GSmtpTlsStatus *status)
{
        guint warnings = 0, spins = 0;

        for (;;) {
                gssize n;

                self->blocked = GSMTP_TLS_OK;
                n = gnutls_record_recv (self->session, buf, size);
                *status = GSMTP_TLS_OK;
                if (n > 0)
                        return n;
                if (n == 0) {
                        *status = GSMTP_TLS_EOF;        /* close_notify */
                        return 0;
                }
                switch (n) {
                case GNUTLS_E_AGAIN:
                case GNUTLS_E_INTERRUPTED:
                        if (self->blocked != GSMTP_TLS_OK) {
                                *status = self->blocked;
                                return -1;
                        }
                        /* a KeyUpdate or the like was handled: read on */
                        if (++spins < SPINS_MAX)
                                continue;
                        g_debug ("TLS: the client sends only post-handshake messages; closing");
                        *status = GSMTP_TLS_ERROR;
                        return -1;
                case GNUTLS_E_REHANDSHAKE:
                        if (session_refuse_renegotiation (self))
                                continue;
                        g_debug ("TLS: the client asked again to renegotiate; closing");
                        *status = GSMTP_TLS_ERROR;
                        return -1;
                case GNUTLS_E_PREMATURE_TERMINATION:
                        *status = GSMTP_TLS_EOF;        /* the TCP connection ended first */
                        return 0;
                default:
                        if (!gnutls_error_is_fatal (n) && ++warnings < WARNINGS_MAX)
                                continue;
                        g_debug ("TLS: %s", gnutls_strerror (n));
                        *status = GSMTP_TLS_ERROR;
                        return -1;
                }
        }
}

/* Encrypts and sends up to one record of @data.  After GSMTP_TLS_WANT_WRITE
 * the caller must offer the same bytes again (GnuTLS holds the record). */
gssize
gsmtp_tls_session_send (GSmtpTlsSession *self, const guint8 *data, gsize len, GSmtpTlsStatus *status)
{
        guint spins = 0;

        *status = GSMTP_TLS_OK;
        if (len == 0)
                return 0;
        for (;;) {
                gssize n;

                self->blocked = GSMTP_TLS_OK;
                n = gnutls_record_send (self->session, data, len);
                if (n >= 0)
                        return n;
                if ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) && self->blocked != GSMTP_TLS_OK) {
                        *status = self->blocked;
                        return -1;
                }
                /* after an interrupted send GnuTLS wants the same bytes again */
                if ((n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) && ++spins < SPINS_MAX)
                        continue;
                g_debug ("TLS: %s", gnutls_strerror (n));
                *status = GSMTP_TLS_ERROR;
                return -1;
        }
}

/* Decrypted bytes GnuTLS holds: they come with no readiness event. */
gboolean
gsmtp_tls_session_has_pending (GSmtpTlsSession *self)
{
        return gnutls_record_check_pending (self->session) > 0;
}

/* Sends close_notify if the socket takes it now; never waits for the peer. */
void
gsmtp_tls_session_bye (GSmtpTlsSession *self)
{
        gnutls_bye (self->session, GNUTLS_SHUT_WR);
}

/* The names OpenSSL and Postfix use, as in Received headers everywhere. */
const char *
gsmtp_tls_session_get_version (GSmtpTlsSession *self)
{
        switch (gnutls_protocol_get_version (self->session)) {
        case GNUTLS_TLS1_0: return "TLSv1";
        case GNUTLS_TLS1_1: return "TLSv1.1";
        case GNUTLS_TLS1_2: return "TLSv1.2";
        case GNUTLS_TLS1_3: return "TLSv1.3";
        default: return "TLS";
        }
}

/* The IANA name, e.g. TLS_AES_256_GCM_SHA384, as GIO reported it. */
const char *
gsmtp_tls_session_get_cipher (GSmtpTlsSession *self)
{
        return gnutls_ciphersuite_get (self->session);
}

/* (transfer full) (nullable): the client's certificate, its chain as sent
 * linked through "issuer", made with GIO's TLS backend so the application can
 * verify it with g_tls_certificate_verify(). */
GTlsCertificate *
gsmtp_tls_session_get_peer_certificate (GSmtpTlsSession *self)
{
        unsigned int n = 0;
        const gnutls_datum_t *der = gnutls_certificate_get_peers (self->session, &n);
        GTlsCertificate *issuer = NULL;
        GTlsBackend *backend;
        GType type;

        if (der == NULL || n == 0)
                return NULL;
        backend = g_tls_backend_get_default ();
        if (!g_tls_backend_supports_tls (backend))
                return NULL;
        type = g_tls_backend_get_certificate_type (backend);
        for (guint i = MIN (n, CHAIN_MAX); i-- > 0;) {
                g_autoptr(GByteArray) bytes = g_byte_array_sized_new (der[i].size);
                g_autoptr(GError) error = NULL;
                GTlsCertificate *cert;

                g_byte_array_append (bytes, der[i].data, der[i].size);
                cert = g_initable_new (type, NULL, &error, "certificate", bytes, "issuer", issuer, NULL);
                g_clear_object (&issuer);
                if (cert == NULL) {
                        g_debug ("TLS: the client's certificate cannot be read: %s", error->message);
                        return NULL;
                }
                issuer = cert;
        }
        return issuer;
}

/* gsmtp-client-connection.c — one connection of a GSmtpClient, driven by the
 * operation that holds it.
 * Owns: connecting, implicit TLS and STARTTLS (RFC 8314, RFC 3207), the greeting,
 * EHLO/LHLO and the HELO fallback (RFC 5321 3.2, 4.1.1.1; RFC 2033), AUTH PLAIN,
 * LOGIN, XOAUTH2 and OAUTHBEARER (RFC 4954, RFC 7628), QUIT; reading replies and
 * writing commands as non-blocking GIO calls in the operation's main context,
 * with a timeout per step; dropping the connection after any failure.
 * Not: the message (gsmtp-client-transaction.c), which connection an operation
 * gets (gsmtp-client.c), where a reply ends (gsmtp-client-reply.c). */
#include "config.h"
#include "gsmtp-client-connection.h"
#include "gsmtp-client-params.h"
#include "gsmtp-address.h"
#include "gsmtp-sasl.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

/* One read: a typical EHLO reply or a batch of pipelined replies at once. */
#define READ_SIZE (16 * 1024)
/* RFC 4954 4: an AUTH line with its initial response may be long, but servers cut
 * command lines at 512 or 1024 bytes: a longer response goes after a 334. */
#define AUTH_LINE_MAX 500

/* ---- settings ----------------------------------------------------------------- */

GSmtpClientConfig *
gsmtp_client_config_new (void)
{
        GSmtpClientConfig *config = g_atomic_rc_box_new0 (GSmtpClientConfig);

        config->timeout = 300;
        return config;
}

GSmtpClientConfig *
gsmtp_client_config_copy (const GSmtpClientConfig *src)
{
        GSmtpClientConfig *config = gsmtp_client_config_new ();

        config->connectable = src->connectable != NULL ? g_object_ref (src->connectable) : NULL;
        config->given_stream = src->given_stream != NULL ? g_object_ref (src->given_stream) : NULL;
        config->tls_mode = src->tls_mode;
        config->helo_name = g_strdup (src->helo_name);
        config->database = src->database != NULL ? g_object_ref (src->database) : NULL;
        config->interaction = src->interaction != NULL ? g_object_ref (src->interaction) : NULL;
        config->insecure = src->insecure;
        config->lmtp = src->lmtp;
        config->username = g_strdup (src->username);
        config->password = g_strdup (src->password);
        config->token = g_strdup (src->token);
        config->oauth = src->oauth;
        config->mechanism = g_strdup (src->mechanism);
        config->timeout = src->timeout;
        return config;
}

GSmtpClientConfig *
gsmtp_client_config_ref (GSmtpClientConfig *config)
{
        return g_atomic_rc_box_acquire (config);
}

static void
config_clear (gpointer data)
{
        GSmtpClientConfig *config = data;

        g_clear_object (&config->connectable);
        g_clear_object (&config->given_stream);
        g_free (config->helo_name);
        g_clear_object (&config->database);
        g_clear_object (&config->interaction);
        g_free (config->username);
        gsmtp_sasl_wipe (config->password);
        gsmtp_sasl_wipe (config->token);
        g_free (config->mechanism);
}

void
gsmtp_client_config_unref (GSmtpClientConfig *config)
{
        g_atomic_rc_box_release_full (config, config_clear);
}

/* ---- the connection ------------------------------------------------------------ */

GSmtpClientConnection *
gsmtp_client_connection_new (GSmtpClientConfig *config)
{
        GSmtpClientConnection *conn = g_new0 (GSmtpClientConnection, 1);

        conn->config = gsmtp_client_config_ref (config);
        conn->inbuf = g_byte_array_new ();
        conn->obuf = g_byte_array_new ();
        conn->rbuf = g_malloc (READ_SIZE);
        conn->extensions = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (conn->extensions, NULL);
        return conn;
}

static void
connection_wipe_obuf (GSmtpClientConnection *conn)
{
        if (conn->secret_in_obuf)
                memset (conn->obuf->data, 0, conn->obuf->len);
        conn->secret_in_obuf = FALSE;
        g_byte_array_set_size (conn->obuf, 0);
}

/* What an EHLO said: nothing after a HELO, a new connection, or STARTTLS
 * (RFC 3207 4.2: the AUTH list and the rest are asked for again). */
static void
connection_forget_extensions (GSmtpClientConnection *conn)
{
        g_ptr_array_set_size (conn->extensions, 0);
        g_ptr_array_add (conn->extensions, NULL);
        conn->ext = 0;
        conn->size_limit = 0;
        g_clear_pointer (&conn->auth_mechanisms, g_strfreev);
}

/* Closes at once, without QUIT and without a TLS close_notify: after a failure the
 * peer is not worth waiting for.  Nothing may be pending on the streams. */
void
gsmtp_client_connection_drop (GSmtpClientConnection *conn)
{
        GIOStream *bottom = conn->base != NULL ? conn->base : conn->stream;

        if (bottom != NULL)
                g_io_stream_close (bottom, NULL, NULL);
        g_clear_object (&conn->stream);
        g_clear_object (&conn->base);
        conn->in = NULL;
        conn->out = NULL;
        g_byte_array_set_size (conn->inbuf, 0);
        conn->inpos = 0;
        gsmtp_reply_framer_reset (&conn->framer);
        connection_wipe_obuf (conn);
        connection_forget_extensions (conn);
        conn->cert_errors = 0;
        conn->open = FALSE;
        conn->tls_active = FALSE;
        conn->esmtp = FALSE;
        conn->n_transactions = 0;
}

void
gsmtp_client_connection_free (GSmtpClientConnection *conn)
{
        gsmtp_client_connection_drop (conn);
        gsmtp_client_config_unref (conn->config);
        g_byte_array_unref (conn->inbuf);
        g_byte_array_unref (conn->obuf);
        g_free (conn->rbuf);
        g_ptr_array_unref (conn->extensions);
        g_free (conn);
}

/* An idle connection is out of step when anything arrived since its last reply:
 * a 421 before an idle timeout, the end of the stream, a late reply.  Reading it
 * without blocking tells (a TLS record with no data, such as a session ticket,
 * reads as nothing). */
gboolean
gsmtp_client_connection_is_stale (GSmtpClientConnection *conn)
{
        GPollableInputStream *pollable;
        g_autoptr(GError) error = NULL;
        gssize n;

        if (conn->stream == NULL || !conn->open || g_io_stream_is_closed (conn->stream))
                return TRUE;
        if (conn->inpos < conn->inbuf->len)
                return TRUE;
        if (!G_IS_POLLABLE_INPUT_STREAM (conn->in) ||
            !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (conn->in)))
                return FALSE;
        pollable = G_POLLABLE_INPUT_STREAM (conn->in);
        n = g_pollable_input_stream_read_nonblocking (pollable, conn->rbuf, READ_SIZE, NULL, &error);
        return !(n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
}

static void
connection_set_stream (GSmtpClientConnection *conn, GIOStream *stream)
{
        if (conn->stream != NULL) {
                g_clear_object (&conn->base);
                conn->base = conn->stream;
        }
        conn->stream = stream;
        conn->in = g_io_stream_get_input_stream (stream);
        conn->out = g_io_stream_get_output_stream (stream);
}

/* ---- an operation's steps: time, failure, the end ----------------------------------- */

static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
        g_source_set_ready_time (source, -1);
        return callback (data);
}

static GSourceFuncs timer_funcs = { NULL, NULL, timer_dispatch, NULL, NULL, NULL };

static gboolean
op_timer_fired (gpointer data)
{
        GSmtpClientOp *op = data;

        /* the pending call ends with CANCELLED; op_io_failed says why */
        op->timed_out = TRUE;
        g_cancellable_cancel (op->cancellable);
        return G_SOURCE_CONTINUE;
}

/* The timeout runs from the start of a step (a connect, a handshake, a write, the
 * wait for one whole reply) to its end; a server trickling a reply byte by byte
 * does not restart it.  The send's own deadline is gsmtp-client.c's. */
void
gsmtp_client_op_timer_arm (GSmtpClientOp *op)
{
        if (op->config->timeout == 0)
                return;
        if (op->timer == NULL) {
                op->timer = g_source_new (&timer_funcs, sizeof (GSource));
                g_source_set_static_name (op->timer, "gsmtp client timeout");
                g_source_set_callback (op->timer, op_timer_fired, op, NULL);
                g_source_attach (op->timer, op->context);
        }
        if (g_source_get_ready_time (op->timer) == -1)
                g_source_set_ready_time (op->timer, g_get_monotonic_time () +
                                                    (gint64) op->config->timeout * G_USEC_PER_SEC);
}

void
gsmtp_client_op_timer_stop (GSmtpClientOp *op)
{
        if (op->timer != NULL)
                g_source_set_ready_time (op->timer, -1);
}

void
gsmtp_client_op_finish (GSmtpClientOp *op)
{
        gsmtp_client_op_timer_stop (op);
        gsmtp_client_op_done (op);
}

static gboolean
error_is_connection_lost (const GError *error)
{
        return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
               g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_EOF) ||
               g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
               g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED) ||
               g_error_matches (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL);
}

/* Any failure of the dialogue: the connection can no longer be trusted to be in
 * step with the server, so it goes.  The one exception: a reused connection that
 * broke before its first reply of this send (the server closed it while it was
 * idle) is reopened once and the transaction starts again; no message data had
 * been sent, so nothing can be delivered twice. */
void
gsmtp_client_op_fail (GSmtpClientOp *op, GError *error)
{
        gsmtp_client_op_timer_stop (op);
        if (op->conn != NULL)
                gsmtp_client_connection_drop (op->conn);
        if (op->may_retry && !op->retried && !g_cancellable_is_cancelled (op->cancellable) &&
            error_is_connection_lost (error)) {
                g_debug ("gsmtp client: reused connection lost (%s); reconnecting", error->message);
                g_error_free (error);
                op->retried = TRUE;
                op->may_retry = FALSE;
                op->reused = FALSE;
                gsmtp_client_op_open (op, gsmtp_client_op_transaction);
                return;
        }
        op->may_retry = FALSE;
        if (op->error == NULL)
                op->error = error;
        else
                g_error_free (error);
        gsmtp_client_op_done (op);
}

/* A reply that is not what was hoped for becomes a GError quoting it (and carrying
 * it, g_smtp_error_get_reply()). */
GError *
gsmtp_client_reply_error (GSmtpReply *reply, const char *what)
{
        g_autofree char *text = g_smtp_reply_to_string (reply);
        guint code = g_smtp_reply_get_code (reply);
        GError *error = g_error_new (GSMTP_ERROR, code >= 500 ? GSMTP_ERROR_REJECTED
                                                              : code >= 400 ? GSMTP_ERROR_TEMPORARY
                                                                            : GSMTP_ERROR_PROTOCOL,
                                     "%s: %s", what, text);

        gsmtp_error_set_reply (error, reply);
        return error;
}

void
gsmtp_client_op_fail_reply (GSmtpClientOp *op, GSmtpReply *reply, const char *what)
{
        gsmtp_client_op_fail (op, gsmtp_client_reply_error (reply, what));
}

/* From here on the application's cancellable no longer reaches the operation;
 * the timeouts still do. */
void
gsmtp_client_op_detach_cancellable (GSmtpClientOp *op)
{
        if (op->user_cancellable == NULL || op->timed_out || op->deadline_hit)
                return;
        g_object_unref (op->cancellable);
        op->cancellable = g_cancellable_new ();
}

/* The error of an operation one of its timers cancelled, naming the timer
 * and what the operation was @doing; NULL when no timer did. */
GError *
gsmtp_client_op_timeout_error (GSmtpClientOp *op, const char *doing)
{
        if (op->deadline_hit)
                return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                    "The send did not finish within %u s (send-timeout; %s)",
                                    op->send_timeout, doing);
        if (op->timed_out)
                return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                    "No progress for %u s (timeout; %s)", op->config->timeout, doing);
        return NULL;
}

gboolean
gsmtp_client_op_check_cancelled (GSmtpClientOp *op)
{
        GError *error = NULL;

        if (!g_cancellable_set_error_if_cancelled (op->cancellable, &error))
                return FALSE;
        /* the timer's words, or those of a cancelled GIO call */
        if (op->deadline_hit || op->timed_out) {
                g_clear_error (&error);
                error = gsmtp_client_op_timeout_error (op, op->doing);
        }
        gsmtp_client_op_fail (op, error);
        return TRUE;
}

static void
op_io_failed (GSmtpClientOp *op, GError *error)
{
        if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && (op->deadline_hit || op->timed_out)) {
                g_clear_error (&error);
                error = gsmtp_client_op_timeout_error (op, op->doing);
        }
        gsmtp_client_op_fail (op, error);
}

/* ---- reading replies, writing commands --------------------------------------------- */

static void
op_read_done (GObject *source, GAsyncResult *res, gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClientConnection *conn = op->conn;
        GError *error = NULL;
        gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

        if (n < 0) {
                op_io_failed (op, error);
                return;
        }
        if (n == 0) {
                op_io_failed (op, g_error_new (GSMTP_ERROR, GSMTP_ERROR_PROTOCOL,
                                               "The server closed the connection (%s)", op->doing));
                return;
        }
        g_byte_array_append (conn->inbuf, conn->rbuf, n);
        op->resume (op);
}

/* The next reply: at once when it is already buffered (pipelined replies often
 * come in one read), or REPLY_PENDING and resume() is called when more bytes
 * came; REPLY_FAILED when the operation has failed (and ended). */
GSmtpReplyWait
gsmtp_client_op_next_reply (GSmtpClientOp *op, GSmtpClientStep resume, GSmtpReply **reply)
{
        GSmtpClientConnection *conn = op->conn;
        GError *error = NULL;
        gsize len = 0;

        switch (gsmtp_reply_framer_scan (&conn->framer, conn->inbuf->data + conn->inpos,
                                         conn->inbuf->len - conn->inpos, &len, &error)) {
        case GSMTP_FRAME_REPLY:
                *reply = g_smtp_reply_parse ((const char *) conn->inbuf->data + conn->inpos, len, &error);
                conn->inpos += len;
                if (conn->inpos == conn->inbuf->len) {
                        g_byte_array_set_size (conn->inbuf, 0);
                        conn->inpos = 0;
                }
                if (*reply == NULL) {
                        gsmtp_client_op_fail (op, error);
                        return REPLY_FAILED;
                }
                gsmtp_client_op_timer_stop (op);
                return REPLY_READY;
        case GSMTP_FRAME_ERROR:
                g_prefix_error (&error, "%s: ", op->doing);
                gsmtp_client_op_fail (op, error);
                return REPLY_FAILED;
        case GSMTP_FRAME_MORE:
                break;
        }
        if (conn->inpos > 0) {
                /* the framer's position is relative to the reply's start: unchanged */
                g_byte_array_remove_range (conn->inbuf, 0, conn->inpos);
                conn->inpos = 0;
        }
        if (gsmtp_client_op_check_cancelled (op))
                return REPLY_FAILED;
        op->resume = resume;
        gsmtp_client_op_timer_arm (op);
        g_input_stream_read_async (conn->in, conn->rbuf, READ_SIZE, G_PRIORITY_DEFAULT, op->cancellable,
                                   op_read_done, op);
        return REPLY_PENDING;
}

void
gsmtp_client_op_command (GSmtpClientOp *op, const char *format, ...)
{
        g_autofree char *line = NULL;
        va_list args;

        va_start (args, format);
        line = g_strdup_vprintf (format, args);
        va_end (args);
        g_byte_array_append (op->conn->obuf, (const guint8 *) line, strlen (line));
        g_byte_array_append (op->conn->obuf, (const guint8 *) "\r\n", 2);
}

static void
op_write_done (GObject *source, GAsyncResult *res, gpointer data)
{
        GSmtpClientOp *op = data;
        GError *error = NULL;

        g_clear_pointer (&op->tail, g_bytes_unref);
        connection_wipe_obuf (op->conn);
        if (!g_output_stream_writev_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error)) {
                op_io_failed (op, error);
                return;
        }
        gsmtp_client_op_timer_stop (op);
        op->after_write (op);
}

/* Writes the queued commands, then @tail, then @trailer (a static string), in one
 * call: a batch of pipelined commands, or the last of a message and its ".", leave
 * in as few packets as the kernel can make (no Nagle wait between them). */
void
gsmtp_client_op_flush (GSmtpClientOp *op, GBytes *tail, const char *trailer, GSmtpClientStep done)
{
        GSmtpClientConnection *conn = op->conn;
        guint n = 0;

        if (conn->obuf->len > 0) {
                op->vectors[n].buffer = conn->obuf->data;
                op->vectors[n++].size = conn->obuf->len;
        }
        if (tail != NULL && g_bytes_get_size (tail) > 0) {
                op->tail = g_bytes_ref (tail);
                op->vectors[n].buffer = g_bytes_get_data (tail, &op->vectors[n].size);
                n++;
        }
        if (trailer != NULL) {
                op->vectors[n].buffer = trailer;
                op->vectors[n++].size = strlen (trailer);
        }
        if (n == 0) {
                done (op);
                return;
        }
        if (gsmtp_client_op_check_cancelled (op))
                return;
        op->after_write = done;
        gsmtp_client_op_timer_arm (op);
        g_output_stream_writev_all_async (conn->out, op->vectors, n, G_PRIORITY_DEFAULT, op->cancellable,
                                          op_write_done, op);
}

/* ---- opening: connect, TLS, greeting, EHLO, STARTTLS, AUTH --------------------------- */

static void open_banner (GSmtpClientOp *op);
static void open_ehlo (GSmtpClientOp *op);
static void open_ehlo_reply (GSmtpClientOp *op);
static void open_after_ehlo (GSmtpClientOp *op);
static void open_auth (GSmtpClientOp *op);
static void open_ready (GSmtpClientOp *op);

static const char *
cert_error_text (GTlsCertificateFlags flag)
{
        switch (flag) {
        case G_TLS_CERTIFICATE_UNKNOWN_CA:
                return "unknown certificate authority (self-signed, or an issuer not trusted)";
        case G_TLS_CERTIFICATE_BAD_IDENTITY:
                return "hostname mismatch (the certificate is for another name)";
        case G_TLS_CERTIFICATE_NOT_ACTIVATED:
                return "not valid yet";
        case G_TLS_CERTIFICATE_EXPIRED:
                return "expired";
        case G_TLS_CERTIFICATE_REVOKED:
                return "revoked";
        case G_TLS_CERTIFICATE_INSECURE:
                return "insecure algorithm";
        default:
                return "invalid";
        }
}

static gboolean
on_accept_certificate (GTlsConnection *tls, GTlsCertificate *cert, GTlsCertificateFlags errors,
                       gpointer data)
{
        GSmtpClientConnection *conn = data;

        /* only called when verification failed: remember why, for the error */
        conn->cert_errors = errors;
        return conn->config->insecure;
}

static void
open_handshake_done (GObject *source, GAsyncResult *res, gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClientConnection *conn = op->conn;
        GError *error = NULL;

        if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), res, &error)) {
                if (conn->cert_errors != 0 && !conn->config->insecure &&
                    !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                        g_autoptr(GString) why = g_string_new (NULL);
                        g_autofree char *name = conn->config->connectable != NULL
                                                ? g_socket_connectable_to_string (conn->config->connectable)
                                                : g_strdup ("the server");

                        for (guint bit = 1; bit <= G_TLS_CERTIFICATE_GENERIC_ERROR; bit <<= 1) {
                                if (!(conn->cert_errors & bit))
                                        continue;
                                if (why->len > 0)
                                        g_string_append (why, "; ");
                                g_string_append (why, cert_error_text (bit));
                        }
                        g_clear_error (&error);
                        g_set_error (&error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                                     "The TLS certificate of %s is not accepted: %s", name, why->str);
                        op_io_failed (op, error);
                        return;
                }
                g_prefix_error (&error, "TLS handshake failed: ");
                op_io_failed (op, error);
                return;
        }
        gsmtp_client_op_timer_stop (op);
        conn->tls_active = TRUE;
        if (conn->esmtp)
                open_ehlo (op);         /* after STARTTLS: RFC 3207 4.2, greet again */
        else
                open_banner (op);       /* implicit TLS: the greeting comes now */
}

static void
open_handshake (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpClientConfig *config = conn->config;
        GError *error = NULL;
        GIOStream *tls;

        tls = g_tls_client_connection_new (conn->stream, config->connectable, &error);
        if (tls == NULL) {
                gsmtp_client_op_fail (op, error);
                return;
        }
        if (config->database != NULL)
                g_tls_connection_set_database (G_TLS_CONNECTION (tls), config->database);
        if (config->interaction != NULL)
                g_tls_connection_set_interaction (G_TLS_CONNECTION (tls), config->interaction);
        g_signal_connect (tls, "accept-certificate", G_CALLBACK (on_accept_certificate), conn);
        connection_set_stream (conn, tls);
        op->doing = "in the TLS handshake";
        gsmtp_client_op_timer_arm (op);
        /* glib-networking runs the handshake itself in a thread of its own pool;
         * everything else here stays on the operation's main context */
        g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, op->cancellable,
                                          open_handshake_done, op);
}

static void
open_connected (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;

        if (G_IS_SOCKET_CONNECTION (conn->stream)) {
                /* commands and replies are small and each waits for the other:
                 * Nagle's algorithm would hold them for the peer's delayed ACK */
                g_socket_set_option (g_socket_connection_get_socket (G_SOCKET_CONNECTION (conn->stream)),
                                     IPPROTO_TCP, TCP_NODELAY, 1, NULL);
        }
        if (conn->config->tls_mode == GSMTP_TLS_IMPLICIT)
                open_handshake (op);
        else
                open_banner (op);
}

static void
open_connect_done (GObject *source, GAsyncResult *res, gpointer data)
{
        GSmtpClientOp *op = data;
        GError *error = NULL;
        GSocketConnection *sc = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), res, &error);

        if (sc == NULL) {
                op_io_failed (op, error);
                return;
        }
        gsmtp_client_op_timer_stop (op);
        connection_set_stream (op->conn, G_IO_STREAM (sc));
        open_connected (op);
}

/* Opens the operation's connection unless it is open already, then ready(). */
void
gsmtp_client_op_open (GSmtpClientOp *op, GSmtpClientStep ready)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpClientConfig *config = conn->config;

        op->opened = ready;
        if (conn->open) {
                ready (op);
                return;
        }
        if (gsmtp_client_op_check_cancelled (op))
                return;
        if (config->given_stream != NULL) {
                if (g_io_stream_is_closed (config->given_stream)) {
                        gsmtp_client_op_fail (op, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                "The connection given to g_smtp_client_new_for_stream() is closed; "
                                "this client cannot reconnect"));
                        return;
                }
                connection_set_stream (conn, g_object_ref (config->given_stream));
                open_connected (op);
        } else {
                g_autoptr(GSocketClient) client = g_socket_client_new ();

                /* the desktop's HTTP proxy settings are not for SMTP */
                g_socket_client_set_enable_proxy (client, FALSE);
                op->doing = "connecting";
                gsmtp_client_op_timer_arm (op);
                g_socket_client_connect_async (client, config->connectable, op->cancellable,
                                               open_connect_done, op);
        }
}

static void
open_banner (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;

        op->doing = "waiting for the server's greeting";
        if (gsmtp_client_op_next_reply (op, open_banner, &reply) != REPLY_READY)
                return;
        if (g_smtp_reply_get_code (reply) == 220)
                open_ehlo (op);
        else
                gsmtp_client_op_fail_reply (op, reply, "The server refused the connection");
        g_smtp_reply_unref (reply);
}

/* RFC 5321 4.1.1.1: a fully qualified domain name, or else an address literal.
 * The host's name when it is one; otherwise the connection's own address. */
static char *
open_helo_name (GSmtpClientConnection *conn, GError **error)
{
        const char *given = conn->config->helo_name;
        GIOStream *bottom = conn->base != NULL ? conn->base : conn->stream;
        g_autofree char *host = NULL;

        if (given != NULL) {
                /* RFC 5321 4.1.3: an address literal is [a.b.c.d] or [IPv6:...] */
                g_autofree char *ascii = given[0] == '[' ? g_strdup (given) : g_hostname_to_ascii (given);

                if (ascii != NULL && gsmtp_domain_is_valid (ascii))
                        return g_steal_pointer (&ascii);
                gsmtp_client_check_path ("HELO name", given, FALSE, NULL, error);
                if (error != NULL && *error == NULL)
                        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                     "Invalid HELO name \"%s\": not a domain name nor an address literal",
                                     given);
                return NULL;
        }
        host = g_hostname_to_ascii (g_get_host_name ());
        if (host != NULL && strchr (host, '.') != NULL && gsmtp_domain_is_valid (host) &&
            !g_str_has_suffix (host, ".localdomain") && !g_str_has_suffix (host, ".local"))
                return g_steal_pointer (&host);
        if (G_IS_SOCKET_CONNECTION (bottom)) {
                g_autoptr(GSocketAddress) local =
                        g_socket_connection_get_local_address (G_SOCKET_CONNECTION (bottom), NULL);

                if (G_IS_INET_SOCKET_ADDRESS (local)) {
                        GInetAddress *ip = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local));
                        g_autofree char *text = g_inet_address_to_string (ip);

                        if (g_inet_address_get_family (ip) == G_SOCKET_FAMILY_IPV6)
                                return g_strdup_printf ("[IPv6:%s]", text);
                        return g_strdup_printf ("[%s]", text);
                }
        }
        return g_strdup ("[127.0.0.1]");
}

static void
open_ehlo (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GError *error = NULL;
        g_autofree char *name = open_helo_name (conn, &error);

        if (name == NULL) {
                gsmtp_client_op_fail (op, error);
                return;
        }
        gsmtp_client_op_command (op, "%s %s", conn->config->lmtp ? "LHLO" : "EHLO", name);
        conn->esmtp = FALSE;
        op->auth_step = 0;
        op->doing = conn->config->lmtp ? "waiting for the reply to LHLO" : "waiting for the reply to EHLO";
        gsmtp_client_op_flush (op, NULL, NULL, open_ehlo_reply);
}

static void
ehlo_parse (GSmtpClientConnection *conn, GSmtpReply *reply)
{
        static const struct {
                const char *keyword;
                guint       flag;
        } known[] = {
                { "PIPELINING", EXT_PIPELINING }, { "SIZE", EXT_SIZE }, { "8BITMIME", EXT_8BITMIME },
                { "SMTPUTF8", EXT_SMTPUTF8 }, { "DSN", EXT_DSN }, { "CHUNKING", EXT_CHUNKING },
                { "BINARYMIME", EXT_BINARYMIME }, { "REQUIRETLS", EXT_REQUIRETLS },
                { "STARTTLS", EXT_STARTTLS }, { "AUTH", EXT_AUTH },
                { "ENHANCEDSTATUSCODES", EXT_ENHANCED },
        };
        const char *const *lines = g_smtp_reply_get_lines (reply);

        connection_forget_extensions (conn);
        g_ptr_array_set_size (conn->extensions, 0);     /* NULL-terminated again below */
        for (guint i = 1; lines[i] != NULL; i++) {
                const char *line = lines[i];
                gsize klen = strcspn (line, " =");
                const char *args = line[klen] != '\0' ? line + klen + 1 : "";

                if (klen == 0)
                        continue;
                g_ptr_array_add (conn->extensions, g_strdup (line));
                for (guint k = 0; k < G_N_ELEMENTS (known); k++) {
                        if (strlen (known[k].keyword) != klen ||
                            g_ascii_strncasecmp (line, known[k].keyword, klen) != 0)
                                continue;
                        /* an old server's "AUTH=LOGIN" counts only when no "AUTH" line came */
                        if (known[k].flag == EXT_AUTH && line[klen] == '=' && conn->auth_mechanisms != NULL)
                                break;
                        conn->ext |= known[k].flag;
                        if (known[k].flag == EXT_SIZE)
                                conn->size_limit = g_ascii_strtoull (args, NULL, 10);
                        if (known[k].flag == EXT_AUTH) {
                                g_strfreev (conn->auth_mechanisms);
                                conn->auth_mechanisms = g_strsplit (args, " ", -1);
                        }
                }
        }
        g_ptr_array_add (conn->extensions, NULL);
}

static void
open_helo_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;

        if (gsmtp_client_op_next_reply (op, open_helo_reply, &reply) != REPLY_READY)
                return;
        if (g_smtp_reply_get_code (reply) == 250) {
                connection_forget_extensions (op->conn);
                open_after_ehlo (op);
        } else {
                gsmtp_client_op_fail_reply (op, reply, "HELO refused");
        }
        g_smtp_reply_unref (reply);
}

static void
open_ehlo_reply (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpReply *reply = NULL;
        guint code;

        if (gsmtp_client_op_next_reply (op, open_ehlo_reply, &reply) != REPLY_READY)
                return;
        code = g_smtp_reply_get_code (reply);
        if (code == 250) {
                conn->esmtp = TRUE;
                ehlo_parse (conn, reply);
                open_after_ehlo (op);
        } else if (code >= 500 && !conn->config->lmtp) {
                /* RFC 5321 3.2: a server that does not know EHLO gets HELO */
                g_autofree char *name = open_helo_name (conn, NULL);

                gsmtp_client_op_command (op, "HELO %s", name);
                op->doing = "waiting for the reply to HELO";
                gsmtp_client_op_flush (op, NULL, NULL, open_helo_reply);
        } else {
                /* 421 (the server is closing) and other refusals end it here */
                gsmtp_client_op_fail_reply (op, reply, conn->config->lmtp ? "LHLO refused" : "EHLO refused");
        }
        g_smtp_reply_unref (reply);
}

static void
open_starttls_reply (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpReply *reply = NULL;

        if (gsmtp_client_op_next_reply (op, open_starttls_reply, &reply) != REPLY_READY)
                return;
        if (g_smtp_reply_get_code (reply) == 220) {
                /* RFC 3207 4.2: nothing the server sent before the handshake counts */
                if (conn->inpos < conn->inbuf->len)
                        gsmtp_client_op_fail (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_PROTOCOL,
                                                      "The server sent data after its STARTTLS reply"));
                else
                        open_handshake (op);
        } else if (conn->config->tls_mode == GSMTP_TLS_STARTTLS_OPPORTUNISTIC &&
                   g_smtp_reply_get_code (reply) != 421) {
                /* opportunistic: a refusal leaves the session as it was, in plain text */
                open_auth (op);
        } else {
                GError *error = gsmtp_client_reply_error (reply, "STARTTLS refused");

                if (g_smtp_reply_get_code (reply) != 421)
                        error->code = GSMTP_ERROR_TLS_REQUIRED;
                gsmtp_client_op_fail (op, error);
        }
        g_smtp_reply_unref (reply);
}

static void
open_after_ehlo (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpTlsMode mode = conn->config->tls_mode;

        if (!conn->tls_active && (mode == GSMTP_TLS_STARTTLS || mode == GSMTP_TLS_STARTTLS_OPPORTUNISTIC)) {
                if (conn->ext & EXT_STARTTLS) {
                        gsmtp_client_op_command (op, "STARTTLS");
                        op->doing = "waiting for the reply to STARTTLS";
                        gsmtp_client_op_flush (op, NULL, NULL, open_starttls_reply);
                        return;
                }
                if (mode == GSMTP_TLS_STARTTLS) {
                        gsmtp_client_op_fail (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_TLS_REQUIRED,
                                                                       "The server does not offer STARTTLS"));
                        return;
                }
        }
        open_auth (op);
}

/* ---- AUTH ---------------------------------------------------------------------- */

enum {
        AUTH_FINAL = 1,         /* the last response went out: 235 expected */
        AUTH_CONTINUE,          /* "AUTH MECH" alone went out: 334, then auth_pending */
        AUTH_LOGIN_USER,        /* AUTH LOGIN: 334, then the user */
        AUTH_LOGIN_PASSWORD,    /* 334, then the password */
        AUTH_OAUTH_ERROR,       /* an OAuth error challenge was acknowledged: 5xx expected */
};

static gboolean
auth_offers (GSmtpClientConnection *conn, const char *mechanism)
{
        for (guint i = 0; conn->auth_mechanisms != NULL && conn->auth_mechanisms[i] != NULL; i++)
                if (g_ascii_strcasecmp (conn->auth_mechanisms[i], mechanism) == 0)
                        return TRUE;
        return FALSE;
}

static const char *
auth_choose (GSmtpClientConnection *conn, GError **error)
{
        static const char *const password_mechs[] = { "PLAIN", "LOGIN", NULL };
        static const char *const oauth_mechs[] = { "OAUTHBEARER", "XOAUTH2", NULL };
        const char *const *mine = conn->config->oauth ? oauth_mechs : password_mechs;
        const char *wanted = conn->config->mechanism;

        if (wanted != NULL) {
                const char *known = NULL;

                for (guint i = 0; mine[i] != NULL; i++)
                        if (g_ascii_strcasecmp (mine[i], wanted) == 0)
                                known = mine[i];
                if (known == NULL) {
                        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED,
                                     "AUTH %s needs %s", wanted,
                                     conn->config->oauth ? "a password, not an OAuth token"
                                                         : "an OAuth token (g_smtp_client_set_oauth_token)");
                        return NULL;
                }
                if (!auth_offers (conn, known)) {
                        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED,
                                     "The server does not offer AUTH %s", known);
                        return NULL;
                }
                return known;
        }
        for (guint i = 0; mine[i] != NULL; i++)
                if (auth_offers (conn, mine[i]))
                        return mine[i];
        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED,
                     "The server offers no AUTH mechanism this client can use with %s (%s)",
                     conn->config->oauth ? "a token" : "a password",
                     conn->config->oauth ? "OAUTHBEARER, XOAUTH2" : "PLAIN, LOGIN");
        return NULL;
}

static void
auth_send_secret (GSmtpClientOp *op, const char *line)
{
        gsmtp_client_op_command (op, "%s", line);
        op->conn->secret_in_obuf = TRUE;
}

static void open_auth_reply (GSmtpClientOp *op);

static void
open_auth_failed (GSmtpClientOp *op, GSmtpReply *reply)
{
        GError *error = gsmtp_client_reply_error (reply, "Authentication failed");

        error->code = GSMTP_ERROR_AUTH_FAILED;
        gsmtp_client_op_fail (op, error);
}

static void
open_auth_reply (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpReply *reply = NULL;
        guint code;

        if (gsmtp_client_op_next_reply (op, open_auth_reply, &reply) != REPLY_READY)
                return;
        code = g_smtp_reply_get_code (reply);
        if (code == 235 && op->auth_step == AUTH_FINAL) {
                open_ready (op);
        } else if (code == 334 && op->auth_step == AUTH_CONTINUE && op->auth_pending != NULL) {
                auth_send_secret (op, op->auth_pending);
                g_clear_pointer (&op->auth_pending, gsmtp_sasl_wipe);
                op->auth_step = AUTH_FINAL;
                gsmtp_client_op_flush (op, NULL, NULL, open_auth_reply);
        } else if (code == 334 && op->auth_step == AUTH_LOGIN_USER) {
                g_autofree char *user = gsmtp_sasl_encode_text (conn->config->username);

                gsmtp_client_op_command (op, "%s", user);
                op->auth_step = AUTH_LOGIN_PASSWORD;
                gsmtp_client_op_flush (op, NULL, NULL, open_auth_reply);
        } else if (code == 334 && op->auth_step == AUTH_LOGIN_PASSWORD) {
                char *pass = gsmtp_sasl_encode_text (conn->config->password != NULL ? conn->config->password : "");

                auth_send_secret (op, pass);
                gsmtp_sasl_wipe (pass);
                op->auth_step = AUTH_FINAL;
                gsmtp_client_op_flush (op, NULL, NULL, open_auth_reply);
        } else if (code == 334 && op->auth_step == AUTH_FINAL && conn->config->oauth) {
                /* RFC 7628 3.2.3: the token was refused; the challenge holds the
                 * server's JSON error.  Acknowledge it (%x01 for OAUTHBEARER, an
                 * empty line for XOAUTH2) and the final reply follows. */
                gsmtp_client_op_command (op, "%s", g_str_equal (op->auth_mech, "XOAUTH2") ? "" : "AQ==");
                op->auth_step = AUTH_OAUTH_ERROR;
                gsmtp_client_op_flush (op, NULL, NULL, open_auth_reply);
        } else {
                open_auth_failed (op, reply);
        }
        g_smtp_reply_unref (reply);
}

static gboolean
token_is_valid (const char *token)
{
        if (token == NULL || *token == '\0')
                return FALSE;
        for (const char *p = token; *p != '\0'; p++)
                if ((guchar) *p <= 0x20 || *p == 0x7f)
                        return FALSE;
        return TRUE;
}

static void
open_auth (GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = op->conn;
        GSmtpClientConfig *config = conn->config;
        GError *error = NULL;
        const char *mech;
        char *response = NULL;
        char *token = NULL;

        if (config->username == NULL) {
                open_ready (op);
                return;
        }
        if (!conn->tls_active) {
                gsmtp_client_op_fail (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_TLS_REQUIRED,
                                                               "Refusing to send a password without TLS"));
                return;
        }
        mech = auth_choose (conn, &error);
        if (mech == NULL) {
                gsmtp_client_op_fail (op, error);
                return;
        }
        if (config->oauth) {
                token = config->token != NULL ? g_strdup (config->token)
                                              : gsmtp_client_get_token (op->client, config);
                if (!token_is_valid (token)) {
                        gsmtp_sasl_wipe (token);
                        gsmtp_client_op_fail (op, g_error_new_literal (GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED,
                                "No usable OAuth token (empty, or a space or control character in it)"));
                        return;
                }
        }
        op->doing = "authenticating";
        op->auth_mech = mech;
        if (g_str_equal (mech, "LOGIN")) {
                gsmtp_client_op_command (op, "AUTH LOGIN");
                op->auth_step = AUTH_LOGIN_USER;
                gsmtp_client_op_flush (op, NULL, NULL, open_auth_reply);
                return;
        }
        if (g_str_equal (mech, "PLAIN")) {
                response = gsmtp_sasl_encode_plain (config->username, config->password != NULL ? config->password : "");
        } else if (g_str_equal (mech, "XOAUTH2")) {
                response = gsmtp_sasl_encode_xoauth2 (config->username, token);
        } else {
                g_autofree char *host = NULL;
                guint port = 0;

                if (G_IS_NETWORK_ADDRESS (config->connectable)) {
                        host = g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (config->connectable)));
                        port = g_network_address_get_port (G_NETWORK_ADDRESS (config->connectable));
                }
                response = gsmtp_sasl_encode_oauthbearer (config->username, host, port, token);
        }
        gsmtp_sasl_wipe (token);
        if (strlen ("AUTH ") + strlen (mech) + 1 + strlen (response) <= AUTH_LINE_MAX) {
                char *line = g_strdup_printf ("AUTH %s %s", mech, response);

                auth_send_secret (op, line);
                gsmtp_sasl_wipe (line);
                gsmtp_sasl_wipe (response);
                op->auth_step = AUTH_FINAL;
        } else {
                gsmtp_client_op_command (op, "AUTH %s", mech);
                op->auth_pending = response;
                op->auth_step = AUTH_CONTINUE;
        }
        gsmtp_client_op_flush (op, NULL, NULL, open_auth_reply);
}

static void
open_ready (GSmtpClientOp *op)
{
        op->conn->open = TRUE;
        op->auth_step = 0;
        gsmtp_client_take_extensions (op->client, op->conn);
        op->opened (op);
}

/* ---- QUIT ----------------------------------------------------------------------- */

static void
quit_reply (GSmtpClientOp *op)
{
        GSmtpReply *reply = NULL;

        if (gsmtp_client_op_next_reply (op, quit_reply, &reply) != REPLY_READY)
                return;
        if (g_smtp_reply_get_code (reply) / 100 != 2 && op->error == NULL)
                op->error = gsmtp_client_reply_error (reply, "QUIT");
        g_smtp_reply_unref (reply);
        gsmtp_client_connection_drop (op->conn);
        gsmtp_client_op_done (op);
}

/* QUIT on the operation's connection, then closed; the operation ends either way. */
void
gsmtp_client_op_quit (GSmtpClientOp *op)
{
        if (op->conn->stream == NULL) {
                gsmtp_client_op_done (op);
                return;
        }
        gsmtp_client_op_command (op, "QUIT");
        op->doing = "waiting for the reply to QUIT";
        gsmtp_client_op_flush (op, NULL, NULL, quit_reply);
}

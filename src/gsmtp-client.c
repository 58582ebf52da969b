/* gsmtp-client.c — GSmtpClient: sends mail to an SMTP server, and GSmtpSendResult.
 * Owns: the client side of RFC 5321 (EHLO/HELO fallback, MAIL, RCPT, DATA, QUIT),
 * PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), STARTTLS
 * (RFC 3207), implicit TLS (RFC 8314), AUTH PLAIN/LOGIN (RFC 4954), line
 * normalisation and dot-stuffing on the wire.
 * Not: reply parsing (gsmtp-reply.c), SASL encodings (gsmtp-sasl.c).
 *
 * The steps run as blocking GIO calls with a GCancellable; the _async variants
 * run the same steps in a GTask thread (as GIO's own file operations do), and
 * signals are emitted in the caller's main context.  One operation at a time
 * per client. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-sasl.h"

#include <string.h>

/* A server reply line longer than this is not SMTP (RFC 5321 4.5.3.1.5 says 512). */
#define REPLY_LINE_MAX  (64 * 1024)
#define REPLY_LINES_MAX 256
#define SEND_CHUNK      (64 * 1024)

/* ---- GSmtpSendResult ------------------------------------------------------------ */

struct _GSmtpSendResult {
        GObject     parent_instance;
        GSmtpReply *reply;              /* (owned) (nullable): the reply to the end of data */
        GPtrArray  *accepted;           /* (owned): NULL-terminated */
        GPtrArray  *refused;            /* (owned): NULL-terminated */
        GHashTable *replies;            /* (owned): recipient → GSmtpReply */
};

/**
 * GSmtpSendResult:
 *
 * What the server said to one message: the reply to each recipient and the
 * reply to the end of the data.
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpSendResult, g_smtp_send_result, G_TYPE_OBJECT)

static void
g_smtp_send_result_finalize (GObject *object)
{
        GSmtpSendResult *self = GSMTP_SEND_RESULT (object);

        g_clear_pointer (&self->reply, g_smtp_reply_unref);
        g_ptr_array_unref (self->accepted);
        g_ptr_array_unref (self->refused);
        g_hash_table_unref (self->replies);
        G_OBJECT_CLASS (g_smtp_send_result_parent_class)->finalize (object);
}

static void
g_smtp_send_result_class_init (GSmtpSendResultClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = g_smtp_send_result_finalize;
}

static void
g_smtp_send_result_init (GSmtpSendResult *self)
{
        self->accepted = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (self->accepted, NULL);
        self->refused = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (self->refused, NULL);
        self->replies = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_smtp_reply_unref);
}

static void
send_result_add (GSmtpSendResult *self, const char *rcpt, GSmtpReply *reply)
{
        GPtrArray *list = g_smtp_reply_is_success (reply) ? self->accepted : self->refused;

        g_ptr_array_insert (list, list->len - 1, g_strdup (rcpt));
        g_hash_table_replace (self->replies, g_strdup (rcpt), g_smtp_reply_ref (reply));
}

/**
 * g_smtp_send_result_get_reply:
 * @self: a result
 *
 * Gets the server's reply to the end of the data.
 *
 * Returns: (transfer none) (nullable): the server's reply to the end of the data
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_send_result_get_reply (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return self->reply;
}

/**
 * g_smtp_send_result_get_accepted:
 * @self: a result
 *
 * Gets the recipients the server accepted.
 *
 * Returns: (array zero-terminated=1) (transfer none): the recipients the server accepted
 *
 * Since: 0.1
 */
const char *const *
g_smtp_send_result_get_accepted (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return (const char *const *) self->accepted->pdata;
}

/**
 * g_smtp_send_result_get_refused:
 * @self: a result
 *
 * Gets the recipients the server refused.
 *
 * Returns: (array zero-terminated=1) (transfer none): the recipients the server refused
 *
 * Since: 0.1
 */
const char *const *
g_smtp_send_result_get_refused (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return (const char *const *) self->refused->pdata;
}

/**
 * g_smtp_send_result_get_recipient_reply:
 * @self: a result
 * @recipient: a recipient of the message
 *
 * Gets the reply to RCPT TO for @recipient.
 *
 * Returns: (transfer none) (nullable): the reply to RCPT TO for @recipient
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_send_result_get_recipient_reply (GSmtpSendResult *self, const char *recipient)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return g_hash_table_lookup (self->replies, recipient);
}

/* ---- GSmtpClient ------------------------------------------------------------------- */

struct _GSmtpClient {
        GObject             parent_instance;

        GSocketConnectable *connectable;        /* (owned) (nullable) */
        GIOStream          *given_stream;       /* (owned) (nullable): from the application */
        GSmtpTlsMode        tls_mode;
        char               *username;           /* (owned) (nullable) */
        char               *password;           /* (owned) (nullable) */
        GTlsDatabase       *database;           /* (owned) (nullable): from --ca-file */
        gboolean            insecure;
        char               *helo_name;          /* (owned) */
        guint               timeout;

        GIOStream          *stream;             /* (owned) (nullable): the live connection */
        GIOStream          *base;               /* (owned) (nullable): under TLS */
        GByteArray         *inbuf;              /* (owned): read, not yet parsed */
        GPtrArray          *extensions;         /* (owned): EHLO keywords, NULL-terminated */
        gboolean            esmtp;
        gboolean            tls_active;
        gint                busy;
        GMainContext       *caller_context;     /* (owned) (nullable): for signals */
};

enum { SIGNAL_PROGRESS, SIGNAL_MESSAGE_SENT, N_SIGNALS };
static guint signals[N_SIGNALS];

/**
 * GSmtpClient:
 *
 * Sends mail to an SMTP server: plain, STARTTLS or implicit TLS, with AUTH
 * PLAIN or LOGIN, pipelining when offered.  One operation at a time.
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpClient, g_smtp_client, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (GSmtpTlsMode, g_smtp_tls_mode,
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_NONE, "none"),
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_STARTTLS_OPPORTUNISTIC, "starttls-opportunistic"),
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_STARTTLS, "starttls"),
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_IMPLICIT, "implicit"))

static void
client_disconnect (GSmtpClient *self)
{
        if (self->stream != NULL)
                g_io_stream_close (self->stream, NULL, NULL);
        if (self->base != NULL)
                g_io_stream_close (self->base, NULL, NULL);
        g_clear_object (&self->stream);
        g_clear_object (&self->base);
        g_byte_array_set_size (self->inbuf, 0);
        g_ptr_array_set_size (self->extensions, 0);
        g_ptr_array_add (self->extensions, NULL);
        self->tls_active = FALSE;
        self->esmtp = FALSE;
}

static void
g_smtp_client_finalize (GObject *object)
{
        GSmtpClient *self = GSMTP_CLIENT (object);

        client_disconnect (self);
        g_clear_object (&self->connectable);
        g_clear_object (&self->given_stream);
        g_free (self->username);
        gsmtp_sasl_wipe (self->password);
        g_clear_object (&self->database);
        g_free (self->helo_name);
        g_byte_array_unref (self->inbuf);
        g_ptr_array_unref (self->extensions);
        g_clear_pointer (&self->caller_context, g_main_context_unref);
        G_OBJECT_CLASS (g_smtp_client_parent_class)->finalize (object);
}

static void
g_smtp_client_class_init (GSmtpClientClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = g_smtp_client_finalize;

        /**
         * GSmtpClient::progress:
         * @client: the client
         * @sent: message bytes sent so far
         * @total: the size of the message, or 0 when unknown
         *
         * Emitted as the message data goes out, in the caller's main context.
         */
        signals[SIGNAL_PROGRESS] = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT64);
        /**
         * GSmtpClient::message-sent:
         * @client: the client
         *
         * Emitted when the whole message and its end have been written, before
         * the server's answer (Racket's smtp-sending-end-of-message).
         */
        signals[SIGNAL_MESSAGE_SENT] = g_signal_new ("message-sent", G_TYPE_FROM_CLASS (klass),
                                                     G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                     G_TYPE_NONE, 0);
}

static void
g_smtp_client_init (GSmtpClient *self)
{
        self->inbuf = g_byte_array_new ();
        self->extensions = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (self->extensions, NULL);
        self->helo_name = g_strdup (g_get_host_name ());
        self->timeout = 300;
        self->tls_mode = GSMTP_TLS_NONE;
}

/**
 * g_smtp_client_new:
 * @host: the server's host name or address
 * @port: its port, such as 25, 587 or 465
 *
 * Makes a client for the server at @host and @port.
 *
 * Returns: (transfer full): a client; nothing is connected yet
 *
 * Since: 0.1
 */
GSmtpClient *
g_smtp_client_new (const char *host, guint16 port)
{
        g_autoptr(GSocketConnectable) addr = g_network_address_new (host, port);

        return g_smtp_client_new_for_connectable (addr);
}

/**
 * g_smtp_client_new_for_connectable:
 * @connectable: where the server is
 *
 * Makes a client for the server at @connectable.
 *
 * Returns: (transfer full): a client
 *
 * Since: 0.1
 */
GSmtpClient *
g_smtp_client_new_for_connectable (GSocketConnectable *connectable)
{
        GSmtpClient *self = g_object_new (GSMTP_TYPE_CLIENT, NULL);

        self->connectable = g_object_ref (connectable);
        return self;
}

/**
 * g_smtp_client_new_for_stream:
 * @stream: a connection the application already has (Racket's #:tcp-connect)
 * @identity: (nullable): the server's identity, for certificate checks under TLS
 *
 * Makes a client that talks over a connection the application already has.
 *
 * Returns: (transfer full): a client that talks over @stream
 *
 * Since: 0.1
 */
GSmtpClient *
g_smtp_client_new_for_stream (GIOStream *stream, GSocketConnectable *identity)
{
        GSmtpClient *self = g_object_new (GSMTP_TYPE_CLIENT, NULL);

        self->given_stream = g_object_ref (stream);
        if (identity != NULL)
                self->connectable = g_object_ref (identity);
        return self;
}

/**
 * g_smtp_client_set_tls_mode:
 * @self: a client
 * @mode: how to use TLS
 *
 * Sets how the client uses TLS; %GSMTP_TLS_NONE by default.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_tls_mode (GSmtpClient *self, GSmtpTlsMode mode)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        self->tls_mode = mode;
}

/**
 * g_smtp_client_set_credentials:
 * @self: a client
 * @username: (nullable): the user, or %NULL for no AUTH
 * @password: (nullable): the password
 *
 * With credentials the client authenticates with PLAIN or LOGIN, whichever
 * the server offers, and only over TLS.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_credentials (GSmtpClient *self, const char *username, const char *password)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_free (self->username);
        self->username = g_strdup (username);
        gsmtp_sasl_wipe (self->password);
        self->password = g_strdup (password != NULL ? password : "");
}

/**
 * g_smtp_client_set_ca_file:
 * @self: a client
 * @ca_file: PEM file of the certificate authorities to trust instead of the system's
 * @error: return location for a #GError
 *
 * Trusts the certificate authorities in @ca_file instead of the system's.
 *
 * Returns: %TRUE when the file was loaded
 *
 * Since: 0.1
 */
gboolean
g_smtp_client_set_ca_file (GSmtpClient *self, const char *ca_file, GError **error)
{
        GTlsDatabase *db;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), FALSE);
        db = g_tls_file_database_new (ca_file, error);
        if (db == NULL)
                return FALSE;
        g_clear_object (&self->database);
        self->database = db;
        return TRUE;
}

/**
 * g_smtp_client_set_insecure:
 * @self: a client
 * @insecure: %TRUE to accept any server certificate
 *
 * For tests only: the connection is encrypted but the server is not verified.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_insecure (GSmtpClient *self, gboolean insecure)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        self->insecure = insecure;
}

/**
 * g_smtp_client_set_helo_name:
 * @self: a client
 * @name: the name to give in EHLO
 *
 * Sets the name the client gives in EHLO; the host's name by default.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_helo_name (GSmtpClient *self, const char *name)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_free (self->helo_name);
        self->helo_name = g_strdup (name);
}

/**
 * g_smtp_client_set_timeout:
 * @self: a client
 * @seconds: how long to wait for the network; 0 for ever
 *
 * Sets how long connecting may take.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_timeout (GSmtpClient *self, guint seconds)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        self->timeout = seconds;
}

/**
 * g_smtp_client_get_extensions:
 * @self: a client
 *
 * Gets the EHLO keywords of the server, as "SIZE 10485760", after connecting.
 *
 * Returns: (array zero-terminated=1) (transfer none): the EHLO keywords of the
 *   server, as "SIZE 10485760", after connecting
 *
 * Since: 0.1
 */
const char *const *
g_smtp_client_get_extensions (GSmtpClient *self)
{
        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        return (const char *const *) self->extensions->pdata;
}

/* ---- the wire ----------------------------------------------------------------------- */

static gboolean
client_write (GSmtpClient *self, const void *data, gsize len, GCancellable *cancellable,
              GError **error)
{
        if (self->stream == NULL) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "Not connected");
                return FALSE;
        }
        return g_output_stream_write_all (g_io_stream_get_output_stream (self->stream), data, len,
                                          NULL, cancellable, error);
}

static gboolean
client_command (GSmtpClient *self, const char *line, GCancellable *cancellable, GError **error)
{
        g_autofree char *wire = g_strconcat (line, "\r\n", NULL);

        return client_write (self, wire, strlen (wire), cancellable, error);
}

/* Reads one whole reply, however many lines, however the bytes arrive. */
static GSmtpReply *
client_read_reply (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        gsize scan = 0, start = 0;
        guint lines = 0;

        for (;;) {
                guint8 chunk[4096];
                gssize n;

                while (scan < self->inbuf->len) {
                        guint8 *lf = memchr (self->inbuf->data + scan, '\n', self->inbuf->len - scan);
                        gsize line_start = scan;

                        if (lf == NULL) {
                                scan = self->inbuf->len;
                                break;
                        }
                        scan = lf - self->inbuf->data + 1;
                        lines++;
                        /* the last line of a reply has a space (or nothing) after the code */
                        if (scan - line_start < 5 || self->inbuf->data[line_start + 3] != '-') {
                                GSmtpReply *reply = g_smtp_reply_parse ((const char *) self->inbuf->data + start,
                                                                        scan - start, error);
                                g_byte_array_remove_range (self->inbuf, 0, scan);
                                return reply;
                        }
                        if (lines > REPLY_LINES_MAX)
                                goto too_long;
                }
                if (self->inbuf->len - start > REPLY_LINE_MAX * 4)
                        goto too_long;
                if (self->stream == NULL) {
                        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "Not connected");
                        return NULL;
                }
                n = g_input_stream_read (g_io_stream_get_input_stream (self->stream), chunk,
                                         sizeof chunk, cancellable, error);
                if (n < 0)
                        return NULL;
                if (n == 0) {
                        g_set_error_literal (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL,
                                             "The server closed the connection");
                        return NULL;
                }
                g_byte_array_append (self->inbuf, chunk, n);
        }
too_long:
        g_set_error_literal (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL, "The server's reply is too long");
        return NULL;
}

/* A reply that is not what was hoped for becomes a GError quoting it. */
static gboolean
client_reply_error (GSmtpReply *reply, const char *what, GError **error)
{
        g_autofree char *text = g_smtp_reply_to_string (reply);
        guint code = g_smtp_reply_get_code (reply);

        g_set_error (error, GSMTP_ERROR, code >= 500 ? GSMTP_ERROR_REJECTED : GSMTP_ERROR_TEMPORARY,
                     "%s: %s", what, text);
        if (error != NULL && *error != NULL)
                gsmtp_error_set_reply (*error, reply);
        return FALSE;
}

static gboolean
client_expect (GSmtpClient *self, guint code_class, const char *what, GCancellable *cancellable,
               GError **error)
{
        g_autoptr(GSmtpReply) reply = client_read_reply (self, cancellable, error);

        if (reply == NULL)
                return FALSE;
        if (g_smtp_reply_get_code (reply) / 100 != code_class)
                return client_reply_error (reply, what, error);
        return TRUE;
}

static const char *
client_extension (GSmtpClient *self, const char *keyword)
{
        gsize klen = strlen (keyword);

        for (guint i = 0; i + 1 < self->extensions->len; i++) {
                const char *ext = self->extensions->pdata[i];

                if (g_ascii_strncasecmp (ext, keyword, klen) == 0 && (ext[klen] == '\0' || ext[klen] == ' '))
                        return ext[klen] == ' ' ? ext + klen + 1 : ext + klen;
        }
        return NULL;
}

static gboolean
client_ehlo (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        g_autofree char *line = g_strdup_printf ("EHLO %s", self->helo_name);
        g_autoptr(GSmtpReply) reply = NULL;
        const char *const *lines;

        g_ptr_array_set_size (self->extensions, 0);
        if (!client_command (self, line, cancellable, error))
                return FALSE;
        reply = client_read_reply (self, cancellable, error);
        if (reply == NULL)
                return FALSE;
        if (g_smtp_reply_get_code (reply) != 250) {
                /* RFC 5321 3.2: fall back to HELO */
                g_autoptr(GSmtpReply) helo = NULL;

                g_free (line);
                line = g_strdup_printf ("HELO %s", self->helo_name);
                g_ptr_array_add (self->extensions, NULL);
                if (!client_command (self, line, cancellable, error))
                        return FALSE;
                helo = client_read_reply (self, cancellable, error);
                if (helo == NULL)
                        return FALSE;
                if (g_smtp_reply_get_code (helo) != 250)
                        return client_reply_error (helo, "HELO refused", error);
                self->esmtp = FALSE;
                return TRUE;
        }
        self->esmtp = TRUE;
        lines = g_smtp_reply_get_lines (reply);
        for (guint i = 1; lines[i] != NULL; i++)
                g_ptr_array_add (self->extensions, g_strdup (lines[i]));
        g_ptr_array_add (self->extensions, NULL);
        return TRUE;
}

static gboolean
client_accept_any_certificate (GTlsConnection *conn, GTlsCertificate *cert,
                               GTlsCertificateFlags errors, gpointer data)
{
        return TRUE;
}

static gboolean
client_handshake (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        GIOStream *tls = g_tls_client_connection_new (self->stream, self->connectable, error);

        if (tls == NULL)
                return FALSE;
        if (self->database != NULL)
                g_tls_connection_set_database (G_TLS_CONNECTION (tls), self->database);
        if (self->insecure)
                g_signal_connect (tls, "accept-certificate", G_CALLBACK (client_accept_any_certificate), NULL);
        if (!g_tls_connection_handshake (G_TLS_CONNECTION (tls), cancellable, error)) {
                g_prefix_error (error, "TLS handshake failed: ");
                g_object_unref (tls);
                return FALSE;
        }
        self->base = g_steal_pointer (&self->stream);
        self->stream = tls;
        self->tls_active = TRUE;
        return TRUE;
}

static gboolean
client_connect_sync (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        if (self->stream != NULL)
                return TRUE;
        if (self->given_stream != NULL) {
                self->stream = g_object_ref (self->given_stream);
        } else {
                g_autoptr(GSocketClient) sc = g_socket_client_new ();
                GSocketConnection *conn;

                g_socket_client_set_timeout (sc, self->timeout);
                conn = g_socket_client_connect (sc, self->connectable, cancellable, error);
                if (conn == NULL)
                        return FALSE;
                self->stream = G_IO_STREAM (conn);
        }
        if (self->tls_mode == GSMTP_TLS_IMPLICIT && !client_handshake (self, cancellable, error))
                goto fail;
        if (!client_expect (self, 2, "The server refused the connection", cancellable, error))
                goto fail;
        if (!client_ehlo (self, cancellable, error))
                goto fail;

        if (!self->tls_active && (self->tls_mode == GSMTP_TLS_STARTTLS ||
                                  self->tls_mode == GSMTP_TLS_STARTTLS_OPPORTUNISTIC)) {
                if (client_extension (self, "STARTTLS") != NULL) {
                        if (!client_command (self, "STARTTLS", cancellable, error) ||
                            !client_expect (self, 2, "STARTTLS refused", cancellable, error))
                                goto fail;
                        /* RFC 3207 4.2: nothing the server sent before the handshake counts */
                        if (self->inbuf->len > 0) {
                                g_set_error_literal (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL,
                                                     "The server sent data after its STARTTLS reply");
                                goto fail;
                        }
                        if (!client_handshake (self, cancellable, error) ||
                            !client_ehlo (self, cancellable, error))
                                goto fail;
                } else if (self->tls_mode == GSMTP_TLS_STARTTLS) {
                        g_set_error_literal (error, GSMTP_ERROR, GSMTP_ERROR_TLS_REQUIRED,
                                             "The server does not offer STARTTLS");
                        goto fail;
                }
        }

        if (self->username != NULL) {
                const char *mechs = client_extension (self, "AUTH");
                g_auto(GStrv) offered = mechs != NULL ? g_strsplit (mechs, " ", -1) : NULL;
                gboolean plain = FALSE, login = FALSE;

                if (!self->tls_active) {
                        g_set_error_literal (error, GSMTP_ERROR, GSMTP_ERROR_TLS_REQUIRED,
                                             "Refusing to send a password without TLS");
                        goto fail;
                }
                for (guint i = 0; offered != NULL && offered[i] != NULL; i++) {
                        plain |= g_ascii_strcasecmp (offered[i], "PLAIN") == 0;
                        login |= g_ascii_strcasecmp (offered[i], "LOGIN") == 0;
                }
                if (plain) {
                        g_autofree char *ir = gsmtp_sasl_encode_plain (self->username, self->password);
                        g_autofree char *line = g_strconcat ("AUTH PLAIN ", ir, NULL);
                        gboolean ok = client_command (self, line, cancellable, error);

                        memset (line, 0, strlen (line));
                        if (!ok)
                                goto fail;
                } else if (login) {
                        g_autofree char *user = gsmtp_sasl_encode_text (self->username);
                        g_autofree char *pass = gsmtp_sasl_encode_text (self->password);
                        gboolean ok = client_command (self, "AUTH LOGIN", cancellable, error) &&
                                      client_expect (self, 3, "AUTH LOGIN refused", cancellable, error) &&
                                      client_command (self, user, cancellable, error) &&
                                      client_expect (self, 3, "AUTH LOGIN refused", cancellable, error) &&
                                      client_command (self, pass, cancellable, error);

                        memset (pass, 0, strlen (pass));
                        if (!ok)
                                goto fail;
                } else {
                        g_set_error_literal (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED,
                                             "The server offers no AUTH mechanism this client knows (PLAIN, LOGIN)");
                        goto fail;
                }
                {
                        g_autoptr(GSmtpReply) reply = client_read_reply (self, cancellable, error);

                        if (reply == NULL)
                                goto fail;
                        if (g_smtp_reply_get_code (reply) != 235) {
                                g_autofree char *text = g_smtp_reply_to_string (reply);

                                g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_AUTH_FAILED,
                                             "Authentication failed: %s", text);
                                if (error != NULL && *error != NULL)
                                        gsmtp_error_set_reply (*error, reply);
                                goto fail;
                        }
                }
        }
        return TRUE;
fail:
        client_disconnect (self);
        return FALSE;
}

/* ---- message data ------------------------------------------------------------------ */

typedef struct {
        gboolean bol;
        gboolean cr;
} Stuffer;

/* Normalises line ends to CRLF and dot-stuffs (RFC 5321 4.5.2); nothing else
 * changes. */
static void
stuffer_run (Stuffer *st, const guint8 *in, gsize len, GByteArray *out)
{
        gsize run = 0;

        for (gsize i = 0; i < len; i++) {
                guint8 c = in[i];
                gboolean was_cr = st->cr;

                st->cr = FALSE;
                if (was_cr && c != '\n') {
                        /* a bare CR: make it a line end */
                        g_byte_array_append (out, in + i - run, run);
                        run = 0;
                        g_byte_array_append (out, (const guint8 *) "\n", 1);
                        st->bol = TRUE;
                }
                if (c == '\r') {
                        g_byte_array_append (out, in + i - run, run);
                        run = 0;
                        g_byte_array_append (out, (const guint8 *) "\r", 1);
                        st->cr = TRUE;
                        continue;
                }
                if (c == '\n') {
                        g_byte_array_append (out, in + i - run, run);
                        run = 0;
                        if (was_cr)
                                g_byte_array_append (out, (const guint8 *) "\n", 1);
                        else
                                g_byte_array_append (out, (const guint8 *) "\r\n", 2);
                        st->bol = TRUE;
                        continue;
                }
                if (st->bol && c == '.') {
                        g_byte_array_append (out, in + i - run, run);
                        run = 0;
                        g_byte_array_append (out, (const guint8 *) ".", 1);
                }
                st->bol = FALSE;
                run++;
        }
        g_byte_array_append (out, in + len - run, run);
}

typedef struct {
        GSmtpClient *client;
        guint64      sent;
        guint64      total;
} Progress;

static gboolean
progress_emit (gpointer data)
{
        Progress *p = data;

        g_signal_emit (p->client, signals[SIGNAL_PROGRESS], 0, p->sent, p->total);
        return G_SOURCE_REMOVE;
}

static gboolean
sent_emit (gpointer data)
{
        g_signal_emit (data, signals[SIGNAL_MESSAGE_SENT], 0);
        return G_SOURCE_REMOVE;
}

static void
client_emit (GSmtpClient *self, GSourceFunc func, gpointer data, gsize size)
{
        if (self->caller_context == NULL || g_main_context_is_owner (self->caller_context)) {
                func (data);
                return;
        }
        g_main_context_invoke_full (self->caller_context, G_PRIORITY_DEFAULT, func,
                                    g_memdup2 (data, size), g_free);
}

static gboolean
client_send_data (GSmtpClient *self, GInputStream *data, guint64 total, GCancellable *cancellable,
                  GError **error)
{
        g_autofree guint8 *chunk = g_malloc (SEND_CHUNK);
        g_autoptr(GByteArray) out = g_byte_array_sized_new (SEND_CHUNK + SEND_CHUNK / 4);
        Stuffer st = { TRUE, FALSE };
        Progress progress = { self, 0, total };
        gssize n;

        while ((n = g_input_stream_read (data, chunk, SEND_CHUNK, cancellable, error)) > 0) {
                g_byte_array_set_size (out, 0);
                stuffer_run (&st, chunk, n, out);
                if (!client_write (self, out->data, out->len, cancellable, error))
                        return FALSE;
                progress.sent += n;
                client_emit (self, progress_emit, &progress, sizeof progress);
        }
        if (n < 0)
                return FALSE;
        g_byte_array_set_size (out, 0);
        if (st.cr)
                g_byte_array_append (out, (const guint8 *) "\n", 1);
        else if (!st.bol)
                g_byte_array_append (out, (const guint8 *) "\r\n", 2);
        g_byte_array_append (out, (const guint8 *) ".\r\n", 3);
        if (!client_write (self, out->data, out->len, cancellable, error))
                return FALSE;
        if (self->caller_context == NULL || g_main_context_is_owner (self->caller_context))
                sent_emit (self);
        else
                g_main_context_invoke_full (self->caller_context, G_PRIORITY_DEFAULT, sent_emit,
                                            g_object_ref (self), g_object_unref);
        return TRUE;
}

static gboolean
bytes_have_8bit (GBytes *data)
{
        gsize len;
        const guint8 *p = g_bytes_get_data (data, &len);

        for (gsize i = 0; i < len; i++)
                if (p[i] & 0x80)
                        return TRUE;
        return FALSE;
}

/* One transaction.  With PIPELINING, MAIL, every RCPT and DATA go in one write
 * and the replies are read in order (RFC 2920 3.1). */
static GSmtpSendResult *
client_transaction (GSmtpClient *self, const char *sender, const char *const *recipients,
                    GInputStream *data, guint64 size, gboolean eight_bit,
                    GCancellable *cancellable, GError **error)
{
        g_autoptr(GSmtpSendResult) result = g_object_new (GSMTP_TYPE_SEND_RESULT, NULL);
        g_autoptr(GString) mail = g_string_new (NULL);
        g_autoptr(GSmtpReply) reply = NULL;
        gboolean pipelining = client_extension (self, "PIPELINING") != NULL;
        const char *max_size = client_extension (self, "SIZE");
        guint n_rcpt = recipients != NULL ? g_strv_length ((char **) recipients) : 0;
        guint accepted = 0;

        if (n_rcpt == 0) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "No recipients");
                return NULL;
        }
        /* RFC 1870: do not send what the server said it would refuse */
        if (max_size != NULL && size > 0) {
                guint64 limit = g_ascii_strtoull (max_size, NULL, 10);

                if (limit > 0 && size > limit) {
                        g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_REJECTED,
                                     "The message (%" G_GUINT64_FORMAT " bytes) exceeds the server's limit of %"
                                     G_GUINT64_FORMAT " bytes", size, limit);
                        return NULL;
                }
        }
        g_string_append_printf (mail, "MAIL FROM:<%s>", sender != NULL ? sender : "");
        if (max_size != NULL && size > 0)
                g_string_append_printf (mail, " SIZE=%" G_GUINT64_FORMAT, size);
        if (eight_bit && client_extension (self, "8BITMIME") != NULL)
                g_string_append (mail, " BODY=8BITMIME");
        g_string_append (mail, "\r\n");
        if (pipelining) {
                for (guint i = 0; i < n_rcpt; i++)
                        g_string_append_printf (mail, "RCPT TO:<%s>\r\n", recipients[i]);
                g_string_append (mail, "DATA\r\n");
        }
        if (!client_write (self, mail->str, mail->len, cancellable, error))
                return NULL;

        reply = client_read_reply (self, cancellable, error);
        if (reply == NULL)
                return NULL;
        if (g_smtp_reply_get_code (reply) != 250) {
                if (pipelining) {
                        /* drain the replies to the pipelined RCPTs and DATA */
                        for (guint i = 0; i < n_rcpt + 1; i++) {
                                g_autoptr(GSmtpReply) r = client_read_reply (self, cancellable, NULL);
                                if (r == NULL)
                                        break;
                        }
                }
                if (client_command (self, "RSET", cancellable, NULL)) {
                        g_autoptr(GSmtpReply) rset = client_read_reply (self, cancellable, NULL);
                }
                /* the error quotes the reply to MAIL, not to the RSET */
                return (client_reply_error (reply, "MAIL FROM refused", error), NULL);
        }
        for (guint i = 0; i < n_rcpt; i++) {
                g_autoptr(GSmtpReply) r = NULL;

                if (!pipelining) {
                        g_autofree char *line = g_strdup_printf ("RCPT TO:<%s>", recipients[i]);

                        if (!client_command (self, line, cancellable, error))
                                return NULL;
                }
                r = client_read_reply (self, cancellable, error);
                if (r == NULL)
                        return NULL;
                send_result_add (result, recipients[i], r);
                if (g_smtp_reply_is_success (r))
                        accepted++;
        }
        if (!pipelining) {
                if (accepted == 0)
                        goto none_accepted;
                if (!client_command (self, "DATA", cancellable, error))
                        return NULL;
        }
        g_clear_pointer (&reply, g_smtp_reply_unref);
        reply = client_read_reply (self, cancellable, error);
        if (reply == NULL)
                return NULL;
        if (g_smtp_reply_get_code (reply) != 354) {
                if (accepted == 0)
                        goto none_accepted;
                client_command (self, "RSET", cancellable, NULL);
                {
                        g_autoptr(GSmtpReply) r = client_read_reply (self, cancellable, NULL);
                }
                return (client_reply_error (reply, "DATA refused", error), NULL);
        }
        if (accepted == 0) {
                /* RFC 2920 3.1: 354 with no recipient: end the empty message at once */
                g_autoptr(GSmtpReply) r = NULL;

                if (!client_write (self, ".\r\n", 3, cancellable, error))
                        return NULL;
                r = client_read_reply (self, cancellable, error);
                goto none_accepted;
        }
        if (!client_send_data (self, data, size, cancellable, error)) {
                /* the connection is in an unknown state: never let it end a message */
                client_disconnect (self);
                return NULL;
        }
        g_clear_pointer (&reply, g_smtp_reply_unref);
        reply = client_read_reply (self, cancellable, error);
        if (reply == NULL)
                return NULL;
        result->reply = g_smtp_reply_ref (reply);
        if (g_smtp_reply_get_code (reply) / 100 != 2)
                return (client_reply_error (reply, "Message refused", error), NULL);
        return g_steal_pointer (&result);

none_accepted:
        if (pipelining || accepted == 0) {
                g_autofree char *first = NULL;
                GSmtpReply *r = g_smtp_send_result_get_recipient_reply (result, recipients[0]);

                client_command (self, "RSET", cancellable, NULL);
                {
                        g_autoptr(GSmtpReply) rr = client_read_reply (self, cancellable, NULL);
                }
                if (r != NULL)
                        first = g_smtp_reply_to_string (r);
                g_set_error (error, GSMTP_ERROR,
                             r != NULL && g_smtp_reply_get_code (r) < 500 ? GSMTP_ERROR_TEMPORARY
                                                                          : GSMTP_ERROR_REJECTED,
                             "Every recipient was refused: %s", first != NULL ? first : "");
                if (error != NULL && *error != NULL)
                        gsmtp_error_set_reply (*error, r);
        }
        return NULL;
}

static GSmtpSendResult *
client_send_sync (GSmtpClient *self, const char *sender, const char *const *recipients,
                  GInputStream *data, guint64 size, gboolean eight_bit,
                  GCancellable *cancellable, GError **error)
{
        if (!g_atomic_int_compare_and_exchange (&self->busy, 0, 1)) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING,
                                     "The client is busy with another operation");
                return NULL;
        }
        if (!client_connect_sync (self, cancellable, error)) {
                g_atomic_int_set (&self->busy, 0);
                return NULL;
        }
        {
                GSmtpSendResult *result = client_transaction (self, sender, recipients, data, size,
                                                              eight_bit, cancellable, error);
                if (result == NULL && g_cancellable_is_cancelled (cancellable))
                        client_disconnect (self);
                g_atomic_int_set (&self->busy, 0);
                return result;
        }
}

/**
 * g_smtp_client_connect:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Connects, greets, does STARTTLS and AUTH as configured.  Sending connects
 * by itself when needed; call this to find problems early.
 *
 * Returns: %TRUE when ready to send
 *
 * Since: 0.1
 */
gboolean
g_smtp_client_connect (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        gboolean ok;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), FALSE);
        if (!g_atomic_int_compare_and_exchange (&self->busy, 0, 1)) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING,
                                     "The client is busy with another operation");
                return FALSE;
        }
        ok = client_connect_sync (self, cancellable, error);
        g_atomic_int_set (&self->busy, 0);
        return ok;
}

/**
 * g_smtp_client_send_bytes:
 * @self: a client
 * @sender: (nullable): the reverse-path; %NULL or "" for the null sender
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: an RFC 5322 message; line ends are normalised to CRLF on the wire
 * @cancellable: (nullable): a #GCancellable; cancelling mid-message drops the
 *   connection so the server never accepts half a message
 * @error: return location for a #GError
 *
 * Sends one message, connecting first if needed.  Some recipients may be
 * refused while the message still goes to the rest: see the result.
 *
 * Returns: (transfer full) (nullable): what the server said, or %NULL with
 *   @error set when the message was not accepted for any recipient
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_bytes (GSmtpClient *self, const char *sender, const char *const *recipients,
                          GBytes *data, GCancellable *cancellable, GError **error)
{
        g_autoptr(GInputStream) stream = NULL;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        g_return_val_if_fail (data != NULL, NULL);
        stream = g_memory_input_stream_new_from_bytes (data);
        return client_send_sync (self, sender, recipients, stream, g_bytes_get_size (data),
                                 bytes_have_8bit (data), cancellable, error);
}

/**
 * g_smtp_client_send_stream:
 * @self: a client
 * @sender: (nullable): the reverse-path
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: the message
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * As g_smtp_client_send_bytes(), reading the message from @data as it goes;
 * BODY=8BITMIME is declared whenever the server offers it.
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_stream (GSmtpClient *self, const char *sender, const char *const *recipients,
                           GInputStream *data, GCancellable *cancellable, GError **error)
{
        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        return client_send_sync (self, sender, recipients, data, 0, TRUE, cancellable, error);
}

static void
add_addresses (GPtrArray *out, InternetAddressList *list)
{
        for (int i = 0; list != NULL && i < internet_address_list_length (list); i++) {
                InternetAddress *ia = internet_address_list_get_address (list, i);

                if (INTERNET_ADDRESS_IS_MAILBOX (ia))
                        g_ptr_array_add (out, g_strdup (internet_address_mailbox_get_addr (INTERNET_ADDRESS_MAILBOX (ia))));
                else if (INTERNET_ADDRESS_IS_GROUP (ia))
                        add_addresses (out, internet_address_group_get_members (INTERNET_ADDRESS_GROUP (ia)));
        }
}

/* The envelope from the headers, unless given: Sender or From; To, Cc, Bcc.
 * The bytes without Bcc. */
static GBytes *
message_prepare (GMimeMessage *message, const char *sender, const char *const *recipients,
                 char **out_sender, GStrv *out_recipients)
{
        GMimeFormatOptions *options;
        GMimeStream *mem;
        GByteArray *array;

        gsmtp_ensure_gmime ();
        if (sender != NULL) {
                *out_sender = g_strdup (sender);
        } else {
                g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func (g_free);

                add_addresses (from, g_mime_message_get_sender (message));
                if (from->len == 0)
                        add_addresses (from, g_mime_message_get_from (message));
                *out_sender = from->len > 0 ? g_strdup (from->pdata[0]) : g_strdup ("");
        }
        if (recipients != NULL) {
                *out_recipients = g_strdupv ((char **) recipients);
        } else {
                GPtrArray *rcpts = g_ptr_array_new ();

                add_addresses (rcpts, g_mime_message_get_to (message));
                add_addresses (rcpts, g_mime_message_get_cc (message));
                add_addresses (rcpts, g_mime_message_get_bcc (message));
                g_ptr_array_add (rcpts, NULL);
                *out_recipients = (GStrv) g_ptr_array_free (rcpts, FALSE);
        }
        options = g_mime_format_options_new ();
        g_mime_format_options_add_hidden_header (options, "Bcc");
        g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_DOS);
        mem = g_mime_stream_mem_new ();
        g_mime_object_write_to_stream (GMIME_OBJECT (message), options, mem);
        g_mime_format_options_free (options);
        array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
        {
                GBytes *bytes = g_bytes_new (array->data, array->len);

                g_object_unref (mem);
                return bytes;
        }
}

/**
 * g_smtp_client_send_message:
 * @self: a client
 * @message: the message
 * @sender: (nullable): the reverse-path; %NULL takes it from Sender or From
 * @recipients: (array zero-terminated=1) (nullable): the forward-paths; %NULL
 *   takes To, Cc and Bcc
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Sends a GMime message; a Bcc header is never sent.
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_message (GSmtpClient *self, GMimeMessage *message, const char *sender,
                            const char *const *recipients, GCancellable *cancellable, GError **error)
{
        g_autofree char *from = NULL;
        g_auto(GStrv) to = NULL;
        g_autoptr(GBytes) data = NULL;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        g_return_val_if_fail (GMIME_IS_MESSAGE (message), NULL);
        data = message_prepare (message, sender, recipients, &from, &to);
        return g_smtp_client_send_bytes (self, from, (const char *const *) to, data, cancellable, error);
}

/* ---- async: the same steps in a worker thread ------------------------------------ */

typedef struct {
        char   *sender;
        GStrv   recipients;
        GBytes *data;
} SendJob;

static void
send_job_free (SendJob *job)
{
        g_free (job->sender);
        g_strfreev (job->recipients);
        g_bytes_unref (job->data);
        g_free (job);
}

static void
send_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        GSmtpClient *self = source;
        SendJob *job = task_data;
        GError *error = NULL;
        GSmtpSendResult *result;

        result = g_smtp_client_send_bytes (self, job->sender, (const char *const *) job->recipients,
                                           job->data, cancellable, &error);
        if (result == NULL)
                g_task_return_error (task, error);
        else
                g_task_return_pointer (task, result, g_object_unref);
}

static void
client_remember_context (GSmtpClient *self)
{
        g_clear_pointer (&self->caller_context, g_main_context_unref);
        self->caller_context = g_main_context_ref_thread_default ();
}

/**
 * g_smtp_client_send_bytes_async:
 * @self: a client
 * @sender: (nullable): the reverse-path
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: the message
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Starts g_smtp_client_send_bytes() in a worker thread; signals are emitted in the
 * caller's main context.
 *
 * Since: 0.1
 */
void
g_smtp_client_send_bytes_async (GSmtpClient *self, const char *sender, const char *const *recipients,
                                GBytes *data, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
        g_autoptr(GTask) task = NULL;
        SendJob *job;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        task = g_task_new (self, cancellable, callback, user_data);
        g_task_set_source_tag (task, g_smtp_client_send_bytes_async);
        job = g_new0 (SendJob, 1);
        job->sender = g_strdup (sender);
        job->recipients = g_strdupv ((char **) recipients);
        job->data = g_bytes_ref (data);
        g_task_set_task_data (task, job, (GDestroyNotify) send_job_free);
        client_remember_context (self);
        g_task_run_in_thread (task, send_thread);
}

/**
 * g_smtp_client_send_message_async:
 * @self: a client
 * @message: the message
 * @sender: (nullable): the reverse-path, or %NULL
 * @recipients: (array zero-terminated=1) (nullable): the forward-paths, or %NULL
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Starts g_smtp_client_send_message() in a worker thread.
 *
 * Since: 0.1
 */
void
g_smtp_client_send_message_async (GSmtpClient *self, GMimeMessage *message, const char *sender,
                                  const char *const *recipients, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
        g_autofree char *from = NULL;
        g_auto(GStrv) to = NULL;
        g_autoptr(GBytes) data = NULL;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        data = message_prepare (message, sender, recipients, &from, &to);
        g_smtp_client_send_bytes_async (self, from, (const char *const *) to, data, cancellable,
                                        callback, user_data);
}

/**
 * g_smtp_client_send_finish:
 * @self: a client
 * @result: the result
 * @error: return location for a #GError
 *
 * Finishes g_smtp_client_send_bytes_async() or g_smtp_client_send_message_async().
 *
 * Returns: (transfer full) (nullable): the send result
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_finish (GSmtpClient *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail (g_task_is_valid (result, self), NULL);
        return g_task_propagate_pointer (G_TASK (result), error);
}

static void
connect_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        GError *error = NULL;

        if (g_smtp_client_connect (source, cancellable, &error))
                g_task_return_boolean (task, TRUE);
        else
                g_task_return_error (task, error);
}

/**
 * g_smtp_client_connect_async:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Starts g_smtp_client_connect() in a worker thread.
 *
 * Since: 0.1
 */
void
g_smtp_client_connect_async (GSmtpClient *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

        g_task_set_source_tag (task, g_smtp_client_connect_async);
        client_remember_context (self);
        g_task_run_in_thread (task, connect_thread);
}

/**
 * g_smtp_client_connect_finish:
 * @self: a client
 * @result: the result
 * @error: return location for a #GError
 *
 * Finishes g_smtp_client_connect_async().
 *
 * Returns: %TRUE when connected
 *
 * Since: 0.1
 */
gboolean
g_smtp_client_connect_finish (GSmtpClient *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
        return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * g_smtp_client_quit:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Says QUIT and closes the connection.
 *
 * Returns: %TRUE when the server said goodbye properly
 *
 * Since: 0.1
 */
gboolean
g_smtp_client_quit (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        gboolean ok = TRUE;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), FALSE);
        if (self->stream != NULL)
                ok = client_command (self, "QUIT", cancellable, error) &&
                     client_expect (self, 2, "QUIT", cancellable, error);
        client_disconnect (self);
        return ok;
}

static void
quit_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
        GError *error = NULL;

        if (g_smtp_client_quit (source, cancellable, &error))
                g_task_return_boolean (task, TRUE);
        else
                g_task_return_error (task, error);
}

/**
 * g_smtp_client_quit_async:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Starts g_smtp_client_quit() in a worker thread.
 *
 * Since: 0.1
 */
void
g_smtp_client_quit_async (GSmtpClient *self, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

        g_task_set_source_tag (task, g_smtp_client_quit_async);
        g_task_run_in_thread (task, quit_thread);
}

/**
 * g_smtp_client_quit_finish:
 * @self: a client
 * @result: the result
 * @error: return location for a #GError
 *
 * Finishes g_smtp_client_quit_async().
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
g_smtp_client_quit_finish (GSmtpClient *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
        return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * g_smtp_send_message:
 * @host: the server
 * @port: its port
 * @sender: (nullable): the reverse-path
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: the message
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The one-call form, like Racket's smtp-send-message: connect, send, quit.
 * Succeeds only when every recipient was accepted.
 *
 * Returns: %TRUE when the message was accepted for every recipient
 *
 * Since: 0.1
 */
gboolean
g_smtp_send_message (const char *host, guint16 port, const char *sender,
                     const char *const *recipients, GBytes *data, GCancellable *cancellable,
                     GError **error)
{
        g_autoptr(GSmtpClient) client = g_smtp_client_new (host, port);
        g_autoptr(GSmtpSendResult) result = NULL;

        result = g_smtp_client_send_bytes (client, sender, recipients, data, cancellable, error);
        if (result == NULL)
                return FALSE;
        g_smtp_client_quit (client, cancellable, NULL);
        if (g_smtp_send_result_get_refused (result)[0] != NULL) {
                GSmtpReply *r = g_smtp_send_result_get_recipient_reply (result,
                                                                         g_smtp_send_result_get_refused (result)[0]);
                g_autofree char *text = g_smtp_reply_to_string (r);

                g_set_error (error, GSMTP_ERROR, GSMTP_ERROR_REJECTED, "Recipient %s refused: %s",
                             g_smtp_send_result_get_refused (result)[0], text);
                return FALSE;
        }
        return TRUE;
}

/* gsmtp-client.c — GSmtpClient: sends mail to an SMTP or LMTP server.
 * Owns: the settings (GObject properties, snapshotted for each connection) and the
 * public calls: each _async starts non-blocking steps on the caller's
 * thread-default main context, no thread; each sync call runs the same steps on a
 * private context, as g_dbus_connection_send_message_with_reply_sync() does.
 * Not: the queue and the connections (gsmtp-client-pool.c), the dialogue
 * (gsmtp-client-connection.c, gsmtp-client-transaction.c), the envelope of a GMime
 * message (gsmtp-client-mime.c). */
#include "config.h"
#include "gsmtp-client-pool.h"
#include "gsmtp-sasl.h"

#include <string.h>


enum {
        PROP_0,
        PROP_HOST,
        PROP_PORT,
        PROP_CONNECTABLE,
        PROP_TLS_MODE,
        PROP_TIMEOUT,
        PROP_SEND_TIMEOUT,
        PROP_HELO_NAME,
        PROP_TLS_DATABASE,
        PROP_TLS_INTERACTION,
        PROP_INSECURE,
        PROP_MAX_CONNECTIONS,
        PROP_LMTP,
        PROP_USERNAME,
        PROP_PASSWORD,
        PROP_OAUTH_TOKEN,
        PROP_AUTH_MECHANISM,
        N_PROPS
};
static GParamSpec *props[N_PROPS];

enum { SIGNAL_PROGRESS, SIGNAL_MESSAGE_SENT, N_SIGNALS };
static guint signals[N_SIGNALS];

/**
 * GSmtpClient:
 *
 * Sends mail to an SMTP server (or an LMTP server, #GSmtpClient:lmtp): plain,
 * STARTTLS or implicit TLS, AUTH PLAIN, LOGIN, XOAUTH2 or OAUTHBEARER,
 * pipelining, CHUNKING, SMTPUTF8, DSN and REQUIRETLS when the server offers them.
 *
 * Every `_async` call runs as non-blocking steps in the thread-default main
 * context of its caller: no thread is used (but glib-networking's own for the
 * TLS handshake, and GResolver's for a host name lookup).  The sync calls run
 * the same steps on a private main context and may be used from any thread.
 *
 * Sends on one client queue and share its connection, which is kept open
 * between sends; with #GSmtpClient:max-connections above 1 up to that many run
 * at once, each on a connection of its own.  A connection is dropped after any
 * I/O error, timeout, 421 reply or reply out of step, and the next send opens a
 * new one; an idle connection the server closed is noticed and replaced.
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpClient, g_smtp_client, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (GSmtpTlsMode, g_smtp_tls_mode,
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_NONE, "none"),
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_STARTTLS_OPPORTUNISTIC, "starttls-opportunistic"),
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_STARTTLS, "starttls"),
        G_DEFINE_ENUM_VALUE (GSMTP_TLS_IMPLICIT, "implicit"))

/* ---- settings -------------------------------------------------------------------- */

/* Every setting goes through a new snapshot: a connection opened with the old
 * one finishes its send and is then closed, not reused. */
static GSmtpClientConfig *
client_config_edit (GSmtpClient *self)
{
        GSmtpClientConfig *config;

        g_mutex_lock (&self->lock);
        config = gsmtp_client_config_copy (self->config);
        gsmtp_client_config_unref (self->config);
        self->config = config;
        return config;          /* the caller changes it, then unlocks */
}

static void
client_config_done (GSmtpClient *self, guint prop)
{
        g_mutex_unlock (&self->lock);
        if (prop != PROP_0)
                g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
client_set_address (GSmtpClient *self, const char *host, guint16 port)
{
        GSmtpClientConfig *config = client_config_edit (self);

        if (host != self->host) {
                g_free (self->host);
                self->host = g_strdup (host);
        }
        self->port = port;
        g_clear_object (&config->connectable);
        if (self->host != NULL)
                config->connectable = g_network_address_new (self->host, self->port);
        client_config_done (self, PROP_0);
}

static void
g_smtp_client_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
        GSmtpClient *self = GSMTP_CLIENT (object);
        GSmtpClientConfig *config;

        g_mutex_lock (&self->lock);
        config = gsmtp_client_config_ref (self->config);
        g_mutex_unlock (&self->lock);
        switch (id) {
        case PROP_HOST:
                if (self->host != NULL)
                        g_value_set_string (value, self->host);
                else if (G_IS_NETWORK_ADDRESS (config->connectable))
                        g_value_set_string (value, g_network_address_get_hostname (G_NETWORK_ADDRESS (config->connectable)));
                else if (G_IS_INET_SOCKET_ADDRESS (config->connectable))
                        g_value_take_string (value, g_inet_address_to_string (g_inet_socket_address_get_address (
                                                            G_INET_SOCKET_ADDRESS (config->connectable))));
                break;
        case PROP_PORT:
                if (self->host != NULL)
                        g_value_set_uint (value, self->port);
                else if (G_IS_NETWORK_ADDRESS (config->connectable))
                        g_value_set_uint (value, g_network_address_get_port (G_NETWORK_ADDRESS (config->connectable)));
                else if (G_IS_INET_SOCKET_ADDRESS (config->connectable))
                        g_value_set_uint (value, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (config->connectable)));
                break;
        case PROP_CONNECTABLE:
                g_value_set_object (value, config->connectable);
                break;
        case PROP_TLS_MODE:
                g_value_set_enum (value, config->tls_mode);
                break;
        case PROP_TIMEOUT:
                g_value_set_uint (value, config->timeout);
                break;
        case PROP_SEND_TIMEOUT:
                g_value_set_uint (value, self->send_timeout);
                break;
        case PROP_HELO_NAME:
                g_value_set_string (value, config->helo_name);
                break;
        case PROP_TLS_DATABASE:
                g_value_set_object (value, config->database);
                break;
        case PROP_TLS_INTERACTION:
                g_value_set_object (value, config->interaction);
                break;
        case PROP_INSECURE:
                g_value_set_boolean (value, config->insecure);
                break;
        case PROP_MAX_CONNECTIONS:
                g_value_set_uint (value, self->max_connections);
                break;
        case PROP_LMTP:
                g_value_set_boolean (value, config->lmtp);
                break;
        case PROP_USERNAME:
                g_value_set_string (value, config->username);
                break;
        case PROP_AUTH_MECHANISM:
                g_value_set_string (value, config->mechanism);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
        }
        gsmtp_client_config_unref (config);
}

static void
g_smtp_client_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
        GSmtpClient *self = GSMTP_CLIENT (object);
        GSmtpClientConfig *config;

        switch (id) {
        case PROP_HOST:
                client_set_address (self, g_value_get_string (value), self->port);
                break;
        case PROP_PORT:
                client_set_address (self, self->host, g_value_get_uint (value));
                break;
        case PROP_CONNECTABLE:
                if (g_value_get_object (value) == NULL)
                        break;
                config = client_config_edit (self);
                g_clear_pointer (&self->host, g_free);
                g_set_object (&config->connectable, g_value_get_object (value));
                client_config_done (self, PROP_0);
                break;
        case PROP_TLS_MODE:
                g_smtp_client_set_tls_mode (self, g_value_get_enum (value));
                break;
        case PROP_TIMEOUT:
                g_smtp_client_set_timeout (self, g_value_get_uint (value));
                break;
        case PROP_SEND_TIMEOUT:
                g_smtp_client_set_send_timeout (self, g_value_get_uint (value));
                break;
        case PROP_HELO_NAME:
                g_smtp_client_set_helo_name (self, g_value_get_string (value));
                break;
        case PROP_TLS_DATABASE:
                g_smtp_client_set_tls_database (self, g_value_get_object (value));
                break;
        case PROP_TLS_INTERACTION:
                g_smtp_client_set_tls_interaction (self, g_value_get_object (value));
                break;
        case PROP_INSECURE:
                g_smtp_client_set_insecure (self, g_value_get_boolean (value));
                break;
        case PROP_MAX_CONNECTIONS:
                g_smtp_client_set_max_connections (self, g_value_get_uint (value));
                break;
        case PROP_LMTP:
                g_smtp_client_set_lmtp (self, g_value_get_boolean (value));
                break;
        case PROP_USERNAME:
                config = client_config_edit (self);
                g_free (config->username);
                config->username = g_value_dup_string (value);
                client_config_done (self, PROP_USERNAME);
                break;
        case PROP_PASSWORD:
                config = client_config_edit (self);
                gsmtp_sasl_wipe (config->password);
                config->password = g_value_dup_string (value);
                config->oauth = FALSE;
                client_config_done (self, PROP_0);
                break;
        case PROP_OAUTH_TOKEN:
                config = client_config_edit (self);
                gsmtp_sasl_wipe (config->token);
                config->token = g_value_dup_string (value);
                config->oauth = config->token != NULL || self->token_func != NULL;
                client_config_done (self, PROP_0);
                break;
        case PROP_AUTH_MECHANISM:
                g_smtp_client_set_auth_mechanism (self, g_value_get_string (value));
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
        }
}

static void
g_smtp_client_finalize (GObject *object)
{
        GSmtpClient *self = GSMTP_CLIENT (object);

        /* every operation holds a reference: none is left, nor waiting */
        g_ptr_array_unref (self->idle);
        g_ptr_array_unref (self->active);
        gsmtp_client_config_unref (self->config);
        g_free (self->host);
        g_ptr_array_unref (self->extensions);
        if (self->token_destroy != NULL)
                self->token_destroy (self->token_data);
        g_mutex_clear (&self->lock);
        G_OBJECT_CLASS (g_smtp_client_parent_class)->finalize (object);
}

static void
g_smtp_client_class_init (GSmtpClientClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);
        GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
        GParamFlags wo = G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS;

        object_class->finalize = g_smtp_client_finalize;
        object_class->get_property = g_smtp_client_get_property;
        object_class->set_property = g_smtp_client_set_property;

        /**
         * GSmtpClient:host:
         *
         * The server's host name or address.
         *
         * Since: 0.2
         */
        props[PROP_HOST] = g_param_spec_string ("host", NULL, NULL, NULL, rw);
        /**
         * GSmtpClient:port:
         *
         * The server's port: 25, 587 (submission), 465 (implicit TLS), 24 (LMTP).
         *
         * Since: 0.2
         */
        props[PROP_PORT] = g_param_spec_uint ("port", NULL, NULL, 0, 65535, 25, rw);
        /**
         * GSmtpClient:connectable:
         *
         * Where the server is, and the identity its certificate must match.
         *
         * Since: 0.2
         */
        props[PROP_CONNECTABLE] = g_param_spec_object ("connectable", NULL, NULL, G_TYPE_SOCKET_CONNECTABLE, rw);
        /**
         * GSmtpClient:tls-mode:
         *
         * How TLS is used.
         *
         * Since: 0.2
         */
        props[PROP_TLS_MODE] = g_param_spec_enum ("tls-mode", NULL, NULL, GSMTP_TYPE_TLS_MODE, GSMTP_TLS_NONE, rw);
        /**
         * GSmtpClient:timeout:
         *
         * The longest one step may take, in seconds: connecting, the TLS
         * handshake, one write, the wait for one whole reply.  0 waits for ever.
         * On expiry the send fails with %G_IO_ERROR_TIMED_OUT and the connection
         * is dropped.
         *
         * Since: 0.2
         */
        props[PROP_TIMEOUT] = g_param_spec_uint ("timeout", NULL, NULL, 0, G_MAXUINT, 300, rw);
        /**
         * GSmtpClient:send-timeout:
         *
         * The deadline of one send, in seconds, from the call to its result:
         * waiting for a connection, connecting and the whole transaction.
         * 0 (the default) is no deadline.
         *
         * Since: 0.2
         */
        props[PROP_SEND_TIMEOUT] = g_param_spec_uint ("send-timeout", NULL, NULL, 0, G_MAXUINT, 0, rw);
        /**
         * GSmtpClient:helo-name:
         *
         * The name given in EHLO: a domain name or an address literal such as
         * "[192.0.2.1]".  %NULL (the default) gives the host's name when it is
         * fully qualified, else the connection's own address as a literal
         * (RFC 5321 4.1.1.1).
         *
         * Since: 0.2
         */
        props[PROP_HELO_NAME] = g_param_spec_string ("helo-name", NULL, NULL, NULL, rw);
        /**
         * GSmtpClient:tls-database:
         *
         * The certificate authorities to verify the server against; %NULL for
         * the system's.
         *
         * Since: 0.2
         */
        props[PROP_TLS_DATABASE] = g_param_spec_object ("tls-database", NULL, NULL, G_TYPE_TLS_DATABASE, rw);
        /**
         * GSmtpClient:tls-interaction:
         *
         * Asked for a client certificate when the server wants one.
         *
         * Since: 0.2
         */
        props[PROP_TLS_INTERACTION] = g_param_spec_object ("tls-interaction", NULL, NULL,
                                                           G_TYPE_TLS_INTERACTION, rw);
        /**
         * GSmtpClient:insecure:
         *
         * For tests only: encrypt, but accept any certificate.
         *
         * Since: 0.2
         */
        props[PROP_INSECURE] = g_param_spec_boolean ("insecure", NULL, NULL, FALSE, rw);
        /**
         * GSmtpClient:max-connections:
         *
         * How many connections sends may use at once.  1 (the default): sends
         * queue and share one connection.  More: a pool, as nodemailer's and
         * lettre's, where each send takes an idle connection or opens one.
         *
         * Since: 0.2
         */
        props[PROP_MAX_CONNECTIONS] = g_param_spec_uint ("max-connections", NULL, NULL, 1, 10000, 1, rw);
        /**
         * GSmtpClient:lmtp:
         *
         * Speak LMTP (RFC 2033): LHLO, and after the data one reply for each
         * accepted recipient, found in the #GSmtpSendResult.
         *
         * Since: 0.2
         */
        props[PROP_LMTP] = g_param_spec_boolean ("lmtp", NULL, NULL, FALSE, rw);
        /**
         * GSmtpClient:username:
         *
         * The user to authenticate as; %NULL for no AUTH.
         *
         * Since: 0.2
         */
        props[PROP_USERNAME] = g_param_spec_string ("username", NULL, NULL, NULL, rw);
        /**
         * GSmtpClient:password:
         *
         * The password for AUTH PLAIN or LOGIN.  Write-only.
         *
         * Since: 0.2
         */
        props[PROP_PASSWORD] = g_param_spec_string ("password", NULL, NULL, NULL, wo);
        /**
         * GSmtpClient:oauth-token:
         *
         * An OAuth 2.0 access token for AUTH OAUTHBEARER or XOAUTH2.  Write-only;
         * never logged.  See also g_smtp_client_set_token_func().
         *
         * Since: 0.2
         */
        props[PROP_OAUTH_TOKEN] = g_param_spec_string ("oauth-token", NULL, NULL, NULL, wo);
        /**
         * GSmtpClient:auth-mechanism:
         *
         * The SASL mechanism: "PLAIN", "LOGIN", "XOAUTH2" or "OAUTHBEARER".
         * %NULL picks the first the server offers: PLAIN then LOGIN with a
         * password, OAUTHBEARER then XOAUTH2 with a token.
         *
         * Since: 0.2
         */
        props[PROP_AUTH_MECHANISM] = g_param_spec_string ("auth-mechanism", NULL, NULL, NULL, rw);
        g_object_class_install_properties (object_class, N_PROPS, props);

        /**
         * GSmtpClient::progress:
         * @client: the client
         * @sent: message bytes sent so far
         * @total: the size of the message, or 0 when unknown (a stream)
         *
         * Emitted as the message data goes out, in the main context of the send.
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
        g_mutex_init (&self->lock);
        self->config = gsmtp_client_config_new ();
        self->port = 25;
        self->max_connections = 1;
        g_queue_init (&self->waiting);
        self->idle = g_ptr_array_new_with_free_func ((GDestroyNotify) gsmtp_client_connection_free);
        self->active = g_ptr_array_new ();
        self->extensions = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (self->extensions, NULL);
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
        g_return_val_if_fail (host != NULL, NULL);
        return g_object_new (GSMTP_TYPE_CLIENT, "host", host, "port", (guint) port, NULL);
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
        g_return_val_if_fail (G_IS_SOCKET_CONNECTABLE (connectable), NULL);
        return g_object_new (GSMTP_TYPE_CLIENT, "connectable", connectable, NULL);
}

/**
 * g_smtp_client_new_for_stream:
 * @stream: a connection the application already has (Racket's #:tcp-connect)
 * @identity: (nullable): the server's identity, for certificate checks under TLS
 *
 * Makes a client that talks over a connection the application already has.
 * Once that connection is closed (by QUIT, or after a failure) the client
 * cannot open another, and sends fail with %G_IO_ERROR_CLOSED.
 *
 * Returns: (transfer full): a client that talks over @stream
 *
 * Since: 0.1
 */
GSmtpClient *
g_smtp_client_new_for_stream (GIOStream *stream, GSocketConnectable *identity)
{
        GSmtpClient *self;

        g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
        self = g_object_new (GSMTP_TYPE_CLIENT, NULL);
        self->config->given_stream = g_object_ref (stream);
        if (identity != NULL)
                self->config->connectable = g_object_ref (identity);
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
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (mode <= GSMTP_TLS_IMPLICIT);
        config = client_config_edit (self);
        config->tls_mode = mode;
        client_config_done (self, PROP_TLS_MODE);
}

/**
 * g_smtp_client_set_credentials:
 * @self: a client
 * @username: (nullable): the user, or %NULL for no AUTH
 * @password: (nullable): the password
 *
 * With credentials the client authenticates with PLAIN or LOGIN, whichever
 * the server offers (or #GSmtpClient:auth-mechanism), and only over TLS.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_credentials (GSmtpClient *self, const char *username, const char *password)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        g_free (config->username);
        config->username = g_strdup (username);
        gsmtp_sasl_wipe (config->password);
        config->password = g_strdup (password != NULL ? password : "");
        gsmtp_sasl_wipe (config->token);
        config->token = NULL;
        config->oauth = FALSE;
        client_config_done (self, PROP_USERNAME);
}

/**
 * g_smtp_client_set_oauth_token:
 * @self: a client
 * @username: (nullable): the user, or %NULL for no AUTH
 * @token: (nullable): an OAuth 2.0 access token
 *
 * Authenticates with OAUTHBEARER (RFC 7628) or XOAUTH2 (Gmail, Outlook),
 * whichever the server offers, only over TLS.  The token is used for every
 * connection opened after this call; set a fresh one when it expires, or use
 * g_smtp_client_set_token_func().  It is never logged nor quoted in errors.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_oauth_token (GSmtpClient *self, const char *username, const char *token)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        g_free (config->username);
        config->username = g_strdup (username);
        gsmtp_sasl_wipe (config->password);
        config->password = NULL;
        gsmtp_sasl_wipe (config->token);
        config->token = g_strdup (token);
        config->oauth = TRUE;
        client_config_done (self, PROP_USERNAME);
}

/**
 * g_smtp_client_set_token_func:
 * @self: a client
 * @username: (nullable): the user, or %NULL for no AUTH
 * @func: (nullable) (scope notified) (closure user_data) (destroy destroy): gives a
 *   token each time a connection authenticates
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data
 *
 * Like g_smtp_client_set_oauth_token(), with the token asked for when needed.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_token_func (GSmtpClient *self, const char *username, GSmtpTokenFunc func,
                              gpointer user_data, GDestroyNotify destroy)
{
        GSmtpClientConfig *config;
        GDestroyNotify old_destroy;
        gpointer old_data;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        g_free (config->username);
        config->username = g_strdup (username);
        gsmtp_sasl_wipe (config->password);
        config->password = NULL;
        gsmtp_sasl_wipe (config->token);
        config->token = NULL;
        config->oauth = TRUE;
        old_destroy = self->token_destroy;
        old_data = self->token_data;
        self->token_func = func;
        self->token_data = user_data;
        self->token_destroy = destroy;
        client_config_done (self, PROP_USERNAME);
        if (old_destroy != NULL)
                old_destroy (old_data);
}

char *
gsmtp_client_get_token (GSmtpClient *self, GSmtpClientConfig *config)
{
        GSmtpTokenFunc func;
        gpointer data;

        g_mutex_lock (&self->lock);
        func = self->token_func;
        data = self->token_data;
        g_mutex_unlock (&self->lock);
        return func != NULL ? func (self, config->username, data) : NULL;
}

/**
 * g_smtp_client_set_auth_mechanism:
 * @self: a client
 * @mechanism: (nullable): "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", or %NULL
 *   to pick the first the server offers
 *
 * Sets #GSmtpClient:auth-mechanism.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_auth_mechanism (GSmtpClient *self, const char *mechanism)
{
        static const char *const known[] = { "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", NULL };
        GSmtpClientConfig *config;
        g_autofree char *upper = mechanism != NULL ? g_ascii_strup (mechanism, -1) : NULL;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (upper == NULL || g_strv_contains (known, upper));
        config = client_config_edit (self);
        g_free (config->mechanism);
        config->mechanism = g_steal_pointer (&upper);
        client_config_done (self, PROP_AUTH_MECHANISM);
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
        g_autoptr(GTlsDatabase) db = NULL;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), FALSE);
        db = g_tls_file_database_new (ca_file, error);
        if (db == NULL)
                return FALSE;
        g_smtp_client_set_tls_database (self, db);
        return TRUE;
}

/**
 * g_smtp_client_set_tls_database:
 * @self: a client
 * @database: (nullable): the authorities to trust, or %NULL for the system's
 *
 * Sets #GSmtpClient:tls-database.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_tls_database (GSmtpClient *self, GTlsDatabase *database)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        g_set_object (&config->database, database);
        client_config_done (self, PROP_TLS_DATABASE);
}

/**
 * g_smtp_client_set_tls_interaction:
 * @self: a client
 * @interaction: (nullable): asked for a client certificate
 *
 * Sets #GSmtpClient:tls-interaction.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_tls_interaction (GSmtpClient *self, GTlsInteraction *interaction)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        g_set_object (&config->interaction, interaction);
        client_config_done (self, PROP_TLS_INTERACTION);
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
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        config->insecure = !!insecure;
        client_config_done (self, PROP_INSECURE);
}

/**
 * g_smtp_client_set_helo_name:
 * @self: a client
 * @name: (nullable): the name to give in EHLO
 *
 * Sets #GSmtpClient:helo-name.  A name that is neither a domain nor an address
 * literal fails the next connection with %G_IO_ERROR_INVALID_ARGUMENT.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_helo_name (GSmtpClient *self, const char *name)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        g_free (config->helo_name);
        config->helo_name = g_strdup (name);
        client_config_done (self, PROP_HELO_NAME);
}

/**
 * g_smtp_client_set_timeout:
 * @self: a client
 * @seconds: the longest one step may take; 0 for ever
 *
 * Sets #GSmtpClient:timeout: a limit on each step (connecting, the TLS
 * handshake, one write, the wait for one reply), not on a whole send (for that,
 * g_smtp_client_set_send_timeout()).  300 s by default, as RFC 5321 4.5.3.2
 * suggests for most replies.
 *
 * Since: 0.1
 */
void
g_smtp_client_set_timeout (GSmtpClient *self, guint seconds)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        config->timeout = seconds;
        client_config_done (self, PROP_TIMEOUT);
}

/**
 * g_smtp_client_set_send_timeout:
 * @self: a client
 * @seconds: the deadline of one send; 0 for none
 *
 * Sets #GSmtpClient:send-timeout.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_send_timeout (GSmtpClient *self, guint seconds)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_mutex_lock (&self->lock);
        self->send_timeout = seconds;
        g_mutex_unlock (&self->lock);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SEND_TIMEOUT]);
}

/**
 * g_smtp_client_set_max_connections:
 * @self: a client
 * @max_connections: how many connections sends may use at once, at least 1
 *
 * Sets #GSmtpClient:max-connections.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_max_connections (GSmtpClient *self, guint max_connections)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (max_connections >= 1);
        g_mutex_lock (&self->lock);
        self->max_connections = max_connections;
        gsmtp_client_start_waiting_locked (self);
        g_mutex_unlock (&self->lock);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MAX_CONNECTIONS]);
}

/**
 * g_smtp_client_set_lmtp:
 * @self: a client
 * @lmtp: %TRUE for LMTP
 *
 * Sets #GSmtpClient:lmtp.
 *
 * Since: 0.2
 */
void
g_smtp_client_set_lmtp (GSmtpClient *self, gboolean lmtp)
{
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        config = client_config_edit (self);
        config->lmtp = !!lmtp;
        client_config_done (self, PROP_LMTP);
}

/**
 * g_smtp_client_get_extensions:
 * @self: a client
 *
 * Gets the EHLO keywords of the server, as "SIZE 10485760", once a connection
 * has greeted it (empty after HELO).
 *
 * Returns: (array zero-terminated=1) (transfer none): the EHLO keywords of the
 *   server, valid until the next connection greets a server that answers
 *   differently
 *
 * Since: 0.1
 */
const char *const *
g_smtp_client_get_extensions (GSmtpClient *self)
{
        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        return (const char *const *) self->extensions->pdata;
}

void
gsmtp_client_take_extensions (GSmtpClient *self, GSmtpClientConnection *conn)
{
        gboolean same;

        g_mutex_lock (&self->lock);
        same = self->extensions->len == conn->extensions->len;
        for (guint i = 0; same && i + 1 < conn->extensions->len; i++)
                same = g_str_equal (self->extensions->pdata[i], conn->extensions->pdata[i]);
        if (!same) {
                g_ptr_array_set_size (self->extensions, 0);
                for (guint i = 0; i + 1 < conn->extensions->len; i++)
                        g_ptr_array_add (self->extensions, g_strdup (conn->extensions->pdata[i]));
                g_ptr_array_add (self->extensions, NULL);
        }
        g_mutex_unlock (&self->lock);
}

void
gsmtp_client_emit_progress (GSmtpClient *self, guint64 sent, guint64 total)
{
        g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, sent, total);
}

void
gsmtp_client_emit_sent (GSmtpClient *self)
{
        g_signal_emit (self, signals[SIGNAL_MESSAGE_SENT], 0);
}

static void
client_send_start (GSmtpClient *self, GSmtpClientMessage *msg, GError *error, SyncCall *sync,
                   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                   gpointer source_tag)
{
        GSmtpClientOp *op = gsmtp_client_op_new (self, OP_SEND, cancellable, callback, user_data, source_tag);

        if (sync != NULL)
                op->caller_context = g_main_context_ref (sync->outer);
        if (msg == NULL) {
                /* a bad argument: refused before anything is sent or queued */
                op->error = error;
                gsmtp_client_op_return (op);
                return;
        }
        op->msg = msg;
        gsmtp_client_submit (self, op);
}

/* ---- public calls --------------------------------------------------------------------- */

static void
send_bytes_start (GSmtpClient *self, const char *sender, const char *const *recipients, GBytes *data,
                  GSmtpSendOptions *options, SyncCall *sync, GCancellable *cancellable,
                  GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
        GError *error = NULL;
        GSmtpClientMessage *msg = gsmtp_client_message_new (sender, recipients, data, NULL, options, &error);

        client_send_start (self, msg, error, sync, cancellable, callback, user_data, tag);
}

static void
send_stream_start (GSmtpClient *self, const char *sender, const char *const *recipients, GInputStream *data,
                   GSmtpSendOptions *options, SyncCall *sync, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
        GError *error = NULL;
        GSmtpClientMessage *msg = gsmtp_client_message_new (sender, recipients, NULL, data, options, &error);

        client_send_start (self, msg, error, sync, cancellable, callback, user_data, tag);
}

/**
 * g_smtp_client_send_bytes_full_async:
 * @self: a client
 * @sender: (nullable): the reverse-path; %NULL or "" for the null sender
 * @recipients: (array zero-terminated=1): the forward-paths; duplicates are sent once
 * @data: an RFC 5322 message; line ends become CRLF on the wire (but for a
 *   BINARYMIME body)
 * @options: (nullable): DSN, REQUIRETLS, body type, other parameters
 * @cancellable: (nullable): a #GCancellable; cancelling mid-message drops the
 *   connection so the server never accepts half a message; once the whole
 *   message is out it no longer stops the send, whose verdict is waited for
 *   (within #GSmtpClient:timeout), so an accepted message never looks undelivered
 * @callback: (scope async): called when done, in the caller's thread-default
 *   main context
 * @user_data: data for @callback
 *
 * Sends one message, connecting first if needed, on the caller's thread-default
 * main context without blocking it.  Every address and parameter is checked
 * first: a CR, LF, control character, space or unbalanced angle bracket fails
 * the send with %G_IO_ERROR_INVALID_ARGUMENT before anything is sent.  The send
 * waits in the client's queue while its connections are busy.  Finish with
 * g_smtp_client_send_finish().
 *
 * Since: 0.2
 */
void
g_smtp_client_send_bytes_full_async (GSmtpClient *self, const char *sender, const char *const *recipients,
                                     GBytes *data, GSmtpSendOptions *options, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (data != NULL);
        g_return_if_fail (options == NULL || GSMTP_IS_SEND_OPTIONS (options));
        send_bytes_start (self, sender, recipients, data, options, NULL, cancellable, callback, user_data,
                          g_smtp_client_send_bytes_full_async);
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
 * g_smtp_client_send_bytes_full_async() without options.
 *
 * Since: 0.1
 */
void
g_smtp_client_send_bytes_async (GSmtpClient *self, const char *sender, const char *const *recipients,
                                GBytes *data, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (data != NULL);
        send_bytes_start (self, sender, recipients, data, NULL, NULL, cancellable, callback, user_data,
                          g_smtp_client_send_bytes_async);
}

/**
 * g_smtp_client_send_stream_full_async:
 * @self: a client
 * @sender: (nullable): the reverse-path
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: the message, read as it goes out
 * @options: (nullable): DSN, REQUIRETLS, body type, other parameters
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * As g_smtp_client_send_bytes_full_async(), reading the message from @data as
 * it goes: no SIZE is declared, BODY=8BITMIME is declared whenever the server
 * offers it, and an 8-bit byte for a server without 8BITMIME (or a NUL byte)
 * stops the send and drops the connection before the end of the data.
 *
 * Since: 0.2
 */
void
g_smtp_client_send_stream_full_async (GSmtpClient *self, const char *sender, const char *const *recipients,
                                      GInputStream *data, GSmtpSendOptions *options,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (G_IS_INPUT_STREAM (data));
        send_stream_start (self, sender, recipients, data, options, NULL, cancellable, callback, user_data,
                           g_smtp_client_send_stream_full_async);
}

/**
 * g_smtp_client_send_stream_async:
 * @self: a client
 * @sender: (nullable): the reverse-path
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: the message
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * g_smtp_client_send_stream_full_async() without options.
 *
 * Since: 0.2
 */
void
g_smtp_client_send_stream_async (GSmtpClient *self, const char *sender, const char *const *recipients,
                                 GInputStream *data, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (G_IS_INPUT_STREAM (data));
        send_stream_start (self, sender, recipients, data, NULL, NULL, cancellable, callback, user_data,
                           g_smtp_client_send_stream_async);
}

/**
 * g_smtp_client_send_finish:
 * @self: a client
 * @result: the result
 * @error: return location for a #GError
 *
 * Finishes any of the send calls.  A send fails when no recipient got the
 * message: when every recipient was refused the error quotes every reply, is
 * %GSMTP_ERROR_TEMPORARY if any refusal was temporary (else
 * %GSMTP_ERROR_REJECTED), and carries the per-recipient replies
 * (g_smtp_error_get_send_result()).
 *
 * Returns: (transfer full) (nullable): what the server said
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_finish (GSmtpClient *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail (g_task_is_valid (result, self), NULL);
        return g_task_propagate_pointer (G_TASK (result), error);
}

static GSmtpSendResult *
sync_send_finish (GSmtpClient *self, SyncCall *call, GError **error)
{
        GSmtpSendResult *result;

        gsmtp_client_sync_wait (call);
        result = g_smtp_client_send_finish (self, call->result, error);
        gsmtp_client_sync_end (call);
        return result;
}

/**
 * g_smtp_client_send_bytes_full:
 * @self: a client
 * @sender: (nullable): the reverse-path; %NULL or "" for the null sender
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: an RFC 5322 message
 * @options: (nullable): DSN, REQUIRETLS, body type, other parameters
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The sync form of g_smtp_client_send_bytes_full_async(), for any thread.
 *
 * Returns: (transfer full) (nullable): what the server said, or %NULL with
 *   @error set when the message was not accepted for any recipient
 *
 * Since: 0.2
 */
GSmtpSendResult *
g_smtp_client_send_bytes_full (GSmtpClient *self, const char *sender, const char *const *recipients,
                               GBytes *data, GSmtpSendOptions *options, GCancellable *cancellable,
                               GError **error)
{
        SyncCall call;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        g_return_val_if_fail (data != NULL, NULL);
        g_return_val_if_fail (options == NULL || GSMTP_IS_SEND_OPTIONS (options), NULL);
        gsmtp_client_sync_begin (&call);
        send_bytes_start (self, sender, recipients, data, options, &call, cancellable, gsmtp_client_sync_done, &call,
                          g_smtp_client_send_bytes_full);
        return sync_send_finish (self, &call, error);
}

/**
 * g_smtp_client_send_bytes:
 * @self: a client
 * @sender: (nullable): the reverse-path; %NULL or "" for the null sender
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: an RFC 5322 message; line ends are normalised to CRLF on the wire
 * @cancellable: (nullable): a #GCancellable; cancelling mid-message drops the
 *   connection so the server never accepts half a message (see
 *   g_smtp_client_send_bytes_full_async())
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
        return g_smtp_client_send_bytes_full (self, sender, recipients, data, NULL, cancellable, error);
}

/**
 * g_smtp_client_send_stream_full:
 * @self: a client
 * @sender: (nullable): the reverse-path
 * @recipients: (array zero-terminated=1): the forward-paths
 * @data: the message
 * @options: (nullable): DSN, REQUIRETLS, body type, other parameters
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The sync form of g_smtp_client_send_stream_full_async().
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.2
 */
GSmtpSendResult *
g_smtp_client_send_stream_full (GSmtpClient *self, const char *sender, const char *const *recipients,
                                GInputStream *data, GSmtpSendOptions *options, GCancellable *cancellable,
                                GError **error)
{
        SyncCall call;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        g_return_val_if_fail (G_IS_INPUT_STREAM (data), NULL);
        gsmtp_client_sync_begin (&call);
        send_stream_start (self, sender, recipients, data, options, &call, cancellable, gsmtp_client_sync_done, &call,
                           g_smtp_client_send_stream_full);
        return sync_send_finish (self, &call, error);
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
 * see g_smtp_client_send_stream_full_async().
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_stream (GSmtpClient *self, const char *sender, const char *const *recipients,
                           GInputStream *data, GCancellable *cancellable, GError **error)
{
        return g_smtp_client_send_stream_full (self, sender, recipients, data, NULL, cancellable, error);
}

/**
 * g_smtp_client_send_message_full_async:
 * @self: a client
 * @message: the message
 * @sender: (nullable): the reverse-path; %NULL takes it from the headers
 * @recipients: (array zero-terminated=1) (nullable): the forward-paths; %NULL
 *   takes them from the headers
 * @options: (nullable): DSN, REQUIRETLS, body type, other parameters
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Sends a GMime message.  The envelope comes from the headers unless given
 * (RFC 5322 3.6.6, as Python's smtplib): when the message has Resent- fields,
 * from the most recent Resent- block (Resent-Sender or Resent-From;
 * Resent-To, Resent-Cc, Resent-Bcc), otherwise Sender or From, and To, Cc, Bcc.
 * A mailbox named twice gets one RCPT.  Bcc and Resent-Bcc are never sent.
 *
 * Since: 0.2
 */
void
g_smtp_client_send_message_full_async (GSmtpClient *self, GMimeMessage *message, const char *sender,
                                       const char *const *recipients, GSmtpSendOptions *options,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
        g_autofree char *from = NULL;
        g_auto(GStrv) to = NULL;
        g_autoptr(GBytes) data = NULL;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        g_return_if_fail (GMIME_IS_MESSAGE (message));
        data = gsmtp_client_mime_prepare (message, sender, recipients, &from, &to);
        g_smtp_client_send_bytes_full_async (self, from, (const char *const *) to, data, options, cancellable,
                                             callback, user_data);
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
 * g_smtp_client_send_message_full_async() without options.
 *
 * Since: 0.1
 */
void
g_smtp_client_send_message_async (GSmtpClient *self, GMimeMessage *message, const char *sender,
                                  const char *const *recipients, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
        g_smtp_client_send_message_full_async (self, message, sender, recipients, NULL, cancellable, callback,
                                               user_data);
}

/**
 * g_smtp_client_send_message_full:
 * @self: a client
 * @message: the message
 * @sender: (nullable): the reverse-path; %NULL takes it from the headers
 * @recipients: (array zero-terminated=1) (nullable): the forward-paths; %NULL
 *   takes them from the headers
 * @options: (nullable): DSN, REQUIRETLS, body type, other parameters
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The sync form of g_smtp_client_send_message_full_async().
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.2
 */
GSmtpSendResult *
g_smtp_client_send_message_full (GSmtpClient *self, GMimeMessage *message, const char *sender,
                                 const char *const *recipients, GSmtpSendOptions *options,
                                 GCancellable *cancellable, GError **error)
{
        g_autofree char *from = NULL;
        g_auto(GStrv) to = NULL;
        g_autoptr(GBytes) data = NULL;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), NULL);
        g_return_val_if_fail (GMIME_IS_MESSAGE (message), NULL);
        data = gsmtp_client_mime_prepare (message, sender, recipients, &from, &to);
        return g_smtp_client_send_bytes_full (self, from, (const char *const *) to, data, options, cancellable,
                                              error);
}

/**
 * g_smtp_client_send_message:
 * @self: a client
 * @message: the message
 * @sender: (nullable): the reverse-path; %NULL takes it from the headers
 * @recipients: (array zero-terminated=1) (nullable): the forward-paths; %NULL
 *   takes them from the headers
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Sends a GMime message; see g_smtp_client_send_message_full_async() for where
 * the envelope comes from.  Bcc and Resent-Bcc are never sent.
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.1
 */
GSmtpSendResult *
g_smtp_client_send_message (GSmtpClient *self, GMimeMessage *message, const char *sender,
                            const char *const *recipients, GCancellable *cancellable, GError **error)
{
        return g_smtp_client_send_message_full (self, message, sender, recipients, NULL, cancellable, error);
}

/**
 * g_smtp_client_connect_async:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Opens a connection (greeting, STARTTLS, AUTH) unless one is idle, to find
 * problems before the first send; sends connect by themselves.
 *
 * Since: 0.1
 */
void
g_smtp_client_connect_async (GSmtpClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
        g_return_if_fail (GSMTP_IS_CLIENT (self));
        gsmtp_client_submit (self, gsmtp_client_op_new (self, OP_CONNECT, cancellable, callback, user_data,
                                     g_smtp_client_connect_async));
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
        SyncCall call;
        GSmtpClientOp *op;
        gboolean ok;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), FALSE);
        gsmtp_client_sync_begin (&call);
        op = gsmtp_client_op_new (self, OP_CONNECT, cancellable, gsmtp_client_sync_done, &call, g_smtp_client_connect);
        op->caller_context = g_main_context_ref (call.outer);
        gsmtp_client_submit (self, op);
        gsmtp_client_sync_wait (&call);
        ok = g_smtp_client_connect_finish (self, call.result, error);
        gsmtp_client_sync_end (&call);
        return ok;
}

/**
 * g_smtp_client_quit_async:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when done
 * @user_data: data for @callback
 *
 * Says QUIT on every idle connection and closes it; a connection busy with a
 * send is closed when the send ends.
 *
 * Since: 0.1
 */
void
g_smtp_client_quit_async (GSmtpClient *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
        GSmtpClientOp *op;
        GSmtpClientConfig *config;

        g_return_if_fail (GSMTP_IS_CLIENT (self));
        op = gsmtp_client_op_new (self, OP_QUIT, cancellable, callback, user_data, g_smtp_client_quit_async);
        /* a new snapshot of the settings: busy connections are not reused */
        config = client_config_edit (self);
        (void) config;
        if (self->idle->len > 0) {
                op->conn = g_ptr_array_steal_index_fast (self->idle, 0);
                self->n_connections--;
        }
        client_config_done (self, PROP_0);
        if (op->conn == NULL) {
                gsmtp_client_op_return (op);
                return;
        }
        gsmtp_client_op_quit (op);
}

/**
 * g_smtp_client_quit_finish:
 * @self: a client
 * @result: the result
 * @error: return location for a #GError
 *
 * Finishes g_smtp_client_quit_async().
 *
 * Returns: %TRUE when every server said goodbye properly
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
 * g_smtp_client_quit:
 * @self: a client
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Says QUIT and closes the connections; see g_smtp_client_quit_async().
 *
 * Returns: %TRUE when the server said goodbye properly
 *
 * Since: 0.1
 */
gboolean
g_smtp_client_quit (GSmtpClient *self, GCancellable *cancellable, GError **error)
{
        SyncCall call;
        gboolean ok;

        g_return_val_if_fail (GSMTP_IS_CLIENT (self), FALSE);
        gsmtp_client_sync_begin (&call);
        g_smtp_client_quit_async (self, cancellable, gsmtp_client_sync_done, &call);
        gsmtp_client_sync_wait (&call);
        ok = g_smtp_client_quit_finish (self, call.result, error);
        gsmtp_client_sync_end (&call);
        return ok;
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
        const char *const *refused;

        result = g_smtp_client_send_bytes (client, sender, recipients, data, cancellable, error);
        if (result == NULL)
                return FALSE;
        g_smtp_client_quit (client, cancellable, NULL);
        refused = g_smtp_send_result_get_refused (result);
        if (refused[0] != NULL) {
                g_autofree char *what = g_strdup_printf ("Recipient %s refused", refused[0]);
                GError *refusal = gsmtp_client_reply_error (
                        g_smtp_send_result_get_recipient_reply (result, refused[0]), what);

                gsmtp_error_set_send_result (refusal, result);
                g_propagate_error (error, refusal);
                return FALSE;
        }
        return TRUE;
}

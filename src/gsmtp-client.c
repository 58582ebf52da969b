/* gsmtp-client.c — GSmtpClient: sends mail to an SMTP or LMTP server.
 * Owns: the settings (GObject properties, snapshotted for each connection), the
 * queue of operations and the connections they share (one by default, up to
 * max-connections), the deadline of a send, the public calls: each _async starts
 * non-blocking steps on the caller's thread-default main context, no thread; each
 * sync call runs the same steps on a private context, as
 * g_dbus_connection_send_message_with_reply_sync() does.
 * Not: the dialogue (gsmtp-client-connection.c, gsmtp-client-transaction.c), the
 * envelope of a GMime message (gsmtp-client-mime.c). */
#include "config.h"
#include "gsmtp-client-connection.h"
#include "gsmtp-sasl.h"

#include <string.h>

struct _GSmtpClient {
        GObject             parent_instance;

        /* sends come from any thread: everything below is under lock */
        GMutex              lock;
        GSmtpClientConfig  *config;             /* (owned): replaced, never changed, on a setting */
        char               *host;               /* (owned) (nullable) */
        guint16             port;
        guint               max_connections;
        guint               send_timeout;
        GQueue              waiting;            /* (element-type GSmtpClientOp): for a connection */
        GPtrArray          *idle;               /* (owned) (element-type GSmtpClientConnection): most recent last */
        GPtrArray          *active;             /* (element-type GSmtpClientOp): holding a connection */
        guint               n_connections;      /* idle, opening or busy */
        GPtrArray          *extensions;         /* (owned): of the last EHLO, NULL-terminated */
        GSmtpTokenFunc      token_func;
        gpointer            token_data;
        GDestroyNotify      token_destroy;
};

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

static gboolean client_give_locked (GSmtpClient *self, GSmtpClientConnection *conn);

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
        /* room for more: sends waiting in the queue start now */
        while (self->waiting.length > 0 && self->n_connections < self->max_connections &&
               self->config->given_stream == NULL) {
                self->n_connections++;
                client_give_locked (self, gsmtp_client_connection_new (self->config));
        }
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

/* ---- operations: the queue and the connections ---------------------------------------- */

static void
op_free (gpointer data)
{
        GSmtpClientOp *op = data;

        if (op->queue_cancel_id != 0)
                g_cancellable_disconnect (op->cancellable, op->queue_cancel_id);
        if (op->user_cancellable != NULL)
                g_cancellable_disconnect (op->user_cancellable, op->cancel_id);
        g_clear_object (&op->user_cancellable);
        g_clear_object (&op->cancellable);
        g_clear_pointer (&op->context, g_main_context_unref);
        g_clear_pointer (&op->caller_context, g_main_context_unref);
        g_clear_pointer (&op->config, gsmtp_client_config_unref);
        g_clear_pointer (&op->conn, gsmtp_client_connection_free);
        g_clear_pointer (&op->msg, gsmtp_client_message_free);
        g_clear_object (&op->result);
        g_clear_error (&op->error);
        g_clear_pointer (&op->auth_pending, gsmtp_sasl_wipe);
        g_clear_pointer (&op->tail, g_bytes_unref);
        g_free (op);
}

static void
op_cancel_internal (GCancellable *user, gpointer data)
{
        g_cancellable_cancel (data);
}

static GSmtpClientOp *
op_new (GSmtpClient *self, GSmtpClientOpKind kind, GCancellable *cancellable, GAsyncReadyCallback callback,
        gpointer user_data, gpointer source_tag)
{
        GSmtpClientOp *op = g_new0 (GSmtpClientOp, 1);

        op->kind = kind;
        op->client = self;
        op->task = g_task_new (self, cancellable, callback, user_data);
        g_task_set_source_tag (op->task, source_tag);
        g_task_set_name (op->task, "gsmtp client operation");
        /* a send that ended reports how, even if cancelled at the last moment: a
         * delivered message must never look undelivered */
        g_task_set_check_cancellable (op->task, FALSE);
        g_task_set_task_data (op->task, op, op_free);
        op->context = g_main_context_ref_thread_default ();
        op->cancellable = g_cancellable_new ();
        if (cancellable != NULL) {
                op->user_cancellable = g_object_ref (cancellable);
                op->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (op_cancel_internal),
                                                       g_object_ref (op->cancellable), g_object_unref);
        }
        g_mutex_lock (&self->lock);
        op->config = gsmtp_client_config_ref (self->config);
        op->send_timeout = kind == OP_SEND ? self->send_timeout : 0;
        g_mutex_unlock (&self->lock);
        return op;
}

/* Returns the task; the last reference to it may free the operation. */
static void
op_return (GSmtpClientOp *op)
{
        GTask *task = g_steal_pointer (&op->task);
        GError *error = g_steal_pointer (&op->error);

        if (op->timer != NULL) {
                g_source_destroy (op->timer);
                g_clear_pointer (&op->timer, g_source_unref);
        }
        if (op->deadline != NULL) {
                g_source_destroy (op->deadline);
                g_clear_pointer (&op->deadline, g_source_unref);
        }
        if (op->kind == OP_SEND) {
                if (op->result != NULL)
                        gsmtp_send_result_seal (op->result);
                if (error != NULL) {
                        if (op->result != NULL && g_smtp_send_result_get_recipients (op->result)[0] != NULL)
                                gsmtp_error_set_send_result (error, op->result);
                        g_task_return_error (task, error);
                } else {
                        g_task_return_pointer (task, g_steal_pointer (&op->result), g_object_unref);
                }
        } else if (error != NULL) {
                g_task_return_error (task, error);
        } else {
                g_task_return_boolean (task, TRUE);
        }
        g_object_unref (task);
}

static void op_start (GSmtpClientOp *op);

static gboolean
op_handoff (gpointer data)
{
        GSmtpClientOp *op = data;

        /* the steps' GIO calls must attach to the operation's context */
        g_main_context_push_thread_default (op->context);
        op_start (op);
        g_main_context_pop_thread_default (op->context);
        return G_SOURCE_REMOVE;
}

/* Gives @conn to the first waiting operation (lock held); it starts in its own
 * main context. */
static gboolean
client_give_locked (GSmtpClient *self, GSmtpClientConnection *conn)
{
        GSmtpClientOp *next = g_queue_pop_head (&self->waiting);
        GSource *idle;

        if (next == NULL)
                return FALSE;
        next->queued = FALSE;
        next->conn = conn;
        g_ptr_array_add (self->active, next);
        idle = g_idle_source_new ();
        g_source_set_static_name (idle, "gsmtp client handoff");
        g_source_set_callback (idle, op_handoff, next, NULL);
        g_source_attach (idle, next->context);
        g_source_unref (idle);
        return TRUE;
}

/* The connection of an ended operation: reused while open, in step and opened
 * with the current settings; otherwise closed, which makes room for a new one. */
static void
client_release (GSmtpClient *self, GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = g_steal_pointer (&op->conn);

        g_mutex_lock (&self->lock);
        g_ptr_array_remove (self->active, op);
        if (conn->open && conn->config == self->config) {
                if (!client_give_locked (self, conn))
                        g_ptr_array_add (self->idle, conn);
                conn = NULL;
        } else {
                self->n_connections--;
                if (self->waiting.length > 0 && self->n_connections < self->max_connections) {
                        self->n_connections++;
                        client_give_locked (self, gsmtp_client_connection_new (self->config));
                }
        }
        g_mutex_unlock (&self->lock);
        if (conn != NULL)
                gsmtp_client_connection_free (conn);
}

void
gsmtp_client_op_done (GSmtpClientOp *op)
{
        GSmtpClient *self = op->client;

        if (op->kind == OP_QUIT) {
                GSmtpClientConnection *next;

                g_clear_pointer (&op->conn, gsmtp_client_connection_free);
                g_mutex_lock (&self->lock);
                next = self->idle->len > 0 ? g_ptr_array_steal_index_fast (self->idle, 0) : NULL;
                if (next != NULL)
                        self->n_connections--;
                g_mutex_unlock (&self->lock);
                if (next != NULL) {
                        op->conn = next;
                        gsmtp_client_op_quit (op);
                        return;
                }
                op_return (op);
                return;
        }
        if (op->conn != NULL)
                client_release (self, op);
        op_return (op);
}

static void
op_start (GSmtpClientOp *op)
{
        switch (op->kind) {
        case OP_SEND:
                gsmtp_client_op_open (op, gsmtp_client_op_transaction);
                break;
        case OP_CONNECT:
                gsmtp_client_op_open (op, gsmtp_client_op_done);
                break;
        case OP_QUIT:
                gsmtp_client_op_quit (op);
                break;
        }
}

static void
op_queue_failed (GSmtpClientOp *op)
{
        if (op->deadline_hit)
                op->error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                         "The send did not finish within %u s (send-timeout): "
                                         "still waiting for a connection", op->send_timeout);
        else
                op->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
        op_return (op);
}

static gboolean
op_queue_cancelled_idle (gpointer data)
{
        op_queue_failed (data);
        return G_SOURCE_REMOVE;
}

/* The operation's cancellable fired, in any thread: if it still waits in the
 * queue it leaves it, and ends in its own main context.  One handler per waiting
 * operation, no source: a queue of thousands costs the main loop nothing. */
static void
op_queued_cancelled (GCancellable *cancellable, gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClient *self = op->client;
        gboolean removed = FALSE;

        g_mutex_lock (&self->lock);
        if (op->queued) {
                g_queue_remove (&self->waiting, op);
                op->queued = FALSE;
                removed = TRUE;
        }
        g_mutex_unlock (&self->lock);
        if (removed) {
                GSource *idle = g_idle_source_new ();

                g_source_set_static_name (idle, "gsmtp client cancelled while queued");
                g_source_set_callback (idle, op_queue_cancelled_idle, op, NULL);
                g_source_attach (idle, op->context);
                g_source_unref (idle);
        }
}

static gboolean
op_deadline_fired (gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClient *self = op->client;
        gboolean queued;

        op->deadline_hit = TRUE;
        g_clear_pointer (&op->deadline, g_source_unref);
        g_mutex_lock (&self->lock);
        queued = op->queued;
        if (queued) {
                g_queue_remove (&self->waiting, op);
                op->queued = FALSE;
        }
        g_mutex_unlock (&self->lock);
        if (queued)
                op_queue_failed (op);
        else
                g_cancellable_cancel (op->cancellable); /* the running step fails with TIMED_OUT */
        return G_SOURCE_REMOVE;
}

/* A sync call waits on its private context; an operation it waits behind that
 * runs on a context only this thread iterates would never end. */
static gboolean
client_wait_would_deadlock_locked (GSmtpClient *self, GSmtpClientOp *op)
{
        if (op->caller_context == NULL)
                return FALSE;
        for (guint i = 0; i < self->active->len; i++) {
                GSmtpClientOp *other = self->active->pdata[i];

                if (other->context == op->caller_context || g_main_context_is_owner (other->context))
                        return TRUE;
        }
        for (GList *l = self->waiting.head; l != NULL; l = l->next) {
                GSmtpClientOp *other = l->data;

                if (other->context == op->caller_context || g_main_context_is_owner (other->context))
                        return TRUE;
        }
        return FALSE;
}

/* Takes an idle connection (the most recent: likeliest still open), or opens one
 * within max-connections, or queues. */
static void
client_submit (GSmtpClient *self, GSmtpClientOp *op)
{
        g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func ((GDestroyNotify) gsmtp_client_connection_free);
        GSmtpClientConnection *conn = NULL;
        GError *error = NULL;

        if (g_cancellable_set_error_if_cancelled (op->user_cancellable, &error)) {
                op->error = error;
                op_return (op);
                return;
        }
        if (op->send_timeout > 0) {
                op->deadline = g_timeout_source_new_seconds (op->send_timeout);
                g_source_set_static_name (op->deadline, "gsmtp client send-timeout");
                g_source_set_callback (op->deadline, op_deadline_fired, op, NULL);
                g_source_attach (op->deadline, op->context);
        }
        g_mutex_lock (&self->lock);
        while (conn == NULL && self->idle->len > 0) {
                conn = g_ptr_array_steal_index (self->idle, self->idle->len - 1);
                if (conn->config != self->config || gsmtp_client_connection_is_stale (conn)) {
                        /* settings changed, or the server closed it while idle */
                        self->n_connections--;
                        g_ptr_array_add (stale, conn);
                        conn = NULL;
                }
        }
        if (conn == NULL && self->n_connections < self->max_connections &&
            (self->config->given_stream == NULL || self->n_connections == 0)) {
                self->n_connections++;
                conn = gsmtp_client_connection_new (self->config);
        }
        if (conn != NULL) {
                op->conn = conn;
                g_ptr_array_add (self->active, op);
        } else if (client_wait_would_deadlock_locked (self, op)) {
                error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                                             "A sync call would wait for ever behind an asynchronous "
                                             "operation of this client running in this thread's main context");
        } else {
                g_queue_push_tail (&self->waiting, op);
                op->queued = TRUE;
        }
        g_mutex_unlock (&self->lock);
        if (error != NULL) {
                op->error = error;
                op_return (op);
                return;
        }
        if (op->conn != NULL) {
                op_start (op);
                return;
        }
        if (op->user_cancellable != NULL) {
                /* outside the lock: a cancellable cancelled by now calls back at once */
                gulong id = g_cancellable_connect (op->cancellable, G_CALLBACK (op_queued_cancelled), op, NULL);

                g_mutex_lock (&self->lock);
                op->queue_cancel_id = id;
                g_mutex_unlock (&self->lock);
        }
}

/* ---- sync calls: the same steps on a private main context ------------------------------ */

typedef struct {
        GMainContext *context;
        GMainContext *outer;
        GAsyncResult *result;
} SyncCall;

static void
sync_begin (SyncCall *call)
{
        call->outer = g_main_context_ref_thread_default ();
        call->context = g_main_context_new ();
        call->result = NULL;
        g_main_context_push_thread_default (call->context);
}

static void
sync_done (GObject *source, GAsyncResult *result, gpointer data)
{
        SyncCall *call = data;

        call->result = g_object_ref (result);
}

static void
sync_wait (SyncCall *call)
{
        while (call->result == NULL)
                g_main_context_iteration (call->context, TRUE);
        g_main_context_pop_thread_default (call->context);
}

static void
sync_end (SyncCall *call)
{
        g_clear_object (&call->result);
        g_main_context_unref (call->context);
        g_main_context_unref (call->outer);
}

static void
client_send_start (GSmtpClient *self, GSmtpClientMessage *msg, GError *error, SyncCall *sync,
                   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                   gpointer source_tag)
{
        GSmtpClientOp *op = op_new (self, OP_SEND, cancellable, callback, user_data, source_tag);

        if (sync != NULL)
                op->caller_context = g_main_context_ref (sync->outer);
        if (msg == NULL) {
                /* a bad argument: refused before anything is sent or queued */
                op->error = error;
                op_return (op);
                return;
        }
        op->msg = msg;
        client_submit (self, op);
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
 *   connection so the server never accepts half a message
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

        sync_wait (call);
        result = g_smtp_client_send_finish (self, call->result, error);
        sync_end (call);
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
        sync_begin (&call);
        send_bytes_start (self, sender, recipients, data, options, &call, cancellable, sync_done, &call,
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
        sync_begin (&call);
        send_stream_start (self, sender, recipients, data, options, &call, cancellable, sync_done, &call,
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
        client_submit (self, op_new (self, OP_CONNECT, cancellable, callback, user_data,
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
        sync_begin (&call);
        op = op_new (self, OP_CONNECT, cancellable, sync_done, &call, g_smtp_client_connect);
        op->caller_context = g_main_context_ref (call.outer);
        client_submit (self, op);
        sync_wait (&call);
        ok = g_smtp_client_connect_finish (self, call.result, error);
        sync_end (&call);
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
        op = op_new (self, OP_QUIT, cancellable, callback, user_data, g_smtp_client_quit_async);
        /* a new snapshot of the settings: busy connections are not reused */
        config = client_config_edit (self);
        (void) config;
        if (self->idle->len > 0) {
                op->conn = g_ptr_array_steal_index_fast (self->idle, 0);
                self->n_connections--;
        }
        client_config_done (self, PROP_0);
        if (op->conn == NULL) {
                op_return (op);
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
        sync_begin (&call);
        g_smtp_client_quit_async (self, cancellable, sync_done, &call);
        sync_wait (&call);
        ok = g_smtp_client_quit_finish (self, call.result, error);
        sync_end (&call);
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
                GSmtpReply *r = g_smtp_send_result_get_recipient_reply (result, refused[0]);
                g_autofree char *text = g_smtp_reply_to_string (r);

                g_set_error (error, GSMTP_ERROR, g_smtp_reply_get_code (r) >= 500 ? GSMTP_ERROR_REJECTED
                                                                                  : GSMTP_ERROR_TEMPORARY,
                             "Recipient %s refused: %s", refused[0], text);
                if (error != NULL && *error != NULL) {
                        gsmtp_error_set_reply (*error, r);
                        gsmtp_error_set_send_result (*error, result);
                }
                return FALSE;
        }
        return TRUE;
}

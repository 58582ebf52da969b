/* gsmtp-server.c — GSmtpServer: listeners, configuration, stage handlers, stop.
 * Owns: the listeners (sockets and accepting: gsmtp-listener.c), the
 * connection limits (total, per address, file descriptors), the domain list,
 * deciding stages through the application's handlers, stopping with a grace
 * period.
 * Not: the protocol (gsmtp-session.c), socket I/O (gsmtp-connection.c).
 *
 * Stage order, as handlers see it: connect, HELO/EHLO, (STARTTLS), AUTH, MAIL,
 * each RCPT, end of DATA. */
#include "config.h"
#include "gsmtp-server-private.h"
#include "gsmtp-connection.h"
#include "gsmtp-address.h"
#include "gsmtp-poller.h"
#include "gsmtp-tls-server.h"
#include "gsmtp-listener.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* The shared read buffer's size: one recv() takes up to this much. */
#define READ_BUFFER_SIZE (64 * 1024)

typedef struct {
        GSmtpStageHandler handler;
        gpointer          user_data;
        GDestroyNotify    destroy;
} Handler;

struct _GSmtpServer {
        GObject          parent_instance;

        GSmtpConnectionHost host;               /* what connections and sessions see of us */
        GMainContext    *context;               /* (owned) (nullable): where the server runs,
                                                 * taken at the first listen */
        char            *hostname;              /* (owned) */
        GPtrArray       *domains;               /* (owned) (element-type utf8): [0] is the primary; NULL-terminated */
        GSmtpLimits      limits;
        guint            max_connections;
        guint            max_connections_per_address;
        GTlsCertificate *tls_certificate;       /* (owned) (nullable) */
        char            *tls_priority;          /* (owned): a GnuTLS priority string */
        GSmtpTlsCredentials *tls_credentials;   /* (owned) (nullable): built from the two above;
                                                 * NULL when the certificate is unusable */
        GPtrArray       *xclient_networks;      /* (owned) (element-type GInetAddressMask) */
        Handler          handlers[GSMTP_STAGE_DATA + 1];

        GSmtpListener   *listener;              /* (owned) (nullable): made by the first listen */
        GHashTable      *connections;           /* (owned): GSmtpConnection set, holding a ref each */
        guint            n_transfers;           /* sessions receiving a message (more fds) */
        GHashTable      *per_address;           /* (owned): host → number of connections */
        guint8          *read_buffer;           /* (owned) (nullable) */
        GSmtpPoller     *poller;                /* (owned) (nullable): made with the first connection */

        GSource         *tick;                  /* (owned) (nullable): the timeouts of every connection */
        gboolean         stopping;
        GSource         *grace_source;          /* (owned) (nullable) */
        GSource         *stop_cancel_source;    /* (owned) (nullable): the stop's cancellable */
        GTask           *stop_task;             /* (owned) (nullable) */
};

enum {
        PROP_0,
        PROP_HOSTNAME,
        PROP_MAX_CONNECTIONS,
        PROP_MAX_CONNECTIONS_PER_ADDRESS,
        PROP_MAX_LINE_LENGTH,
        PROP_MAX_MESSAGE_SIZE,
        PROP_MAX_RECIPIENTS,
        PROP_MAX_ERRORS,
        PROP_MAX_JUNK_COMMANDS,
        PROP_IDLE_TIMEOUT,
        PROP_DATA_TIMEOUT,
        PROP_BARE_LINEFEED,
        PROP_STRICT_PIPELINING,
        PROP_REQUIRE_TLS,
        PROP_ALLOW_INSECURE_AUTH,
        PROP_MAX_AUTH_FAILURES,
        PROP_AUTH_FAILURE_DELAY,
        PROP_SPILL_THRESHOLD,
        PROP_PROTOCOL_LOG,
        PROP_TLS_CERTIFICATE,
        PROP_TLS_PRIORITY,
        PROP_TLS_HANDSHAKE_TIMEOUT,
        PROP_PARSE_MESSAGES,
        PROP_MAX_MIME_DEPTH,
        PROP_MAX_MIME_PARTS,
        PROP_MAX_HEADERS,
        PROP_MAX_HEADER_SIZE,
        PROP_MAX_HEADER_BLOCK_SIZE,
        PROP_MAX_ADDRESS_GROUPS,
        PROP_MAX_ADDRESS_TOKENS,
        PROP_MAX_MIME_PARAMETERS,
        N_PROPS
};

static GParamSpec *props[N_PROPS];

enum {
        SIGNAL_SESSION_STARTED,
        SIGNAL_SESSION_ENDED,
        SIGNAL_MESSAGE_ACCEPTED,
        N_SIGNALS
};

static guint signals[N_SIGNALS];

/**
 * GSmtpServer:
 *
 * An SMTP server in a GLib main loop.
 *
 * Add domains and listeners, register stage handlers with
 * [method@GSmtp.Server.set_handler], and every message reaches the DATA handler
 * as a [class@GSmtp.Envelope] with its raw bytes and a parsed `GMimeMessage`.
 * The stages come in this order: connect, HELO/EHLO, (STARTTLS), AUTH, MAIL,
 * each RCPT, end of DATA.
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpServer, g_smtp_server, G_TYPE_OBJECT)

G_DEFINE_FLAGS_TYPE (GSmtpListenFlags, g_smtp_listen_flags,
        G_DEFINE_ENUM_VALUE (GSMTP_LISTEN_DEFAULT, "default"),
        G_DEFINE_ENUM_VALUE (GSMTP_LISTEN_IMPLICIT_TLS, "implicit-tls"),
        G_DEFINE_ENUM_VALUE (GSMTP_LISTEN_REUSE_PORT, "reuse-port"),
        G_DEFINE_ENUM_VALUE (GSMTP_LISTEN_PROXY_PROTOCOL, "proxy-protocol"),
        G_DEFINE_ENUM_VALUE (GSMTP_LISTEN_LMTP, "lmtp"))

G_DEFINE_ENUM_TYPE (GSmtpBareLinefeed, g_smtp_bare_linefeed,
        G_DEFINE_ENUM_VALUE (GSMTP_BARE_LINEFEED_NORMALIZE, "normalize"),
        G_DEFINE_ENUM_VALUE (GSMTP_BARE_LINEFEED_REJECT, "reject"))

/* The server from the host struct it embeds. */
#define SERVER_OF(h) ((GSmtpServer *) ((char *) (h) - G_STRUCT_OFFSET (GSmtpServer, host)))

static const GSmtpSessionHostFuncs server_session_funcs;
static const GSmtpConnectionHostFuncs server_connection_funcs;
static struct _GSmtpPoller *server_host_poller (GSmtpConnectionHost *host);

static void server_maybe_finish_stop (GSmtpServer *self);
static void server_finish_stop (GSmtpServer *self, GError *error);
static void server_abort_all (GSmtpServer *self);
static void server_start_tick (GSmtpServer *self);
static void server_stop_tick (GSmtpServer *self);

static GPtrArray *
server_list_connections (GSmtpServer *self)
{
        GPtrArray *live = g_ptr_array_new ();
        GHashTableIter iter;
        gpointer conn;

        g_hash_table_iter_init (&iter, self->connections);
        while (g_hash_table_iter_next (&iter, &conn, NULL))
                g_ptr_array_add (live, conn);
        return live;
}

static void
server_close_listeners (GSmtpServer *self)
{
        if (self->listener != NULL)
                gsmtp_listener_close (self->listener);
}

static void
g_smtp_server_dispose (GObject *object)
{
        GSmtpServer *self = GSMTP_SERVER (object);

        server_close_listeners (self);
        server_stop_tick (self);
        g_clear_pointer (&self->listener, gsmtp_listener_free);
        /* Sessions still open end without a word, and their stages out with
         * the application are cancelled: an application that wants them to end
         * well calls g_smtp_server_stop_async() first. */
        if (self->connections != NULL) {
                server_abort_all (self);
                g_hash_table_remove_all (self->connections);
        }
        if (self->stop_task != NULL)
                server_finish_stop (self, NULL);
        for (guint i = 0; i < G_N_ELEMENTS (self->handlers); i++) {
                if (self->handlers[i].destroy != NULL)
                        self->handlers[i].destroy (self->handlers[i].user_data);
                memset (&self->handlers[i], 0, sizeof (Handler));
        }
        g_clear_object (&self->tls_certificate);
        g_clear_pointer (&self->tls_credentials, gsmtp_tls_credentials_unref);
        g_ptr_array_set_size (self->xclient_networks, 0);
        G_OBJECT_CLASS (g_smtp_server_parent_class)->dispose (object);
}

static void
g_smtp_server_finalize (GObject *object)
{
        GSmtpServer *self = GSMTP_SERVER (object);

        g_free (self->hostname);
        g_free (self->tls_priority);
        g_ptr_array_unref (self->domains);
        g_hash_table_unref (self->connections);
        g_hash_table_unref (self->per_address);
        g_ptr_array_unref (self->xclient_networks);
        g_free (self->read_buffer);
        gsmtp_poller_free (self->poller);
        g_clear_object (&self->stop_task);
        g_clear_pointer (&self->context, g_main_context_unref);
        G_OBJECT_CLASS (g_smtp_server_parent_class)->finalize (object);
}

static void
g_smtp_server_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
        GSmtpServer *self = GSMTP_SERVER (object);

        switch (prop_id) {
        case PROP_HOSTNAME: g_value_set_string (value, self->hostname); break;
        case PROP_MAX_CONNECTIONS: g_value_set_uint (value, self->max_connections); break;
        case PROP_MAX_CONNECTIONS_PER_ADDRESS: g_value_set_uint (value, self->max_connections_per_address); break;
        case PROP_MAX_LINE_LENGTH: g_value_set_uint (value, self->limits.max_line_length); break;
        case PROP_MAX_MESSAGE_SIZE: g_value_set_uint64 (value, self->limits.max_message_size); break;
        case PROP_MAX_RECIPIENTS: g_value_set_uint (value, self->limits.max_recipients); break;
        case PROP_MAX_ERRORS: g_value_set_uint (value, self->limits.max_errors); break;
        case PROP_MAX_JUNK_COMMANDS: g_value_set_uint (value, self->limits.max_junk_commands); break;
        case PROP_IDLE_TIMEOUT: g_value_set_uint (value, self->limits.idle_timeout); break;
        case PROP_DATA_TIMEOUT: g_value_set_uint (value, self->limits.data_timeout); break;
        case PROP_BARE_LINEFEED: g_value_set_enum (value, self->limits.bare_linefeed); break;
        case PROP_STRICT_PIPELINING: g_value_set_boolean (value, self->limits.strict_pipelining); break;
        case PROP_REQUIRE_TLS: g_value_set_boolean (value, self->limits.require_tls); break;
        case PROP_ALLOW_INSECURE_AUTH: g_value_set_boolean (value, self->limits.allow_insecure_auth); break;
        case PROP_MAX_AUTH_FAILURES: g_value_set_uint (value, self->limits.max_auth_failures); break;
        case PROP_AUTH_FAILURE_DELAY: g_value_set_uint (value, self->limits.auth_failure_delay_ms); break;
        case PROP_SPILL_THRESHOLD: g_value_set_uint64 (value, self->limits.spill_threshold); break;
        case PROP_PROTOCOL_LOG: g_value_set_boolean (value, self->limits.protocol_log); break;
        case PROP_TLS_CERTIFICATE: g_value_set_object (value, self->tls_certificate); break;
        case PROP_TLS_PRIORITY: g_value_set_string (value, self->tls_priority); break;
        case PROP_TLS_HANDSHAKE_TIMEOUT: g_value_set_uint (value, self->limits.tls_handshake_timeout); break;
        case PROP_PARSE_MESSAGES: g_value_set_boolean (value, self->limits.parse_messages); break;
        case PROP_MAX_MIME_DEPTH: g_value_set_uint (value, self->limits.mime.max_depth); break;
        case PROP_MAX_MIME_PARTS: g_value_set_uint (value, self->limits.mime.max_parts); break;
        case PROP_MAX_HEADERS: g_value_set_uint (value, self->limits.mime.max_headers); break;
        case PROP_MAX_HEADER_SIZE: g_value_set_uint (value, self->limits.mime.max_header_size); break;
        case PROP_MAX_HEADER_BLOCK_SIZE: g_value_set_uint (value, self->limits.mime.max_header_block_size); break;
        case PROP_MAX_ADDRESS_GROUPS: g_value_set_uint (value, self->limits.mime.max_address_groups); break;
        case PROP_MAX_ADDRESS_TOKENS: g_value_set_uint (value, self->limits.mime.max_address_tokens); break;
        case PROP_MAX_MIME_PARAMETERS: g_value_set_uint (value, self->limits.mime.max_parameters); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

#define SET_UINT(field, v) G_STMT_START { if ((field) != (v)) { (field) = (v); g_object_notify_by_pspec (object, pspec); } } G_STMT_END

static void
g_smtp_server_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
        GSmtpServer *self = GSMTP_SERVER (object);

        switch (prop_id) {
        case PROP_HOSTNAME: g_smtp_server_set_hostname (self, g_value_get_string (value)); break;
        case PROP_MAX_CONNECTIONS: SET_UINT (self->max_connections, g_value_get_uint (value)); break;
        case PROP_MAX_CONNECTIONS_PER_ADDRESS: SET_UINT (self->max_connections_per_address, g_value_get_uint (value)); break;
        case PROP_MAX_LINE_LENGTH: SET_UINT (self->limits.max_line_length, g_value_get_uint (value)); break;
        case PROP_MAX_MESSAGE_SIZE: SET_UINT (self->limits.max_message_size, g_value_get_uint64 (value)); break;
        case PROP_MAX_RECIPIENTS: SET_UINT (self->limits.max_recipients, g_value_get_uint (value)); break;
        case PROP_MAX_ERRORS: SET_UINT (self->limits.max_errors, g_value_get_uint (value)); break;
        case PROP_MAX_JUNK_COMMANDS: SET_UINT (self->limits.max_junk_commands, g_value_get_uint (value)); break;
        case PROP_IDLE_TIMEOUT: SET_UINT (self->limits.idle_timeout, g_value_get_uint (value)); break;
        case PROP_DATA_TIMEOUT: SET_UINT (self->limits.data_timeout, g_value_get_uint (value)); break;
        case PROP_BARE_LINEFEED: SET_UINT (self->limits.bare_linefeed, (GSmtpBareLinefeed) g_value_get_enum (value)); break;
        case PROP_STRICT_PIPELINING: SET_UINT (self->limits.strict_pipelining, g_value_get_boolean (value)); break;
        case PROP_REQUIRE_TLS: SET_UINT (self->limits.require_tls, g_value_get_boolean (value)); break;
        case PROP_ALLOW_INSECURE_AUTH: SET_UINT (self->limits.allow_insecure_auth, g_value_get_boolean (value)); break;
        case PROP_MAX_AUTH_FAILURES: SET_UINT (self->limits.max_auth_failures, g_value_get_uint (value)); break;
        case PROP_AUTH_FAILURE_DELAY: SET_UINT (self->limits.auth_failure_delay_ms, g_value_get_uint (value)); break;
        case PROP_SPILL_THRESHOLD: SET_UINT (self->limits.spill_threshold, g_value_get_uint64 (value)); break;
        case PROP_PROTOCOL_LOG: SET_UINT (self->limits.protocol_log, g_value_get_boolean (value)); break;
        case PROP_TLS_CERTIFICATE: g_smtp_server_set_tls_certificate (self, g_value_get_object (value)); break;
        case PROP_TLS_PRIORITY: {
                g_autoptr(GError) error = NULL;

                if (!g_smtp_server_set_tls_priority (self, g_value_get_string (value), &error))
                        g_warning ("gsmtp: %s; the TLS policy is unchanged", error->message);
                break;
        }
        case PROP_TLS_HANDSHAKE_TIMEOUT: SET_UINT (self->limits.tls_handshake_timeout, g_value_get_uint (value)); break;
        case PROP_PARSE_MESSAGES: SET_UINT (self->limits.parse_messages, g_value_get_boolean (value)); break;
        case PROP_MAX_MIME_DEPTH: SET_UINT (self->limits.mime.max_depth, g_value_get_uint (value)); break;
        case PROP_MAX_MIME_PARTS: SET_UINT (self->limits.mime.max_parts, g_value_get_uint (value)); break;
        case PROP_MAX_HEADERS: SET_UINT (self->limits.mime.max_headers, g_value_get_uint (value)); break;
        case PROP_MAX_HEADER_SIZE: SET_UINT (self->limits.mime.max_header_size, g_value_get_uint (value)); break;
        case PROP_MAX_HEADER_BLOCK_SIZE: SET_UINT (self->limits.mime.max_header_block_size, g_value_get_uint (value)); break;
        case PROP_MAX_ADDRESS_GROUPS: SET_UINT (self->limits.mime.max_address_groups, g_value_get_uint (value)); break;
        case PROP_MAX_ADDRESS_TOKENS: SET_UINT (self->limits.mime.max_address_tokens, g_value_get_uint (value)); break;
        case PROP_MAX_MIME_PARAMETERS: SET_UINT (self->limits.mime.max_parameters, g_value_get_uint (value)); break;
        default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        }
}

#define UINT_PROP(id, name, blurb, min, max, def) \
        props[id] = g_param_spec_uint (name, NULL, blurb, min, max, def, \
                                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)
#define BOOL_PROP(id, name, blurb, def) \
        props[id] = g_param_spec_boolean (name, NULL, blurb, def, \
                                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)

static void
g_smtp_server_class_init (GSmtpServerClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);

        object_class->dispose = g_smtp_server_dispose;
        object_class->finalize = g_smtp_server_finalize;
        object_class->get_property = g_smtp_server_get_property;
        object_class->set_property = g_smtp_server_set_property;

        /**
         * GSmtpServer:hostname:
         *
         * The name in the banner, the EHLO reply and the Received header.
         */
        props[PROP_HOSTNAME] = g_param_spec_string ("hostname", NULL, "Server host name", NULL,
                                                    G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                                                    G_PARAM_STATIC_STRINGS);
        /**
         * GSmtpServer:max-connections:
         *
         * Concurrent sessions; the next client gets 421 4.7.0.  Clients past
         * what the open file limit (RLIMIT_NOFILE) has room for get the same,
         * whatever this says: a session may hold three file descriptors (its
         * socket, a spill file, the copy of it GMime reads), and a reserve of
         * 32 and 1/16 of the limit is kept for everything else.
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_MAX_CONNECTIONS, "max-connections",
                   "Concurrent sessions; the next client gets 421 4.7.0", 1, G_MAXUINT,
                   GSMTP_DEFAULT_MAX_CONNECTIONS);
        /**
         * GSmtpServer:max-connections-per-address:
         *
         * Concurrent sessions from one IP address (0: no limit).
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_MAX_CONNECTIONS_PER_ADDRESS, "max-connections-per-address",
                   "Concurrent sessions from one IP address (0: no limit)", 0, G_MAXUINT, 0);
        /**
         * GSmtpServer:max-line-length:
         *
         * Longest command line and text line in DATA, with CRLF (500 5.5.2).
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_MAX_LINE_LENGTH, "max-line-length",
                   "Longest command line and text line in DATA, with CRLF (500 5.5.2)", 512, 1024 * 1024,
                   GSMTP_DEFAULT_MAX_LINE_LENGTH);
        /**
         * GSmtpServer:max-message-size:
         *
         * Largest message in bytes, advertised in SIZE (552 5.3.4); 0: no limit.
         *
         * Since: 0.1
         */
        props[PROP_MAX_MESSAGE_SIZE] = g_param_spec_uint64 ("max-message-size", NULL,
                   "Largest message in bytes, advertised in SIZE (552 5.3.4); 0: no limit",
                   0, G_MAXUINT64, GSMTP_DEFAULT_MAX_MESSAGE_SIZE,
                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        /**
         * GSmtpServer:max-recipients:
         *
         * RCPT TO per transaction (452 4.5.3 past it), advertised in the EHLO
         * reply as `LIMITS RCPTMAX=` (RFC 9422).
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_MAX_RECIPIENTS, "max-recipients",
                   "RCPT TO per transaction (452 4.5.3 past it)", 1, G_MAXUINT,
                   GSMTP_DEFAULT_MAX_RECIPIENTS);
        /**
         * GSmtpServer:max-errors:
         *
         * Protocol errors in one session before 421 and close.
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_MAX_ERRORS, "max-errors",
                   "Protocol errors in one session before 421 and close", 1, G_MAXUINT,
                   GSMTP_DEFAULT_MAX_ERRORS);
        /**
         * GSmtpServer:max-junk-commands:
         *
         * NOOP, RSET, VRFY, EXPN and HELP commands a session may send between
         * two messages before each further one counts as an error (Postfix's
         * smtpd_junk_command_limit); 0: no limit.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_JUNK_COMMANDS, "max-junk-commands",
                   "NOOP, RSET, VRFY, EXPN, HELP between messages before each counts as an error",
                   0, G_MAXUINT, GSMTP_DEFAULT_MAX_JUNK_COMMANDS);
        /**
         * GSmtpServer:idle-timeout:
         *
         * Seconds a session may be silent, or not read replies (421 4.4.2); 0: none.
         * It is also the deadline for one whole command line, from its first
         * byte to its end: a client that trickles a line is cut off like a
         * silent one.  No timeout runs while a stage is out with the
         * application.
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_IDLE_TIMEOUT, "idle-timeout",
                   "Seconds a session may be silent, or not read replies (421 4.4.2); 0: none",
                   0, G_MAXUINT / G_USEC_PER_SEC, GSMTP_DEFAULT_IDLE_TIMEOUT);
        /**
         * GSmtpServer:data-timeout:
         *
         * Seconds one message transfer (DATA, or all the BDAT chunks of one
         * message) may last in all, however live the client (421 4.4.2).
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_DATA_TIMEOUT, "data-timeout",
                   "Seconds one message transfer may last in all", 1, G_MAXUINT / G_USEC_PER_SEC,
                   GSMTP_DEFAULT_DATA_TIMEOUT);
        /**
         * GSmtpServer:bare-linefeed:
         *
         * Bare CR or LF in DATA: normalize or reject.  The same for text sent
         * by BDAT; a BODY=BINARYMIME message is kept as sent.
         *
         * Since: 0.1
         */
        props[PROP_BARE_LINEFEED] = g_param_spec_enum ("bare-linefeed", NULL,
                   "Bare CR or LF in DATA: normalize or reject", GSMTP_TYPE_BARE_LINEFEED,
                   GSMTP_BARE_LINEFEED_NORMALIZE,
                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        /**
         * GSmtpServer:strict-pipelining:
         *
         * 554 5.5.0 and close for talking before the banner or sending content before 354.
         *
         * Since: 0.1
         */
        BOOL_PROP (PROP_STRICT_PIPELINING, "strict-pipelining",
                   "554 5.5.0 and close for talking before the banner or sending content before 354",
                   TRUE);
        /**
         * GSmtpServer:require-tls:
         *
         * MAIL before STARTTLS gets 530 5.7.0.
         *
         * Since: 0.1
         */
        BOOL_PROP (PROP_REQUIRE_TLS, "require-tls", "MAIL before STARTTLS gets 530 5.7.0", FALSE);
        /**
         * GSmtpServer:allow-insecure-auth:
         *
         * Offer AUTH without TLS.
         *
         * Since: 0.1
         */
        BOOL_PROP (PROP_ALLOW_INSECURE_AUTH, "allow-insecure-auth",
                   "Offer AUTH without TLS", FALSE);
        /**
         * GSmtpServer:max-auth-failures:
         *
         * Failed AUTH attempts before 421 and close.
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_MAX_AUTH_FAILURES, "max-auth-failures",
                   "Failed AUTH attempts before 421 and close", 1, G_MAXUINT,
                   GSMTP_DEFAULT_MAX_AUTH_FAILURES);
        /**
         * GSmtpServer:auth-failure-delay:
         *
         * Milliseconds before a failed AUTH is answered.
         *
         * Since: 0.1
         */
        UINT_PROP (PROP_AUTH_FAILURE_DELAY, "auth-failure-delay",
                   "Milliseconds before a failed AUTH is answered", 0, 60000,
                   GSMTP_DEFAULT_AUTH_FAILURE_DELAY);
        /**
         * GSmtpServer:spill-threshold:
         *
         * Message bytes kept in memory before the message moves to a temporary file.
         *
         * Since: 0.1
         */
        props[PROP_SPILL_THRESHOLD] = g_param_spec_uint64 ("spill-threshold", NULL,
                   "Message bytes kept in memory before the message moves to a temporary file",
                   0, G_MAXUINT64, GSMTP_DEFAULT_SPILL_THRESHOLD,
                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        /**
         * GSmtpServer:protocol-log:
         *
         * Log every command and reply at INFO level, AUTH secrets masked.
         *
         * Since: 0.1
         */
        BOOL_PROP (PROP_PROTOCOL_LOG, "protocol-log",
                   "Log every command and reply at INFO level, AUTH secrets masked", FALSE);
        /**
         * GSmtpServer:tls-certificate:
         *
         * Certificate and key for STARTTLS and implicit TLS.
         *
         * Since: 0.1
         */
        props[PROP_TLS_CERTIFICATE] = g_param_spec_object ("tls-certificate", NULL,
                   "Certificate and key for STARTTLS and implicit TLS", G_TYPE_TLS_CERTIFICATE,
                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        /**
         * GSmtpServer:tls-priority:
         *
         * The TLS policy of STARTTLS and implicit TLS, as a GnuTLS priority
         * string (see GnuTLS's "Priority strings").  The default allows TLS 1.2
         * and 1.3 only, forward-secret key exchange only (ECDHE, DHE), the
         * server's cipher order:
         * `NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:%SERVER_PRECEDENCE`.
         * Renegotiation asked for by the client is always refused.  Setting
         * %NULL restores the default; a string GnuTLS does not understand is
         * refused with a warning and the policy stays as it was (use
         * g_smtp_server_set_tls_priority() to get the error).  Sessions already
         * encrypted keep the policy they started with.
         *
         * Since: 0.2
         */
        props[PROP_TLS_PRIORITY] = g_param_spec_string ("tls-priority", NULL,
                   "TLS policy as a GnuTLS priority string", GSMTP_DEFAULT_TLS_PRIORITY,
                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
        /**
         * GSmtpServer:tls-handshake-timeout:
         *
         * Seconds a client has to complete the TLS handshake, after STARTTLS
         * or from the connection on an implicit TLS listener; then the
         * connection is closed.  A handshake waiting for its client costs a
         * socket and a little memory, never a thread.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_TLS_HANDSHAKE_TIMEOUT, "tls-handshake-timeout",
                   "Seconds a client has to complete the TLS handshake",
                   1, G_MAXUINT / G_USEC_PER_SEC, GSMTP_DEFAULT_TLS_HANDSHAKE_TIMEOUT);
        /**
         * GSmtpServer:parse-messages:
         *
         * Parse each message in worker threads before the DATA handler runs,
         * so that g_smtp_envelope_get_message() returns at once and a large or
         * complex message never holds the main loop (the session waits, as
         * while a stage is deferred); a small message that is cheap to parse
         * is parsed on the spot.  When %FALSE, the message is parsed on the
         * first call of g_smtp_envelope_get_message(), on the caller's
         * thread.  Only servers with a DATA handler parse.
         *
         * Since: 0.2
         */
        BOOL_PROP (PROP_PARSE_MESSAGES, "parse-messages",
                   "Parse each message in worker threads before the DATA handler runs", TRUE);
        /**
         * GSmtpServer:max-mime-depth:
         *
         * Deepest nesting of multiparts and message/rfc822 parts a message may
         * have and be parsed (Postfix's mime_nesting_limit).  A message past
         * any MIME limit is still accepted: g_smtp_envelope_get_message()
         * returns %NULL and g_smtp_envelope_get_mime_error() says why.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_MIME_DEPTH, "max-mime-depth",
                   "Deepest nesting of multiparts and message parts that is parsed", 1,
                   GSMTP_MAX_MIME_DEPTH_CAP, GSMTP_DEFAULT_MAX_MIME_DEPTH);
        /**
         * GSmtpServer:max-mime-parts:
         *
         * Most MIME parts (the message, each part, each embedded message) a
         * message may have and be parsed.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_MIME_PARTS, "max-mime-parts",
                   "Most MIME parts a message may have and be parsed", 1, G_MAXUINT,
                   GSMTP_DEFAULT_MAX_MIME_PARTS);
        /**
         * GSmtpServer:max-headers:
         *
         * Most header fields, those of all parts together, a message may have
         * and be parsed.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_HEADERS, "max-headers",
                   "Most header fields, of all parts together, a message may have and be parsed",
                   1, G_MAXUINT, GSMTP_DEFAULT_MAX_HEADERS);
        /**
         * GSmtpServer:max-header-size:
         *
         * Largest header field, with its continuation lines, in bytes, of a
         * message that is parsed (Postfix's header_size_limit).
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_HEADER_SIZE, "max-header-size",
                   "Largest header field with its continuation lines, in bytes, of a message that is parsed",
                   1, G_MAXUINT, GSMTP_DEFAULT_MAX_HEADER_SIZE);
        /**
         * GSmtpServer:max-header-block-size:
         *
         * Largest header (all the fields of the message, or of one part), in
         * bytes, of a message that is parsed (Exim's header_maxsize).
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_HEADER_BLOCK_SIZE, "max-header-block-size",
                   "Largest header of the message or of one part, in bytes, of a message that is parsed",
                   1, G_MAXUINT, GSMTP_DEFAULT_MAX_HEADER_BLOCK_SIZE);
        /**
         * GSmtpServer:max-address-groups:
         *
         * Most group openings (RFC 5322 `name:`; every `:` counts, quoted or
         * not) in one address header of a message that is parsed.  GMime
         * parses groups recursively, so this bounds its stack.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_ADDRESS_GROUPS, "max-address-groups",
                   "Most group openings in one address header of a message that is parsed", 1,
                   GSMTP_MAX_ADDRESS_GROUPS_CAP, GSMTP_DEFAULT_MAX_ADDRESS_GROUPS);
        /**
         * GSmtpServer:max-address-tokens:
         *
         * Most address tokens (`,` `;` `:` `@` `<` `>`, about four an
         * address) in all the address headers (From, To, Cc...) of a message
         * that is parsed, together; Postfix's header_address_token_limit is
         * the precedent.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_ADDRESS_TOKENS, "max-address-tokens",
                   "Most address tokens in all address headers of a message that is parsed", 1,
                   G_MAXUINT, GSMTP_DEFAULT_MAX_ADDRESS_TOKENS);
        /**
         * GSmtpServer:max-mime-parameters:
         *
         * Most Content-Type and Content-Disposition parameters, in all the
         * fields of all parts together, of a message that is parsed (every
         * `;` counts, and a field GMime replaces counts too): GMime makes an
         * object of each.
         *
         * Since: 0.2
         */
        UINT_PROP (PROP_MAX_MIME_PARAMETERS, "max-mime-parameters",
                   "Most Content-Type and Content-Disposition parameters of a message that is parsed", 1,
                   G_MAXUINT, GSMTP_DEFAULT_MAX_MIME_PARAMETERS);
        g_object_class_install_properties (object_class, N_PROPS, props);

        /**
         * GSmtpServer::session-started:
         * @server: the server
         * @peer: the client, as far as it is known at connect
         *
         * A session began (after the PROXY header, if any), just before the
         * connect stage is decided.  For logging and metrics: signals observe,
         * stage handlers decide.  Emitted in the server's main context.
         *
         * Since: 0.2
         */
        signals[SIGNAL_SESSION_STARTED] =
                g_signal_new ("session-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                              0, NULL, NULL, NULL, G_TYPE_NONE, 1, GSMTP_TYPE_PEER);
        /**
         * GSmtpServer::session-ended:
         * @server: the server
         * @peer: the client, as it was last known
         *
         * A session that started ended, whatever the reason.  Emitted in the
         * server's main context.
         *
         * Since: 0.2
         */
        signals[SIGNAL_SESSION_ENDED] =
                g_signal_new ("session-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                              0, NULL, NULL, NULL, G_TYPE_NONE, 1, GSMTP_TYPE_PEER);
        /**
         * GSmtpServer::message-accepted:
         * @server: the server
         * @envelope: the message
         *
         * The DATA stage answered 2xx: the message is the application's.
         * Emitted once per message, in the server's main context, just before
         * the reply goes to the client.
         *
         * Under LMTP (%GSMTP_LISTEN_LMTP) the answer is per recipient: the
         * signal is emitted once when at least one recipient got 2xx, and
         * @envelope lists only those (the others are the client's to retry
         * or bounce; same data, same trace header).  It is not emitted when
         * none did.
         *
         * Since: 0.2
         */
        signals[SIGNAL_MESSAGE_ACCEPTED] =
                g_signal_new ("message-accepted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                              0, NULL, NULL, NULL, G_TYPE_NONE, 1, GSMTP_TYPE_ENVELOPE);
}

static void
g_smtp_server_init (GSmtpServer *self)
{
        /* GMime is ready before any message can arrive, whatever the
         * application did (gsmtp_ensure_gmime() runs g_mime_init() once) */
        gsmtp_ensure_gmime ();
        self->domains = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (self->domains, NULL);
        self->limits.max_line_length = GSMTP_DEFAULT_MAX_LINE_LENGTH;
        self->limits.max_message_size = GSMTP_DEFAULT_MAX_MESSAGE_SIZE;
        self->limits.max_recipients = GSMTP_DEFAULT_MAX_RECIPIENTS;
        self->limits.max_errors = GSMTP_DEFAULT_MAX_ERRORS;
        self->limits.max_auth_failures = GSMTP_DEFAULT_MAX_AUTH_FAILURES;
        self->limits.auth_failure_delay_ms = GSMTP_DEFAULT_AUTH_FAILURE_DELAY;
        self->limits.spill_threshold = GSMTP_DEFAULT_SPILL_THRESHOLD;
        self->limits.bare_linefeed = GSMTP_BARE_LINEFEED_NORMALIZE;
        self->limits.strict_pipelining = TRUE;
        self->limits.parse_messages = TRUE;
        gsmtp_mime_limits_init (&self->limits.mime);
        self->max_connections = GSMTP_DEFAULT_MAX_CONNECTIONS;
        self->limits.idle_timeout = GSMTP_DEFAULT_IDLE_TIMEOUT;
        self->limits.data_timeout = GSMTP_DEFAULT_DATA_TIMEOUT;
        self->limits.max_junk_commands = GSMTP_DEFAULT_MAX_JUNK_COMMANDS;
        self->host.session.funcs = &server_session_funcs;
        self->host.session.limits = &self->limits;
        self->host.funcs = &server_connection_funcs;
        self->tls_priority = g_strdup (GSMTP_DEFAULT_TLS_PRIORITY);
        self->limits.tls_handshake_timeout = GSMTP_DEFAULT_TLS_HANDSHAKE_TIMEOUT;
        self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal,
                                                   (GDestroyNotify) gsmtp_connection_unref, NULL);
        self->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        self->xclient_networks = g_ptr_array_new_with_free_func (g_object_unref);
        self->hostname = g_strdup (g_get_host_name ());
}

/**
 * g_smtp_server_new:
 * @hostname: (nullable): the server's name; %NULL for the host's name
 *
 * Makes a server with the defaults of Racket's net/smtp-server: 512
 * connections, lines of 1024 bytes, messages of 10 MiB, 100 recipients, 300 s
 * idle timeout.  Its domain list starts empty; add domains before listening, or
 * every recipient is refused as relaying.
 *
 * Returns: (transfer full): a new server
 *
 * Since: 0.1
 */
GSmtpServer *
g_smtp_server_new (const char *hostname)
{
        GSmtpServer *self = g_object_new (GSMTP_TYPE_SERVER, NULL);

        if (hostname != NULL)
                g_smtp_server_set_hostname (self, hostname);
        return self;
}

/**
 * g_smtp_server_get_hostname:
 * @self: a server
 *
 * Gets the server's host name.
 *
 * Returns: the server's host name
 *
 * Since: 0.1
 */
const char *
g_smtp_server_get_hostname (GSmtpServer *self)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), NULL);
        return self->hostname;
}

/**
 * g_smtp_server_set_hostname:
 * @self: a server
 * @hostname: the name in the banner, EHLO reply and Received header
 *
 * Sets the server's name; control characters and spaces become dashes.
 *
 * Since: 0.1
 */
void
g_smtp_server_set_hostname (GSmtpServer *self, const char *hostname)
{
        g_autofree char *clean = NULL;

        g_return_if_fail (GSMTP_IS_SERVER (self));
        if (hostname == NULL || *hostname == '\0')
                hostname = g_get_host_name ();
        /* it is written into replies: keep it one printable word */
        clean = g_strdup (hostname);
        for (char *p = clean; *p != '\0'; p++)
                if ((unsigned char) *p <= 32 || (unsigned char) *p >= 127)
                        *p = '-';
        if (g_strcmp0 (self->hostname, clean) == 0)
                return;
        g_free (self->hostname);
        self->hostname = g_steal_pointer (&clean);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_HOSTNAME]);
}

/**
 * g_smtp_server_set_domains:
 * @self: a server
 * @domains: (array zero-terminated=1): the local domains; the first is the primary
 *
 * Sets the domains the server accepts mail for.  The first gives the
 * server's identity, `MAILER-DAEMON@<primary>`.  An entry `*` accepts every
 * domain (relays everything); `*.example.org` accepts every subdomain of
 * example.org.  Invalid entries are ignored with a warning.
 *
 * Since: 0.1
 */
void
g_smtp_server_set_domains (GSmtpServer *self, const char *const *domains)
{
        g_return_if_fail (GSMTP_IS_SERVER (self));
        g_ptr_array_set_size (self->domains, 0);
        g_ptr_array_add (self->domains, NULL);
        for (guint i = 0; domains != NULL && domains[i] != NULL; i++)
                g_smtp_server_add_domain (self, domains[i]);
}

/**
 * g_smtp_server_add_domain:
 * @self: a server
 * @domain: a domain, `*`, or `*.example.org`
 *
 * Adds a local domain; the first one added is the primary domain.
 *
 * Since: 0.1
 */
void
g_smtp_server_add_domain (GSmtpServer *self, const char *domain)
{
        g_return_if_fail (GSMTP_IS_SERVER (self));
        g_return_if_fail (domain != NULL);
        if (!gsmtp_domain_pattern_is_valid (domain)) {
                g_warning ("gsmtp: \"%s\" is not a domain; ignored", domain);
                return;
        }
        g_ptr_array_insert (self->domains, self->domains->len - 1, g_ascii_strdown (domain, -1));
}

/**
 * g_smtp_server_get_domains:
 * @self: a server
 *
 * Gets the local domains.
 *
 * Returns: (array zero-terminated=1) (transfer none): the local domains
 *
 * Since: 0.1
 */
const char *const *
g_smtp_server_get_domains (GSmtpServer *self)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), NULL);
        return (const char *const *) self->domains->pdata;
}

/**
 * g_smtp_server_get_primary_domain:
 * @self: a server
 *
 * The first domain that names one domain (a `*` entry names none); the host
 * name when there is none.
 *
 * Returns: the primary domain
 *
 * Since: 0.1
 */
const char *
g_smtp_server_get_primary_domain (GSmtpServer *self)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), NULL);
        for (guint i = 0; i + 1 < self->domains->len; i++) {
                const char *d = self->domains->pdata[i];

                if (d[0] != '*')
                        return d;
        }
        return self->hostname;
}

/**
 * g_smtp_server_dup_mailer_daemon:
 * @self: a server
 *
 * Gets the server's identity for bounces.
 *
 * Returns: (transfer full): `MAILER-DAEMON@<primary domain>`, the server's identity
 *
 * Since: 0.1
 */
char *
g_smtp_server_dup_mailer_daemon (GSmtpServer *self)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), NULL);
        return g_strconcat ("MAILER-DAEMON@", g_smtp_server_get_primary_domain (self), NULL);
}

/**
 * g_smtp_server_is_local_domain:
 * @self: a server
 * @domain: a domain
 *
 * Tells whether mail for @domain is accepted without relaying.
 *
 * Returns: %TRUE when @domain matches an entry of the domain list
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_is_local_domain (GSmtpServer *self, const char *domain)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        for (guint i = 0; i + 1 < self->domains->len; i++)
                if (gsmtp_domain_matches (self->domains->pdata[i], domain))
                        return TRUE;
        return FALSE;
}

/**
 * g_smtp_server_set_handler:
 * @self: a server
 * @kind: the stage
 * @handler: (scope notified) (closure user_data) (destroy destroy) (nullable): decides the stage
 * @user_data: data for @handler
 * @destroy: frees @user_data
 *
 * Registers the application's decision for one stage, replacing any before.
 * Without a handler a stage gets its default reply (see
 * g_smtp_stage_get_default_reply()).  Setting an %GSMTP_STAGE_AUTH handler
 * enables AUTH PLAIN and LOGIN.
 *
 * Since: 0.1
 */
void
g_smtp_server_set_handler (GSmtpServer *self, GSmtpStageKind kind, GSmtpStageHandler handler,
                           gpointer user_data, GDestroyNotify destroy)
{
        Handler old;

        g_return_if_fail (GSMTP_IS_SERVER (self));
        g_return_if_fail (kind >= GSMTP_STAGE_CONNECT && kind <= GSMTP_STAGE_DATA);
        old = self->handlers[kind];
        self->handlers[kind].handler = handler;
        self->handlers[kind].user_data = user_data;
        self->handlers[kind].destroy = destroy;
        if (old.destroy != NULL)
                old.destroy (old.user_data);
}

/* The GnuTLS credentials for a certificate and a policy are built once, here,
 * not per connection; connections hold a reference to the ones they started
 * with, so changing either affects only later handshakes. */
static void
server_replace_tls (GSmtpServer *self, GTlsCertificate *certificate, GSmtpTlsCredentials *creds)
{
        g_clear_pointer (&self->tls_credentials, gsmtp_tls_credentials_unref);
        self->tls_credentials = creds;
        if (g_set_object (&self->tls_certificate, certificate))
                g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TLS_CERTIFICATE]);
}

/**
 * g_smtp_server_set_tls_certificate:
 * @self: a server
 * @certificate: (nullable): certificate with its private key, and the chain
 *   of issuers to send with it
 *
 * Enables STARTTLS and implicit TLS listeners.  The key must be readable as
 * PEM (#GTlsCertificate:private-key-pem): a certificate whose key cannot be
 * read gets a warning, and STARTTLS stays off.
 *
 * Since: 0.1
 */
void
g_smtp_server_set_tls_certificate (GSmtpServer *self, GTlsCertificate *certificate)
{
        g_autoptr(GError) error = NULL;
        GSmtpTlsCredentials *creds = NULL;

        g_return_if_fail (GSMTP_IS_SERVER (self));
        g_return_if_fail (certificate == NULL || G_IS_TLS_CERTIFICATE (certificate));
        if (certificate != NULL && certificate == self->tls_certificate && self->tls_credentials != NULL)
                return;
        if (certificate != NULL) {
                creds = gsmtp_tls_credentials_new (certificate, self->tls_priority, &error);
                if (creds == NULL)
                        g_warning ("gsmtp: %s; STARTTLS and implicit TLS stay off", error->message);
        }
        server_replace_tls (self, certificate, creds);
}

/**
 * g_smtp_server_set_tls_priority:
 * @self: a server
 * @priority: (nullable): a GnuTLS priority string, or %NULL for the default
 * @error: return location for a #GError
 *
 * Sets #GSmtpServer:tls-priority, the TLS versions, key exchanges and ciphers
 * the server accepts, after checking that GnuTLS understands @priority.
 *
 * Returns: %TRUE when @priority was valid and is now the policy
 *
 * Since: 0.2
 */
gboolean
g_smtp_server_set_tls_priority (GSmtpServer *self, const char *priority, GError **error)
{
        GSmtpTlsCredentials *creds = NULL;

        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        if (priority == NULL)
                priority = GSMTP_DEFAULT_TLS_PRIORITY;
        if (g_str_equal (priority, self->tls_priority))
                return TRUE;
        if (!gsmtp_tls_priority_check (priority, error))
                return FALSE;
        if (self->tls_certificate != NULL) {
                creds = gsmtp_tls_credentials_new (self->tls_certificate, priority, error);
                if (creds == NULL)
                        return FALSE;
                g_clear_pointer (&self->tls_credentials, gsmtp_tls_credentials_unref);
                self->tls_credentials = creds;
        }
        g_free (self->tls_priority);
        self->tls_priority = g_strdup (priority);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TLS_PRIORITY]);
        return TRUE;
}

/**
 * g_smtp_server_set_tls_files:
 * @self: a server
 * @cert_file: PEM file with the certificate chain
 * @key_file: (nullable): PEM file with the private key; %NULL when in @cert_file
 * @error: return location for a #GError
 *
 * Loads a certificate and key from PEM files and enables STARTTLS.
 *
 * Returns: %TRUE when the certificate and key were loaded
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_set_tls_files (GSmtpServer *self, const char *cert_file, const char *key_file,
                             GError **error)
{
        g_autoptr(GTlsCertificate) cert = NULL;
        GSmtpTlsCredentials *creds;

        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        if (key_file != NULL)
                cert = g_tls_certificate_new_from_files (cert_file, key_file, error);
        else
                cert = g_tls_certificate_new_from_file (cert_file, error);
        if (cert == NULL)
                return FALSE;
        creds = gsmtp_tls_credentials_new (cert, self->tls_priority, error);
        if (creds == NULL)
                return FALSE;
        server_replace_tls (self, cert, creds);
        return TRUE;
}

/**
 * g_smtp_server_add_xclient_network:
 * @self: a server
 * @network: an address or network in CIDR form, such as "127.0.0.1" or "10.0.0.0/8"
 * @error: return location for a #GError
 *
 * Lets clients from @network use XCLIENT (Postfix's extension): a proxy or
 * content filter in front of the server tells the client's real address, HELO
 * name and login, and the session goes on as if that client had connected.
 * Nobody may use it until a network is added.
 *
 * Returns: %TRUE when @network was understood
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_add_xclient_network (GSmtpServer *self, const char *network, GError **error)
{
        GInetAddressMask *mask;

        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        mask = g_inet_address_mask_new_from_string (network, error);
        if (mask == NULL)
                return FALSE;
        g_ptr_array_add (self->xclient_networks, mask);
        return TRUE;
}

static gboolean
server_allows_xclient (GSmtpServer *self, GSmtpPeer *peer)
{
        GSocketAddress *address = g_smtp_peer_get_address (peer);

        if (!G_IS_INET_SOCKET_ADDRESS (address))
                return FALSE;
        for (guint i = 0; i < self->xclient_networks->len; i++)
                if (g_inet_address_mask_matches (self->xclient_networks->pdata[i],
                                                 g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address))))
                        return TRUE;
        return FALSE;
}

/* The server runs in the thread-default main context of its first listen:
 * every source it makes (the tick, the grace period, the poller, AUTH delays,
 * stage completions) goes there, whoever calls in later and from wherever. */
static void
server_capture_context (GSmtpServer *self)
{
        if (self->context != NULL)
                return;
        self->context = g_main_context_ref_thread_default ();
        self->host.session.context = self->context;
}

/* ---- accepting ---------------------------------------------------------------- */

/* Said before closing, without waiting: the socket is fresh, the reply is short,
 * and the kernel's buffer takes it. */
static void
server_refuse_socket (GSocketConnection *connection, const char *reply)
{
        GSocket *socket = g_socket_connection_get_socket (connection);

        g_socket_set_blocking (socket, FALSE);
        g_socket_send (socket, reply, strlen (reply), NULL, NULL);
        g_socket_shutdown (socket, FALSE, TRUE, NULL);
        g_socket_close (socket, NULL);
}

static void
server_incoming (GSocketConnection *socket_connection, GSmtpListenFlags flags, gpointer user_data)
{
        GSmtpServer *self = user_data;
        GSmtpConnection *conn;
        GSmtpConnectionFlags conn_flags = 0;

        if (self->stopping) {
                server_refuse_socket (socket_connection, "421 4.3.2 Service shutting down\r\n");
                return;
        }
        /* answered while there are fds left to answer with: a session that
         * cannot have its spill file is worse than a client told to retry */
        if (g_hash_table_size (self->connections) >= self->max_connections ||
            !gsmtp_listener_fds_allow (self->listener, g_hash_table_size (self->connections),
                                       self->n_transfers)) {
                server_refuse_socket (socket_connection,
                                      "421 4.7.0 Too many connections, try again later\r\n");
                return;
        }
        if (flags & GSMTP_LISTEN_IMPLICIT_TLS)
                conn_flags |= GSMTP_CONNECTION_IMPLICIT_TLS;
        if (flags & GSMTP_LISTEN_PROXY_PROTOCOL)
                conn_flags |= GSMTP_CONNECTION_PROXY;
        if (flags & GSMTP_LISTEN_LMTP)
                conn_flags |= GSMTP_CONNECTION_LMTP;
        /* the per-address limit is the connection's to check: behind a PROXY
         * header, the address is not the socket's */
        conn = gsmtp_connection_new (&self->host, socket_connection, conn_flags);
        g_hash_table_add (self->connections, conn);
        server_start_tick (self);
        gsmtp_connection_start (conn);
}

/* Once a second, every connection's deadline is checked: one source for all,
 * so ten thousand idle sessions do not cost ten thousand timers. */
static gboolean
server_tick (gpointer data)
{
        GSmtpServer *self = data;
        g_autoptr(GPtrArray) live = server_list_connections (self);
        gint64 now = g_get_monotonic_time ();

        for (guint i = 0; i < live->len; i++)
                gsmtp_connection_ref (live->pdata[i]);
        for (guint i = 0; i < live->len; i++) {
                gsmtp_connection_check_timeout (live->pdata[i], now);
                gsmtp_connection_unref (live->pdata[i]);
        }
        return G_SOURCE_CONTINUE;
}

static void
server_start_tick (GSmtpServer *self)
{
        if (self->tick != NULL)
                return;
        self->tick = g_timeout_source_new_seconds (1);
        g_source_set_callback (self->tick, server_tick, self, NULL);
        g_source_attach (self->tick, self->context);
}

static void
server_stop_tick (GSmtpServer *self)
{
        if (self->tick != NULL) {
                g_source_destroy (self->tick);
                g_clear_pointer (&self->tick, g_source_unref);
        }
}

static void
server_connection_closed (GSmtpConnectionHost *host, GSmtpConnection *conn)
{
        GSmtpServer *self = SERVER_OF (host);

        g_hash_table_remove (self->connections, conn);
        if (g_hash_table_size (self->connections) == 0)
                server_stop_tick (self);
        server_maybe_finish_stop (self);
}

/* Postfix anvil's smtpd_client_connection_count_limit, counted under the
 * address the session ends up with (after PROXY or XCLIENT). */
static gboolean
server_admit_address (GSmtpConnectionHost *host, const char *address)
{
        GSmtpServer *self = SERVER_OF (host);
        guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_address, address));

        if (self->max_connections_per_address != 0 && n >= self->max_connections_per_address)
                return FALSE;
        g_hash_table_insert (self->per_address, g_strdup (address), GUINT_TO_POINTER (n + 1));
        return TRUE;
}

static void
server_release_address (GSmtpConnectionHost *host, const char *address)
{
        GSmtpServer *self = SERVER_OF (host);
        guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_address, address));

        if (n <= 1)
                g_hash_table_remove (self->per_address, address);
        else
                g_hash_table_insert (self->per_address, g_strdup (address), GUINT_TO_POINTER (n - 1));
}

/* The listener accepts in the context of the server's poller: the thread's
 * default context at the first listen. */
static GSmtpListener *
server_get_listener (GSmtpServer *self)
{
        if (self->listener == NULL)
                self->listener = gsmtp_listener_new (server_host_poller (&self->host), server_incoming, self);
        return self->listener;
}

static gboolean
server_check_listen (GSmtpServer *self, GSmtpListenFlags flags, GError **error)
{
        if (self->stopping) {
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "The server was stopped");
                return FALSE;
        }
        if ((flags & GSMTP_LISTEN_IMPLICIT_TLS) && self->tls_credentials == NULL) {
                /* the application's mistake, not a peer's: not GSMTP_ERROR_TLS_REQUIRED */
                g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                     "An implicit TLS listener needs a certificate");
                return FALSE;
        }
        server_capture_context (self);
        return TRUE;
}

/**
 * g_smtp_server_listen:
 * @self: a server
 * @address: where to listen (port 0 picks a free port)
 * @flags: %GSMTP_LISTEN_IMPLICIT_TLS for a port 465 style listener
 * @out_address: (out) (optional) (transfer full): the address really bound
 * @error: return location for a #GError
 *
 * Adds a listener.  A server may have any number.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_listen (GSmtpServer *self, GSocketAddress *address, GSmtpListenFlags flags,
                      GSocketAddress **out_address, GError **error)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        g_return_val_if_fail (G_IS_SOCKET_ADDRESS (address), FALSE);
        if (!server_check_listen (self, flags, error))
                return FALSE;
        return gsmtp_listener_add_address (server_get_listener (self), address, flags, out_address, error);
}

/**
 * g_smtp_server_listen_inet:
 * @self: a server
 * @host: an IP address, such as "127.0.0.1" or "::1"
 * @port: the port, or 0 for a free one
 * @flags: listener flags
 * @out_port: (out) (optional): the port really bound
 * @error: return location for a #GError
 *
 * Listens on one IP address.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_listen_inet (GSmtpServer *self, const char *host, guint16 port,
                           GSmtpListenFlags flags, guint16 *out_port, GError **error)
{
        g_autoptr(GInetAddress) ia = NULL;
        g_autoptr(GSocketAddress) address = NULL;
        g_autoptr(GSocketAddress) bound = NULL;

        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        ia = g_inet_address_new_from_string (host);
        if (ia == NULL) {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "“%s” is not an IP address", host);
                return FALSE;
        }
        address = g_inet_socket_address_new (ia, port);
        if (!g_smtp_server_listen (self, address, flags, &bound, error))
                return FALSE;
        if (out_port != NULL)
                *out_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
        return TRUE;
}

/**
 * g_smtp_server_listen_all:
 * @self: a server
 * @port: the port, or 0 for a free one
 * @flags: listener flags
 * @out_port: (out) (optional): the port really bound
 * @error: return location for a #GError
 *
 * Listens on every address, IPv6 and IPv4.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_listen_all (GSmtpServer *self, guint16 port, GSmtpListenFlags flags,
                          guint16 *out_port, GError **error)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        if (!server_check_listen (self, flags, error))
                return FALSE;
        return gsmtp_listener_add_all (server_get_listener (self), port, flags, out_port, error);
}

/**
 * g_smtp_server_listen_socket:
 * @self: a server
 * @socket: a listening socket, for example from systemd socket activation
 * @flags: listener flags
 * @error: return location for a #GError
 *
 * Listens on a socket that is already bound and listening.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_listen_socket (GSmtpServer *self, GSocket *socket, GSmtpListenFlags flags,
                             GError **error)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), FALSE);
        g_return_val_if_fail (G_IS_SOCKET (socket), FALSE);
        if (!server_check_listen (self, flags, error))
                return FALSE;
        return gsmtp_listener_add_socket (server_get_listener (self), socket, flags, error);
}

/**
 * g_smtp_server_get_n_sessions:
 * @self: a server
 *
 * Counts the sessions open now.
 *
 * Returns: how many sessions are open
 *
 * Since: 0.1
 */
guint
g_smtp_server_get_n_sessions (GSmtpServer *self)
{
        g_return_val_if_fail (GSMTP_IS_SERVER (self), 0);
        return g_hash_table_size (self->connections);
}

/* ---- stopping ------------------------------------------------------------------ */

static void
server_shutdown_all (GSmtpServer *self, gboolean force)
{
        g_autoptr(GPtrArray) live = server_list_connections (self);

        for (guint i = 0; i < live->len; i++)
                gsmtp_connection_ref (live->pdata[i]);
        for (guint i = 0; i < live->len; i++) {
                gsmtp_connection_shutdown (live->pdata[i], force);
                gsmtp_connection_unref (live->pdata[i]);
        }
}

static void
server_abort_all (GSmtpServer *self)
{
        g_autoptr(GPtrArray) live = server_list_connections (self);

        for (guint i = 0; i < live->len; i++)
                gsmtp_connection_ref (live->pdata[i]);
        for (guint i = 0; i < live->len; i++) {
                gsmtp_connection_abort (live->pdata[i]);
                gsmtp_connection_unref (live->pdata[i]);
        }
}

static void
server_clear_source (GSource **source)
{
        if (*source != NULL) {
                g_source_destroy (*source);
                g_clear_pointer (source, g_source_unref);
        }
}

/* Takes @error (NULL: success). */
static void
server_finish_stop (GSmtpServer *self, GError *error)
{
        GTask *task = g_steal_pointer (&self->stop_task);

        server_clear_source (&self->grace_source);
        server_clear_source (&self->stop_cancel_source);
        if (task == NULL) {
                g_clear_error (&error);
                return;
        }
        if (error != NULL)
                g_task_return_error (task, error);
        else
                g_task_return_boolean (task, TRUE);
        g_object_unref (task);
}

static void
server_maybe_finish_stop (GSmtpServer *self)
{
        if (self->stop_task != NULL && g_hash_table_size (self->connections) == 0)
                server_finish_stop (self, NULL);
}

static gboolean
server_grace_over (gpointer data)
{
        GSmtpServer *self = data;

        g_clear_pointer (&self->grace_source, g_source_unref);
        server_shutdown_all (self, TRUE);
        /* every session has been told; those that still write their last
         * replies need no more of the stop */
        server_finish_stop (self, NULL);
        return G_SOURCE_REMOVE;
}

static gboolean
server_stop_cancelled (GCancellable *cancellable, gpointer data)
{
        GSmtpServer *self = data;

        g_clear_pointer (&self->stop_cancel_source, g_source_unref);
        server_abort_all (self);
        server_finish_stop (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                       "The stop was cancelled: sessions were cut off"));
        return G_SOURCE_REMOVE;
}

/**
 * g_smtp_server_stop_async:
 * @self: a server
 * @grace_seconds: how long transactions in flight may take to finish
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when every session has ended
 * @user_data: data for @callback
 *
 * Stops the server, as Racket's smtp-server stop function does: no new
 * connections; idle sessions get `421 4.3.2` now; a session in a transaction
 * finishes it (up to @grace_seconds), then gets `421`.
 *
 * The stop ends when every session has ended, or when the grace period is
 * over, or when @cancellable is cancelled, whichever comes first.  At the end
 * of the grace period, a DATA stage the application has already answered gets
 * its reply written first; one still out with the application is cancelled
 * (g_smtp_stage_is_cancelled(), its #GCancellable fires) and its client gets
 * `421` instead of `250`, so it will send the message again: an application
 * must not count a cancelled message as delivered.  Cancelling @cancellable
 * cuts every session off at once, without a reply, and the stop finishes with
 * %G_IO_ERROR_CANCELLED.
 *
 * Since: 0.1
 */
void
g_smtp_server_stop_async (GSmtpServer *self, guint grace_seconds, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
        GTask *task;

        g_return_if_fail (GSMTP_IS_SERVER (self));
        task = g_task_new (self, cancellable, callback, user_data);
        g_task_set_source_tag (task, g_smtp_server_stop_async);
        if (self->stop_task != NULL) {
                g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                                         "The server is already stopping");
                g_object_unref (task);
                return;
        }
        server_capture_context (self);
        self->stopping = TRUE;
        self->stop_task = task;
        server_close_listeners (self);
        /* in the server's own main context, which need not be the caller's */
        self->grace_source = g_timeout_source_new_seconds (grace_seconds);
        g_source_set_callback (self->grace_source, server_grace_over, self, NULL);
        g_source_attach (self->grace_source, self->context);
        if (cancellable != NULL) {
                /* cancelled from any thread, acted on in ours */
                self->stop_cancel_source = g_cancellable_source_new (cancellable);
                g_source_set_callback (self->stop_cancel_source,
                                       (GSourceFunc) (GCallback) server_stop_cancelled, self, NULL);
                g_source_attach (self->stop_cancel_source, self->context);
        }
        server_shutdown_all (self, grace_seconds == 0);
        server_maybe_finish_stop (self);
}

/**
 * g_smtp_server_stop_finish:
 * @self: a server
 * @result: the result
 * @error: return location for a #GError
 *
 * Finishes g_smtp_server_stop_async().
 *
 * Returns: %TRUE when the server has stopped (every session ended or was
 *   ended at the end of the grace period), %FALSE with %G_IO_ERROR_CANCELLED
 *   when the stop was cancelled
 *
 * Since: 0.1
 */
gboolean
g_smtp_server_stop_finish (GSmtpServer *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
        return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- what sessions and connections see (gsmtp-session-host.h, gsmtp-connection.h) ---- */

static const char *
server_host_hostname (GSmtpSessionHost *host)
{
        return SERVER_OF (host)->hostname;
}

static gboolean
server_host_is_local_domain (GSmtpSessionHost *host, const char *domain)
{
        return g_smtp_server_is_local_domain (SERVER_OF (host), domain);
}

static char *
server_host_dup_mailer_daemon (GSmtpSessionHost *host)
{
        return g_smtp_server_dup_mailer_daemon (SERVER_OF (host));
}

static gboolean
server_host_offers_tls (GSmtpSessionHost *host)
{
        return SERVER_OF (host)->tls_credentials != NULL;
}

static gboolean
server_host_offers_auth (GSmtpSessionHost *host)
{
        return SERVER_OF (host)->handlers[GSMTP_STAGE_AUTH].handler != NULL;
}

static gboolean
server_host_allows_xclient (GSmtpSessionHost *host, GSmtpPeer *peer)
{
        return server_allows_xclient (SERVER_OF (host), peer);
}

/* Messages are parsed in the worker pool when someone will read them. */
static gboolean
server_host_parses_messages (GSmtpSessionHost *host)
{
        GSmtpServer *self = SERVER_OF (host);

        return self->limits.parse_messages && self->handlers[GSMTP_STAGE_DATA].handler != NULL;
}

/* The application decides; NULL means it deferred.  The server is kept alive
 * across the handler, as GLib keeps an instance across a signal emission: a
 * handler may drop the last reference, and the server then goes away right
 * after, ending every session, this one too. */
static GSmtpReply *
server_host_decide (GSmtpSessionHost *host, GSmtpStage *stage)
{
        GSmtpServer *self = SERVER_OF (host);
        Handler *h = &self->handlers[g_smtp_stage_get_kind (stage)];
        GSmtpReply *reply;

        if (h->handler == NULL)
                return g_smtp_reply_ref (g_smtp_stage_get_default_reply (stage));
        g_object_ref (self);
        g_object_ref (stage);
        gsmtp_stage_mark_shown (stage);
        reply = h->handler (self, stage, h->user_data);
        if (reply == NULL && !gsmtp_stage_is_deferred (stage)) {
                g_autofree char *kind = g_enum_to_string (GSMTP_TYPE_STAGE_KIND,
                                                          g_smtp_stage_get_kind (stage));

                g_warning ("gsmtp: the %s handler returned no reply and did not defer; answering 451",
                           kind);
                reply = g_smtp_reply_new (451, "4.3.0", NULL);
        } else if (reply != NULL && gsmtp_stage_is_deferred (stage)) {
                g_warning ("gsmtp: a handler deferred and also replied; the reply wins");
                gsmtp_stage_detach (stage);
        }
        g_object_unref (stage);
        g_object_unref (self);
        return reply;
}

static void
server_host_notify (GSmtpSessionHost *host, GSmtpSessionEvent event, GSmtpPeer *peer,
                    GSmtpEnvelope *envelope)
{
        GSmtpServer *self = SERVER_OF (host);

        g_object_ref (self);
        switch (event) {
        case GSMTP_SESSION_EVENT_STARTED:
                g_signal_emit (self, signals[SIGNAL_SESSION_STARTED], 0, peer);
                break;
        case GSMTP_SESSION_EVENT_ENDED:
                g_signal_emit (self, signals[SIGNAL_SESSION_ENDED], 0, peer);
                break;
        case GSMTP_SESSION_EVENT_MESSAGE_ACCEPTED:
                g_signal_emit (self, signals[SIGNAL_MESSAGE_ACCEPTED], 0, envelope);
                break;
        default:
                break;
        }
        g_object_unref (self);
}

static const GSmtpSessionHostFuncs server_session_funcs = {
        server_host_hostname,
        server_host_is_local_domain,
        server_host_dup_mailer_daemon,
        server_host_offers_tls,
        server_host_offers_auth,
        server_host_allows_xclient,
        server_host_parses_messages,
        server_host_decide,
        server_host_notify,
};

static struct _GSmtpPoller *
server_host_poller (GSmtpConnectionHost *host)
{
        GSmtpServer *self = SERVER_OF (host);

        if (self->poller == NULL) {
                server_capture_context (self);
                self->poller = gsmtp_poller_new (self->context);
        }
        return self->poller;
}

/* The shared read buffer: connections read into it only when their socket is
 * readable, so an idle connection holds no buffer at all. */
static guint8 *
server_host_read_buffer (GSmtpConnectionHost *host, gsize *size)
{
        GSmtpServer *self = SERVER_OF (host);

        if (self->read_buffer == NULL)
                self->read_buffer = g_malloc (READ_BUFFER_SIZE);
        *size = READ_BUFFER_SIZE;
        return self->read_buffer;
}

static GSmtpTlsCredentials *
server_host_tls_credentials (GSmtpConnectionHost *host)
{
        return SERVER_OF (host)->tls_credentials;
}

static void
server_host_transfer (GSmtpConnectionHost *host, int delta)
{
        GSmtpServer *self = SERVER_OF (host);

        self->n_transfers += delta;
}

static const GSmtpConnectionHostFuncs server_connection_funcs = {
        server_host_read_buffer,
        server_host_poller,
        server_host_tls_credentials,
        server_admit_address,
        server_release_address,
        server_host_transfer,
        server_connection_closed,
};

/* For tests and fuzzers that drive a session by hand. */
GSmtpSessionHost *
gsmtp_server_get_session_host (GSmtpServer *self)
{
        server_capture_context (self);
        return &self->host.session;
}

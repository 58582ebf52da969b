#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-reply.h>
#include <gsmtp/gsmtp-stage.h>

G_BEGIN_DECLS

/**
 * GSmtpListenFlags:
 * @GSMTP_LISTEN_DEFAULT: plain SMTP; STARTTLS offered when a certificate is set
 * @GSMTP_LISTEN_IMPLICIT_TLS: TLS from the first byte (RFC 8314, port 465)
 * @GSMTP_LISTEN_REUSE_PORT: bind with `SO_REUSEPORT`, so that several processes
 *   (workers) listen on one port and the kernel spreads connections among them
 * @GSMTP_LISTEN_PROXY_PROTOCOL: every connection starts with a PROXY protocol
 *   header (HAProxy), v1 or v2, told apart per connection: the client's address
 *   is taken from it, and from v2 the client's TLS to the proxy (see
 *   g_smtp_peer_get_proxy_tls()).  With %GSMTP_LISTEN_IMPLICIT_TLS the header
 *   comes before the TLS handshake.  A connection without a valid header is
 *   closed unanswered: only the proxy should reach such a listener.
 * @GSMTP_LISTEN_LMTP: the listener speaks LMTP (RFC 2033) instead of SMTP:
 *   `LHLO` instead of `HELO`/`EHLO`, and after the message one reply per
 *   accepted recipient (g_smtp_stage_set_recipient_reply()).  LMTP is for a
 *   final delivery agent behind an MTA, never for port 25.  Since: 0.2
 *
 * How a listener added with g_smtp_server_listen() treats its connections.
 *
 * Since: 0.1
 */
typedef enum {
        GSMTP_LISTEN_DEFAULT = 0,
        GSMTP_LISTEN_IMPLICIT_TLS = 1 << 0,
        GSMTP_LISTEN_REUSE_PORT = 1 << 1,
        GSMTP_LISTEN_PROXY_PROTOCOL = 1 << 2,
        GSMTP_LISTEN_LMTP = 1 << 3,
} GSmtpListenFlags;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_listen_flags_get_type (void);
#define GSMTP_TYPE_LISTEN_FLAGS (g_smtp_listen_flags_get_type ())

/**
 * GSmtpBareLinefeed:
 * @GSMTP_BARE_LINEFEED_NORMALIZE: a bare LF or bare CR inside DATA ends a text line
 *   and is stored as CRLF; the end of data still needs CRLF.CRLF
 * @GSMTP_BARE_LINEFEED_REJECT: a message with a bare LF or CR is refused with
 *   `550 5.5.2` once its end arrives, and nothing is delivered
 *
 * What the server does with bare LF and bare CR in message data (the SMTP
 * smuggling family: neither ever ends the data).  Postfix's
 * `smtpd_forbid_bare_newline`.  Text sent by BDAT (RFC 3030) gets the same,
 * so that a message is stored in one form however it came; a message sent
 * with `BODY=BINARYMIME` is kept as sent.
 *
 * Since: 0.1
 */
typedef enum {
        GSMTP_BARE_LINEFEED_NORMALIZE,
        GSMTP_BARE_LINEFEED_REJECT,
} GSmtpBareLinefeed;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_bare_linefeed_get_type (void);
#define GSMTP_TYPE_BARE_LINEFEED (g_smtp_bare_linefeed_get_type ())

#define GSMTP_TYPE_SERVER (g_smtp_server_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpServer, g_smtp_server, GSMTP, SERVER, GObject)

/**
 * GSmtpStageHandler:
 * @server: the server
 * @stage: what the client asked, and who asked it
 * @user_data: the data given to g_smtp_server_set_handler()
 *
 * Decides one stage.  Return a reply, or call g_smtp_stage_defer() and
 * return %NULL to answer later with g_smtp_stage_complete().
 *
 * Returns: (transfer full) (nullable): the reply, or %NULL when deferred
 */
typedef GSmtpReply *(*GSmtpStageHandler) (GSmtpServer *server, GSmtpStage *stage,
                                          gpointer user_data);

GSMTP_AVAILABLE_IN_ALL
GSmtpServer *g_smtp_server_new (const char *hostname);

GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_server_get_hostname (GSmtpServer *self);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_server_set_hostname (GSmtpServer *self, const char *hostname);

GSMTP_AVAILABLE_IN_ALL
void g_smtp_server_set_domains (GSmtpServer *self, const char *const *domains);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_server_add_domain (GSmtpServer *self, const char *domain);
GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_server_get_domains (GSmtpServer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_server_get_primary_domain (GSmtpServer *self);
GSMTP_AVAILABLE_IN_ALL
char *g_smtp_server_dup_mailer_daemon (GSmtpServer *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_is_local_domain (GSmtpServer *self, const char *domain);

GSMTP_AVAILABLE_IN_ALL
void g_smtp_server_set_handler (GSmtpServer *self, GSmtpStageKind kind,
                                GSmtpStageHandler handler, gpointer user_data,
                                GDestroyNotify destroy);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_set_tls_files (GSmtpServer *self, const char *cert_file,
                                      const char *key_file, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_server_set_tls_certificate (GSmtpServer *self, GTlsCertificate *certificate);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_set_tls_priority (GSmtpServer *self, const char *priority, GError **error);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_listen (GSmtpServer *self, GSocketAddress *address,
                               GSmtpListenFlags flags, GSocketAddress **out_address,
                               GError **error);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_listen_inet (GSmtpServer *self, const char *host, guint16 port,
                                    GSmtpListenFlags flags, guint16 *out_port,
                                    GError **error);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_listen_socket (GSmtpServer *self, GSocket *socket,
                                      GSmtpListenFlags flags, GError **error);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_listen_all (GSmtpServer *self, guint16 port, GSmtpListenFlags flags,
                                   guint16 *out_port, GError **error);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_add_xclient_network (GSmtpServer *self, const char *network, GError **error);

GSMTP_AVAILABLE_IN_ALL
guint g_smtp_server_get_n_sessions (GSmtpServer *self);

GSMTP_AVAILABLE_IN_ALL
void g_smtp_server_stop_async (GSmtpServer *self, guint grace_seconds,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_server_stop_finish (GSmtpServer *self, GAsyncResult *result, GError **error);

G_END_DECLS

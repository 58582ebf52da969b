#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gmime/gmime.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-envelope.h>
#include <gsmtp/gsmtp-reply.h>

G_BEGIN_DECLS

/**
 * GSmtpTlsMode:
 * @GSMTP_TLS_NONE: never encrypt
 * @GSMTP_TLS_STARTTLS_OPPORTUNISTIC: STARTTLS when the server offers it
 * @GSMTP_TLS_STARTTLS: STARTTLS, or fail with %GSMTP_ERROR_TLS_REQUIRED
 * @GSMTP_TLS_IMPLICIT: TLS from the first byte (RFC 8314, port 465)
 *
 * How a #GSmtpClient uses TLS; see g_smtp_client_set_tls_mode().
 *
 * Since: 0.1
 */
typedef enum {
        GSMTP_TLS_NONE,
        GSMTP_TLS_STARTTLS_OPPORTUNISTIC,
        GSMTP_TLS_STARTTLS,
        GSMTP_TLS_IMPLICIT,
} GSmtpTlsMode;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_tls_mode_get_type (void);
#define GSMTP_TYPE_TLS_MODE (g_smtp_tls_mode_get_type ())

/* GSmtpDsnRet and GSmtpDsnNotify (RFC 3461) are declared in gsmtp-envelope.h:
 * the client sends what the server's envelope reports. */

/**
 * GSmtpBodyType:
 * @GSMTP_BODY_AUTO: measured from the data: 7-bit, or `BODY=8BITMIME` when a byte
 *   has its high bit set, or `BODY=BINARYMIME` when it holds a NUL byte
 * @GSMTP_BODY_7BIT: 7-bit text (`BODY=7BIT` when the server offers 8BITMIME)
 * @GSMTP_BODY_8BITMIME: 8-bit text lines (RFC 6152)
 * @GSMTP_BODY_BINARYMIME: any bytes, sent unchanged by BDAT (RFC 3030): line ends
 *   are not converted
 *
 * What the message body is, for the MAIL `BODY=` parameter.
 *
 * Since: 0.2
 */
typedef enum {
        GSMTP_BODY_AUTO,
        GSMTP_BODY_7BIT,
        GSMTP_BODY_8BITMIME,
        GSMTP_BODY_BINARYMIME,
} GSmtpBodyType;

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_body_type_get_type (void);
#define GSMTP_TYPE_BODY_TYPE (g_smtp_body_type_get_type ())

/* ---- GSmtpSendResult ---- */

#define GSMTP_TYPE_SEND_RESULT (g_smtp_send_result_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpSendResult, g_smtp_send_result, GSMTP, SEND_RESULT, GObject)

GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_send_result_get_reply (GSmtpSendResult *self);
GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_send_result_get_accepted (GSmtpSendResult *self);
GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_send_result_get_refused (GSmtpSendResult *self);
GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_send_result_get_recipient_reply (GSmtpSendResult *self, const char *recipient);
GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_send_result_get_recipients (GSmtpSendResult *self);
GSMTP_AVAILABLE_IN_ALL
guint64 g_smtp_send_result_get_size (GSmtpSendResult *self);

/* in gsmtp-error.c; here, where GSmtpSendResult is declared */
GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_error_get_send_result (const GError *error);

/* ---- GSmtpSendOptions ---- */

#define GSMTP_TYPE_SEND_OPTIONS (g_smtp_send_options_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpSendOptions, g_smtp_send_options, GSMTP, SEND_OPTIONS, GObject)

GSMTP_AVAILABLE_IN_ALL
GSmtpSendOptions *g_smtp_send_options_new (void);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_send_options_set_dsn_return (GSmtpSendOptions *self, GSmtpDsnRet ret);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_send_options_set_dsn_envid (GSmtpSendOptions *self, const char *envid,
                                            GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_send_options_set_dsn_notify (GSmtpSendOptions *self, GSmtpDsnNotify notify);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_send_options_set_recipient_notify (GSmtpSendOptions *self, const char *recipient,
                                               GSmtpDsnNotify notify);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_send_options_set_original_recipient (GSmtpSendOptions *self, const char *recipient,
                                                     const char *original, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_send_options_set_requiretls (GSmtpSendOptions *self, gboolean requiretls);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_send_options_set_body_type (GSmtpSendOptions *self, GSmtpBodyType body);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_send_options_add_mail_parameter (GSmtpSendOptions *self, const char *keyword,
                                                 const char *value, GError **error);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_send_options_add_recipient_parameter (GSmtpSendOptions *self, const char *recipient,
                                                      const char *keyword, const char *value,
                                                      GError **error);

/* ---- GSmtpClient ---- */

#define GSMTP_TYPE_CLIENT (g_smtp_client_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpClient, g_smtp_client, GSMTP, CLIENT, GObject)

/**
 * GSmtpTokenFunc:
 * @client: the client
 * @username: the user being authenticated
 * @user_data: the data given to g_smtp_client_set_token_func()
 *
 * Gives an OAuth 2.0 access token for @username, called each time a connection
 * authenticates with XOAUTH2 or OAUTHBEARER, in the main context of the send
 * that opened it.  It must not block: return a token the application keeps
 * fresh (GNOME Online Accounts' goa_oauth2_based_call_get_access_token() for one).
 *
 * Returns: (transfer full) (nullable): the token, or %NULL to fail the send
 *
 * Since: 0.2
 */
typedef char *(*GSmtpTokenFunc) (GSmtpClient *client, const char *username, gpointer user_data);

GSMTP_AVAILABLE_IN_ALL
GSmtpClient *g_smtp_client_new (const char *host, guint16 port);
GSMTP_AVAILABLE_IN_ALL
GSmtpClient *g_smtp_client_new_for_connectable (GSocketConnectable *connectable);
GSMTP_AVAILABLE_IN_ALL
GSmtpClient *g_smtp_client_new_for_stream (GIOStream *stream, GSocketConnectable *identity);

GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_tls_mode (GSmtpClient *self, GSmtpTlsMode mode);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_credentials (GSmtpClient *self, const char *username, const char *password);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_oauth_token (GSmtpClient *self, const char *username, const char *token);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_token_func (GSmtpClient *self, const char *username, GSmtpTokenFunc func,
                                   gpointer user_data, GDestroyNotify destroy);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_auth_mechanism (GSmtpClient *self, const char *mechanism);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_client_set_ca_file (GSmtpClient *self, const char *ca_file, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_tls_database (GSmtpClient *self, GTlsDatabase *database);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_tls_interaction (GSmtpClient *self, GTlsInteraction *interaction);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_insecure (GSmtpClient *self, gboolean insecure);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_helo_name (GSmtpClient *self, const char *name);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_timeout (GSmtpClient *self, guint seconds);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_send_timeout (GSmtpClient *self, guint seconds);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_max_connections (GSmtpClient *self, guint max_connections);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_lmtp (GSmtpClient *self, gboolean lmtp);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_client_connect (GSmtpClient *self, GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_connect_async (GSmtpClient *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_client_connect_finish (GSmtpClient *self, GAsyncResult *result, GError **error);

GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_bytes (GSmtpClient *self, const char *sender,
                                           const char *const *recipients, GBytes *data,
                                           GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_stream (GSmtpClient *self, const char *sender,
                                            const char *const *recipients, GInputStream *data,
                                            GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_message (GSmtpClient *self, GMimeMessage *message,
                                             const char *sender, const char *const *recipients,
                                             GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_send_bytes_async (GSmtpClient *self, const char *sender,
                                     const char *const *recipients, GBytes *data,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_send_stream_async (GSmtpClient *self, const char *sender,
                                      const char *const *recipients, GInputStream *data,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_send_message_async (GSmtpClient *self, GMimeMessage *message,
                                       const char *sender, const char *const *recipients,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);

GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_bytes_full (GSmtpClient *self, const char *sender,
                                                const char *const *recipients, GBytes *data,
                                                GSmtpSendOptions *options,
                                                GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_stream_full (GSmtpClient *self, const char *sender,
                                                 const char *const *recipients, GInputStream *data,
                                                 GSmtpSendOptions *options,
                                                 GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_message_full (GSmtpClient *self, GMimeMessage *message,
                                                  const char *sender, const char *const *recipients,
                                                  GSmtpSendOptions *options,
                                                  GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_send_bytes_full_async (GSmtpClient *self, const char *sender,
                                          const char *const *recipients, GBytes *data,
                                          GSmtpSendOptions *options, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_send_stream_full_async (GSmtpClient *self, const char *sender,
                                           const char *const *recipients, GInputStream *data,
                                           GSmtpSendOptions *options, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_send_message_full_async (GSmtpClient *self, GMimeMessage *message,
                                            const char *sender, const char *const *recipients,
                                            GSmtpSendOptions *options, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);

GSMTP_AVAILABLE_IN_ALL
GSmtpSendResult *g_smtp_client_send_finish (GSmtpClient *self, GAsyncResult *result,
                                            GError **error);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_client_quit (GSmtpClient *self, GCancellable *cancellable, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_quit_async (GSmtpClient *self, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_client_quit_finish (GSmtpClient *self, GAsyncResult *result, GError **error);

GSMTP_AVAILABLE_IN_ALL
const char *const *g_smtp_client_get_extensions (GSmtpClient *self);

GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_send_message (const char *host, guint16 port, const char *sender,
                              const char *const *recipients, GBytes *data,
                              GCancellable *cancellable, GError **error);

G_END_DECLS

#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gmime/gmime.h>
#include <gsmtp/gsmtp-visibility.h>
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

#define GSMTP_TYPE_CLIENT (g_smtp_client_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpClient, g_smtp_client, GSMTP, CLIENT, GObject)

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
gboolean g_smtp_client_set_ca_file (GSmtpClient *self, const char *ca_file, GError **error);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_insecure (GSmtpClient *self, gboolean insecure);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_helo_name (GSmtpClient *self, const char *name);
GSMTP_AVAILABLE_IN_ALL
void g_smtp_client_set_timeout (GSmtpClient *self, guint seconds);

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
void g_smtp_client_send_message_async (GSmtpClient *self, GMimeMessage *message,
                                       const char *sender, const char *const *recipients,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
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

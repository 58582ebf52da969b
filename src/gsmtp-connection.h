/* gsmtp-connection.h — one client socket driving one session (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

typedef struct _GSmtpConnection GSmtpConnection;

GSmtpConnection *gsmtp_connection_new      (GSmtpServer *server, GSocketConnection *socket,
                                            gboolean implicit_tls, gboolean proxy_protocol);
void             gsmtp_connection_start    (GSmtpConnection *self);
void             gsmtp_connection_shutdown (GSmtpConnection *self, gboolean force);
GSmtpConnection *gsmtp_connection_ref      (GSmtpConnection *self);
void             gsmtp_connection_unref    (GSmtpConnection *self);
const char      *gsmtp_connection_get_host (GSmtpConnection *self);
void             gsmtp_connection_check_timeout (GSmtpConnection *self, gint64 now);

G_END_DECLS

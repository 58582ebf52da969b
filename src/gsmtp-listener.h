/* gsmtp-listener.h — listening sockets, accepting without spinning (internal). */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-poller.h"

G_BEGIN_DECLS

typedef struct _GSmtpListener GSmtpListener;

/* A new client on a socket added with @flags; the function takes a reference
 * of its own if it keeps @connection. */
typedef void (*GSmtpAcceptFunc) (GSocketConnection *connection, GSmtpListenFlags flags, gpointer data);

GSmtpListener *gsmtp_listener_new         (GSmtpPoller *poller, GSmtpAcceptFunc func, gpointer data);
void           gsmtp_listener_free        (GSmtpListener *listener);
gboolean       gsmtp_listener_add_address (GSmtpListener *listener, GSocketAddress *address,
                                           GSmtpListenFlags flags, GSocketAddress **out_address,
                                           GError **error);
gboolean       gsmtp_listener_add_all     (GSmtpListener *listener, guint16 port, GSmtpListenFlags flags,
                                           guint16 *out_port, GError **error);
gboolean       gsmtp_listener_add_socket  (GSmtpListener *listener, GSocket *socket,
                                           GSmtpListenFlags flags, GError **error);
void           gsmtp_listener_close       (GSmtpListener *listener);
gboolean       gsmtp_listener_fds_allow   (GSmtpListener *listener, guint n_sessions,
                                           guint n_transfers);
guint          gsmtp_listener_get_fd_session_limit (void);

G_END_DECLS

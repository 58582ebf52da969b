#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <gio/gio.h>
#include <gsmtp/gsmtp-visibility.h>

G_BEGIN_DECLS

#define GSMTP_TYPE_PEER (g_smtp_peer_get_type ())
GSMTP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (GSmtpPeer, g_smtp_peer, GSMTP, PEER, GObject)

GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_session_id (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
GSocketAddress *g_smtp_peer_get_address (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
GSocketAddress *g_smtp_peer_get_local_address (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_host (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
guint16 g_smtp_peer_get_port (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_helo (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_peer_get_esmtp (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_peer_get_tls (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_tls_version (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_tls_cipher (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
GTlsCertificate *g_smtp_peer_get_tls_certificate (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_username (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_protocol (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
GSocketAddress *g_smtp_peer_get_proxy_address (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_peer_get_proxy_tls (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_proxy_tls_version (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_proxy_tls_cipher (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_proxy_tls_client_cn (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_peer_get_proxy_tls_client_verified (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
const char *g_smtp_peer_get_proxy_authority (GSmtpPeer *self);
GSMTP_AVAILABLE_IN_ALL
gboolean g_smtp_peer_is_lmtp (GSmtpPeer *self);

G_END_DECLS

/* gsmtp-peer.c — GSmtpPeer, who is on the other end of a session.
 * Owns: the client's address, HELO name, TLS facts, authenticated user, what a
 * PROXY header said (the proxy's address, the client's TLS to the proxy, the
 * authority), and the RFC 3848 protocol name derived from them.  Not: how they
 * are learned (gsmtp-session.c, gsmtp-connection.c, gsmtp-proxy.c). */
#include "config.h"
#include "gsmtp-private.h"

#include <string.h>

struct _GSmtpPeer {
        GObject          parent_instance;

        char            *session_id;    /* (owned) */
        GSocketAddress  *address;       /* (owned) (nullable) */
        GSocketAddress  *local_address; /* (owned) (nullable) */
        char            *host;          /* (owned) */
        guint16          port;
        char            *helo;          /* (owned) (nullable) */
        gboolean         esmtp;
        gboolean         lmtp;          /* the listener speaks LMTP (RFC 2033) */
        gboolean         tls;
        char            *tls_version;   /* (owned) (nullable) */
        char            *tls_cipher;    /* (owned) (nullable) */
        GTlsCertificate *tls_certificate; /* (owned) (nullable): the client's, if it sent one */
        char            *username;      /* (owned) (nullable) */

        /* what a PROXY header said */
        GSocketAddress  *proxy_address; /* (owned) (nullable): the proxy's, when the header named the client */
        gboolean         proxy_tls;     /* the client spoke TLS to the proxy (v2 SSL TLV) */
        char            *proxy_tls_version;     /* (owned) (nullable) */
        char            *proxy_tls_cipher;      /* (owned) (nullable) */
        char            *proxy_tls_client_cn;   /* (owned) (nullable) */
        gboolean         proxy_tls_client_verified;
        char            *proxy_authority;       /* (owned) (nullable) */
};

/**
 * GSmtpPeer:
 *
 * The client of a session: its address, HELO name, TLS facts and the user it
 * authenticated as.
 *
 * A peer never changes once a handler has it: when the session learns
 * something new (HELO, STARTTLS, AUTH, XCLIENT), later stages get a new peer
 * with the same session id.  A peer may be kept, and read from any thread.
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpPeer, g_smtp_peer, G_TYPE_OBJECT)

static void
g_smtp_peer_finalize (GObject *object)
{
        GSmtpPeer *self = GSMTP_PEER (object);

        g_free (self->session_id);
        g_clear_object (&self->address);
        g_clear_object (&self->local_address);
        g_free (self->host);
        g_free (self->helo);
        g_free (self->tls_version);
        g_free (self->tls_cipher);
        g_clear_object (&self->tls_certificate);
        g_free (self->username);
        g_clear_object (&self->proxy_address);
        g_free (self->proxy_tls_version);
        g_free (self->proxy_tls_cipher);
        g_free (self->proxy_tls_client_cn);
        g_free (self->proxy_authority);
        G_OBJECT_CLASS (g_smtp_peer_parent_class)->finalize (object);
}

static void
g_smtp_peer_class_init (GSmtpPeerClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = g_smtp_peer_finalize;
}

static void
g_smtp_peer_init (GSmtpPeer *self)
{
}

GSmtpPeer *
gsmtp_peer_new (GSocketAddress *remote, GSocketAddress *local)
{
        static gint next_id;
        GSmtpPeer *self = g_object_new (GSMTP_TYPE_PEER, NULL);

        /* Unique within a process and ordered: enough to match log lines. */
        self->session_id = g_strdup_printf ("%" G_GINT64_MODIFIER "X%04X",
                                            g_get_real_time () / G_USEC_PER_SEC,
                                            (guint) g_atomic_int_add (&next_id, 1) & 0xffff);
        if (remote != NULL)
                gsmtp_peer_set_addresses (self, remote, local);
        else
                self->host = g_strdup ("unknown");
        return self;
}

/* Peers are immutable once a stage or an envelope holds them: the session
 * changes a copy (the same session id) and hands that out from then on. */
GSmtpPeer *
gsmtp_peer_dup (GSmtpPeer *other)
{
        GSmtpPeer *self = g_object_new (GSMTP_TYPE_PEER, NULL);

        self->session_id = g_strdup (other->session_id);
        g_set_object (&self->address, other->address);
        g_set_object (&self->local_address, other->local_address);
        self->host = g_strdup (other->host);
        self->port = other->port;
        self->helo = g_strdup (other->helo);
        self->esmtp = other->esmtp;
        self->lmtp = other->lmtp;
        self->tls = other->tls;
        self->tls_version = g_strdup (other->tls_version);
        self->tls_cipher = g_strdup (other->tls_cipher);
        g_set_object (&self->tls_certificate, other->tls_certificate);
        self->username = g_strdup (other->username);
        g_set_object (&self->proxy_address, other->proxy_address);
        self->proxy_tls = other->proxy_tls;
        self->proxy_tls_version = g_strdup (other->proxy_tls_version);
        self->proxy_tls_cipher = g_strdup (other->proxy_tls_cipher);
        self->proxy_tls_client_cn = g_strdup (other->proxy_tls_client_cn);
        self->proxy_tls_client_verified = other->proxy_tls_client_verified;
        self->proxy_authority = g_strdup (other->proxy_authority);
        return self;
}

/* An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: it is named
 * a.b.c.d, as a PROXY header or XCLIENT would name it, so that the
 * per-address limit and the Received header see one client, not two. */
static char *
peer_host_string (GInetAddress *address)
{
        static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        const guint8 *bytes = g_inet_address_to_bytes (address);

        if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
            memcmp (bytes, mapped, sizeof mapped) == 0)
                return g_strdup_printf ("%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
        return g_inet_address_to_string (address);
}

/* The client's address: the socket's, or what a PROXY header or XCLIENT says. */
void
gsmtp_peer_set_addresses (GSmtpPeer *self, GSocketAddress *remote, GSocketAddress *local)
{
        g_object_ref (remote);
        if (local != NULL)
                g_object_ref (local);
        g_clear_object (&self->address);
        g_clear_object (&self->local_address);
        self->address = remote;
        self->local_address = local;
        g_free (self->host);
        if (G_IS_INET_SOCKET_ADDRESS (remote)) {
                GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (remote);

                self->host = peer_host_string (g_inet_socket_address_get_address (inet));
                self->port = g_inet_socket_address_get_port (inet);
        } else {
                self->host = g_strdup ("unknown");
                self->port = 0;
        }
}

void
gsmtp_peer_set_helo (GSmtpPeer *self, const char *helo, gboolean esmtp)
{
        g_free (self->helo);
        self->helo = g_strdup (helo);
        self->esmtp = esmtp;
}

void
gsmtp_peer_set_lmtp (GSmtpPeer *self, gboolean lmtp)
{
        self->lmtp = lmtp;
}

void
gsmtp_peer_set_tls (GSmtpPeer *self, const char *version, const char *cipher,
                    GTlsCertificate *certificate)
{
        self->tls = TRUE;
        g_free (self->tls_version);
        self->tls_version = g_strdup (version);
        g_free (self->tls_cipher);
        self->tls_cipher = g_strdup (cipher);
        g_set_object (&self->tls_certificate, certificate);
}

void
gsmtp_peer_set_username (GSmtpPeer *self, const char *username)
{
        g_free (self->username);
        self->username = g_strdup (username);
}

/* What a PROXY header said besides the client's address: who sent it (NULL
 * when it named no client: the socket's address stays), the authority. */
void
gsmtp_peer_set_proxy (GSmtpPeer *self, GSocketAddress *proxy_address, const char *authority)
{
        g_set_object (&self->proxy_address, proxy_address);
        g_free (self->proxy_authority);
        self->proxy_authority = g_strdup (authority);
}

/* The client spoke TLS to a trusted proxy, which ended it: the session is as
 * encrypted as the proxy says, up to the site (design: docs/deployment.md). */
void
gsmtp_peer_set_proxy_tls (GSmtpPeer *self, const char *version, const char *cipher,
                          const char *client_cn, gboolean client_verified)
{
        self->proxy_tls = TRUE;
        g_free (self->proxy_tls_version);
        self->proxy_tls_version = g_strdup (version);
        g_free (self->proxy_tls_cipher);
        self->proxy_tls_cipher = g_strdup (cipher);
        g_free (self->proxy_tls_client_cn);
        self->proxy_tls_client_cn = g_strdup (client_cn);
        self->proxy_tls_client_verified = client_verified;
        if (!self->tls)
                gsmtp_peer_set_tls (self, version, cipher, NULL);
}

/**
 * g_smtp_peer_get_session_id:
 * @self: a peer
 *
 * Gets an identifier of the session, unique within the process, as used in the log
 * and the Received header.
 *
 * Returns: an identifier of the session, unique within the process, as used in
 *   the log and the Received header
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_session_id (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->session_id;
}

/**
 * g_smtp_peer_get_address:
 * @self: a peer
 *
 * Gets the client's socket address.
 *
 * Returns: (transfer none) (nullable): the client's socket address
 *
 * Since: 0.1
 */
GSocketAddress *
g_smtp_peer_get_address (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->address;
}

/**
 * g_smtp_peer_get_local_address:
 * @self: a peer
 *
 * Gets the server's address of this session.
 *
 * Returns: (transfer none) (nullable): the server's address of this session
 *
 * Since: 0.1
 */
GSocketAddress *
g_smtp_peer_get_local_address (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->local_address;
}

/**
 * g_smtp_peer_get_host:
 * @self: a peer
 *
 * Gets the client's IP address as text ("unknown" when not an IP socket).
 *
 * Returns: the client's IP address as text ("unknown" when not an IP socket)
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_host (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->host;
}

/**
 * g_smtp_peer_get_port:
 * @self: a peer
 *
 * Gets the client's port, or 0.
 *
 * Returns: the client's port, or 0
 *
 * Since: 0.1
 */
guint16
g_smtp_peer_get_port (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), 0);
        return self->port;
}

/**
 * g_smtp_peer_get_helo:
 * @self: a peer
 *
 * Gets the name the client gave in HELO or EHLO.
 *
 * Returns: (nullable): the name the client gave in HELO or EHLO
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_helo (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->helo;
}

/**
 * g_smtp_peer_get_esmtp:
 * @self: a peer
 *
 * Tells whether the client greeted with EHLO.
 *
 * Returns: %TRUE when the client greeted with EHLO
 *
 * Since: 0.1
 */
gboolean
g_smtp_peer_get_esmtp (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), FALSE);
        return self->esmtp;
}

/**
 * g_smtp_peer_get_tls:
 * @self: a peer
 *
 * Tells whether the client's connection is encrypted: by gsmtp (STARTTLS or
 * implicit TLS), or up to a trusted proxy that ended the client's TLS and said
 * so in its PROXY v2 header (see g_smtp_peer_get_proxy_tls()).  The session
 * treats both alike: it offers no STARTTLS, meets #GSmtpServer:require-tls,
 * and counts as TLS for AUTH.
 *
 * Returns: %TRUE when the client's connection is encrypted
 *
 * Since: 0.1
 */
gboolean
g_smtp_peer_get_tls (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), FALSE);
        return self->tls;
}

/**
 * g_smtp_peer_get_tls_version:
 * @self: a peer
 *
 * Gets the TLS protocol version, such as "TLSv1.3": gsmtp's own, or else the
 * one the proxy reported.
 *
 * Returns: (nullable): the TLS protocol version, such as "TLSv1.3"
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_tls_version (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->tls_version;
}

/**
 * g_smtp_peer_get_tls_cipher:
 * @self: a peer
 *
 * Gets the negotiated ciphersuite name: gsmtp's own, or else the one the proxy
 * reported (in the proxy's naming, OpenSSL's for HAProxy).
 *
 * Returns: (nullable): the negotiated ciphersuite name
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_tls_cipher (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->tls_cipher;
}

/**
 * g_smtp_peer_get_tls_certificate:
 * @self: a peer
 *
 * Gets the certificate the client presented to gsmtp.  When a proxy ended the
 * client's TLS there is none; see g_smtp_peer_get_proxy_tls_client_cn().
 *
 * Returns: (transfer none) (nullable): the certificate the client presented
 *
 * Since: 0.1
 */
GTlsCertificate *
g_smtp_peer_get_tls_certificate (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->tls_certificate;
}

/**
 * g_smtp_peer_get_username:
 * @self: a peer
 *
 * Gets the user the client authenticated as.
 *
 * Returns: (nullable): the user the client authenticated as
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_username (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->username;
}

/**
 * g_smtp_peer_get_protocol:
 * @self: a peer
 *
 * Gets the RFC 3848 protocol name: "SMTP", "ESMTP", "ESMTPS", "ESMTPA" or
 * "ESMTPSA"; under LMTP, "LMTP", "LMTPS", "LMTPA" or "LMTPSA".  The "S"
 * follows g_smtp_peer_get_tls(): TLS ended at a trusted proxy in front of
 * gsmtp counts, as the client's hop to the site was encrypted.
 *
 * Returns: the RFC 3848 protocol name
 *
 * Since: 0.1
 */
const char *
g_smtp_peer_get_protocol (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        if (self->lmtp) {
                if (self->tls && self->username != NULL)
                        return "LMTPSA";
                if (self->tls)
                        return "LMTPS";
                return self->username != NULL ? "LMTPA" : "LMTP";
        }
        if (!self->esmtp)
                return "SMTP";
        if (self->tls && self->username != NULL)
                return "ESMTPSA";
        if (self->tls)
                return "ESMTPS";
        if (self->username != NULL)
                return "ESMTPA";
        return "ESMTP";
}

/**
 * g_smtp_peer_get_proxy_address:
 * @self: a peer
 *
 * Gets the address of the proxy that named the client in a PROXY protocol
 * header (v1 or v2): the socket's own peer, when g_smtp_peer_get_address()
 * is the client's as the proxy gave it.  %NULL without such a header, and when
 * the header named no client (v1 `UNKNOWN`, v2 `LOCAL`, `UNSPEC` or `UNIX`):
 * then g_smtp_peer_get_address() is the socket's.
 *
 * Returns: (transfer none) (nullable): the proxy's address
 *
 * Since: 0.2
 */
GSocketAddress *
g_smtp_peer_get_proxy_address (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->proxy_address;
}

/**
 * g_smtp_peer_get_proxy_tls:
 * @self: a peer
 *
 * Tells whether the client spoke TLS to the proxy in front of gsmtp, as the
 * proxy said in the SSL TLV of its PROXY v2 header (HAProxy's
 * `send-proxy-v2-ssl`).  When it did, g_smtp_peer_get_tls() is %TRUE as well.
 *
 * Returns: %TRUE when the client's TLS ended at the proxy
 *
 * Since: 0.2
 */
gboolean
g_smtp_peer_get_proxy_tls (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), FALSE);
        return self->proxy_tls;
}

/**
 * g_smtp_peer_get_proxy_tls_version:
 * @self: a peer
 *
 * Gets the TLS version the client used with the proxy, as the proxy named it
 * ("TLSv1.3").
 *
 * Returns: (nullable): the TLS version, or %NULL when the proxy gave none
 *
 * Since: 0.2
 */
const char *
g_smtp_peer_get_proxy_tls_version (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->proxy_tls_version;
}

/**
 * g_smtp_peer_get_proxy_tls_cipher:
 * @self: a peer
 *
 * Gets the cipher the client used with the proxy, as the proxy named it
 * ("TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256").
 *
 * Returns: (nullable): the cipher, or %NULL when the proxy gave none
 *
 * Since: 0.2
 */
const char *
g_smtp_peer_get_proxy_tls_cipher (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->proxy_tls_cipher;
}

/**
 * g_smtp_peer_get_proxy_tls_client_cn:
 * @self: a peer
 *
 * Gets the common name of the certificate the client showed the proxy
 * (HAProxy's `send-proxy-v2-ssl-cn`).  A name is not a verification: see
 * g_smtp_peer_get_proxy_tls_client_verified().
 *
 * Returns: (nullable): the CN, or %NULL when there was none, or it was not
 *   clean UTF-8 text
 *
 * Since: 0.2
 */
const char *
g_smtp_peer_get_proxy_tls_client_cn (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->proxy_tls_client_cn;
}

/**
 * g_smtp_peer_get_proxy_tls_client_verified:
 * @self: a peer
 *
 * Tells whether the client showed the proxy a certificate and the proxy
 * verified it (the SSL TLV's client bits and its verify field of zero).
 *
 * Returns: %TRUE when the proxy verified a client certificate
 *
 * Since: 0.2
 */
gboolean
g_smtp_peer_get_proxy_tls_client_verified (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), FALSE);
        return self->proxy_tls_client_verified;
}

/**
 * g_smtp_peer_get_proxy_authority:
 * @self: a peer
 *
 * Gets the host name the client asked the proxy for (the AUTHORITY TLV of a
 * PROXY v2 header: with TLS, the client's SNI).
 *
 * Returns: (nullable): the authority, or %NULL when the proxy gave none, or
 *   it was not clean UTF-8 text
 *
 * Since: 0.2
 */
const char *
g_smtp_peer_get_proxy_authority (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), NULL);
        return self->proxy_authority;
}

/**
 * g_smtp_peer_is_lmtp:
 * @self: a peer
 *
 * Tells whether the session speaks LMTP (RFC 2033): the client came to a
 * listener made with %GSMTP_LISTEN_LMTP, greets with `LHLO`, and gets one
 * reply per recipient after the message (see
 * g_smtp_stage_set_recipient_reply()).
 *
 * Returns: %TRUE for an LMTP session
 *
 * Since: 0.2
 */
gboolean
g_smtp_peer_is_lmtp (GSmtpPeer *self)
{
        g_return_val_if_fail (GSMTP_IS_PEER (self), FALSE);
        return self->lmtp;
}

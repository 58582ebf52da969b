/* gsmtp-received.c — the Received: trace header.
 * Owns: its wording.  Not: where it goes (gsmtp-envelope.c).
 * RFC 5321 4.4 (time stamp line), RFC 3848 (protocol names), RFC 5322 3.6.7. */
#include "config.h"
#include "gsmtp-private.h"

/* The clauses, in RFC 5321's order: from, by, with, id, for; then the date.
 * "for" names the recipient only when there is exactly one, as Postfix does, so
 * a message to many does not list them all to each of them. */
char *
gsmtp_received_format (GSmtpPeer *peer, const char *hostname, const char *const *recipients)
{
        GString *out = g_string_new ("from ");
        const char *helo = g_smtp_peer_get_helo (peer);
        const char *host = g_smtp_peer_get_host (peer);
        g_autoptr(GDateTime) now = g_date_time_new_now_local ();
        g_autofree char *date = g_mime_utils_header_format_date (now);

        g_string_append (out, helo != NULL && *helo != '\0' ? helo : "unknown");
        if (g_smtp_peer_get_address (peer) != NULL &&
            G_IS_INET_SOCKET_ADDRESS (g_smtp_peer_get_address (peer))) {
                GInetAddress *ia = g_inet_socket_address_get_address (
                        G_INET_SOCKET_ADDRESS (g_smtp_peer_get_address (peer)));
                /* RFC 5321 4.1.3: IPv6 literals carry the "IPv6:" tag */
                if (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6)
                        g_string_append_printf (out, " ([IPv6:%s])", host);
                else
                        g_string_append_printf (out, " ([%s])", host);
        }
        g_string_append_printf (out, " by %s (gsmtp) with %s", hostname,
                                g_smtp_peer_get_protocol (peer));
        if (g_smtp_peer_get_tls (peer) && g_smtp_peer_get_tls_version (peer) != NULL)
                g_string_append_printf (out, " (%s with cipher %s)",
                                        g_smtp_peer_get_tls_version (peer),
                                        g_smtp_peer_get_tls_cipher (peer) != NULL
                                                ? g_smtp_peer_get_tls_cipher (peer) : "unknown");
        g_string_append_printf (out, " id %s", g_smtp_peer_get_session_id (peer));
        if (recipients != NULL && recipients[0] != NULL && recipients[1] == NULL)
                g_string_append_printf (out, " for <%s>", recipients[0]);
        g_string_append_printf (out, "; %s", date);
        return g_string_free (out, FALSE);
}

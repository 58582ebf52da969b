/* gsmtp-proxy.c — the PROXY protocol header.
 * Owns: recognising the header at the start of a connection and the addresses
 * it gives.  Pure (bytes in, addresses out); fuzzed.
 * Not: reading it from the socket, the per-address limit (gsmtp-connection.c).
 * HAProxy's proxy-protocol.txt, 2.1 (the human-readable v1). */
#include "config.h"
#include "gsmtp-proxy.h"

#include <string.h>

void
gsmtp_proxy_header_clear (GSmtpProxyHeader *header)
{
        g_clear_object (&header->remote);
        g_clear_object (&header->local);
        header->length = 0;
}

/* "PROXY TCP4|TCP6 src dst sport dport" or "PROXY UNKNOWN ...", CRLF-ended. */
static GSmtpProxyStatus
proxy_parse_v1 (const char *line, GSmtpProxyHeader *out)
{
        g_auto(GStrv) f = g_strsplit (line, " ", -1);
        g_autoptr(GInetAddress) src = NULL, dst = NULL;
        guint64 sport, dport;
        GSocketFamily family;

        if (g_strv_length (f) < 2 || !g_str_equal (f[0], "PROXY"))
                return GSMTP_PROXY_INVALID;
        if (g_str_equal (f[1], "UNKNOWN"))
                return GSMTP_PROXY_OK;  /* the proxy does not know: keep the real peer */
        if (g_strv_length (f) != 6)
                return GSMTP_PROXY_INVALID;
        if (g_str_equal (f[1], "TCP4"))
                family = G_SOCKET_FAMILY_IPV4;
        else if (g_str_equal (f[1], "TCP6"))
                family = G_SOCKET_FAMILY_IPV6;
        else
                return GSMTP_PROXY_INVALID;
        src = g_inet_address_new_from_string (f[2]);
        dst = g_inet_address_new_from_string (f[3]);
        if (src == NULL || dst == NULL || g_inet_address_get_family (src) != family ||
            g_inet_address_get_family (dst) != family ||
            !g_ascii_string_to_unsigned (f[4], 10, 0, 65535, &sport, NULL) ||
            !g_ascii_string_to_unsigned (f[5], 10, 0, 65535, &dport, NULL))
                return GSMTP_PROXY_INVALID;
        out->remote = g_inet_socket_address_new (src, sport);
        out->local = g_inet_socket_address_new (dst, dport);
        return GSMTP_PROXY_OK;
}

/* Looks at the first @len bytes the connection received.  On OK, @out says
 * how long the header was and what addresses it gave. */
GSmtpProxyStatus
gsmtp_proxy_parse (const guint8 *data, gsize len, GSmtpProxyHeader *out)
{
        static const char v1[] = "PROXY ";
        const guint8 *lf;
        g_autofree char *line = NULL;
        GSmtpProxyStatus status;

        memset (out, 0, sizeof *out);
        if (memcmp (data, v1, MIN (len, sizeof v1 - 1)) != 0)
                return GSMTP_PROXY_INVALID;
        lf = memchr (data, '\n', MIN (len, GSMTP_PROXY_HEADER_MAX - 1));
        if (lf == NULL)
                return len >= GSMTP_PROXY_HEADER_MAX - 1 ? GSMTP_PROXY_INVALID : GSMTP_PROXY_NEED_MORE;
        if (lf == data || lf[-1] != '\r')
                return GSMTP_PROXY_INVALID;
        line = g_strndup ((const char *) data, lf - 1 - data);
        if (strlen (line) != (gsize) (lf - 1 - data))
                return GSMTP_PROXY_INVALID;     /* a NUL inside */
        status = proxy_parse_v1 (line, out);
        if (status != GSMTP_PROXY_OK) {
                gsmtp_proxy_header_clear (out);
                return status;
        }
        out->length = lf + 1 - data;
        return GSMTP_PROXY_OK;
}

/* gsmtp-proxy.c — the PROXY protocol header.
 * Owns: recognising the header at the start of a connection, v1 (text) or v2
 * (binary) as its first byte says, and what it gives: addresses, and from v2's
 * TLVs the client's TLS facts, the authority (SNI), a checked CRC32C.  Pure
 * (bytes in, facts out); fuzzed.
 * Not: reading it from the socket, the per-address limit (gsmtp-connection.c);
 * what the peer shows of it (gsmtp-peer.c).
 * HAProxy's proxy-protocol.txt, 2.1 (v1) and 2.2 (v2); RFC 4960 appendix B (CRC32C). */
#include "config.h"
#include "gsmtp-proxy.h"

#include <string.h>

/* proxy-protocol.txt 2.2: the v2 signature, its NUL included */
static const guint8 v2_signature[12] = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};
#define V2_FIXED        16      /* signature, version/command, family, length */

/* the TLV types gsmtp reads; the others (ALPN, NOOP, UNIQUE_ID, NETNS,
 * custom) are skipped */
#define PP2_TYPE_AUTHORITY      0x02
#define PP2_TYPE_CRC32C         0x03
#define PP2_TYPE_SSL            0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN      0x22
#define PP2_SUBTYPE_SSL_CIPHER  0x23
#define PP2_SUBTYPE_SSL_SIG_ALG 0x24
#define PP2_SUBTYPE_SSL_KEY_ALG 0x25

void
gsmtp_proxy_header_clear (GSmtpProxyHeader *header)
{
        g_clear_object (&header->remote);
        g_clear_object (&header->local);
        g_clear_pointer (&header->tls.version, g_free);
        g_clear_pointer (&header->tls.cipher, g_free);
        g_clear_pointer (&header->tls.cn, g_free);
        g_clear_pointer (&header->tls.sig_alg, g_free);
        g_clear_pointer (&header->tls.key_alg, g_free);
        g_clear_pointer (&header->authority, g_free);
        memset (header, 0, sizeof *header);
}

/* ---- v1 ------------------------------------------------------------------------ */

/* "PROXY TCP4|TCP6 src dst sport dport" or "PROXY UNKNOWN ...", CRLF-ended. */
static GSmtpProxyStatus
proxy_parse_v1_line (const char *line, GSmtpProxyHeader *out)
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

static GSmtpProxyStatus
proxy_parse_v1 (const guint8 *data, gsize len, GSmtpProxyHeader *out)
{
        static const char v1[] = "PROXY ";
        const guint8 *lf;
        g_autofree char *line = NULL;
        GSmtpProxyStatus status;

        if (memcmp (data, v1, MIN (len, sizeof v1 - 1)) != 0)
                return GSMTP_PROXY_INVALID;
        lf = memchr (data, '\n', MIN (len, GSMTP_PROXY_V1_MAX));
        if (lf == NULL)
                return len >= GSMTP_PROXY_V1_MAX ? GSMTP_PROXY_INVALID : GSMTP_PROXY_NEED_MORE;
        if (lf == data || lf[-1] != '\r')
                return GSMTP_PROXY_INVALID;
        line = g_strndup ((const char *) data, lf - 1 - data);
        if (strlen (line) != (gsize) (lf - 1 - data))
                return GSMTP_PROXY_INVALID;     /* a NUL inside */
        status = proxy_parse_v1_line (line, out);
        if (status == GSMTP_PROXY_OK) {
                out->version = 1;
                out->length = lf + 1 - data;
        }
        return status;
}

/* ---- v2 ------------------------------------------------------------------------ */

static guint32
crc32c_update (guint32 crc, const guint8 *data, gsize len)
{
        /* bitwise, reflected polynomial 0x1EDC6F41: a header is at most 2 KiB */
        for (gsize i = 0; i < len; i++) {
                crc ^= data[i];
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        }
        return crc;
}

guint32
gsmtp_proxy_crc32c (const guint8 *data, gsize len)
{
        return ~crc32c_update (0xFFFFFFFFu, data, len);
}

static guint
proxy_read_be16 (const guint8 *p)
{
        return (guint) p[0] << 8 | p[1];
}

static guint32
proxy_read_be32 (const guint8 *p)
{
        return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

/* A name the proxy passes on (version, cipher, algorithm): printable ASCII
 * without space, parentheses or backslash, so that it sits in a Received
 * comment as it is.  NULL when it is anything else. */
static char *
proxy_take_token (const guint8 *value, gsize len)
{
        if (len == 0)
                return NULL;
        for (gsize i = 0; i < len; i++)
                if (value[i] <= 0x20 || value[i] >= 0x7F || value[i] == '(' || value[i] == ')' ||
                    value[i] == '\\')
                        return NULL;
        return g_strndup ((const char *) value, len);
}

/* Text the client chose (a certificate's CN, the SNI): UTF-8 without control
 * characters, C0, DEL or C1.  NULL when it is anything else. */
static char *
proxy_take_text (const guint8 *value, gsize len)
{
        const char *s = (const char *) value;

        if (len == 0 || !g_utf8_validate_len (s, len, NULL))
                return NULL;
        for (const char *p = s; p < s + len; p = g_utf8_next_char (p)) {
                gunichar c = g_utf8_get_char (p);

                if (c < 0x20 || (c >= 0x7F && c < 0xA0))
                        return NULL;
        }
        return g_strndup (s, len);
}

/* Walks the TLVs in @data[0, @len): each must fit inside, to the last byte.
 * Calls @visit for each; stops at the first that is refused. */
typedef gboolean (*TlvVisit) (guint8 type, const guint8 *value, gsize len, gsize offset, gpointer data);

static gboolean
proxy_walk_tlvs (const guint8 *data, gsize len, TlvVisit visit, gpointer visit_data)
{
        gsize pos = 0;

        while (pos < len) {
                gsize vlen;

                if (len - pos < 3)
                        return FALSE;           /* a TLV's own header cut short */
                vlen = proxy_read_be16 (data + pos + 1);
                if (vlen > len - pos - 3)
                        return FALSE;           /* runs past its container */
                if (!visit (data[pos], data + pos + 3, vlen, pos + 3, visit_data))
                        return FALSE;
                pos += 3 + vlen;
        }
        return TRUE;
}

/* Each subtype at most once: two versions or two CNs are no answer. */
static gboolean
proxy_visit_ssl (guint8 type, const guint8 *value, gsize len, gsize offset, gpointer data)
{
        GSmtpProxyTls *tls = data;
        char **slot;
        gboolean token = TRUE;

        switch (type) {
        case PP2_SUBTYPE_SSL_VERSION: slot = &tls->version; break;
        case PP2_SUBTYPE_SSL_CIPHER:  slot = &tls->cipher; break;
        case PP2_SUBTYPE_SSL_SIG_ALG: slot = &tls->sig_alg; break;
        case PP2_SUBTYPE_SSL_KEY_ALG: slot = &tls->key_alg; break;
        case PP2_SUBTYPE_SSL_CN:      slot = &tls->cn; token = FALSE; break;
        default:
                return TRUE;
        }
        if (*slot != NULL)
                return FALSE;
        *slot = token ? proxy_take_token (value, len) : proxy_take_text (value, len);
        /* a dropped value still counts as seen */
        if (*slot == NULL)
                *slot = g_strdup ("");
        return TRUE;
}

static void
proxy_drop_empty (char **s)
{
        if (*s != NULL && **s == '\0')
                g_clear_pointer (s, g_free);
}

typedef struct {
        GSmtpProxyHeader *out;
        gsize             crc_at;       /* offset of the CRC32C value in the TLV area; 0: none */
        gboolean          seen_authority;
} TlvState;

static gboolean
proxy_visit_tlv (guint8 type, const guint8 *value, gsize len, gsize offset, gpointer data)
{
        TlvState *st = data;

        switch (type) {
        case PP2_TYPE_AUTHORITY:
                if (st->seen_authority)
                        return FALSE;
                st->seen_authority = TRUE;
                st->out->authority = proxy_take_text (value, len);
                return TRUE;
        case PP2_TYPE_CRC32C:
                if (st->crc_at != 0 || len != 4)
                        return FALSE;
                st->crc_at = offset;
                return TRUE;
        case PP2_TYPE_SSL:
                /* struct pp2_tlv_ssl: client (1), verify (4), then sub-TLVs
                 * that must fit inside this value */
                if (st->out->has_tls || len < 5)
                        return FALSE;
                st->out->has_tls = TRUE;
                st->out->tls.client = value[0];
                st->out->tls.verify = proxy_read_be32 (value + 1);
                if (!proxy_walk_tlvs (value + 5, len - 5, proxy_visit_ssl, &st->out->tls))
                        return FALSE;
                proxy_drop_empty (&st->out->tls.version);
                proxy_drop_empty (&st->out->tls.cipher);
                proxy_drop_empty (&st->out->tls.cn);
                proxy_drop_empty (&st->out->tls.sig_alg);
                proxy_drop_empty (&st->out->tls.key_alg);
                return TRUE;
        default:
                return TRUE;    /* ALPN, NOOP, UNIQUE_ID, NETNS, custom: not gsmtp's */
        }
}

/* The addresses of TCP over IPv4 or IPv6; @n is 4 or 16. */
static void
proxy_take_addresses (const guint8 *block, gsize n, GSmtpProxyHeader *out)
{
        g_autoptr(GInetAddress) src = g_inet_address_new_from_bytes (block, n == 4 ? G_SOCKET_FAMILY_IPV4
                                                                                  : G_SOCKET_FAMILY_IPV6);
        g_autoptr(GInetAddress) dst = g_inet_address_new_from_bytes (block + n, n == 4 ? G_SOCKET_FAMILY_IPV4
                                                                                       : G_SOCKET_FAMILY_IPV6);

        out->remote = g_inet_socket_address_new (src, proxy_read_be16 (block + 2 * n));
        out->local = g_inet_socket_address_new (dst, proxy_read_be16 (block + 2 * n + 2));
}

static GSmtpProxyStatus
proxy_parse_v2 (const guint8 *data, gsize len, GSmtpProxyHeader *out)
{
        gsize total, addr_len;
        TlvState st = { out, 0, FALSE };
        guint8 family;

        /* Each byte is judged as soon as it comes, so a stranger is dropped
         * without waiting for the rest. */
        if (memcmp (data, v2_signature, MIN (len, sizeof v2_signature)) != 0)
                return GSMTP_PROXY_INVALID;
        /* version 2; command LOCAL (0) or PROXY (1), nothing else */
        if (len > 12 && (data[12] & 0xF0) != 0x20)
                return GSMTP_PROXY_INVALID;
        if (len > 12 && (data[12] & 0x0F) > 1)
                return GSMTP_PROXY_INVALID;
        /* the family byte: for PROXY one of the seven combinations of 2.2 */
        family = len > 13 ? data[13] : 0;
        if (len > 13 && (data[12] & 0x0F) == 1 && family != 0x00 && family != 0x11 && family != 0x12 &&
            family != 0x21 && family != 0x22 && family != 0x31 && family != 0x32)
                return GSMTP_PROXY_INVALID;
        if (len < V2_FIXED)
                return GSMTP_PROXY_NEED_MORE;
        total = V2_FIXED + proxy_read_be16 (data + 14);
        if (total > GSMTP_PROXY_HEADER_MAX)
                return GSMTP_PROXY_INVALID;     /* refused at once, not waited for */
        if (len < total)
                return GSMTP_PROXY_NEED_MORE;
        out->version = 2;
        out->length = total;
        if ((data[12] & 0x0F) == 0) {
                /* LOCAL: the proxy's own connection (a health check); the
                 * block, family included, is skipped unread (2.2) */
                out->local_command = TRUE;
                return GSMTP_PROXY_OK;
        }
        switch (family) {
        case 0x00:
                addr_len = 0;   /* UNSPEC: keep the socket's addresses */
                break;
        case 0x11:
                addr_len = 12;
                break;
        case 0x21:
                addr_len = 36;
                break;
        case 0x31:
                /* UNIX stream: a path is no address to count or judge a client
                 * by; the socket's (the proxy's) is kept, as for UNSPEC */
                addr_len = 216;
                break;
        case 0x12:
        case 0x22:
        case 0x32:
        default:
                /* UDP, UNIX datagram: SMTP is a stream, so a datagram's source
                 * is no client of this connection; a proxy that says so is
                 * misconfigured */
                return GSMTP_PROXY_INVALID;
        }
        if (V2_FIXED + addr_len > total)
                return GSMTP_PROXY_INVALID;     /* the block is shorter than its family */
        if (family == 0x11)
                proxy_take_addresses (data + V2_FIXED, 4, out);
        else if (family == 0x21)
                proxy_take_addresses (data + V2_FIXED, 16, out);
        /* the TLVs fill the rest exactly; every length nests inside it */
        if (!proxy_walk_tlvs (data + V2_FIXED + addr_len, total - V2_FIXED - addr_len, proxy_visit_tlv, &st))
                return GSMTP_PROXY_INVALID;
        if (st.crc_at != 0) {
                /* 2.2.3: the checksum of the whole header, its own field as zeros */
                static const guint8 zeros[4];
                gsize at = V2_FIXED + addr_len + st.crc_at;
                guint32 crc = 0xFFFFFFFFu;

                crc = crc32c_update (crc, data, at);
                crc = crc32c_update (crc, zeros, 4);
                crc = crc32c_update (crc, data + at + 4, total - at - 4);
                if (~crc != proxy_read_be32 (data + at))
                        return GSMTP_PROXY_INVALID;
                out->crc32c_checked = TRUE;
        }
        return GSMTP_PROXY_OK;
}

/* Looks at the first @len bytes the connection received.  On OK, @out says
 * how long the header was and what it gave; otherwise @out is empty.  The
 * first byte tells the version: '\r' begins v2's signature, 'P' v1's. */
GSmtpProxyStatus
gsmtp_proxy_parse (const guint8 *data, gsize len, GSmtpProxyHeader *out)
{
        GSmtpProxyStatus status;

        memset (out, 0, sizeof *out);
        if (len == 0)
                return GSMTP_PROXY_NEED_MORE;
        if (data[0] == v2_signature[0])
                status = proxy_parse_v2 (data, len, out);
        else
                status = proxy_parse_v1 (data, len, out);
        if (status != GSMTP_PROXY_OK)
                gsmtp_proxy_header_clear (out);
        return status;
}

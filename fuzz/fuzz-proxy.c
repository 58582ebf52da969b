/* fuzz-proxy.c — the PROXY protocol header parser, v1 and v2.  Invariants: a
 * header found is no longer than the bytes given nor than the bound; the same
 * header, with the same facts, is found in just its own bytes; every shorter
 * prefix of it asks for more (so the connection, which reads it piece by
 * piece, finds it whatever the packet split); a TCP header gives both
 * addresses; LOCAL gives none; what the TLVs give is clean text; a refusal
 * leaves nothing behind. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-proxy.h"

#include <stdlib.h>
#include <string.h>

static gboolean
clean_text (const char *s, gboolean token)
{
        if (s == NULL)
                return TRUE;
        if (*s == '\0' || !g_utf8_validate (s, -1, NULL))
                return FALSE;
        for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p)) {
                gunichar c = g_utf8_get_char (p);

                if (c < 0x20 || (c >= 0x7F && c < 0xA0))
                        return FALSE;
                if (token && (c == ' ' || c == '(' || c == ')' || c == '\\' || c >= 0x7F))
                        return FALSE;
        }
        return TRUE;
}

static gboolean
same_address (GSocketAddress *a, GSocketAddress *b)
{
        g_autofree char *ta = NULL, *tb = NULL;

        if (a == NULL || b == NULL)
                return a == b;
        ta = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (a));
        tb = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (b));
        return g_str_equal (ta, tb);
}

static gboolean
same_header (const GSmtpProxyHeader *a, const GSmtpProxyHeader *b)
{
        return a->length == b->length && a->version == b->version && a->local_command == b->local_command &&
               same_address (a->remote, b->remote) && same_address (a->local, b->local) &&
               a->has_tls == b->has_tls && a->tls.client == b->tls.client && a->tls.verify == b->tls.verify &&
               g_strcmp0 (a->tls.version, b->tls.version) == 0 && g_strcmp0 (a->tls.cipher, b->tls.cipher) == 0 &&
               g_strcmp0 (a->tls.cn, b->tls.cn) == 0 && g_strcmp0 (a->authority, b->authority) == 0 &&
               a->crc32c_checked == b->crc32c_checked;
}

FUZZ_ENTRY (proxy)
{
        static const GSmtpProxyHeader empty;
        GSmtpProxyHeader header, again;
        GSmtpProxyStatus status;

        status = gsmtp_proxy_parse (data, size, &header);
        FUZZ_CHECK (status == GSMTP_PROXY_OK || status == GSMTP_PROXY_NEED_MORE || status == GSMTP_PROXY_INVALID);
        if (status == GSMTP_PROXY_NEED_MORE)
                FUZZ_CHECK (size < GSMTP_PROXY_HEADER_MAX);
        if (status != GSMTP_PROXY_OK) {
                FUZZ_CHECK (memcmp (&header, &empty, sizeof header) == 0);
                return 0;
        }
        FUZZ_CHECK (header.length > 0 && header.length <= size && header.length <= GSMTP_PROXY_HEADER_MAX);
        FUZZ_CHECK (header.version == 1 || header.version == 2);
        if (header.version == 1) {
                FUZZ_CHECK (header.length <= GSMTP_PROXY_V1_MAX);
                FUZZ_CHECK (!header.has_tls && header.authority == NULL && !header.crc32c_checked);
        }
        FUZZ_CHECK ((header.remote == NULL) == (header.local == NULL));
        if (header.local_command)
                FUZZ_CHECK (header.remote == NULL && !header.has_tls && header.authority == NULL);
        if (!header.has_tls)
                FUZZ_CHECK (header.tls.version == NULL && header.tls.cipher == NULL && header.tls.cn == NULL);
        FUZZ_CHECK (clean_text (header.tls.version, TRUE) && clean_text (header.tls.cipher, TRUE) &&
                    clean_text (header.tls.sig_alg, TRUE) && clean_text (header.tls.key_alg, TRUE));
        FUZZ_CHECK (clean_text (header.tls.cn, FALSE) && clean_text (header.authority, FALSE));

        FUZZ_CHECK (gsmtp_proxy_parse (data, header.length, &again) == GSMTP_PROXY_OK);
        FUZZ_CHECK (same_header (&header, &again));
        gsmtp_proxy_header_clear (&again);
        for (gsize k = 0; k < header.length; k++)
                FUZZ_CHECK (gsmtp_proxy_parse (data, k, &again) == GSMTP_PROXY_NEED_MORE);
        gsmtp_proxy_header_clear (&header);
        return 0;
}

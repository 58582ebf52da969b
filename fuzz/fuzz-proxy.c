/* fuzz-proxy.c — the PROXY protocol header parser.  Invariants: a header found
 * is no longer than the bytes given; the same header is found in just its own
 * bytes; every shorter prefix of it asks for more (so the connection, which
 * reads it piece by piece, finds it whatever the packet split); a TCP header
 * gives both addresses. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-proxy.h"

#include <stdlib.h>

FUZZ_ENTRY (proxy)
{
        GSmtpProxyHeader header, again;
        GSmtpProxyStatus status;

        status = gsmtp_proxy_parse (data, size, &header);
        FUZZ_CHECK (status == GSMTP_PROXY_OK || status == GSMTP_PROXY_NEED_MORE || status == GSMTP_PROXY_INVALID);
        if (status == GSMTP_PROXY_NEED_MORE)
                FUZZ_CHECK (size < GSMTP_PROXY_HEADER_MAX);
        if (status != GSMTP_PROXY_OK)
                return 0;
        FUZZ_CHECK (header.length > 0 && header.length <= size);
        FUZZ_CHECK ((header.remote == NULL) == (header.local == NULL));
        FUZZ_CHECK (gsmtp_proxy_parse (data, header.length, &again) == GSMTP_PROXY_OK);
        FUZZ_CHECK (again.length == header.length);
        gsmtp_proxy_header_clear (&again);
        for (gsize k = 0; k < header.length; k++)
                FUZZ_CHECK (gsmtp_proxy_parse (data, k, &again) == GSMTP_PROXY_NEED_MORE);
        gsmtp_proxy_header_clear (&header);
        return 0;
}

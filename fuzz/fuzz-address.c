/* fuzz-address.c — mailboxes (UTF-8 ones too) and domain patterns. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-address.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY (address)
{
        g_autofree char *s = g_strndup ((const char *) data, size);
        g_autofree char *local = NULL, *domain = NULL;

        if (gsmtp_address_parse (s, &local, &domain)) {
                FUZZ_CHECK (strlen (local) <= GSMTP_LOCAL_PART_MAX);
                FUZZ_CHECK (gsmtp_domain_is_valid (domain));
                FUZZ_CHECK (gsmtp_domain_matches ("*", domain));
                FUZZ_CHECK (gsmtp_domain_matches (domain, domain));
                /* well-formed UTF-8 (RFC 6531), no C0, DEL or C1 control */
                FUZZ_CHECK (g_utf8_validate (s, -1, NULL));
                for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p)) {
                        gunichar c = g_utf8_get_char (p);

                        FUZZ_CHECK (c >= 32 && c != 127 && !(c >= 0x80 && c <= 0x9f));
                }
                /* a U-label domain has its A-label form, and it is ASCII */
                {
                        g_autofree char *canonical = gsmtp_domain_canonical (domain);

                        FUZZ_CHECK (canonical != NULL && g_str_is_ascii (canonical));
                }
        }
        if (gsmtp_domain_pattern_is_valid (s))
                (void) gsmtp_domain_matches (s, "a.example.org");
        return 0;
}

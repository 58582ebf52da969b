/* fuzz-address.c — mailboxes and domain patterns. */
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
                for (const char *p = s; *p != '\0'; p++)
                        FUZZ_CHECK ((unsigned char) *p >= 32 && (unsigned char) *p < 127);
        }
        if (gsmtp_domain_pattern_is_valid (s))
                (void) gsmtp_domain_matches (s, "a.example.org");
        return 0;
}

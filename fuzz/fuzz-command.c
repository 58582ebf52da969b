/* fuzz-command.c — command lines: verb split, MAIL/RCPT paths, ESMTP parameters. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-command.h"
#include "gsmtp-address.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY (command)
{
        g_autofree char *line = g_strndup ((const char *) data, size);  /* stops at NUL, as the session does */
        GSmtpCommand cmd;

        if (gsmtp_command_split (line, &cmd)) {
                FUZZ_CHECK (strlen (cmd.verb) > 0 && strlen (cmd.verb) < GSMTP_VERB_MAX);
                for (const char *p = cmd.verb; *p != '\0'; p++)
                        FUZZ_CHECK (g_ascii_isupper (*p));
        }
        for (int is_mail = 0; is_mail < 2; is_mail++) {
                g_autofree char *path = NULL;
                g_autoptr(GHashTable) params = NULL;

                if (gsmtp_command_parse_path (line, is_mail ? "FROM:" : "TO:", is_mail, &path, &params) ==
                    GSMTP_PATH_OK) {
                        /* what is accepted is a mailbox (or <> / <postmaster>) and parameters are clean */
                        FUZZ_CHECK (path[0] == '\0' || g_ascii_strcasecmp (path, "postmaster") == 0 ||
                                    gsmtp_address_parse (path, NULL, NULL));
                        FUZZ_CHECK (params != NULL);
                        FUZZ_CHECK (strlen (path) <= GSMTP_PATH_MAX);
                }
        }
        (void) gsmtp_command_is_http (line);
        return 0;
}

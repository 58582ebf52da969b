/* fuzz-command.c — command lines: verb split, MAIL/RCPT paths, ESMTP
 * parameters and what the SMTPUTF8, DSN and REQUIRETLS ones mean
 * (gsmtp-esmtp-params.c): a refusal is 501, 530 or 555; what passes is clean. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-command.h"
#include "gsmtp-address.h"
#include "gsmtp-esmtp-params.h"

#include <stdlib.h>
#include <string.h>

static gboolean
is_printable_ascii (const char *s)
{
        for (; *s != '\0'; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
                        return FALSE;
        return TRUE;
}

static void
check_refusal (GSmtpReply *refusal)
{
        guint code = g_smtp_reply_get_code (refusal);

        FUZZ_CHECK (code == 501 || code == 530 || code == 555);
        g_smtp_reply_unref (refusal);
}

static void
check_meaning (GHashTable *params)
{
        for (int flag = 0; flag < 2; flag++) {
                g_auto(GSmtpMailParams) mail = { 0 };
                g_auto(GSmtpRcptParams) rcpt = { 0 };
                GSmtpReply *refusal;

                refusal = gsmtp_esmtp_parse_mail (params, flag, &mail);
                if (refusal != NULL) {
                        check_refusal (refusal);
                } else {
                        FUZZ_CHECK (!mail.requiretls || flag);
                        FUZZ_CHECK (mail.envid == NULL ||
                                    (is_printable_ascii (mail.envid) && strlen (mail.envid) <= GSMTP_ENVID_MAX));
                }
                refusal = gsmtp_esmtp_parse_rcpt (params, flag, &rcpt);
                if (refusal != NULL) {
                        check_refusal (refusal);
                        continue;
                }
                FUZZ_CHECK (!(rcpt.notify & GSMTP_DSN_NOTIFY_NEVER) || rcpt.notify == GSMTP_DSN_NOTIFY_NEVER);
                if (rcpt.orcpt != NULL) {
                        FUZZ_CHECK (strchr (rcpt.orcpt, ';') != NULL);
                        FUZZ_CHECK (g_utf8_validate (rcpt.orcpt, -1, NULL));
                        FUZZ_CHECK (flag || g_str_has_prefix (rcpt.orcpt, "utf-8;") ||
                                    is_printable_ascii (rcpt.orcpt));
                }
        }
}

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
                        check_meaning (params);
                }
        }
        (void) gsmtp_command_is_http (line);
        return 0;
}

/* gsmtp-command.h — the command-line tokenizer (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GSMTP_VERB_MAX 16

typedef struct {
        char        verb[GSMTP_VERB_MAX]; /* upper case; "" when the line has no verb */
        const char *args;                 /* (unowned): the rest of the line after one space */
} GSmtpCommand;

typedef enum {
        GSMTP_PATH_OK,
        GSMTP_PATH_SYNTAX,              /* 501 5.5.2 / 5.5.4 */
        GSMTP_PATH_BAD_ADDRESS,         /* 501 5.1.3 (RCPT) / 5.1.7 (MAIL) */
        GSMTP_PATH_BAD_PARAMETER,       /* 501 5.5.4 */
} GSmtpPathStatus;

gboolean        gsmtp_command_split      (const char *line, GSmtpCommand *cmd);
GSmtpPathStatus gsmtp_command_parse_path (const char *args, const char *keyword,
                                          gboolean is_mail, char **out_path,
                                          GHashTable **out_params);
gboolean        gsmtp_command_is_http    (const char *line);
gboolean        gsmtp_command_keyword_is_valid (const char *k, gsize len);

G_END_DECLS

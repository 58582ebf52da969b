/* gsmtp-client-private.h — what the client's files share (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

/* gsmtp-send-result.c */
GSmtpSendResult *gsmtp_send_result_new (void);
void gsmtp_send_result_add_recipient (GSmtpSendResult *self, const char *recipient, GSmtpReply *reply);
void gsmtp_send_result_set_reply (GSmtpSendResult *self, GSmtpReply *reply);
void gsmtp_send_result_set_size (GSmtpSendResult *self, guint64 size);
void gsmtp_send_result_seal (GSmtpSendResult *self);
guint gsmtp_send_result_count_refused (GSmtpSendResult *self);

/* gsmtp-send-options.c: the parameters, checked and formatted once, at the call */
typedef struct {
        char          *mail_params;     /* (owned): " RET=FULL ENVID=..." and the application's */
        GHashTable    *rcpt_params;     /* (owned) (nullable): address key → " NOTIFY=... ORCPT=..." */
        GSmtpBodyType  body;
        gboolean       dsn;             /* DSN parameters are used: the server must offer DSN */
        gboolean       requiretls;
        gboolean       needs_utf8;      /* a parameter value is not ASCII */
} GSmtpSendParams;

GSmtpSendParams *gsmtp_send_options_freeze (GSmtpSendOptions *self, const char *const *recipients);
void gsmtp_send_params_free (GSmtpSendParams *params);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GSmtpSendParams, gsmtp_send_params_free)

/* gsmtp-client-mime.c: a GMime message's envelope and its bytes to send */
GBytes *gsmtp_client_mime_prepare (GMimeMessage *message, const char *sender, const char *const *recipients,
                                   char **out_sender, GStrv *out_recipients);

G_END_DECLS

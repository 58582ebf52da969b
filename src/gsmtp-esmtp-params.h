/* gsmtp-esmtp-params.h — what the MAIL and RCPT parameters of SMTPUTF8, DSN
 * and REQUIRETLS mean (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

/* The RFC 3461 4 limits: the MAIL line grows by at most 100 characters for
 * RET and ENVID, RCPT by at most 500 for NOTIFY and ORCPT. */
#define GSMTP_ENVID_MAX 100
#define GSMTP_ORCPT_MAX 500

/* (typedefs in gsmtp-private.h, for the envelope) */
struct _GSmtpMailParams {
        gboolean     smtputf8;          /* RFC 6531 */
        gboolean     requiretls;        /* RFC 8689 */
        GSmtpDsnRet  ret;               /* RFC 3461 4.3 */
        char        *envid;             /* (owned) (nullable): RFC 3461 4.4, decoded */
};

struct _GSmtpRcptParams {
        GSmtpDsnNotify notify;          /* RFC 3461 4.1 */
        char          *orcpt;           /* (owned) (nullable): "addr-type;address", decoded */
};

gboolean    gsmtp_esmtp_is_mail_param   (const char *keyword);
GSmtpReply *gsmtp_esmtp_parse_mail      (GHashTable *params, gboolean tls_active,
                                         GSmtpMailParams *out);
GSmtpReply *gsmtp_esmtp_parse_rcpt      (GHashTable *params, gboolean smtputf8,
                                         GSmtpRcptParams *out);
void        gsmtp_mail_params_clear     (GSmtpMailParams *params);
void        gsmtp_rcpt_params_clear     (GSmtpRcptParams *params);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GSmtpMailParams, gsmtp_mail_params_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GSmtpRcptParams, gsmtp_rcpt_params_clear)

G_END_DECLS

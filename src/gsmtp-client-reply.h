/* gsmtp-client-reply.h — finds whole server replies in received bytes (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* smtplib's _MAXLINE; RFC 5321 4.5.3.1.5 says 512, real servers send more. */
#define GSMTP_REPLY_LINE_MAX  8192
/* One reply, all its lines: bounds what a hostile server makes us buffer. */
#define GSMTP_REPLY_MAX       (256 * 1024)

typedef struct {
        gsize scanned;          /* bytes of whole lines already checked */
        guint code;             /* of the first line; 0 before it */
} GSmtpReplyFramer;

typedef enum {
        GSMTP_FRAME_MORE,       /* no whole reply yet: read more, call again */
        GSMTP_FRAME_REPLY,      /* a whole reply is in the first *length bytes */
        GSMTP_FRAME_ERROR,      /* not an SMTP reply: error is set */
} GSmtpFrameStatus;

void             gsmtp_reply_framer_reset (GSmtpReplyFramer *self);
GSmtpFrameStatus gsmtp_reply_framer_scan  (GSmtpReplyFramer *self, const guint8 *buf, gsize len,
                                           gsize *length, GError **error);

G_END_DECLS

/* gsmtp-message-parser.h — parses messages in worker threads, before the
 * DATA stage is asked (internal). */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-mime-limits.h"

G_BEGIN_DECLS

typedef struct _GSmtpParseJob GSmtpParseJob;

/* Called on @context (the server's) once the message is parsed. */
typedef void (*GSmtpParseDone) (gpointer user_data);

GSmtpParseJob *gsmtp_parse_job_start   (GSmtpEnvelope *envelope, const GSmtpMimeLimits *limits,
                                        gboolean in_pool, GMainContext *context,
                                        GSmtpParseDone done, gpointer user_data);
void           gsmtp_parse_job_release (GSmtpParseJob *job);
void           gsmtp_parse_free_message (GMimeMessage *message, guint64 free_cost, gsize size);

/* For tests: called in the worker thread as each job starts. */
typedef void (*GSmtpParseHook) (GSmtpEnvelope *envelope, gpointer data);
void           gsmtp_parse_set_test_hook (GSmtpParseHook hook, gpointer data);
void           gsmtp_parse_set_free_hook (GSmtpParseHook hook, gpointer data);

G_END_DECLS

/* session-fixture.h — one session fed bytes directly (no sockets), with the
 * server it belongs to: the fixture of the protocol tests. */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-session.h"

typedef struct {
        GSmtpServer  *server;
        GSmtpPeer    *peer;
        GSmtpSession *session;
        GPtrArray    *messages;         /* GSmtpEnvelope, one per DATA stage */
        GSmtpStage   *deferred;         /* (nullable): a stage a handler kept */
        gboolean      defer;            /* the DATA handler defers into @deferred */
        guint         wakeups;
} SessionFx;

void  session_fx_setup    (SessionFx *fx, gconstpointer unused);
void  session_fx_teardown (SessionFx *fx, gconstpointer unused);
void  session_fx_start    (SessionFx *fx);
void  session_fx_start_full (SessionFx *fx, gboolean implicit_tls);
void  session_fx_complete (SessionFx *fx, GSmtpStage *stage, GSmtpReply *reply);
char *session_fx_take     (SessionFx *fx);
void  session_fx_feed_len (SessionFx *fx, const char *bytes, gsize len);
void  session_fx_feed     (SessionFx *fx, const char *bytes);
void  session_fx_chat     (SessionFx *fx, const char *bytes, const char *expected);
void  session_fx_expect   (SessionFx *fx, const char *pattern);

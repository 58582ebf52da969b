/* gsmtp-session-lmtp.c — LMTP (RFC 2033) on a session.
 * Owns: LHLO's check, which RCPT maps to which recipient, and the replies
 * after the message: one per accepted RCPT, in order, each the application's
 * answer for that recipient (g_smtp_stage_set_recipient_reply()).
 * Not: the listener flag (gsmtp-server.c, gsmtp-connection.c, which mark the
 * peer), HELO/EHLO refused and the LMTP banner (gsmtp-session.c), reading
 * the message (DATA or BDAT, the same as in SMTP).
 * RFC 2033 4.1 (LHLO), 4.2 (DATA), RFC 3848 (LMTP protocol names). */
#include "config.h"
#include "gsmtp-session-private.h"

GSmtpReply *
gsmtp_session_check_lhlo (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        /* an SMTP session knows no LHLO */
        if (!self->lmtp)
                return g_smtp_reply_new (500, "5.5.2", "Command not recognized");
        /* RFC 2033 4.1: otherwise exactly EHLO (the row's proceed is EHLO's) */
        return gsmtp_session_check_hostname (self, args, out_stage);
}

/* An RCPT was accepted: remember which recipient it is, by its index in the
 * envelope.  The same mailbox named twice is one recipient (the message is
 * delivered once) but two RCPTs, and RFC 2033 4.2 wants a reply for each. */
void
gsmtp_session_lmtp_rcpt_added (GSmtpSession *self, guint index)
{
        if (self->lmtp_rcpts == NULL)
                self->lmtp_rcpts = g_array_new (FALSE, FALSE, sizeof (guint));
        g_array_append_vals (self->lmtp_rcpts, &(guint) { index }, 1);
}

/* Takes @reply.  3xx makes no sense after the data. */
static GSmtpReply *
lmtp_usable (GSmtpReply *reply)
{
        guint code = g_smtp_reply_get_code (reply);

        if (code >= 300 && code < 400) {
                g_warning ("gsmtp: DATA handler answered %u for a recipient; sending 451", code);
                g_smtp_reply_unref (reply);
                return g_smtp_reply_new (451, "4.3.0", NULL);
        }
        return reply;
}

/* The application answered the DATA stage: @reply (taken) for every
 * recipient it did not answer on its own.
 *
 * The message is the application's for the recipients that got 2xx, and the
 * client's (to retry, or to bounce) for the others.  So "message-accepted"
 * goes out once when at least one got 2xx, with an envelope that lists only
 * those: an observer that stores or forwards the message on that signal
 * never delivers it to a recipient the client will try again. */
void
gsmtp_session_lmtp_data_end (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply)
{
        GSmtpEnvelope *env = g_smtp_stage_get_envelope (stage);
        guint n = g_smtp_envelope_get_n_recipients (env);
        g_autoptr(GPtrArray) replies = g_ptr_array_new_full (n, (GDestroyNotify) g_smtp_reply_unref);
        g_autofree gboolean *accepted = g_new0 (gboolean, MAX (n, 1));
        guint n_accepted = 0;
        gboolean closes = FALSE;

        reply = lmtp_usable (reply);
        for (guint i = 0; i < n; i++) {
                GSmtpReply *r = gsmtp_stage_dup_recipient_reply (stage, i);

                r = r != NULL ? lmtp_usable (r) : g_smtp_reply_ref (reply);
                accepted[i] = g_smtp_reply_is_success (r);
                n_accepted += accepted[i];
                closes |= g_smtp_reply_get_code (r) == 421;
                g_ptr_array_add (replies, r);
        }
        if (n_accepted > 0) {
                g_autoptr(GSmtpEnvelope) some = NULL;

                self->n_accepted++;     /* one message, one queue id, however many recipients */
                self->n_junk = 0;
                for (guint i = 0; i < n; i++)
                        if (accepted[i])
                                replies->pdata[i] = gsmtp_session_queued_reply (self, replies->pdata[i]);
                if (n_accepted < n)
                        some = gsmtp_envelope_copy_for (env, accepted);
                gsmtp_session_notify_accepted (self, some != NULL ? some : env);
        }
        for (guint k = 0; self->lmtp_rcpts != NULL && k < self->lmtp_rcpts->len; k++) {
                GSmtpReply *r = replies->pdata[g_array_index (self->lmtp_rcpts, guint, k)];

                gsmtp_session_reply_uncounted (self, g_smtp_reply_ref (r),
                                               gsmtp_session_stage_enhanced (GSMTP_STAGE_DATA,
                                                                            g_smtp_reply_get_code (r)));
        }
        gsmtp_session_reset_transaction (self);
        /* as in SMTP: 421 closes; a message refused for all counts as one
         * error, unless the trouble was the server's (451, 454) */
        if (closes)
                gsmtp_session_close (self);
        else if (n_accepted == 0 && g_smtp_reply_get_code (reply) != 451 && g_smtp_reply_get_code (reply) != 454)
                gsmtp_session_count_error (self);
        g_smtp_reply_unref (reply);
}

/* gsmtp-session-auth.c — the AUTH command and its SASL exchange.
 * Owns: AUTH PLAIN and LOGIN on the server side (challenges, answers, the
 * AUTH stage), the failure delay and the failure limit.
 * Not: the base64 and SASL encodings (gsmtp-sasl.c); whether AUTH is offered
 * (gsmtp-session.c asks the host).  RFC 4954, RFC 4616 (PLAIN). */
#include "config.h"
#include "gsmtp-session-private.h"
#include "gsmtp-sasl.h"

typedef enum {
        AUTH_PLAIN,             /* waiting for the PLAIN response */
        AUTH_LOGIN_USER,        /* waiting for the LOGIN user name */
        AUTH_LOGIN_PASSWORD,    /* waiting for the LOGIN password */
} AuthStep;

/* Only while an exchange is open: an idle session holds none. */
struct _GSmtpSessionAuth {
        AuthStep step;
        char    *user;          /* (owned) (nullable): LOGIN's first answer; wiped */
};

void
gsmtp_session_auth_free (GSmtpSessionAuth *auth)
{
        if (auth == NULL)
                return;
        g_clear_pointer (&auth->user, gsmtp_sasl_wipe);
        g_free (auth);
}

/* Ends an open exchange without a reply: a cancel, a line too long, STARTTLS,
 * or the end of the session. */
void
gsmtp_session_auth_abort (GSmtpSession *self)
{
        g_clear_pointer (&self->auth, gsmtp_session_auth_free);
        if (self->state == SESSION_AUTH)
                gsmtp_session_enter_state (self, SESSION_IDLE);
}

GSmtpReply *
gsmtp_session_check_auth (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (self->authenticated)
                return g_smtp_reply_new (503, "5.5.1", "Already authenticated");
        if (self->host == NULL || !self->host->funcs->offers_auth (self->host))
                return g_smtp_reply_new (502, "5.5.1", "AUTH not available");
        if (!gsmtp_session_offers_auth (self))
                return g_smtp_reply_new (538, "5.7.11",
                                         "Encryption required for requested authentication mechanism");
        if (args[0] == '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
        return NULL;
}

static void
proceed_auth_stage (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                self->authenticated = TRUE;
                gsmtp_peer_set_username (gsmtp_session_edit_peer (self), g_smtp_stage_get_argument (stage));
                /* RFC 4954 6: 235 for success, whatever 2xx the application chose */
                g_smtp_reply_unref (reply);
                gsmtp_session_say (self, 235, "2.7.0", "Authentication successful");
                return;
        }
        if (g_smtp_reply_get_code (reply) == 421) {
                gsmtp_session_reply (self, reply, NULL);
                return;
        }
        self->n_auth_failures++;
        /* A failure is answered late, so guessing passwords is slow (Postfix
         * sleeps too); the session reads nothing meanwhile.  Past the limit,
         * 421 follows that answer. */
        gsmtp_session_delay_reply (self, reply, "5.7.8", self->limits.auth_failure_delay_ms,
                                   self->n_auth_failures >= self->limits.max_auth_failures
                                   ? g_smtp_reply_new (421, "4.7.0", "Too many authentication failures")
                                   : NULL);
}

/* Takes @user and @password. */
static void
auth_ask (GSmtpSession *self, char *user, char *password)
{
        GSmtpStage *stage = gsmtp_stage_new (GSMTP_STAGE_AUTH, self->peer, user, NULL, NULL);

        gsmtp_stage_set_password (stage, password);
        gsmtp_stage_set_default_reply (stage, g_smtp_reply_new (535, "5.7.8",
                                                                "Authentication credentials invalid"));
        gsmtp_sasl_wipe (password);
        g_free (user);
        gsmtp_session_auth_abort (self);
        gsmtp_session_ask (self, stage, proceed_auth_stage);
}

static void
auth_challenge (GSmtpSession *self, AuthStep step, const char *challenge)
{
        if (self->auth == NULL)
                self->auth = g_new0 (GSmtpSessionAuth, 1);
        self->auth->step = step;
        gsmtp_session_reply_plain (self, g_smtp_reply_new (334, NULL, challenge));
        gsmtp_session_enter_state (self, SESSION_AUTH);
}

static void
auth_syntax_error (GSmtpSession *self)
{
        gsmtp_session_auth_abort (self);
        gsmtp_session_say (self, 501, "5.5.2", "Cannot decode response");
}

void
gsmtp_session_proceed_auth (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        g_auto(GStrv) words = g_strsplit (args, " ", 3);
        const char *mech = words[0];
        const char *initial = words[0] != NULL ? words[1] : NULL;

        if (initial != NULL && words[2] != NULL) {
                gsmtp_session_say (self, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
                return;
        }
        if (initial != NULL && g_str_equal (initial, "="))
                initial = "";   /* RFC 4954 4: "=" is an empty initial response */

        if (g_ascii_strcasecmp (mech, "PLAIN") == 0) {
                char *user = NULL, *password = NULL;

                if (initial == NULL) {
                        auth_challenge (self, AUTH_PLAIN, "");
                        return;
                }
                if (!gsmtp_sasl_decode_plain (initial, &user, &password)) {
                        auth_syntax_error (self);
                        return;
                }
                auth_ask (self, user, password);
        } else if (g_ascii_strcasecmp (mech, "LOGIN") == 0) {
                char *user;

                if (initial == NULL) {
                        auth_challenge (self, AUTH_LOGIN_USER, "VXNlcm5hbWU6");
                        return;
                }
                user = gsmtp_sasl_decode_text (initial);
                if (user == NULL) {
                        auth_syntax_error (self);
                        return;
                }
                auth_challenge (self, AUTH_LOGIN_PASSWORD, "UGFzc3dvcmQ6");
                self->auth->user = user;
        } else {
                gsmtp_session_say (self, 504, "5.5.4", "Unrecognized authentication type");
        }
}

/* One line of the client's answers while the exchange is open. */
void
gsmtp_session_auth_line (GSmtpSession *self, const char *line)
{
        if (g_str_equal (line, "*")) {
                gsmtp_session_auth_abort (self);
                gsmtp_session_say (self, 501, "5.0.0", "Authentication cancelled");
                return;
        }
        if (self->auth == NULL) {
                auth_syntax_error (self);
                return;
        }
        switch (self->auth->step) {
        case AUTH_PLAIN: {
                char *user = NULL, *password = NULL;

                if (!gsmtp_sasl_decode_plain (line, &user, &password)) {
                        auth_syntax_error (self);
                        return;
                }
                auth_ask (self, user, password);
                break;
        }
        case AUTH_LOGIN_USER: {
                char *user = gsmtp_sasl_decode_text (line);

                if (user == NULL) {
                        auth_syntax_error (self);
                        return;
                }
                auth_challenge (self, AUTH_LOGIN_PASSWORD, "UGFzc3dvcmQ6");
                g_clear_pointer (&self->auth->user, gsmtp_sasl_wipe);
                self->auth->user = user;
                break;
        }
        case AUTH_LOGIN_PASSWORD: {
                char *password = gsmtp_sasl_decode_text (line);

                if (password == NULL) {
                        auth_syntax_error (self);
                        return;
                }
                auth_ask (self, g_steal_pointer (&self->auth->user), password);
                break;
        }
        default:
                auth_syntax_error (self);
                break;
        }
}

/* gsmtp-session.c — one SMTP session as a state machine: bytes in, replies out.
 * Owns: command dispatch (a table), the transaction, pipelining order, limits,
 * the AUTH dialogue, STARTTLS state resets, draining on stop.
 * Not: sockets, timers on sockets, TLS handshakes (gsmtp-connection.c); the
 * grammar of one line (gsmtp-command.c); message bytes (gsmtp-data-reader.c).
 * RFC 5321 (3, 4.1, 4.3.2, 4.5.3), RFC 2920 (PIPELINING), RFC 1870 (SIZE),
 * RFC 6152 (8BITMIME), RFC 2034/3463 (enhanced codes), RFC 3207 (STARTTLS),
 * RFC 4954 (AUTH). */
#include "config.h"
#include "gsmtp-session.h"
#include "gsmtp-server-private.h"
#include "gsmtp-command.h"
#include "gsmtp-address.h"
#include "gsmtp-data-reader.h"
#include "gsmtp-sasl.h"
#include "gsmtp-message-parser.h"

#include <string.h>

typedef enum {
        SESSION_BANNER,         /* the connect stage is being decided */
        SESSION_READY,          /* banner sent, no HELO yet (again after STARTTLS) */
        SESSION_IDLE,           /* greeted, no transaction */
        SESSION_MAIL,           /* MAIL accepted, no recipient yet */
        SESSION_RCPT,           /* at least one recipient */
        SESSION_DATA,           /* reading the message */
        SESSION_AUTH,           /* reading SASL responses */
        SESSION_CLOSED,
        SESSION_PROXY,          /* waiting for the PROXY protocol header */
} SessionState;

static const char *const state_names[] = {
        "BANNER", "READY", "IDLE", "MAIL", "RCPT", "DATA", "AUTH", "CLOSED", "PROXY",
};

typedef enum {
        AUTH_NONE,
        AUTH_PLAIN,             /* waiting for the PLAIN response */
        AUTH_LOGIN_USER,        /* waiting for the LOGIN user name */
        AUTH_LOGIN_PASSWORD,    /* waiting for the LOGIN password */
} AuthStep;

typedef struct _GSmtpSession GSmtpSession;
typedef GSmtpReply *(*CheckFunc) (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
typedef void (*ProceedFunc) (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                             const char *args);

struct _GSmtpSession {
        GSmtpServer        *server;     /* (unowned): a server's dispose ends its sessions first */
        const GSmtpLimits  *limits;     /* (unowned): the server's, live */
        GSmtpPeer          *peer;       /* (owned) */
        SessionState        state;

        gboolean            tls_active;
        gboolean            tls_pending;        /* 220 to STARTTLS queued; handshake next */
        gboolean            authenticated;
        gboolean            closing;
        gboolean            draining;           /* server stopping: 421 when idle */
        gboolean            close_after_stage;  /* forced stop while the DATA stage is out */
        gboolean            discarding_line;    /* inside an overlong command line */
        gboolean            in_process;
        gboolean            expect_proxy;       /* a PROXY header comes first */

        GByteArray         *in;         /* (owned) (nullable): received, not yet processed */
        GString            *out;        /* (owned): replies not yet handed to the socket */
        GString            *line;       /* (owned): the command line being handled */

        GSmtpEnvelope      *tx;         /* (owned) (nullable): the transaction */
        GSmtpDataReader    *reader;     /* (owned) (nullable): in SESSION_DATA */
        GSmtpStage         *pending;    /* (owned) (nullable): out to the application */
        ProceedFunc         pending_proceed;
        GSmtpParseJob      *parsing;    /* (owned) (nullable): the message, in the parsing pool */

        AuthStep            auth_step;
        char               *auth_user;  /* (owned) (nullable): LOGIN's first answer */
        guint               delay_id;   /* slows down failed AUTH */
        GSmtpReply         *delayed;    /* (owned) (nullable): the reply the delay holds */

        guint               n_errors;
        guint               n_auth_failures;
        guint               n_accepted;

        GSmtpSessionWakeup  wakeup;
        gpointer            wakeup_data;
};

static void session_process (GSmtpSession *self);

/* ---- output ---------------------------------------------------------------- */

static void
session_log (GSmtpSession *self, const char *dir, const char *text, gsize len)
{
        if (!self->limits->protocol_log)
                return;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                len--;
        g_log_structured ("gsmtp", G_LOG_LEVEL_INFO,
                          "GSMTP_SESSION", g_smtp_peer_get_session_id (self->peer),
                          "MESSAGE", "%s %s %.*s", g_smtp_peer_get_session_id (self->peer),
                          dir, (int) len, text);
}

static void session_close (GSmtpSession *self);

/* Every reply leaves through here, in order (Postfix's smtpd_chat_reply).
 * Takes @reply.  @enhanced is used when the reply has none of its own.
 *
 * Every refusal counts against the session's error budget, as Postfix's
 * smtpd_hard_error_limit counts them: past max-errors, 421 and close, so that a
 * client cannot go on forever with bad commands or refused recipients.  Not
 * counted: 421 (the session ends anyway) and the server's own trouble (451, 454). */
static void
session_reply (GSmtpSession *self, GSmtpReply *reply, const char *enhanced)
{
        gsize start = self->out->len;
        guint code = g_smtp_reply_get_code (reply);

        gsmtp_reply_format (reply, enhanced, TRUE, self->out);
        session_log (self, "S:", self->out->str + start, self->out->len - start);
        g_smtp_reply_unref (reply);
        if (code >= 400 && code != 421 && code != 451 && code != 454 && !self->closing &&
            ++self->n_errors >= self->limits->max_errors) {
                session_reply (self, g_smtp_reply_new (421, "4.7.0", "Too many errors, closing connection"),
                               NULL);
                session_close (self);
        }
}

static void
session_say (GSmtpSession *self, guint code, const char *enhanced, const char *text)
{
        session_reply (self, g_smtp_reply_new (code, enhanced, text), NULL);
}

/* The replies RFC 2034 3 keeps free of enhanced codes (greeting, EHLO) and the
 * SASL challenges, which have none; never counted as errors.  Takes @reply. */
static void
session_reply_plain (GSmtpSession *self, GSmtpReply *reply)
{
        gsize start = self->out->len;

        gsmtp_reply_format (reply, NULL, FALSE, self->out);
        session_log (self, "S:", self->out->str + start, self->out->len - start);
        g_smtp_reply_unref (reply);
}

/* "220 <hostname> ESMTP gsmtp": at connect, and again after XCLIENT. */
static void
session_send_banner (GSmtpSession *self)
{
        g_autofree char *banner = g_strdup_printf ("%s ESMTP gsmtp",
                                                   g_smtp_server_get_hostname (self->server));

        session_reply_plain (self, g_smtp_reply_new (220, NULL, banner));
}

static void
session_enter_state (GSmtpSession *self, SessionState state)
{
        if (self->state == state)
                return;
        if (self->limits->protocol_log)
                g_debug ("%s state %s -> %s", g_smtp_peer_get_session_id (self->peer),
                         state_names[self->state], state_names[state]);
        self->state = state;
}

static void
session_reset_transaction (GSmtpSession *self)
{
        g_clear_object (&self->tx);
        g_clear_pointer (&self->reader, gsmtp_data_reader_free);
        if (self->state == SESSION_MAIL || self->state == SESSION_RCPT ||
            self->state == SESSION_DATA || self->state == SESSION_AUTH)
                session_enter_state (self, SESSION_IDLE);
}

static void
session_close (GSmtpSession *self)
{
        self->closing = TRUE;
        g_clear_object (&self->tx);
        g_clear_pointer (&self->reader, gsmtp_data_reader_free);
        if (self->pending != NULL) {
                gsmtp_stage_detach (self->pending);
                g_clear_object (&self->pending);
        }
        g_clear_pointer (&self->parsing, gsmtp_parse_job_release);
        session_enter_state (self, SESSION_CLOSED);
}

/* A client error: counted, and past the limit the session ends (Postfix's
 * smtpd_hard_error_limit), so a confused or hostile client cannot loop forever. */
/* A client error: a reply that counts against the error budget. */
static void
session_error (GSmtpSession *self, guint code, const char *enhanced, const char *text)
{
        session_say (self, code, enhanced, text);
}

static void
session_refuse (GSmtpSession *self, GSmtpReply *reply)
{
        session_reply (self, reply, NULL);
}

/* When the server stops, sessions with no transaction end now; the others when
 * their transaction ends. */
static void
session_maybe_drain (GSmtpSession *self)
{
        if (!self->draining || self->closing || self->pending != NULL || self->parsing != NULL)
                return;
        if (self->state == SESSION_READY || self->state == SESSION_IDLE ||
            self->state == SESSION_AUTH || self->state == SESSION_BANNER ||
            self->state == SESSION_PROXY) {
                session_say (self, 421, "4.3.2", "Service shutting down, closing connection");
                session_close (self);
        }
}

/* ---- asking the application ------------------------------------------------ */

static void
session_finish_stage (GSmtpSession *self, GSmtpReply *reply)
{
        GSmtpStage *stage = g_steal_pointer (&self->pending);
        ProceedFunc proceed = self->pending_proceed;

        gsmtp_stage_detach (stage);
        self->pending_proceed = NULL;
        proceed (self, stage, reply, NULL);
        g_object_unref (stage);
        if (self->close_after_stage && !self->closing) {
                session_say (self, 421, "4.3.2", "Service shutting down, closing connection");
                session_close (self);
        }
}

static void
session_stage_done (GSmtpStage *stage, GSmtpReply *reply, gpointer data)
{
        GSmtpSession *self = data;

        if (stage != self->pending) {
                g_smtp_reply_unref (reply);
                return;
        }
        session_finish_stage (self, reply);
        if (self->in_process)
                return;         /* completed from inside the handler: the loop goes on */
        session_process (self);
        if (self->wakeup != NULL)
                self->wakeup (self->wakeup_data);
}

/* Takes @stage.  The answer reaches @proceed now or, when deferred, later. */
static void
session_ask (GSmtpSession *self, GSmtpStage *stage, ProceedFunc proceed)
{
        GSmtpReply *reply;

        self->pending = stage;
        self->pending_proceed = proceed;
        gsmtp_stage_attach (stage, session_stage_done, self);
        reply = gsmtp_server_decide (self->server, stage);
        if (reply == NULL)
                return;         /* deferred, or already completed inside the handler */
        if (self->pending == stage)
                session_finish_stage (self, reply);
        else
                g_smtp_reply_unref (reply);
}

/* RFC 3463 codes for a bare reply code, by stage. */
static const char *
stage_enhanced (GSmtpStageKind kind, guint code)
{
        if (code < 300) {
                switch (kind) {
                case GSMTP_STAGE_MAIL: return "2.1.0";
                case GSMTP_STAGE_RCPT: return "2.1.5";
                case GSMTP_STAGE_AUTH: return "2.7.0";
                default: return "2.0.0";
                }
        }
        if (kind == GSMTP_STAGE_RCPT && code == 550)
                return "5.1.1";
        if (kind == GSMTP_STAGE_AUTH && code == 535)
                return "5.7.8";
        if (code == 552)
                return "5.3.4";
        return code < 500 ? "4.0.0" : "5.0.0";
}

/* ---- commands ---------------------------------------------------------------- */

#define IN(s)   (1u << SESSION_##s)
#define GREETED (IN (IDLE) | IN (MAIL) | IN (RCPT))
#define ANY     (IN (READY) | GREETED)

enum {
        PRE_TLS = 1 << 0,       /* allowed before STARTTLS when TLS is required */
};

typedef struct {
        const char    *verb;
        guint          allowed;
        guint          flags;
        CheckFunc      check;   /* syntax and limits; never changes state; NULL = fine */
        ProceedFunc    proceed; /* acts; with a stage, once the application answered */
} CommandSpec;

static GSmtpReply *
check_no_args (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (args[0] != '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax error: no parameters allowed");
        return NULL;
}

static GSmtpReply *
check_helo (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        g_autofree char *name = NULL;
        const char *end = strchr (args, ' ');

        name = end != NULL ? g_strndup (args, end - args) : g_strdup (args);
        if (name[0] == '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax: HELO/EHLO hostname");
        for (const char *p = name; *p != '\0'; p++)
                if ((unsigned char) *p <= 32 || (unsigned char) *p >= 127)
                        return g_smtp_reply_new (501, "5.5.4", "Invalid hostname");
        *out_stage = gsmtp_stage_new (GSMTP_STAGE_HELO, self->peer, name, NULL, NULL);
        gsmtp_stage_set_default_reply (*out_stage, g_smtp_reply_new (250, "2.0.0", NULL));
        return NULL;
}

static gboolean
session_auth_offered (GSmtpSession *self)
{
        return gsmtp_server_has_auth (self->server) &&
               (self->tls_active || self->limits->allow_insecure_auth);
}

static void
session_greet (GSmtpSession *self, GSmtpStage *stage, gboolean esmtp)
{
        const char *hostname = g_smtp_server_get_hostname (self->server);
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);

        /* RFC 5321 4.1.4: a new HELO/EHLO acts as RSET */
        session_reset_transaction (self);
        gsmtp_peer_set_helo (self->peer, g_smtp_stage_get_argument (stage), esmtp);
        session_enter_state (self, SESSION_IDLE);

        g_ptr_array_add (lines, g_strdup_printf ("%s Hello %s", hostname,
                                                 g_smtp_stage_get_argument (stage)));
        if (esmtp) {
                g_ptr_array_add (lines, g_strdup ("PIPELINING"));
                g_ptr_array_add (lines, g_strdup_printf ("SIZE %" G_GSIZE_FORMAT,
                                                         self->limits->max_message_size));
                g_ptr_array_add (lines, g_strdup ("8BITMIME"));
                g_ptr_array_add (lines, g_strdup ("ENHANCEDSTATUSCODES"));
                if (gsmtp_server_has_tls (self->server) && !self->tls_active)
                        g_ptr_array_add (lines, g_strdup ("STARTTLS"));
                if (session_auth_offered (self))
                        g_ptr_array_add (lines, g_strdup ("AUTH PLAIN LOGIN"));
                if (gsmtp_server_allows_xclient (self->server, self->peer))
                        g_ptr_array_add (lines, g_strdup ("XCLIENT NAME ADDR PORT PROTO HELO LOGIN"));
        }
        g_ptr_array_add (lines, NULL);
        session_reply_plain (self, g_smtp_reply_new_lines (250, NULL, (const char *const *) lines->pdata));
}

static void
proceed_helo (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_smtp_reply_unref (reply);
                session_greet (self, stage, FALSE);
        } else {
                session_reply (self, reply, stage_enhanced (GSMTP_STAGE_HELO, g_smtp_reply_get_code (reply)));
        }
}

static void
proceed_ehlo (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_smtp_reply_unref (reply);
                session_greet (self, stage, TRUE);
        } else {
                session_reply (self, reply, stage_enhanced (GSMTP_STAGE_HELO, g_smtp_reply_get_code (reply)));
        }
}

static GSmtpReply *
path_refusal (GSmtpPathStatus status, gboolean is_mail)
{
        switch (status) {
        case GSMTP_PATH_SYNTAX:
                return g_smtp_reply_new (501, "5.5.4", is_mail ? "Syntax: MAIL FROM:<address>"
                                                               : "Syntax: RCPT TO:<address>");
        case GSMTP_PATH_BAD_ADDRESS:
                return g_smtp_reply_new (501, is_mail ? "5.1.7" : "5.1.3",
                                         is_mail ? "Bad sender address syntax"
                                                 : "Bad recipient address syntax");
        case GSMTP_PATH_BAD_PARAMETER:
                return g_smtp_reply_new (501, "5.5.4", "Bad ESMTP parameter syntax");
        case GSMTP_PATH_OK:
        default:
                return NULL;
        }
}

static GSmtpReply *
check_mail_params (GSmtpSession *self, GHashTable *params)
{
        GHashTableIter iter;
        gpointer key, value;

        if (g_hash_table_size (params) > 0 && !g_smtp_peer_get_esmtp (self->peer))
                return g_smtp_reply_new (555, "5.5.4", "ESMTP parameters need EHLO");
        g_hash_table_iter_init (&iter, params);
        while (g_hash_table_iter_next (&iter, &key, &value)) {
                if (g_str_equal (key, "SIZE")) {
                        guint64 size;

                        if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64,
                                                                          &size, NULL))
                                return g_smtp_reply_new (501, "5.5.4", "Bad SIZE parameter");
                        /* RFC 1870 6.1 */
                        if (self->limits->max_message_size != 0 &&
                            size > self->limits->max_message_size)
                                return g_smtp_reply_new (552, "5.3.4",
                                                         "Message size exceeds fixed maximum message size");
                } else if (g_str_equal (key, "BODY")) {
                        if (value == NULL || (g_ascii_strcasecmp (value, "7BIT") != 0 &&
                                              g_ascii_strcasecmp (value, "8BITMIME") != 0))
                                return g_smtp_reply_new (501, "5.5.4", "Bad BODY parameter");
                } else if (g_str_equal (key, "AUTH")) {
                        /* RFC 4954 5: accepted, and trusted only as far as the session is */
                        if (value == NULL)
                                return g_smtp_reply_new (501, "5.5.4", "Bad AUTH parameter");
                } else {
                        return g_smtp_reply_new (555, "5.5.4", "Unsupported MAIL parameter");
                }
        }
        return NULL;
}

static GSmtpReply *
check_mail (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        g_autofree char *path = NULL;
        g_autoptr(GHashTable) params = NULL;
        g_autoptr(GSmtpEnvelope) tx = NULL;
        g_autofree char *mailer_daemon = NULL;
        GSmtpPathStatus status;
        GSmtpReply *refusal;

        status = gsmtp_command_parse_path (args, "FROM:", TRUE, &path, &params);
        if (status != GSMTP_PATH_OK)
                return path_refusal (status, TRUE);
        refusal = check_mail_params (self, params);
        if (refusal != NULL)
                return refusal;

        mailer_daemon = g_smtp_server_dup_mailer_daemon (self->server);
        tx = gsmtp_envelope_new (self->peer, mailer_daemon);
        gsmtp_envelope_set_sender (tx, path, params);
        *out_stage = gsmtp_stage_new (GSMTP_STAGE_MAIL, self->peer, path, params, tx);
        if (path[0] != '\0') {
                g_autofree char *local = NULL, *domain = NULL;

                if (gsmtp_address_parse (path, &local, &domain))
                        gsmtp_stage_set_address_parts (*out_stage, local, domain,
                                                       g_smtp_server_is_local_domain (self->server, domain));
        }
        gsmtp_stage_set_default_reply (*out_stage, g_smtp_reply_new (250, "2.1.0", NULL));
        return NULL;
}

static void
proceed_mail (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_set_object (&self->tx, g_smtp_stage_get_envelope (stage));
                session_enter_state (self, SESSION_MAIL);
        }
        session_reply (self, reply, stage_enhanced (GSMTP_STAGE_MAIL, g_smtp_reply_get_code (reply)));
}

static GSmtpReply *
check_rcpt (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        g_autofree char *path = NULL;
        g_autofree char *local = NULL, *domain = NULL;
        g_autoptr(GHashTable) params = NULL;
        GSmtpPathStatus status;
        gboolean is_local;

        status = gsmtp_command_parse_path (args, "TO:", FALSE, &path, &params);
        if (status != GSMTP_PATH_OK)
                return path_refusal (status, FALSE);
        if (g_hash_table_size (params) > 0)
                return g_smtp_reply_new (555, "5.5.4", "Unsupported RCPT parameter");
        if (g_smtp_envelope_get_n_recipients (self->tx) >= self->limits->max_recipients)
                return g_smtp_reply_new (452, "4.5.3", "Too many recipients");

        if (strchr (path, '@') == NULL) {
                /* <postmaster>, the one address without a domain (RFC 5321 4.5.1) */
                local = g_strdup (path);
                is_local = TRUE;
        } else {
                if (!gsmtp_address_parse (path, &local, &domain))
                        return path_refusal (GSMTP_PATH_BAD_ADDRESS, FALSE);
                is_local = g_smtp_server_is_local_domain (self->server, domain);
        }
        *out_stage = gsmtp_stage_new (GSMTP_STAGE_RCPT, self->peer, path, params, self->tx);
        gsmtp_stage_set_address_parts (*out_stage, local, domain, is_local);
        /* Postfix's permit_mynetworks-less default: local domains, or anyone who
         * authenticated (permit_sasl_authenticated); the rest is relaying. */
        if (is_local || self->authenticated)
                gsmtp_stage_set_default_reply (*out_stage, g_smtp_reply_new (250, "2.1.5", NULL));
        else
                gsmtp_stage_set_default_reply (*out_stage,
                                               g_smtp_reply_new (550, "5.7.1", "Relay access denied"));
        return NULL;
}

static void
proceed_rcpt (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply) && self->tx != NULL) {
                g_autofree char *folded = g_utf8_casefold (g_smtp_stage_get_argument (stage), -1);

                /* A recipient named twice gets the message once. */
                if (!g_hash_table_contains (gsmtp_envelope_get_recipient_set (self->tx), folded))
                        gsmtp_envelope_add_recipient (self->tx, g_smtp_stage_get_argument (stage));
                session_enter_state (self, SESSION_RCPT);
        }
        session_reply (self, reply, stage_enhanced (GSMTP_STAGE_RCPT, g_smtp_reply_get_code (reply)));
}

static GSmtpReply *
check_data (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (args[0] != '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax error: no parameters allowed");
        /* RFC 2920 3.1: DATA after refused recipients gets 554 */
        if (self->tx == NULL || g_smtp_envelope_get_n_recipients (self->tx) == 0)
                return g_smtp_reply_new (554, "5.5.1", "No valid recipients");
        return NULL;
}

static void
proceed_data (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_say (self, 354, NULL, NULL);
        self->reader = gsmtp_data_reader_new (self->limits->max_message_size,
                                              self->limits->max_line_length,
                                              self->limits->bare_linefeed,
                                              self->limits->spill_threshold);
        session_enter_state (self, SESSION_DATA);
}

static void
proceed_rset (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_reset_transaction (self);
        session_say (self, 250, "2.0.0", "Reset state");
}

static void
proceed_noop (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_say (self, 250, "2.0.0", "OK");
}

static void
proceed_vrfy (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        /* RFC 5321 3.5.3: 252 neither confirms nor denies; no address harvesting */
        if (args[0] == '\0')
                session_error (self, 501, "5.5.4", "Syntax: VRFY address");
        else
                session_say (self, 252, "2.0.0",
                             "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
proceed_expn (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_say (self, 502, "5.5.1", "EXPN not available");
}

static void
proceed_help (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_say (self, 214, "2.0.0",
                     "Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
}

static void
proceed_quit (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_say (self, 221, "2.0.0", "Bye");
        session_close (self);
}

static GSmtpReply *
check_starttls (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (self->tls_active)
                return g_smtp_reply_new (503, "5.5.1", "TLS already active");
        if (!gsmtp_server_has_tls (self->server))
                return g_smtp_reply_new (502, "5.5.1", "STARTTLS not available");
        if (args[0] != '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax error: no parameters allowed");
        if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
                return g_smtp_reply_new (454, "4.7.0", "TLS not available due to temporary reason");
        return NULL;
}

static void
proceed_starttls (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        session_say (self, 220, "2.0.0", "Ready to start TLS");
        self->tls_pending = TRUE;
}

/* ---- AUTH (RFC 4954) ---------------------------------------------------------- */

static GSmtpReply *
check_auth (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (self->authenticated)
                return g_smtp_reply_new (503, "5.5.1", "Already authenticated");
        if (!gsmtp_server_has_auth (self->server))
                return g_smtp_reply_new (502, "5.5.1", "AUTH not available");
        if (!session_auth_offered (self))
                return g_smtp_reply_new (538, "5.7.11",
                                         "Encryption required for requested authentication mechanism");
        if (args[0] == '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
        return NULL;
}

static void proceed_auth_stage (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                                const char *args);

/* Takes @user and @password. */
static void
session_auth_ask (GSmtpSession *self, char *user, char *password)
{
        GSmtpStage *stage = gsmtp_stage_new (GSMTP_STAGE_AUTH, self->peer, user, NULL, NULL);

        gsmtp_stage_set_password (stage, password);
        gsmtp_stage_set_default_reply (stage, g_smtp_reply_new (535, "5.7.8",
                                                                "Authentication credentials invalid"));
        gsmtp_sasl_wipe (password);
        g_free (user);
        self->auth_step = AUTH_NONE;
        session_enter_state (self, SESSION_IDLE);
        session_ask (self, stage, proceed_auth_stage);
}

static void
session_auth_challenge (GSmtpSession *self, AuthStep step, const char *challenge)
{
        session_reply_plain (self, g_smtp_reply_new (334, NULL, challenge));
        self->auth_step = step;
        session_enter_state (self, SESSION_AUTH);
}

static void
session_auth_syntax_error (GSmtpSession *self)
{
        self->auth_step = AUTH_NONE;
        g_clear_pointer (&self->auth_user, gsmtp_sasl_wipe);
        session_enter_state (self, SESSION_IDLE);
        session_error (self, 501, "5.5.2", "Cannot decode response");
}

static void
proceed_auth (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        g_auto(GStrv) words = g_strsplit (args, " ", 3);
        const char *mech = words[0];
        const char *initial = words[0] != NULL ? words[1] : NULL;

        if (initial != NULL && words[2] != NULL) {
                session_error (self, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
                return;
        }
        if (initial != NULL && g_str_equal (initial, "="))
                initial = "";   /* RFC 4954 4: "=" is an empty initial response */

        if (g_ascii_strcasecmp (mech, "PLAIN") == 0) {
                char *user = NULL, *password = NULL;

                if (initial == NULL) {
                        session_auth_challenge (self, AUTH_PLAIN, "");
                        return;
                }
                if (!gsmtp_sasl_decode_plain (initial, &user, &password)) {
                        session_auth_syntax_error (self);
                        return;
                }
                session_auth_ask (self, user, password);
        } else if (g_ascii_strcasecmp (mech, "LOGIN") == 0) {
                if (initial == NULL) {
                        session_auth_challenge (self, AUTH_LOGIN_USER, "VXNlcm5hbWU6");
                        return;
                }
                self->auth_user = gsmtp_sasl_decode_text (initial);
                if (self->auth_user == NULL) {
                        session_auth_syntax_error (self);
                        return;
                }
                session_auth_challenge (self, AUTH_LOGIN_PASSWORD, "UGFzc3dvcmQ6");
        } else {
                session_error (self, 504, "5.5.4", "Unrecognized authentication type");
        }
}

static void
session_auth_line (GSmtpSession *self, const char *line)
{
        if (g_str_equal (line, "*")) {
                self->auth_step = AUTH_NONE;
                g_clear_pointer (&self->auth_user, gsmtp_sasl_wipe);
                session_enter_state (self, SESSION_IDLE);
                session_error (self, 501, "5.0.0", "Authentication cancelled");
                return;
        }
        switch (self->auth_step) {
        case AUTH_PLAIN: {
                char *user = NULL, *password = NULL;

                if (!gsmtp_sasl_decode_plain (line, &user, &password)) {
                        session_auth_syntax_error (self);
                        return;
                }
                session_auth_ask (self, user, password);
                break;
        }
        case AUTH_LOGIN_USER:
                self->auth_user = gsmtp_sasl_decode_text (line);
                if (self->auth_user == NULL) {
                        session_auth_syntax_error (self);
                        return;
                }
                session_auth_challenge (self, AUTH_LOGIN_PASSWORD, "UGFzc3dvcmQ6");
                break;
        case AUTH_LOGIN_PASSWORD: {
                char *password = gsmtp_sasl_decode_text (line);

                if (password == NULL) {
                        session_auth_syntax_error (self);
                        return;
                }
                session_auth_ask (self, g_steal_pointer (&self->auth_user), password);
                break;
        }
        case AUTH_NONE:
        default:
                session_auth_syntax_error (self);
                break;
        }
}

static gboolean
session_delay_done (gpointer data)
{
        GSmtpSession *self = data;

        self->delay_id = 0;
        session_reply (self, g_steal_pointer (&self->delayed), "5.7.8");
        if (self->n_auth_failures >= self->limits->max_auth_failures) {
                session_say (self, 421, "4.7.0", "Too many authentication failures");
                session_close (self);
        }
        session_process (self);
        if (self->wakeup != NULL)
                self->wakeup (self->wakeup_data);
        return G_SOURCE_REMOVE;
}

static void
proceed_auth_stage (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                self->authenticated = TRUE;
                gsmtp_peer_set_username (self->peer, g_smtp_stage_get_argument (stage));
                /* RFC 4954 6: 235 for success, whatever 2xx the application chose */
                g_smtp_reply_unref (reply);
                session_say (self, 235, "2.7.0", "Authentication successful");
                return;
        }
        self->n_auth_failures++;
        /* A failure is answered late, so guessing passwords is slow (Postfix
         * sleeps too); the session reads nothing meanwhile. */
        if (self->limits->auth_failure_delay_ms == 0) {
                session_reply (self, reply, "5.7.8");
                if (self->n_auth_failures >= self->limits->max_auth_failures) {
                        session_say (self, 421, "4.7.0", "Too many authentication failures");
                        session_close (self);
                }
                return;
        }
        self->delayed = reply;
        {
                GSource *delay = g_timeout_source_new (self->limits->auth_failure_delay_ms);

                g_source_set_callback (delay, session_delay_done, self, NULL);
                self->delay_id = g_source_attach (delay, g_main_context_get_thread_default ());
                g_source_unref (delay);
        }
}

/* ---- XCLIENT (Postfix's XCLIENT_README) --------------------------------------------- */

typedef struct {
        char *addr, *port, *proto, *helo, *login;
} XclientAttrs;

static void
xclient_attrs_clear (XclientAttrs *a)
{
        g_free (a->addr);
        g_free (a->port);
        g_free (a->proto);
        g_free (a->helo);
        g_free (a->login);
}

/* xtext (RFC 3461 4): "+XX" is a byte in hex. */
static char *
xtext_decode (const char *in)
{
        GString *out = g_string_new (NULL);

        for (const char *p = in; *p != '\0'; p++) {
                if (*p == '+' && g_ascii_isxdigit (p[1]) && g_ascii_isxdigit (p[2])) {
                        g_string_append_c (out, (char) (g_ascii_xdigit_value (p[1]) * 16 + g_ascii_xdigit_value (p[2])));
                        p += 2;
                } else {
                        g_string_append_c (out, *p);
                }
        }
        return g_string_free (out, FALSE);
}

/* Fills @a from "NAME=value ..."; FALSE for anything malformed.  The values
 * "[UNAVAILABLE]" and "[TEMPUNAVAIL]" mean unknown and leave an attribute unset. */
static gboolean
xclient_parse (const char *args, XclientAttrs *a)
{
        g_auto(GStrv) words = g_strsplit (args, " ", -1);
        guint n = 0;

        for (guint i = 0; words[i] != NULL; i++) {
                char *eq = strchr (words[i], '=');
                g_autofree char *value = NULL;
                char **slot;

                if (words[i][0] == '\0')
                        continue;
                if (eq == NULL)
                        return FALSE;
                *eq = '\0';
                value = xtext_decode (eq + 1);
                for (const char *p = value; *p != '\0'; p++)
                        if ((unsigned char) *p <= 32 || (unsigned char) *p >= 127)
                                return FALSE;
                if (g_ascii_strcasecmp (words[i], "ADDR") == 0)
                        slot = &a->addr;
                else if (g_ascii_strcasecmp (words[i], "PORT") == 0)
                        slot = &a->port;
                else if (g_ascii_strcasecmp (words[i], "PROTO") == 0)
                        slot = &a->proto;
                else if (g_ascii_strcasecmp (words[i], "HELO") == 0)
                        slot = &a->helo;
                else if (g_ascii_strcasecmp (words[i], "LOGIN") == 0)
                        slot = &a->login;
                else if (g_ascii_strcasecmp (words[i], "NAME") == 0)
                        slot = NULL;    /* reverse DNS: gsmtp does none */
                else
                        return FALSE;
                n++;
                if (slot == NULL || g_str_equal (value, "[UNAVAILABLE]") || g_str_equal (value, "[TEMPUNAVAIL]"))
                        continue;
                g_free (*slot);
                *slot = g_steal_pointer (&value);
        }
        if (n == 0)
                return FALSE;
        if (a->addr != NULL) {
                const char *ip = g_ascii_strncasecmp (a->addr, "IPV6:", 5) == 0 ? a->addr + 5 : a->addr;
                g_autoptr(GInetAddress) ia = g_inet_address_new_from_string (ip);

                if (ia == NULL)
                        return FALSE;
        }
        if (a->port != NULL && !g_ascii_string_to_unsigned (a->port, 10, 0, 65535, NULL, NULL))
                return FALSE;
        if (a->proto != NULL && g_ascii_strcasecmp (a->proto, "SMTP") != 0 &&
            g_ascii_strcasecmp (a->proto, "ESMTP") != 0)
                return FALSE;
        return TRUE;
}

static GSmtpReply *
check_xclient (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        XclientAttrs a = { 0 };
        gboolean ok;

        if (!gsmtp_server_allows_xclient (self->server, self->peer))
                return g_smtp_reply_new (550, "5.7.0", "Insufficient authorization");
        ok = xclient_parse (args, &a);
        xclient_attrs_clear (&a);
        if (!ok)
                return g_smtp_reply_new (501, "5.5.4", "Bad XCLIENT attribute");
        return NULL;
}

static void
proceed_xclient (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        XclientAttrs a = { 0 };

        xclient_parse (args, &a);
        if (a.addr != NULL) {
                const char *ip = g_ascii_strncasecmp (a.addr, "IPV6:", 5) == 0 ? a.addr + 5 : a.addr;
                g_autoptr(GInetAddress) ia = g_inet_address_new_from_string (ip);
                g_autoptr(GSocketAddress) remote = g_inet_socket_address_new (
                        ia, a.port != NULL ? (guint16) g_ascii_strtoull (a.port, NULL, 10) : 0);

                gsmtp_peer_set_addresses (self->peer, remote, g_smtp_peer_get_local_address (self->peer));
        }
        /* the session starts over as the named client's (XCLIENT_README) */
        session_reset_transaction (self);
        gsmtp_peer_set_helo (self->peer, a.helo, a.proto != NULL && g_ascii_strcasecmp (a.proto, "ESMTP") == 0);
        if (a.login != NULL) {
                gsmtp_peer_set_username (self->peer, a.login);
                self->authenticated = TRUE;
        }
        session_enter_state (self, a.helo != NULL ? SESSION_IDLE : SESSION_READY);
        xclient_attrs_clear (&a);
        session_send_banner (self);
}

/* ---- dispatch ------------------------------------------------------------------ */

static const CommandSpec commands[] = {
/*        verb        allowed in            flags    check           proceed          */
        { "EHLO",     ANY,                  PRE_TLS, check_helo,     proceed_ehlo     },
        { "HELO",     ANY,                  PRE_TLS, check_helo,     proceed_helo     },
        { "MAIL",     IN (IDLE),            0,       check_mail,     proceed_mail     },
        { "RCPT",     IN (MAIL) | IN (RCPT),0,       check_rcpt,     proceed_rcpt     },
        { "DATA",     IN (MAIL) | IN (RCPT),0,       check_data,     proceed_data     },
        { "RSET",     ANY,                  PRE_TLS, check_no_args,  proceed_rset     },
        { "NOOP",     ANY,                  PRE_TLS, NULL,           proceed_noop     },
        { "QUIT",     ANY,                  PRE_TLS, NULL,           proceed_quit     },
        { "STARTTLS", IN (IDLE),            PRE_TLS, check_starttls, proceed_starttls },
        { "AUTH",     IN (IDLE),            0,       check_auth,     proceed_auth     },
        { "VRFY",     ANY,                  0,       NULL,           proceed_vrfy     },
        { "EXPN",     ANY,                  0,       NULL,           proceed_expn     },
        { "HELP",     ANY,                  PRE_TLS, NULL,           proceed_help     },
        { "XCLIENT",  IN (READY) | IN (IDLE), PRE_TLS, check_xclient, proceed_xclient },
};

static const CommandSpec *
command_lookup (const char *verb)
{
        for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
                if (g_str_equal (commands[i].verb, verb))
                        return &commands[i];
        return NULL;
}

static const char *
out_of_order_text (const CommandSpec *spec, SessionState state)
{
        if (state == SESSION_READY)
                return "Send HELO/EHLO first";
        if (g_str_equal (spec->verb, "MAIL"))
                return "Nested MAIL command";
        if (g_str_equal (spec->verb, "RCPT") || g_str_equal (spec->verb, "DATA"))
                return "Need MAIL command first";
        return "Bad sequence of commands";
}

static void
session_dispatch (GSmtpSession *self, const char *line)
{
        GSmtpCommand cmd;
        const CommandSpec *spec;
        GSmtpReply *refusal = NULL;
        GSmtpStage *stage = NULL;

        if (!gsmtp_command_split (line, &cmd) || (spec = command_lookup (cmd.verb)) == NULL) {
                if (gsmtp_command_is_http (line)) {
                        session_say (self, 421, "4.7.0", "This is an SMTP server, closing connection");
                        session_close (self);
                        return;
                }
                session_error (self, 500, "5.5.2", "Command not recognized");
                return;
        }
        if (!(spec->allowed & (1u << self->state)))
                refusal = g_smtp_reply_new (503, "5.5.1", out_of_order_text (spec, self->state));
        else if (self->limits->require_tls && !self->tls_active && !(spec->flags & PRE_TLS))
                refusal = g_smtp_reply_new (530, "5.7.0", "Must issue a STARTTLS command first");
        else if (spec->check != NULL)
                refusal = spec->check (self, cmd.args, &stage);

        if (refusal != NULL) {
                g_clear_object (&stage);
                session_refuse (self, refusal);
        } else if (stage != NULL) {
                session_ask (self, stage, spec->proceed);
        } else {
                spec->proceed (self, NULL, NULL, cmd.args);
        }
}

static void
session_log_command (GSmtpSession *self, const char *line)
{
        if (!self->limits->protocol_log)
                return;
        /* The protocol log never shows secrets: SASL responses and initial
         * responses are masked. */
        if (self->state == SESSION_AUTH) {
                session_log (self, "C:", "****", 4);
        } else if (g_ascii_strncasecmp (line, "AUTH ", 5) == 0) {
                const char *sp = strchr (line + 5, ' ');
                g_autofree char *masked = sp != NULL ? g_strdup_printf ("%.*s ****", (int) (sp - line), line)
                                                     : g_strdup (line);
                session_log (self, "C:", masked, strlen (masked));
        } else {
                session_log (self, "C:", line, strlen (line));
        }
}

static void session_ask_data (GSmtpSession *self);
static void session_data_parsed (gpointer data);
static void proceed_data_end (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                              const char *args);

static void
session_end_data (GSmtpSession *self)
{
        g_autoptr(GSmtpDataReader) reader = g_steal_pointer (&self->reader);
        g_autoptr(GError) error = NULL;
        g_autofree char *received = NULL;

        session_log (self, "C:", "<message data>", 14);
        switch (gsmtp_data_reader_get_status (reader)) {
        case GSMTP_DATA_TOO_BIG:
                session_say (self, 552, "5.3.4", "Message size exceeds fixed maximum message size");
                session_reset_transaction (self);
                return;
        case GSMTP_DATA_LINE_TOO_LONG:
                session_say (self, 500, "5.5.2", "Message has a line too long");
                session_reset_transaction (self);
                return;
        case GSMTP_DATA_BARE_LINEFEED:
                session_say (self, 550, "5.5.2", "Message contains bare CR or LF, refused");
                session_reset_transaction (self);
                return;
        case GSMTP_DATA_IO_ERROR:
                session_say (self, 451, "4.3.0", "Local error storing the message");
                session_reset_transaction (self);
                return;
        case GSMTP_DATA_OK:
        default:
                break;
        }
        if (!gsmtp_data_reader_finish (reader, self->tx, &error)) {
                g_warning ("gsmtp: %s", error != NULL ? error->message : "cannot keep the message");
                session_say (self, 451, "4.3.0", "Local error storing the message");
                session_reset_transaction (self);
                return;
        }
        received = gsmtp_received_format (self->peer, g_smtp_server_get_hostname (self->server),
                                          g_smtp_envelope_get_recipients (self->tx));
        gsmtp_envelope_set_received (self->tx, received);
        /* parsed first (a large message in a worker), so that the handler
         * never waits for GMime; meanwhile the session waits as for a
         * deferred stage */
        self->parsing = gsmtp_parse_job_start (self->tx, &self->limits->mime,
                                               gsmtp_server_parses_messages (self->server),
                                               session_data_parsed, self);
        if (self->parsing == NULL)
                session_ask_data (self);
}

static void
session_ask_data (GSmtpSession *self)
{
        GSmtpStage *stage = gsmtp_stage_new (GSMTP_STAGE_DATA, self->peer, NULL, NULL, self->tx);

        gsmtp_stage_set_default_reply (stage, g_smtp_reply_new (250, "2.0.0", NULL));
        session_ask (self, stage, proceed_data_end);
}

/* On the session's context, once the pool parsed the message. */
static void
session_data_parsed (gpointer data)
{
        GSmtpSession *self = data;

        g_clear_pointer (&self->parsing, gsmtp_parse_job_release);
        /* as from session_run(): a handler that completes at once does not
         * run the session from inside itself */
        self->in_process = TRUE;
        session_ask_data (self);
        self->in_process = FALSE;
        session_process (self);
        if (self->wakeup != NULL)
                self->wakeup (self->wakeup_data);
}

static void
proceed_data_end (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        guint code = g_smtp_reply_get_code (reply);

        /* A 250 here means the application has the whole message. */
        if (code >= 200 && code < 300) {
                self->n_accepted++;
                if (g_smtp_reply_get_enhanced_code (reply) == NULL &&
                    g_str_equal (g_smtp_reply_get_text (reply), "OK")) {
                        char count[16];
                        g_autofree char *text = NULL;

                        g_snprintf (count, sizeof count, ".%u", self->n_accepted);
                        text = g_strconcat ("OK: queued as ", g_smtp_peer_get_session_id (self->peer),
                                            count, NULL);
                        g_smtp_reply_unref (reply);
                        reply = g_smtp_reply_new (code, "2.0.0", text);
                }
        } else if (code < 400) {
                /* 3xx makes no sense after the data */
                g_warning ("gsmtp: DATA handler answered %u; sending 451", code);
                g_smtp_reply_unref (reply);
                reply = g_smtp_reply_new (451, "4.3.0", NULL);
        }
        session_reply (self, reply, stage_enhanced (GSMTP_STAGE_DATA, code));
        session_reset_transaction (self);
}

static void
session_sync_violation (GSmtpSession *self)
{
        session_say (self, 554, "5.5.0", "Protocol synchronization error, closing connection");
        session_close (self);
}

static void session_greet_client (GSmtpSession *self);

/* The PROXY protocol v1 header (HAProxy's proxy-protocol.txt 2.1): at most 107
 * bytes, "PROXY TCP4|TCP6 src dst sport dport" or "PROXY UNKNOWN ...".  Returns
 * FALSE for anything else: the connection is then dropped without a word. */
static gboolean
session_take_proxy_header (GSmtpSession *self, const char *line)
{
        g_auto(GStrv) f = g_strsplit (line, " ", -1);
        g_autoptr(GInetAddress) src = NULL, dst = NULL;
        g_autoptr(GSocketAddress) remote = NULL, local = NULL;
        guint64 sport, dport;
        GSocketFamily family;

        if (g_strv_length (f) < 2 || !g_str_equal (f[0], "PROXY"))
                return FALSE;
        if (g_str_equal (f[1], "UNKNOWN"))
                return TRUE;    /* the proxy does not know: keep the real peer */
        if (g_strv_length (f) != 6)
                return FALSE;
        if (g_str_equal (f[1], "TCP4"))
                family = G_SOCKET_FAMILY_IPV4;
        else if (g_str_equal (f[1], "TCP6"))
                family = G_SOCKET_FAMILY_IPV6;
        else
                return FALSE;
        src = g_inet_address_new_from_string (f[2]);
        dst = g_inet_address_new_from_string (f[3]);
        if (src == NULL || dst == NULL || g_inet_address_get_family (src) != family ||
            g_inet_address_get_family (dst) != family ||
            !g_ascii_string_to_unsigned (f[4], 10, 0, 65535, &sport, NULL) ||
            !g_ascii_string_to_unsigned (f[5], 10, 0, 65535, &dport, NULL))
                return FALSE;
        remote = g_inet_socket_address_new (src, sport);
        local = g_inet_socket_address_new (dst, dport);
        gsmtp_peer_set_addresses (self->peer, remote, local);
        return TRUE;
}

/* Handles every complete line or message in @buf, until the session has to
 * wait: for the application, a handshake, a delay, or more bytes.  Returns how
 * many bytes it used; the caller keeps the rest. */
static gsize
session_run (GSmtpSession *self, const guint8 *buf, gsize buf_len)
{
        gsize pos = 0;

        while (!self->closing && !self->tls_pending && self->pending == NULL &&
               self->parsing == NULL && self->delay_id == 0 && pos < buf_len) {
                const guint8 *data = buf + pos;
                gsize avail = buf_len - pos, len;
                const guint8 *lf;

                if (self->state == SESSION_PROXY) {
                        const guint8 *end = memchr (data, '\n', MIN (avail, 108));
                        g_autofree char *header = NULL;

                        if (end == NULL) {
                                if (avail >= 108)
                                        session_close (self);
                                break;
                        }
                        header = g_strndup ((const char *) data, end - data);
                        g_strchomp (header);
                        pos += end - data + 1;
                        if (!session_take_proxy_header (self, header)) {
                                session_close (self);
                                break;
                        }
                        session_greet_client (self);
                        /* what followed the header came before the banner */
                        if (pos < buf_len && self->limits->strict_pipelining)
                                session_sync_violation (self);
                        continue;
                }
                if (self->state == SESSION_DATA) {
                        gboolean done = FALSE;

                        pos += gsmtp_data_reader_feed (self->reader, data, avail, &done);
                        if (done)
                                session_end_data (self);
                        continue;
                }
                lf = memchr (data, '\n', avail);
                if (lf == NULL) {
                        /* An overlong line with no end in sight: drop what came,
                         * remember to refuse it once its end arrives. */
                        if (avail >= self->limits->max_line_length) {
                                self->discarding_line = TRUE;
                                pos += avail;
                        }
                        break;
                }
                len = lf - data + 1;
                pos += len;
                if (self->discarding_line || len > self->limits->max_line_length) {
                        self->discarding_line = FALSE;
                        session_error (self, 500, "5.5.2", "Line too long");
                        continue;
                }
                len--;
                if (len > 0 && data[len - 1] == '\r')
                        len--;
                g_string_truncate (self->line, 0);
                g_string_append_len (self->line, (const char *) data, len);
                if (memchr (self->line->str, '\0', len) != NULL) {
                        session_error (self, 500, "5.5.2", "Invalid character in command");
                        continue;
                }
                session_log_command (self, self->line->str);
                if (self->state == SESSION_AUTH) {
                        session_auth_line (self, self->line->str);
                } else {
                        session_dispatch (self, self->line->str);
                        /* RFC 2920 3.1: DATA ends a pipelined group; content must
                         * wait for 354.  Content already here was sent blind. */
                        if (self->state == SESSION_DATA && pos < buf_len &&
                            self->limits->strict_pipelining)
                                session_sync_violation (self);
                }
                /* RFC 3207 4.2 and the STARTTLS injection class (CVE-2011-0411):
                 * what the client pipelined after STARTTLS in cleartext is thrown
                 * away, never run after the handshake. */
                if (self->tls_pending)
                        pos = buf_len;
                session_maybe_drain (self);
        }
        return pos;
}

/* Goes on with bytes that waited in the buffer (after a deferred stage). */
static void
session_process (GSmtpSession *self)
{
        gsize pos;

        if (self->in_process)
                return;
        self->in_process = TRUE;
        if (self->in != NULL) {
                pos = session_run (self, self->in->data, self->in->len);
                /* The buffer is freed when empty: an idle session holds none. */
                if (self->closing || self->tls_pending || pos >= self->in->len)
                        g_clear_pointer (&self->in, g_byte_array_unref);
                else if (pos > 0)
                        g_byte_array_remove_range (self->in, 0, pos);
        }
        self->in_process = FALSE;
        session_maybe_drain (self);
}

/* ---- the interface to gsmtp-connection.c ----------------------------------------- */

GSmtpSession *
gsmtp_session_new (GSmtpServer *server, GSmtpPeer *peer, gboolean tls_active,
                   GSmtpSessionWakeup wakeup, gpointer user_data)
{
        GSmtpSession *self = g_new0 (GSmtpSession, 1);

        self->server = server;
        self->limits = gsmtp_server_get_limits (server);
        self->peer = g_object_ref (peer);
        self->state = SESSION_BANNER;
        self->tls_active = tls_active;
        self->out = g_string_sized_new (256);
        self->line = g_string_sized_new (128);
        self->wakeup = wakeup;
        self->wakeup_data = user_data;
        return self;
}

void
gsmtp_session_free (GSmtpSession *self)
{
        if (self == NULL)
                return;
        session_close (self);
        if (self->delay_id != 0)
                g_source_destroy (g_main_context_find_source_by_id (g_main_context_get_thread_default (),
                                                                    self->delay_id));
        g_clear_pointer (&self->delayed, g_smtp_reply_unref);
        g_clear_pointer (&self->auth_user, gsmtp_sasl_wipe);
        g_clear_pointer (&self->in, g_byte_array_unref);
        g_string_free (self->out, TRUE);
        g_string_free (self->line, TRUE);
        g_object_unref (self->peer);
        g_free (self);
}

static void
proceed_connect (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_smtp_reply_unref (reply);
                session_send_banner (self);
                session_enter_state (self, SESSION_READY);
                return;
        }
        /* A refused connection: say why and go (RFC 5321 3.1 allows 554 then
         * waiting for QUIT; closing is what clients cope with best). */
        session_reply (self, reply, g_smtp_reply_get_code (reply) < 500 ? "4.7.0" : "5.7.1");
        session_close (self);
}

/* The connect stage: the application sees the client and the banner goes out. */
static void
session_greet_client (GSmtpSession *self)
{
        GSmtpStage *stage = gsmtp_stage_new (GSMTP_STAGE_CONNECT, self->peer, NULL, NULL, NULL);

        session_enter_state (self, SESSION_BANNER);
        gsmtp_stage_set_default_reply (stage, g_smtp_reply_new (220, NULL, NULL));
        session_ask (self, stage, proceed_connect);
}

void
gsmtp_session_start (GSmtpSession *self)
{
        if (self->expect_proxy) {
                session_enter_state (self, SESSION_PROXY);
                return;
        }
        self->in_process = TRUE;
        session_greet_client (self);
        self->in_process = FALSE;
        session_process (self);
}

void
gsmtp_session_expect_proxy (GSmtpSession *self)
{
        self->expect_proxy = TRUE;
}

void
gsmtp_session_feed (GSmtpSession *self, const guint8 *data, gsize len)
{
        gsize pos;

        if (self->closing || len == 0)
                return;
        /* A client that talks before the banner did not wait for it. */
        if (self->state == SESSION_BANNER && self->limits->strict_pipelining) {
                session_sync_violation (self);
                return;
        }
        if (self->in != NULL || self->in_process) {
                if (self->in == NULL)
                        self->in = g_byte_array_new ();
                g_byte_array_append (self->in, data, len);
                session_process (self);
                return;
        }
        /* The common case works on the caller's buffer: no copy, and only an
         * unfinished line is kept. */
        self->in_process = TRUE;
        pos = session_run (self, data, len);
        if (!self->closing && !self->tls_pending && pos < len) {
                self->in = g_byte_array_sized_new (len - pos);
                g_byte_array_append (self->in, data + pos, len - pos);
        }
        self->in_process = FALSE;
        session_maybe_drain (self);
}

void
gsmtp_session_eof (GSmtpSession *self)
{
        /* A message not ended by CRLF.CRLF is never delivered. */
        session_close (self);
}

void
gsmtp_session_timeout (GSmtpSession *self)
{
        if (self->closing)
                return;
        session_say (self, 421, "4.4.2", "Timeout exceeded, closing connection");
        session_close (self);
}

void
gsmtp_session_shutdown (GSmtpSession *self, gboolean force)
{
        if (self->closing)
                return;
        self->draining = TRUE;
        if (!force) {
                session_maybe_drain (self);
                return;
        }
        /* The grace period is over.  A message whose DATA stage is out with the
         * application still gets its answer, so that a 250 is never lost and a
         * message never delivered twice; everything else ends now. */
        if ((self->pending != NULL && g_smtp_stage_get_kind (self->pending) == GSMTP_STAGE_DATA) ||
            self->parsing != NULL) {
                self->close_after_stage = TRUE;
                return;
        }
        session_say (self, 421, "4.3.2", "Service shutting down, closing connection");
        session_close (self);
}

void
gsmtp_session_tls_started (GSmtpSession *self, const char *version, const char *cipher,
                           GTlsCertificate *client_cert)
{
        self->tls_pending = FALSE;
        self->tls_active = TRUE;
        gsmtp_peer_set_tls (self->peer, version, cipher, client_cert);
        /* RFC 3207 4.2: forget everything learned before the handshake */
        if (self->state != SESSION_BANNER) {
                gsmtp_peer_set_helo (self->peer, NULL, FALSE);
                session_reset_transaction (self);
                session_enter_state (self, SESSION_READY);
        }
}

gboolean
gsmtp_session_has_output (GSmtpSession *self)
{
        return self->out->len > 0;
}

GBytes *
gsmtp_session_take_output (GSmtpSession *self)
{
        GBytes *bytes = g_string_free_to_bytes (self->out);

        self->out = g_string_sized_new (256);
        return bytes;
}

GSmtpSessionAction
gsmtp_session_get_action (GSmtpSession *self)
{
        if (self->closing)
                return GSMTP_SESSION_CLOSE;
        if (self->tls_pending)
                return GSMTP_SESSION_START_TLS;
        return GSMTP_SESSION_CONTINUE;
}

/* While the application decides, keep reading only as far as one line: the
 * pipelined commands wait in a bounded buffer. */
gboolean
gsmtp_session_wants_input (GSmtpSession *self)
{
        if (self->closing || self->tls_pending || self->delay_id != 0)
                return FALSE;
        if (self->pending != NULL || self->parsing != NULL)
                return self->in == NULL || self->in->len < self->limits->max_line_length;
        return TRUE;
}

gboolean
gsmtp_session_in_data (GSmtpSession *self)
{
        return self->state == SESSION_DATA;
}

/* gsmtp-session.c — one SMTP session as a state machine: bytes in, replies out.
 * Owns: command dispatch (a table), the transaction, pipelining order, limits
 * and the error budget, STARTTLS state resets, draining on stop.
 * Not: sockets, timers on sockets, TLS handshakes, the PROXY header
 * (gsmtp-connection.c); the grammar of one line (gsmtp-command.c); message
 * bytes (gsmtp-data-reader.c); AUTH, XCLIENT, LMTP and BDAT
 * (gsmtp-session-auth.c, gsmtp-session-xclient.c, gsmtp-session-lmtp.c,
 * gsmtp-session-bdat.c), which plug into the table below.
 * RFC 5321 (3, 4.1, 4.3.2, 4.5.3), RFC 2920 (PIPELINING), RFC 1870 (SIZE),
 * RFC 6152 (8BITMIME), RFC 2034/3463 (enhanced codes), RFC 3207 (STARTTLS);
 * the keywords and address rules of RFC 6531 (SMTPUTF8), RFC 3461 (DSN),
 * RFC 8689 (REQUIRETLS), RFC 9422 (LIMITS), whose parameters
 * gsmtp-esmtp-params.c reads. */
#include "config.h"
#include "gsmtp-session-private.h"
#include "gsmtp-command.h"
#include "gsmtp-address.h"
#include "gsmtp-data-reader.h"
#include "gsmtp-esmtp-params.h"
#include "gsmtp-message-parser.h"

#include <string.h>

static const char *const state_names[] = {
        "BANNER", "READY", "IDLE", "MAIL", "RCPT", "DATA", "BDAT", "AUTH", "CLOSED",
};

static void session_process (GSmtpSession *self);

/* ---- the host, while there is one ------------------------------------------------ */

const char *
gsmtp_session_hostname (GSmtpSession *self)
{
        return self->host != NULL ? self->host->funcs->get_hostname (self->host) : "localhost";
}

static gboolean
session_is_local_domain (GSmtpSession *self, const char *domain)
{
        return self->host != NULL && self->host->funcs->is_local_domain (self->host, domain);
}

static gboolean
session_offers_tls (GSmtpSession *self)
{
        return self->host != NULL && self->host->funcs->offers_tls (self->host);
}

gboolean
gsmtp_session_offers_auth (GSmtpSession *self)
{
        return self->host != NULL && self->host->funcs->offers_auth (self->host) &&
               (self->tls_active || self->limits.allow_insecure_auth);
}

gboolean
gsmtp_session_allows_xclient (GSmtpSession *self)
{
        return self->host != NULL && self->host->funcs->allows_xclient (self->host, self->peer);
}

static void
session_notify (GSmtpSession *self, GSmtpSessionEvent event, GSmtpEnvelope *envelope)
{
        if (self->host != NULL && self->host->funcs->notify != NULL)
                self->host->funcs->notify (self->host, event, self->peer, envelope);
}

void
gsmtp_session_notify_accepted (GSmtpSession *self, GSmtpEnvelope *envelope)
{
        session_notify (self, GSMTP_SESSION_EVENT_MESSAGE_ACCEPTED, envelope);
}

/* ---- output ---------------------------------------------------------------- */

void
gsmtp_session_log (GSmtpSession *self, const char *dir, const char *text, gsize len)
{
        if (!self->limits.protocol_log)
                return;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                len--;
        g_log_structured ("gsmtp", G_LOG_LEVEL_INFO,
                          "GSMTP_SESSION", g_smtp_peer_get_session_id (self->peer),
                          "MESSAGE", "%s %s %.*s", g_smtp_peer_get_session_id (self->peer),
                          dir, (int) len, text);
}

/* Past max-errors: 421 and close, so that a confused or hostile client cannot
 * go on forever (Postfix's smtpd_hard_error_limit). */
static void
session_count_error (GSmtpSession *self)
{
        if (self->closing || ++self->n_errors < self->limits.max_errors)
                return;
        gsmtp_session_say (self, 421, "4.7.0", "Too many errors, closing connection");
}

void
gsmtp_session_count_error (GSmtpSession *self)
{
        session_count_error (self);
}

static void
session_write_reply (GSmtpSession *self, GSmtpReply *reply, const char *enhanced, gboolean with_enhanced)
{
        gsize start = self->out->len;

        gsmtp_reply_format (reply, enhanced, with_enhanced, self->out);
        gsmtp_session_log (self, "S:", self->out->str + start, self->out->len - start);
}

/* Every reply leaves through here, in order (Postfix's smtpd_chat_reply).
 * Takes @reply.  @enhanced is used when the reply has none of its own.
 *
 * Every refusal counts against the session's error budget, as Postfix's
 * smtpd_hard_error_limit counts them.  Not counted: 421 (the session ends
 * anyway) and the server's own trouble (451, 454).  421, whoever chose it,
 * closes the session (RFC 5321 3.8). */
void
gsmtp_session_reply (GSmtpSession *self, GSmtpReply *reply, const char *enhanced)
{
        guint code = g_smtp_reply_get_code (reply);

        session_write_reply (self, reply, enhanced, TRUE);
        g_smtp_reply_unref (reply);
        if (code == 421) {
                gsmtp_session_close (self);
                return;
        }
        if (code >= 400 && code != 451 && code != 454)
                session_count_error (self);
}

/* One of a group of replies that counts as one (LMTP's replies per
 * recipient): written, never counted, never closing.  Takes @reply. */
void
gsmtp_session_reply_uncounted (GSmtpSession *self, GSmtpReply *reply, const char *enhanced)
{
        session_write_reply (self, reply, enhanced, TRUE);
        g_smtp_reply_unref (reply);
}

void
gsmtp_session_say (GSmtpSession *self, guint code, const char *enhanced, const char *text)
{
        gsmtp_session_reply (self, g_smtp_reply_new (code, enhanced, text), NULL);
}

/* The replies RFC 2034 3 keeps free of enhanced codes (greeting, EHLO) and the
 * SASL challenges, which have none; never counted as errors.  Takes @reply. */
void
gsmtp_session_reply_plain (GSmtpSession *self, GSmtpReply *reply)
{
        session_write_reply (self, reply, NULL, FALSE);
        g_smtp_reply_unref (reply);
}

/* "220 <hostname> ESMTP gsmtp": at connect, and again after XCLIENT. */
void
gsmtp_session_send_banner (GSmtpSession *self)
{
        g_autofree char *banner = g_strdup_printf ("%s %s gsmtp", gsmtp_session_hostname (self),
                                                   self->lmtp ? "LMTP" : "ESMTP");

        gsmtp_session_reply_plain (self, g_smtp_reply_new (220, NULL, banner));
}

void
gsmtp_session_enter_state (GSmtpSession *self, SessionState state)
{
        if (self->state == state)
                return;
        if (self->limits.protocol_log)
                g_debug ("%s state %s -> %s", g_smtp_peer_get_session_id (self->peer),
                         state_names[self->state], state_names[state]);
        self->state = state;
}

void
gsmtp_session_reset_transaction (GSmtpSession *self)
{
        g_clear_object (&self->tx);
        g_clear_pointer (&self->reader, gsmtp_data_reader_free);
        g_clear_pointer (&self->lmtp_rcpts, g_array_unref);
        if (self->state == SESSION_MAIL || self->state == SESSION_RCPT || self->state == SESSION_DATA ||
            self->state == SESSION_BDAT || self->state == SESSION_AUTH)
                gsmtp_session_enter_state (self, SESSION_IDLE);
}

void
gsmtp_session_close (GSmtpSession *self)
{
        if (self->closing)
                return;
        self->closing = TRUE;
        g_clear_object (&self->tx);
        g_clear_pointer (&self->reader, gsmtp_data_reader_free);
        g_clear_pointer (&self->lmtp_rcpts, g_array_unref);
        if (self->pending != NULL) {
                gsmtp_stage_cancel (self->pending);
                g_clear_object (&self->pending);
        }
        if (self->delay != NULL) {
                g_source_destroy (self->delay);
                g_clear_pointer (&self->delay, g_source_unref);
        }
        g_clear_pointer (&self->parsing, gsmtp_parse_job_release);
        gsmtp_session_auth_abort (self);
        gsmtp_session_enter_state (self, SESSION_CLOSED);
        if (self->started)
                session_notify (self, GSMTP_SESSION_EVENT_ENDED, NULL);
        /* nothing of the host is touched from now on: it may be gone */
        self->host = NULL;
}

/* The peer is immutable once a stage or an envelope may hold it: a change makes
 * a new one (copy on write), so what a handler was given never changes under
 * it, whatever thread reads it. */
GSmtpPeer *
gsmtp_session_edit_peer (GSmtpSession *self)
{
        if (g_atomic_int_get (&G_OBJECT (self->peer)->ref_count) > 1) {
                GSmtpPeer *copy = gsmtp_peer_dup (self->peer);

                g_object_unref (self->peer);
                self->peer = copy;
        }
        return self->peer;
}

/* The transaction's envelope, copied on write like the peer: when more than
 * @own_refs references to it exist, someone else may be reading it. */
static void
session_edit_tx (GSmtpSession *self, guint own_refs)
{
        if ((guint) g_atomic_int_get (&G_OBJECT (self->tx)->ref_count) > own_refs) {
                GSmtpEnvelope *copy = gsmtp_envelope_copy (self->tx);

                g_object_unref (self->tx);
                self->tx = copy;
        }
}

/* Takes @peer, a new one with another client address (XCLIENT).  FALSE when
 * the address is refused: the session has said 421 and closed. */
gboolean
gsmtp_session_set_peer (GSmtpSession *self, GSmtpPeer *peer)
{
        g_object_unref (self->peer);
        self->peer = peer;
        if (self->callbacks != NULL && self->callbacks->peer_changed != NULL &&
            !self->callbacks->peer_changed (self->callbacks_data, peer)) {
                gsmtp_session_say (self, 421, "4.7.0", "Too many connections from your address");
                return FALSE;
        }
        return TRUE;
}

/* When the server stops, sessions with no transaction end now; the others when
 * their transaction ends. */
static void
session_maybe_drain (GSmtpSession *self)
{
        if (!self->draining || self->closing || gsmtp_session_is_waiting (self))
                return;
        if (self->state == SESSION_READY || self->state == SESSION_IDLE ||
            self->state == SESSION_AUTH || self->state == SESSION_BANNER)
                gsmtp_session_say (self, 421, "4.3.2", "Service shutting down, closing connection");
}

static void
session_wakeup (GSmtpSession *self)
{
        if (self->callbacks != NULL && self->callbacks->wakeup != NULL)
                self->callbacks->wakeup (self->callbacks_data);
}

/* ---- a reply held back (a failed AUTH) ------------------------------------------ */

static void
session_say_delayed (GSmtpSession *self)
{
        GSmtpReply *then = g_steal_pointer (&self->delayed_then);

        gsmtp_session_reply (self, g_steal_pointer (&self->delayed), self->delayed_enhanced);
        if (then != NULL)
                gsmtp_session_reply (self, then, NULL);
}

static gboolean
session_delay_done (gpointer data)
{
        GSmtpSession *self = data;

        g_clear_pointer (&self->delay, g_source_unref);
        session_say_delayed (self);
        session_process (self);
        session_wakeup (self);
        return G_SOURCE_REMOVE;
}

/* Takes @reply (and @then, said right after it) and sends it after @ms; the
 * session reads nothing meanwhile.  The timer runs in the host's context and is
 * kept as a GSource, so freeing the session from any thread finds it. */
void
gsmtp_session_delay_reply (GSmtpSession *self, GSmtpReply *reply, const char *enhanced, guint ms,
                           GSmtpReply *then)
{
        g_clear_pointer (&self->delayed, g_smtp_reply_unref);
        g_clear_pointer (&self->delayed_then, g_smtp_reply_unref);
        self->delayed = reply;
        self->delayed_enhanced = enhanced;
        self->delayed_then = then;
        if (ms == 0 || self->host == NULL) {
                session_say_delayed (self);
                return;
        }
        self->delay = g_timeout_source_new (ms);
        g_source_set_callback (self->delay, session_delay_done, self, NULL);
        g_source_attach (self->delay, self->host->context);
}

/* ---- asking the application ------------------------------------------------ */

static void
session_finish_stage (GSmtpSession *self, GSmtpReply *reply)
{
        GSmtpStage *stage = g_steal_pointer (&self->pending);
        GSmtpProceedFunc proceed = self->pending_proceed;

        gsmtp_stage_detach (stage);
        self->pending_proceed = NULL;
        proceed (self, stage, reply, NULL);
        gsmtp_stage_release (stage, &self->spare);
}

/* A deferred stage completed; runs in the host's context. */
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
        session_wakeup (self);
}

/* Takes @stage.  The answer reaches @proceed now or, when deferred, later. */
void
gsmtp_session_ask (GSmtpSession *self, GSmtpStage *stage, GSmtpProceedFunc proceed)
{
        GSmtpReply *reply;

        self->pending = stage;
        self->pending_proceed = proceed;
        gsmtp_stage_attach (stage, session_stage_done, self,
                            self->host != NULL ? self->host->context : NULL);
        reply = self->host != NULL ? self->host->funcs->decide (self->host, stage) : NULL;
        if (reply == NULL)
                return;         /* deferred, completed inside the handler, or the host went away */
        if (self->pending == stage)
                session_finish_stage (self, reply);
        else
                g_smtp_reply_unref (reply);
}

/* RFC 3463 codes for a bare reply code, by stage. */
const char *
gsmtp_session_stage_enhanced (GSmtpStageKind kind, guint code)
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
#define GREETED (IN (IDLE) | IN (MAIL) | IN (RCPT) | IN (BDAT))
#define ANY     (IN (READY) | GREETED)
#define TX      (IN (MAIL) | IN (RCPT) | IN (BDAT))

enum {
        PRE_TLS = 1 << 0,       /* allowed before STARTTLS when TLS is required */
        JUNK    = 1 << 1,       /* counts against max-junk-commands (Postfix's list) */
        CHUNK   = 1 << 2,       /* bytes follow the line: a refusal still reads them (BDAT) */
};

typedef struct {
        const char       *verb;
        guint             allowed;
        guint             flags;
        GSmtpCheckFunc    check;   /* syntax and limits; never changes state; NULL = fine */
        GSmtpProceedFunc  proceed; /* acts; with a stage, once the application answered */
} CommandSpec;

static GSmtpReply *
check_no_args (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (args[0] != '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax error: no parameters allowed");
        return NULL;
}

/* HELO, EHLO and LHLO: the client's name, and the stage that decides on it.
 * Any printable name is taken (clients send all sorts), but no longer than a
 * domain can be (RFC 5321 4.5.3.1.2): it goes into the Received header,
 * whose lines must stay within 998 octets. */
GSmtpReply *
gsmtp_session_check_hostname (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        static GSmtpReply *helo_ok;
        g_autofree char *name = NULL;
        const char *end = strchr (args, ' ');

        name = end != NULL ? g_strndup (args, end - args) : g_strdup (args);
        if (name[0] == '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax: HELO/EHLO hostname");
        if (strlen (name) > GSMTP_MAX_HELO_NAME)
                return g_smtp_reply_new (501, "5.5.4", "Hostname too long");
        for (const char *p = name; *p != '\0'; p++)
                if ((unsigned char) *p <= 32 || (unsigned char) *p >= 127)
                        return g_smtp_reply_new (501, "5.5.4", "Invalid hostname");
        *out_stage = gsmtp_stage_new_from (&self->spare, GSMTP_STAGE_HELO, self->peer, name, NULL, NULL);
        gsmtp_stage_set_default_reply (*out_stage, gsmtp_reply_shared (&helo_ok, 250, "2.0.0"));
        return NULL;
}

static GSmtpReply *
check_helo (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        /* RFC 2033 4.1: an LMTP server refuses HELO and EHLO */
        if (self->lmtp)
                return g_smtp_reply_new (500, "5.5.1", "This is an LMTP server: use LHLO");
        return gsmtp_session_check_hostname (self, args, out_stage);
}

static void
session_greet (GSmtpSession *self, GSmtpStage *stage, gboolean esmtp)
{
        const char *hostname = gsmtp_session_hostname (self);
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);

        /* RFC 5321 4.1.4: a new HELO/EHLO acts as RSET */
        gsmtp_session_reset_transaction (self);
        gsmtp_peer_set_helo (gsmtp_session_edit_peer (self), g_smtp_stage_get_argument (stage), esmtp);
        gsmtp_session_enter_state (self, SESSION_IDLE);

        g_ptr_array_add (lines, g_strdup_printf ("%s Hello %s", hostname,
                                                 g_smtp_stage_get_argument (stage)));
        if (esmtp) {
                g_ptr_array_add (lines, g_strdup ("PIPELINING"));
                g_ptr_array_add (lines, g_strdup_printf ("SIZE %" G_GSIZE_FORMAT,
                                                         self->limits.max_message_size));
                g_ptr_array_add (lines, g_strdup ("8BITMIME"));
                g_ptr_array_add (lines, g_strdup ("CHUNKING"));
                g_ptr_array_add (lines, g_strdup ("BINARYMIME"));
                g_ptr_array_add (lines, g_strdup ("ENHANCEDSTATUSCODES"));
                /* RFC 6531 3.1 (it needs the 8BITMIME above); RFC 3461; RFC
                 * 8689: REQUIRETLS only where it can be used, under TLS; RFC
                 * 9422: the recipient limit, so a client splits up front */
                g_ptr_array_add (lines, g_strdup ("SMTPUTF8"));
                g_ptr_array_add (lines, g_strdup ("DSN"));
                if (self->tls_active)
                        g_ptr_array_add (lines, g_strdup ("REQUIRETLS"));
                g_ptr_array_add (lines, g_strdup_printf ("LIMITS RCPTMAX=%u", self->limits.max_recipients));
                if (session_offers_tls (self) && !self->tls_active)
                        g_ptr_array_add (lines, g_strdup ("STARTTLS"));
                if (gsmtp_session_offers_auth (self))
                        g_ptr_array_add (lines, g_strdup ("AUTH PLAIN LOGIN"));
                if (gsmtp_session_allows_xclient (self))
                        g_ptr_array_add (lines, g_strdup ("XCLIENT NAME ADDR PORT PROTO HELO LOGIN"));
        }
        g_ptr_array_add (lines, NULL);
        gsmtp_session_reply_plain (self, g_smtp_reply_new_lines (250, NULL, (const char *const *) lines->pdata));
}

static void
proceed_helo (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_smtp_reply_unref (reply);
                session_greet (self, stage, FALSE);
        } else {
                gsmtp_session_reply (self, reply,
                                     gsmtp_session_stage_enhanced (GSMTP_STAGE_HELO, g_smtp_reply_get_code (reply)));
        }
}

static void
proceed_ehlo (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_smtp_reply_unref (reply);
                session_greet (self, stage, TRUE);
        } else {
                gsmtp_session_reply (self, reply,
                                     gsmtp_session_stage_enhanced (GSMTP_STAGE_HELO, g_smtp_reply_get_code (reply)));
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
                        if (self->limits.max_message_size != 0 &&
                            size > self->limits.max_message_size)
                                return g_smtp_reply_new (552, "5.3.4",
                                                         "Message size exceeds fixed maximum message size");
                } else if (g_str_equal (key, "BODY")) {
                        /* RFC 6152; RFC 3030 3: BINARYMIME, then only by BDAT */
                        if (value == NULL || (g_ascii_strcasecmp (value, "7BIT") != 0 &&
                                              g_ascii_strcasecmp (value, "8BITMIME") != 0 &&
                                              g_ascii_strcasecmp (value, "BINARYMIME") != 0))
                                return g_smtp_reply_new (501, "5.5.4", "Bad BODY parameter");
                } else if (g_str_equal (key, "AUTH")) {
                        /* RFC 4954 5: accepted, and trusted only as far as the session is */
                        if (value == NULL)
                                return g_smtp_reply_new (501, "5.5.4", "Bad AUTH parameter");
                } else if (gsmtp_esmtp_is_mail_param (key)) {
                        /* SMTPUTF8, REQUIRETLS, RET, ENVID: gsmtp_esmtp_parse_mail() */
                } else {
                        return g_smtp_reply_new (555, "5.5.4", "Unsupported MAIL parameter");
                }
        }
        return NULL;
}

static GSmtpReply *
check_mail (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        static GSmtpReply *mail_ok;
        g_autofree char *path = NULL;
        g_autoptr(GHashTable) params = NULL;
        g_autoptr(GSmtpEnvelope) tx = NULL;
        g_autofree char *mailer_daemon = NULL;
        g_auto(GSmtpMailParams) ext = { 0 };
        GSmtpPathStatus status;
        GSmtpReply *refusal;

        status = gsmtp_command_parse_path (args, "FROM:", TRUE, &path, &params);
        if (status != GSMTP_PATH_OK)
                return path_refusal (status, TRUE);
        refusal = check_mail_params (self, params);
        if (refusal == NULL)
                refusal = gsmtp_esmtp_parse_mail (params, self->tls_active, &ext);
        if (refusal != NULL)
                return refusal;
        /* RFC 6531 3.5: a UTF-8 reverse-path without SMTPUTF8 is 550 X.6.7 */
        if (!ext.smtputf8 && !g_str_is_ascii (path))
                return g_smtp_reply_new (550, "5.6.7", "UTF-8 address needs SMTPUTF8");

        mailer_daemon = self->host->funcs->dup_mailer_daemon (self->host);
        tx = gsmtp_envelope_new (self->peer, mailer_daemon);
        gsmtp_envelope_set_sender (tx, path, params);
        gsmtp_envelope_set_mail_ext (tx, &ext);
        *out_stage = gsmtp_stage_new_from (&self->spare, GSMTP_STAGE_MAIL, self->peer, path, params, tx);
        if (path[0] != '\0') {
                g_autofree char *local = NULL, *domain = NULL;

                if (gsmtp_address_parse (path, &local, &domain))
                        gsmtp_stage_set_address_parts (*out_stage, local, domain,
                                                       session_is_local_domain (self, domain));
        }
        gsmtp_stage_set_default_reply (*out_stage, gsmtp_reply_shared (&mail_ok, 250, "2.1.0"));
        return NULL;
}

static void
proceed_mail (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply)) {
                g_set_object (&self->tx, g_smtp_stage_get_envelope (stage));
                gsmtp_session_enter_state (self, SESSION_MAIL);
        }
        gsmtp_session_reply (self, reply,
                             gsmtp_session_stage_enhanced (GSMTP_STAGE_MAIL, g_smtp_reply_get_code (reply)));
}

static GSmtpReply *
check_rcpt (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        static GSmtpReply *rcpt_ok;
        g_autofree char *path = NULL;
        g_autofree char *local = NULL, *domain = NULL;
        g_autoptr(GHashTable) params = NULL;
        g_auto(GSmtpRcptParams) ext = { 0 };
        gboolean smtputf8 = g_smtp_envelope_is_smtputf8 (self->tx);
        GSmtpPathStatus status;
        GSmtpReply *refusal;
        gboolean is_local;

        status = gsmtp_command_parse_path (args, "TO:", FALSE, &path, &params);
        if (status != GSMTP_PATH_OK)
                return path_refusal (status, FALSE);
        if (g_hash_table_size (params) > 0 && !g_smtp_peer_get_esmtp (self->peer))
                return g_smtp_reply_new (555, "5.5.4", "ESMTP parameters need EHLO");
        refusal = gsmtp_esmtp_parse_rcpt (params, smtputf8, &ext);
        if (refusal != NULL)
                return refusal;
        /* RFC 6531 3.5: a UTF-8 forward-path without SMTPUTF8 is 553 X.6.7 */
        if (!smtputf8 && !g_str_is_ascii (path))
                return g_smtp_reply_new (553, "5.6.7", "UTF-8 address needs SMTPUTF8");
        if (g_smtp_envelope_get_n_recipients (self->tx) >= self->limits.max_recipients)
                return g_smtp_reply_new (452, "4.5.3", "Too many recipients");

        if (strchr (path, '@') == NULL) {
                /* <postmaster>, the one address without a domain (RFC 5321 4.5.1) */
                local = g_strdup (path);
                is_local = TRUE;
        } else {
                if (!gsmtp_address_parse (path, &local, &domain))
                        return path_refusal (GSMTP_PATH_BAD_ADDRESS, FALSE);
                is_local = session_is_local_domain (self, domain);
        }
        /* the stage sees the transaction as it is now, and keeps that view */
        *out_stage = gsmtp_stage_new_from (&self->spare, GSMTP_STAGE_RCPT, self->peer, path, params, self->tx);
        gsmtp_stage_set_address_parts (*out_stage, local, domain, is_local);
        gsmtp_stage_set_dsn (*out_stage, ext.notify, ext.orcpt);
        /* Postfix's permit_mynetworks-less default: local domains, or anyone who
         * authenticated (permit_sasl_authenticated); the rest is relaying. */
        if (is_local || self->authenticated)
                gsmtp_stage_set_default_reply (*out_stage, gsmtp_reply_shared (&rcpt_ok, 250, "2.1.5"));
        else
                gsmtp_stage_set_default_reply (*out_stage,
                                               g_smtp_reply_new (550, "5.7.1", "Relay access denied"));
        return NULL;
}

static void
proceed_rcpt (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        if (g_smtp_reply_is_success (reply) && self->tx != NULL) {
                GSmtpRcptParams ext = { g_smtp_stage_get_dsn_notify (stage),
                                        (char *) g_smtp_stage_get_dsn_orcpt (stage) };
                guint index;

                /* The envelope a stage or an application holds never changes:
                 * add to a copy when it is shared.  The stage's own reference
                 * is ours too, unless someone else holds the stage. */
                session_edit_tx (self, g_atomic_int_get (&G_OBJECT (stage)->ref_count) > 1 ? 0 : 2);
                /* A recipient named twice gets the message once; only true
                 * duplicates merge (local parts are case-sensitive). */
                index = gsmtp_envelope_add_recipient_ext (self->tx, g_smtp_stage_get_argument (stage), &ext);
                if (self->lmtp)
                        gsmtp_session_lmtp_rcpt_added (self, index);
                gsmtp_session_enter_state (self, SESSION_RCPT);
        }
        gsmtp_session_reply (self, reply,
                             gsmtp_session_stage_enhanced (GSMTP_STAGE_RCPT, g_smtp_reply_get_code (reply)));
}

/* DATA or BDAT with no recipient accepted: RFC 2920 3.1 says 554; RFC 2033
 * 4.2, 503 in LMTP.  NULL when there is one. */
GSmtpReply *
gsmtp_session_check_recipients (GSmtpSession *self)
{
        if (self->tx == NULL || g_smtp_envelope_get_n_recipients (self->tx) == 0)
                return g_smtp_reply_new (self->lmtp ? 503 : 554, "5.5.1", "No valid recipients");
        return NULL;
}

/* The reader of a message's bytes, by DATA or BDAT, within the session's limits */
GSmtpDataReader *
gsmtp_session_new_reader (GSmtpSession *self)
{
        return gsmtp_data_reader_new (self->limits.max_message_size, self->limits.max_line_length,
                                      self->limits.bare_linefeed, self->limits.spill_threshold);
}

static GSmtpReply *
check_data (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        GSmtpReply *refusal;

        if (args[0] != '\0')
                return g_smtp_reply_new (501, "5.5.4", "Syntax error: no parameters allowed");
        refusal = gsmtp_session_check_recipients (self);
        if (refusal != NULL)
                return refusal;
        /* RFC 3030 3: a BINARYMIME message can only come by BDAT */
        if (g_strcmp0 (g_smtp_envelope_get_body (self->tx), "BINARYMIME") == 0)
                return g_smtp_reply_new (503, "5.5.1", "BODY=BINARYMIME needs BDAT, not DATA");
        return NULL;
}

static void
proceed_data (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        gsmtp_session_say (self, 354, NULL, NULL);
        self->reader = gsmtp_session_new_reader (self);
        gsmtp_session_enter_state (self, SESSION_DATA);
}

static void
proceed_rset (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        gsmtp_session_reset_transaction (self);
        gsmtp_session_say (self, 250, "2.0.0", "Reset state");
}

static void
proceed_noop (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        gsmtp_session_say (self, 250, "2.0.0", "OK");
}

static void
proceed_vrfy (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        /* RFC 5321 3.5.3: 252 neither confirms nor denies; no address harvesting */
        if (args[0] == '\0')
                gsmtp_session_say (self, 501, "5.5.4", "Syntax: VRFY address");
        else
                gsmtp_session_say (self, 252, "2.0.0",
                                   "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
proceed_expn (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        gsmtp_session_say (self, 502, "5.5.1", "EXPN not available");
}

static void
proceed_help (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        gsmtp_session_say (self, 214, "2.0.0",
                           self->lmtp ? "Commands: LHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT" :
                           "Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT");
}

static void
proceed_quit (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        gsmtp_session_say (self, 221, "2.0.0", "Bye");
        gsmtp_session_close (self);
}

static GSmtpReply *
check_starttls (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        if (self->tls_active)
                return g_smtp_reply_new (503, "5.5.1", "TLS already active");
        if (!session_offers_tls (self))
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
        gsmtp_session_say (self, 220, "2.0.0", "Ready to start TLS");
        self->tls_pending = TRUE;
}

/* ---- dispatch ------------------------------------------------------------------ */

static const CommandSpec commands[] = {
/*        verb        allowed in              flags           check                        proceed                        */
        { "EHLO",     ANY,                    PRE_TLS,        check_helo,                  proceed_ehlo                  },
        { "HELO",     ANY,                    PRE_TLS,        check_helo,                  proceed_helo                  },
        { "MAIL",     IN (IDLE),              0,              check_mail,                  proceed_mail                  },
        { "RCPT",     IN (MAIL) | IN (RCPT),  0,              check_rcpt,                  proceed_rcpt                  },
        { "DATA",     IN (MAIL) | IN (RCPT),  0,              check_data,                  proceed_data                  },
        { "RSET",     ANY,                    PRE_TLS | JUNK, check_no_args,               proceed_rset                  },
        { "NOOP",     ANY,                    PRE_TLS | JUNK, NULL,                        proceed_noop                  },
        { "QUIT",     ANY,                    PRE_TLS,        NULL,                        proceed_quit                  },
        { "STARTTLS", IN (IDLE),              PRE_TLS,        check_starttls,              proceed_starttls              },
        { "AUTH",     IN (IDLE),              0,              gsmtp_session_check_auth,    gsmtp_session_proceed_auth    },
        { "VRFY",     ANY,                    JUNK,           NULL,                        proceed_vrfy                  },
        { "EXPN",     ANY,                    JUNK,           NULL,                        proceed_expn                  },
        { "HELP",     ANY,                    PRE_TLS | JUNK, NULL,                        proceed_help                  },
        { "XCLIENT",  IN (READY) | IN (IDLE), PRE_TLS,        gsmtp_session_check_xclient, gsmtp_session_proceed_xclient },
        { "LHLO",     ANY,                    PRE_TLS,        gsmtp_session_check_lhlo,    proceed_ehlo                  },
        { "BDAT",     TX,                     CHUNK,          gsmtp_session_check_bdat,    gsmtp_session_proceed_bdat    },
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
out_of_order_text (GSmtpSession *self, const CommandSpec *spec, SessionState state)
{
        if (state == SESSION_READY)
                return self->lmtp ? "Send LHLO first" : "Send HELO/EHLO first";
        if (state == SESSION_BDAT && !g_str_equal (spec->verb, "MAIL"))
                return "BDAT transfer in progress";     /* RFC 3030 2: no DATA after BDAT */
        if (g_str_equal (spec->verb, "MAIL"))
                return "Nested MAIL command";
        if (g_str_equal (spec->verb, "RCPT") || g_str_equal (spec->verb, "DATA") ||
            g_str_equal (spec->verb, "BDAT"))
                return "Need MAIL command first";
        return "Bad sequence of commands";
}

/* Past max-junk-commands, every NOOP, RSET, VRFY, EXPN or HELP also counts as an
 * error (Postfix's smtpd_junk_command_limit): a client that only idles with
 * NOOPs is ended by the error budget.  A delivered message resets the count. */
static void
session_count_junk (GSmtpSession *self)
{
        if (self->limits.max_junk_commands != 0 && ++self->n_junk > self->limits.max_junk_commands)
                session_count_error (self);
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
                        gsmtp_session_say (self, 421, "4.7.0", "This is an SMTP server, closing connection");
                        return;
                }
                gsmtp_session_say (self, 500, "5.5.2", "Command not recognized");
                return;
        }
        if (!(spec->allowed & (1u << self->state)))
                refusal = g_smtp_reply_new (503, "5.5.1", out_of_order_text (self, spec, self->state));
        else if (self->limits.require_tls && !self->tls_active && !(spec->flags & PRE_TLS))
                refusal = g_smtp_reply_new (530, "5.7.0", "Must issue a STARTTLS command first");
        else if (spec->check != NULL)
                refusal = spec->check (self, cmd.args, &stage);

        if (refusal != NULL) {
                g_clear_object (&stage);
                /* its chunk comes all the same, and is not a command */
                if (spec->flags & CHUNK) {
                        gsmtp_session_bdat_refuse (self, cmd.args, refusal);
                        return;
                }
                /* RCPT past max-recipients: 452 without counting, up to the
                 * overshoot limit (Postfix's smtpd_recipient_overshoot_limit) */
                if (g_smtp_reply_get_code (refusal) == 452 && self->tx != NULL &&
                    ++self->n_overshoot <= GSMTP_RECIPIENT_OVERSHOOT) {
                        gsmtp_session_reply_uncounted (self, refusal, NULL);
                        return;
                }
                gsmtp_session_reply (self, refusal, NULL);
                return;
        }
        if (stage != NULL)
                gsmtp_session_ask (self, stage, spec->proceed);
        else
                spec->proceed (self, NULL, NULL, cmd.args);
        if (spec->flags & JUNK)
                session_count_junk (self);
}

static void
session_log_command (GSmtpSession *self, const char *line)
{
        if (!self->limits.protocol_log)
                return;
        /* The protocol log never shows secrets: SASL responses and initial
         * responses are masked. */
        if (self->state == SESSION_AUTH) {
                gsmtp_session_log (self, "C:", "****", 4);
        } else if (g_ascii_strncasecmp (line, "AUTH ", 5) == 0) {
                const char *sp = strchr (line + 5, ' ');
                g_autofree char *masked = sp != NULL ? g_strdup_printf ("%.*s ****", (int) (sp - line), line)
                                                     : g_strdup (line);
                gsmtp_session_log (self, "C:", masked, strlen (masked));
        } else {
                gsmtp_session_log (self, "C:", line, strlen (line));
        }
}

/* ---- end of data --------------------------------------------------------------- */

static void proceed_data_end (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                              const char *args);

/* Why the message being read is refused, or NULL while it is fine. */
GSmtpReply *
gsmtp_session_data_refusal (GSmtpSession *self)
{
        switch (gsmtp_data_reader_get_status (self->reader)) {
        case GSMTP_DATA_TOO_BIG:
                return g_smtp_reply_new (552, "5.3.4", "Message size exceeds fixed maximum message size");
        case GSMTP_DATA_LINE_TOO_LONG:
                return g_smtp_reply_new (500, "5.5.2", "Message has a line too long");
        case GSMTP_DATA_BARE_LINEFEED:
                return g_smtp_reply_new (550, "5.5.2", "Message contains bare CR or LF, refused");
        case GSMTP_DATA_IO_ERROR:
                return g_smtp_reply_new (451, "4.3.0", "Local error storing the message");
        case GSMTP_DATA_OK:
        default:
                return NULL;
        }
}

/* The message is refused whole and the transaction ends.  Takes @reply.
 * RFC 2033 4.2: under LMTP each accepted RCPT still gets a reply, the same
 * one; they count as one error. */
void
gsmtp_session_refuse_message (GSmtpSession *self, GSmtpReply *reply)
{
        guint n = self->lmtp && self->lmtp_rcpts != NULL ? self->lmtp_rcpts->len : 1;

        for (guint i = 1; i < n; i++)
                session_write_reply (self, reply, NULL, TRUE);
        gsmtp_session_reset_transaction (self);
        gsmtp_session_reply (self, reply, NULL);
}

static void session_ask_data (GSmtpSession *self);
static void session_data_parsed (gpointer data);

/* The whole message is here (after DATA's CRLF.CRLF, or BDAT LAST): the
 * application decides on it.  @chunked: it came by BDAT. */
void
gsmtp_session_end_data (GSmtpSession *self, gboolean chunked)
{
        g_autoptr(GSmtpDataReader) reader = NULL;
        g_autoptr(GError) error = NULL;
        char *received, *received_raw;
        GSmtpReply *refusal = gsmtp_session_data_refusal (self);

        gsmtp_session_log (self, "C:", "<message data>", 14);
        if (refusal != NULL) {
                gsmtp_session_refuse_message (self, refusal);
                return;
        }
        reader = g_steal_pointer (&self->reader);
        /* From here on the transaction's envelope is the message's, and
         * nothing changes it any more. */
        session_edit_tx (self, 1);
        gsmtp_envelope_set_chunked (self->tx, chunked);
        if (!gsmtp_data_reader_finish (reader, self->tx, &error)) {
                g_warning ("gsmtp: %s", error != NULL ? error->message : "cannot keep the message");
                gsmtp_session_refuse_message (self, g_smtp_reply_new (451, "4.3.0",
                                                                      "Local error storing the message"));
                return;
        }
        received = gsmtp_received_format (&self->received, self->peer, gsmtp_session_hostname (self),
                                          g_smtp_envelope_get_recipients (self->tx),
                                          g_smtp_envelope_is_smtputf8 (self->tx), &received_raw);
        gsmtp_envelope_take_received (self->tx, received, received_raw);
        /* parsed first (a large message in a worker), so that the handler
         * never waits for GMime; meanwhile the session waits as for a
         * deferred stage */
        self->parsing = gsmtp_parse_job_start (self->tx, &self->limits.mime,
                                               self->limits.parse_messages && self->host != NULL &&
                                               self->host->funcs->parses_messages (self->host),
                                               self->host != NULL ? self->host->context : NULL,
                                               session_data_parsed, self);
        if (self->parsing == NULL)
                session_ask_data (self);
}

static void
session_ask_data (GSmtpSession *self)
{
        static GSmtpReply *data_ok;
        GSmtpStage *stage = gsmtp_stage_new_from (&self->spare, GSMTP_STAGE_DATA, self->peer, NULL, NULL, self->tx);

        gsmtp_stage_set_default_reply (stage, gsmtp_reply_shared (&data_ok, 250, "2.0.0"));
        gsmtp_session_ask (self, stage, proceed_data_end);
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
        session_wakeup (self);
}

/* A plain 250 after the data says where the message went: "OK: queued as
 * <session id>.<n>".  Takes @reply and returns the one to send. */
GSmtpReply *
gsmtp_session_queued_reply (GSmtpSession *self, GSmtpReply *reply)
{
        char text[128], count[16];
        guint code = g_smtp_reply_get_code (reply);
        guint n = self->n_accepted;
        int i = sizeof count;

        if (code < 200 || code >= 300 || g_smtp_reply_get_enhanced_code (reply) != NULL ||
            !g_str_equal (g_smtp_reply_get_text (reply), "OK"))
                return reply;
        /* "OK: queued as <session id>.<n>", without printf: every message */
        count[--i] = '\0';
        do {
                count[--i] = '0' + n % 10;
                n /= 10;
        } while (n > 0);
        count[--i] = '.';
        g_strlcpy (text, "OK: queued as ", sizeof text);
        g_strlcat (text, g_smtp_peer_get_session_id (self->peer), sizeof text);
        g_strlcat (text, count + i, sizeof text);
        g_smtp_reply_unref (reply);
        return g_smtp_reply_new (code, "2.0.0", text);
}

static void
proceed_data_end (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        guint code = g_smtp_reply_get_code (reply);

        if (self->lmtp) {
                gsmtp_session_lmtp_data_end (self, stage, reply);
                return;
        }
        /* A 250 here means the application has the whole message. */
        if (code >= 200 && code < 300) {
                self->n_accepted++;
                self->n_junk = 0;
                reply = gsmtp_session_queued_reply (self, reply);
                session_notify (self, GSMTP_SESSION_EVENT_MESSAGE_ACCEPTED,
                                g_smtp_stage_get_envelope (stage));
        } else if (code < 400) {
                /* 3xx makes no sense after the data */
                g_warning ("gsmtp: DATA handler answered %u; sending 451", code);
                g_smtp_reply_unref (reply);
                reply = g_smtp_reply_new (451, "4.3.0", NULL);
                code = 451;
        }
        gsmtp_session_reset_transaction (self);
        gsmtp_session_reply (self, reply, gsmtp_session_stage_enhanced (GSMTP_STAGE_DATA, code));
}

static void
session_sync_violation (GSmtpSession *self)
{
        gsmtp_session_say (self, 554, "5.5.0", "Protocol synchronization error, closing connection");
        gsmtp_session_close (self);
}

/* ---- input ------------------------------------------------------------------------ */

static gboolean
session_paused (GSmtpSession *self)
{
        return self->closing || self->tls_pending || gsmtp_session_is_waiting (self);
}

/* Handles every complete line or message in @buf, until the session has to
 * wait: for the application, a handshake, a delay, or more bytes.  Returns how
 * many bytes it used; the caller keeps the rest. */
static gsize
session_run (GSmtpSession *self, const guint8 *buf, gsize buf_len)
{
        gsize pos = 0;

        while (!session_paused (self) && pos < buf_len) {
                const guint8 *data = buf + pos;
                gsize avail = buf_len - pos, len;
                const guint8 *lf;

                if (self->state == SESSION_DATA) {
                        gboolean done = FALSE;

                        pos += gsmtp_data_reader_feed (self->reader, data, avail, &done);
                        if (done)
                                gsmtp_session_end_data (self, FALSE);
                        continue;
                }
                if (gsmtp_session_bdat_in_chunk (self)) {
                        pos += gsmtp_session_bdat_feed (self, data, avail);
                        continue;
                }
                lf = memchr (data, '\n', avail);
                if (lf == NULL) {
                        /* An overlong line with no end in sight: drop what came,
                         * remember to refuse it once its end arrives. */
                        if (avail >= self->limits.max_line_length) {
                                self->discarding_line = TRUE;
                                pos += avail;
                        }
                        break;
                }
                len = lf - data + 1;
                pos += len;
                if (self->discarding_line || len > self->limits.max_line_length) {
                        self->discarding_line = FALSE;
                        /* inside an AUTH exchange the line was an answer: the
                         * exchange ends, or the next command would be taken
                         * for the next answer */
                        if (self->state == SESSION_AUTH)
                                gsmtp_session_auth_abort (self);
                        gsmtp_session_say (self, 500, "5.5.2", "Line too long");
                        continue;
                }
                len--;
                if (len > 0 && data[len - 1] == '\r')
                        len--;
                g_string_truncate (self->line, 0);
                g_string_append_len (self->line, (const char *) data, len);
                if (memchr (self->line->str, '\0', len) != NULL) {
                        if (self->state == SESSION_AUTH)
                                gsmtp_session_auth_abort (self);
                        gsmtp_session_say (self, 500, "5.5.2", "Invalid character in command");
                        continue;
                }
                session_log_command (self, self->line->str);
                if (self->state == SESSION_AUTH) {
                        gsmtp_session_auth_line (self, self->line->str);
                } else {
                        session_dispatch (self, self->line->str);
                        /* RFC 2920 3.1: DATA ends a pipelined group; content must
                         * wait for 354.  Content already here was sent blind. */
                        if (self->state == SESSION_DATA && pos < buf_len &&
                            self->limits.strict_pipelining)
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
gsmtp_session_new (GSmtpSessionHost *host, GSmtpPeer *peer, gboolean tls_active,
                   const GSmtpSessionCallbacks *callbacks, gpointer data)
{
        GSmtpSession *self = g_new0 (GSmtpSession, 1);

        self->host = host;
        self->limits = *host->limits;
        self->peer = g_object_ref (peer);
        self->state = SESSION_BANNER;
        self->tls_active = tls_active;
        self->lmtp = g_smtp_peer_is_lmtp (peer);
        self->out = g_string_sized_new (256);
        self->line = g_string_sized_new (128);
        self->callbacks = callbacks;
        self->callbacks_data = data;
        return self;
}

void
gsmtp_session_free (GSmtpSession *self)
{
        if (self == NULL)
                return;
        gsmtp_session_close (self);
        g_clear_object (&self->spare);
        gsmtp_received_cache_clear (&self->received);
        g_clear_pointer (&self->delayed, g_smtp_reply_unref);
        g_clear_pointer (&self->delayed_then, g_smtp_reply_unref);
        g_clear_pointer (&self->auth, gsmtp_session_auth_free);
        g_clear_pointer (&self->bdat, gsmtp_session_bdat_free);
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
                gsmtp_session_send_banner (self);
                gsmtp_session_enter_state (self, SESSION_READY);
                return;
        }
        /* A refused connection: say why and go (RFC 5321 3.1 allows 554 then
         * waiting for QUIT; closing is what clients cope with best). */
        gsmtp_session_reply (self, reply, g_smtp_reply_get_code (reply) < 500 ? "4.7.0" : "5.7.1");
        gsmtp_session_close (self);
}

/* The connect stage: the application sees the client and the banner goes out. */
void
gsmtp_session_start (GSmtpSession *self)
{
        GSmtpStage *stage;

        if (self->closing)
                return;
        self->started = TRUE;
        session_notify (self, GSMTP_SESSION_EVENT_STARTED, NULL);
        if (self->closing)
                return;
        stage = gsmtp_stage_new (GSMTP_STAGE_CONNECT, self->peer, NULL, NULL, NULL);
        gsmtp_session_enter_state (self, SESSION_BANNER);
        gsmtp_stage_set_default_reply (stage, g_smtp_reply_new (220, NULL, NULL));
        self->in_process = TRUE;
        gsmtp_session_ask (self, stage, proceed_connect);
        self->in_process = FALSE;
        session_process (self);
}

/* The client talked before the banner (bytes right behind a PROXY header). */
void
gsmtp_session_early_talker (GSmtpSession *self)
{
        if (!self->closing && self->limits.strict_pipelining)
                session_sync_violation (self);
}

void
gsmtp_session_feed (GSmtpSession *self, const guint8 *data, gsize len)
{
        gsize pos;

        if (self->closing || len == 0)
                return;
        /* A client that talks before the banner did not wait for it. */
        if (self->state == SESSION_BANNER && self->limits.strict_pipelining) {
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
        /* A message not ended by CRLF.CRLF or BDAT LAST is never delivered. */
        gsmtp_session_close (self);
}

void
gsmtp_session_timeout (GSmtpSession *self)
{
        if (self->closing)
                return;
        gsmtp_session_say (self, 421, "4.4.2", "Timeout exceeded, closing connection");
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
        /* The grace period is over: everything ends now.  An answer the
         * application already gave goes out first, so a 250 given is a 250
         * sent; a stage still out is cancelled (its client gets 421 and sends
         * the message again). */
        if (self->pending != NULL)
                gsmtp_stage_flush (self->pending);
        if (!self->closing)
                gsmtp_session_say (self, 421, "4.3.2", "Service shutting down, closing connection");
}

/* The host is going away now: close without a word and without asking it
 * anything more.  A stage out with the application is cancelled. */
void
gsmtp_session_abort (GSmtpSession *self)
{
        gsmtp_session_close (self);
}

/* Says @code and closes: the connection refuses the client (a PROXY address
 * over the per-address limit). */
void
gsmtp_session_refuse (GSmtpSession *self, guint code, const char *enhanced, const char *text)
{
        if (self->closing)
                return;
        gsmtp_session_say (self, code, enhanced, text);
        gsmtp_session_close (self);
}

void
gsmtp_session_tls_started (GSmtpSession *self, const char *version, const char *cipher,
                           GTlsCertificate *client_cert)
{
        GSmtpPeer *peer;

        self->tls_pending = FALSE;
        self->tls_active = TRUE;
        peer = gsmtp_session_edit_peer (self);
        gsmtp_peer_set_tls (peer, version, cipher, client_cert);
        /* RFC 3207 4.2: forget everything learned before the handshake, the
         * client's identity from a cleartext AUTH included: a man in the middle
         * could have sent that AUTH. */
        if (self->state != SESSION_BANNER) {
                gsmtp_peer_set_helo (peer, NULL, FALSE);
                gsmtp_peer_set_username (peer, NULL);
                self->authenticated = FALSE;
                gsmtp_session_auth_abort (self);
                gsmtp_session_reset_transaction (self);
                gsmtp_session_enter_state (self, SESSION_READY);
        }
}

GSmtpPeer *
gsmtp_session_get_peer (GSmtpSession *self)
{
        return self->peer;
}

const GSmtpLimits *
gsmtp_session_get_limits (GSmtpSession *self)
{
        return &self->limits;
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
        if (self->closing || self->tls_pending || self->delay != NULL)
                return FALSE;
        if (self->pending != NULL || self->parsing != NULL)
                return self->in == NULL || self->in->len < self->limits.max_line_length;
        return TRUE;
}

/* Reading a message: after DATA, from the first BDAT to the last, or the
 * bytes of any chunk (a refused one too): the data timeout bounds it all. */
gboolean
gsmtp_session_in_data (GSmtpSession *self)
{
        return self->state == SESSION_DATA || self->state == SESSION_BDAT ||
               gsmtp_session_bdat_in_chunk (self);
}

/* A stage is out with the application, or a reply is held back on purpose: no
 * timer may end the session meanwhile. */
gboolean
gsmtp_session_is_waiting (GSmtpSession *self)
{
        return self->pending != NULL || self->delay != NULL || self->parsing != NULL;
}

/* Part of a command line has come, not its end: the idle timeout then runs
 * from the line's first byte, not from the last one. */
gboolean
gsmtp_session_has_partial_line (GSmtpSession *self)
{
        return self->state != SESSION_DATA && !gsmtp_session_bdat_in_chunk (self) &&
               ((self->in != NULL && self->in->len > 0) || self->discarding_line);
}

/* gsmtp-stage.c — GSmtpStage, one decision the application makes.
 * Owns: what a handler sees (kind, peer, argument, parameters, envelope), the
 * server's default answer, and the deferred-reply handshake.
 * Not: acting on the answer (gsmtp-session.c). */
#include "config.h"
#include "gsmtp-private.h"

#include <string.h>

struct _GSmtpStage {
        GObject         parent_instance;

        GSmtpStageKind  kind;
        GSmtpPeer      *peer;           /* (owned) */
        char           *argument;       /* (owned) (nullable) */
        char           *local_part;     /* (owned) (nullable) */
        char           *domain;         /* (owned) (nullable) */
        gboolean        is_local;
        char           *password;       /* (owned) (nullable): AUTH only; wiped on finalize */
        GHashTable     *params;         /* (owned) (nullable) */
        GSmtpEnvelope  *envelope;       /* (owned) (nullable) */
        GSmtpReply     *default_reply;  /* (owned) (nullable) */

        gboolean        deferred;
        gboolean        completed;
        GSmtpReply     *answer;         /* (owned) (nullable): given to complete(), not yet delivered */
        GSmtpStageDone  done;           /* (nullable): NULL once the session is gone */
        gpointer        session;        /* (unowned) (nullable) */
        GMainContext   *context;        /* (owned) (nullable): where @done runs */
};

/**
 * GSmtpStage:
 *
 * What a stage handler decides on.  Answer with a [struct@GSmtp.Reply], or
 * defer with [method@GSmtp.Stage.defer] and answer later with
 * [method@GSmtp.Stage.complete].
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpStage, g_smtp_stage, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (GSmtpStageKind, g_smtp_stage_kind,
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_NONE, "none"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_CONNECT, "connect"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_HELO, "helo"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_AUTH, "auth"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_MAIL, "mail"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_RCPT, "rcpt"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_DATA, "data"))

static void
g_smtp_stage_finalize (GObject *object)
{
        GSmtpStage *self = GSMTP_STAGE (object);

        g_clear_object (&self->peer);
        g_free (self->argument);
        g_free (self->local_part);
        g_free (self->domain);
        if (self->password != NULL) {
                memset (self->password, 0, strlen (self->password));
                g_free (self->password);
        }
        g_clear_pointer (&self->params, g_hash_table_unref);
        g_clear_object (&self->envelope);
        g_clear_pointer (&self->default_reply, g_smtp_reply_unref);
        g_clear_pointer (&self->answer, g_smtp_reply_unref);
        g_clear_pointer (&self->context, g_main_context_unref);
        G_OBJECT_CLASS (g_smtp_stage_parent_class)->finalize (object);
}

static void
g_smtp_stage_class_init (GSmtpStageClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = g_smtp_stage_finalize;
}

static void
g_smtp_stage_init (GSmtpStage *self)
{
}

GSmtpStage *
gsmtp_stage_new (GSmtpStageKind kind, GSmtpPeer *peer, const char *argument,
                 GHashTable *params, GSmtpEnvelope *envelope)
{
        GSmtpStage *self = g_object_new (GSMTP_TYPE_STAGE, NULL);

        self->kind = kind;
        self->peer = g_object_ref (peer);
        self->argument = g_strdup (argument);
        if (params != NULL)
                self->params = g_hash_table_ref (params);
        if (envelope != NULL)
                self->envelope = g_object_ref (envelope);
        return self;
}

void
gsmtp_stage_set_address_parts (GSmtpStage *self, const char *local_part, const char *domain,
                               gboolean is_local)
{
        g_free (self->local_part);
        self->local_part = g_strdup (local_part);
        g_free (self->domain);
        self->domain = g_strdup (domain);
        self->is_local = is_local;
}

void
gsmtp_stage_set_password (GSmtpStage *self, const char *password)
{
        g_free (self->password);
        self->password = g_strdup (password);
}

void
gsmtp_stage_set_default_reply (GSmtpStage *self, GSmtpReply *reply)
{
        g_clear_pointer (&self->default_reply, g_smtp_reply_unref);
        self->default_reply = reply;
}

gboolean
gsmtp_stage_is_deferred (GSmtpStage *self)
{
        return self->deferred;
}

void
gsmtp_stage_attach (GSmtpStage *self, GSmtpStageDone done, gpointer session)
{
        self->done = done;
        self->session = session;
        g_clear_pointer (&self->context, g_main_context_unref);
        self->context = g_main_context_ref_thread_default ();
}

/* The session is going away: a late completion must find nobody to call. */
void
gsmtp_stage_detach (GSmtpStage *self)
{
        self->done = NULL;
        self->session = NULL;
}

/**
 * g_smtp_stage_get_kind:
 * @self: a stage
 *
 * Gets which stage this is.
 *
 * Returns: which stage this is
 *
 * Since: 0.1
 */
GSmtpStageKind
g_smtp_stage_get_kind (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), GSMTP_STAGE_NONE);
        return self->kind;
}

/**
 * g_smtp_stage_get_peer:
 * @self: a stage
 *
 * Gets the client.
 *
 * Returns: (transfer none): the client
 *
 * Since: 0.1
 */
GSmtpPeer *
g_smtp_stage_get_peer (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->peer;
}

/**
 * g_smtp_stage_get_argument:
 * @self: a stage
 *
 * Gets the HELO name, the path of MAIL or RCPT without angle brackets ("" for `<>`),
 * or the user name of AUTH.
 *
 * Returns: (nullable): the HELO name, the path of MAIL or RCPT without angle
 *   brackets ("" for `<>`), or the user name of AUTH
 *
 * Since: 0.1
 */
const char *
g_smtp_stage_get_argument (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->argument;
}

/**
 * g_smtp_stage_get_address:
 * @self: a stage
 *
 * The mailbox of a MAIL or RCPT stage; for a null sender, the stand-in
 * `MAILER-DAEMON@<primary domain>` (see g_smtp_envelope_get_reverse_path()).
 *
 * Returns: (nullable): the address
 *
 * Since: 0.1
 */
const char *
g_smtp_stage_get_address (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        if (self->kind == GSMTP_STAGE_MAIL && self->envelope != NULL &&
            self->argument != NULL && self->argument[0] == '\0')
                return g_smtp_envelope_get_reverse_path (self->envelope);
        if (self->kind == GSMTP_STAGE_MAIL || self->kind == GSMTP_STAGE_RCPT)
                return self->argument;
        return NULL;
}

/**
 * g_smtp_stage_get_local_part:
 * @self: a stage
 *
 * Gets the local part of the MAIL or RCPT address.
 *
 * Returns: (nullable): the local part of the MAIL or RCPT address
 *
 * Since: 0.1
 */
const char *
g_smtp_stage_get_local_part (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->local_part;
}

/**
 * g_smtp_stage_get_domain:
 * @self: a stage
 *
 * Gets the domain of the MAIL or RCPT address.
 *
 * Returns: (nullable): the domain of the MAIL or RCPT address
 *
 * Since: 0.1
 */
const char *
g_smtp_stage_get_domain (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->domain;
}

/**
 * g_smtp_stage_is_local_domain:
 * @self: a stage
 *
 * Tells whether the RCPT domain is one of the server's domains (or matches a `*` or
 * `*.example.org` entry).
 *
 * Returns: %TRUE when the RCPT domain is one of the server's domains (or
 *   matches a `*` or `*.example.org` entry)
 *
 * Since: 0.1
 */
gboolean
g_smtp_stage_is_local_domain (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), FALSE);
        return self->is_local;
}

/**
 * g_smtp_stage_get_password:
 * @self: a stage
 *
 * Gets the password of an AUTH stage.
 *
 * Returns: (nullable): the password of an AUTH stage
 *
 * Since: 0.1
 */
const char *
g_smtp_stage_get_password (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->password;
}

/**
 * g_smtp_stage_get_parameters:
 * @self: a stage
 *
 * Gets the ESMTP parameters of MAIL or RCPT: upper-case keywords, values or %NULL.
 *
 * Returns: (transfer none) (nullable) (element-type utf8 utf8): the ESMTP
 *   parameters of MAIL or RCPT: upper-case keywords, values or %NULL
 *
 * Since: 0.1
 */
GHashTable *
g_smtp_stage_get_parameters (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->params;
}

/**
 * g_smtp_stage_get_envelope:
 * @self: a stage
 *
 * Gets the transaction so far (MAIL, RCPT) or whole (DATA).
 *
 * Returns: (transfer none) (nullable): the transaction so far (MAIL, RCPT) or
 *   whole (DATA)
 *
 * Since: 0.1
 */
GSmtpEnvelope *
g_smtp_stage_get_envelope (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->envelope;
}

/**
 * g_smtp_stage_get_default_reply:
 * @self: a stage
 *
 * What the server answers when no handler decides: for RCPT, `250` for a
 * local domain and `550 5.7.1` (relay denied) for others.
 *
 * Returns: (transfer none): the reply
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_stage_get_default_reply (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->default_reply;
}

/**
 * g_smtp_stage_accept_default:
 * @self: a stage
 *
 * For a handler that has nothing to add: `return g_smtp_stage_accept_default (stage);`
 *
 * Returns: (transfer full): a reference to the default reply
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_stage_accept_default (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return g_smtp_reply_ref (self->default_reply);
}

/**
 * g_smtp_stage_defer:
 * @self: a stage
 *
 * Announces that the handler will answer later: it returns %NULL now and
 * calls g_smtp_stage_complete() when it knows.  Meanwhile the session reads
 * no further commands; pipelined ones wait, and replies stay in order.
 *
 * Returns: (transfer full): a reference for the handler to keep until it completes
 *
 * Since: 0.1
 */
GSmtpStage *
g_smtp_stage_defer (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        g_return_val_if_fail (!self->completed, NULL);
        self->deferred = TRUE;
        return g_object_ref (self);
}

static gboolean
stage_deliver (gpointer data)
{
        GSmtpStage *self = data;
        GSmtpReply *reply = g_steal_pointer (&self->answer);

        if (self->done != NULL)
                self->done (self, reply, self->session);
        else if (reply != NULL)
                g_smtp_reply_unref (reply);
        return G_SOURCE_REMOVE;
}

/**
 * g_smtp_stage_complete:
 * @self: a deferred stage
 * @reply: (transfer full): the answer
 *
 * Answers a deferred stage.  May be called from any thread; the session goes
 * on in the server's main context.  When the client has gone meanwhile
 * (g_smtp_stage_is_cancelled()), the reply is dropped.
 *
 * Since: 0.1
 */
void
g_smtp_stage_complete (GSmtpStage *self, GSmtpReply *reply)
{
        g_return_if_fail (GSMTP_IS_STAGE (self));
        g_return_if_fail (reply != NULL);
        if (!self->deferred || self->completed) {
                g_warning ("gsmtp: g_smtp_stage_complete() on a stage that is not pending");
                g_smtp_reply_unref (reply);
                return;
        }
        self->completed = TRUE;
        self->answer = reply;
        if (self->context == NULL || g_main_context_is_owner (self->context)) {
                stage_deliver (self);
                return;
        }
        g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, stage_deliver,
                                    g_object_ref (self), g_object_unref);
}

/**
 * g_smtp_stage_complete_code:
 * @self: a deferred stage
 * @code: a reply code
 *
 * g_smtp_stage_complete() with g_smtp_reply_new_code().
 *
 * Since: 0.1
 */
void
g_smtp_stage_complete_code (GSmtpStage *self, guint code)
{
        g_smtp_stage_complete (self, g_smtp_reply_new_code (code));
}

/**
 * g_smtp_stage_is_pending:
 * @self: a stage
 *
 * Tells whether a deferred stage still waits for g_smtp_stage_complete().
 *
 * Returns: %TRUE while a deferred stage waits for g_smtp_stage_complete()
 *
 * Since: 0.1
 */
gboolean
g_smtp_stage_is_pending (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), FALSE);
        return self->deferred && !self->completed;
}

/**
 * g_smtp_stage_is_cancelled:
 * @self: a stage
 *
 * Tells whether the session ended before the stage was answered.
 *
 * Returns: %TRUE when the session ended before the stage was answered
 *
 * Since: 0.1
 */
gboolean
g_smtp_stage_is_cancelled (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), FALSE);
        return self->deferred && self->done == NULL;
}

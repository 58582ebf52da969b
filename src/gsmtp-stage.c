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
        GSmtpDsnNotify  dsn_notify;     /* RCPT: its NOTIFY= */
        char           *dsn_orcpt;      /* (owned) (nullable): RCPT: its ORCPT=, decoded */
        GSmtpEnvelope  *envelope;       /* (owned) (nullable) */
        GSmtpReply     *default_reply;  /* (owned) (nullable) */

        /* Everything above is set before a handler sees the stage and never
         * changes after: a stage is a snapshot, readable from any thread.
         * Below, what moves: @state and @cancelled are atomic; @done and
         * @session are only touched in @context's thread. */
        int             state;          /* (atomic) StageState */
        int             cancelled;      /* (atomic) boolean: the session went away first */
        GSmtpReply     *answer;         /* (owned) (nullable): given to complete(), not yet delivered */
        GSmtpStageDone  done;           /* (nullable): NULL once the session let go */
        gpointer        session;        /* (unowned) (nullable) */
        GMainContext   *context;        /* (owned) (nullable): the server's, where @done runs */
        GCancellable   *cancellable;    /* (owned) (nullable) (atomic): made when first asked for */

        /* LMTP's per-recipient answers (DATA only), set by the handler from
         * any thread until the stage is answered; @lock guards both. */
        GMutex          lock;
        GPtrArray      *recipient_replies; /* (owned) (nullable) (element-type GSmtpReply):
                                            * by envelope index; NULL entries: the stage's reply */
        gboolean        sealed;         /* answered: no more per-recipient replies */
        gboolean        shown;          /* given to a handler (gsmtp_stage_mark_shown()) */
};

typedef enum {
        STAGE_DECIDING,                 /* the handler runs */
        STAGE_DEFERRED,                 /* it deferred: complete() is awaited */
        STAGE_COMPLETING,               /* complete() is storing the answer */
        STAGE_COMPLETED,                /* the answer is stored, on its way to @context */
} StageState;

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
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_CONNECT, "connect"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_HELO, "helo"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_AUTH, "auth"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_MAIL, "mail"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_RCPT, "rcpt"),
        G_DEFINE_ENUM_VALUE (GSMTP_STAGE_DATA, "data"))

/* Frees what the stage holds and leaves it as g_smtp_stage_init() made it. */
static void
stage_clear (GSmtpStage *self)
{
        g_clear_object (&self->peer);
        g_clear_pointer (&self->argument, g_free);
        g_clear_pointer (&self->local_part, g_free);
        g_clear_pointer (&self->domain, g_free);
        self->is_local = FALSE;
        if (self->password != NULL) {
                memset (self->password, 0, strlen (self->password));
                g_clear_pointer (&self->password, g_free);
        }
        g_clear_pointer (&self->params, g_hash_table_unref);
        self->dsn_notify = GSMTP_DSN_NOTIFY_UNSPECIFIED;
        g_clear_pointer (&self->dsn_orcpt, g_free);
        g_clear_object (&self->envelope);
        g_clear_pointer (&self->default_reply, g_smtp_reply_unref);
        self->state = STAGE_DECIDING;
        self->cancelled = FALSE;
        g_clear_pointer (&self->answer, g_smtp_reply_unref);
        self->done = NULL;
        self->session = NULL;
        g_clear_pointer (&self->context, g_main_context_unref);
        g_clear_object (&self->cancellable);
        g_clear_pointer (&self->recipient_replies, g_ptr_array_unref);
        self->sealed = FALSE;
        self->shown = FALSE;
}

static void
g_smtp_stage_finalize (GObject *object)
{
        GSmtpStage *self = GSMTP_STAGE (object);

        stage_clear (self);
        g_mutex_clear (&self->lock);
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
        g_mutex_init (&self->lock);
}

static void
reply_unref_nullable (gpointer reply)
{
        if (reply != NULL)
                g_smtp_reply_unref (reply);
}

/* No per-recipient reply is taken from now on (the session has the answer). */
static void
stage_seal (GSmtpStage *self)
{
        g_mutex_lock (&self->lock);
        self->sealed = TRUE;
        g_mutex_unlock (&self->lock);
}

static void
stage_fill (GSmtpStage *self, GSmtpStageKind kind, GSmtpPeer *peer, const char *argument,
            GHashTable *params, GSmtpEnvelope *envelope)
{
        self->kind = kind;
        self->peer = g_object_ref (peer);
        self->argument = g_strdup (argument);
        if (params != NULL)
                self->params = g_hash_table_ref (params);
        if (envelope != NULL)
                self->envelope = g_object_ref (envelope);
}

GSmtpStage *
gsmtp_stage_new (GSmtpStageKind kind, GSmtpPeer *peer, const char *argument,
                 GHashTable *params, GSmtpEnvelope *envelope)
{
        GSmtpStage *self = g_object_new (GSMTP_TYPE_STAGE, NULL);

        stage_fill (self, kind, peer, argument, params, envelope);
        return self;
}

/* As gsmtp_stage_new(), in @spare when there is one: a stage the session
 * kept from gsmtp_stage_release() (takes it). */
GSmtpStage *
gsmtp_stage_new_from (GSmtpStage **spare, GSmtpStageKind kind, GSmtpPeer *peer, const char *argument,
                      GHashTable *params, GSmtpEnvelope *envelope)
{
        GSmtpStage *self = g_steal_pointer (spare);

        if (self == NULL)
                return gsmtp_stage_new (kind, peer, argument, params, envelope);
        stage_fill (self, kind, peer, argument, params, envelope);
        return self;
}

/* A handler is about to see the stage: from now on it may hold it, or a weak
 * reference, or data set on it, so it is never reused. */
void
gsmtp_stage_mark_shown (GSmtpStage *self)
{
        self->shown = TRUE;
}

/* The session is done with @self (takes it).  A stage no handler saw and
 * nobody else holds is emptied and kept in @spare for the session's next
 * one: most stages (MAIL and RCPT without a handler) are only the session's,
 * and a GObject's life costs more than emptying one. */
void
gsmtp_stage_release (GSmtpStage *self, GSmtpStage **spare)
{
        if (*spare == NULL && !self->shown && g_atomic_int_get (&G_OBJECT (self)->ref_count) == 1) {
                stage_clear (self);
                *spare = self;
                return;
        }
        g_object_unref (self);
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
gsmtp_stage_set_dsn (GSmtpStage *self, GSmtpDsnNotify notify, const char *orcpt)
{
        self->dsn_notify = notify;
        g_free (self->dsn_orcpt);
        self->dsn_orcpt = g_strdup (orcpt);
}

void
gsmtp_stage_set_default_reply (GSmtpStage *self, GSmtpReply *reply)
{
        g_clear_pointer (&self->default_reply, g_smtp_reply_unref);
        self->default_reply = reply;
}

static gboolean stage_deliver (gpointer data);

gboolean
gsmtp_stage_is_deferred (GSmtpStage *self)
{
        return g_atomic_int_get (&self->state) != STAGE_DECIDING;
}

/* The session waits for the answer; @done runs in @context (the server's), or
 * at once when there is none (tests driving a session by hand). */
void
gsmtp_stage_attach (GSmtpStage *self, GSmtpStageDone done, gpointer session, GMainContext *context)
{
        self->done = done;
        self->session = session;
        g_clear_pointer (&self->context, g_main_context_unref);
        if (context != NULL)
                self->context = g_main_context_ref (context);
}

/* The session has the answer, or took another: a late completion finds nobody. */
void
gsmtp_stage_detach (GSmtpStage *self)
{
        self->done = NULL;
        self->session = NULL;
        stage_seal (self);
}

/* In @context's thread: an answer already given but still on its way is
 * delivered now (the server stops, and a 250 given must go out). */
void
gsmtp_stage_flush (GSmtpStage *self)
{
        if (g_atomic_int_get (&self->state) == STAGE_COMPLETED && self->answer != NULL)
                stage_deliver (self);
}

/* The session went away before the answer: the application's work for it can
 * stop (g_smtp_stage_get_cancellable()). */
void
gsmtp_stage_cancel (GSmtpStage *self)
{
        GCancellable *cancellable;

        /* cancelled first: a per-recipient reply set from another thread
         * after the seal is then known to be late, not wrong */
        g_atomic_int_set (&self->cancelled, TRUE);
        gsmtp_stage_detach (self);
        cancellable = g_atomic_pointer_get (&self->cancellable);
        if (cancellable != NULL)
                g_cancellable_cancel (cancellable);
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
        g_return_val_if_fail (GSMTP_IS_STAGE (self), 0);
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
 * Every parameter is there as the client sent it (values still in xtext);
 * the ones gsmtp knows were checked before the stage, and their meaning is
 * on the envelope and the stage (g_smtp_envelope_get_dsn_envid(),
 * g_smtp_stage_get_dsn_notify()...).  Values may be UTF-8 only when the
 * transaction is internationalised.
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
 * g_smtp_stage_get_dsn_notify:
 * @self: a stage
 *
 * Gets what the `NOTIFY=` parameter of the RCPT being decided asks for (RFC
 * 3461 4.1).  Once accepted, the recipient's envelope says the same
 * (g_smtp_envelope_get_dsn_notify()).
 *
 * Returns: the notify flags; %GSMTP_DSN_NOTIFY_UNSPECIFIED without `NOTIFY=`
 *   or in another stage
 *
 * Since: 0.2
 */
GSmtpDsnNotify
g_smtp_stage_get_dsn_notify (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), GSMTP_DSN_NOTIFY_UNSPECIFIED);
        return self->dsn_notify;
}

/**
 * g_smtp_stage_get_dsn_orcpt:
 * @self: a stage
 *
 * Gets the `ORCPT=` parameter of the RCPT being decided, decoded, as
 * g_smtp_envelope_get_dsn_orcpt() gives it.
 *
 * Returns: (nullable): `addr-type;address`, or %NULL without `ORCPT=` or in
 *   another stage
 *
 * Since: 0.2
 */
const char *
g_smtp_stage_get_dsn_orcpt (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        return self->dsn_orcpt;
}

/**
 * g_smtp_stage_get_envelope:
 * @self: a stage
 *
 * Gets the transaction so far (MAIL, RCPT) or whole (DATA).  It says from
 * MAIL on whether the transaction is internationalised
 * (g_smtp_envelope_is_smtputf8()), asks for REQUIRETLS and what DSNs it
 * wants; in a RCPT stage it holds the recipients accepted before this one.
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
        if (!g_atomic_int_compare_and_exchange (&self->state, STAGE_DECIDING, STAGE_DEFERRED)) {
                g_critical ("gsmtp: g_smtp_stage_defer() on a stage already deferred or completed");
                return NULL;
        }
        return g_object_ref (self);
}

static gboolean
stage_deliver (gpointer data)
{
        GSmtpStage *self = data;
        GSmtpReply *reply;

        /* pairs with complete()'s store: the answer is seen whole, whatever
         * thread stored it (and ThreadSanitizer sees that too) */
        if (g_atomic_int_get (&self->state) != STAGE_COMPLETED)
                return G_SOURCE_REMOVE;
        reply = g_steal_pointer (&self->answer);

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
 * Answers a deferred stage.  May be called from any thread, once: the answer
 * always goes to the server's main context, and the session goes on there
 * (called from that context's own thread, it goes on before this returns).
 * When the client has gone meanwhile (g_smtp_stage_is_cancelled()), the reply
 * is dropped.  A second call is a programming error: it is ignored with a
 * critical warning.
 *
 * Since: 0.1
 */
void
g_smtp_stage_complete (GSmtpStage *self, GSmtpReply *reply)
{
        GSource *source;

        g_return_if_fail (GSMTP_IS_STAGE (self));
        g_return_if_fail (reply != NULL);
        /* one winner, whatever threads race here */
        if (!g_atomic_int_compare_and_exchange (&self->state, STAGE_DEFERRED, STAGE_COMPLETING)) {
                g_critical ("gsmtp: g_smtp_stage_complete() on a stage that is not deferred, "
                            "or completed twice");
                g_smtp_reply_unref (reply);
                return;
        }
        /* per-recipient replies set before this call are part of the answer */
        stage_seal (self);
        self->answer = reply;
        g_atomic_int_set (&self->state, STAGE_COMPLETED);
        if (self->context == NULL || g_main_context_is_owner (self->context)) {
                stage_deliver (self);
                return;
        }
        source = gsmtp_context_run (self->context, G_PRIORITY_DEFAULT, stage_deliver, g_object_ref (self),
                                    g_object_unref, "[gsmtp] stage completion");
        g_source_unref (source);
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
 * Safe from any thread.
 *
 * Returns: %TRUE while a deferred stage waits for g_smtp_stage_complete()
 *
 * Since: 0.1
 */
gboolean
g_smtp_stage_is_pending (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), FALSE);
        return g_atomic_int_get (&self->state) == STAGE_DEFERRED;
}

/**
 * g_smtp_stage_is_cancelled:
 * @self: a stage
 *
 * Tells whether the session ended before the stage was answered.  Safe from
 * any thread.
 *
 * Returns: %TRUE when the session ended before the stage was answered
 *
 * Since: 0.1
 */
gboolean
g_smtp_stage_is_cancelled (GSmtpStage *self)
{
        g_return_val_if_fail (GSMTP_IS_STAGE (self), FALSE);
        return g_atomic_int_get (&self->cancelled);
}

/**
 * g_smtp_stage_get_cancellable:
 * @self: a stage
 *
 * A cancellable that is cancelled when the session ends before the stage was
 * answered (the client went away, the server was stopped).  A handler that
 * defers can pass it to the asynchronous calls it makes for the answer.
 * Safe from any thread.
 *
 * Returns: (transfer none): the stage's cancellable
 *
 * Since: 0.2
 */
GCancellable *
g_smtp_stage_get_cancellable (GSmtpStage *self)
{
        GCancellable *cancellable;

        g_return_val_if_fail (GSMTP_IS_STAGE (self), NULL);
        cancellable = g_atomic_pointer_get (&self->cancellable);
        if (cancellable != NULL)
                return cancellable;
        cancellable = g_cancellable_new ();
        if (!g_atomic_pointer_compare_and_exchange (&self->cancellable, NULL, cancellable)) {
                g_object_unref (cancellable);
                return g_atomic_pointer_get (&self->cancellable);
        }
        /* cancelled before anybody asked */
        if (g_atomic_int_get (&self->cancelled))
                g_cancellable_cancel (cancellable);
        return cancellable;
}

/**
 * g_smtp_stage_set_recipient_reply:
 * @self: a DATA stage
 * @index: the recipient, as an index into g_smtp_envelope_get_recipients()
 * @reply: (transfer full): the answer for that recipient
 *
 * LMTP (RFC 2033, see g_smtp_peer_is_lmtp()) answers the end of the message
 * once per recipient, so the application can accept it for some and refuse
 * it for others: a mailbox that is full gets `452 4.2.2`, the others `250`.
 * Set the replies that differ before returning the stage's reply, or, when
 * deferred, before g_smtp_stage_complete(); each recipient not set gets the
 * stage's own reply.  Safe from any thread until the stage is answered (a
 * worker per mailbox may set its own), so the last one to finish completes.
 *
 * A recipient named by several RCPT commands (the same mailbox twice) gets
 * the message once, and its reply is given to each of those RCPTs.
 *
 * In SMTP the message has one reply, the stage's, and this is ignored.
 * Setting a reply after the stage was answered is a programming error: it is
 * ignored with a critical warning (unless the session ended first, see
 * g_smtp_stage_is_cancelled()).
 *
 * Since: 0.2
 */
void
g_smtp_stage_set_recipient_reply (GSmtpStage *self, guint index, GSmtpReply *reply)
{
        guint n;

        g_return_if_fail (GSMTP_IS_STAGE (self));
        g_return_if_fail (reply != NULL);
        if (self->kind != GSMTP_STAGE_DATA || self->envelope == NULL) {
                g_critical ("gsmtp: g_smtp_stage_set_recipient_reply() on a stage other than DATA");
                g_smtp_reply_unref (reply);
                return;
        }
        n = g_smtp_envelope_get_n_recipients (self->envelope);
        if (index >= n) {
                g_critical ("gsmtp: g_smtp_stage_set_recipient_reply(): recipient %u of %u", index, n);
                g_smtp_reply_unref (reply);
                return;
        }
        g_mutex_lock (&self->lock);
        if (self->sealed) {
                g_mutex_unlock (&self->lock);
                if (!g_atomic_int_get (&self->cancelled))
                        g_critical ("gsmtp: g_smtp_stage_set_recipient_reply() after the stage was answered");
                g_smtp_reply_unref (reply);
                return;
        }
        if (self->recipient_replies == NULL) {
                self->recipient_replies = g_ptr_array_new_full (n, reply_unref_nullable);
                g_ptr_array_set_size (self->recipient_replies, n);
        }
        if (self->recipient_replies->pdata[index] != NULL)
                g_smtp_reply_unref (self->recipient_replies->pdata[index]);
        self->recipient_replies->pdata[index] = reply;
        g_mutex_unlock (&self->lock);
}

/* The reply set for recipient @index, or NULL for the stage's own. */
GSmtpReply *
gsmtp_stage_dup_recipient_reply (GSmtpStage *self, guint index)
{
        GSmtpReply *reply = NULL;

        g_mutex_lock (&self->lock);
        if (self->recipient_replies != NULL && index < self->recipient_replies->len &&
            self->recipient_replies->pdata[index] != NULL)
                reply = g_smtp_reply_ref (self->recipient_replies->pdata[index]);
        g_mutex_unlock (&self->lock);
        return reply;
}

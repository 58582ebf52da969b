/* gsmtp-send-result.c — GSmtpSendResult, what the server said to one message.
 * Owns: the reply to each recipient (the one that decided it: RCPT, or with LMTP
 * the reply after the data), the reply to the end of the data, the size sent.
 * Not: getting the replies (gsmtp-client-connection.c). */
#include "config.h"
#include "gsmtp-client-private.h"

struct _GSmtpSendResult {
        GObject     parent_instance;
        GSmtpReply *reply;              /* (owned) (nullable): the reply to the end of the data */
        GPtrArray  *recipients;         /* (owned) (element-type utf8): in RCPT order, NULL-terminated */
        GPtrArray  *accepted;           /* (owned): NULL-terminated, made by seal */
        GPtrArray  *refused;            /* (owned): NULL-terminated, made by seal */
        GHashTable *replies;            /* (owned): recipient → GSmtpReply */
        guint64     size;
};

/**
 * GSmtpSendResult:
 *
 * What the server said to one message: the reply to each recipient and the
 * reply to the end of the data.  A send that succeeds returns one; a send that
 * fails after the recipients were given attaches one to its error (see
 * g_smtp_error_get_send_result()).
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpSendResult, g_smtp_send_result, G_TYPE_OBJECT)

static void
g_smtp_send_result_finalize (GObject *object)
{
        GSmtpSendResult *self = GSMTP_SEND_RESULT (object);

        g_clear_pointer (&self->reply, g_smtp_reply_unref);
        g_ptr_array_unref (self->recipients);
        g_ptr_array_unref (self->accepted);
        g_ptr_array_unref (self->refused);
        g_hash_table_unref (self->replies);
        G_OBJECT_CLASS (g_smtp_send_result_parent_class)->finalize (object);
}

static void
g_smtp_send_result_class_init (GSmtpSendResultClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = g_smtp_send_result_finalize;
}

static GPtrArray *
strv_array_new (void)
{
        GPtrArray *array = g_ptr_array_new_with_free_func (g_free);

        g_ptr_array_add (array, NULL);
        return array;
}

static void
g_smtp_send_result_init (GSmtpSendResult *self)
{
        self->recipients = strv_array_new ();
        self->accepted = strv_array_new ();
        self->refused = strv_array_new ();
        self->replies = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_smtp_reply_unref);
}

GSmtpSendResult *
gsmtp_send_result_new (void)
{
        return g_object_new (GSMTP_TYPE_SEND_RESULT, NULL);
}

static void
strv_array_append (GPtrArray *array, const char *text)
{
        g_ptr_array_insert (array, array->len - 1, g_strdup (text));
}

void
gsmtp_send_result_add_recipient (GSmtpSendResult *self, const char *recipient, GSmtpReply *reply)
{
        if (!g_hash_table_contains (self->replies, recipient))
                strv_array_append (self->recipients, recipient);
        g_hash_table_replace (self->replies, g_strdup (recipient), g_smtp_reply_ref (reply));
}

void
gsmtp_send_result_set_reply (GSmtpSendResult *self, GSmtpReply *reply)
{
        g_clear_pointer (&self->reply, g_smtp_reply_unref);
        self->reply = reply != NULL ? g_smtp_reply_ref (reply) : NULL;
}

void
gsmtp_send_result_set_size (GSmtpSendResult *self, guint64 size)
{
        self->size = size;
}

/* The accepted and refused lists, in RCPT order, once every reply is in. */
void
gsmtp_send_result_seal (GSmtpSendResult *self)
{
        g_ptr_array_set_size (self->accepted, 0);
        g_ptr_array_set_size (self->refused, 0);
        for (guint i = 0; i + 1 < self->recipients->len; i++) {
                const char *rcpt = self->recipients->pdata[i];
                GSmtpReply *reply = g_hash_table_lookup (self->replies, rcpt);

                g_ptr_array_add (g_smtp_reply_get_code (reply) / 100 == 2 ? self->accepted : self->refused,
                                 g_strdup (rcpt));
        }
        g_ptr_array_add (self->accepted, NULL);
        g_ptr_array_add (self->refused, NULL);
}

guint
gsmtp_send_result_count_refused (GSmtpSendResult *self)
{
        guint n = 0;

        for (guint i = 0; i + 1 < self->recipients->len; i++) {
                GSmtpReply *reply = g_hash_table_lookup (self->replies, self->recipients->pdata[i]);

                if (g_smtp_reply_get_code (reply) / 100 != 2)
                        n++;
        }
        return n;
}

/**
 * g_smtp_send_result_get_reply:
 * @self: a result
 *
 * Gets the server's reply to the end of the data.  With LMTP, where each
 * recipient gets its own reply after the data, the first of them.
 *
 * Returns: (transfer none) (nullable): the server's reply to the end of the data,
 *   or %NULL when the data was not sent
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_send_result_get_reply (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return self->reply;
}

/**
 * g_smtp_send_result_get_accepted:
 * @self: a result
 *
 * Gets the recipients the server accepted, in the order they were given.
 *
 * Returns: (array zero-terminated=1) (transfer none): the recipients the server accepted
 *
 * Since: 0.1
 */
const char *const *
g_smtp_send_result_get_accepted (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return (const char *const *) self->accepted->pdata;
}

/**
 * g_smtp_send_result_get_refused:
 * @self: a result
 *
 * Gets the recipients the server refused, for now (4xx) or for good (5xx): see
 * g_smtp_send_result_get_recipient_reply().
 *
 * Returns: (array zero-terminated=1) (transfer none): the recipients the server refused
 *
 * Since: 0.1
 */
const char *const *
g_smtp_send_result_get_refused (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return (const char *const *) self->refused->pdata;
}

/**
 * g_smtp_send_result_get_recipients:
 * @self: a result
 *
 * Gets every recipient the message was offered to, once each (duplicates are
 * merged before sending), in the order they were given.
 *
 * Returns: (array zero-terminated=1) (transfer none): the recipients
 *
 * Since: 0.2
 */
const char *const *
g_smtp_send_result_get_recipients (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return (const char *const *) self->recipients->pdata;
}

/**
 * g_smtp_send_result_get_recipient_reply:
 * @self: a result
 * @recipient: a recipient of the message
 *
 * Gets the reply that decided @recipient: the reply to RCPT TO, or with LMTP,
 * for a recipient accepted at RCPT, its reply after the data.
 *
 * Returns: (transfer none) (nullable): the reply for @recipient
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_send_result_get_recipient_reply (GSmtpSendResult *self, const char *recipient)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), NULL);
        return g_hash_table_lookup (self->replies, recipient);
}

/**
 * g_smtp_send_result_get_size:
 * @self: a result
 *
 * Gets the size of the message as sent: its bytes after line ends became CRLF,
 * without the dots added by dot-stuffing nor the end-of-data line, which is what
 * `SIZE=` declares (RFC 1870); a BINARYMIME body's own size.  0 for a stream,
 * whose size is not known before it is read.
 *
 * Returns: the size in bytes
 *
 * Since: 0.2
 */
guint64
g_smtp_send_result_get_size (GSmtpSendResult *self)
{
        g_return_val_if_fail (GSMTP_IS_SEND_RESULT (self), 0);
        return self->size;
}

/* gsmtp-client-pool.c — the operations of a GSmtpClient and the connections they share.
 * Owns: an operation's life (its GTask, cancellable, deadline), the queue of
 * operations waiting for a connection, the connections (idle, busy, at most
 * max-connections), handing a connection to the next operation in that
 * operation's own main context, cancellation and the deadline while queued, and
 * the private main context of sync calls with their deadlock check.
 * Not: the settings and public calls (gsmtp-client.c), the dialogue on a
 * connection (gsmtp-client-connection.c, gsmtp-client-transaction.c). */
#include "config.h"
#include "gsmtp-client-pool.h"
#include "gsmtp-sasl.h"

static void
op_free (gpointer data)
{
        GSmtpClientOp *op = data;

        if (op->queue_cancel_id != 0)
                g_cancellable_disconnect (op->cancellable, op->queue_cancel_id);
        if (op->user_cancellable != NULL)
                g_cancellable_disconnect (op->user_cancellable, op->cancel_id);
        g_clear_object (&op->user_cancellable);
        g_clear_object (&op->cancellable);
        g_clear_pointer (&op->context, g_main_context_unref);
        g_clear_pointer (&op->caller_context, g_main_context_unref);
        g_clear_pointer (&op->config, gsmtp_client_config_unref);
        g_clear_pointer (&op->conn, gsmtp_client_connection_free);
        g_clear_pointer (&op->msg, gsmtp_client_message_free);
        g_clear_object (&op->result);
        g_clear_error (&op->error);
        g_clear_pointer (&op->auth_pending, gsmtp_sasl_wipe);
        g_clear_pointer (&op->tail, g_bytes_unref);
        g_free (op);
}

static void
op_cancel_internal (GCancellable *user, gpointer data)
{
        g_cancellable_cancel (data);
}

GSmtpClientOp *
gsmtp_client_op_new (GSmtpClient *self, GSmtpClientOpKind kind, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
        GSmtpClientOp *op = g_new0 (GSmtpClientOp, 1);

        op->kind = kind;
        op->client = self;
        op->task = g_task_new (self, cancellable, callback, user_data);
        g_task_set_source_tag (op->task, source_tag);
        g_task_set_name (op->task, "gsmtp client operation");
        /* a send that ended reports how, even if cancelled at the last moment: a
         * delivered message must never look undelivered */
        g_task_set_check_cancellable (op->task, FALSE);
        g_task_set_task_data (op->task, op, op_free);
        op->context = g_main_context_ref_thread_default ();
        op->cancellable = g_cancellable_new ();
        if (cancellable != NULL) {
                op->user_cancellable = g_object_ref (cancellable);
                op->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (op_cancel_internal),
                                                       g_object_ref (op->cancellable), g_object_unref);
        }
        g_mutex_lock (&self->lock);
        op->config = gsmtp_client_config_ref (self->config);
        op->send_timeout = kind == OP_SEND ? self->send_timeout : 0;
        g_mutex_unlock (&self->lock);
        return op;
}

/* Returns the task; the last reference to it may free the operation. */
void
gsmtp_client_op_return (GSmtpClientOp *op)
{
        GTask *task = g_steal_pointer (&op->task);
        GError *error = g_steal_pointer (&op->error);

        if (op->timer != NULL) {
                g_source_destroy (op->timer);
                g_clear_pointer (&op->timer, g_source_unref);
        }
        if (op->deadline != NULL) {
                g_source_destroy (op->deadline);
                g_clear_pointer (&op->deadline, g_source_unref);
        }
        if (op->kind == OP_SEND) {
                if (op->result != NULL)
                        gsmtp_send_result_seal (op->result);
                if (error != NULL) {
                        if (op->result != NULL && g_smtp_send_result_get_recipients (op->result)[0] != NULL)
                                gsmtp_error_set_send_result (error, op->result);
                        g_task_return_error (task, error);
                } else {
                        g_task_return_pointer (task, g_steal_pointer (&op->result), g_object_unref);
                }
        } else if (error != NULL) {
                g_task_return_error (task, error);
        } else {
                g_task_return_boolean (task, TRUE);
        }
        g_object_unref (task);
}

static void op_start (GSmtpClientOp *op);

static gboolean
op_handoff (gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClient *self = op->client;
        gulong id;

        /* out of the queue: its cancellation handler has nothing left to do */
        g_mutex_lock (&self->lock);
        id = op->queue_cancel_id;
        op->queue_cancel_id = 0;
        g_mutex_unlock (&self->lock);
        if (id != 0)
                g_cancellable_disconnect (op->cancellable, id);
        /* the steps' GIO calls must attach to the operation's context */
        g_main_context_push_thread_default (op->context);
        op_start (op);
        g_main_context_pop_thread_default (op->context);
        return G_SOURCE_REMOVE;
}

/* Gives @conn to the first waiting operation (lock held); it starts in its own
 * main context. */
gboolean
gsmtp_client_give_locked (GSmtpClient *self, GSmtpClientConnection *conn)
{
        GSmtpClientOp *next = g_queue_pop_head (&self->waiting);
        GSource *idle;

        if (next == NULL)
                return FALSE;
        next->queued = FALSE;
        next->conn = conn;
        g_ptr_array_add (self->active, next);
        idle = gsmtp_context_run (next->context, G_PRIORITY_DEFAULT_IDLE, op_handoff, next, NULL,
                                  "gsmtp client handoff");
        g_source_unref (idle);
        return TRUE;
}

/* Whether one more connection may be opened: under max-connections, and for
 * a client given its stream, only that one. */
static gboolean
client_may_open_locked (GSmtpClient *self)
{
        return self->n_connections < self->max_connections &&
               (self->config->given_stream == NULL || self->n_connections == 0);
}

/* Room for more: queued sends start now, each on a new connection. */
void
gsmtp_client_start_waiting_locked (GSmtpClient *self)
{
        while (self->waiting.length > 0 && client_may_open_locked (self)) {
                self->n_connections++;
                gsmtp_client_give_locked (self, gsmtp_client_connection_new (self->config));
        }
}

/* The connection of an ended operation: reused while open, in step and opened
 * with the current settings; otherwise closed, which makes room for a new one. */
static void
client_release (GSmtpClient *self, GSmtpClientOp *op)
{
        GSmtpClientConnection *conn = g_steal_pointer (&op->conn);

        g_mutex_lock (&self->lock);
        g_ptr_array_remove (self->active, op);
        /* (more connections than max-connections: it was lowered; shrink) */
        if (conn->open && conn->config == self->config && self->n_connections <= self->max_connections) {
                if (!gsmtp_client_give_locked (self, conn))
                        g_ptr_array_add (self->idle, conn);
                conn = NULL;
        } else {
                self->n_connections--;
                gsmtp_client_start_waiting_locked (self);
        }
        g_mutex_unlock (&self->lock);
        if (conn != NULL)
                gsmtp_client_connection_free (conn);
}

void
gsmtp_client_op_done (GSmtpClientOp *op)
{
        GSmtpClient *self = op->client;

        if (op->kind == OP_QUIT) {
                GSmtpClientConnection *next;

                g_clear_pointer (&op->conn, gsmtp_client_connection_free);
                g_mutex_lock (&self->lock);
                next = self->idle->len > 0 ? g_ptr_array_steal_index_fast (self->idle, 0) : NULL;
                if (next != NULL)
                        self->n_connections--;
                g_mutex_unlock (&self->lock);
                if (next != NULL) {
                        op->conn = next;
                        gsmtp_client_op_quit (op);
                        return;
                }
                gsmtp_client_op_return (op);
                return;
        }
        if (op->conn != NULL)
                client_release (self, op);
        gsmtp_client_op_return (op);
}

static void
op_start (GSmtpClientOp *op)
{
        /* an open connection may have died while idle: see gsmtp_client_op_fail() */
        op->reused = op->conn->open;
        switch (op->kind) {
        case OP_SEND:
                gsmtp_client_op_open (op, gsmtp_client_op_transaction);
                break;
        case OP_CONNECT:
                gsmtp_client_op_open (op, gsmtp_client_op_done);
                break;
        case OP_QUIT:
                gsmtp_client_op_quit (op);
                break;
        }
}

static void
op_queue_failed (GSmtpClientOp *op)
{
        op->error = gsmtp_client_op_timeout_error (op, "still waiting for a connection");
        if (op->error == NULL)
                op->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
        gsmtp_client_op_return (op);
}

static gboolean
op_queue_cancelled_idle (gpointer data)
{
        op_queue_failed (data);
        return G_SOURCE_REMOVE;
}

/* The operation's cancellable fired, in any thread: if it still waits in the
 * queue it leaves it, and ends in its own main context.  One handler per waiting
 * operation, no source: a queue of thousands costs the main loop nothing. */
static void
op_queued_cancelled (GCancellable *cancellable, gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClient *self = op->client;
        gboolean removed = FALSE;

        g_mutex_lock (&self->lock);
        if (op->queued) {
                g_queue_remove (&self->waiting, op);
                op->queued = FALSE;
                removed = TRUE;
        }
        g_mutex_unlock (&self->lock);
        if (removed) {
                GSource *idle = gsmtp_context_run (op->context, G_PRIORITY_DEFAULT_IDLE, op_queue_cancelled_idle,
                                                   op, NULL, "gsmtp client cancelled while queued");

                g_source_unref (idle);
        }
}

static gboolean
op_deadline_fired (gpointer data)
{
        GSmtpClientOp *op = data;
        GSmtpClient *self = op->client;
        gboolean queued;

        op->deadline_hit = TRUE;
        g_clear_pointer (&op->deadline, g_source_unref);
        g_mutex_lock (&self->lock);
        queued = op->queued;
        if (queued) {
                g_queue_remove (&self->waiting, op);
                op->queued = FALSE;
        }
        g_mutex_unlock (&self->lock);
        if (queued)
                op_queue_failed (op);
        else
                g_cancellable_cancel (op->cancellable); /* the running step fails with TIMED_OUT */
        return G_SOURCE_REMOVE;
}

/* A sync call waits on its private context.  Behind an operation whose context
 * this thread owns (it is dispatching from it: a GUI's handler, say) it would wait
 * for ever: that context cannot run until the call returns. */
static gboolean
client_wait_would_deadlock_locked (GSmtpClient *self, GSmtpClientOp *op)
{
        if (op->caller_context == NULL)
                return FALSE;
        for (guint i = 0; i < self->active->len; i++) {
                GSmtpClientOp *other = self->active->pdata[i];

                if (g_main_context_is_owner (other->context))
                        return TRUE;
        }
        for (GList *l = self->waiting.head; l != NULL; l = l->next) {
                GSmtpClientOp *other = l->data;

                if (g_main_context_is_owner (other->context))
                        return TRUE;
        }
        return FALSE;
}

/* Takes an idle connection (the most recent: likeliest still open), or opens one
 * within max-connections, or queues. */
void
gsmtp_client_submit (GSmtpClient *self, GSmtpClientOp *op)
{
        g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func ((GDestroyNotify) gsmtp_client_connection_free);
        GSmtpClientConnection *conn = NULL;
        GError *error = NULL;

        if (g_cancellable_set_error_if_cancelled (op->user_cancellable, &error)) {
                op->error = error;
                gsmtp_client_op_return (op);
                return;
        }
        if (op->send_timeout > 0) {
                op->deadline = g_timeout_source_new_seconds (op->send_timeout);
                g_source_set_static_name (op->deadline, "gsmtp client send-timeout");
                g_source_set_callback (op->deadline, op_deadline_fired, op, NULL);
                g_source_attach (op->deadline, op->context);
        }
        g_mutex_lock (&self->lock);
        while (conn == NULL && self->idle->len > 0) {
                conn = g_ptr_array_steal_index (self->idle, self->idle->len - 1);
                if (conn->config != self->config || gsmtp_client_connection_is_stale (conn)) {
                        /* settings changed, or the server closed it while idle */
                        self->n_connections--;
                        g_ptr_array_add (stale, conn);
                        conn = NULL;
                }
        }
        if (conn == NULL && client_may_open_locked (self)) {
                self->n_connections++;
                conn = gsmtp_client_connection_new (self->config);
        }
        if (conn != NULL) {
                op->conn = conn;
                g_ptr_array_add (self->active, op);
        } else if (client_wait_would_deadlock_locked (self, op)) {
                error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                                             "A sync call would wait for ever behind an asynchronous "
                                             "operation of this client whose main context this thread is "
                                             "running");
        } else {
                g_queue_push_tail (&self->waiting, op);
                op->queued = TRUE;
        }
        g_mutex_unlock (&self->lock);
        if (error != NULL) {
                op->error = error;
                gsmtp_client_op_return (op);
                return;
        }
        if (op->conn != NULL) {
                op_start (op);
                return;
        }
        if (op->user_cancellable != NULL) {
                /* outside the lock: a cancellable cancelled by now calls back at once */
                gulong id = g_cancellable_connect (op->cancellable, G_CALLBACK (op_queued_cancelled), op, NULL);
                gboolean late;

                g_mutex_lock (&self->lock);
                late = !op->queued;
                if (!late)
                        op->queue_cancel_id = id;
                g_mutex_unlock (&self->lock);
                if (late && id != 0)
                        g_cancellable_disconnect (op->cancellable, id);
        }
}

/* ---- sync calls: the same steps on a private main context ------------------------------ */

void
gsmtp_client_sync_begin (SyncCall *call)
{
        call->outer = g_main_context_ref_thread_default ();
        call->context = g_main_context_new ();
        call->result = NULL;
        g_main_context_push_thread_default (call->context);
}

void
gsmtp_client_sync_done (GObject *source, GAsyncResult *result, gpointer data)
{
        SyncCall *call = data;

        call->result = g_object_ref (result);
}

void
gsmtp_client_sync_wait (SyncCall *call)
{
        while (call->result == NULL)
                g_main_context_iteration (call->context, TRUE);
        g_main_context_pop_thread_default (call->context);
}

void
gsmtp_client_sync_end (SyncCall *call)
{
        g_clear_object (&call->result);
        g_main_context_unref (call->context);
        g_main_context_unref (call->outer);
}


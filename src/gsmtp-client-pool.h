/* gsmtp-client-pool.h — GSmtpClient's instance, shared by gsmtp-client.c (settings,
 * public calls) and gsmtp-client-pool.c (operations, queue, connections) (internal). */
#pragma once

#include "gsmtp-client-connection.h"

G_BEGIN_DECLS

struct _GSmtpClient {
        GObject             parent_instance;

        /* sends come from any thread: everything below is under lock */
        GMutex              lock;
        GSmtpClientConfig  *config;             /* (owned): replaced, never changed, on a setting */
        char               *host;               /* (owned) (nullable) */
        guint16             port;
        guint               max_connections;
        guint               send_timeout;
        GQueue              waiting;            /* (element-type GSmtpClientOp): for a connection */
        GPtrArray          *idle;               /* (owned) (element-type GSmtpClientConnection): most recent last */
        GPtrArray          *active;             /* (element-type GSmtpClientOp): holding a connection */
        guint               n_connections;      /* idle, opening or busy */
        GPtrArray          *extensions;         /* (owned): of the last EHLO, NULL-terminated */
        GSmtpTokenFunc      token_func;
        gpointer            token_data;
        GDestroyNotify      token_destroy;
};

/* a sync call: the same steps on a private main context */
typedef struct {
        GMainContext *context;          /* (owned): private, thread-default during the call */
        GMainContext *outer;            /* (owned): the caller's, for the deadlock check */
        GAsyncResult *result;           /* (owned) (nullable) */
} SyncCall;

GSmtpClientOp *gsmtp_client_op_new      (GSmtpClient *self, GSmtpClientOpKind kind, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag);
void           gsmtp_client_op_return   (GSmtpClientOp *op);
void           gsmtp_client_submit      (GSmtpClient *self, GSmtpClientOp *op);
gboolean       gsmtp_client_give_locked (GSmtpClient *self, GSmtpClientConnection *conn);
void           gsmtp_client_start_waiting_locked (GSmtpClient *self);
void           gsmtp_client_sync_begin  (SyncCall *call);
void           gsmtp_client_sync_done   (GObject *source, GAsyncResult *result, gpointer data);
void           gsmtp_client_sync_wait   (SyncCall *call);
void           gsmtp_client_sync_end    (SyncCall *call);

G_END_DECLS

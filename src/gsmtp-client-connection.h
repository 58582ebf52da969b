/* gsmtp-client-connection.h — one connection of a GSmtpClient and the operation
 * driving it (internal). */
#pragma once

#include "gsmtp-client-private.h"
#include "gsmtp-client-reply.h"
#include "gsmtp-dot-stuffer.h"

G_BEGIN_DECLS

/* What to connect to and how: a snapshot of the client's settings.  The client
 * makes a new one on every change; a connection keeps the one it was opened
 * with, and is not reused once the client's differs. */
typedef struct {
        GSocketConnectable *connectable;        /* (owned) (nullable) */
        GIOStream          *given_stream;       /* (owned) (nullable) */
        GSmtpTlsMode        tls_mode;
        char               *helo_name;          /* (owned) (nullable): NULL derives one */
        GTlsDatabase       *database;           /* (owned) (nullable): NULL is the system's */
        GTlsInteraction    *interaction;        /* (owned) (nullable) */
        gboolean            insecure;
        gboolean            lmtp;
        char               *username;           /* (owned) (nullable): NULL is no AUTH */
        char               *password;           /* (owned) (nullable): wiped when freed */
        char               *token;              /* (owned) (nullable): OAuth, wiped when freed */
        gboolean            oauth;              /* the secret is a token (set, or from a function) */
        char               *mechanism;          /* (owned) (nullable): NULL picks one */
        guint               timeout;            /* seconds per step; 0 for none */
} GSmtpClientConfig;

GSmtpClientConfig *gsmtp_client_config_new   (void);
GSmtpClientConfig *gsmtp_client_config_copy  (const GSmtpClientConfig *config);
GSmtpClientConfig *gsmtp_client_config_ref   (GSmtpClientConfig *config);
void               gsmtp_client_config_unref (GSmtpClientConfig *config);

/* Extensions from the EHLO reply that the client acts on. */
enum {
        EXT_PIPELINING  = 1 << 0,
        EXT_SIZE        = 1 << 1,
        EXT_8BITMIME    = 1 << 2,
        EXT_SMTPUTF8    = 1 << 3,
        EXT_DSN         = 1 << 4,
        EXT_CHUNKING    = 1 << 5,
        EXT_BINARYMIME  = 1 << 6,
        EXT_REQUIRETLS  = 1 << 7,
        EXT_STARTTLS    = 1 << 8,
        EXT_AUTH        = 1 << 9,
        EXT_ENHANCED    = 1 << 10,
};

typedef struct _GSmtpClientConnection GSmtpClientConnection;
typedef struct _GSmtpClientOp GSmtpClientOp;
typedef struct _GSmtpClientMessage GSmtpClientMessage;
typedef void (*GSmtpClientStep) (GSmtpClientOp *op);

struct _GSmtpClientConnection {
        GSmtpClientConfig *config;              /* (owned): as opened */
        GIOStream         *stream;              /* (owned) (nullable): TLS or plain; NULL when closed */
        GIOStream         *base;                /* (owned) (nullable): the plain stream under TLS */
        GInputStream      *in;                  /* (unowned): of stream */
        GOutputStream     *out;                 /* (unowned): of stream */
        GByteArray        *inbuf;               /* (owned): received, not yet a reply */
        gsize              inpos;               /* start of the next reply in inbuf */
        GSmtpReplyFramer   framer;
        guint8            *rbuf;                /* (owned): one read */
        GByteArray        *obuf;                /* (owned): commands to write */
        GPtrArray         *extensions;          /* (owned): EHLO lines but the first, NULL-terminated */
        guint              ext;                 /* EXT_* */
        guint64            size_limit;          /* SIZE n; 0 for none */
        char             **auth_mechanisms;     /* (owned) (nullable) */
        GTlsCertificateFlags cert_errors;       /* seen by accept-certificate */
        gboolean           secret_in_obuf;      /* wipe it once written */
        gboolean           open;                /* greeted and ready for MAIL */
        gboolean           tls_active;
        gboolean           esmtp;
        guint              n_transactions;      /* ended on this connection; 0 = fresh */
};

GSmtpClientConnection *gsmtp_client_connection_new  (GSmtpClientConfig *config);
void                   gsmtp_client_connection_free (GSmtpClientConnection *conn);
void                   gsmtp_client_connection_drop (GSmtpClientConnection *conn);
gboolean               gsmtp_client_connection_is_stale (GSmtpClientConnection *conn);

typedef enum {
        OP_CONNECT,             /* open a connection if none is idle */
        OP_SEND,                /* one message */
        OP_QUIT,                /* QUIT on one connection */
} GSmtpClientOpKind;

struct _GSmtpClientOp {
        GSmtpClientOpKind      kind;
        GTask                 *task;            /* (owned) until returned */
        GSmtpClient           *client;          /* (unowned): the task's source object */
        GMainContext          *context;         /* (owned): where every step runs */
        GMainContext          *caller_context;  /* (owned) (nullable): sync calls: the caller's */
        GSmtpClientConfig     *config;          /* (owned): settings at the call */
        GSmtpClientConnection *conn;            /* (owned) (nullable): while holding one */
        GCancellable          *cancellable;     /* (owned): cancelled by the user's, and by timers */
        GCancellable          *user_cancellable;/* (owned) (nullable) */
        gulong                 cancel_id;
        GSource               *timer;           /* (owned) (nullable): the per-step timeout */
        GSource               *deadline;        /* (owned) (nullable): the whole send's */
        gboolean               queued;          /* in the client's queue (under its lock) */
        gulong                 queue_cancel_id; /* on cancellable, while queued */
        guint                  send_timeout;
        gboolean               timed_out;
        gboolean               deadline_hit;
        gboolean               reused;          /* the connection was open before this operation */
        gboolean               may_retry;       /* no reply yet on a reused connection */
        gboolean               retried;
        const char            *doing;           /* (unowned): for error messages */
        GSmtpClientStep        opened;          /* when the connection is ready for MAIL */
        GSmtpClientStep        resume;          /* after the pending read */
        GSmtpClientStep        after_write;     /* after the pending write */
        GError                *error;           /* (owned) (nullable) */
        GSmtpClientMessage    *msg;             /* (owned) (nullable): OP_SEND */
        GSmtpSendResult       *result;          /* (owned) (nullable): OP_SEND */
        guint                  auth_step;
        const char            *auth_mech;       /* (unowned): static, or the config's */
        char                  *auth_pending;    /* (owned) (nullable): wiped; the next SASL line */
        GOutputVector          vectors[3];
        GBytes                *tail;            /* (owned) (nullable): data in the pending write */
};

/* gsmtp-client-connection.c: the I/O steps an operation is made of */
typedef enum { REPLY_READY, REPLY_PENDING, REPLY_FAILED } GSmtpReplyWait;

void           gsmtp_client_op_open      (GSmtpClientOp *op, GSmtpClientStep ready);
void           gsmtp_client_op_quit      (GSmtpClientOp *op);
GSmtpReplyWait gsmtp_client_op_next_reply (GSmtpClientOp *op, GSmtpClientStep resume, GSmtpReply **reply);
void           gsmtp_client_op_command   (GSmtpClientOp *op, const char *format, ...) G_GNUC_PRINTF (2, 3);
void           gsmtp_client_op_flush     (GSmtpClientOp *op, GBytes *tail, const char *trailer,
                                          GSmtpClientStep done);
void           gsmtp_client_op_fail      (GSmtpClientOp *op, GError *error);
void           gsmtp_client_op_fail_reply (GSmtpClientOp *op, GSmtpReply *reply, const char *what);
GError        *gsmtp_client_reply_error  (GSmtpReply *reply, const char *what);
void           gsmtp_client_op_finish    (GSmtpClientOp *op);
void           gsmtp_client_op_timer_arm (GSmtpClientOp *op);
void           gsmtp_client_op_timer_stop (GSmtpClientOp *op);
gboolean       gsmtp_client_op_check_cancelled (GSmtpClientOp *op);
GError        *gsmtp_client_op_timeout_error   (GSmtpClientOp *op, const char *doing);
void           gsmtp_client_op_detach_cancellable (GSmtpClientOp *op);

/* gsmtp-client-transaction.c: one message */
GSmtpClientMessage *gsmtp_client_message_new (const char *sender, const char *const *recipients,
                                              GBytes *bytes, GInputStream *stream,
                                              GSmtpSendOptions *options, GError **error);
void                gsmtp_client_message_free (GSmtpClientMessage *msg);
void                gsmtp_client_op_transaction (GSmtpClientOp *op);

/* gsmtp-client.c: the operation has ended; release its connection and return */
void           gsmtp_client_op_done      (GSmtpClientOp *op);
void           gsmtp_client_op_retry     (GSmtpClientOp *op);
void           gsmtp_client_take_extensions (GSmtpClient *client, GSmtpClientConnection *conn);
char          *gsmtp_client_get_token    (GSmtpClient *client, GSmtpClientConfig *config);
void           gsmtp_client_emit_progress (GSmtpClient *client, guint64 sent, guint64 total);
void           gsmtp_client_emit_sent    (GSmtpClient *client);

G_END_DECLS

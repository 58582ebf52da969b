/* gsmtp-session-private.h — the session's state, shared by gsmtp-session.c and
 * the extension files beside it (gsmtp-session-auth.c, gsmtp-session-xclient.c,
 * ...).  Each extension exports its check/proceed pair for the command table,
 * and nothing else; everything else goes through the helpers below. */
#pragma once

#include "gsmtp-session.h"
#include "gsmtp-session-host.h"

G_BEGIN_DECLS

typedef enum {
        SESSION_BANNER,         /* the connect stage is being decided */
        SESSION_READY,          /* banner sent, no HELO yet (again after STARTTLS) */
        SESSION_IDLE,           /* greeted, no transaction */
        SESSION_MAIL,           /* MAIL accepted, no recipient yet */
        SESSION_RCPT,           /* at least one recipient */
        SESSION_DATA,           /* reading the message */
        SESSION_BDAT,           /* between the BDAT chunks of one message (RFC 3030) */
        SESSION_AUTH,           /* reading SASL responses */
        SESSION_CLOSED,
} SessionState;

/* Checks syntax and limits; never changes state.  Returns a refusal, or NULL
 * and maybe a stage for the application to decide. */
typedef GSmtpReply *(*GSmtpCheckFunc) (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
/* Acts: at once, or with the application's @reply to @stage (both owned by
 * the caller; @reply is given to the proceed function, which must use or
 * free it). */
typedef void (*GSmtpProceedFunc) (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                                  const char *args);

typedef struct _GSmtpSessionAuth GSmtpSessionAuth;
typedef struct _GSmtpSessionBdat GSmtpSessionBdat;

struct _GSmtpSession {
        GSmtpSessionHost   *host;       /* (unowned) (nullable): NULL once closed */
        GSmtpLimits         limits;     /* a copy: the host may go away first */
        GSmtpPeer          *peer;       /* (owned): immutable; replaced when it changes */
        SessionState        state;

        gboolean            tls_active;
        gboolean            tls_pending;        /* 220 to STARTTLS queued; handshake next */
        gboolean            authenticated;
        gboolean            closing;
        gboolean            draining;           /* server stopping: 421 when idle */
        gboolean            discarding_line;    /* inside an overlong command line */
        gboolean            in_process;
        gboolean            started;            /* the STARTED event went out */

        GByteArray         *in;         /* (owned) (nullable): received, not yet processed */
        GString            *out;        /* (owned): replies not yet handed to the socket */
        GString            *line;       /* (owned): the command line being handled */

        GSmtpEnvelope      *tx;         /* (owned) (nullable): the transaction */
        struct _GSmtpDataReader *reader; /* (owned) (nullable): in SESSION_DATA */
        GSmtpStage         *pending;    /* (owned) (nullable): out to the application */
        GSmtpStage         *spare;      /* (owned) (nullable): an empty stage no handler saw, for the next */
        GSmtpReceivedCache  received;   /* the session's part of its Received: headers */
        GSmtpProceedFunc    pending_proceed;
        struct _GSmtpParseJob *parsing; /* (owned) (nullable): the message, in the parsing pool */

        GSmtpSessionAuth   *auth;       /* (owned) (nullable): an AUTH exchange's state */
        GSmtpSessionBdat   *bdat;       /* (owned) (nullable): BDAT's chunk state, once used */
        gboolean            lmtp;       /* LMTP (RFC 2033): LHLO, a reply per recipient */
        GArray             *lmtp_rcpts; /* (owned) (nullable) (element-type guint): under LMTP,
                                         * the envelope index of each accepted RCPT, in order */
        GSource            *delay;      /* (owned) (nullable): a reply held back on purpose */
        GSmtpReply         *delayed;    /* (owned) (nullable): the reply @delay holds */
        const char         *delayed_enhanced;
        GSmtpReply         *delayed_then; /* (owned) (nullable): said right after it */

        guint               n_errors;
        guint               n_junk;     /* NOOP, RSET, VRFY, EXPN, HELP since the last message */
        guint               n_overshoot; /* RCPTs refused past max-recipients */
        guint               n_auth_failures;
        guint               n_accepted;

        const GSmtpSessionCallbacks *callbacks; /* (nullable) */
        gpointer            callbacks_data;
};

/* ---- helpers for the extension files (gsmtp-session.c) ---- */
void      gsmtp_session_log              (GSmtpSession *self, const char *dir, const char *text, gsize len);
void      gsmtp_session_reply            (GSmtpSession *self, GSmtpReply *reply, const char *enhanced);
void      gsmtp_session_say              (GSmtpSession *self, guint code, const char *enhanced,
                                          const char *text);
void      gsmtp_session_reply_plain      (GSmtpSession *self, GSmtpReply *reply);
void      gsmtp_session_reply_uncounted  (GSmtpSession *self, GSmtpReply *reply, const char *enhanced);
void      gsmtp_session_count_error      (GSmtpSession *self);
void      gsmtp_session_send_banner      (GSmtpSession *self);
void      gsmtp_session_enter_state      (GSmtpSession *self, SessionState state);
void      gsmtp_session_reset_transaction (GSmtpSession *self);
void      gsmtp_session_close            (GSmtpSession *self);
void      gsmtp_session_ask              (GSmtpSession *self, GSmtpStage *stage, GSmtpProceedFunc proceed);
void      gsmtp_session_delay_reply      (GSmtpSession *self, GSmtpReply *reply,
                                          const char *enhanced, guint ms, GSmtpReply *then);
gboolean  gsmtp_session_set_peer         (GSmtpSession *self, GSmtpPeer *peer);
GSmtpPeer *gsmtp_session_edit_peer       (GSmtpSession *self);
const char *gsmtp_session_stage_enhanced (GSmtpStageKind kind, guint code);
GSmtpReply *gsmtp_session_check_hostname (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
void      gsmtp_session_notify_accepted  (GSmtpSession *self, GSmtpEnvelope *envelope);
GSmtpReply *gsmtp_session_queued_reply   (GSmtpSession *self, GSmtpReply *reply);
GSmtpReply *gsmtp_session_data_refusal   (GSmtpSession *self);
GSmtpReply *gsmtp_session_check_recipients (GSmtpSession *self);
struct _GSmtpDataReader *gsmtp_session_new_reader (GSmtpSession *self);
void      gsmtp_session_refuse_message   (GSmtpSession *self, GSmtpReply *reply);
void      gsmtp_session_end_data         (GSmtpSession *self, gboolean chunked);

/* host queries; safe once the host is gone */
const char *gsmtp_session_hostname       (GSmtpSession *self);
gboolean  gsmtp_session_offers_auth      (GSmtpSession *self);
gboolean  gsmtp_session_allows_xclient   (GSmtpSession *self);

/* ---- extensions: their rows' check/proceed pairs ---- */
/* gsmtp-session-auth.c (RFC 4954) */
GSmtpReply *gsmtp_session_check_auth     (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
void      gsmtp_session_proceed_auth     (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                                          const char *args);
void      gsmtp_session_auth_line        (GSmtpSession *self, const char *line);
void      gsmtp_session_auth_abort       (GSmtpSession *self);
void      gsmtp_session_auth_free        (GSmtpSessionAuth *auth);

/* gsmtp-session-xclient.c (Postfix's XCLIENT_README) */
GSmtpReply *gsmtp_session_check_xclient  (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
void      gsmtp_session_proceed_xclient  (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                                          const char *args);

/* gsmtp-session-lmtp.c (RFC 2033) */
GSmtpReply *gsmtp_session_check_lhlo     (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
void      gsmtp_session_lmtp_rcpt_added  (GSmtpSession *self, guint index);
void      gsmtp_session_lmtp_data_end    (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply);

/* gsmtp-session-bdat.c (RFC 3030 CHUNKING, BINARYMIME) */
GSmtpReply *gsmtp_session_check_bdat     (GSmtpSession *self, const char *args, GSmtpStage **out_stage);
void      gsmtp_session_proceed_bdat     (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply,
                                          const char *args);
void      gsmtp_session_bdat_refuse      (GSmtpSession *self, const char *args, GSmtpReply *refusal);
gboolean  gsmtp_session_bdat_in_chunk    (GSmtpSession *self);
gsize     gsmtp_session_bdat_feed        (GSmtpSession *self, const guint8 *data, gsize len);
void      gsmtp_session_bdat_free        (GSmtpSessionBdat *bdat);

G_END_DECLS

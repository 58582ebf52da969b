/* gsmtp-session-host.h — what a session needs from whoever runs it (internal).
 * The server implements it (gsmtp-server.c); tests and fuzzers may use the
 * server's, or their own.  A session never sees GSmtpServer: server →
 * connection → session is a line, not a circle of includes. */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-mime-limits.h"

G_BEGIN_DECLS

/* Defaults as in Racket's net/smtp-server, and Postfix where it has none. */
#define GSMTP_DEFAULT_MAX_CONNECTIONS      512
#define GSMTP_DEFAULT_MAX_LINE_LENGTH      1024
#define GSMTP_DEFAULT_MAX_MESSAGE_SIZE     (10 * 1024 * 1024)
#define GSMTP_DEFAULT_MAX_RECIPIENTS       100
#define GSMTP_DEFAULT_IDLE_TIMEOUT         300
#define GSMTP_DEFAULT_DATA_TIMEOUT         600    /* one message transfer, in all */
#define GSMTP_DEFAULT_MAX_ERRORS           20     /* Postfix smtpd_hard_error_limit */
#define GSMTP_DEFAULT_MAX_JUNK_COMMANDS    100    /* Postfix smtpd_junk_command_limit */
#define GSMTP_DEFAULT_MAX_AUTH_FAILURES    3
#define GSMTP_DEFAULT_AUTH_FAILURE_DELAY   1000   /* ms; Postfix's error sleep is 1 s */
#define GSMTP_DEFAULT_SPILL_THRESHOLD      (1024 * 1024)
/* A handshake is two round trips and some public-key work: well under a
 * second on a good link, a few seconds over a lossy one with TCP's
 * retransmissions (1 + 2 + 4 + 8 s).  30 s lets those finish, and frees a
 * silent client's slot ten times sooner than the idle timeout would. */
#define GSMTP_DEFAULT_TLS_HANDSHAKE_TIMEOUT 30
/* Recipients past max-recipients that are answered 452 without counting as
 * errors (Postfix's smtpd_recipient_overshoot_limit): a client that sends to
 * 120 gets 100 delivered and retries the rest, rather than 421 for all. */
#define GSMTP_RECIPIENT_OVERSHOOT          1000

/* The limits a session works under.  Each session copies them when it starts,
 * so a session never reads its server's memory after the server is gone, and
 * a change applies to the sessions that start after it. */
typedef struct {
        guint             max_line_length;
        gsize             max_message_size;
        guint             max_recipients;
        guint             max_errors;
        guint             max_junk_commands;
        guint             max_auth_failures;
        guint             auth_failure_delay_ms;
        guint             idle_timeout;         /* s; 0: none */
        guint             data_timeout;         /* s */
        guint             tls_handshake_timeout; /* s */
        gsize             spill_threshold;
        GSmtpBareLinefeed bare_linefeed;
        gboolean          strict_pipelining;
        gboolean          require_tls;
        gboolean          allow_insecure_auth;
        gboolean          protocol_log;
        gboolean          parse_messages;       /* in the worker pool, before the DATA stage */
        GSmtpMimeLimits   mime;
} GSmtpLimits;

typedef struct _GSmtpSessionHost GSmtpSessionHost;

/* What happened in a session, for the host's observers (signals). */
typedef enum {
        GSMTP_SESSION_EVENT_STARTED,            /* the connect stage is about to be asked */
        GSMTP_SESSION_EVENT_ENDED,              /* the session closed */
        GSMTP_SESSION_EVENT_MESSAGE_ACCEPTED,   /* @envelope was answered 2xx after DATA */
} GSmtpSessionEvent;

typedef struct {
        const char *(*get_hostname)      (GSmtpSessionHost *host);
        gboolean    (*is_local_domain)   (GSmtpSessionHost *host, const char *domain);
        char       *(*dup_mailer_daemon) (GSmtpSessionHost *host);
        gboolean    (*offers_tls)        (GSmtpSessionHost *host);
        gboolean    (*offers_auth)       (GSmtpSessionHost *host);
        gboolean    (*allows_xclient)    (GSmtpSessionHost *host, GSmtpPeer *peer);
        /* Messages are parsed before the DATA stage: the application wants
         * them (a DATA handler) and parse-messages is on. */
        gboolean    (*parses_messages)   (GSmtpSessionHost *host);
        /* The application's answer, or NULL when it deferred the stage.  The
         * host may be gone when this returns (a handler dropped the server):
         * the session is then closed, and touches the host no more. */
        GSmtpReply *(*decide)            (GSmtpSessionHost *host, GSmtpStage *stage);
        void        (*notify)            (GSmtpSessionHost *host, GSmtpSessionEvent event,
                                          GSmtpPeer *peer, GSmtpEnvelope *envelope);
} GSmtpSessionHostFuncs;

struct _GSmtpSessionHost {
        const GSmtpSessionHostFuncs *funcs;
        const GSmtpLimits           *limits;    /* copied by each new session */
        GMainContext                *context;   /* where sessions run: timers, completions */
};

G_END_DECLS

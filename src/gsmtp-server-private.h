/* gsmtp-server-private.h — what sessions read from their server (internal). */
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
#define GSMTP_DEFAULT_DATA_TIMEOUT         3600
#define GSMTP_DEFAULT_MAX_ERRORS           20     /* Postfix smtpd_hard_error_limit */
#define GSMTP_DEFAULT_MAX_AUTH_FAILURES    3
#define GSMTP_DEFAULT_AUTH_FAILURE_DELAY   1000   /* ms; Postfix's error sleep is 1 s */
#define GSMTP_DEFAULT_SPILL_THRESHOLD      (1024 * 1024)

typedef struct {
        guint             max_line_length;
        gsize             max_message_size;
        guint             max_recipients;
        guint             max_errors;
        guint             max_auth_failures;
        guint             auth_failure_delay_ms;
        gsize             spill_threshold;
        GSmtpBareLinefeed bare_linefeed;
        gboolean          strict_pipelining;
        gboolean          require_tls;
        gboolean          allow_insecure_auth;
        gboolean          protocol_log;
        gboolean          parse_messages;       /* in the worker pool, before the DATA stage */
        GSmtpMimeLimits   mime;
} GSmtpLimits;

const GSmtpLimits *gsmtp_server_get_limits      (GSmtpServer *server);
gboolean           gsmtp_server_has_tls         (GSmtpServer *server);
gboolean           gsmtp_server_has_auth        (GSmtpServer *server);
gboolean           gsmtp_server_allows_xclient  (GSmtpServer *server, GSmtpPeer *peer);
GSmtpReply        *gsmtp_server_decide          (GSmtpServer *server, GSmtpStage *stage);
gboolean           gsmtp_server_parses_messages (GSmtpServer *server);

G_END_DECLS

G_BEGIN_DECLS
/* For gsmtp-connection.c */
typedef struct _GSmtpConnection GSmtpConnection;
guint8            *gsmtp_server_get_read_buffer (GSmtpServer *server, gsize *size);
struct _GSmtpPoller *gsmtp_server_get_poller   (GSmtpServer *server);
GTlsCertificate   *gsmtp_server_get_tls_certificate (GSmtpServer *server);
guint              gsmtp_server_get_idle_timeout (GSmtpServer *server);
guint              gsmtp_server_get_data_timeout (GSmtpServer *server);
void               gsmtp_server_connection_closed (GSmtpServer *server, GSmtpConnection *conn);
G_END_DECLS

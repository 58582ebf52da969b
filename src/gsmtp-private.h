/* gsmtp-private.h — what every source file shares and no application sees. */
#pragma once

#include <gsmtp/gsmtp.h>

G_BEGIN_DECLS

/* GMime 3.2 has no autoptr cleanups; declare them here, never publicly. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GMimeMessage, g_object_unref)

void gsmtp_ensure_gmime (void);
void gsmtp_error_set_reply (GError *error, GSmtpReply *reply);
void gsmtp_error_set_send_result (GError *error, GSmtpSendResult *result);

/* gsmtp-reply.c */
void gsmtp_reply_format (const GSmtpReply *reply, const char *fallback_enhanced,
                         gboolean with_enhanced, GString *out);
gboolean gsmtp_enhanced_code_is_valid (const char *enhanced, guint code);
GSmtpReply *gsmtp_reply_shared (GSmtpReply **slot, guint code, const char *enhanced);

/* gsmtp-peer.c */
/* The longest HELO name taken, from HELO, EHLO, LHLO or XCLIENT: a domain's
 * 255 octets (RFC 5321 4.5.3.1.2) */
#define GSMTP_MAX_HELO_NAME 255
GSmtpPeer *gsmtp_peer_new (GSocketAddress *remote, GSocketAddress *local);
GSmtpPeer *gsmtp_peer_dup (GSmtpPeer *other);
void gsmtp_peer_set_helo (GSmtpPeer *self, const char *helo, gboolean esmtp);
void gsmtp_peer_set_addresses (GSmtpPeer *self, GSocketAddress *remote, GSocketAddress *local);
void gsmtp_peer_set_tls (GSmtpPeer *self, const char *version, const char *cipher,
                         GTlsCertificate *certificate);
void gsmtp_peer_set_username (GSmtpPeer *self, const char *username);
void gsmtp_peer_set_proxy (GSmtpPeer *self, GSocketAddress *proxy_address, const char *authority);
void gsmtp_peer_set_proxy_tls (GSmtpPeer *self, const char *version, const char *cipher,
                               const char *client_cn, gboolean client_verified);
void gsmtp_peer_set_lmtp (GSmtpPeer *self, gboolean lmtp);

/* gsmtp-envelope.c: the transaction; the session fills it, handlers read it */
GSmtpEnvelope *gsmtp_envelope_new (GSmtpPeer *peer, const char *mailer_daemon);
void gsmtp_envelope_set_sender (GSmtpEnvelope *self, const char *sender, GHashTable *params);
void gsmtp_envelope_add_recipient (GSmtpEnvelope *self, const char *recipient);
typedef struct _GSmtpMailParams GSmtpMailParams;
typedef struct _GSmtpRcptParams GSmtpRcptParams;
void gsmtp_envelope_set_mail_ext (GSmtpEnvelope *self, const GSmtpMailParams *ext);
guint gsmtp_envelope_add_recipient_ext (GSmtpEnvelope *self, const char *recipient,
                                        const GSmtpRcptParams *ext);
GSmtpEnvelope *gsmtp_envelope_copy (GSmtpEnvelope *other);
void gsmtp_envelope_set_data_memory (GSmtpEnvelope *self, GByteArray *data);
void gsmtp_envelope_set_data_file (GSmtpEnvelope *self, int fd, gsize size, GError **error);
void gsmtp_envelope_take_received (GSmtpEnvelope *self, char *value, char *raw);
void gsmtp_envelope_set_chunked (GSmtpEnvelope *self, gboolean chunked);
GSmtpEnvelope *gsmtp_envelope_copy_for (GSmtpEnvelope *other, const gboolean *keep);
struct _GSmtpMimeLimits;
void gsmtp_envelope_set_mime_limits (GSmtpEnvelope *self, const struct _GSmtpMimeLimits *limits);
void gsmtp_envelope_ensure_parsed (GSmtpEnvelope *self);
gboolean gsmtp_envelope_parse_if_cheap (GSmtpEnvelope *self, gsize max_size, guint64 max_cost);

/* gsmtp-context.c */
GSource *gsmtp_context_run (GMainContext *context, int priority, GSourceFunc func, gpointer data,
                            GDestroyNotify destroy, const char *static_name);

/* gsmtp-received.c */
typedef struct {
        GSmtpPeer *peer;        /* (owned) (nullable) */
        char      *hostname;    /* (owned) (nullable) */
        gboolean   smtputf8;
        char      *head;        /* (owned) (nullable) */
        gsize      head_by;     /* where " by" starts in @head */
        gboolean   head_plain;  /* @head needs no RFC 2047 care */
} GSmtpReceivedCache;

char *gsmtp_received_format (GSmtpReceivedCache *cache, GSmtpPeer *peer, const char *hostname,
                             const char *const *recipients, gboolean smtputf8, char **raw);
void gsmtp_received_prepend (GMimeObject *object, const char *value, const char *raw);
void gsmtp_received_cache_clear (GSmtpReceivedCache *cache);

/* gsmtp-stage.c */
typedef void (*GSmtpStageDone) (GSmtpStage *stage, GSmtpReply *reply, gpointer session);
GSmtpStage *gsmtp_stage_new (GSmtpStageKind kind, GSmtpPeer *peer, const char *argument,
                             GHashTable *params, GSmtpEnvelope *envelope);
GSmtpStage *gsmtp_stage_new_from (GSmtpStage **spare, GSmtpStageKind kind, GSmtpPeer *peer,
                                  const char *argument, GHashTable *params, GSmtpEnvelope *envelope);
void gsmtp_stage_mark_shown (GSmtpStage *self);
void gsmtp_stage_release (GSmtpStage *self, GSmtpStage **spare);
void gsmtp_stage_set_address_parts (GSmtpStage *self, const char *local_part,
                                    const char *domain, gboolean is_local);
void gsmtp_stage_set_password (GSmtpStage *self, const char *password);
void gsmtp_stage_set_dsn (GSmtpStage *self, GSmtpDsnNotify notify, const char *orcpt);
void gsmtp_stage_set_default_reply (GSmtpStage *self, GSmtpReply *reply);
gboolean gsmtp_stage_is_deferred (GSmtpStage *self);
void gsmtp_stage_attach (GSmtpStage *self, GSmtpStageDone done, gpointer session,
                         GMainContext *context);
void gsmtp_stage_detach (GSmtpStage *self);
void gsmtp_stage_cancel (GSmtpStage *self);
void gsmtp_stage_flush (GSmtpStage *self);
GSmtpReply *gsmtp_stage_dup_recipient_reply (GSmtpStage *self, guint index);

G_END_DECLS

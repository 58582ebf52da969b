/* gsmtp-error.c — the GSMTP_ERROR domain. */
#include "config.h"
#include "gsmtp-private.h"

/* GSMTP_ERROR is an extended error domain (GLib 2.68): an error made from a
 * server's reply carries the reply itself, so callers need not parse text. */
typedef struct {
        GSmtpReply      *reply;         /* (owned) (nullable) */
        GSmtpSendResult *result;        /* (owned) (nullable): a send's per-recipient replies */
} GSmtpErrorPrivate;

static void
g_smtp_error_private_init (GSmtpErrorPrivate *priv)
{
        priv->reply = NULL;
        priv->result = NULL;
}

static void
g_smtp_error_private_copy (const GSmtpErrorPrivate *src, GSmtpErrorPrivate *dest)
{
        dest->reply = src->reply != NULL ? g_smtp_reply_ref (src->reply) : NULL;
        dest->result = src->result != NULL ? g_object_ref (src->result) : NULL;
}

static void
g_smtp_error_private_clear (GSmtpErrorPrivate *priv)
{
        g_clear_pointer (&priv->reply, g_smtp_reply_unref);
        g_clear_object (&priv->result);
}

/**
 * g_smtp_error_quark:
 *
 * The error domain of gsmtp.
 *
 * Returns: the quark of the %GSMTP_ERROR domain
 *
 * Since: 0.1
 */
G_DEFINE_EXTENDED_ERROR (GSmtpError, g_smtp_error)

/**
 * g_smtp_error_get_reply:
 * @error: an error in the %GSMTP_ERROR domain
 *
 * The server's reply an error was made from, with its code, enhanced status
 * code and text: for %GSMTP_ERROR_REJECTED, %GSMTP_ERROR_TEMPORARY and
 * %GSMTP_ERROR_AUTH_FAILED from a reply.
 *
 * Returns: (transfer none) (nullable): the reply, or %NULL
 *
 * Since: 0.1
 */
GSmtpReply *
g_smtp_error_get_reply (const GError *error)
{
        GSmtpErrorPrivate *priv;

        g_return_val_if_fail (error != NULL, NULL);
        priv = g_smtp_error_get_private (error);
        return priv != NULL ? priv->reply : NULL;
}

/**
 * g_smtp_error_get_send_result:
 * @error: an error in the %GSMTP_ERROR domain
 *
 * What the server said to each recipient of a send that failed after the
 * recipients were given: when every recipient was refused (some maybe only for
 * now), or the transaction broke off after RCPT.  Use it to find the recipients
 * worth retrying (a 4xx reply) and those to give up on (5xx).
 *
 * Returns: (transfer none) (nullable): the per-recipient replies, or %NULL
 *
 * Since: 0.2
 */
GSmtpSendResult *
g_smtp_error_get_send_result (const GError *error)
{
        GSmtpErrorPrivate *priv;

        g_return_val_if_fail (error != NULL, NULL);
        priv = g_smtp_error_get_private (error);
        return priv != NULL ? priv->result : NULL;
}

void
gsmtp_error_set_send_result (GError *error, GSmtpSendResult *result)
{
        GSmtpErrorPrivate *priv;

        if (error->domain != GSMTP_ERROR)
                return;
        priv = g_smtp_error_get_private (error);
        if (priv != NULL && result != NULL) {
                g_clear_object (&priv->result);
                priv->result = g_object_ref (result);
        }
}

void
gsmtp_error_set_reply (GError *error, GSmtpReply *reply)
{
        GSmtpErrorPrivate *priv = g_smtp_error_get_private (error);

        if (priv != NULL && reply != NULL) {
                g_clear_pointer (&priv->reply, g_smtp_reply_unref);
                priv->reply = g_smtp_reply_ref (reply);
        }
}

G_DEFINE_ENUM_TYPE (GSmtpError, g_smtp_error,
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_FAILED, "failed"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_REJECTED, "rejected"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_TEMPORARY, "temporary"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_PROTOCOL, "protocol"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_TLS_REQUIRED, "tls-required"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_AUTH_FAILED, "auth-failed"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_NOT_SUPPORTED, "not-supported"))

static gsize gmime_once;

void
gsmtp_ensure_gmime (void)
{
        if (g_once_init_enter (&gmime_once)) {
                g_mime_init ();
                g_once_init_leave (&gmime_once, 1);
        }
}

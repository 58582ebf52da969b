/* gsmtp-error.c — the GSMTP_ERROR domain. */
#include "config.h"
#include "gsmtp-private.h"

/**
 * g_smtp_error_quark:
 *
 * The error domain of gsmtp.
 *
 * Returns: the quark of the %GSMTP_ERROR domain
 *
 * Since: 0.1
 */
G_DEFINE_QUARK (gsmtp-error-quark, g_smtp_error)

G_DEFINE_ENUM_TYPE (GSmtpError, g_smtp_error,
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_FAILED, "failed"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_REJECTED, "rejected"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_TEMPORARY, "temporary"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_PROTOCOL, "protocol"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_TLS_REQUIRED, "tls-required"),
        G_DEFINE_ENUM_VALUE (GSMTP_ERROR_AUTH_FAILED, "auth-failed"))

static gsize gmime_once;

void
gsmtp_ensure_gmime (void)
{
        if (g_once_init_enter (&gmime_once)) {
                g_mime_init ();
                g_once_init_leave (&gmime_once, 1);
        }
}

#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif
#include <glib-object.h>
#include <gsmtp/gsmtp-visibility.h>
#include <gsmtp/gsmtp-reply.h>

G_BEGIN_DECLS

#define GSMTP_ERROR (g_smtp_error_quark ())

/**
 * GSmtpError:
 * @GSMTP_ERROR_FAILED: anything else; treat unknown codes as this
 * @GSMTP_ERROR_REJECTED: the server answered 5xx; the message quotes the reply
 * @GSMTP_ERROR_TEMPORARY: the server answered 4xx
 * @GSMTP_ERROR_PROTOCOL: the peer broke the protocol (bad reply, early close)
 * @GSMTP_ERROR_TLS_REQUIRED: TLS was required but not offered
 * @GSMTP_ERROR_AUTH_FAILED: no usable mechanism, or the credentials were refused
 * @GSMTP_ERROR_NOT_SUPPORTED: the message needs an extension the server does not
 *   offer (SMTPUTF8, 8BITMIME, BINARYMIME, DSN, REQUIRETLS...); the message names
 *   it.  Nothing was sent for this message.  Since: 0.2
 *
 * Error codes in the %GSMTP_ERROR domain.
 *
 * Since: 0.1
 */
typedef enum {
        GSMTP_ERROR_FAILED,
        GSMTP_ERROR_REJECTED,
        GSMTP_ERROR_TEMPORARY,
        GSMTP_ERROR_PROTOCOL,
        GSMTP_ERROR_TLS_REQUIRED,
        GSMTP_ERROR_AUTH_FAILED,
        GSMTP_ERROR_NOT_SUPPORTED,
} GSmtpError;

GSMTP_AVAILABLE_IN_ALL
GQuark g_smtp_error_quark (void);

GSMTP_AVAILABLE_IN_ALL
GType g_smtp_error_get_type (void);

GSMTP_AVAILABLE_IN_ALL
GSmtpReply *g_smtp_error_get_reply (const GError *error);

G_END_DECLS

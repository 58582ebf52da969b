/* gsmtp-send-options.c — GSmtpSendOptions, how one message is to be sent.
 * Owns: DSN requests (RET, ENVID, NOTIFY, ORCPT; RFC 3461), REQUIRETLS (RFC 8689),
 * the body type, and other MAIL/RCPT parameters, each checked when given; their
 * wire form, made once when a send starts.
 * Not: whether the server offers them (gsmtp-client-connection.c). */
#include "config.h"
#include "gsmtp-client-private.h"
#include "gsmtp-client-params.h"
#include "gsmtp-address.h"

#include <string.h>

typedef struct {
        GSmtpDsnNotify notify;          /* DEFAULT: the options' own */
        char          *orcpt;           /* (owned) (nullable): the original recipient */
        GPtrArray     *params;          /* (owned) (nullable) (element-type utf8): "KEY=VALUE" */
} RecipientOptions;

struct _GSmtpSendOptions {
        GObject         parent_instance;

        GSmtpDsnRet  ret;
        char           *envid;          /* (owned) (nullable) */
        GSmtpDsnNotify  notify;
        gboolean        requiretls;
        GSmtpBodyType   body;
        GPtrArray      *mail_params;    /* (owned) (element-type utf8): "KEY" or "KEY=VALUE" */
        GHashTable     *recipients;     /* (owned): address key → RecipientOptions */
};

enum {
        PROP_0,
        PROP_DSN_RETURN,
        PROP_DSN_ENVID,
        PROP_DSN_NOTIFY,
        PROP_REQUIRETLS,
        PROP_BODY_TYPE,
        N_PROPS
};
static GParamSpec *props[N_PROPS];

/**
 * GSmtpSendOptions:
 *
 * How one message is to be sent, beyond its sender and recipients: delivery
 * status notifications (RFC 3461), REQUIRETLS (RFC 8689), the body type, and
 * other ESMTP parameters of MAIL and RCPT.  Everything is checked when it is
 * set; an extension the server does not offer fails the send before MAIL with
 * %GSMTP_ERROR_NOT_SUPPORTED.  A send copies what it needs when it starts, so
 * one options object may serve many sends.
 *
 * Since: 0.2
 */
G_DEFINE_FINAL_TYPE (GSmtpSendOptions, g_smtp_send_options, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (GSmtpBodyType, g_smtp_body_type,
        G_DEFINE_ENUM_VALUE (GSMTP_BODY_AUTO, "auto"),
        G_DEFINE_ENUM_VALUE (GSMTP_BODY_7BIT, "7bit"),
        G_DEFINE_ENUM_VALUE (GSMTP_BODY_8BITMIME, "8bitmime"),
        G_DEFINE_ENUM_VALUE (GSMTP_BODY_BINARYMIME, "binarymime"))

static void
recipient_options_free (RecipientOptions *ro)
{
        g_free (ro->orcpt);
        g_clear_pointer (&ro->params, g_ptr_array_unref);
        g_free (ro);
}

static RecipientOptions *
options_recipient (GSmtpSendOptions *self, const char *recipient)
{
        g_autofree char *path = NULL;
        char *key;
        RecipientOptions *ro;

        /* keyed as the send will see it: brackets off, domain case-folded */
        if (!gsmtp_client_check_path ("recipient", recipient, FALSE, &path, NULL))
                path = g_strdup (recipient);
        key = gsmtp_address_mailbox_key (path);
        ro = g_hash_table_lookup (self->recipients, key);
        if (ro != NULL) {
                g_free (key);
                return ro;
        }
        ro = g_new0 (RecipientOptions, 1);
        g_hash_table_insert (self->recipients, key, ro);
        return ro;
}

static void
g_smtp_send_options_finalize (GObject *object)
{
        GSmtpSendOptions *self = GSMTP_SEND_OPTIONS (object);

        g_free (self->envid);
        g_ptr_array_unref (self->mail_params);
        g_hash_table_unref (self->recipients);
        G_OBJECT_CLASS (g_smtp_send_options_parent_class)->finalize (object);
}

static void
g_smtp_send_options_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
        GSmtpSendOptions *self = GSMTP_SEND_OPTIONS (object);

        switch (id) {
        case PROP_DSN_RETURN:
                g_value_set_enum (value, self->ret);
                break;
        case PROP_DSN_ENVID:
                g_value_set_string (value, self->envid);
                break;
        case PROP_DSN_NOTIFY:
                g_value_set_flags (value, self->notify);
                break;
        case PROP_REQUIRETLS:
                g_value_set_boolean (value, self->requiretls);
                break;
        case PROP_BODY_TYPE:
                g_value_set_enum (value, self->body);
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
        }
}

static void
g_smtp_send_options_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
        GSmtpSendOptions *self = GSMTP_SEND_OPTIONS (object);

        switch (id) {
        case PROP_DSN_RETURN:
                g_smtp_send_options_set_dsn_return (self, g_value_get_enum (value));
                break;
        case PROP_DSN_ENVID:
                if (!g_smtp_send_options_set_dsn_envid (self, g_value_get_string (value), NULL))
                        g_warning ("GSmtpSendOptions: invalid dsn-envid ignored");
                break;
        case PROP_DSN_NOTIFY:
                g_smtp_send_options_set_dsn_notify (self, g_value_get_flags (value));
                break;
        case PROP_REQUIRETLS:
                g_smtp_send_options_set_requiretls (self, g_value_get_boolean (value));
                break;
        case PROP_BODY_TYPE:
                g_smtp_send_options_set_body_type (self, g_value_get_enum (value));
                break;
        default:
                G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
        }
}

static void
g_smtp_send_options_class_init (GSmtpSendOptionsClass *klass)
{
        GObjectClass *object_class = G_OBJECT_CLASS (klass);
        GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

        object_class->finalize = g_smtp_send_options_finalize;
        object_class->get_property = g_smtp_send_options_get_property;
        object_class->set_property = g_smtp_send_options_set_property;

        /**
         * GSmtpSendOptions:dsn-return:
         *
         * RET: what a failure notice returns of the message.
         *
         * Since: 0.2
         */
        props[PROP_DSN_RETURN] = g_param_spec_enum ("dsn-return", NULL, NULL, GSMTP_TYPE_DSN_RET,
                                                    GSMTP_DSN_RET_UNSPECIFIED, flags);
        /**
         * GSmtpSendOptions:dsn-envid:
         *
         * ENVID: the application's identifier of the message, quoted in notifications.
         *
         * Since: 0.2
         */
        props[PROP_DSN_ENVID] = g_param_spec_string ("dsn-envid", NULL, NULL, NULL, flags);
        /**
         * GSmtpSendOptions:dsn-notify:
         *
         * NOTIFY for every recipient that has none of its own.
         *
         * Since: 0.2
         */
        props[PROP_DSN_NOTIFY] = g_param_spec_flags ("dsn-notify", NULL, NULL, GSMTP_TYPE_DSN_NOTIFY,
                                                    GSMTP_DSN_NOTIFY_UNSPECIFIED, flags);
        /**
         * GSmtpSendOptions:requiretls:
         *
         * REQUIRETLS (RFC 8689): the message must travel over verified TLS all the
         * way; the send fails unless this connection is TLS with a verified
         * certificate and the server offers REQUIRETLS.
         *
         * Since: 0.2
         */
        props[PROP_REQUIRETLS] = g_param_spec_boolean ("requiretls", NULL, NULL, FALSE, flags);
        /**
         * GSmtpSendOptions:body-type:
         *
         * What the body is, for `BODY=`; measured from the data by default.
         *
         * Since: 0.2
         */
        props[PROP_BODY_TYPE] = g_param_spec_enum ("body-type", NULL, NULL, GSMTP_TYPE_BODY_TYPE,
                                                   GSMTP_BODY_AUTO, flags);
        g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
g_smtp_send_options_init (GSmtpSendOptions *self)
{
        self->mail_params = g_ptr_array_new_with_free_func (g_free);
        self->recipients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                  (GDestroyNotify) recipient_options_free);
}

/**
 * g_smtp_send_options_new:
 *
 * Makes options that ask for nothing beyond a plain send.
 *
 * Returns: (transfer full): new options
 *
 * Since: 0.2
 */
GSmtpSendOptions *
g_smtp_send_options_new (void)
{
        return g_object_new (GSMTP_TYPE_SEND_OPTIONS, NULL);
}

/**
 * g_smtp_send_options_set_dsn_return:
 * @self: options
 * @ret: what a failure notice returns
 *
 * Sets RET (RFC 3461 4.3).  Needs DSN.
 *
 * Since: 0.2
 */
void
g_smtp_send_options_set_dsn_return (GSmtpSendOptions *self, GSmtpDsnRet ret)
{
        g_return_if_fail (GSMTP_IS_SEND_OPTIONS (self));
        g_return_if_fail (ret <= GSMTP_DSN_RET_HDRS);
        if (self->ret == ret)
                return;
        self->ret = ret;
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_DSN_RETURN]);
}

/**
 * g_smtp_send_options_set_dsn_envid:
 * @self: options
 * @envid: (nullable): printable ASCII, at most 100 characters, or %NULL for none
 * @error: return location for a #GError
 *
 * Sets ENVID (RFC 3461 4.4), sent xtext-encoded.  Needs DSN.
 *
 * Returns: %TRUE, or %FALSE with %G_IO_ERROR_INVALID_ARGUMENT when @envid is not
 *   printable ASCII
 *
 * Since: 0.2
 */
gboolean
g_smtp_send_options_set_dsn_envid (GSmtpSendOptions *self, const char *envid, GError **error)
{
        g_return_val_if_fail (GSMTP_IS_SEND_OPTIONS (self), FALSE);
        if (envid != NULL && !gsmtp_client_check_envid (envid, error))
                return FALSE;
        if (g_strcmp0 (self->envid, envid) == 0)
                return TRUE;
        g_free (self->envid);
        self->envid = g_strdup (envid);
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_DSN_ENVID]);
        return TRUE;
}

static gboolean
notify_is_valid (GSmtpDsnNotify notify)
{
        return (notify & ~(GSMTP_DSN_NOTIFY_NEVER | GSMTP_DSN_NOTIFY_SUCCESS | GSMTP_DSN_NOTIFY_FAILURE |
                           GSMTP_DSN_NOTIFY_DELAY)) == 0 &&
               (!(notify & GSMTP_DSN_NOTIFY_NEVER) || notify == GSMTP_DSN_NOTIFY_NEVER);
}

/**
 * g_smtp_send_options_set_dsn_notify:
 * @self: options
 * @notify: when to notify; %GSMTP_DSN_NOTIFY_NEVER stands alone
 *
 * Sets NOTIFY (RFC 3461 4.1) for every recipient that has none of its own.
 * Needs DSN.
 *
 * Since: 0.2
 */
void
g_smtp_send_options_set_dsn_notify (GSmtpSendOptions *self, GSmtpDsnNotify notify)
{
        g_return_if_fail (GSMTP_IS_SEND_OPTIONS (self));
        g_return_if_fail (notify_is_valid (notify));
        if (self->notify == notify)
                return;
        self->notify = notify;
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_DSN_NOTIFY]);
}

/**
 * g_smtp_send_options_set_recipient_notify:
 * @self: options
 * @recipient: a recipient, as given to the send
 * @notify: when to notify for this recipient
 *
 * Sets NOTIFY for one recipient.  Needs DSN.
 *
 * Since: 0.2
 */
void
g_smtp_send_options_set_recipient_notify (GSmtpSendOptions *self, const char *recipient,
                                          GSmtpDsnNotify notify)
{
        g_return_if_fail (GSMTP_IS_SEND_OPTIONS (self));
        g_return_if_fail (recipient != NULL);
        g_return_if_fail (notify_is_valid (notify));
        options_recipient (self, recipient)->notify = notify;
}

/**
 * g_smtp_send_options_set_original_recipient:
 * @self: options
 * @recipient: a recipient, as given to the send
 * @original: (nullable): the address the message was first sent to, before any
 *   forwarding, or %NULL for none
 * @error: return location for a #GError
 *
 * Sets ORCPT (RFC 3461 4.2) for one recipient: `rfc822;` and the address
 * xtext-encoded, or `utf-8;` (RFC 6533) when it is not ASCII.  Needs DSN.
 *
 * Returns: %TRUE, or %FALSE with %G_IO_ERROR_INVALID_ARGUMENT for a bad address
 *
 * Since: 0.2
 */
gboolean
g_smtp_send_options_set_original_recipient (GSmtpSendOptions *self, const char *recipient,
                                            const char *original, GError **error)
{
        g_autofree char *path = NULL;
        RecipientOptions *ro;

        g_return_val_if_fail (GSMTP_IS_SEND_OPTIONS (self), FALSE);
        g_return_val_if_fail (recipient != NULL, FALSE);
        if (original != NULL && !gsmtp_client_check_path ("original recipient", original, FALSE, &path, error))
                return FALSE;
        ro = options_recipient (self, recipient);
        g_free (ro->orcpt);
        ro->orcpt = g_steal_pointer (&path);
        return TRUE;
}

/**
 * g_smtp_send_options_set_requiretls:
 * @self: options
 * @requiretls: %TRUE to require TLS all the way (RFC 8689)
 *
 * Sets REQUIRETLS: the message is sent only over TLS with a verified
 * certificate, to a server that offers REQUIRETLS, which promises to pass it
 * on the same way or bounce it.
 *
 * Since: 0.2
 */
void
g_smtp_send_options_set_requiretls (GSmtpSendOptions *self, gboolean requiretls)
{
        g_return_if_fail (GSMTP_IS_SEND_OPTIONS (self));
        requiretls = !!requiretls;
        if (self->requiretls == requiretls)
                return;
        self->requiretls = requiretls;
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REQUIRETLS]);
}

/**
 * g_smtp_send_options_set_body_type:
 * @self: options
 * @body: the body type
 *
 * Says what the body is instead of measuring it.  %GSMTP_BODY_BINARYMIME sends
 * the bytes unchanged, line ends included, and needs CHUNKING and BINARYMIME.
 *
 * Since: 0.2
 */
void
g_smtp_send_options_set_body_type (GSmtpSendOptions *self, GSmtpBodyType body)
{
        g_return_if_fail (GSMTP_IS_SEND_OPTIONS (self));
        g_return_if_fail (body <= GSMTP_BODY_BINARYMIME);
        if (self->body == body)
                return;
        self->body = body;
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_BODY_TYPE]);
}

static char *
parameter_format (const char *keyword, const char *value)
{
        g_autofree char *upper = g_ascii_strup (keyword, -1);

        return value != NULL ? g_strconcat (upper, "=", value, NULL) : g_steal_pointer (&upper);
}

/**
 * g_smtp_send_options_add_mail_parameter:
 * @self: options
 * @keyword: an ESMTP keyword, such as "MT-PRIORITY"
 * @value: (nullable): its value, or %NULL for a keyword alone
 * @error: return location for a #GError
 *
 * Adds a parameter to MAIL FROM, for an extension this client does not know.
 * The syntax is checked (RFC 5321 4.1.2: letters, digits and '-' in the keyword;
 * no space, '=' or control character in the value) so nothing can add a
 * command or another parameter.  Parameters the client sets itself (SIZE, BODY,
 * SMTPUTF8, RET, ENVID, REQUIRETLS) are refused: use the options for them.
 *
 * Returns: %TRUE, or %FALSE with %G_IO_ERROR_INVALID_ARGUMENT
 *
 * Since: 0.2
 */
gboolean
g_smtp_send_options_add_mail_parameter (GSmtpSendOptions *self, const char *keyword, const char *value,
                                        GError **error)
{
        g_return_val_if_fail (GSMTP_IS_SEND_OPTIONS (self), FALSE);
        if (!gsmtp_client_check_parameter (keyword, value, error))
                return FALSE;
        g_ptr_array_add (self->mail_params, parameter_format (keyword, value));
        return TRUE;
}

/**
 * g_smtp_send_options_add_recipient_parameter:
 * @self: options
 * @recipient: a recipient, as given to the send
 * @keyword: an ESMTP keyword
 * @value: (nullable): its value, or %NULL for a keyword alone
 * @error: return location for a #GError
 *
 * Adds a parameter to the RCPT TO of @recipient, checked as in
 * g_smtp_send_options_add_mail_parameter(); NOTIFY and ORCPT have their own
 * setters.
 *
 * Returns: %TRUE, or %FALSE with %G_IO_ERROR_INVALID_ARGUMENT
 *
 * Since: 0.2
 */
gboolean
g_smtp_send_options_add_recipient_parameter (GSmtpSendOptions *self, const char *recipient,
                                             const char *keyword, const char *value, GError **error)
{
        RecipientOptions *ro;

        g_return_val_if_fail (GSMTP_IS_SEND_OPTIONS (self), FALSE);
        g_return_val_if_fail (recipient != NULL, FALSE);
        if (!gsmtp_client_check_parameter (keyword, value, error))
                return FALSE;
        ro = options_recipient (self, recipient);
        if (ro->params == NULL)
                ro->params = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (ro->params, parameter_format (keyword, value));
        return TRUE;
}

static void
notify_append (GString *out, GSmtpDsnNotify notify)
{
        static const struct {
                GSmtpDsnNotify flag;
                const char    *name;
        } names[] = {
                { GSMTP_DSN_NOTIFY_NEVER, "NEVER" },
                { GSMTP_DSN_NOTIFY_SUCCESS, "SUCCESS" },
                { GSMTP_DSN_NOTIFY_FAILURE, "FAILURE" },
                { GSMTP_DSN_NOTIFY_DELAY, "DELAY" },
        };
        gboolean first = TRUE;

        g_string_append (out, " NOTIFY=");
        for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
                if (!(notify & names[i].flag))
                        continue;
                if (!first)
                        g_string_append_c (out, ',');
                g_string_append (out, names[i].name);
                first = FALSE;
        }
}

static void
strings_append (GString *out, GPtrArray *params, gboolean *needs_utf8)
{
        for (guint i = 0; params != NULL && i < params->len; i++) {
                g_string_append_c (out, ' ');
                g_string_append (out, params->pdata[i]);
                if (!gsmtp_client_is_ascii (params->pdata[i]))
                        *needs_utf8 = TRUE;
        }
}

/* The wire form of every parameter, made once when a send starts: later changes
 * to the options do not touch a send in progress.  NULL options freeze to none. */
GSmtpSendParams *
gsmtp_send_options_freeze (GSmtpSendOptions *self, const char *const *recipients)
{
        GSmtpSendParams *params = g_new0 (GSmtpSendParams, 1);
        g_autoptr(GString) mail = g_string_new (NULL);

        if (self == NULL) {
                params->mail_params = g_strdup ("");
                return params;
        }
        params->body = self->body;
        params->requiretls = self->requiretls;
        if (self->ret != GSMTP_DSN_RET_UNSPECIFIED) {
                g_string_append (mail, self->ret == GSMTP_DSN_RET_FULL ? " RET=FULL" : " RET=HDRS");
                params->dsn = TRUE;
        }
        if (self->envid != NULL) {
                g_string_append (mail, " ENVID=");
                gsmtp_xtext_append (mail, self->envid);
                params->dsn = TRUE;
        }
        if (self->requiretls)
                g_string_append (mail, " REQUIRETLS");
        strings_append (mail, self->mail_params, &params->needs_utf8);
        params->mail_params = g_strdup (mail->str);

        for (guint i = 0; recipients != NULL && recipients[i] != NULL; i++) {
                g_autofree char *key = gsmtp_address_mailbox_key (recipients[i]);
                RecipientOptions *ro = g_hash_table_lookup (self->recipients, key);
                GSmtpDsnNotify notify = ro != NULL && ro->notify != GSMTP_DSN_NOTIFY_UNSPECIFIED ? ro->notify
                                                                                             : self->notify;
                g_autoptr(GString) rcpt = g_string_new (NULL);

                if (notify != GSMTP_DSN_NOTIFY_UNSPECIFIED) {
                        notify_append (rcpt, notify);
                        params->dsn = TRUE;
                }
                if (ro != NULL && ro->orcpt != NULL) {
                        if (gsmtp_client_is_ascii (ro->orcpt)) {
                                g_string_append (rcpt, " ORCPT=rfc822;");
                                gsmtp_xtext_append (rcpt, ro->orcpt);
                        } else {
                                g_string_append (rcpt, " ORCPT=utf-8;");
                                gsmtp_utf8_addr_xtext_append (rcpt, ro->orcpt);
                        }
                        params->dsn = TRUE;
                }
                if (ro != NULL)
                        strings_append (rcpt, ro->params, &params->needs_utf8);
                if (rcpt->len == 0)
                        continue;
                if (params->rcpt_params == NULL)
                        params->rcpt_params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
                g_hash_table_replace (params->rcpt_params, g_steal_pointer (&key),
                                      g_string_free (g_steal_pointer (&rcpt), FALSE));
        }
        return params;
}

void
gsmtp_send_params_free (GSmtpSendParams *params)
{
        g_free (params->mail_params);
        g_clear_pointer (&params->rcpt_params, g_hash_table_unref);
        g_free (params);
}

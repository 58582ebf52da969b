/* gsmtp-esmtp-params.c — the MAIL and RCPT parameters of SMTPUTF8 (RFC 6531
 * 3.4), DSN (RFC 3461 4) and REQUIRETLS (RFC 8689 2): their syntax, their
 * decoded values, and the reply to each malformed one.
 * Owns: SMTPUTF8, REQUIRETLS, RET, ENVID on MAIL; NOTIFY, ORCPT on RCPT; the
 * rule that UTF-8 in a value needs SMTPUTF8.  Pure; fuzzed (fuzz-command.c).
 * Not: splitting the parameters (gsmtp-command.c: a repeated one is refused
 * there, 501), SIZE, BODY and AUTH (gsmtp-session.c), making DSNs (the
 * application's).
 *
 * Replies, as Postfix's smtpd gives them: a known parameter with a bad value
 * is a syntax error, 501 5.5.4 (RFC 5321 4.2.2: "Syntax error in parameters
 * or arguments"); an unknown parameter is 555 5.5.4 (RFC 5321 4.1.1.11);
 * REQUIRETLS outside TLS is 530 5.7.0 (RFC 8689 2: only in a TLS session;
 * RFC 3207 4: 530 asks for STARTTLS first). */
#include "config.h"
#include "gsmtp-esmtp-params.h"
#include "gsmtp-address.h"
#include "gsmtp-xtext.h"

#include <string.h>

static GSmtpReply *
bad_syntax (const char *text)
{
        return g_smtp_reply_new (501, "5.5.4", text);
}

gboolean
gsmtp_esmtp_is_mail_param (const char *keyword)
{
        return g_str_equal (keyword, "SMTPUTF8") || g_str_equal (keyword, "REQUIRETLS") ||
               g_str_equal (keyword, "RET") || g_str_equal (keyword, "ENVID");
}

/* What RFC 3461 4.2 and 4.4 allow in a decoded ENVID or ORCPT: printable
 * US-ASCII (Postfix's allprint). */
static gboolean
is_printable_ascii (const char *s)
{
        for (; *s != '\0'; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
                        return FALSE;
        return TRUE;
}

/* ... and in a decoded utf-8 ORCPT (RFC 6533 3): the same, or well-formed
 * UTF-8 that is no C1 control. */
static gboolean
is_printable_utf8 (const char *s)
{
        while (*s != '\0') {
                gsize n;

                if ((unsigned char) *s >= 0x80) {
                        n = gsmtp_utf8_char_len (s);
                        if (n == 0)
                                return FALSE;
                        s += n;
                        continue;
                }
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
                        return FALSE;
                s++;
        }
        return TRUE;
}

/* Without SMTPUTF8 an esmtp-value is ASCII (RFC 5321 4.1.2); RFC 6531 3.3
 * adds UTF-8 only for the transaction that asked for it. */
static GSmtpReply *
check_values_ascii (GHashTable *params)
{
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init (&iter, params);
        while (g_hash_table_iter_next (&iter, &key, &value))
                if (value != NULL && !g_str_is_ascii (value))
                        return bad_syntax ("UTF-8 in a parameter needs SMTPUTF8");
        return NULL;
}

static gboolean
ret_parse (const char *value, GSmtpDsnRet *out)
{
        if (value == NULL)
                return FALSE;
        if (g_ascii_strcasecmp (value, "FULL") == 0)
                *out = GSMTP_DSN_RET_FULL;
        else if (g_ascii_strcasecmp (value, "HDRS") == 0)
                *out = GSMTP_DSN_RET_HDRS;
        else
                return FALSE;
        return TRUE;
}

/* envid-parameter = "ENVID=" xtext; at most 100 characters, printable once
 * decoded (RFC 3461 4.4). */
static char *
envid_parse (const char *value)
{
        char *envid;

        if (value == NULL || strlen (value) > GSMTP_ENVID_MAX)
                return NULL;
        envid = gsmtp_xtext_decode (value);
        if (envid != NULL && !is_printable_ascii (envid))
                g_clear_pointer (&envid, g_free);
        return envid;
}

/* @params: from gsmtp_command_parse_path(), upper-case keys, each at most
 * once.  The caller clears @out (gsmtp_mail_params_clear()), refused or not. */
GSmtpReply *
gsmtp_esmtp_parse_mail (GHashTable *params, gboolean tls_active, GSmtpMailParams *out)
{
        const char *value;

        memset (out, 0, sizeof *out);
        if (g_hash_table_lookup_extended (params, "SMTPUTF8", NULL, (gpointer *) &value)) {
                /* RFC 6531 3.4: "it MUST not accept a value" */
                if (value != NULL)
                        return bad_syntax ("SMTPUTF8 takes no value");
                out->smtputf8 = TRUE;
        } else {
                GSmtpReply *refusal = check_values_ascii (params);

                if (refusal != NULL)
                        return refusal;
        }
        if (g_hash_table_lookup_extended (params, "REQUIRETLS", NULL, (gpointer *) &value)) {
                if (value != NULL)
                        return bad_syntax ("REQUIRETLS takes no value");
                /* RFC 8689 2: the option is for a session that uses TLS,
                 * which is also the only one REQUIRETLS is offered in */
                if (!tls_active)
                        return g_smtp_reply_new (530, "5.7.0", "REQUIRETLS needs TLS: issue STARTTLS first");
                out->requiretls = TRUE;
        }
        if (g_hash_table_lookup_extended (params, "RET", NULL, (gpointer *) &value) &&
            !ret_parse (value, &out->ret))
                return bad_syntax ("Bad RET parameter syntax");
        if (g_hash_table_lookup_extended (params, "ENVID", NULL, (gpointer *) &value)) {
                out->envid = envid_parse (value);
                if (out->envid == NULL)
                        return bad_syntax ("Bad ENVID parameter syntax");
        }
        return NULL;
}

/* notify-esmtp-value = "NEVER" / 1#notify-list-element (RFC 3461 4.1), in
 * any case; NEVER stands alone; an empty element is malformed. */
static gboolean
notify_parse (const char *value, GSmtpDsnNotify *out)
{
        g_auto(GStrv) words = NULL;
        guint flags = 0;

        if (value == NULL)
                return FALSE;
        words = g_strsplit (value, ",", -1);
        for (guint i = 0; words[i] != NULL; i++) {
                if (g_ascii_strcasecmp (words[i], "NEVER") == 0)
                        flags |= GSMTP_DSN_NOTIFY_NEVER;
                else if (g_ascii_strcasecmp (words[i], "SUCCESS") == 0)
                        flags |= GSMTP_DSN_NOTIFY_SUCCESS;
                else if (g_ascii_strcasecmp (words[i], "FAILURE") == 0)
                        flags |= GSMTP_DSN_NOTIFY_FAILURE;
                else if (g_ascii_strcasecmp (words[i], "DELAY") == 0)
                        flags |= GSMTP_DSN_NOTIFY_DELAY;
                else
                        return FALSE;
        }
        if (flags == 0 || ((flags & GSMTP_DSN_NOTIFY_NEVER) && flags != GSMTP_DSN_NOTIFY_NEVER))
                return FALSE;
        *out = flags;
        return TRUE;
}

static gboolean
is_addr_type_char (char c)
{
        /* addr-type = atom (RFC 3461 4.2) */
        return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-/?^_`{|}~", c) != NULL);
}

/* orcpt-parameter = "ORCPT=" addr-type ";" xtext (RFC 3461 4.2), at most 500
 * characters, the address printable US-ASCII once decoded; for addr-type
 * utf-8 the address is utf-8-addr-xtext or, under SMTPUTF8, -unitext (RFC
 * 6533 3, which RFC 6531 3.2 makes part of DSN with SMTPUTF8).  Returns
 * "addr-type;address", the type in lower case, the address decoded. */
static char *
orcpt_parse (const char *value)
{
        const char *semi;
        g_autofree char *type = NULL, *address = NULL;

        if (value == NULL || strlen (value) > GSMTP_ORCPT_MAX)
                return NULL;
        semi = strchr (value, ';');
        if (semi == NULL || semi == value)
                return NULL;
        for (const char *p = value; p < semi; p++)
                if (!is_addr_type_char (*p))
                        return NULL;
        type = g_ascii_strdown (value, semi - value);
        if (g_str_equal (type, "utf-8")) {
                address = gsmtp_utf8_addr_decode (semi + 1);
                if (address == NULL || !is_printable_utf8 (address))
                        return NULL;
        } else {
                address = gsmtp_xtext_decode (semi + 1);
                if (address == NULL || address[0] == '\0' || !is_printable_ascii (address))
                        return NULL;
        }
        return g_strconcat (type, ";", address, NULL);
}

/* @smtputf8: the transaction's MAIL carried SMTPUTF8.  Every RCPT parameter
 * gsmtp knows is here: any other is 555.  The caller clears @out. */
GSmtpReply *
gsmtp_esmtp_parse_rcpt (GHashTable *params, gboolean smtputf8, GSmtpRcptParams *out)
{
        GHashTableIter iter;
        gpointer key, value;

        memset (out, 0, sizeof *out);
        if (!smtputf8) {
                GSmtpReply *refusal = check_values_ascii (params);

                if (refusal != NULL)
                        return refusal;
        }
        g_hash_table_iter_init (&iter, params);
        while (g_hash_table_iter_next (&iter, &key, &value)) {
                if (g_str_equal (key, "NOTIFY")) {
                        if (!notify_parse (value, &out->notify))
                                return bad_syntax ("Bad NOTIFY parameter syntax");
                } else if (g_str_equal (key, "ORCPT")) {
                        out->orcpt = orcpt_parse (value);
                        if (out->orcpt == NULL)
                                return bad_syntax ("Bad ORCPT parameter syntax");
                } else {
                        return g_smtp_reply_new (555, "5.5.4", "Unsupported RCPT parameter");
                }
        }
        return NULL;
}

void
gsmtp_mail_params_clear (GSmtpMailParams *params)
{
        g_clear_pointer (&params->envid, g_free);
}

void
gsmtp_rcpt_params_clear (GSmtpRcptParams *params)
{
        g_clear_pointer (&params->orcpt, g_free);
}

/* gsmtp-session-xclient.c — XCLIENT: a trusted proxy names the real client.
 * Owns: parsing the attributes and starting the session over as that client.
 * Not: who is trusted (the host: the server's XCLIENT networks), the
 * per-address limit (the connection, told through gsmtp_session_set_peer()).
 * Postfix's XCLIENT_README; RFC 3461 4 (xtext). */
#include "config.h"
#include "gsmtp-session-private.h"
#include "gsmtp-xtext.h"

#include <string.h>

typedef struct {
        char *addr, *port, *proto, *helo, *login;
} XclientAttrs;

static void
xclient_attrs_clear (XclientAttrs *a)
{
        g_free (a->addr);
        g_free (a->port);
        g_free (a->proto);
        g_free (a->helo);
        g_free (a->login);
}

static GInetAddress *
xclient_address (const char *addr)
{
        const char *ip = g_ascii_strncasecmp (addr, "IPV6:", 5) == 0 ? addr + 5 : addr;

        return g_inet_address_new_from_string (ip);
}

/* Fills @a from "NAME=value ..."; FALSE for anything malformed.  The values
 * "[UNAVAILABLE]" and "[TEMPUNAVAIL]" mean unknown and leave an attribute unset. */
static gboolean
xclient_parse (const char *args, XclientAttrs *a)
{
        g_auto(GStrv) words = g_strsplit (args, " ", -1);
        guint n = 0;

        for (guint i = 0; words[i] != NULL; i++) {
                char *eq = strchr (words[i], '=');
                g_autofree char *value = NULL;
                char **slot;

                if (words[i][0] == '\0')
                        continue;
                if (eq == NULL)
                        return FALSE;
                *eq = '\0';
                /* values are xtext (XCLIENT_README); malformed xtext is refused */
                value = gsmtp_xtext_decode (eq + 1);
                if (value == NULL)
                        return FALSE;
                for (const char *p = value; *p != '\0'; p++)
                        if ((unsigned char) *p <= 32 || (unsigned char) *p >= 127)
                                return FALSE;
                if (g_ascii_strcasecmp (words[i], "ADDR") == 0)
                        slot = &a->addr;
                else if (g_ascii_strcasecmp (words[i], "PORT") == 0)
                        slot = &a->port;
                else if (g_ascii_strcasecmp (words[i], "PROTO") == 0)
                        slot = &a->proto;
                else if (g_ascii_strcasecmp (words[i], "HELO") == 0)
                        slot = &a->helo;
                else if (g_ascii_strcasecmp (words[i], "LOGIN") == 0)
                        slot = &a->login;
                else if (g_ascii_strcasecmp (words[i], "NAME") == 0)
                        slot = NULL;    /* reverse DNS: gsmtp does none */
                else
                        return FALSE;
                n++;
                if (slot == NULL || g_str_equal (value, "[UNAVAILABLE]") || g_str_equal (value, "[TEMPUNAVAIL]"))
                        continue;
                g_free (*slot);
                *slot = g_steal_pointer (&value);
        }
        if (n == 0)
                return FALSE;
        if (a->addr != NULL) {
                g_autoptr(GInetAddress) ia = xclient_address (a->addr);

                if (ia == NULL)
                        return FALSE;
        }
        if (a->port != NULL && !g_ascii_string_to_unsigned (a->port, 10, 0, 65535, NULL, NULL))
                return FALSE;
        if (a->helo != NULL && strlen (a->helo) > GSMTP_MAX_HELO_NAME)
                return FALSE;
        if (a->proto != NULL && g_ascii_strcasecmp (a->proto, "SMTP") != 0 &&
            g_ascii_strcasecmp (a->proto, "ESMTP") != 0)
                return FALSE;
        return TRUE;
}

GSmtpReply *
gsmtp_session_check_xclient (GSmtpSession *self, const char *args, GSmtpStage **out_stage)
{
        XclientAttrs a = { 0 };
        gboolean ok;

        if (!gsmtp_session_allows_xclient (self))
                return g_smtp_reply_new (550, "5.7.0", "Insufficient authorization");
        ok = xclient_parse (args, &a);
        xclient_attrs_clear (&a);
        if (!ok)
                return g_smtp_reply_new (501, "5.5.4", "Bad XCLIENT attribute");
        return NULL;
}

void
gsmtp_session_proceed_xclient (GSmtpSession *self, GSmtpStage *stage, GSmtpReply *reply, const char *args)
{
        XclientAttrs a = { 0 };
        GSmtpPeer *peer = gsmtp_peer_dup (self->peer);
        gboolean esmtp;

        xclient_parse (args, &a);
        esmtp = a.proto != NULL && g_ascii_strcasecmp (a.proto, "ESMTP") == 0;
        if (a.addr != NULL) {
                g_autoptr(GInetAddress) ia = xclient_address (a.addr);
                g_autoptr(GSocketAddress) remote = g_inet_socket_address_new (
                        ia, a.port != NULL ? (guint16) g_ascii_strtoull (a.port, NULL, 10) : 0);

                gsmtp_peer_set_addresses (peer, remote, g_smtp_peer_get_local_address (peer));
        }
        /* the session starts over as the named client's (XCLIENT_README) */
        gsmtp_session_reset_transaction (self);
        gsmtp_peer_set_helo (peer, a.helo, esmtp);
        gsmtp_peer_set_username (peer, a.login);
        self->authenticated = a.login != NULL;
        gsmtp_session_enter_state (self, a.helo != NULL ? SESSION_IDLE : SESSION_READY);
        xclient_attrs_clear (&a);
        /* the connection counts the new address against the per-address limit */
        if (!gsmtp_session_set_peer (self, peer))
                return;
        gsmtp_session_send_banner (self);
}

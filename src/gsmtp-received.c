/* gsmtp-received.c — the Received: trace header.
 * Owns: its wording.  Not: where it goes (gsmtp-envelope.c).
 * RFC 5321 4.4 (time stamp line), RFC 3848 (protocol names), RFC 6531 4.3
 * (UTF8SMTP names), RFC 5322 3.6.7. */
#include "config.h"
#include "gsmtp-private.h"

#include <string.h>

/* The clauses, in RFC 5321's order: from, by, with, id, for; then the date.
 * "for" names the recipient only when there is exactly one, as Postfix does, so
 * a message to many does not list them all to each of them. */
/* g_date_time_new_now_local() looks up the local zone each time (readlink and
 * stat of /etc/localtime): three system calls a message.  The zone is kept for a
 * minute instead, so a change of time zone still shows soon; the formatted date
 * for a second, since formatting it costs more than the rest of the line. */
G_LOCK_DEFINE_STATIC (zone);
static GTimeZone *zone;
static gint64 zone_checked;
static char *date;
static gint64 date_second = -1;

static void
received_append_date (GString *out)
{
        gint64 now = g_get_monotonic_time ();
        gint64 second = g_get_real_time () / G_USEC_PER_SEC;

        G_LOCK (zone);
        if (zone == NULL || now - zone_checked > 60 * G_USEC_PER_SEC) {
                g_clear_pointer (&zone, g_time_zone_unref);
                zone = g_time_zone_new_local ();
                zone_checked = now;
                date_second = -1;
        }
        if (second != date_second) {
                g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc (second);
                g_autoptr(GDateTime) in_zone = g_date_time_to_timezone (dt, zone);

                g_free (date);
                date = g_mime_utils_header_format_date (in_zone);
                date_second = second;
        }
        g_string_append (out, date);
        G_UNLOCK (zone);
}

/* RFC 6531 4.3: an internationalised transaction is "with UTF8SMTP",
 * "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" (and "UTF8LMTP..." for LMTP): the
 * RFC 3848 name, its leading "E" dropped, after "UTF8".  SMTPUTF8 needs EHLO,
 * so plain "SMTP" has no such form. */
static void
received_append_protocol (GString *out, GSmtpPeer *peer, gboolean smtputf8)
{
        const char *protocol = g_smtp_peer_get_protocol (peer);

        if (smtputf8 && g_str_has_prefix (protocol, "ESMTP")) {
                g_string_append (out, "UTF8");
                g_string_append (out, protocol + 1);
        } else if (smtputf8 && g_str_has_prefix (protocol, "LMTP")) {
                g_string_append (out, "UTF8");
                g_string_append (out, protocol);
        } else {
                g_string_append (out, protocol);
        }
}

/* "from ... by ... with ... id ...": all but the recipient and the date */
static char *
received_format_head (GSmtpPeer *peer, const char *hostname, gboolean smtputf8)
{
        GString *out = g_string_sized_new (256);
        const char *helo = g_smtp_peer_get_helo (peer);
        GSocketAddress *address = g_smtp_peer_get_address (peer);

        /* built with appends, not printf: this runs for every message */
        g_string_append (out, "from ");
        g_string_append (out, helo != NULL && *helo != '\0' ? helo : "unknown");
        if (G_IS_INET_SOCKET_ADDRESS (address)) {
                /* RFC 5321 4.1.3: IPv6 literals carry the "IPv6:" tag (the host
                 * of an IPv4 client on a dual-stack socket is its IPv4 form) */
                g_string_append (out, strchr (g_smtp_peer_get_host (peer), ':') != NULL ? " ([IPv6:" : " ([");
                g_string_append (out, g_smtp_peer_get_host (peer));
                g_string_append (out, "])");
        }
        g_string_append (out, " by ");
        g_string_append (out, hostname);
        g_string_append (out, " (gsmtp) with ");
        received_append_protocol (out, peer, smtputf8);
        if (g_smtp_peer_get_tls (peer) && g_smtp_peer_get_tls_version (peer) != NULL) {
                g_string_append (out, " (");
                g_string_append (out, g_smtp_peer_get_tls_version (peer));
                g_string_append (out, " with cipher ");
                g_string_append (out, g_smtp_peer_get_tls_cipher (peer) != NULL
                                              ? g_smtp_peer_get_tls_cipher (peer) : "unknown");
                g_string_append (out, ")");
        }
        g_string_append (out, " id ");
        g_string_append (out, g_smtp_peer_get_session_id (peer));
        return g_string_free (out, FALSE);
}

/* @cache (nullable) keeps the part that depends only on the session: a peer
 * is immutable (a new one after HELO, STARTTLS, AUTH or XCLIENT), so the same
 * peer, host name and SMTPUTF8 give the same words. */
char *
gsmtp_received_format (GSmtpReceivedCache *cache, GSmtpPeer *peer, const char *hostname,
                       const char *const *recipients, gboolean smtputf8)
{
        g_autofree char *own_head = NULL;
        const char *head;
        GString *out;

        if (cache != NULL) {
                if (cache->peer != peer || cache->smtputf8 != smtputf8 || g_strcmp0 (cache->hostname, hostname) != 0) {
                        gsmtp_received_cache_clear (cache);
                        cache->peer = g_object_ref (peer);
                        cache->hostname = g_strdup (hostname);
                        cache->smtputf8 = smtputf8;
                        cache->head = received_format_head (peer, hostname, smtputf8);
                }
                head = cache->head;
        } else {
                head = own_head = received_format_head (peer, hostname, smtputf8);
        }
        out = g_string_sized_new (strlen (head) + 128);
        g_string_append (out, head);
        if (recipients != NULL && recipients[0] != NULL && recipients[1] == NULL) {
                g_string_append (out, " for <");
                g_string_append (out, recipients[0]);
                g_string_append (out, ">");
        }
        g_string_append (out, "; ");
        received_append_date (out);
        return g_string_free (out, FALSE);
}

void
gsmtp_received_cache_clear (GSmtpReceivedCache *cache)
{
        g_clear_object (&cache->peer);
        g_clear_pointer (&cache->hostname, g_free);
        g_clear_pointer (&cache->head, g_free);
}

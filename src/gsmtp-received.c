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

/* "from ... by ... with ... id ...": all but the recipient and the date.
 * @by is set to where " by" starts, the head's fold. */
static char *
received_format_head (GSmtpPeer *peer, const char *hostname, gboolean smtputf8, gsize *by)
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
        *by = out->len;
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

/* GMime takes a raw value as it is, and decodes it lazily: unfolded, then
 * RFC 2047 words decoded.  For printable ASCII with no "=?" that decoding
 * changes nothing, so the raw value can be made here; anything else (a
 * client's encoded word, UTF-8) is left to GMime's own formatter. */
static gboolean
received_is_plain (const char *text, gsize len)
{
        for (gsize i = 0; i < len; i++) {
                guchar c = (guchar) text[i];

                if (c < 0x20 || c > 0x7e || (c == '=' && i + 1 < len && text[i + 1] == '?'))
                        return FALSE;
        }
        return TRUE;
}

/* @value folded as gsmtp_received_format () describes: @by and @head_len
 * are where " by" and " for" (or ";") start, @for_len is the length of the
 * " for <...>" clause. */
static char *
received_fold (const char *value, gsize by, gsize head_len, gsize for_len)
{
        const char *stamp = value + head_len + for_len + 1;     /* the space after ';' */
        GString *raw = g_string_sized_new (strlen (value) + 8);

        g_string_append_c (raw, ' ');
        g_string_append_len (raw, value, by);
        g_string_append_c (raw, '\n');
        g_string_append_len (raw, value + by, head_len - by);
        if (for_len > 0) {
                g_string_append_c (raw, '\n');
                g_string_append_len (raw, value + head_len, for_len);
        }
        g_string_append (raw, ";\n");
        g_string_append (raw, stamp);
        g_string_append_c (raw, '\n');
        return g_string_free (raw, FALSE);
}

/* @cache keeps the part that depends only on the session: a peer is
 * immutable (a new one after HELO, STARTTLS, AUTH or XCLIENT), so the same
 * peer, host name and SMTPUTF8 give the same words.
 *
 * With @raw, it is set to the value as GMime keeps it raw (see
 * gsmtp_received_prepend ()): a leading space, folded before "by", before
 * "for" and after the ";", each fold a newline before a space that is in the
 * value, so that unfolding gives the value back; or to NULL when only GMime
 * can make it. */
char *
gsmtp_received_format (GSmtpReceivedCache *cache, GSmtpPeer *peer, const char *hostname,
                       const char *const *recipients, gboolean smtputf8, char **raw)
{
        GSmtpReceivedCache own = { 0 };
        const char *recipient = NULL;
        gsize head_len, for_len = 0;
        GString *out;
        char *value;

        if (cache == NULL)
                cache = &own;
        if (cache->peer != peer || cache->smtputf8 != smtputf8 || g_strcmp0 (cache->hostname, hostname) != 0) {
                gsmtp_received_cache_clear (cache);
                cache->peer = g_object_ref (peer);
                cache->hostname = g_strdup (hostname);
                cache->smtputf8 = smtputf8;
                cache->head = received_format_head (peer, hostname, smtputf8, &cache->head_by);
                cache->head_plain = received_is_plain (cache->head, strlen (cache->head));
        }
        head_len = strlen (cache->head);
        out = g_string_sized_new (head_len + 128);
        g_string_append_len (out, cache->head, head_len);
        if (recipients != NULL && recipients[0] != NULL && recipients[1] == NULL) {
                recipient = recipients[0];
                g_string_append (out, " for <");
                g_string_append (out, recipient);
                g_string_append (out, ">");
                for_len = out->len - head_len;
        }
        g_string_append (out, "; ");
        received_append_date (out);
        value = g_string_free (out, FALSE);
        if (raw != NULL)
                *raw = cache->head_plain && (recipient == NULL || received_is_plain (recipient, strlen (recipient)))
                               ? received_fold (value, cache->head_by, head_len, for_len) : NULL;
        if (cache == &own)
                gsmtp_received_cache_clear (cache);
        return value;
}

/* The trace header, first in @object's headers.  With @raw (from
 * gsmtp_received_format ()) GMime keeps it as it is: given only the value,
 * GMime's formatter for Received re-tokenises it to fold it, which was most
 * of what adding the header cost. */
void
gsmtp_received_prepend (GMimeObject *object, const char *value, const char *raw)
{
        GMimeHeaderList *headers;

        if (raw == NULL) {
                g_mime_object_prepend_header (object, "Received", value, NULL);
                return;
        }
        headers = g_mime_object_get_header_list (object);
        g_mime_header_list_prepend (headers, "Received", NULL, NULL);
        g_mime_header_set_raw_value (g_mime_header_list_get_header_at (headers, 0), raw);
}

void
gsmtp_received_cache_clear (GSmtpReceivedCache *cache)
{
        g_clear_object (&cache->peer);
        g_clear_pointer (&cache->hostname, g_free);
        g_clear_pointer (&cache->head, g_free);
}

/* gsmtp-client-mime.c — the envelope of a GMime message, and its bytes to send.
 * Owns: where g_smtp_client_send_message() takes the envelope from (RFC 5322
 * 3.6.6: the most recent Resent- block when there is one, else Sender/From and
 * To/Cc/Bcc), and the bytes without Bcc and Resent-Bcc, CRLF line ends.
 * Not: merging duplicate recipients, checking addresses (gsmtp-client-transaction.c). */
#include "config.h"
#include "gsmtp-client-private.h"

#include <string.h>

static void
add_addresses (GPtrArray *out, InternetAddressList *list)
{
        for (int i = 0; list != NULL && i < internet_address_list_length (list); i++) {
                InternetAddress *ia = internet_address_list_get_address (list, i);

                if (INTERNET_ADDRESS_IS_MAILBOX (ia))
                        g_ptr_array_add (out, g_strdup (internet_address_mailbox_get_addr (INTERNET_ADDRESS_MAILBOX (ia))));
                else if (INTERNET_ADDRESS_IS_GROUP (ia))
                        add_addresses (out, internet_address_group_get_members (INTERNET_ADDRESS_GROUP (ia)));
        }
}

static void
add_parsed (GPtrArray *out, const char *raw)
{
        InternetAddressList *list = internet_address_list_parse (NULL, raw);

        if (list != NULL) {
                add_addresses (out, list);
                g_object_unref (list);
        }
}

/* RFC 5322 3.6.6: Resent- fields come in blocks, the most recent first; a block
 * ends at a field that is not a Resent- one, or where a second Resent-Date,
 * Resent-From or Resent-Sender starts the next block.  FALSE when there is none. */
static gboolean
resent_envelope (GMimeMessage *message, GPtrArray *senders, GPtrArray *froms, GPtrArray *recipients)
{
        GMimeHeaderList *headers = g_mime_object_get_header_list (GMIME_OBJECT (message));
        gboolean in_block = FALSE, date = FALSE, from = FALSE, sender = FALSE;

        for (int i = 0; i < g_mime_header_list_get_count (headers); i++) {
                GMimeHeader *header = g_mime_header_list_get_header_at (headers, i);
                const char *name = g_mime_header_get_name (header);
                const char *raw = g_mime_header_get_raw_value (header);

                if (g_ascii_strncasecmp (name, "Resent-", 7) != 0) {
                        if (in_block)
                                break;
                        continue;
                }
                name += 7;
                if ((g_ascii_strcasecmp (name, "Date") == 0 && date) ||
                    (g_ascii_strcasecmp (name, "From") == 0 && from) ||
                    (g_ascii_strcasecmp (name, "Sender") == 0 && sender))
                        break;
                in_block = TRUE;
                if (g_ascii_strcasecmp (name, "Date") == 0) {
                        date = TRUE;
                } else if (g_ascii_strcasecmp (name, "From") == 0) {
                        from = TRUE;
                        add_parsed (froms, raw);
                } else if (g_ascii_strcasecmp (name, "Sender") == 0) {
                        sender = TRUE;
                        add_parsed (senders, raw);
                } else if (g_ascii_strcasecmp (name, "To") == 0 || g_ascii_strcasecmp (name, "Cc") == 0 ||
                           g_ascii_strcasecmp (name, "Bcc") == 0) {
                        add_parsed (recipients, raw);
                }
        }
        return in_block;
}

GBytes *
gsmtp_client_mime_prepare (GMimeMessage *message, const char *sender, const char *const *recipients,
                           char **out_sender, GStrv *out_recipients)
{
        g_autoptr(GPtrArray) senders = g_ptr_array_new_with_free_func (g_free);
        g_autoptr(GPtrArray) froms = g_ptr_array_new_with_free_func (g_free);
        g_autoptr(GPtrArray) rcpts = g_ptr_array_new_with_free_func (g_free);
        GMimeFormatOptions *options;
        g_autoptr(GMimeStream) mem = NULL;
        GByteArray *array;

        gsmtp_ensure_gmime ();
        if (!resent_envelope (message, senders, froms, rcpts)) {
                add_addresses (senders, g_mime_message_get_sender (message));
                add_addresses (froms, g_mime_message_get_from (message));
                add_addresses (rcpts, g_mime_message_get_to (message));
                add_addresses (rcpts, g_mime_message_get_cc (message));
                add_addresses (rcpts, g_mime_message_get_bcc (message));
        }
        if (sender != NULL)
                *out_sender = g_strdup (sender);
        else if (senders->len > 0)
                *out_sender = g_strdup (senders->pdata[0]);
        else if (froms->len > 0)
                *out_sender = g_strdup (froms->pdata[0]);
        else
                *out_sender = g_strdup ("");
        if (recipients != NULL) {
                *out_recipients = g_strdupv ((char **) recipients);
        } else {
                g_ptr_array_add (rcpts, NULL);
                *out_recipients = (GStrv) g_ptr_array_steal (rcpts, NULL);
        }

        options = g_mime_format_options_new ();
        g_mime_format_options_add_hidden_header (options, "Bcc");
        g_mime_format_options_add_hidden_header (options, "Resent-Bcc");
        g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_DOS);
        mem = g_mime_stream_mem_new ();
        g_mime_object_write_to_stream (GMIME_OBJECT (message), options, mem);
        g_mime_format_options_free (options);
        array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (mem));
        return g_bytes_new (array->data, array->len);
}

/* fuzz-mime.c — whole messages through the MIME limits, then GMime.
 * Invariants: the scanner stays inside the input (ASan; the input is copied
 * to a buffer of its exact size) and within its limits; a message it passes
 * does not crash GMime, and GMime builds no more than the scanner counted:
 * nesting, parts, header fields, address groups, addresses. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-mime-limits.h"
#include "gsmtp-bytes-stream.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
        guint depth, parts, headers, groups, addresses;
} Built;

static void
count_addresses (InternetAddressList *list, Built *b)
{
        g_autoptr(GPtrArray) stack = g_ptr_array_new ();
        g_autoptr(GArray) depths = g_array_new (FALSE, FALSE, sizeof (guint));
        guint zero = 0;

        g_ptr_array_add (stack, list);
        g_array_append_val (depths, zero);
        while (stack->len > 0) {
                InternetAddressList *l = g_ptr_array_steal_index (stack, stack->len - 1);
                guint depth = g_array_index (depths, guint, depths->len - 1);

                g_array_set_size (depths, depths->len - 1);
                b->groups = MAX (b->groups, depth);
                for (int i = 0; i < internet_address_list_length (l); i++) {
                        InternetAddress *ia = internet_address_list_get_address (l, i);
                        guint d = depth + 1;

                        b->addresses++;
                        if (INTERNET_ADDRESS_IS_GROUP (ia)) {
                                g_ptr_array_add (stack, internet_address_group_get_members (INTERNET_ADDRESS_GROUP (ia)));
                                g_array_append_val (depths, d);
                        }
                }
        }
}

static void
count_message (GMimeMessage *message, Built *b)
{
        b->headers += g_mime_header_list_get_count (g_mime_object_get_header_list (GMIME_OBJECT (message)));
        for (int t = GMIME_ADDRESS_TYPE_SENDER; t <= GMIME_ADDRESS_TYPE_BCC; t++)
                count_addresses (g_mime_message_get_addresses (message, t), b);
}

/* What GMime built, walked without recursion */
static void
count_built (GMimeMessage *message, Built *b)
{
        g_autoptr(GPtrArray) stack = g_ptr_array_new ();
        g_autoptr(GArray) depths = g_array_new (FALSE, FALSE, sizeof (guint));
        guint zero = 0;

        count_message (message, b);
        if (g_mime_message_get_mime_part (message) == NULL)
                return;
        g_ptr_array_add (stack, g_mime_message_get_mime_part (message));
        g_array_append_val (depths, zero);
        while (stack->len > 0) {
                GMimeObject *o = g_ptr_array_steal_index (stack, stack->len - 1);
                guint depth = g_array_index (depths, guint, depths->len - 1), d = depth + 1;

                g_array_set_size (depths, depths->len - 1);
                b->parts++;
                b->depth = MAX (b->depth, depth);
                b->headers += g_mime_header_list_get_count (g_mime_object_get_header_list (o));
                if (GMIME_IS_MULTIPART (o)) {
                        for (int i = 0; i < g_mime_multipart_get_count (GMIME_MULTIPART (o)); i++) {
                                g_ptr_array_add (stack, g_mime_multipart_get_part (GMIME_MULTIPART (o), i));
                                g_array_append_val (depths, d);
                        }
                } else if (GMIME_IS_MESSAGE_PART (o)) {
                        GMimeMessage *m = g_mime_message_part_get_message (GMIME_MESSAGE_PART (o));

                        if (m != NULL) {
                                count_message (m, b);
                                if (g_mime_message_get_mime_part (m) != NULL) {
                                        g_ptr_array_add (stack, g_mime_message_get_mime_part (m));
                                        g_array_append_val (depths, d);
                                }
                        }
                }
        }
}

FUZZ_ENTRY (mime)
{
        g_autofree guint8 *copy = g_memdup2 (data, size);
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(GMimeStream) stream = NULL, null = NULL;
        g_autoptr(GMimeParser) parser = NULL;
        g_autoptr(GMimeMessage) message = NULL;
        g_autofree char *error = NULL;
        GSmtpMimeLimits limits;
        GSmtpMimeStats stats;
        Built built = { 0 };

        gsmtp_mime_limits_init (&limits);
        if (size > 0 && data[0] == '#') {
                /* small limits, to reach each of them */
                limits.max_depth = 3;
                limits.max_parts = 8;
                limits.max_headers = 16;
                limits.max_header_size = 256;
                limits.max_header_block_size = 1024;
                limits.max_address_groups = 2;
                limits.max_address_tokens = 16;
        }
        error = gsmtp_mime_limits_check (&limits, copy, size, &stats);
        FUZZ_CHECK (stats.depth <= limits.max_depth);
        if (error != NULL) {
                FUZZ_CHECK (error[0] != '\0' && strlen (error) < 80);
                return 0;
        }
        FUZZ_CHECK (stats.parts <= limits.max_parts);
        FUZZ_CHECK (stats.headers <= limits.max_headers);
        FUZZ_CHECK (stats.address_groups <= limits.max_address_groups);
        FUZZ_CHECK (stats.address_tokens <= limits.max_address_tokens);

        gsmtp_ensure_gmime ();
        bytes = g_bytes_new_take (g_steal_pointer (&copy), size);
        stream = gsmtp_bytes_stream_new (bytes);
        parser = g_mime_parser_new_with_stream (stream);
        g_mime_parser_set_format (parser, GMIME_FORMAT_MESSAGE);
        message = g_mime_parser_construct_message (parser, NULL);
        if (message == NULL)
                return 0;
        count_built (message, &built);
        if (built.depth > stats.depth || built.parts > stats.parts || built.headers > stats.headers ||
            built.groups > stats.address_groups || built.addresses > stats.address_tokens)
                g_printerr ("GMime built depth %u parts %u headers %u groups %u addresses %u; "
                            "the scanner counted %u %u %u %u %u\n",
                            built.depth, built.parts, built.headers, built.groups, built.addresses,
                            stats.depth, stats.parts, stats.headers, stats.address_groups,
                            stats.address_tokens);
        FUZZ_CHECK (built.depth <= stats.depth);
        FUZZ_CHECK (built.parts <= stats.parts);
        FUZZ_CHECK (built.headers <= stats.headers);
        FUZZ_CHECK (built.groups <= stats.address_groups);
        FUZZ_CHECK (built.addresses <= stats.address_tokens);
        /* writing walks the tree again, recursively */
        null = g_mime_stream_null_new ();
        g_mime_object_write_to_stream (GMIME_OBJECT (message), NULL, null);
        return 0;
}

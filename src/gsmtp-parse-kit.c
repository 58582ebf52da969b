/* gsmtp-parse-kit.c — the GMime parser and the message stream each thread
 * keeps between messages.  Made and freed for every message, they were two
 * of the GObjects a message costs (a parser is 4 KiB with buffers and options
 * of its own), and a GObject's life costs about as much as parsing a header.
 * Owns: reusing them safely.  Not: parsing policy (gsmtp-envelope.c), the
 * stream itself (gsmtp-bytes-stream.c).
 *
 * Threads: the kit is the thread's own (a GPrivate, freed when the thread
 * ends).  Between messages the parser holds an empty stream and the kept
 * stream no bytes: a kept kit never pins a message.  The stream is kept only
 * when nothing but the kit holds it (GMime's parts read substreams of their
 * own, so normally nothing does); otherwise it stays with its holders and the
 * next message gets a new one. */
#include "config.h"
#include "gsmtp-parse-kit.h"
#include "gsmtp-bytes-stream.h"

typedef struct {
        GMimeParser *parser;    /* (owned) (nullable) */
        GMimeStream *stream;    /* (owned) (nullable): a GSmtpBytesStream holding no bytes */
        GMimeStream *empty;     /* (owned): what the parser holds between messages */
} ParseKit;

static void
parse_kit_free (gpointer data)
{
        ParseKit *kit = data;

        g_clear_object (&kit->parser);
        g_clear_object (&kit->stream);
        g_clear_object (&kit->empty);
        g_free (kit);
}

static GPrivate kit_key = G_PRIVATE_INIT (parse_kit_free);

static ParseKit *
parse_kit_get (void)
{
        ParseKit *kit = g_private_get (&kit_key);

        if (kit == NULL) {
                kit = g_new0 (ParseKit, 1);
                kit->parser = g_mime_parser_new ();
                kit->empty = g_mime_stream_mem_new ();
                g_private_set (&kit_key, kit);
        }
        return kit;
}

static GMimeMessage *
parse_kit_construct (ParseKit *kit, GMimeStream *stream)
{
        GMimeMessage *message;

        g_mime_parser_init_with_stream (kit->parser, stream);
        g_mime_parser_set_format (kit->parser, GMIME_FORMAT_MESSAGE);
        message = g_mime_parser_construct_message (kit->parser, NULL);
        g_mime_parser_init_with_stream (kit->parser, kit->empty);
        return message;
}

/* @prefix (nullable), then @bytes, parsed as one message. */
GMimeMessage *
gsmtp_parse_kit_parse_bytes (GBytes *prefix, GBytes *bytes)
{
        ParseKit *kit = parse_kit_get ();
        GMimeStream *stream = g_steal_pointer (&kit->stream);
        GMimeMessage *message;

        if (stream == NULL)
                stream = gsmtp_bytes_stream_new (prefix, bytes);
        else
                gsmtp_bytes_stream_reset (GSMTP_BYTES_STREAM (stream), prefix, bytes);
        message = parse_kit_construct (kit, stream);
        if (g_atomic_int_get (&G_OBJECT (stream)->ref_count) == 1) {
                gsmtp_bytes_stream_reset (GSMTP_BYTES_STREAM (stream), NULL, NULL);
                kit->stream = stream;
        } else {
                g_object_unref (stream);
        }
        return message;
}

/* A stream of the caller's (a spilled message), parsed with the kept parser. */
GMimeMessage *
gsmtp_parse_kit_parse_stream (GMimeStream *stream)
{
        return parse_kit_construct (parse_kit_get (), stream);
}

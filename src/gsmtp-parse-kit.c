/* gsmtp-parse-kit.c — the GMime parser each thread keeps between messages.
 * Made and freed for every message, a parser (a GObject of 4 KiB with
 * buffers and options of its own) cost as much as parsing a header or two.
 * Owns: reusing it safely.  Not: parsing policy (gsmtp-envelope.c), the
 * message stream (gsmtp-bytes-stream.c).
 *
 * Threads: the kit is the thread's own (a GPrivate, freed when the thread
 * ends).  Between messages the parser holds an empty stream of the thread's,
 * not the message: a kept parser never pins a message or its spill file. */
#include "config.h"
#include "gsmtp-parse-kit.h"

typedef struct {
        GMimeParser *parser;    /* (owned) */
        GMimeStream *empty;     /* (owned): what the parser holds between messages */
} ParseKit;

static void
parse_kit_free (gpointer data)
{
        ParseKit *kit = data;

        g_clear_object (&kit->parser);
        g_clear_object (&kit->empty);
        g_free (kit);
}

static GPrivate kit_key = G_PRIVATE_INIT (parse_kit_free);

/* @stream parsed as a message with this thread's parser. */
GMimeMessage *
gsmtp_parse_kit_parse (GMimeStream *stream)
{
        ParseKit *kit = g_private_get (&kit_key);
        GMimeMessage *message;

        if (kit == NULL) {
                kit = g_new0 (ParseKit, 1);
                kit->parser = g_mime_parser_new ();
                kit->empty = g_mime_stream_mem_new ();
                g_private_set (&kit_key, kit);
        }
        g_mime_parser_init_with_stream (kit->parser, stream);
        g_mime_parser_set_format (kit->parser, GMIME_FORMAT_MESSAGE);
        message = g_mime_parser_construct_message (kit->parser, NULL);
        g_mime_parser_init_with_stream (kit->parser, kit->empty);
        return message;
}

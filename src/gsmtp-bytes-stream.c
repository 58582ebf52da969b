/* gsmtp-bytes-stream.c — a read-only GMimeStream over a GBytes that holds a
 * reference to it, and so do its substreams: the parts of a parsed message
 * read the message bytes for as long as anyone holds the message, envelope
 * or not.  (GMimeStreamMem cannot: without owning its GByteArray it reads it
 * after the envelope frees it, and owning it, it frees it with
 * g_byte_array_free(), which ignores other references.)
 * Not: spilled messages, which GMimeStreamFs reads from a dup()ed descriptor. */
#include "config.h"
#include "gsmtp-bytes-stream.h"

#include <errno.h>
#include <string.h>

struct _GSmtpBytesStream {
        GMimeStream  parent_instance;

        GBytes      *bytes;     /* (owned) */
};

G_DEFINE_FINAL_TYPE (GSmtpBytesStream, gsmtp_bytes_stream, GMIME_TYPE_STREAM)

static gint64
bytes_stream_end (GMimeStream *stream)
{
        GSmtpBytesStream *self = GSMTP_BYTES_STREAM (stream);

        return stream->bound_end != -1 ? stream->bound_end : (gint64) g_bytes_get_size (self->bytes);
}

static ssize_t
bytes_stream_read (GMimeStream *stream, char *buf, size_t len)
{
        GSmtpBytesStream *self = GSMTP_BYTES_STREAM (stream);
        gint64 n = MIN (bytes_stream_end (stream) - stream->position, (gint64) len);

        if (n < 0) {
                errno = EINVAL;
                return -1;
        }
        if (n > 0) {
                memcpy (buf, (const guint8 *) g_bytes_get_data (self->bytes, NULL) + stream->position, n);
                stream->position += n;
        }
        return n;
}

static ssize_t
bytes_stream_write (GMimeStream *stream, const char *buf, size_t len)
{
        errno = EBADF;          /* the message as received never changes */
        return -1;
}

static int
bytes_stream_flush (GMimeStream *stream)
{
        return 0;
}

static int
bytes_stream_close (GMimeStream *stream)
{
        return 0;
}

static gboolean
bytes_stream_eos (GMimeStream *stream)
{
        return stream->position >= bytes_stream_end (stream);
}

static int
bytes_stream_reset (GMimeStream *stream)
{
        return 0;               /* g_mime_stream_reset() moves to the start */
}

static gint64
bytes_stream_seek (GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
        gint64 end = bytes_stream_end (stream), real;

        switch (whence) {
        case GMIME_STREAM_SEEK_SET: real = offset; break;
        case GMIME_STREAM_SEEK_END: real = end + offset; break;
        case GMIME_STREAM_SEEK_CUR: real = stream->position + offset; break;
        default: real = -1; break;
        }
        if (real < stream->bound_start || real > end) {
                errno = EINVAL;
                return -1;
        }
        stream->position = real;
        return real;
}

static gint64
bytes_stream_tell (GMimeStream *stream)
{
        return stream->position;
}

static gint64
bytes_stream_length (GMimeStream *stream)
{
        return bytes_stream_end (stream) - stream->bound_start;
}

static GMimeStream *
bytes_stream_substream (GMimeStream *stream, gint64 start, gint64 end)
{
        GSmtpBytesStream *sub = g_object_new (GSMTP_TYPE_BYTES_STREAM, NULL);

        sub->bytes = g_bytes_ref (GSMTP_BYTES_STREAM (stream)->bytes);
        g_mime_stream_construct (GMIME_STREAM (sub), start, end);
        return GMIME_STREAM (sub);
}

static void
gsmtp_bytes_stream_finalize (GObject *object)
{
        g_clear_pointer (&GSMTP_BYTES_STREAM (object)->bytes, g_bytes_unref);
        G_OBJECT_CLASS (gsmtp_bytes_stream_parent_class)->finalize (object);
}

static void
gsmtp_bytes_stream_class_init (GSmtpBytesStreamClass *klass)
{
        GMimeStreamClass *stream_class = GMIME_STREAM_CLASS (klass);

        G_OBJECT_CLASS (klass)->finalize = gsmtp_bytes_stream_finalize;
        stream_class->read = bytes_stream_read;
        stream_class->write = bytes_stream_write;
        stream_class->flush = bytes_stream_flush;
        stream_class->close = bytes_stream_close;
        stream_class->eos = bytes_stream_eos;
        stream_class->reset = bytes_stream_reset;
        stream_class->seek = bytes_stream_seek;
        stream_class->tell = bytes_stream_tell;
        stream_class->length = bytes_stream_length;
        stream_class->substream = bytes_stream_substream;
}

static void
gsmtp_bytes_stream_init (GSmtpBytesStream *self)
{
}

/* Takes a reference to @bytes; so does every substream. */
GMimeStream *
gsmtp_bytes_stream_new (GBytes *bytes)
{
        GSmtpBytesStream *self = g_object_new (GSMTP_TYPE_BYTES_STREAM, NULL);

        self->bytes = g_bytes_ref (bytes);
        g_mime_stream_construct (GMIME_STREAM (self), 0, -1);
        return GMIME_STREAM (self);
}

/* gsmtp-bytes-stream.c — a read-only GMimeStream over the message bytes, in
 * memory (a GBytes) or in the spill file, that holds a reference to them, and
 * so do its substreams: the parts of a parsed message read the message bytes
 * for as long as anyone holds the message, envelope or not.  (GMimeStreamMem
 * cannot: without owning its GByteArray it reads it after the envelope frees
 * it, and owning it, it frees it with g_byte_array_free(), which ignores other
 * references.)
 * A spilled message is read with pread(2) through one 64 KiB window shared by
 * the stream and its substreams: GMime reads 4 KiB at a time, and
 * GMimeStreamFs made that an lseek() and a read() each, a thousand system
 * calls a MiB; mapping the file instead would count it all in the process's
 * RSS while it is parsed. */
#include "config.h"
#include "gsmtp-bytes-stream.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Big enough that a 1 MiB message is 16 reads; small enough to keep for as
 * long as a message is kept. */
#define SPILL_WINDOW (64 * 1024)

/* The spill file, shared by a stream and all its substreams, which may be read
 * from different threads (a kept part each). */
typedef struct {
        gatomicrefcount ref;
        int             fd;             /* (owned) */
        GMutex          lock;           /* for the window */
        guint8         *window;         /* (owned) (nullable): made on the first read */
        gint64          window_start;
        gsize           window_len;
} Spill;

static Spill *
spill_ref (Spill *spill)
{
        g_atomic_ref_count_inc (&spill->ref);
        return spill;
}

static void
spill_unref (Spill *spill)
{
        if (!g_atomic_ref_count_dec (&spill->ref))
                return;
        close (spill->fd);
        g_mutex_clear (&spill->lock);
        g_free (spill->window);
        g_free (spill);
}

/* Up to @len bytes at @offset, from the window or through a new one. */
static gssize
spill_read (Spill *spill, char *buf, gsize len, gint64 offset)
{
        gssize n = 0;

        g_mutex_lock (&spill->lock);
        if (spill->window == NULL)
                spill->window = g_malloc (SPILL_WINDOW);
        if (offset < spill->window_start || offset >= spill->window_start + (gint64) spill->window_len) {
                gssize got;

                do
                        got = pread (spill->fd, spill->window, SPILL_WINDOW, offset);
                while (got < 0 && errno == EINTR);
                if (got < 0) {
                        spill->window_len = 0;
                        g_mutex_unlock (&spill->lock);
                        return -1;
                }
                spill->window_start = offset;
                spill->window_len = got;
        }
        if (offset >= spill->window_start && offset < spill->window_start + (gint64) spill->window_len) {
                n = MIN ((gint64) len, spill->window_start + (gint64) spill->window_len - offset);
                memcpy (buf, spill->window + (offset - spill->window_start), n);
        }
        g_mutex_unlock (&spill->lock);
        return n;
}

struct _GSmtpBytesStream {
        GMimeStream  parent_instance;

        GBytes      *bytes;     /* (owned) (nullable): the message in memory */
        Spill       *spill;     /* (owned) (nullable): or in the spill file */
        gint64       size;      /* of the whole message */
};

G_DEFINE_FINAL_TYPE (GSmtpBytesStream, gsmtp_bytes_stream, GMIME_TYPE_STREAM)

static gint64
bytes_stream_end (GMimeStream *stream)
{
        GSmtpBytesStream *self = GSMTP_BYTES_STREAM (stream);

        return stream->bound_end != -1 ? stream->bound_end : self->size;
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
        if (n > 0 && self->spill != NULL) {
                n = spill_read (self->spill, buf, n, stream->position);
                if (n < 0)
                        return -1;
        } else if (n > 0) {
                memcpy (buf, (const guint8 *) g_bytes_get_data (self->bytes, NULL) + stream->position, n);
        }
        stream->position += n;
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
        GSmtpBytesStream *self = GSMTP_BYTES_STREAM (stream);
        GSmtpBytesStream *sub = g_object_new (GSMTP_TYPE_BYTES_STREAM, NULL);

        if (self->bytes != NULL)
                sub->bytes = g_bytes_ref (self->bytes);
        if (self->spill != NULL)
                sub->spill = spill_ref (self->spill);
        sub->size = self->size;
        g_mime_stream_construct (GMIME_STREAM (sub), start, end);
        return GMIME_STREAM (sub);
}

static void
gsmtp_bytes_stream_finalize (GObject *object)
{
        g_clear_pointer (&GSMTP_BYTES_STREAM (object)->bytes, g_bytes_unref);
        g_clear_pointer (&GSMTP_BYTES_STREAM (object)->spill, spill_unref);
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
        self->size = g_bytes_get_size (bytes);
        g_mime_stream_construct (GMIME_STREAM (self), 0, -1);
        return GMIME_STREAM (self);
}

/* Takes @fd, the spill file's (a dup() of it: the stream may outlive the
 * envelope), holding @size bytes of message. */
GMimeStream *
gsmtp_bytes_stream_new_for_file (int fd, gsize size)
{
        GSmtpBytesStream *self = g_object_new (GSMTP_TYPE_BYTES_STREAM, NULL);
        Spill *spill = g_new0 (Spill, 1);

        g_atomic_ref_count_init (&spill->ref);
        g_mutex_init (&spill->lock);
        spill->fd = fd;
        self->spill = spill;
        self->size = size;
        g_mime_stream_construct (GMIME_STREAM (self), 0, -1);
        return GMIME_STREAM (self);
}

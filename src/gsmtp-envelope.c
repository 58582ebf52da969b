/* gsmtp-envelope.c — GSmtpEnvelope, one mail transaction.
 * Owns: sender, recipients, the message bytes (memory or a spilled file, never
 * copied), the parsed GMimeMessage (parsed once, on whichever thread asks
 * first, behind the MIME limits), the trace header, what MAIL and each RCPT
 * asked for (SMTPUTF8, REQUIRETLS, DSN).
 * Not: reading the bytes (gsmtp-data-reader.c), the limits themselves
 * (gsmtp-mime-limits.c), the parsing pool (gsmtp-message-parser.c), parsing
 * the parameters (gsmtp-esmtp-params.c).
 * RFC 5321 2.3.1, 4.5.5; RFC 3461, 6531, 8689. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-address.h"
#include "gsmtp-esmtp-params.h"
#include "gsmtp-bytes-stream.h"
#include "gsmtp-parse-kit.h"
#include "gsmtp-mime-limits.h"
#include "gsmtp-message-parser.h"

#include <unistd.h>

struct _GSmtpEnvelope {
        GObject       parent_instance;

        GSmtpPeer    *peer;             /* (owned) */
        char         *sender;           /* (owned) (nullable): NULL until MAIL; "" for <> */
        char         *mailer_daemon;    /* (owned): MAILER-DAEMON@<primary> */
        GHashTable   *mail_params;      /* (owned) (nullable) */
        GPtrArray    *recipients;       /* (owned) (element-type utf8): NULL-terminated */
        GArray       *recipient_params; /* (owned) (element-type GSmtpRcptParams): one a recipient */
        GSmtpMailParams mail_ext;       /* SMTPUTF8, REQUIRETLS, RET, ENVID (owned) */
        GHashTable   *recipient_set;    /* (owned): mailbox key → index + 1, to drop true duplicates */
        GByteArray   *array;            /* (owned) (nullable): in-memory data */
        GMappedFile  *mapped;           /* (owned) (nullable): spilled data */
        int           spill_fd;         /* (owned): -1 unless spilled */
        GBytes       *data;             /* (owned) (nullable) */
        char         *received;         /* (owned) (nullable): value of the trace header */
        char         *received_raw;     /* (owned) (nullable): its raw, folded form, if made */
        gboolean      chunked;          /* the data came by BDAT (RFC 3030) */

        /* Fixed once DATA ended, and read then from any thread: @data,
         * @array, @mapped, @spill_fd, @received, @mime_limits.  The parse
         * result is written once, under @lock. */
        GMutex           lock;
        GSmtpMimeLimits  mime_limits;
        gboolean         parsed;
        gboolean         within_limits; /* scanned, and kept them: a later parse need not scan again */
        guint64          free_cost;     /* ns, from the scan: what freeing @message will take */
        GMimeMessage    *message;       /* (owned) (nullable) */
        char            *mime_error;    /* (owned) (nullable): the MIME limit the message broke */
};

/**
 * GSmtpEnvelope:
 *
 * One mail transaction: the sender, the accepted recipients and, at the end of
 * DATA, the message as bytes and as a `GMimeMessage`.
 *
 * Since: 0.1
 */
G_DEFINE_FINAL_TYPE (GSmtpEnvelope, g_smtp_envelope, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (GSmtpDsnRet, g_smtp_dsn_ret,
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_RET_UNSPECIFIED, "unspecified"),
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_RET_FULL, "full"),
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_RET_HDRS, "hdrs"))

G_DEFINE_FLAGS_TYPE (GSmtpDsnNotify, g_smtp_dsn_notify,
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_NOTIFY_UNSPECIFIED, "unspecified"),
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_NOTIFY_NEVER, "never"),
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_NOTIFY_SUCCESS, "success"),
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_NOTIFY_FAILURE, "failure"),
        G_DEFINE_ENUM_VALUE (GSMTP_DSN_NOTIFY_DELAY, "delay"))

static void
g_smtp_envelope_finalize (GObject *object)
{
        GSmtpEnvelope *self = GSMTP_ENVELOPE (object);

        /* the message's streams hold their own references to the data */
        gsmtp_parse_free_message (g_steal_pointer (&self->message), self->free_cost,
                                  self->data != NULL ? g_bytes_get_size (self->data) : 0);
        g_free (self->mime_error);
        g_mutex_clear (&self->lock);
        g_clear_object (&self->peer);
        g_free (self->sender);
        g_free (self->mailer_daemon);
        g_clear_pointer (&self->mail_params, g_hash_table_unref);
        g_ptr_array_unref (self->recipients);
        g_array_unref (self->recipient_params);
        gsmtp_mail_params_clear (&self->mail_ext);
        g_hash_table_unref (self->recipient_set);
        g_clear_pointer (&self->data, g_bytes_unref);
        g_clear_pointer (&self->array, g_byte_array_unref);
        g_clear_pointer (&self->mapped, g_mapped_file_unref);
        if (self->spill_fd >= 0)
                close (self->spill_fd);
        g_free (self->received);
        g_free (self->received_raw);
        G_OBJECT_CLASS (g_smtp_envelope_parent_class)->finalize (object);
}

static void
g_smtp_envelope_class_init (GSmtpEnvelopeClass *klass)
{
        G_OBJECT_CLASS (klass)->finalize = g_smtp_envelope_finalize;
}

static void
g_smtp_envelope_init (GSmtpEnvelope *self)
{
        self->recipients = g_ptr_array_new_with_free_func (g_free);
        g_ptr_array_add (self->recipients, NULL);
        self->recipient_params = g_array_new (FALSE, TRUE, sizeof (GSmtpRcptParams));
        g_array_set_clear_func (self->recipient_params, (GDestroyNotify) gsmtp_rcpt_params_clear);
        self->recipient_set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        self->spill_fd = -1;
        g_mutex_init (&self->lock);
        gsmtp_mime_limits_init (&self->mime_limits);
}

GSmtpEnvelope *
gsmtp_envelope_new (GSmtpPeer *peer, const char *mailer_daemon)
{
        GSmtpEnvelope *self = g_object_new (GSMTP_TYPE_ENVELOPE, NULL);

        self->peer = g_object_ref (peer);
        self->mailer_daemon = g_strdup (mailer_daemon);
        return self;
}

void
gsmtp_envelope_set_sender (GSmtpEnvelope *self, const char *sender, GHashTable *params)
{
        g_free (self->sender);
        self->sender = g_strdup (sender);
        g_clear_pointer (&self->mail_params, g_hash_table_unref);
        if (params != NULL)
                self->mail_params = g_hash_table_ref (params);
}

/* What MAIL asked for besides the sender (a copy is kept). */
void
gsmtp_envelope_set_mail_ext (GSmtpEnvelope *self, const GSmtpMailParams *ext)
{
        gsmtp_mail_params_clear (&self->mail_ext);
        self->mail_ext = *ext;
        self->mail_ext.envid = g_strdup (ext->envid);
}

/* Adds @recipient, with what its RCPT asked for (@ext, copied; NULL for
 * nothing), unless the same mailbox is there already: then the first RCPT's
 * DSN request stands.  Only true duplicates merge: local parts are
 * case-sensitive (RFC 5321 2.4), domains and the postmaster alias are not,
 * and quoting that changes nothing is ignored ("bob"@x is bob@x).  Returns
 * the recipient's index, new or the duplicate's. */
guint
gsmtp_envelope_add_recipient_ext (GSmtpEnvelope *self, const char *recipient,
                                  const GSmtpRcptParams *ext)
{
        char *key = gsmtp_address_mailbox_key (recipient);
        GSmtpRcptParams copy = { 0 };
        guint index = self->recipients->len - 1;
        gpointer found = g_hash_table_lookup (self->recipient_set, key);

        if (found != NULL) {
                g_free (key);
                return GPOINTER_TO_UINT (found) - 1;
        }
        g_hash_table_insert (self->recipient_set, key, GUINT_TO_POINTER (index + 1));
        /* keep the array NULL-terminated for g_smtp_envelope_get_recipients() */
        g_ptr_array_insert (self->recipients, self->recipients->len - 1, g_strdup (recipient));
        if (ext != NULL) {
                copy.notify = ext->notify;
                copy.orcpt = g_strdup (ext->orcpt);
        }
        g_array_append_val (self->recipient_params, copy);
        return index;
}

void
gsmtp_envelope_add_recipient (GSmtpEnvelope *self, const char *recipient)
{
        gsmtp_envelope_add_recipient_ext (self, recipient, NULL);
}

/* The transaction so far, for the session to go on with while the old one
 * stays as a handler saw it: sender, recipients and every parameter's
 * meaning.  Only before the data is set. */
/* A new envelope with @other's sender, MAIL parameters and the recipients
 * @keep says (all when %NULL), each with its own parameters. */
static GSmtpEnvelope *
envelope_copy_transaction (GSmtpEnvelope *other, const gboolean *keep)
{
        GSmtpEnvelope *self = gsmtp_envelope_new (other->peer, other->mailer_daemon);

        gsmtp_envelope_set_sender (self, other->sender, other->mail_params);
        gsmtp_envelope_set_mail_ext (self, &other->mail_ext);
        for (guint i = 0; i + 1 < other->recipients->len; i++)
                if (keep == NULL || keep[i])
                        gsmtp_envelope_add_recipient_ext (self, other->recipients->pdata[i],
                                                          &g_array_index (other->recipient_params,
                                                                          GSmtpRcptParams, i));
        return self;
}

GSmtpEnvelope *
gsmtp_envelope_copy (GSmtpEnvelope *other)
{
        GSmtpEnvelope *self = envelope_copy_transaction (other, NULL);

        g_return_val_if_fail (other->data == NULL, self);
        return self;
}

/* The GBytes shares the array's memory, no second copy; GMime reads it through
 * a stream that holds the GBytes, so a kept message keeps it alive. */
void
gsmtp_envelope_set_data_memory (GSmtpEnvelope *self, GByteArray *data)
{
        g_clear_pointer (&self->data, g_bytes_unref);
        g_clear_pointer (&self->array, g_byte_array_unref);
        self->array = g_byte_array_ref (data);
        self->data = g_bytes_new_with_free_func (data->data, data->len,
                                                 (GDestroyNotify) g_byte_array_unref,
                                                 g_byte_array_ref (data));
}

/* Takes @fd.  A spilled message reaches the application as a GBytes over a
 * GMappedFile; an empty file cannot be mapped, so it is an empty GBytes. */
void
gsmtp_envelope_set_data_file (GSmtpEnvelope *self, int fd, gsize size, GError **error)
{
        g_clear_pointer (&self->data, g_bytes_unref);
        self->spill_fd = fd;
        if (size == 0) {
                self->data = g_bytes_new (NULL, 0);
                return;
        }
        self->mapped = g_mapped_file_new_from_fd (fd, FALSE, error);
        if (self->mapped != NULL)
                self->data = g_mapped_file_get_bytes (self->mapped);
}

void
gsmtp_envelope_set_chunked (GSmtpEnvelope *self, gboolean chunked)
{
        self->chunked = chunked;
}

/* The whole message, for the recipients @keep says only (LMTP: those it was
 * accepted for), with everything MAIL and their RCPTs asked for.  The bytes
 * are shared, never copied; the copy parses its own GMimeMessage when asked,
 * so the two can be read from different threads. */
GSmtpEnvelope *
gsmtp_envelope_copy_for (GSmtpEnvelope *other, const gboolean *keep)
{
        GSmtpEnvelope *self = envelope_copy_transaction (other, keep);

        if (other->array != NULL)
                self->array = g_byte_array_ref (other->array);
        if (other->mapped != NULL)
                self->mapped = g_mapped_file_ref (other->mapped);
        if (other->spill_fd >= 0)
                self->spill_fd = dup (other->spill_fd);
        if (other->data != NULL)
                self->data = g_bytes_ref (other->data);
        self->received = g_strdup (other->received);
        self->received_raw = g_strdup (other->received_raw);
        self->chunked = other->chunked;
        g_mutex_lock (&other->lock);
        self->mime_limits = other->mime_limits;         /* the server's, not the defaults */
        g_mutex_unlock (&other->lock);
        return self;
}

/* Takes @value and @raw (nullable), as gsmtp_received_format () made them. */
void
gsmtp_envelope_take_received (GSmtpEnvelope *self, char *value, char *raw)
{
        g_free (self->received);
        g_free (self->received_raw);
        self->received = value;
        self->received_raw = raw;
}

/* Before the message is parsed: the limits it is parsed behind. */
void
gsmtp_envelope_set_mime_limits (GSmtpEnvelope *self, const GSmtpMimeLimits *limits)
{
        g_mutex_lock (&self->lock);
        self->mime_limits = *limits;
        self->within_limits = FALSE;
        g_mutex_unlock (&self->lock);
}

/* The limits, on the bytes as received.  Runs on any thread: it reads only
 * what DATA fixed. */
static char *
envelope_scan (GSmtpEnvelope *self, const GSmtpMimeLimits *limits, GSmtpMimeStats *stats)
{
        gsize size;
        const guint8 *data = g_bytes_get_data (self->data, &size);

        if (self->mapped != NULL)
                return gsmtp_mime_limits_check_mapped (limits, data, size, stats);
        return gsmtp_mime_limits_check (limits, data, size, stats);
}

/* GMime, once the limits passed; any thread.  The trace header is added to
 * the parsed message, never parsed: its value is exactly what the server
 * wrote (a client's HELO name is not decoded as RFC 2047 text), and a message
 * GMime finds no headers in stays unparsed. */
static GMimeMessage *
envelope_parse (GSmtpEnvelope *self)
{
        g_autoptr(GMimeStream) stream = NULL;
        GMimeMessage *message;

        gsmtp_ensure_gmime ();
        if (self->mapped != NULL) {
                int fd = dup (self->spill_fd);

                /* pread(2) through the page cache rather than a second mapping:
                 * parsing a 100 MiB message then leaves the process's memory
                 * flat.  The stream owns the descriptor; parts hold the stream. */
                if (fd < 0)
                        return NULL;
                stream = gsmtp_bytes_stream_new_for_file (fd, g_bytes_get_size (self->data));
        } else {
                stream = gsmtp_bytes_stream_new (self->data);
        }
        message = gsmtp_parse_kit_parse (stream);
        if (message != NULL && self->received != NULL)
                gsmtp_received_prepend (GMIME_OBJECT (message), self->received, self->received_raw);
        return message;
}

/* The first result is kept; takes both. */
static void
envelope_set_parsed (GSmtpEnvelope *self, GMimeMessage *message, char *error)
{
        g_mutex_lock (&self->lock);
        if (!self->parsed) {
                self->parsed = TRUE;
                self->message = g_steal_pointer (&message);
                self->mime_error = g_steal_pointer (&error);
        }
        g_mutex_unlock (&self->lock);
        g_clear_object (&message);
        g_free (error);
}

/* Whether there is something to parse; then the limits to parse it behind,
 * and whether a scan found it within them already. */
static gboolean
envelope_needs_parse (GSmtpEnvelope *self, GSmtpMimeLimits *limits, gboolean *within_limits)
{
        gboolean needed;

        g_mutex_lock (&self->lock);
        needed = !self->parsed && self->data != NULL;
        *limits = self->mime_limits;
        *within_limits = self->within_limits;
        g_mutex_unlock (&self->lock);
        return needed;
}

/* Parses the message once, whoever asks first: the server's parsing pool, or
 * the application.  Two threads asking at once both parse; the first result
 * is kept. */
void
gsmtp_envelope_ensure_parsed (GSmtpEnvelope *self)
{
        gsmtp_envelope_parse_if_cheap (self, G_MAXSIZE, G_MAXUINT64);
}

/* For the main loop: scans a message of at most @max_size bytes, and parses it
 * when GMime's work is estimated at most @max_cost ns.  Returns TRUE when the
 * message needs nothing more: parsed, or past a limit.  A message left for
 * later is not scanned again then. */
gboolean
gsmtp_envelope_parse_if_cheap (GSmtpEnvelope *self, gsize max_size, guint64 max_cost)
{
        GSmtpMimeLimits limits;
        GSmtpMimeStats stats;
        gboolean within_limits;
        char *error = NULL;

        if (!envelope_needs_parse (self, &limits, &within_limits))
                return TRUE;
        if (g_bytes_get_size (self->data) > max_size)
                return FALSE;
        if (!within_limits) {
                gboolean costly;

                error = envelope_scan (self, &limits, &stats);
                costly = error == NULL &&
                         gsmtp_mime_stats_parse_cost (&stats, g_bytes_get_size (self->data)) > max_cost;
                g_mutex_lock (&self->lock);
                self->free_cost = gsmtp_mime_stats_free_cost (&stats);
                self->within_limits = costly;
                g_mutex_unlock (&self->lock);
                if (costly)
                        return FALSE;
        }
        envelope_set_parsed (self, error == NULL ? envelope_parse (self) : NULL, error);
        return TRUE;
}

/**
 * g_smtp_envelope_get_sender:
 * @self: an envelope
 *
 * Gets the reverse-path of MAIL FROM without its angle brackets: "" for the null
 * sender `<>`, %NULL before MAIL.
 *
 * Returns: (nullable): the reverse-path of MAIL FROM without its angle brackets:
 *   "" for the null sender `<>`, %NULL before MAIL
 *
 * Since: 0.1
 */
const char *
g_smtp_envelope_get_sender (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return self->sender;
}

/**
 * g_smtp_envelope_is_null_sender:
 * @self: an envelope
 *
 * Tells whether the sender is the null reverse-path `<>` (a bounce).
 *
 * Returns: %TRUE when the sender is the null reverse-path `<>` (a bounce)
 *
 * Since: 0.1
 */
gboolean
g_smtp_envelope_is_null_sender (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), FALSE);
        return self->sender != NULL && self->sender[0] == '\0';
}

/**
 * g_smtp_envelope_get_reverse_path:
 * @self: an envelope
 *
 * The sender as Pike reports it: for the null sender `<>`, the stand-in
 * `MAILER-DAEMON@<primary domain>`.
 *
 * Returns: (nullable): the sender, or its stand-in
 *
 * Since: 0.1
 */
const char *
g_smtp_envelope_get_reverse_path (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        if (g_smtp_envelope_is_null_sender (self))
                return self->mailer_daemon;
        return self->sender;
}

/**
 * g_smtp_envelope_get_mail_parameters:
 * @self: an envelope
 *
 * Gets the ESMTP parameters of MAIL FROM, upper-case keys, values possibly %NULL.
 *
 * Returns: (transfer none) (nullable) (element-type utf8 utf8): the ESMTP
 *   parameters of MAIL FROM, upper-case keys, values possibly %NULL
 *
 * Since: 0.1
 */
GHashTable *
g_smtp_envelope_get_mail_parameters (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return self->mail_params;
}

/**
 * g_smtp_envelope_get_recipients:
 * @self: an envelope
 *
 * Gets the accepted recipients, in order.
 *
 * Returns: (array zero-terminated=1) (transfer none): the accepted recipients,
 *   in order
 *
 * Since: 0.1
 */
const char *const *
g_smtp_envelope_get_recipients (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return (const char *const *) self->recipients->pdata;
}

/**
 * g_smtp_envelope_get_n_recipients:
 * @self: an envelope
 *
 * Gets how many recipients were accepted.
 *
 * Returns: how many recipients were accepted
 *
 * Since: 0.1
 */
guint
g_smtp_envelope_get_n_recipients (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), 0);
        return self->recipients->len - 1;
}

/**
 * g_smtp_envelope_get_data:
 * @self: an envelope
 *
 * The message exactly as the client sent it, after dot-unstuffing and without
 * the server's Received header.  A large message is backed by a mapped file.
 *
 * Returns: (transfer none) (nullable): the message bytes, %NULL before DATA ends
 *
 * Since: 0.1
 */
GBytes *
g_smtp_envelope_get_data (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return self->data;
}

/**
 * g_smtp_envelope_get_size:
 * @self: an envelope
 *
 * Gets the size of the message data in bytes.
 *
 * Returns: the size of the message data in bytes
 *
 * Since: 0.1
 */
gsize
g_smtp_envelope_get_size (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), 0);
        return self->data != NULL ? g_bytes_get_size (self->data) : 0;
}

/**
 * g_smtp_envelope_get_received_header:
 * @self: an envelope
 *
 * Gets the value of the `Received:` trace header the server made for this message
 * (RFC 5321 4.4), unfolded.
 *
 * Returns: (nullable): the value of the `Received:` trace header the server
 *   made for this message (RFC 5321 4.4), unfolded
 *
 * Since: 0.1
 */
const char *
g_smtp_envelope_get_received_header (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return self->received;
}

/**
 * g_smtp_envelope_open_with_trace:
 * @self: an envelope
 *
 * The message as an MTA would store it: the `Received:` header, then the bytes
 * of g_smtp_envelope_get_data().  Nothing is copied.
 *
 * Returns: (transfer full): a stream over the traced message
 *
 * Since: 0.1
 */
GInputStream *
g_smtp_envelope_open_with_trace (GSmtpEnvelope *self)
{
        GInputStream *stream;

        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        stream = g_memory_input_stream_new ();
        if (self->received != NULL) {
                g_autoptr(GBytes) header = NULL;
                char *line = g_strdup_printf ("Received: %s\r\n", self->received);

                header = g_bytes_new_take (line, strlen (line));
                g_memory_input_stream_add_bytes (G_MEMORY_INPUT_STREAM (stream), header);
        }
        if (self->data != NULL)
                g_memory_input_stream_add_bytes (G_MEMORY_INPUT_STREAM (stream), self->data);
        return stream;
}

/**
 * g_smtp_envelope_get_message:
 * @self: an envelope
 *
 * The message parsed by GMime from the same bytes as g_smtp_envelope_get_data()
 * (no copy), with the server's `Received:` header prepended to its headers;
 * the raw bytes stay unchanged.
 *
 * A server with a DATA handler parses the message in its worker threads
 * before the handler runs (see #GSmtpServer:parse-messages), so this returns
 * at once.  Otherwise the message is parsed on the first call, on the
 * caller's thread.  Either way it is parsed only if it keeps the server's MIME
 * limits (#GSmtpServer:max-mime-depth and the others): a message past one is
 * still delivered, but this returns %NULL and
 * g_smtp_envelope_get_mime_error() says which limit it broke.
 *
 * The message is the envelope's; keep a reference (g_object_ref()) to use it
 * after the envelope is gone: it and the content streams of its parts keep
 * the message bytes alive.  May be called from any thread.
 *
 * Returns: (transfer none) (nullable): the parsed message, or %NULL when the
 *   message broke a MIME limit, is not a message GMime can parse, or DATA has
 *   not ended
 *
 * Since: 0.1
 */
GMimeMessage *
g_smtp_envelope_get_message (GSmtpEnvelope *self)
{
        GMimeMessage *message;

        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        gsmtp_envelope_ensure_parsed (self);
        g_mutex_lock (&self->lock);
        message = self->message;
        g_mutex_unlock (&self->lock);
        return message;
}

/**
 * g_smtp_envelope_get_mime_error:
 * @self: an envelope
 *
 * Why the message was not parsed: the MIME limit it broke, as a short
 * sentence such as "MIME nesting deeper than 100".  Such a message is still a
 * message: the server accepted it, the DATA handler decides what to do with
 * it, and g_smtp_envelope_get_data() has its bytes; only
 * g_smtp_envelope_get_message() returns %NULL.  Parses the message if that
 * has not happened yet, as g_smtp_envelope_get_message() does.
 *
 * Returns: (nullable): the reason, or %NULL when the message keeps the limits
 *   (or DATA has not ended)
 *
 * Since: 0.2
 */
const char *
g_smtp_envelope_get_mime_error (GSmtpEnvelope *self)
{
        const char *error;

        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        gsmtp_envelope_ensure_parsed (self);
        g_mutex_lock (&self->lock);
        error = self->mime_error;
        g_mutex_unlock (&self->lock);
        return error;
}

/**
 * g_smtp_envelope_get_peer:
 * @self: an envelope
 *
 * Gets the client that sent this message.
 *
 * Returns: (transfer none): the client that sent this message
 *
 * Since: 0.1
 */
GSmtpPeer *
g_smtp_envelope_get_peer (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return self->peer;
}

/**
 * g_smtp_envelope_is_smtputf8:
 * @self: an envelope
 *
 * Tells whether the transaction is internationalised: MAIL carried the
 * `SMTPUTF8` parameter (RFC 6531), so the sender, the recipients and the
 * message's headers may be UTF-8 (RFC 6532), and the `Received:` header says
 * `with UTF8SMTP` (or `UTF8SMTPS`, `UTF8SMTPA`, `UTF8SMTPSA`).  Without it
 * every address in the envelope is ASCII: a UTF-8 address was refused.
 *
 * Returns: %TRUE when MAIL carried `SMTPUTF8`
 *
 * Since: 0.2
 */
gboolean
g_smtp_envelope_is_smtputf8 (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), FALSE);
        return self->mail_ext.smtputf8;
}

/**
 * g_smtp_envelope_requires_tls:
 * @self: an envelope
 *
 * Tells whether MAIL carried `REQUIRETLS` (RFC 8689): the sender asks that
 * every further hop of this message be made over TLS with REQUIRETLS too,
 * and that it bounce rather than go in cleartext.  It is accepted only in a
 * TLS session.  Honouring it is the application's (or the next MTA's) task.
 *
 * Returns: %TRUE when MAIL carried `REQUIRETLS`
 *
 * Since: 0.2
 */
gboolean
g_smtp_envelope_requires_tls (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), FALSE);
        return self->mail_ext.requiretls;
}

/**
 * g_smtp_envelope_get_dsn_ret:
 * @self: an envelope
 *
 * Gets the `RET=` parameter of MAIL (RFC 3461 4.3): how much of the message
 * a delivery status notification should return.  gsmtp makes no DSN; an
 * application that does reads this.
 *
 * Returns: the DSN return type, %GSMTP_DSN_RET_UNSPECIFIED without `RET=`
 *
 * Since: 0.2
 */
GSmtpDsnRet
g_smtp_envelope_get_dsn_ret (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), GSMTP_DSN_RET_UNSPECIFIED);
        return self->mail_ext.ret;
}

/**
 * g_smtp_envelope_get_dsn_envid:
 * @self: an envelope
 *
 * Gets the `ENVID=` parameter of MAIL (RFC 3461 4.4), the sender's
 * identifier for this transaction, to be returned in any DSN.  It comes
 * decoded from xtext ("+2B" is "+"), and is printable US-ASCII of at most
 * 100 characters (encoded).
 *
 * Returns: (nullable): the envelope identifier, or %NULL without `ENVID=`
 *
 * Since: 0.2
 */
const char *
g_smtp_envelope_get_dsn_envid (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        return self->mail_ext.envid;
}

/**
 * g_smtp_envelope_get_dsn_notify:
 * @self: an envelope
 * @index: a recipient's position in g_smtp_envelope_get_recipients()
 *
 * Gets the `NOTIFY=` parameter the recipient's RCPT carried (RFC 3461 4.1):
 * when a DSN is wanted for it.  A recipient named twice keeps what its first
 * RCPT asked for.
 *
 * Returns: the notify flags; %GSMTP_DSN_NOTIFY_UNSPECIFIED without `NOTIFY=`
 *   or for an @index out of range
 *
 * Since: 0.2
 */
GSmtpDsnNotify
g_smtp_envelope_get_dsn_notify (GSmtpEnvelope *self, guint index)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), GSMTP_DSN_NOTIFY_UNSPECIFIED);
        if (index >= self->recipient_params->len)
                return GSMTP_DSN_NOTIFY_UNSPECIFIED;
        return g_array_index (self->recipient_params, GSmtpRcptParams, index).notify;
}

/**
 * g_smtp_envelope_get_dsn_orcpt:
 * @self: an envelope
 * @index: a recipient's position in g_smtp_envelope_get_recipients()
 *
 * Gets the `ORCPT=` parameter the recipient's RCPT carried (RFC 3461 4.2):
 * the original recipient, as `addr-type;address`, the type in lower case and
 * the address decoded, such as `rfc822;bob@example.org`.  The address is
 * printable US-ASCII, except for the `utf-8` type (RFC 6533), whose address
 * is UTF-8 (decoded from `\x{...}` escapes).
 *
 * Returns: (nullable): the original recipient, or %NULL without `ORCPT=` or
 *   for an @index out of range
 *
 * Since: 0.2
 */
const char *
g_smtp_envelope_get_dsn_orcpt (GSmtpEnvelope *self, guint index)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        if (index >= self->recipient_params->len)
                return NULL;
        return g_array_index (self->recipient_params, GSmtpRcptParams, index).orcpt;
}

/**
 * g_smtp_envelope_get_body:
 * @self: an envelope
 *
 * The `BODY=` parameter of MAIL FROM, upper-case: `"7BIT"`, `"8BITMIME"`
 * (RFC 6152) or `"BINARYMIME"` (RFC 3030: the message came by BDAT and its
 * bytes are as sent, bare CR and LF included; relaying it to a server
 * without BINARYMIME means encoding its binary parts first).
 *
 * Returns: (nullable): the body type, or %NULL when MAIL had no `BODY=`
 *
 * Since: 0.2
 */
const char *
g_smtp_envelope_get_body (GSmtpEnvelope *self)
{
        static const char *const bodies[] = { "7BIT", "8BITMIME", "BINARYMIME" };
        const char *value;

        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), NULL);
        if (self->mail_params == NULL ||
            (value = g_hash_table_lookup (self->mail_params, "BODY")) == NULL)
                return NULL;
        for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
                if (g_ascii_strcasecmp (value, bodies[i]) == 0)
                        return bodies[i];
        return NULL;
}

/**
 * g_smtp_envelope_is_chunked:
 * @self: an envelope
 *
 * Tells whether the message came in BDAT chunks (RFC 3030 CHUNKING) rather
 * than after DATA.  Its bytes are then exactly what the chunks held (no
 * dot-unstuffing was needed); without `BODY=BINARYMIME` a bare CR or LF was
 * still treated as with DATA (see #GSmtpServer:bare-linefeed).
 *
 * Returns: %TRUE when the message came by BDAT
 *
 * Since: 0.2
 */
gboolean
g_smtp_envelope_is_chunked (GSmtpEnvelope *self)
{
        g_return_val_if_fail (GSMTP_IS_ENVELOPE (self), FALSE);
        return self->chunked;
}

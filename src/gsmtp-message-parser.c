/* gsmtp-message-parser.c — parses each message in a worker thread before its
 * DATA stage is asked, so that a large or complex message never holds the
 * main loop: other sessions go on while it is parsed.
 * Owns: the process's parsing pool, a job's life, handing the result back to
 * the session's main context.
 * Not: parsing (gsmtp-envelope.c), the limits (gsmtp-mime-limits.c), waiting
 * (the session reads nothing more while its job is out, as while a stage is).
 *
 * Threads: the session starts a job and keeps one reference; the pool keeps
 * the other, with a reference to the envelope.  The worker touches only the
 * envelope, whose bytes DATA fixed and whose result it writes under a lock,
 * and hands the job back through an idle source on the session's context
 * (never g_main_context_invoke(), which could run the session on the worker).
 * The pool's queue and the context's lock order the worker's writes before
 * the session's reads.  A session that closes meanwhile releases its
 * reference: the result lands in the envelope nobody holds, and is freed
 * with it. */
#include "config.h"
#include "gsmtp-message-parser.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* CPU-bound work: more threads than CPUs do not help.  A few at most, so that
 * the parses in flight (each bounded by the MIME limits) bound the memory. */
#define MAX_PARSE_THREADS 4
/* A parse that built more than this returns its worker's arena to the system */
#define TRIM_AFTER_BYTES (4 * 1024 * 1024)
/* Handing a message to a worker and back costs about 15 us of CPU on one core
 * (S2 of make bench: 52 -> 66 us a message).  A message of at most 16 KiB whose
 * scan predicts less than 0.5 ms of GMime is parsed on the spot; the scan of
 * 16 KiB takes at most about 1 ms, even crafted. */
#define INLINE_MAX_BYTES (16 * 1024)
#define INLINE_MAX_COST_NS (500 * 1000)
/* Freeing a message takes about as long as building its GObjects (13 ms for
 * 990 parts and 1000 addresses, on whichever thread drops the envelope last:
 * usually the main loop).  Past 0.2 ms it is done by a worker instead. */
#define FREE_INLINE_MAX_NS (200 * 1000)
/* Messages waiting for a worker to free them, at most: past it the thread
 * dropping envelopes frees them itself, and so slows down, rather than the
 * queue holding their memory (and spill files) without bound. */
#define FREE_QUEUE_MAX 8
/* Freeing more than this returns the worker's arena to the system, as a
 * large parse does */
#define FREE_TRIM_AFTER_NS (1000 * 1000)

struct _GSmtpParseJob {
        gatomicrefcount  ref;
        GSmtpEnvelope   *envelope;      /* (owned) */
        GMainContext    *context;       /* (owned): where @done runs */
        GSmtpParseDone   done;          /* (nullable): NULL once released; read and written on @context only */
        gpointer         user_data;

        GMutex           lock;          /* for the two below, between the worker and @context */
        gboolean         released;
        GSource         *source;        /* (owned) (nullable): the way back, once attached */
};

/* For tests: a function the workers call as a job starts */
typedef struct {
        GSmtpParseHook func;
        gpointer       data;
} Hook;

static GMutex hook_lock;
static Hook parse_hook, free_hook;

static void
hook_set (Hook *hook, GSmtpParseHook func, gpointer data)
{
        g_mutex_lock (&hook_lock);
        hook->func = func;
        hook->data = data;
        g_mutex_unlock (&hook_lock);
}

static void
hook_call (Hook *hook, GSmtpEnvelope *envelope)
{
        Hook now;

        g_mutex_lock (&hook_lock);
        now = *hook;
        g_mutex_unlock (&hook_lock);
        if (now.func != NULL)
                now.func (envelope, now.data);
}

static gint free_queued;        /* atomic: free jobs pushed and not yet done */

static void
parse_job_unref (gpointer data)
{
        GSmtpParseJob *job = data;

        if (!g_atomic_ref_count_dec (&job->ref))
                return;
        g_object_unref (job->envelope);
        g_main_context_unref (job->context);
        g_mutex_clear (&job->lock);
        g_free (job);
}

static gboolean
parse_job_deliver (gpointer data)
{
        GSmtpParseJob *job = data;
        GSmtpParseDone done = g_steal_pointer (&job->done);
        GSource *source;

        g_mutex_lock (&job->lock);
        source = g_steal_pointer (&job->source);
        g_mutex_unlock (&job->lock);
        g_clear_pointer (&source, g_source_unref);
        if (done != NULL)
                done (job->user_data);
        return G_SOURCE_REMOVE;
}

static void
parse_job_run (gpointer data, gpointer unused)
{
        GSmtpParseJob *job = data;

        hook_call (&parse_hook, job->envelope);
        gsmtp_envelope_ensure_parsed (job->envelope);
#ifdef __GLIBC__
        /* glibc keeps a worker thread's arena after the message is freed:
         * give large parses' memory back (measured in the report of issue 10) */
        if (g_smtp_envelope_get_size (job->envelope) > TRIM_AFTER_BYTES)
                malloc_trim (0);
#endif
        g_mutex_lock (&job->lock);
        if (job->released) {
                /* nobody waits: no way back, which could outlive the context */
                g_mutex_unlock (&job->lock);
                parse_job_unref (job);
                return;
        }
        job->source = gsmtp_context_run (job->context, G_PRIORITY_DEFAULT, parse_job_deliver, job,
                                         parse_job_unref, "gsmtp parse done");
        g_mutex_unlock (&job->lock);
}

/* A pool of the process running @func, made on first use: never freed,
 * shared by every server, as GIO's own worker pool is. */
static GThreadPool *
process_pool (GThreadPool **pool, GFunc func)
{
        if (g_once_init_enter (pool)) {
                guint n = CLAMP (g_get_num_processors (), 1, MAX_PARSE_THREADS);

                g_once_init_leave (pool, g_thread_pool_new (func, NULL, n, FALSE, NULL));
        }
        return *pool;
}

static GThreadPool *
parse_pool (void)
{
        static GThreadPool *pool;

        return process_pool (&pool, parse_job_run);
}

typedef struct {
        GMimeMessage *message;          /* (owned) */
        gboolean      large;            /* trim the arenas once it is freed */
} FreeJob;

static void
free_run (gpointer data, gpointer unused)
{
        FreeJob *job = data;

        hook_call (&free_hook, NULL);
        g_object_unref (job->message);
#ifdef __GLIBC__
        if (job->large)
                malloc_trim (0);
#endif
        g_free (job);
        g_atomic_int_add (&free_queued, -1);
}

/* as many threads as the parsing pool, so that freeing keeps up with parsing */
static GThreadPool *
free_pool (void)
{
        static GThreadPool *pool;

        return process_pool (&pool, free_run);
}

/* Drops the envelope's reference to @message (transfer full), whose freeing
 * the scan estimated at @free_cost ns: on the spot when that is short,
 * otherwise in a worker, so that the thread dropping the envelope (a main
 * loop, other sessions waiting) does not tear down a thousand parts.  On the
 * spot too when someone else still holds @message (dropping a reference is
 * all there is to do), or when FREE_QUEUE_MAX wait already. */
void
gsmtp_parse_free_message (GMimeMessage *message, guint64 free_cost, gsize size)
{
        FreeJob *job;

        if (message == NULL)
                return;
        if (free_cost <= FREE_INLINE_MAX_NS || g_atomic_int_get (&G_OBJECT (message)->ref_count) > 1) {
                g_object_unref (message);
                return;
        }
        if (g_atomic_int_add (&free_queued, 1) >= FREE_QUEUE_MAX) {
                g_atomic_int_add (&free_queued, -1);
                g_object_unref (message);
                return;
        }
        job = g_new (FreeJob, 1);
        job->message = message;
        job->large = size > TRIM_AFTER_BYTES || free_cost > FREE_TRIM_AFTER_NS;
        g_thread_pool_push (free_pool (), job, NULL);
}

/* The message of @envelope is parsed behind @limits.  With @in_pool, in a
 * worker thread now, and @done is called on the caller's thread-default
 * context when it is; returns the job, which the caller releases.  Returns
 * NULL when there is nothing to wait for: without @in_pool the message is
 * parsed when the application first asks; a small, simple one is parsed now.
 *
 * The queue holds at most one job a session: the sessions bound it. */
GSmtpParseJob *
gsmtp_parse_job_start (GSmtpEnvelope *envelope, const GSmtpMimeLimits *limits, gboolean in_pool,
                       GMainContext *context, GSmtpParseDone done, gpointer user_data)
{
        GSmtpParseJob *job;

        gsmtp_envelope_set_mime_limits (envelope, limits);
        if (!in_pool || gsmtp_envelope_parse_if_cheap (envelope, INLINE_MAX_BYTES, INLINE_MAX_COST_NS))
                return NULL;
        gsmtp_ensure_gmime ();
        job = g_new0 (GSmtpParseJob, 1);
        g_mutex_init (&job->lock);
        g_atomic_ref_count_init (&job->ref);
        g_atomic_ref_count_inc (&job->ref);     /* the worker's */
        job->envelope = g_object_ref (envelope);
        job->context = context != NULL ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
        job->done = done;
        job->user_data = user_data;
        g_thread_pool_push (parse_pool (), job, NULL);
        return job;
}

/* The caller no longer wants the result: @done will not be called, and
 * nothing of the job stays in the context.  Call on the context the job was
 * started on. */
void
gsmtp_parse_job_release (GSmtpParseJob *job)
{
        GSource *source;

        job->done = NULL;
        g_mutex_lock (&job->lock);
        job->released = TRUE;
        source = g_steal_pointer (&job->source);
        g_mutex_unlock (&job->lock);
        if (source != NULL) {
                g_source_destroy (source);      /* drops the worker's reference */
                g_source_unref (source);
        }
        parse_job_unref (job);
}

/* For tests: called in the worker before each message it frees (with a
 * NULL envelope). */
void
gsmtp_parse_set_free_hook (GSmtpParseHook hook, gpointer data)
{
        hook_set (&free_hook, hook, data);
}

void
gsmtp_parse_set_test_hook (GSmtpParseHook hook, gpointer data)
{
        hook_set (&parse_hook, hook, data);
}

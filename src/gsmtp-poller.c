/* gsmtp-poller.c — one epoll set for every plain connection of a server.
 * Owns: telling connections their socket is readable or writable.  GLib's main
 * loop polls every source's fds on every iteration; with thousands of sessions
 * that is the cost that grows.  On Linux one epoll fd stands in the main loop
 * for all of them; each socket is registered once, edge-triggered, for input
 * and output, so waiting costs no system call at all.  Edge-triggered means a
 * connection must read until the socket is empty before it waits, or ask to be
 * run again (gsmtp_watch_again()).  Elsewhere each watch is a level-triggered
 * GSource of its own.
 * Not: reading or writing (gsmtp-connection.c). */
#include "config.h"
#include "gsmtp-poller.h"

#ifdef __linux__
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>
#define EVENTS_PER_DISPATCH 128
#endif

struct _GSmtpWatch {
        GSmtpPoller   *poller;
        int            fd;
        GSmtpWatchFunc func;
        gpointer       data;
        gboolean       registered;      /* known to epoll (maybe disabled after firing) */
        gboolean       removed;         /* freed after the dispatch that may still see it */
        gboolean       queued;          /* in the poller's again list */
        GSource       *source;          /* non-Linux: this watch's own source */
        gpointer       tag;
};

struct _GSmtpPoller {
        gatomicrefcount ref;            /* a dispatch holds one: a callback may free the server */
        GMainContext  *context;         /* (owned) */
        GSource       *source;          /* (owned) (nullable): the epoll fd's source */
        int            epfd;
        GPtrArray     *graveyard;       /* (owned): removed watches, freed after dispatch */
        GPtrArray     *again;           /* (owned): watches to run at the next dispatch */
        guint          depth;           /* dispatches under way: a handler may run a nested loop */
};

static void
watch_free (gpointer data)
{
        GSmtpWatch *watch = data;

        if (watch->source != NULL) {
                g_source_destroy (watch->source);
                g_source_unref (watch->source);
        }
        g_free (watch);
}

/* the sources carry their owner instead of a callback */
typedef struct {
        GSource  base;
        gpointer owner;
} OwnedSource;

#ifdef __linux__
static gboolean
poller_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
        GSmtpPoller *poller = ((OwnedSource *) source)->owner;
        struct epoll_event events[EVENTS_PER_DISPATCH];
        g_autoptr(GPtrArray) again = poller->again;
        int n;

        poller->again = g_ptr_array_new ();
        g_atomic_ref_count_inc (&poller->ref);
        g_source_set_ready_time (source, -1);
        do
                n = epoll_wait (poller->epfd, events, EVENTS_PER_DISPATCH, 0);
        while (n < 0 && errno == EINTR);
        poller->depth++;
        for (int i = 0; i < n; i++) {
                GSmtpWatch *watch = events[i].data.ptr;
                guint32 e = events[i].events;
                GIOCondition cond = ((e & EPOLLIN) ? G_IO_IN : 0) | ((e & EPOLLOUT) ? G_IO_OUT : 0) |
                                    ((e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ? G_IO_HUP : 0);

                if (!watch->removed)
                        watch->func (watch->data, cond);
        }
        for (guint i = 0; i < again->len; i++) {
                GSmtpWatch *watch = again->pdata[i];

                watch->queued = FALSE;
                if (watch->removed)
                        watch_free (watch);     /* removed while queued: ours to free */
                else
                        watch->func (watch->data, G_IO_IN);
        }
        /* what was removed meanwhile goes once no dispatch can still see it */
        if (--poller->depth == 0)
                g_ptr_array_set_size (poller->graveyard, 0);
        gsmtp_poller_free (poller);     /* the dispatch's reference */
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs poller_funcs = { NULL, NULL, poller_dispatch, NULL, NULL, NULL };
#else
static gboolean
watch_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
        GSmtpWatch *watch = ((OwnedSource *) source)->owner;

        GIOCondition cond = g_source_query_unix_fd (watch->source, watch->tag);
        GSmtpPoller *poller = watch->poller;

        g_source_modify_unix_fd (watch->source, watch->tag, 0);
        g_atomic_ref_count_inc (&poller->ref);
        poller->depth++;
        watch->func (watch->data, cond);
        if (--poller->depth == 0)
                g_ptr_array_set_size (poller->graveyard, 0);
        gsmtp_poller_free (poller);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs watch_funcs = { NULL, NULL, watch_dispatch, NULL, NULL, NULL };
#endif

GSmtpPoller *
gsmtp_poller_new (GMainContext *context)
{
        GSmtpPoller *poller = g_new0 (GSmtpPoller, 1);

        g_atomic_ref_count_init (&poller->ref);
        poller->context = g_main_context_ref (context != NULL ? context : g_main_context_default ());
        poller->graveyard = g_ptr_array_new_with_free_func (watch_free);
        poller->again = g_ptr_array_new ();
        poller->epfd = -1;
#ifdef __linux__
        poller->epfd = epoll_create1 (EPOLL_CLOEXEC);
        if (poller->epfd < 0)
                g_error ("gsmtp: epoll_create1: %s", g_strerror (errno));
        poller->source = g_source_new (&poller_funcs, sizeof (OwnedSource));
        ((OwnedSource *) poller->source)->owner = poller;
        g_source_add_unix_fd (poller->source, poller->epfd, G_IO_IN);
        /* A source that may not recurse is blocked around each dispatch: GLib
         * takes its fd out of the poll set and puts it back, and each of those
         * wakes the context through its eventfd: three system calls a dispatch,
         * a message on a busy server.  The dispatch is re-entrant instead. */
        g_source_set_can_recurse (poller->source, TRUE);
        g_source_attach (poller->source, poller->context);
#endif
        return poller;
}

/* Drops a reference; the last frees the poller (and its source). */
void
gsmtp_poller_free (GSmtpPoller *poller)
{
        if (poller == NULL || !g_atomic_ref_count_dec (&poller->ref))
                return;
        if (poller->source != NULL) {
                g_source_destroy (poller->source);
                g_source_unref (poller->source);
        }
#ifdef __linux__
        if (poller->epfd >= 0)
                close (poller->epfd);
#endif
        g_ptr_array_unref (poller->graveyard);
        for (guint i = 0; i < poller->again->len; i++)
                if (((GSmtpWatch *) poller->again->pdata[i])->removed)
                        watch_free (poller->again->pdata[i]);
        g_ptr_array_unref (poller->again);
        g_main_context_unref (poller->context);
        g_free (poller);
}

/* The context the poller's sources run in: timers that go with it go there too. */
GMainContext *
gsmtp_poller_get_context (GSmtpPoller *poller)
{
        return poller->context;
}

GSmtpWatch *
gsmtp_poller_watch (GSmtpPoller *poller, int fd, GSmtpWatchFunc func, gpointer data)
{
        GSmtpWatch *watch = g_new0 (GSmtpWatch, 1);

        watch->poller = poller;
        watch->fd = fd;
        watch->func = func;
        watch->data = data;
#ifdef __linux__
        {
                struct epoll_event ev = { 0 };

                ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                ev.data.ptr = watch;
                if (epoll_ctl (poller->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                        g_warning ("gsmtp: epoll_ctl: %s", g_strerror (errno));
                else
                        watch->registered = TRUE;
        }
#else
        watch->source = g_source_new (&watch_funcs, sizeof (OwnedSource));
        ((OwnedSource *) watch->source)->owner = watch;
        watch->tag = g_source_add_unix_fd (watch->source, fd, 0);
        g_source_attach (watch->source, poller->context);
#endif
        return watch;
}

/* Waits for @condition (G_IO_IN or G_IO_OUT); 0 stops waiting.  On Linux the
 * socket is always watched, edge-triggered: this costs nothing there. */
void
gsmtp_watch_set (GSmtpWatch *watch, GIOCondition condition)
{
#ifndef __linux__
        g_source_modify_unix_fd (watch->source, watch->tag, condition);
#endif
}

/* Runs the watch's function again at the next dispatch, whatever the socket
 * says: for a connection that stopped reading before the socket was empty. */
void
gsmtp_watch_again (GSmtpWatch *watch)
{
#ifdef __linux__
        if (watch->queued || watch->removed)
                return;
        watch->queued = TRUE;
        g_ptr_array_add (watch->poller->again, watch);
        g_source_set_ready_time (watch->poller->source, 0);
#else
        g_source_modify_unix_fd (watch->source, watch->tag, G_IO_IN);
#endif
}

/* Before the fd is closed.  Freed at once, or after the dispatch under way. */
void
gsmtp_watch_remove (GSmtpWatch *watch)
{
        if (watch == NULL)
                return;
#ifdef __linux__
        if (watch->registered)
                epoll_ctl (watch->poller->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
        watch->registered = FALSE;
#endif
        watch->removed = TRUE;
        /* a queued watch is freed by the dispatch that dequeues it; one that the
         * dispatch under way may still see, after that dispatch */
        if (watch->queued)
                return;
        if (watch->poller->depth > 0)
                g_ptr_array_add (watch->poller->graveyard, watch);
        else
                watch_free (watch);
}

/* gsmtp-poller.c — one epoll set for every plain connection of a server.
 * Owns: telling connections their socket is readable or writable.  GLib's main
 * loop polls every source's fds on every iteration; with thousands of sessions
 * that is the cost that grows.  On Linux one epoll fd stands in the main loop
 * for all of them, and each connection arms it one-shot (as Postfix's event
 * loop does); elsewhere each watch is a GSource of its own.
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
        GSource       *source;          /* non-Linux: this watch's own source */
        gpointer       tag;
};

struct _GSmtpPoller {
        GMainContext  *context;         /* (owned) */
        GSource       *source;          /* (owned) (nullable): the epoll fd's source */
        int            epfd;
        GPtrArray     *graveyard;       /* (owned): removed watches, freed after dispatch */
        gboolean       dispatching;
};

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
        int n;

        do
                n = epoll_wait (poller->epfd, events, EVENTS_PER_DISPATCH, 0);
        while (n < 0 && errno == EINTR);
        poller->dispatching = TRUE;
        for (int i = 0; i < n; i++) {
                GSmtpWatch *watch = events[i].data.ptr;

                /* one-shot: disabled now until armed again */
                if (!watch->removed)
                        watch->func (watch->data);
        }
        poller->dispatching = FALSE;
        g_ptr_array_set_size (poller->graveyard, 0);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs poller_funcs = { NULL, NULL, poller_dispatch, NULL, NULL, NULL };
#else
static gboolean
watch_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
        GSmtpWatch *watch = ((OwnedSource *) source)->owner;

        g_source_modify_unix_fd (watch->source, watch->tag, 0);
        watch->poller->dispatching = TRUE;
        watch->func (watch->data);
        watch->poller->dispatching = FALSE;
        g_ptr_array_set_size (watch->poller->graveyard, 0);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs watch_funcs = { NULL, NULL, watch_dispatch, NULL, NULL, NULL };
#endif

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

GSmtpPoller *
gsmtp_poller_new (GMainContext *context)
{
        GSmtpPoller *poller = g_new0 (GSmtpPoller, 1);

        poller->context = g_main_context_ref (context != NULL ? context : g_main_context_default ());
        poller->graveyard = g_ptr_array_new_with_free_func (watch_free);
        poller->epfd = -1;
#ifdef __linux__
        poller->epfd = epoll_create1 (EPOLL_CLOEXEC);
        if (poller->epfd < 0)
                g_error ("gsmtp: epoll_create1: %s", g_strerror (errno));
        poller->source = g_source_new (&poller_funcs, sizeof (OwnedSource));
        ((OwnedSource *) poller->source)->owner = poller;
        g_source_add_unix_fd (poller->source, poller->epfd, G_IO_IN);
        g_source_attach (poller->source, poller->context);
#endif
        return poller;
}

void
gsmtp_poller_free (GSmtpPoller *poller)
{
        if (poller == NULL)
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
        g_main_context_unref (poller->context);
        g_free (poller);
}

GSmtpWatch *
gsmtp_poller_watch (GSmtpPoller *poller, int fd, GSmtpWatchFunc func, gpointer data)
{
        GSmtpWatch *watch = g_new0 (GSmtpWatch, 1);

        watch->poller = poller;
        watch->fd = fd;
        watch->func = func;
        watch->data = data;
#ifndef __linux__
        watch->source = g_source_new (&watch_funcs, sizeof (OwnedSource));
        ((OwnedSource *) watch->source)->owner = watch;
        watch->tag = g_source_add_unix_fd (watch->source, fd, 0);
        g_source_attach (watch->source, poller->context);
#endif
        return watch;
}

/* Waits for @condition (G_IO_IN or G_IO_OUT) once; 0 stops waiting. */
void
gsmtp_watch_set (GSmtpWatch *watch, GIOCondition condition)
{
#ifdef __linux__
        struct epoll_event ev = { 0 };

        if (condition == 0) {
                /* with EPOLLONESHOT and no events, HUP would still be reported: leave the set */
                if (watch->registered)
                        epoll_ctl (watch->poller->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
                watch->registered = FALSE;
                return;
        }
        ev.events = EPOLLONESHOT | ((condition & G_IO_IN) ? EPOLLIN : 0) | ((condition & G_IO_OUT) ? EPOLLOUT : 0);
        ev.data.ptr = watch;
        if (epoll_ctl (watch->poller->epfd, watch->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, watch->fd, &ev) < 0)
                g_warning ("gsmtp: epoll_ctl: %s", g_strerror (errno));
        watch->registered = TRUE;
#else
        g_source_modify_unix_fd (watch->source, watch->tag, condition);
#endif
}

/* Before the fd is closed.  Freed at once, or after the dispatch under way. */
void
gsmtp_watch_remove (GSmtpWatch *watch)
{
        if (watch == NULL)
                return;
        gsmtp_watch_set (watch, 0);
        watch->removed = TRUE;
        if (watch->poller->dispatching)
                g_ptr_array_add (watch->poller->graveyard, watch);
        else
                watch_free (watch);
}

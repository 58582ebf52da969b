/* gsmtp-poller.h — readiness of many sockets through one main-loop source (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _GSmtpPoller GSmtpPoller;
typedef struct _GSmtpWatch  GSmtpWatch;
typedef void (*GSmtpWatchFunc) (gpointer data, GIOCondition condition);

GSmtpPoller *gsmtp_poller_new     (GMainContext *context);
void         gsmtp_poller_free    (GSmtpPoller *poller);
GMainContext *gsmtp_poller_get_context (GSmtpPoller *poller);
GSmtpWatch  *gsmtp_poller_watch   (GSmtpPoller *poller, int fd, GSmtpWatchFunc func, gpointer data);
void         gsmtp_watch_set      (GSmtpWatch *watch, GIOCondition condition);
void         gsmtp_watch_again    (GSmtpWatch *watch);
void         gsmtp_watch_remove   (GSmtpWatch *watch);

G_END_DECLS

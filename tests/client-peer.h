/* client-peer.h — the client tests' peers: Python servers run as subprocesses. */
#pragma once

#include "gsmtp-private.h"

typedef struct {
        GSubprocess      *process;
        GDataInputStream *out;
        guint16           port;
        GQueue            pending;      /* (element-type GVariant): read while looking for another kind */
} ClientPeer;

/* Skips the test (and returns) where the peers' Python is missing */
#define SKIP_WITHOUT_PYTHON()                                           \
        G_STMT_START {                                                  \
                if (!client_peer_python_has ("asyncio")) {              \
                        g_test_skip ("python3 is not installed");       \
                        return;                                         \
                }                                                       \
        } G_STMT_END

gboolean    client_peer_python_has (const char *module);
ClientPeer *client_peer_start      (const char *script, const char *const *args);
ClientPeer *client_peer_scripted   (const char *config_json);
GVariant   *client_peer_event      (ClientPeer *peer, const char *kind);
char       *client_peer_line       (ClientPeer *peer);
void        client_peer_stop       (ClientPeer *peer);
GBytes     *client_peer_event_data (GVariant *event);
const char *client_peer_lookup     (GVariant *event, const char *key);
gint64      client_peer_lookup_int (GVariant *event, const char *key);
gboolean    client_peer_lookup_bool (GVariant *event, const char *key);
char      **client_peer_lookup_strv (GVariant *event, const char *key);
gboolean    client_iterate_until   (gboolean *done, guint seconds);

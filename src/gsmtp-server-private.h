/* gsmtp-server-private.h — the server's internals that tests and fuzzers use. */
#pragma once

#include "gsmtp-private.h"
#include "gsmtp-session-host.h"

G_BEGIN_DECLS

/* The host a session made by hand (tests, fuzzers) runs under. */
GSmtpSessionHost *gsmtp_server_get_session_host (GSmtpServer *server);

G_END_DECLS

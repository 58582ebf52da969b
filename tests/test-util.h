/* test-util.h — loopback server fixture, line client, certificates made at test time. */
#pragma once

#include "gsmtp-private.h"

typedef void (*TestServerSetup) (GSmtpServer *server, gpointer data);

typedef struct {
        GThread      *thread;
        GMainContext *context;
        GMainLoop    *loop;
        GSmtpServer  *server;
        guint16       port;
        GAsyncQueue  *messages;         /* GSmtpEnvelope, one per accepted message */
        TestServerSetup setup;
        gpointer      setup_data;
        GMutex        lock;
        GCond         cond;
        gboolean      ready;
        gboolean      stopped;
} TestServer;

TestServer *test_server_new       (TestServerSetup setup, gpointer data);
void        test_server_free      (TestServer *ts);
GSmtpEnvelope *test_server_pop    (TestServer *ts, guint timeout_ms);
void        test_server_stop      (TestServer *ts, guint grace_seconds);
void        test_server_invoke    (TestServer *ts, GSourceFunc func, gpointer data);
gboolean    test_server_wait_stopped (TestServer *ts, guint timeout_ms);

typedef struct {
        GSocketConnection *conn;
        GIOStream         *stream;
        GDataInputStream  *in;
} LineClient;

LineClient *line_client_new      (guint16 port);
void        line_client_free     (LineClient *lc);
void        line_client_send     (LineClient *lc, const char *text);
void        line_client_send_raw (LineClient *lc, const void *data, gsize len);
char       *line_client_reply    (LineClient *lc);
void        line_client_expect   (LineClient *lc, const char *prefix);
void        line_client_chat     (LineClient *lc, const char *line, const char *prefix);
gboolean    line_client_closed   (LineClient *lc);

gboolean    test_make_certificate (const char *dir, char **cert_file, char **key_file);
char       *test_find_program     (const char *name);
GSmtpReply *test_auth_user_secret (GSmtpServer *server, GSmtpStage *stage, gpointer data);
guint       test_count_threads    (void);

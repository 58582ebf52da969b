/* gsmtp-xtext.h — xtext and its UTF-8 cousin (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *gsmtp_xtext_decode      (const char *in);
char *gsmtp_utf8_addr_decode  (const char *in);

G_END_DECLS

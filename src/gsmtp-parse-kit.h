/* gsmtp-parse-kit.h — the GMime parser and message stream a thread keeps between messages (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

GMimeMessage *gsmtp_parse_kit_parse_bytes (GBytes *prefix, GBytes *bytes);
GMimeMessage *gsmtp_parse_kit_parse_stream (GMimeStream *stream);

G_END_DECLS

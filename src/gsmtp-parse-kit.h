/* gsmtp-parse-kit.h — the GMime parser a thread keeps between messages (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

GMimeMessage *gsmtp_parse_kit_parse (GMimeStream *stream);

G_END_DECLS

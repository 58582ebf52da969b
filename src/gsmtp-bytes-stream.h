/* gsmtp-bytes-stream.h — a read-only GMimeStream over the message bytes, in memory or spilled (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

#define GSMTP_TYPE_BYTES_STREAM (gsmtp_bytes_stream_get_type ())
G_DECLARE_FINAL_TYPE (GSmtpBytesStream, gsmtp_bytes_stream, GSMTP, BYTES_STREAM, GMimeStream)

GMimeStream *gsmtp_bytes_stream_new (GBytes *bytes);
GMimeStream *gsmtp_bytes_stream_new_for_file (int fd, gsize size);

G_END_DECLS

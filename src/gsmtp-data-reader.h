/* gsmtp-data-reader.h — DATA bytes to message bytes (internal). */
#pragma once

#include "gsmtp-private.h"

G_BEGIN_DECLS

typedef enum {
        GSMTP_DATA_OK,
        GSMTP_DATA_TOO_BIG,             /* 552 5.3.4 */
        GSMTP_DATA_LINE_TOO_LONG,       /* 500 5.5.2 */
        GSMTP_DATA_BARE_LINEFEED,       /* 550 5.5.2, with GSMTP_BARE_LINEFEED_REJECT */
        GSMTP_DATA_IO_ERROR,            /* 451 4.3.0: the spill file failed */
} GSmtpDataStatus;

typedef struct _GSmtpDataReader GSmtpDataReader;

GSmtpDataReader *gsmtp_data_reader_new        (gsize max_size, gsize max_line_length,
                                               GSmtpBareLinefeed bare_linefeed,
                                               gsize spill_threshold);
void             gsmtp_data_reader_free       (GSmtpDataReader *reader);
gsize            gsmtp_data_reader_feed       (GSmtpDataReader *reader, const guint8 *data,
                                               gsize len, gboolean *done);
void             gsmtp_data_reader_feed_raw   (GSmtpDataReader *reader, const guint8 *data,
                                               gsize len, gboolean binary);
void             gsmtp_data_reader_end_raw    (GSmtpDataReader *reader);
void             gsmtp_data_reader_refuse     (GSmtpDataReader *reader, GSmtpDataStatus status);
GSmtpDataStatus  gsmtp_data_reader_get_status (GSmtpDataReader *reader);
gsize            gsmtp_data_reader_get_size   (GSmtpDataReader *reader);
gsize            gsmtp_data_reader_get_n_examined (GSmtpDataReader *reader);
gboolean         gsmtp_data_reader_finish     (GSmtpDataReader *reader, GSmtpEnvelope *envelope,
                                               GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GSmtpDataReader, gsmtp_data_reader_free)

G_END_DECLS

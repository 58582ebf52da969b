/* gsmtp-mime-limits.h — MIME limits, checked on the raw message before GMime
 * parses it (internal). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Defaults; gsmtp-mime-limits.c says why each number. */
#define GSMTP_DEFAULT_MAX_MIME_DEPTH            100
#define GSMTP_DEFAULT_MAX_MIME_PARTS            1000
#define GSMTP_DEFAULT_MAX_HEADERS               10000
#define GSMTP_DEFAULT_MAX_HEADER_SIZE           102400
#define GSMTP_DEFAULT_MAX_HEADER_BLOCK_SIZE     (1024 * 1024)
#define GSMTP_DEFAULT_MAX_ADDRESS_GROUPS        100
#define GSMTP_DEFAULT_MAX_ADDRESS_TOKENS        4096
#define GSMTP_DEFAULT_MAX_MIME_PARAMETERS       10000

/* The largest values the properties accept: above them GMime's recursion
 * would need more stack than a thread can be assumed to have. */
#define GSMTP_MAX_MIME_DEPTH_CAP                500
#define GSMTP_MAX_ADDRESS_GROUPS_CAP            1000

typedef struct _GSmtpMimeLimits {
        guint max_depth;                /* nested multiparts and message parts */
        guint max_parts;                /* MIME entities in the whole message */
        guint max_headers;              /* header fields in the whole message */
        guint max_header_size;          /* one field, continuation lines included */
        guint max_header_block_size;    /* the header of the message, or of one part */
        guint max_address_groups;       /* group openings in one address header */
        guint max_address_tokens;       /* , ; : @ < > in all address headers together */
        guint max_parameters;           /* Content-Type and Content-Disposition parameters, all fields */
} GSmtpMimeLimits;

/* What the scanner saw, up to the first limit broken. */
typedef struct {
        guint depth;                    /* deepest nesting of multiparts and message parts */
        guint parts;                    /* the message, each part, each embedded message */
        guint headers;                  /* header fields that GMime keeps */
        guint address_groups;           /* most group openings in one address header */
        guint address_tokens;           /* , ; : @ < > in all address headers, plus one each */
        guint64 address_work;           /* commas times length, summed over address headers */
        guint64 boundary_checks;        /* lines starting with "--" times the open multiparts */
        guint params;                   /* parameters GMime may make of Content-Type and -Disposition */
} GSmtpMimeStats;

void  gsmtp_mime_limits_init  (GSmtpMimeLimits *limits);
char *gsmtp_mime_limits_check (const GSmtpMimeLimits *limits, const guint8 *data, gsize len,
                               GSmtpMimeStats *stats);
guint64 gsmtp_mime_stats_parse_cost (const GSmtpMimeStats *stats, gsize len);
guint64 gsmtp_mime_stats_free_cost  (const GSmtpMimeStats *stats);
char *gsmtp_mime_limits_check_mapped (const GSmtpMimeLimits *limits, const guint8 *data, gsize len,
                                      GSmtpMimeStats *stats);

G_END_DECLS

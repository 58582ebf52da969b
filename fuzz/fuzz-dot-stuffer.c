/* fuzz-dot-stuffer.c — the message bytes' wire form: any split gives the same
 * bytes; no bare CR or LF leaves; the end marker appears only at the end;
 * un-stuffing DATA gives the BDAT form; the scan predicts both sizes exactly. */
#include "config.h"
#include "fuzz.h"
#include "gsmtp-dot-stuffer.h"

#include <stdlib.h>
#include <string.h>

static GByteArray *
stuff (const guint8 *data, size_t size, gboolean dots, size_t step)
{
        GByteArray *out = g_byte_array_new ();
        GSmtpDotStuffer st;

        gsmtp_dot_stuffer_init (&st, dots);
        for (size_t fed = 0; fed < size; fed += step)
                gsmtp_dot_stuffer_feed (&st, data + fed, MIN (step, size - fed), out);
        gsmtp_dot_stuffer_finish (&st, out);
        return out;
}

FUZZ_ENTRY (dot_stuffer)
{
        g_autoptr(GByteArray) data_form = stuff (data, size, TRUE, MAX (size, 1));
        g_autoptr(GByteArray) bdat_form = stuff (data, size, FALSE, MAX (size, 1));
        g_autoptr(GByteArray) unstuffed = g_byte_array_new ();
        GSmtpDataScan scan;
        guint64 dot_lines = 0;

        /* the same bytes however the message is cut */
        for (size_t step = 1; step < 10; step += 4) {
                g_autoptr(GByteArray) again = stuff (data, size, TRUE, step);

                FUZZ_CHECK (again->len == data_form->len && memcmp (again->data, data_form->data, again->len) == 0);
                /* (never empty: DATA always has its marker) */
        }
        /* every CR is followed by LF and every LF preceded by CR */
        for (guint i = 0; i < data_form->len; i++) {
                if (data_form->data[i] == '\r')
                        FUZZ_CHECK (i + 1 < data_form->len && data_form->data[i + 1] == '\n');
                if (data_form->data[i] == '\n')
                        FUZZ_CHECK (i > 0 && data_form->data[i - 1] == '\r');
        }
        /* DATA ends with the marker, and only there */
        FUZZ_CHECK (data_form->len >= 3 && memcmp (data_form->data + data_form->len - 3, ".\r\n", 3) == 0);
        FUZZ_CHECK (data_form->len == 3 || (data_form->len >= 5 &&
                                            memcmp (data_form->data + data_form->len - 5, "\r\n", 2) == 0));
        for (guint i = 0; i + 5 < data_form->len; i++)
                FUZZ_CHECK (memcmp (data_form->data + i, "\r\n.\r\n", 5) != 0);
        FUZZ_CHECK (data_form->len == 3 || memcmp (data_form->data, ".\r\n", 3) != 0);
        /* taking a leading dot off each line gives the BDAT form */
        for (gsize i = 0, body = data_form->len - 3; i < body; i++) {
                gboolean bol = i == 0 || data_form->data[i - 1] == '\n';

                if (bol && data_form->data[i] == '.') {
                        FUZZ_CHECK (i + 1 < body && data_form->data[i + 1] == '.');
                        dot_lines++;
                        i++;
                }
                g_byte_array_append (unstuffed, data_form->data + i, 1);
        }
        FUZZ_CHECK (unstuffed->len == bdat_form->len &&
                    (bdat_form->len == 0 || memcmp (unstuffed->data, bdat_form->data, bdat_form->len) == 0));
        /* the scan knows the sizes before anything is made */
        gsmtp_data_scan (data, size, &scan);
        FUZZ_CHECK (scan.size == bdat_form->len);
        FUZZ_CHECK (scan.n_dot_lines == dot_lines);
        FUZZ_CHECK (data_form->len == scan.size + scan.n_dot_lines + 3);
        FUZZ_CHECK (scan.canonical == (bdat_form->len == size && (size == 0 || memcmp (bdat_form->data, data, size) == 0)));
        FUZZ_CHECK (scan.nul == (size > 0 && memchr (data, '\0', size) != NULL));
        return 0;
}

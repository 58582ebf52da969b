/* test-mime-limits.c — the MIME limits scanner on raw messages: each limit at
 * and past its value, the attack shapes of issue 10, and the places where
 * GMime's parser reads a message differently from the RFCs. */
#include "config.h"
#include "gsmtp-mime-limits.h"
#include "gsmtp-private.h"
#include "hostile-mime.h"

#include <string.h>

/* Scans @text with @limits (the defaults when NULL); returns the reason. */
static char *
scan (const char *text, gsize len, const GSmtpMimeLimits *limits, GSmtpMimeStats *stats)
{
        GSmtpMimeLimits defaults;
        GSmtpMimeStats ignored;
        /* an exact-size copy, so that ASan sees any read past the end */
        g_autofree guint8 *copy = g_memdup2 (text, len);

        gsmtp_mime_limits_init (&defaults);
        return gsmtp_mime_limits_check (limits != NULL ? limits : &defaults, copy, len,
                                        stats != NULL ? stats : &ignored);
}

static char *
scan_str (const char *text, GSmtpMimeStats *stats)
{
        return scan (text, strlen (text), NULL, stats);
}

static void
test_plain (void)
{
        GSmtpMimeStats st;
        g_autofree char *error = scan_str ("From: Ann <a@example.org>\r\nTo: b@example.org, \"Doe, John\" "
                                           "<jd@example.org>\r\nSubject: hi\r\n\r\nHello.\r\n", &st);

        g_test_summary ("An ordinary message keeps every limit; the counts are GMime's");
        g_assert_null (error);
        g_assert_cmpuint (st.depth, ==, 0);
        g_assert_cmpuint (st.parts, ==, 1);
        g_assert_cmpuint (st.headers, ==, 3);
        g_assert_cmpuint (st.address_groups, ==, 0);
        /* From: < @ >, To: , @ , < @ > and one a header */
        g_assert_cmpuint (st.address_tokens, ==, 4 + 7);
}

static void
test_nested_groups (void)
{
        g_autoptr(GString) attack = hostile_nested_groups (60000);
        g_autoptr(GString) compact = g_string_new ("From: a@x\r\nTo: ");
        g_autoptr(GString) at_limit = hostile_nested_groups (GSMTP_DEFAULT_MAX_ADDRESS_GROUPS);
        g_autoptr(GString) past_limit = hostile_nested_groups (GSMTP_DEFAULT_MAX_ADDRESS_GROUPS + 1);
        g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
        GSmtpMimeStats st;

        g_test_bug ("10");
        g_test_summary ("A To: of 60 000 nested groups (SIGSEGV in GMime before) is refused "
                        "before GMime sees it; 100 groups pass, 101 do not");
        /* issue 10's message: 180 KB of To:, larger than one field may be */
        g_assert_cmpuint (attack->len, >, 170000);
        e1 = scan (attack->str, attack->len, NULL, &st);
        g_assert_cmpstr (e1, ==, "header field larger than 102400 bytes");
        /* the same nesting, 30 000 deep, in 90 KB */
        for (guint i = 0; i < 30000; i++)
                g_string_append (compact, "g:");
        g_string_append (compact, "a@x");
        for (guint i = 0; i < 30000; i++)
                g_string_append_c (compact, ';');
        g_string_append (compact, "\r\n\r\nbody\r\n");
        e2 = scan (compact->str, compact->len, NULL, NULL);
        g_assert_cmpstr (e2, ==, "more than 100 address groups in one header");
        e3 = scan (at_limit->str, at_limit->len, NULL, &st);
        g_assert_null (e3);
        g_assert_cmpuint (st.address_groups, ==, 100);
        e4 = scan (past_limit->str, past_limit->len, NULL, NULL);
        g_assert_cmpstr (e4, ==, "more than 100 address groups in one header");
}

static void
test_groups_quoted (void)
{
        GSmtpMimeStats st;
        g_autofree char *error = scan_str ("From: a@x\r\nTo: \"a:b\" <a@x>, (c:d) b@x, g: c@x;\r\n\r\nx\r\n", &st);

        g_test_summary ("Every ':' of an address header counts as a group, quoted or not: after "
                        "an error GMime resumes inside quotes");
        g_assert_null (error);
        g_assert_cmpuint (st.address_groups, ==, 3);
}

static void
test_many_parts (void)
{
        g_autoptr(GString) at_limit = hostile_empty_parts (GSMTP_DEFAULT_MAX_MIME_PARTS - 1);
        g_autoptr(GString) past_limit = hostile_empty_parts (GSMTP_DEFAULT_MAX_MIME_PARTS);
        g_autofree char *e1 = NULL, *e2 = NULL;
        GSmtpMimeStats st;

        g_test_summary ("The message and 999 parts are 1000 parts; one more is refused");
        e1 = scan (at_limit->str, at_limit->len, NULL, &st);
        g_assert_null (e1);
        g_assert_cmpuint (st.parts, ==, 1000);
        e2 = scan (past_limit->str, past_limit->len, NULL, &st);
        g_assert_cmpstr (e2, ==, "more than 1000 MIME parts");
}

static void
test_empty_parts_10mb (void)
{
        g_autoptr(GString) attack = hostile_empty_parts (1400000);
        g_autofree char *error = NULL;
        GSmtpMimeStats st;

        g_test_bug ("10");
        g_test_summary ("1.4 million empty parts in 10 MB (15 s and 2 GB in GMime before) stop "
                        "the scan at the 1001st part");
        g_assert_cmpuint (attack->len, >, 9 * 1000 * 1000);
        error = scan (attack->str, attack->len, NULL, &st);
        g_assert_cmpstr (error, ==, "more than 1000 MIME parts");
        g_assert_cmpuint (st.parts, ==, 1001);
}

static void
test_boundary_runs (void)
{
        g_autoptr(GString) s = g_string_new ("From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        g_autofree char *error = NULL;
        GSmtpMimeStats st;

        g_test_summary ("Boundary lines with nothing between make no parts in GMime, so none here");
        for (guint i = 0; i < 5000; i++)
                g_string_append (s, "--b\r\n");
        g_string_append (s, "--b--\r\n");
        error = scan (s->str, s->len, NULL, &st);
        g_assert_null (error);
        g_assert_cmpuint (st.parts, ==, 1);
}

static GString *
closed_multiparts (guint n)
{
        return hostile_nested_multiparts (n, TRUE);
}

/* A way to nest @n levels deep, and what the test says of it */
typedef struct {
        GString    *(*nest) (guint n);
        const char *summary;
} DepthCase;

static const DepthCase depth_multipart = {
        closed_multiparts, "100 nested multiparts pass; 101 are refused"
};
static const DepthCase depth_message = {
        hostile_nested_messages, "message/rfc822 parts nest like multiparts: 100 pass, 101 are refused"
};

static void
test_depth (gconstpointer data)
{
        const DepthCase *c = data;
        g_autoptr(GString) at_limit = c->nest (GSMTP_DEFAULT_MAX_MIME_DEPTH);
        g_autoptr(GString) past_limit = c->nest (GSMTP_DEFAULT_MAX_MIME_DEPTH + 1);
        g_autofree char *e1 = NULL, *e2 = NULL;
        GSmtpMimeStats st;

        g_test_summary (c->summary);
        e1 = scan (at_limit->str, at_limit->len, NULL, &st);
        g_assert_null (e1);
        g_assert_cmpuint (st.depth, ==, 100);
        e2 = scan (past_limit->str, past_limit->len, NULL, NULL);
        g_assert_cmpstr (e2, ==, "MIME nesting deeper than 100");
}

static void
test_message_encoded (void)
{
        GSmtpMimeStats st;
        g_autofree char *error = scan_str ("From: a@x\r\nContent-Type: message/rfc822\r\n"
                                           "Content-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUB4DQoNCg==\r\n", &st);

        g_test_summary ("An encoded message/rfc822 part is a leaf to GMime: no nesting");
        g_assert_null (error);
        g_assert_cmpuint (st.depth, ==, 0);
}

static void
test_digest (void)
{
        GSmtpMimeLimits limits;
        GSmtpMimeStats st;
        g_autofree char *error = NULL;
        const char *msg = "From: a@x\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n"
                          "--d\r\n\r\nFrom: b@x\r\n\r\none\r\n--d--\r\n";

        g_test_summary ("A part of a multipart/digest without Content-Type is a message/rfc822 "
                        "and nests");
        gsmtp_mime_limits_init (&limits);
        limits.max_depth = 1;
        error = scan (msg, strlen (msg), &limits, &st);
        g_assert_cmpstr (error, ==, "MIME nesting deeper than 1");
}

static void
test_carried_field (void)
{
        GSmtpMimeStats st;
        /* GMime leaves a field that a boundary interrupts in its header buffer,
         * and the next part's header begins with it: the second part is a
         * multipart with boundary c */
        g_autofree char *error = scan_str ("From: a@b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                                           "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n--b\r\n\r\n"
                                           "--c\r\n\r\nin c\r\n--c--\r\n--b--\r\n", &st);

        g_test_summary ("A header field cut off by a boundary carries into the next part, as in GMime");
        g_assert_null (error);
        g_assert_cmpuint (st.depth, ==, 2);
        g_assert_cmpuint (st.parts, ==, 3);
}

static void
test_rfc2231_boundary (void)
{
        GSmtpMimeLimits limits;
        g_autofree char *error = NULL;
        const char *msg = "From: a@x\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
                          "Content-Type: multipart/mixed;\r\n boundary*0=\"in\"; boundary*1=\"ner\"\r\n\r\n"
                          "--inner\r\n\r\nx\r\n--inner--\r\n--a--\r\n";

        g_test_summary ("The boundary is read by GMime's parameter parser: RFC 2231 continuations count");
        gsmtp_mime_limits_init (&limits);
        limits.max_parts = 2;
        error = scan (msg, strlen (msg), &limits, NULL);
        g_assert_cmpstr (error, ==, "more than 2 MIME parts");
}

static void
test_ambiguous (void)
{
        g_autoptr(GString) s = g_string_new ("From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n");
        g_autofree char *error = NULL;

        g_test_summary ("A line ending in a boundary is one to GMime if its read buffer ends "
                        "there: refused, never guessed");
        g_string_append_len (s, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx--b\r\n", -1);
        g_string_append (s, "--b--\r\n");
        error = scan (s->str, s->len, NULL, NULL);
        g_assert_cmpstr (error, ==, "ambiguous MIME boundary");
}

static void
test_header_size (void)
{
        g_autoptr(GString) s = g_string_new ("From: a@x\r\nX-Big: ");
        g_autofree char *e1 = NULL, *e2 = NULL;

        g_test_summary ("One field with its continuation lines may be 102400 bytes, not one more");
        /* 7 + n*100 + ... : fill with folded lines up to exactly 102400 bytes */
        while (s->len - 11 + 100 <= GSMTP_DEFAULT_MAX_HEADER_SIZE - 2)
                g_string_append (s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n ");
        while (s->len - 11 < GSMTP_DEFAULT_MAX_HEADER_SIZE - 2)
                g_string_append_c (s, 'b');
        g_string_append (s, "\r\n");
        g_assert_cmpuint (s->len - 11, ==, GSMTP_DEFAULT_MAX_HEADER_SIZE);
        g_string_append (s, "\r\nbody\r\n");
        e1 = scan (s->str, s->len, NULL, NULL);
        g_assert_null (e1);
        g_string_insert_c (s, 20, 'c');
        e2 = scan (s->str, s->len, NULL, NULL);
        g_assert_cmpstr (e2, ==, "header field larger than 102400 bytes");
}

static void
test_header_block (void)
{
        g_autoptr(GString) s = g_string_new ("From: a@x\r\n");
        g_autofree char *error = NULL;

        g_test_summary ("The header of the message may hold 1 MiB, in fields of any size");
        while (s->len <= GSMTP_DEFAULT_MAX_HEADER_BLOCK_SIZE)
                g_string_append_printf (s, "X-%06u: %01000u\r\n", (guint) s->len, 0);
        g_string_append (s, "\r\nbody\r\n");
        error = scan (s->str, s->len, NULL, NULL);
        g_assert_cmpstr (error, ==, "header block larger than 1048576 bytes");
}

static void
test_many_headers (void)
{
        g_autoptr(GString) s = g_string_new ("From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        g_autofree char *error = NULL;
        GSmtpMimeStats st;

        g_test_summary ("Header fields count across all parts: 10000 in all");
        /* 2 so far; 999 parts of 10 fields is 9990 more */
        for (guint i = 0; i < 999; i++) {
                g_string_append (s, "--b\r\n");
                for (guint j = 0; j < 10; j++)
                        g_string_append_printf (s, "X-%u: y\r\n", j);
                g_string_append (s, "\r\nx\r\n");
        }
        g_string_append (s, "--b--\r\n");
        error = scan (s->str, s->len, NULL, &st);
        g_assert_null (error);
        g_assert_cmpuint (st.headers, ==, 9992);
        g_string_insert (s, 11, "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\n");
        g_clear_pointer (&error, g_free);
        error = scan (s->str, s->len, NULL, &st);
        g_assert_cmpstr (error, ==, "more than 10000 header fields");
}

static void
test_address_tokens (void)
{
        g_autoptr(GString) s = g_string_new ("From: a@x\r\nTo: ");
        g_autofree char *e1 = NULL, *e2 = NULL;
        GSmtpMimeStats st;

        g_test_summary ("Address tokens count over all address headers; commas of quoted "
                        "names too (GMime may rescan from each)");
        /* From: 2; To: 1 + 4 per address */
        for (guint i = 0; i < 1023; i++)
                g_string_append (s, "\"Doe, J\" <j@x>");
        g_string_append (s, "\r\n\r\nbody\r\n");
        e1 = scan (s->str, s->len, NULL, &st);
        g_assert_null (e1);
        g_assert_cmpuint (st.address_tokens, ==, 2 + 1 + 4 * 1023);
        g_string_insert (s, 11, "Cc: <c@x>, a@x\r\n");
        e2 = scan (s->str, s->len, NULL, &st);
        g_assert_cmpstr (e2, ==, "more than 4096 address tokens");
}

static void
test_every_prefix (void)
{
        const char *msg = "From: a@x\r\nTo: g: b@x;\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                          "pre\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@x\r\n"
                          "Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\ntext\r\n"
                          "--c--\r\n--b\r\nContent-Type: text/plain\r\n\r\nlast\r\n--b--\r\nepilogue";

        g_test_summary ("Every prefix of a message, and every message cut anywhere, scans "
                        "without reading past its end (exact-size buffers under ASan)");
        for (gsize len = 0; len <= strlen (msg); len++) {
                g_autofree char *error = scan (msg, len, NULL, NULL);

                g_assert_null (error);
        }
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        g_test_bug_base ("issue ");
        g_test_add_func ("/mime-limits/plain", test_plain);
        g_test_add_func ("/mime-limits/groups/nested", test_nested_groups);
        g_test_add_func ("/mime-limits/groups/quoted", test_groups_quoted);
        g_test_add_func ("/mime-limits/parts/many", test_many_parts);
        g_test_add_func ("/mime-limits/parts/empty-10mb", test_empty_parts_10mb);
        g_test_add_func ("/mime-limits/parts/boundary-runs", test_boundary_runs);
        g_test_add_data_func ("/mime-limits/depth/multipart", &depth_multipart, test_depth);
        g_test_add_data_func ("/mime-limits/depth/message", &depth_message, test_depth);
        g_test_add_func ("/mime-limits/depth/message-encoded", test_message_encoded);
        g_test_add_func ("/mime-limits/depth/digest", test_digest);
        g_test_add_func ("/mime-limits/gmime/carried-field", test_carried_field);
        g_test_add_func ("/mime-limits/gmime/rfc2231-boundary", test_rfc2231_boundary);
        g_test_add_func ("/mime-limits/gmime/ambiguous", test_ambiguous);
        g_test_add_func ("/mime-limits/header/size", test_header_size);
        g_test_add_func ("/mime-limits/header/block", test_header_block);
        g_test_add_func ("/mime-limits/header/count", test_many_headers);
        g_test_add_func ("/mime-limits/address-tokens", test_address_tokens);
        g_test_add_func ("/mime-limits/every-prefix", test_every_prefix);
        return g_test_run ();
}

/* test-parsers.c — the pure pieces: replies, addresses, command lines, SASL, DATA bytes. */
#include "config.h"
#include "gsmtp-private.h"
#include "gsmtp-address.h"
#include "gsmtp-command.h"
#include "gsmtp-sasl.h"
#include "gsmtp-data-reader.h"
#include "gsmtp-proxy.h"
#include "gsmtp-xtext.h"
#include "gsmtp-esmtp-params.h"

#include <stdarg.h>
#include <string.h>

static char *
format (GSmtpReply *reply, const char *fallback, gboolean enhanced)
{
        GString *out = g_string_new (NULL);

        gsmtp_reply_format (reply, fallback, enhanced, out);
        g_smtp_reply_unref (reply);
        return g_string_free (out, FALSE);
}

static void
test_reply (void)
{
        const char *lines[] = { "first", "second\r\n550 fake", NULL };
        g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        g_autoptr(GSmtpReply) parsed = NULL;
        g_autoptr(GError) error = NULL;

        g_test_summary ("Replies: defaults, neutralised text, multi-line, enhanced codes, parsing");
        a = format (g_smtp_reply_new_code (550), "5.1.1", TRUE);
        g_assert_cmpstr (a, ==, "550 5.1.1 Requested action not taken: mailbox unavailable\r\n");
        b = format (g_smtp_reply_new (250, "2.0.0", "ok\r\nRCPT TO:<x>\x01\xc3\xa9"), NULL, TRUE);
        g_assert_cmpstr (b, ==, "250 2.0.0 ok  RCPT TO:<x> ??\r\n");
        c = format (g_smtp_reply_new_lines (250, NULL, lines), NULL, FALSE);
        g_assert_cmpstr (c, ==, "250-first\r\n250 second  550 fake\r\n");
        g_test_expect_message ("gsmtp", G_LOG_LEVEL_WARNING, "*does not fit*");
        d = format (g_smtp_reply_new (450, "5.1.1", "wrong class"), "4.0.0", TRUE);
        g_test_assert_expected_messages ();
        g_assert_cmpstr (d, ==, "450 4.0.0 wrong class\r\n");

        parsed = g_smtp_reply_parse ("250-mx hello\r\n250-PIPELINING\r\n250 SIZE 100\r\n", -1, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (g_smtp_reply_get_code (parsed), ==, 250);
        g_assert_cmpstr (g_smtp_reply_get_lines (parsed)[2], ==, "SIZE 100");
        g_clear_pointer (&parsed, g_smtp_reply_unref);
        parsed = g_smtp_reply_parse ("550 5.7.1 Relay access denied\r\n", -1, &error);
        g_assert_cmpstr (g_smtp_reply_get_enhanced_code (parsed), ==, "5.7.1");
        g_assert_cmpstr (g_smtp_reply_get_text (parsed), ==, "Relay access denied");
        g_assert_null (g_smtp_reply_parse ("25x nope\r\n", -1, &error));
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL);
        g_clear_error (&error);
        g_assert_null (g_smtp_reply_parse ("250-a\r\n251 b\r\n", -1, &error));
        g_assert_error (error, GSMTP_ERROR, GSMTP_ERROR_PROTOCOL);
}

static void
test_address (void)
{
        static const char *const good[] = {
                "a@example.org", "first.last@sub.example.org", "\"quoted name\"@example.org",
                "x+tag@[127.0.0.1]", "u@[IPv6:::1]", "o'neil@example.org", "a@b-c.d",
        };
        static const char *const bad[] = {
                "", "noat", "@example.org", "a@", "a..b@example.org", ".a@example.org",
                "a.@example.org", "a@-bad.org", "a@bad-.org", "a@exa mple.org", "a b@example.org",
                "a@[300.1.1.1]", "a@[IPv6:zz]", "\"unterminated@example.org",
                "a@example..org",
        };
        g_autofree char *local = NULL, *domain = NULL;
        g_autofree char *longlocal = g_strnfill (65, 'a');
        g_autofree char *toolong = g_strconcat (longlocal, "@example.org", NULL);

        g_test_summary ("RFC 5321 mailboxes: what must parse and what must not; domain matching");
        for (guint i = 0; i < G_N_ELEMENTS (good); i++)
                if (!gsmtp_address_parse (good[i], NULL, NULL))
                        g_error ("should parse: %s", good[i]);
        for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
                if (gsmtp_address_parse (bad[i], NULL, NULL))
                        g_error ("should not parse: %s", bad[i]);
        g_assert_false (gsmtp_address_parse (toolong, NULL, NULL));
        g_assert_true (gsmtp_address_parse ("Mixed.Case@Example.ORG", &local, &domain));
        g_assert_cmpstr (local, ==, "Mixed.Case");
        g_assert_cmpstr (domain, ==, "Example.ORG");

        g_assert_true (gsmtp_domain_matches ("*", "anything.test"));
        g_assert_true (gsmtp_domain_matches ("example.org", "EXAMPLE.org"));
        g_assert_true (gsmtp_domain_matches ("*.example.org", "a.b.example.org"));
        g_assert_false (gsmtp_domain_matches ("*.example.org", "example.org"));
        g_assert_false (gsmtp_domain_matches ("*.example.org", "badexample.org"));
        g_assert_false (gsmtp_domain_matches ("example.org", "example.org.evil"));
        g_assert_true (gsmtp_domain_pattern_is_valid ("*.x.org"));
        g_assert_false (gsmtp_domain_pattern_is_valid ("x.*.org"));
}

/* RFC 6531 3.3: UTF-8 in local parts and U-label domains parse (whether a
 * transaction may use them is the session's question); nothing malformed
 * does. */
static void
test_address_utf8 (void)
{
        static const char *const good[] = {
                "\xc3\xa9@example.org",                       /* é@ */
                "j\xc3\xb6rg.m\xc3\xbc" "ller@b\xc3\xbc" "cher.example", /* jörg.müller@bücher */
                "\"\xe7\x94\xa8 \xe6\x88\xb7\"@example.org",      /* quoted, with a space */
                "\xf0\x9f\x98\x80@example.org",               /* U+1F600, four bytes */
                "a@B\xc3\x9c" "CHER.example",                /* upper case U-label */
                "a@xn--bcher-kva.example",                      /* the A-label */
                "a@stra\xc3\x9f" "e.de",                      /* ß is kept (xn--strae-oqa) */
        };
        static const char *const bad[] = {
                "\xff@example.org",                            /* not UTF-8 */
                "\xc0\xaf@example.org",                         /* overlong "/" */
                "\xe0\x80\xaf@example.org",                     /* overlong, three bytes */
                "\xed\xa0\x80@example.org",                     /* a surrogate */
                "\xf4\x90\x80\x80@example.org",                 /* past U+10FFFF */
                "\xc2\x85@example.org",                         /* C1 control NEL */
                "a\xc3@example.org",                           /* truncated */
                "\"\xc3\"@example.org",                        /* truncated in quotes */
                "a@b\xc3\xbc" "cher\xe3\x80\x82" "example",        /* U+3002 as a dot */
                "a@e\xcc\x81.example",                         /* not NFC (e + U+0301) */
                "a@\xef\xac\x81.example",                      /* ligature fi: IDNA maps it */
                "a@a\xe2\x80\x8d" "b.example",                  /* ZWJ: IDNA drops it */
                "a@b\xc3\xbc_cher.example",                    /* not LDH */
                "a@\xc2\xa0.example",                          /* NBSP */
        };
        g_autofree char *local = NULL, *domain = NULL, *k1 = NULL, *k2 = NULL;
        g_autoptr(GString) octets = g_string_new (NULL);
        g_autoptr(GString) label = g_string_new ("a@");

        g_test_summary ("RFC 6531 addresses: UTF-8 local parts and U-labels; malformed UTF-8, "
                        "controls and spellings IDNA would change are refused; limits in octets");
        for (guint i = 0; i < G_N_ELEMENTS (good); i++)
                if (!gsmtp_address_parse (good[i], NULL, NULL))
                        g_error ("should parse: %s", good[i]);
        for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
                if (gsmtp_address_parse (bad[i], NULL, NULL))
                        g_error ("should not parse: %s", bad[i]);
        /* RFC 5321 4.5.3.1.1: 64 octets, not characters: 32 "é" fit, 33 not */
        for (guint i = 0; i < 32; i++)
                g_string_append (octets, "\xc3\xa9");
        g_string_append (octets, "@example.org");
        g_assert_true (gsmtp_address_parse (octets->str, NULL, NULL));
        g_string_prepend (octets, "\xc3\xa9");
        g_assert_false (gsmtp_address_parse (octets->str, NULL, NULL));
        /* the 63-octet label limit applies to the A-label: 40 "ü" are 80
         * octets of UTF-8 but xn--tdaaaa... is 52; 63 of them are not */
        for (guint i = 0; i < 40; i++)
                g_string_append (label, "\xc3\xbc");
        g_string_append (label, ".example");
        g_assert_true (gsmtp_address_parse (label->str, NULL, NULL));
        g_string_insert (label, 2, "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                                   "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                                   "\xc3\xbc\xc3\xbc\xc3\xbc");
        g_assert_false (gsmtp_address_parse (label->str, NULL, NULL));

        g_assert_true (gsmtp_address_parse ("J\xc3\xb6rg@B\xc3\xbc" "cher.example", &local, &domain));
        g_assert_cmpstr (local, ==, "J\xc3\xb6rg");         /* as sent: no normalization */
        g_assert_cmpstr (domain, ==, "B\xc3\xbc" "cher.example");

        /* U-labels and A-labels name one domain, in any case */
        g_assert_true (gsmtp_domain_matches ("b\xc3\xbc" "cher.example", "xn--bcher-kva.example"));
        g_assert_true (gsmtp_domain_matches ("xn--bcher-kva.example", "B\xc3\x9c" "CHER.example"));
        g_assert_true (gsmtp_domain_matches ("XN--BCHER-KVA.EXAMPLE", "b\xc3\xbc" "cher.example"));
        g_assert_true (gsmtp_domain_matches ("*.b\xc3\xbc" "cher.example", "mx.xn--bcher-kva.example"));
        g_assert_true (gsmtp_domain_matches ("*.xn--bcher-kva.example", "mx.b\xc3\xbc" "cher.example"));
        g_assert_false (gsmtp_domain_matches ("*.b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example"));
        g_assert_false (gsmtp_domain_matches ("b\xc3\xbc" "cher.example", "bucher.example"));
        g_assert_false (gsmtp_domain_matches ("stra\xc3\x9f" "e.de", "strasse.de"));
        g_assert_false (gsmtp_domain_matches ("b\xc3\xbc" "cher.example", "\xff.example"));
        g_assert_true (gsmtp_domain_pattern_is_valid ("*.b\xc3\xbc" "cher.example"));
        /* the same mailbox through either form is one recipient */
        k1 = gsmtp_address_mailbox_key ("j\xc3\xb6rg@b\xc3\xbc" "cher.example");
        k2 = gsmtp_address_mailbox_key ("j\xc3\xb6rg@XN--BCHER-KVA.example");
        g_assert_cmpstr (k1, ==, k2);
        g_assert_cmpuint (gsmtp_utf8_char_len ("\xc3"), ==, 0);
        g_assert_cmpuint (gsmtp_utf8_char_len ("\xe2\x82\xac"), ==, 3);
}

/* RFC 3461 4: xtext; RFC 6533 3: the utf-8 address forms */
static void
test_xtext (void)
{
        static const struct {
                const char *in, *out;
        } xtext[] = {
                { "abc", "abc" }, { "a+2Bb", "a+b" }, { "a+2bb", "a+b" }, { "+20+7E", " ~" },
                { "", "" }, { "+", NULL }, { "+2", NULL }, { "+2G", NULL }, { "+00", NULL },
                { "a=b", NULL }, { "a b", NULL }, { "\xc3\xa9", NULL }, { "\x7f", NULL },
        }, utf8[] = {
                { "bob@example.org", "bob@example.org" },
                { "j\\x{F6}rg@example.org", "j\xc3\xb6rg@example.org" },
                { "j\\x{f6}rg@\\x{1F600}.example", "j\xc3\xb6rg@\xf0\x9f\x98\x80.example" },
                { "j\xc3\xb6rg@example.org", "j\xc3\xb6rg@example.org" },  /* unitext */
                { "a\\x{2B}b", "a+b" }, { "", NULL }, { "a+b", NULL }, { "a=b", NULL },
                { "\\x{}", NULL }, { "\\x{D800}", NULL }, { "\\x{110000}", NULL }, { "\\x{0}", NULL },
                { "\\x{1234567}", NULL }, { "\\x41", NULL }, { "\\", NULL }, { "\xc0\xaf", NULL },
                { "\\x{41", NULL }, { "a b", NULL },
        };

        g_test_summary ("xtext decodes \"+XX\" and refuses the malformed; RFC 6533 \\x{...} too");
        for (guint i = 0; i < G_N_ELEMENTS (xtext); i++) {
                g_autofree char *got = gsmtp_xtext_decode (xtext[i].in);

                if (g_strcmp0 (got, xtext[i].out) != 0)
                        g_error ("xtext \"%s\": got \"%s\"", xtext[i].in, got ? got : "(null)");
        }
        for (guint i = 0; i < G_N_ELEMENTS (utf8); i++) {
                g_autofree char *got = gsmtp_utf8_addr_decode (utf8[i].in);

                if (g_strcmp0 (got, utf8[i].out) != 0)
                        g_error ("utf-8 addr \"%s\": got \"%s\"", utf8[i].in, got ? got : "(null)");
        }
}

static GHashTable *
params_of (const char *line)
{
        g_autofree char *path = NULL;
        GHashTable *params = NULL;

        g_assert_cmpint (gsmtp_command_parse_path (line, "TO:", FALSE, &path, &params), ==, GSMTP_PATH_OK);
        return params;
}

/* the reply to a parameter list: "" when accepted, else "code enhanced" */
static char *
mail_verdict (const char *line, gboolean tls, GSmtpMailParams *out)
{
        g_autoptr(GHashTable) params = params_of (line);
        g_autoptr(GSmtpReply) refusal = gsmtp_esmtp_parse_mail (params, tls, out);

        if (refusal == NULL)
                return g_strdup ("");
        return g_strdup_printf ("%u %s", g_smtp_reply_get_code (refusal), g_smtp_reply_get_enhanced_code (refusal));
}

static char *
rcpt_verdict (const char *line, gboolean smtputf8, GSmtpRcptParams *out)
{
        g_autoptr(GHashTable) params = params_of (line);
        g_autoptr(GSmtpReply) refusal = gsmtp_esmtp_parse_rcpt (params, smtputf8, out);

        if (refusal == NULL)
                return g_strdup ("");
        return g_strdup_printf ("%u %s", g_smtp_reply_get_code (refusal), g_smtp_reply_get_enhanced_code (refusal));
}

static void
test_esmtp_params (void)
{
        static const struct {
                const char *line;
                gboolean    tls;
                const char *verdict;
        } mail[] = {
                { "TO:<a@b.c> SMTPUTF8", FALSE, "" },
                { "TO:<a@b.c> SMTPUTF8=yes", FALSE, "501 5.5.4" },
                { "TO:<a@b.c> REQUIRETLS", TRUE, "" },
                { "TO:<a@b.c> REQUIRETLS", FALSE, "530 5.7.0" },     /* RFC 8689 2 */
                { "TO:<a@b.c> REQUIRETLS=1", TRUE, "501 5.5.4" },
                { "TO:<a@b.c> RET=FULL", FALSE, "" },
                { "TO:<a@b.c> ret=hdrs", FALSE, "" },
                { "TO:<a@b.c> RET", FALSE, "501 5.5.4" },
                { "TO:<a@b.c> RET=BODY", FALSE, "501 5.5.4" },
                { "TO:<a@b.c> ENVID=QQ314159", FALSE, "" },
                { "TO:<a@b.c> ENVID", FALSE, "501 5.5.4" },
                { "TO:<a@b.c> ENVID=a+2", FALSE, "501 5.5.4" },        /* bad xtext */
                { "TO:<a@b.c> ENVID=a+0Ab", FALSE, "501 5.5.4" },      /* a LF, decoded */
                { "TO:<a@b.c> ENVID=\xc3\xa9", FALSE, "501 5.5.4" },   /* UTF-8 without SMTPUTF8 */
                { "TO:<a@b.c> ENVID=\xc3\xa9 SMTPUTF8", FALSE, "501 5.5.4" }, /* xtext is ASCII */
                { "TO:<a@b.c> AUTH=\xc3\xa9", FALSE, "501 5.5.4" },
        };
        static const struct {
                const char *line;
                gboolean    smtputf8;
                const char *verdict;
                GSmtpDsnNotify notify;
                const char *orcpt;
        } rcpt[] = {
                { "TO:<a@b.c>", FALSE, "", 0, NULL },
                { "TO:<a@b.c> NOTIFY=NEVER", FALSE, "", GSMTP_DSN_NOTIFY_NEVER, NULL },
                { "TO:<a@b.c> NOTIFY=success,Delay", FALSE, "", GSMTP_DSN_NOTIFY_SUCCESS | GSMTP_DSN_NOTIFY_DELAY, NULL },
                { "TO:<a@b.c> NOTIFY=SUCCESS,FAILURE,DELAY", FALSE, "",
                  GSMTP_DSN_NOTIFY_SUCCESS | GSMTP_DSN_NOTIFY_FAILURE | GSMTP_DSN_NOTIFY_DELAY, NULL },
                { "TO:<a@b.c> NOTIFY=NEVER,SUCCESS", FALSE, "501 5.5.4", 0, NULL },   /* RFC 3461 4.1 */
                { "TO:<a@b.c> NOTIFY=FAILURE,NEVER", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> NOTIFY=SUCCESS,", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> NOTIFY=,", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> NOTIFY=SOMETIMES", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> NOTIFY", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> ORCPT=rfc822;a@b.c", FALSE, "", 0, "rfc822;a@b.c" },
                { "TO:<a@b.c> ORCPT=RFC822;a+2Bx@b.c", FALSE, "", 0, "rfc822;a+x@b.c" },
                { "TO:<a@b.c> ORCPT=x-local;joe", FALSE, "", 0, "x-local;joe" },
                { "TO:<a@b.c> ORCPT=rfc822;a+20b", FALSE, "", 0, "rfc822;a b" },
                { "TO:<a@b.c> ORCPT=rfc822;", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> ORCPT=;a@b.c", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> ORCPT=a@b.c", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> ORCPT=rfc822;a+0Db", FALSE, "501 5.5.4", 0, NULL },     /* CR decoded */
                { "TO:<a@b.c> ORCPT=rfc822;a+C3+A9", FALSE, "501 5.5.4", 0, NULL },   /* not ASCII */
                { "TO:<a@b.c> ORCPT=r(c;a", FALSE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> ORCPT=utf-8;j\\x{F6}rg@b.c", FALSE, "", 0, "utf-8;j\xc3\xb6rg@b.c" },
                { "TO:<a@b.c> ORCPT=utf-8;j\xc3\xb6rg@b.c", FALSE, "501 5.5.4", 0, NULL },  /* unitext needs SMTPUTF8 */
                { "TO:<a@b.c> ORCPT=utf-8;j\xc3\xb6rg@b.c", TRUE, "", 0, "utf-8;j\xc3\xb6rg@b.c" },
                { "TO:<a@b.c> ORCPT=utf-8;a\\x{85}b", TRUE, "501 5.5.4", 0, NULL },  /* C1 via an escape */
                { "TO:<a@b.c> ORCPT=utf-8;a\\x{7F}b", TRUE, "501 5.5.4", 0, NULL },
                { "TO:<a@b.c> NOTIFY=DELAY ORCPT=rfc822;x@y.z", FALSE, "", GSMTP_DSN_NOTIFY_DELAY, "rfc822;x@y.z" },
                { "TO:<a@b.c> FOO=bar", FALSE, "555 5.5.4", 0, NULL },
                { "TO:<a@b.c> SMTPUTF8", TRUE, "555 5.5.4", 0, NULL },        /* a MAIL parameter */
        };
        g_autofree char *envid_max = g_strnfill (GSMTP_ENVID_MAX, 'e');
        g_autofree char *orcpt_tail = g_strnfill (GSMTP_ORCPT_MAX - strlen ("rfc822;"), 'o');

        g_test_summary ("MAIL and RCPT parameters of SMTPUTF8, DSN, REQUIRETLS: meaning, 501 for "
                        "malformed values, 555 for unknown ones, 530 for REQUIRETLS without TLS");
        for (guint i = 0; i < G_N_ELEMENTS (mail); i++) {
                g_auto(GSmtpMailParams) out = { 0 };
                g_autofree char *got = mail_verdict (mail[i].line, mail[i].tls, &out);

                if (!g_str_equal (got, mail[i].verdict))
                        g_error ("MAIL %s: want \"%s\", got \"%s\"", mail[i].line, mail[i].verdict, got);
        }
        for (guint i = 0; i < G_N_ELEMENTS (rcpt); i++) {
                g_auto(GSmtpRcptParams) out = { 0 };
                g_autofree char *got = rcpt_verdict (rcpt[i].line, rcpt[i].smtputf8, &out);

                if (!g_str_equal (got, rcpt[i].verdict))
                        g_error ("RCPT %s: want \"%s\", got \"%s\"", rcpt[i].line, rcpt[i].verdict, got);
                if (got[0] == '\0') {
                        g_assert_cmpuint (out.notify, ==, rcpt[i].notify);
                        g_assert_cmpstr (out.orcpt, ==, rcpt[i].orcpt);
                }
        }
        {
                g_auto(GSmtpMailParams) out = { 0 };
                g_autofree char *line = g_strconcat ("TO:<a@b.c> SMTPUTF8 REQUIRETLS RET=HDRS ENVID=a+2Bb", NULL);
                g_autofree char *got = mail_verdict (line, TRUE, &out);

                g_assert_cmpstr (got, ==, "");
                g_assert_true (out.smtputf8);
                g_assert_true (out.requiretls);
                g_assert_cmpint (out.ret, ==, GSMTP_DSN_RET_HDRS);
                g_assert_cmpstr (out.envid, ==, "a+b");
        }
        {
                /* RFC 3461 4: ENVID at most 100 characters, ORCPT 500 */
                g_auto(GSmtpMailParams) out = { 0 };
                g_auto(GSmtpRcptParams) rout = { 0 };
                g_autofree char *ok = g_strconcat ("TO:<a@b.c> ENVID=", envid_max, NULL);
                g_autofree char *over = g_strconcat (ok, "e", NULL);
                g_autofree char *rok = g_strconcat ("TO:<a@b.c> ORCPT=rfc822;", orcpt_tail, NULL);
                g_autofree char *rover = g_strconcat (rok, "o", NULL);
                g_autofree char *a = mail_verdict (ok, FALSE, &out);
                g_autofree char *b = NULL, *c = NULL, *d = NULL;

                g_assert_cmpstr (a, ==, "");
                gsmtp_mail_params_clear (&out);
                b = mail_verdict (over, FALSE, &out);
                g_assert_cmpstr (b, ==, "501 5.5.4");
                c = rcpt_verdict (rok, FALSE, &rout);
                g_assert_cmpstr (c, ==, "");
                gsmtp_rcpt_params_clear (&rout);
                d = rcpt_verdict (rover, FALSE, &rout);
                g_assert_cmpstr (d, ==, "501 5.5.4");
        }
}

static void
test_command (void)
{
        GSmtpCommand cmd;
        g_autofree char *path = NULL;
        g_autoptr(GHashTable) params = NULL;

        g_test_summary ("Command lines: verbs, paths, ESMTP parameters, HTTP detection");
        g_assert_true (gsmtp_command_split ("mail FROM:<a@b.c>", &cmd));
        g_assert_cmpstr (cmd.verb, ==, "MAIL");
        g_assert_cmpstr (cmd.args, ==, "FROM:<a@b.c>");
        g_assert_true (gsmtp_command_split ("QUIT", &cmd));
        g_assert_false (gsmtp_command_split ("MAIL\tFROM", &cmd));
        g_assert_false (gsmtp_command_split ("", &cmd));
        g_assert_false (gsmtp_command_split ("ABCDEFGHIJKLMNOPQRSTUVWXYZ x", &cmd));

        g_assert_cmpint (gsmtp_command_parse_path ("FROM:<a@b.c> SIZE=10 body=8BITMIME", "FROM:", TRUE,
                                                   &path, &params), ==, GSMTP_PATH_OK);
        g_assert_cmpstr (path, ==, "a@b.c");
        g_assert_cmpstr (g_hash_table_lookup (params, "SIZE"), ==, "10");
        g_assert_cmpstr (g_hash_table_lookup (params, "BODY"), ==, "8BITMIME");
        g_clear_pointer (&path, g_free);
        g_clear_pointer (&params, g_hash_table_unref);
        g_assert_cmpint (gsmtp_command_parse_path ("FROM:<>", "FROM:", TRUE, &path, &params), ==, GSMTP_PATH_OK);
        g_assert_cmpstr (path, ==, "");
        g_clear_pointer (&path, g_free);
        g_clear_pointer (&params, g_hash_table_unref);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<>", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_BAD_ADDRESS);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:a@b.c", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_SYNTAX);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<a@b.c>x", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_SYNTAX);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<a@b.c> =x", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_BAD_PARAMETER);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<a@b.c> A=1 a=2", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_BAD_PARAMETER);
        g_assert_cmpint (gsmtp_command_parse_path ("TO:<\"a>b\"@b.c>", "TO:", FALSE, &path, &params), ==, GSMTP_PATH_OK);
        g_assert_cmpstr (path, ==, "\"a>b\"@b.c");
        g_assert_true (gsmtp_command_is_http ("GET / HTTP/1.1"));
        g_assert_true (gsmtp_command_is_http ("CONNECT mx:25 HTTP/1.0"));
        g_assert_false (gsmtp_command_is_http ("GETX"));
}

static void
test_sasl (void)
{
        g_autofree char *user = NULL, *pass = NULL, *enc = NULL, *text = NULL;

        g_test_summary ("SASL PLAIN/LOGIN decoding is strict; encoding round-trips");
        enc = gsmtp_sasl_encode_plain ("user", "pa ss");
        g_assert_true (gsmtp_sasl_decode_plain (enc, &user, &pass));
        g_assert_cmpstr (user, ==, "user");
        g_assert_cmpstr (pass, ==, "pa ss");
        g_clear_pointer (&user, g_free);
        g_clear_pointer (&pass, g_free);
        g_assert_false (gsmtp_sasl_decode_plain ("dXNlcg==", &user, &pass));          /* no NULs */
        g_assert_false (gsmtp_sasl_decode_plain ("AHVzZXI=!", &user, &pass));         /* bad alphabet */
        g_assert_false (gsmtp_sasl_decode_plain ("b3RoZXIAdXNlcgBwdw==", &user, &pass)); /* other authzid */
        g_assert_true (gsmtp_sasl_decode_plain ("dXNlcgB1c2VyAHB3", &user, &pass));   /* same authzid */
        text = gsmtp_sasl_decode_text ("dXNlcg==");
        g_assert_cmpstr (text, ==, "user");
        g_assert_null (gsmtp_sasl_decode_text ("dXN"));
}

static char *
reader_run (const char *wire, gsize chunk, GSmtpBareLinefeed mode, GSmtpDataStatus *status, gsize *consumed)
{
        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (0, 1000, mode, 0);
        g_autoptr(GSmtpEnvelope) env = NULL;
        g_autoptr(GSmtpPeer) peer = gsmtp_peer_new (NULL, NULL);
        gsize len = strlen (wire), pos = 0;
        gboolean done = FALSE;

        while (pos < len && !done)
                pos += gsmtp_data_reader_feed (r, (const guint8 *) wire + pos, MIN (chunk, len - pos), &done);
        *consumed = pos;
        *status = gsmtp_data_reader_get_status (r);
        if (!done || *status != GSMTP_DATA_OK)
                return NULL;
        env = gsmtp_envelope_new (peer, "MAILER-DAEMON@x");
        g_assert_true (gsmtp_data_reader_finish (r, env, NULL));
        if (g_smtp_envelope_get_size (env) == 0)
                return g_strdup ("");
        return g_strndup (g_bytes_get_data (g_smtp_envelope_get_data (env), NULL),
                          g_smtp_envelope_get_size (env));
}

static void
test_data_reader (void)
{
        GSmtpDataStatus status;
        gsize consumed;

        g_test_summary ("DATA: only CRLF.CRLF ends; dot-unstuffing; bare LF/CR normalised or rejected; any chunking");
        for (gsize chunk = 1; chunk <= 64; chunk *= 4) {
                g_autofree char *a = reader_run ("a\r\n..b\r\n.\r\nNEXT", chunk, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed);
                g_autofree char *b = reader_run ("x\n.\ny\r.\rz\r\n.\r\n", chunk, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed);
                g_autofree char *c = reader_run (".\r\n", chunk, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed);
                g_autofree char *d = NULL;

                g_assert_cmpstr (a, ==, "a\r\n.b\r\n");
                g_assert_cmpstr (b, ==, "x\r\n\r\ny\r\n.\r\nz\r\n");
                g_assert_cmpstr (c, ==, "");
                d = reader_run ("x\ny\r\n.\r\n", chunk, GSMTP_BARE_LINEFEED_REJECT, &status, &consumed);
                g_assert_null (d);
                g_assert_cmpint (status, ==, GSMTP_DATA_BARE_LINEFEED);
                g_assert_cmpuint (consumed, ==, 8);
        }
        g_free (reader_run ("a\r\n.\r\nNEXT", 1000, GSMTP_BARE_LINEFEED_NORMALIZE, &status, &consumed));
        g_assert_cmpuint (consumed, ==, 6);
}

static void
test_proxy (void)
{
        static const struct {
                const char *header;
                GSmtpProxyStatus status;
                const char *host;       /* NULL: the socket's address stays */
                guint port;
        } cases[] = {
                { "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n", GSMTP_PROXY_OK, "192.0.2.7", 56324 },
                { "PROXY TCP6 2001:db8::1 2001:db8::2 4000 25\r\n", GSMTP_PROXY_OK, "2001:db8::1", 4000 },
                { "PROXY UNKNOWN\r\n", GSMTP_PROXY_OK, NULL, 0 },
                { "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", GSMTP_PROXY_OK, NULL, 0 },
                { "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25", GSMTP_PROXY_NEED_MORE, NULL, 0 },
                { "PRO", GSMTP_PROXY_NEED_MORE, NULL, 0 },
                { "", GSMTP_PROXY_NEED_MORE, NULL, 0 },
                { "PROXY TCP4 2001:db8::1 192.0.2.1 1 25\r\n", GSMTP_PROXY_INVALID, NULL, 0 },
                { "PROXY TCP4 192.0.2.1 192.0.2.2 70000 25\r\n", GSMTP_PROXY_INVALID, NULL, 0 },
                { "PROXY TCP4 192.0.2.1 192.0.2.2 1 25\n", GSMTP_PROXY_INVALID, NULL, 0 },
                { "PROXY UDP4 192.0.2.1 192.0.2.2 1 25\r\n", GSMTP_PROXY_INVALID, NULL, 0 },
                { "EHLO not.a.proxy\r\n", GSMTP_PROXY_INVALID, NULL, 0 },
                { "PROXY TCP4 192.0.2.1 192.0.2.2 1 25 and a very long tail that goes on past the 107 bytes "
                  "a v1 header may take at most, so never a header\r\n", GSMTP_PROXY_INVALID, NULL, 0 },
        };

        g_test_summary ("PROXY protocol v1 headers: addresses, UNKNOWN, partial headers wait, the rest is refused");
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                GSmtpProxyHeader h;
                GSmtpProxyStatus status = gsmtp_proxy_parse ((const guint8 *) cases[i].header,
                                                             strlen (cases[i].header), &h);

                g_assert_cmpint (status, ==, cases[i].status);
                if (status != GSMTP_PROXY_OK)
                        continue;
                g_assert_cmpuint (h.length, ==, strlen (cases[i].header));
                if (cases[i].host == NULL) {
                        g_assert_null (h.remote);
                } else {
                        g_autofree char *host = g_inet_address_to_string (
                                g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (h.remote)));

                        g_assert_cmpstr (host, ==, cases[i].host);
                        g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (h.remote)), ==,
                                          cases[i].port);
                }
                gsmtp_proxy_header_clear (&h);
        }
}

/* ---- PROXY v2: headers built byte by byte ---- */

static const guint8 v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static void
v2_fix_length (GByteArray *h)
{
        gsize n = h->len - 16;

        h->data[14] = n >> 8;
        h->data[15] = n & 0xff;
}

/* The fixed part and @block (addresses); the length field follows every append. */
static GByteArray *
v2_new (guint8 ver_cmd, guint8 family, const void *block, gsize block_len)
{
        GByteArray *h = g_byte_array_new ();
        guint8 fixed[4] = { ver_cmd, family, 0, 0 };

        g_byte_array_append (h, v2_sig, sizeof v2_sig);
        g_byte_array_append (h, fixed, sizeof fixed);
        if (block_len > 0)
                g_byte_array_append (h, block, block_len);
        v2_fix_length (h);
        return h;
}

/* TCP over IPv4: 192.0.2.7:56324 to 198.51.100.1:25 */
static GByteArray *
v2_tcp4 (void)
{
        static const guint8 block[12] = { 192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0, 25 };

        return v2_new (0x21, 0x11, block, sizeof block);
}

static gsize
v2_add_tlv (GByteArray *h, guint8 type, const void *value, gsize len)
{
        guint8 tl[3] = { type, len >> 8, len & 0xff };

        g_byte_array_append (h, tl, 3);
        if (len > 0)
                g_byte_array_append (h, value, len);
        v2_fix_length (h);
        return h->len - len;    /* where the value begins */
}

static void
v2_add_str (GByteArray *h, guint8 type, const char *value)
{
        v2_add_tlv (h, type, value, strlen (value));
}

/* An SSL TLV: client bits, verify, then the sub-TLVs already encoded in @subs. */
static void
v2_add_ssl (GByteArray *h, guint8 client, guint32 verify, GByteArray *subs)
{
        g_autoptr(GByteArray) v = g_byte_array_new ();
        guint8 head[5] = { client, verify >> 24, (verify >> 16) & 0xff, (verify >> 8) & 0xff, verify & 0xff };

        g_byte_array_append (v, head, 5);
        if (subs != NULL)
                g_byte_array_append (v, subs->data, subs->len);
        v2_add_tlv (h, 0x20, v->data, v->len);
}

/* Sub-TLVs go in a bare array: its length field is meaningless, so they are
 * appended raw, type and length included. */
static GByteArray *
v2_subs (guint8 type, const char *value, ...)
{
        GByteArray *subs = g_byte_array_new ();
        va_list ap;

        va_start (ap, value);
        while (type != 0) {
                gsize len = strlen (value);
                guint8 tl[3] = { type, len >> 8, len & 0xff };

                g_byte_array_append (subs, tl, 3);
                g_byte_array_append (subs, (const guint8 *) value, len);
                type = (guint8) va_arg (ap, int);
                if (type != 0)
                        value = va_arg (ap, const char *);
        }
        va_end (ap);
        return subs;
}

/* A CRC32C TLV, filled in as 2.2.3 says: over the whole header, the field as zeros. */
static void
v2_add_crc (GByteArray *h)
{
        static const guint8 zeros[4];
        gsize at = v2_add_tlv (h, 0x03, zeros, 4);
        guint32 crc = gsmtp_proxy_crc32c (h->data, h->len);

        h->data[at] = crc >> 24;
        h->data[at + 1] = (crc >> 16) & 0xff;
        h->data[at + 2] = (crc >> 8) & 0xff;
        h->data[at + 3] = crc & 0xff;
}

static GSmtpProxyStatus
v2_parse (GByteArray *h, GSmtpProxyHeader *out)
{
        GSmtpProxyStatus status = gsmtp_proxy_parse (h->data, h->len, out);

        if (status == GSMTP_PROXY_OK)
                g_assert_cmpuint (out->length, ==, h->len);
        return status;
}

static void
assert_inet (GSocketAddress *address, const char *host, guint16 port)
{
        g_autofree char *text = NULL;

        g_assert_true (G_IS_INET_SOCKET_ADDRESS (address));
        text = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
        g_assert_cmpstr (text, ==, host);
        g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)), ==, port);
}

/* The SSL TLV of a client that sent a certificate (client 0x07, verified) */
static void
assert_proxy_tls (const GSmtpProxyHeader *h, const char *version, const char *cipher, const char *cn,
                  const char *sig_alg, const char *key_alg)
{
        g_assert_true (h->has_tls);
        g_assert_cmpuint (h->tls.client, ==, 0x07);
        g_assert_cmpuint (h->tls.verify, ==, 0);
        g_assert_cmpstr (h->tls.version, ==, version);
        g_assert_cmpstr (h->tls.cipher, ==, cipher);
        g_assert_cmpstr (h->tls.cn, ==, cn);
        g_assert_cmpstr (h->tls.sig_alg, ==, sig_alg);
        g_assert_cmpstr (h->tls.key_alg, ==, key_alg);
}

/* Parses @h, which must be refused. */
static void
assert_v2_invalid (GByteArray *h)
{
        GSmtpProxyHeader out;

        g_assert_cmpint (gsmtp_proxy_parse (h->data, h->len, &out), ==, GSMTP_PROXY_INVALID);
        g_assert_null (out.remote);
        g_assert_null (out.authority);
        g_assert_null (out.tls.version);
        g_byte_array_unref (h);
}

static void
test_proxy_v2_commands (void)
{
        static const guint8 tcp6[36] = {
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                0x0f, 0xa0, 0, 25 };
        guint8 unix_block[216] = { 0 };
        GSmtpProxyHeader h;
        GByteArray *a;

        g_test_summary ("PROXY v2 commands and families: TCP4 and TCP6 give the client; LOCAL, UNSPEC and "
                        "UNIX keep the socket's address; UDP, unknown families, versions and commands, and "
                        "blocks shorter than their family are refused");
        a = v2_tcp4 ();
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        g_assert_cmpuint (h.version, ==, 2);
        g_assert_cmpuint (h.length, ==, 28);
        g_assert_false (h.local_command);
        assert_inet (h.remote, "192.0.2.7", 56324);
        assert_inet (h.local, "198.51.100.1", 25);
        g_assert_false (h.has_tls);
        g_assert_false (h.crc32c_checked);
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        a = v2_new (0x21, 0x21, tcp6, sizeof tcp6);
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        assert_inet (h.remote, "2001:db8::1", 4000);
        assert_inet (h.local, "2001:db8::2", 25);
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        /* LOCAL: a health check; HAProxy sends UNSPEC and no block, but the
         * family is ignored and any block skipped (2.2) */
        {
                static const guint8 families[] = { 0x00, 0x11, 0x12, 0xff };

                for (guint i = 0; i < G_N_ELEMENTS (families); i++) {
                        a = v2_new (0x20, families[i], i == 0 ? NULL : tcp6, i == 0 ? 0 : 12);
                        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
                        g_assert_true (h.local_command);
                        g_assert_null (h.remote);
                        g_assert_null (h.local);
                        gsmtp_proxy_header_clear (&h);
                        g_byte_array_unref (a);
                }
        }

        /* PROXY with UNSPEC: no addresses; TLVs right after the fixed part */
        a = v2_new (0x21, 0x00, NULL, 0);
        v2_add_str (a, 0x02, "mx.example.org");
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        g_assert_false (h.local_command);
        g_assert_null (h.remote);
        g_assert_cmpstr (h.authority, ==, "mx.example.org");
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        /* UNIX stream: 216 bytes of paths, the socket's address stays */
        memcpy (unix_block, "/run/client.sock", 16);
        a = v2_new (0x21, 0x31, unix_block, sizeof unix_block);
        v2_add_str (a, 0x02, "after.unix");
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        g_assert_null (h.remote);
        g_assert_cmpstr (h.authority, ==, "after.unix");
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        /* datagrams: SMTP is a stream */
        assert_v2_invalid (v2_new (0x21, 0x12, tcp6, 12));
        assert_v2_invalid (v2_new (0x21, 0x22, tcp6, 36));
        assert_v2_invalid (v2_new (0x21, 0x32, unix_block, 216));
        /* families and protocols outside 2.2's list */
        {
                static const guint8 families[] = { 0x01, 0x02, 0x10, 0x13, 0x23, 0x30, 0x41, 0xf1, 0xff };

                for (guint i = 0; i < G_N_ELEMENTS (families); i++)
                        assert_v2_invalid (v2_new (0x21, families[i], tcp6, 36));
        }
        /* versions other than 2, commands other than LOCAL and PROXY */
        for (guint v = 0; v < 16; v++)
                if (v != 2)
                        assert_v2_invalid (v2_new ((v << 4) | 1, 0x11, tcp6, 12));
        for (guint c = 2; c < 16; c++)
                assert_v2_invalid (v2_new (0x20 | c, 0x11, tcp6, 12));
        /* a block shorter than its family's addresses */
        assert_v2_invalid (v2_new (0x21, 0x11, tcp6, 11));
        assert_v2_invalid (v2_new (0x21, 0x21, tcp6, 12));
        assert_v2_invalid (v2_new (0x21, 0x31, unix_block, 215));
}

static void
test_proxy_v2_tlvs (void)
{
        g_autoptr(GByteArray) subs = NULL;
        GSmtpProxyHeader h;
        GByteArray *a;

        g_test_summary ("PROXY v2 TLVs: the SSL TLV and its sub-TLVs, the authority, skipped types; every "
                        "length nests inside its container; duplicates are refused; unclean text is dropped");
        a = v2_tcp4 ();
        v2_add_tlv (a, 0x04, "pad", 3);                  /* NOOP */
        v2_add_tlv (a, 0x01, "\x04smtp", 5);             /* ALPN */
        v2_add_str (a, 0x02, "mx.example.org");           /* AUTHORITY */
        v2_add_tlv (a, 0x05, "\x01\x02\x03", 3);         /* UNIQUE_ID */
        subs = v2_subs (0x21, "TLSv1.3", 0x23, "TLS_AES_256_GCM_SHA384", 0x22, "client.example",
                        0x24, "RSA-SHA256", 0x25, "RSA2048", 0x26, "unknown subtype", 0);
        v2_add_ssl (a, 0x07, 0, subs);
        v2_add_tlv (a, 0x30, "ns", 2);                   /* NETNS */
        v2_add_tlv (a, 0xe0, "custom", 6);
        v2_add_tlv (a, 0x04, NULL, 0);                   /* an empty TLV, last */
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        assert_inet (h.remote, "192.0.2.7", 56324);
        g_assert_cmpstr (h.authority, ==, "mx.example.org");
        assert_proxy_tls (&h, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "client.example", "RSA-SHA256", "RSA2048");
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        /* the SSL TLV alone, verify non-zero, no sub-TLVs */
        a = v2_tcp4 ();
        v2_add_ssl (a, 0x01, 0x12345678, NULL);
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        g_assert_true (h.has_tls);
        g_assert_cmpuint (h.tls.verify, ==, 0x12345678);
        g_assert_null (h.tls.version);
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        /* a TLV one byte past the end of the header */
        a = v2_tcp4 ();
        v2_add_str (a, 0x02, "mx.example.org");
        a->data[a->len - 15]++;
        assert_v2_invalid (a);
        /* one or two bytes left over: a TLV's own header cut short */
        for (guint k = 1; k <= 2; k++) {
                a = v2_tcp4 ();
                v2_add_str (a, 0x02, "mx.example.org");
                g_byte_array_append (a, (const guint8 *) "\x04\x00", k);
                v2_fix_length (a);
                assert_v2_invalid (a);
        }
        /* an SSL value too short for client and verify */
        a = v2_tcp4 ();
        v2_add_tlv (a, 0x20, "\x01\x00\x00\x00", 4);
        assert_v2_invalid (a);
        /* a sub-TLV past the end of the SSL value, though inside the header */
        a = v2_tcp4 ();
        g_clear_pointer (&subs, g_byte_array_unref);
        subs = v2_subs (0x21, "TLSv1.3", 0);
        subs->data[2]++;
        v2_add_ssl (a, 0x01, 0, subs);
        v2_add_str (a, 0x04, "padding after the SSL TLV");
        assert_v2_invalid (a);
        /* a sub-TLV's header cut short inside the SSL value */
        a = v2_tcp4 ();
        g_clear_pointer (&subs, g_byte_array_unref);
        subs = v2_subs (0x21, "TLSv1.3", 0);
        g_byte_array_append (subs, (const guint8 *) "\x22\x00", 2);
        v2_add_ssl (a, 0x01, 0, subs);
        assert_v2_invalid (a);
        /* duplicates: which one would be true? */
        a = v2_tcp4 ();
        v2_add_str (a, 0x02, "one.example");
        v2_add_str (a, 0x02, "two.example");
        assert_v2_invalid (a);
        a = v2_tcp4 ();
        v2_add_ssl (a, 0x01, 0, NULL);
        v2_add_ssl (a, 0x01, 0, NULL);
        assert_v2_invalid (a);
        a = v2_tcp4 ();
        g_clear_pointer (&subs, g_byte_array_unref);
        subs = v2_subs (0x22, "a.example", 0x22, "b.example", 0);
        v2_add_ssl (a, 0x07, 0, subs);
        assert_v2_invalid (a);
        /* a dropped value still counts: a second one is not taken instead */
        a = v2_tcp4 ();
        g_clear_pointer (&subs, g_byte_array_unref);
        subs = v2_subs (0x21, "TLS v1", 0x21, "TLSv1.3", 0);
        v2_add_ssl (a, 0x01, 0, subs);
        assert_v2_invalid (a);

        /* text that could forge a header line or a Received comment is dropped,
         * and the rest of the header stands */
        {
                static const struct {
                        guint8      type;
                        const char *value;
                        const char *expect;
                } texts[] = {
                        { 0x21, "TLS v1.3", NULL },             /* a space in a token */
                        { 0x21, "TLSv1.3)", NULL },
                        { 0x23, "", NULL },
                        { 0x23, "AES\x01", NULL },
                        { 0x22, "evil\r\nReceived: forged", NULL },
                        { 0x22, "bad \xff utf-8", NULL },
                        { 0x22, "c1 \xc2\x85 control", NULL },
                        { 0x22, "del\x7f", NULL },
                        { 0x22, "Zo\xc3\xab (client)", "Zo\xc3\xab (client)" },
                };

                for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
                        const char *got;

                        a = v2_tcp4 ();
                        g_clear_pointer (&subs, g_byte_array_unref);
                        subs = v2_subs (texts[i].type, texts[i].value, 0);
                        v2_add_ssl (a, 0x01, 0, subs);
                        v2_add_str (a, 0x02, texts[i].value);
                        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
                        got = texts[i].type == 0x21 ? h.tls.version : texts[i].type == 0x23 ? h.tls.cipher
                                                                                              : h.tls.cn;
                        g_assert_cmpstr (got, ==, texts[i].expect);
                        if (texts[i].type == 0x22)
                                g_assert_cmpstr (h.authority, ==, texts[i].expect);
                        gsmtp_proxy_header_clear (&h);
                        g_byte_array_unref (a);
                }
        }
}

static void
test_proxy_v2_crc32c (void)
{
        GSmtpProxyHeader h;
        GByteArray *a;

        g_test_summary ("PROXY v2 CRC32C TLV: checked over the whole header when present; a wrong sum, a "
                        "wrong length or two sums are refused");
        g_assert_cmphex (gsmtp_proxy_crc32c ((const guint8 *) "123456789", 9), ==, 0xe3069283);
        g_assert_cmphex (gsmtp_proxy_crc32c (NULL, 0), ==, 0);

        {
                /* the sum in the middle: the TLVs after it are summed too */
                g_autoptr(GByteArray) b = v2_tcp4 ();
                static const guint8 zeros[4];
                gsize at;
                guint32 crc;

                v2_add_str (b, 0x02, "mx.example.org");
                at = v2_add_tlv (b, 0x03, zeros, 4);
                v2_add_tlv (b, 0x04, "after", 5);
                crc = gsmtp_proxy_crc32c (b->data, b->len);
                b->data[at] = crc >> 24;
                b->data[at + 1] = (crc >> 16) & 0xff;
                b->data[at + 2] = (crc >> 8) & 0xff;
                b->data[at + 3] = crc & 0xff;
                g_assert_cmpint (v2_parse (b, &h), ==, GSMTP_PROXY_OK);
                g_assert_true (h.crc32c_checked);
                g_assert_cmpstr (h.authority, ==, "mx.example.org");
                gsmtp_proxy_header_clear (&h);
                /* every bit of the header counts, the addresses' included */
                for (gsize i = 0; i < b->len; i++) {
                        g_autoptr(GByteArray) c = g_byte_array_new ();

                        if (i >= 12 && i <= 15)
                                continue;       /* the fixed part's own checks come first */
                        g_byte_array_append (c, b->data, b->len);
                        c->data[i] ^= 0x01;
                        g_assert_cmpint (gsmtp_proxy_parse (c->data, c->len, &h), ==, GSMTP_PROXY_INVALID);
                }
        }

        /* a sum of the wrong size, two sums */
        a = v2_tcp4 ();
        v2_add_tlv (a, 0x03, "\x00\x00\x00", 3);
        assert_v2_invalid (a);
        a = v2_tcp4 ();
        v2_add_crc (a);
        v2_add_crc (a);
        assert_v2_invalid (a);
        /* the sum alone, last */
        a = v2_tcp4 ();
        v2_add_crc (a);
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        g_assert_true (h.crc32c_checked);
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);
}

static void
test_proxy_v2_bounds (void)
{
        GSmtpProxyHeader h;
        GByteArray *a;
        g_autofree guint8 *pad = g_malloc0 (GSMTP_PROXY_HEADER_MAX);

        g_test_summary ("PROXY v2 size bound: a header of exactly GSMTP_PROXY_HEADER_MAX bytes is read; one "
                        "byte more is refused as soon as its length field arrives, not waited for");
        a = v2_tcp4 ();
        v2_add_tlv (a, 0x04, pad, GSMTP_PROXY_HEADER_MAX - a->len - 3);
        g_assert_cmpuint (a->len, ==, GSMTP_PROXY_HEADER_MAX);
        g_assert_cmpint (v2_parse (a, &h), ==, GSMTP_PROXY_OK);
        gsmtp_proxy_header_clear (&h);
        g_byte_array_unref (a);

        a = v2_tcp4 ();
        v2_add_tlv (a, 0x04, pad, GSMTP_PROXY_HEADER_MAX - a->len - 2);
        g_assert_cmpuint (a->len, ==, GSMTP_PROXY_HEADER_MAX + 1);
        g_assert_cmpint (gsmtp_proxy_parse (a->data, 16, &h), ==, GSMTP_PROXY_INVALID);
        assert_v2_invalid (a);

        /* the most a length field can claim, with only the fixed part come */
        a = v2_new (0x21, 0x11, NULL, 0);
        a->data[14] = a->data[15] = 0xff;
        assert_v2_invalid (a);
}

/* Every prefix of a header asks for more; with what follows it, the header
 * ends where it ends. */
static void
assert_prefixes_wait (const guint8 *header, gsize len)
{
        g_autoptr(GByteArray) more = g_byte_array_new ();
        GSmtpProxyHeader h;

        for (gsize k = 0; k < len; k++) {
                g_assert_cmpint (gsmtp_proxy_parse (header, k, &h), ==, GSMTP_PROXY_NEED_MORE);
                g_assert_null (h.remote);
        }
        g_byte_array_append (more, header, len);
        g_byte_array_append (more, (const guint8 *) "EHLO client.test\r\n", 18);
        g_assert_cmpint (gsmtp_proxy_parse (more->data, more->len, &h), ==, GSMTP_PROXY_OK);
        g_assert_cmpuint (h.length, ==, len);
        gsmtp_proxy_header_clear (&h);
}

static void
test_proxy_v2_haproxy (void)
{
        /* What HAProxy 2.6 sent with "send-proxy-v2-ssl-cn proxy-v2-options
         * crc32c,authority,unique-id,ssl-cipher,cert-sig,cert-key" for a client
         * that showed a certificate with CN=client.example and SNI
         * mx.example.org (captured on loopback; the CRC32C comes first). */
        static const guint8 captured[] = {
                0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x7f,
                0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01, 0xb7, 0xc6, 0x69, 0x79, 0x03, 0x00, 0x04, 0xa7,
                0xd0, 0xbd, 0xf0, 0x02, 0x00, 0x0e, 0x6d, 0x78, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
                0x2e, 0x6f, 0x72, 0x67, 0x05, 0x00, 0x00, 0x20, 0x00, 0x55, 0x07, 0x00, 0x00, 0x00, 0x00, 0x21,
                0x00, 0x07, 0x54, 0x4c, 0x53, 0x76, 0x31, 0x2e, 0x33, 0x22, 0x00, 0x0e, 0x63, 0x6c, 0x69, 0x65,
                0x6e, 0x74, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x25, 0x00, 0x05, 0x45, 0x43, 0x32,
                0x35, 0x36, 0x24, 0x00, 0x11, 0x65, 0x63, 0x64, 0x73, 0x61, 0x2d, 0x77, 0x69, 0x74, 0x68, 0x2d,
                0x53, 0x48, 0x41, 0x32, 0x35, 0x36, 0x23, 0x00, 0x16, 0x54, 0x4c, 0x53, 0x5f, 0x41, 0x45, 0x53,
                0x5f, 0x32, 0x35, 0x36, 0x5f, 0x47, 0x43, 0x4d, 0x5f, 0x53, 0x48, 0x41, 0x33, 0x38, 0x34,
        };
        /* ...and for its health checks: LOCAL, UNSPEC, nothing more */
        static const guint8 check[] = {
                0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00,
        };
        GSmtpProxyHeader h;

        g_test_summary ("Headers a real HAProxy sent: the SSL TLV with CN, algorithms and cipher, the "
                        "authority, an empty unique id, a CRC32C; and its LOCAL health check");
        g_assert_cmpint (gsmtp_proxy_parse (captured, sizeof captured, &h), ==, GSMTP_PROXY_OK);
        g_assert_cmpuint (h.length, ==, sizeof captured);
        assert_inet (h.remote, "127.0.0.1", 47046);
        assert_inet (h.local, "127.0.0.1", 27001);
        g_assert_true (h.crc32c_checked);
        g_assert_cmpstr (h.authority, ==, "mx.example.org");
        assert_proxy_tls (&h, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "client.example", "ecdsa-with-SHA256",
                          "EC256");
        gsmtp_proxy_header_clear (&h);
        assert_prefixes_wait (captured, sizeof captured);

        g_assert_cmpint (gsmtp_proxy_parse (check, sizeof check, &h), ==, GSMTP_PROXY_OK);
        g_assert_true (h.local_command);
        g_assert_null (h.remote);
        gsmtp_proxy_header_clear (&h);
}

static void
test_proxy_v2_partial (void)
{
        static const char *const v1[] = {
                "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n",
                "PROXY UNKNOWN\r\n",
        };
        g_autoptr(GByteArray) subs = v2_subs (0x21, "TLSv1.2", 0x23, "ECDHE-RSA-AES128-GCM-SHA256", 0);
        GByteArray *headers[3];
        GSmtpProxyHeader h;

        g_test_summary ("PROXY v1 and v2 on one listener: the first byte tells which; a header cut at any "
                        "byte waits for more; a wrong signature byte is refused as soon as it comes");
        headers[0] = v2_tcp4 ();
        headers[1] = v2_new (0x20, 0x00, NULL, 0);
        headers[2] = v2_tcp4 ();
        v2_add_ssl (headers[2], 0x01, 0, subs);
        v2_add_crc (headers[2]);
        for (guint i = 0; i < G_N_ELEMENTS (headers); i++) {
                assert_prefixes_wait (headers[i]->data, headers[i]->len);
                g_byte_array_unref (headers[i]);
        }
        for (guint i = 0; i < G_N_ELEMENTS (v1); i++)
                assert_prefixes_wait ((const guint8 *) v1[i], strlen (v1[i]));

        /* the signature, one wrong byte at each place: refused with the bytes
         * so far, whatever comes after */
        for (gsize i = 0; i < sizeof v2_sig; i++) {
                guint8 bad[sizeof v2_sig];

                memcpy (bad, v2_sig, sizeof bad);
                bad[i] ^= 0x20;
                g_assert_cmpint (gsmtp_proxy_parse (bad, i + 1, &h), ==, GSMTP_PROXY_INVALID);
        }
        /* neither signature */
        g_assert_cmpint (gsmtp_proxy_parse ((const guint8 *) "\r\n\r\nEHLO x\r\n", 12, &h), ==,
                         GSMTP_PROXY_INVALID);
        g_assert_cmpint (gsmtp_proxy_parse ((const guint8 *) "\x16\x03\x01\x02\x00", 5, &h), ==,
                         GSMTP_PROXY_INVALID);     /* a TLS ClientHello, no header before it */
        g_assert_cmpint (gsmtp_proxy_parse ((const guint8 *) "\0", 1, &h), ==, GSMTP_PROXY_INVALID);
}

static void
test_mailbox_key (void)
{
        static const struct { const char *a, *b; gboolean same; } cases[] = {
                { "bob@example.org", "bob@EXAMPLE.ORG", TRUE },
                { "bob@example.org", "Bob@example.org", FALSE },
                { "\"bob\"@example.org", "bob@example.org", TRUE },
                { "\"b\\ob\"@example.org", "bob@example.org", TRUE },
                { "postmaster", "POSTMASTER", TRUE },
                { "postmaster", "postmaster@example.org", FALSE },
                { "\"a b\"@example.org", "ab@example.org", FALSE },
        };

        g_test_summary ("Recipients merge only when they are the same mailbox (RFC 5321 2.4, 4.1.2, 4.5.1)");
        g_test_bug ("10");
        for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
                g_autofree char *a = gsmtp_address_mailbox_key (cases[i].a);
                g_autofree char *b = gsmtp_address_mailbox_key (cases[i].b);

                g_assert_cmpint (g_str_equal (a, b), ==, cases[i].same);
        }
}

/* Feeds @wire in reads of @chunk bytes, as the connection does; returns the
 * bytes consumed (the end of data included) and the reader's scan count. */
static gsize
reader_scan (const guint8 *wire, gsize len, gsize chunk, gsize max_size, gsize *examined,
             GSmtpDataStatus *status)
{
        g_autoptr(GSmtpDataReader) r = gsmtp_data_reader_new (max_size, 1000, GSMTP_BARE_LINEFEED_NORMALIZE, 0);
        gsize pos = 0;
        gboolean done = FALSE;

        while (pos < len && !done)
                pos += gsmtp_data_reader_feed (r, wire + pos, MIN (chunk, len - pos), &done);
        g_assert_true (done);
        *examined = gsmtp_data_reader_get_n_examined (r);
        *status = gsmtp_data_reader_get_status (r);
        return pos;
}

static void
test_data_reader_linear (void)
{
        /* every shape of line end, dot lines, long lines, and a mix */
        static const char *const shapes[] = {
                "a\n", "a\r\n", "a\r", "\r", "\n", "\r\n", ".a\r\n", ".\n", "..\r", "a\r\r\n",
                "a\nb\r\nc\rd\r\n", ".\r.\n.\r\n", NULL,
        };
        const gsize size = 4 * 1024 * 1024;

        g_test_summary ("DATA is scanned in time linear in its size, whatever its line ends: "
                        "bytes examined by the reader stay within a small multiple of the input "
                        "(4 MiB of bare-LF lines, CRLF lines, bare CR, dot lines, long lines; "
                        "64 KiB reads and 1-byte reads); past a limit only the terminator is sought");
        g_test_bug ("10");
        for (guint s = 0; shapes[s] != NULL; s++) {
                g_autoptr(GByteArray) wire = g_byte_array_sized_new (size + 8);
                gsize unit = strlen (shapes[s]), examined, used;
                GSmtpDataStatus status;

                while (wire->len < size)
                        g_byte_array_append (wire, (const guint8 *) shapes[s], unit);
                g_byte_array_append (wire, (const guint8 *) "\r\n.\r\n", 5);

                /* within the limits: every byte is looked at a bounded number of times */
                used = reader_scan (wire->data, wire->len, 64 * 1024, 0, &examined, &status);
                g_assert_cmpuint (used, ==, wire->len);
                g_assert_cmpint (status, ==, GSMTP_DATA_OK);
                if (examined > 3 * wire->len)
                        g_error ("\"%s\" lines: %" G_GSIZE_FORMAT " bytes examined for %u bytes of input",
                                 g_strescape (shapes[s], NULL), examined, wire->len);

                /* too big from the first line on: the feed where the limit was
                 * crossed, then one pass for the terminator, no more */
                used = reader_scan (wire->data, wire->len, 64 * 1024, 100, &examined, &status);
                g_assert_cmpuint (used, ==, wire->len);
                g_assert_cmpint (status, ==, GSMTP_DATA_TOO_BIG);
                if (examined > wire->len + 2 * 64 * 1024)
                        g_error ("\"%s\" lines past the size limit: %" G_GSIZE_FORMAT " bytes examined for %u",
                                 g_strescape (shapes[s], NULL), examined, wire->len);

                /* a client that sends one byte a packet */
                used = reader_scan (wire->data + wire->len - 64 * 1024 - 5, 64 * 1024 + 5, 1, 0,
                                    &examined, &status);
                g_assert_cmpuint (used, ==, 64 * 1024 + 5);
                g_assert_cmpuint (examined, <=, 3 * (64 * 1024 + 5));
        }
        {
                /* one line of 4 MiB: too long, then only the terminator is sought */
                g_autoptr(GByteArray) wire = g_byte_array_sized_new (size + 8);
                gsize examined, used;
                GSmtpDataStatus status;

                g_byte_array_set_size (wire, size);
                memset (wire->data, 'x', size);
                g_byte_array_append (wire, (const guint8 *) "\r\n.\r\n", 5);
                used = reader_scan (wire->data, wire->len, 64 * 1024, 0, &examined, &status);
                g_assert_cmpuint (used, ==, wire->len);
                g_assert_cmpint (status, ==, GSMTP_DATA_LINE_TOO_LONG);
                g_assert_cmpuint (examined, <=, 3 * wire->len);
        }
}

static void
test_data_reader_refused_end (void)
{
        /* bare LF and bare CR around dots: none of these ends the data early */
        static const char *const wires[] = {
                "a\r\n.\r\nNEXT", ".\r\nNEXT", "x\n.\ny\r\n.\r\nNEXT", "x\r.\rz\r\n.\r\nNEXT",
                "a\n.\r\nb\r\n.\r\nNEXT", "a\r\n.\nb\r\n.\r\nNEXT", ".\r\r\n.\r\nNEXT",
                "a\r\r\n.\r\nNEXT", "..\r\n.\r\nNEXT", "\r\n\r\n.\r\nNEXT", "a\r\n.a\r\n.\r\nNEXT",
                "a\r\n.\r\r\n.\r\nNEXT", "a\r\n\r.\r\n.\r\nNEXT",
        };

        g_test_summary ("A message refused for its size ends at exactly the same CR LF . CR LF as "
                        "one within the limit, however it is split: refusing never lets a smuggled "
                        "command through");
        g_test_bug ("10");
        for (guint w = 0; w < G_N_ELEMENTS (wires); w++) {
                const guint8 *wire = (const guint8 *) wires[w];
                gsize len = strlen (wires[w]);

                for (gsize chunk = 1; chunk <= 8; chunk++) {
                        gsize examined, ok_end, big_end;
                        GSmtpDataStatus status;

                        ok_end = reader_scan (wire, len, chunk, 0, &examined, &status);
                        g_assert_cmpint (status, ==, GSMTP_DATA_OK);
                        g_assert_cmpuint (ok_end, ==, len - 4);
                        big_end = reader_scan (wire, len, chunk, 1, &examined, &status);
                        g_assert_cmpuint (big_end, ==, ok_end);
                }
        }
}

static void
test_peer_v4_mapped (void)
{
        g_autoptr(GSocketAddress) mapped = g_inet_socket_address_new_from_string ("::ffff:192.0.2.1", 2525);
        g_autoptr(GSocketAddress) v6 = g_inet_socket_address_new_from_string ("2001:db8::1", 2525);
        g_autoptr(GSmtpPeer) a = gsmtp_peer_new (mapped, NULL);
        g_autoptr(GSmtpPeer) b = gsmtp_peer_new (v6, NULL);
        g_autofree char *received = NULL;

        g_test_summary ("An IPv4 client on a dual-stack socket is named by its IPv4 address, as a PROXY "
                        "header would name it (one client for the per-address limit, an IPv4 literal in Received)");
        g_assert_cmpstr (g_smtp_peer_get_host (a), ==, "192.0.2.1");
        g_assert_cmpstr (g_smtp_peer_get_host (b), ==, "2001:db8::1");
        received = gsmtp_received_format (NULL, a, "mx.example.org", NULL, FALSE, NULL);
        g_assert_nonnull (strstr (received, "([192.0.2.1])"));
        g_free (received);
        received = gsmtp_received_format (NULL, b, "mx.example.org", NULL, FALSE, NULL);
        g_assert_nonnull (strstr (received, "([IPv6:2001:db8::1])"));
}

int
main (int argc, char **argv)
{
        g_test_init (&argc, &argv, NULL);
        gsmtp_ensure_gmime ();
        g_test_add_func ("/reply/format-and-parse", test_reply);
        g_test_add_func ("/address/mailboxes-and-domains", test_address);
        g_test_add_func ("/address/utf8", test_address_utf8);
        g_test_add_func ("/xtext/decode", test_xtext);
        g_test_add_func ("/esmtp/params", test_esmtp_params);
        g_test_add_func ("/command/tokenizer", test_command);
        g_test_add_func ("/sasl/decode", test_sasl);
        g_test_add_func ("/data-reader/end-and-unstuffing", test_data_reader);
        g_test_add_func ("/proxy/v1", test_proxy);
        g_test_add_func ("/proxy/v2/commands-and-families", test_proxy_v2_commands);
        g_test_add_func ("/proxy/v2/tlvs", test_proxy_v2_tlvs);
        g_test_add_func ("/proxy/v2/crc32c", test_proxy_v2_crc32c);
        g_test_add_func ("/proxy/v2/size-bound", test_proxy_v2_bounds);
        g_test_add_func ("/proxy/v2/partial-and-detection", test_proxy_v2_partial);
        g_test_add_func ("/proxy/v2/haproxy-captured", test_proxy_v2_haproxy);
        g_test_add_func ("/address/mailbox-key", test_mailbox_key);
        g_test_add_func ("/peer/v4-mapped", test_peer_v4_mapped);
        g_test_add_func ("/data-reader/linear", test_data_reader_linear);
        g_test_add_func ("/data-reader/refused-message-end", test_data_reader_refused_end);
        return g_test_run ();
}

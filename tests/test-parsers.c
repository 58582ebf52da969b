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
        g_test_add_func ("/address/mailbox-key", test_mailbox_key);
        g_test_add_func ("/data-reader/linear", test_data_reader_linear);
        g_test_add_func ("/data-reader/refused-message-end", test_data_reader_refused_end);
        return g_test_run ();
}

/* gsmtp-address.c — mailboxes (RFC 5321 4.1.2, with the UTF-8 of RFC 6531
 * 3.3) and domain matching.
 * Owns: is this a mailbox, what are its parts, does a domain match an entry of
 * the server's list ("*", "*.example.org", "example.org"), U-labels against
 * A-labels.  Pure; fuzzed.
 * Not: the angle brackets and ESMTP parameters (gsmtp-command.c); whether
 * UTF-8 is allowed in this transaction (gsmtp-session.c: only with SMTPUTF8). */
#include "config.h"
#include "gsmtp-address.h"

#include <string.h>

/* UTF8-non-ascii (RFC 6532 3.1, from RFC 3629 4): the length of the one
 * character at @s (2 to 4 bytes), or 0 when @s holds no well-formed UTF-8
 * there: overlong forms, surrogates, code points past U+10FFFF and truncated
 * sequences are refused, and so are the C1 controls U+0080..U+009F, which
 * have no place in an address.  Never reads past a NUL. */
gsize
gsmtp_utf8_char_len (const char *s)
{
        const unsigned char *u = (const unsigned char *) s;
        unsigned char lo = 0x80, hi = 0xbf;
        gsize len;

        if (u[0] >= 0xc2 && u[0] <= 0xdf) {
                len = 2;
                if (u[0] == 0xc2)
                        lo = 0xa0;      /* U+0080..U+009F: C1 controls */
        } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
                len = 3;
                if (u[0] == 0xe0)
                        lo = 0xa0;      /* overlong */
                else if (u[0] == 0xed)
                        hi = 0x9f;      /* surrogates */
        } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
                len = 4;
                if (u[0] == 0xf0)
                        lo = 0x90;      /* overlong */
                else if (u[0] == 0xf4)
                        hi = 0x8f;      /* past U+10FFFF */
        } else {
                return 0;
        }
        if (u[1] < lo || u[1] > hi)
                return 0;
        for (gsize i = 2; i < len; i++)
                if (u[i] < 0x80 || u[i] > 0xbf)
                        return 0;
        return len;
}

static gboolean
is_atext (unsigned char c)
{
        return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-string = Atom *("." Atom); atext =/ UTF8-non-ascii (RFC 6531 3.3) */
static gboolean
dot_string_is_valid (const char *s, gsize len)
{
        gboolean after_dot = TRUE;

        if (len == 0)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                gsize n;

                if (s[i] == '.') {
                        if (after_dot)
                                return FALSE;
                        after_dot = TRUE;
                } else if (is_atext ((unsigned char) s[i])) {
                        after_dot = FALSE;
                } else if ((unsigned char) s[i] >= 0x80 && (n = gsmtp_utf8_char_len (s + i)) > 0 &&
                           i + n <= len) {
                        after_dot = FALSE;
                        i += n - 1;
                } else {
                        return FALSE;
                }
        }
        return !after_dot;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, qtextSMTP =/ UTF8-non-ascii
 * (RFC 6531 3.3; a quoted-pair stays ASCII); returns the length consumed or 0. */
static gsize
quoted_string_span (const char *s)
{
        gsize i = 1;

        if (s[0] != '"')
                return 0;
        while (s[i] != '\0') {
                unsigned char c = (unsigned char) s[i];

                if (c == '"')
                        return i + 1;
                if (c == '\\') {
                        unsigned char n = (unsigned char) s[i + 1];

                        if (n < 32 || n > 126)
                                return 0;
                        i += 2;
                        continue;
                }
                if (c >= 0x80) {
                        gsize n = gsmtp_utf8_char_len (s + i);

                        if (n == 0)
                                return 0;
                        i += n;
                        continue;
                }
                if (c < 32 || c > 126)
                        return 0;
                i++;
        }
        return 0;
}

static gboolean
ipv4_literal_is_valid (const char *s)
{
        int parts = 0;

        while (*s != '\0') {
                int value = 0, digits = 0;

                while (g_ascii_isdigit (*s) && digits < 4) {
                        value = value * 10 + (*s - '0');
                        s++;
                        digits++;
                }
                if (digits == 0 || digits > 3 || value > 255)
                        return FALSE;
                parts++;
                if (*s == '.')
                        s++;
                else if (*s != '\0')
                        return FALSE;
        }
        return parts == 4;
}

/* LDH labels (RFC 5321 4.1.2: Let-dig at both ends, 63 octets a label). */
static gboolean
ldh_domain_is_valid (const char *domain, gsize len)
{
        gsize label = 0;

        if (len == 0 || len > GSMTP_DOMAIN_MAX)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                char c = domain[i];

                if (c == '.') {
                        if (label == 0 || domain[i - 1] == '-')
                                return FALSE;
                        label = 0;
                } else if (g_ascii_isalnum (c) || (c == '-' && label > 0)) {
                        if (++label > 63)
                                return FALSE;
                } else {
                        return FALSE;
                }
        }
        return label > 0 && domain[len - 1] != '-';
}

/* sub-domain =/ U-label (RFC 6531 3.3).  Checked through GLib's IDNA code:
 * the domain must convert to A-labels (g_hostname_to_ascii()) that make a
 * valid LDH domain, and convert back unchanged but for case.  A spelling
 * that IDNA maps to another (not NFC, a compatibility character such as a
 * ligature, an ignored joiner, a full stop other than ".") is not a U-label
 * and is refused, so that two spellings never reach the application as one
 * domain.  The 63-octet label limit applies to the A-labels, as in the DNS;
 * the 255-octet limit to both forms. */
static gboolean
idn_domain_is_valid (const char *domain)
{
        g_autofree char *ascii = NULL, *back = NULL, *a = NULL, *b = NULL;

        for (const char *p = domain; *p != '\0'; p++) {
                gsize n;

                if ((unsigned char) *p < 0x80) {
                        if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
                                return FALSE;
                        continue;
                }
                n = gsmtp_utf8_char_len (p);
                if (n == 0)
                        return FALSE;
                p += n - 1;
        }
        ascii = g_hostname_to_ascii (domain);
        if (ascii == NULL || !ldh_domain_is_valid (ascii, strlen (ascii)))
                return FALSE;
        back = g_hostname_to_unicode (ascii);
        if (back == NULL)
                return FALSE;
        a = g_utf8_strdown (domain, -1);
        b = g_utf8_strdown (back, -1);
        return g_str_equal (a, b);
}

/* Domain = sub-domain *("." sub-domain), or an address-literal in brackets. */
gboolean
gsmtp_domain_is_valid (const char *domain)
{
        gsize len = strlen (domain);

        if (len == 0 || len > GSMTP_DOMAIN_MAX)
                return FALSE;
        if (domain[0] == '[') {
                g_autofree char *inner = NULL;

                if (domain[len - 1] != ']')
                        return FALSE;
                inner = g_strndup (domain + 1, len - 2);
                if (g_ascii_strncasecmp (inner, "IPv6:", 5) == 0) {
                        g_autoptr(GInetAddress) ia = g_inet_address_new_from_string (inner + 5);

                        return ia != NULL && g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV6;
                }
                return ipv4_literal_is_valid (inner);
        }
        if (!g_str_is_ascii (domain))
                return idn_domain_is_valid (domain);
        return ldh_domain_is_valid (domain, len);
}

/* The form two domains compare in: A-labels in lower case (U-labels and
 * A-labels name the same domain: RFC 5890 2.3.2.1).  NULL when @domain is
 * not IDNA-convertible. */
char *
gsmtp_domain_canonical (const char *domain)
{
        char *ascii;

        if (g_str_is_ascii (domain))
                return g_ascii_strdown (domain, -1);
        ascii = g_hostname_to_ascii (domain);
        if (ascii != NULL) {
                char *down = g_ascii_strdown (ascii, -1);

                g_free (ascii);
                return down;
        }
        return NULL;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ).  The parts come back
 * as written: the local part is case-sensitive (RFC 5321 2.4), only the
 * domain is compared without case. */
gboolean
gsmtp_address_parse (const char *mailbox, char **out_local, char **out_domain)
{
        const char *at;
        gsize local_len;

        if (strlen (mailbox) > GSMTP_PATH_MAX)
                return FALSE;
        if (mailbox[0] == '"') {
                local_len = quoted_string_span (mailbox);
                if (local_len == 0 || mailbox[local_len] != '@')
                        return FALSE;
                at = mailbox + local_len;
        } else {
                at = strrchr (mailbox, '@');
                if (at == NULL)
                        return FALSE;
                local_len = at - mailbox;
                if (!dot_string_is_valid (mailbox, local_len))
                        return FALSE;
        }
        if (local_len > GSMTP_LOCAL_PART_MAX || !gsmtp_domain_is_valid (at + 1))
                return FALSE;
        if (out_local != NULL)
                *out_local = g_strndup (mailbox, local_len);
        if (out_domain != NULL)
                *out_domain = g_strdup (at + 1);
        return TRUE;
}

gboolean
gsmtp_domain_pattern_is_valid (const char *pattern)
{
        if (g_str_equal (pattern, "*"))
                return TRUE;
        if (g_str_has_prefix (pattern, "*."))
                return gsmtp_domain_is_valid (pattern + 2);
        return gsmtp_domain_is_valid (pattern);
}

/* "*" matches every domain; "*.example.org" every subdomain of example.org
 * (not example.org itself: list both for both); anything else one domain.
 * RFC 5321 2.4: domains compare without regard to case. */
gboolean
gsmtp_domain_matches (const char *pattern, const char *domain)
{
        if (domain == NULL)
                return FALSE;
        if (g_str_equal (pattern, "*"))
                return TRUE;
        /* an IDN on either side: both as A-labels, so that bücher.example
         * matches xn--bcher-kva.example and the other way round */
        if (!g_str_is_ascii (pattern) || !g_str_is_ascii (domain)) {
                gboolean wild = pattern[0] == '*' && pattern[1] == '.';
                g_autofree char *p = gsmtp_domain_canonical (wild ? pattern + 2 : pattern);
                g_autofree char *d = gsmtp_domain_canonical (domain);
                g_autofree char *wp = NULL;

                if (p == NULL || d == NULL || !g_str_is_ascii (p) || !g_str_is_ascii (d))
                        return FALSE;
                if (wild)
                        wp = g_strconcat ("*.", p, NULL);
                return gsmtp_domain_matches (wild ? wp : p, d);
        }
        if (pattern[0] == '*' && pattern[1] == '.') {
                gsize plen = strlen (pattern + 1), dlen = strlen (domain);

                return dlen > plen && g_ascii_strcasecmp (domain + dlen - plen, pattern + 1) == 0;
        }
        return g_ascii_strcasecmp (pattern, domain) == 0;
}

/* What makes two forward-paths the same mailbox: the local part as its
 * content (quotes and quoting backslashes dropped: RFC 5321 4.1.2 makes
 * "bob"@x and bob@x one mailbox), case and UTF-8 bytes kept (RFC 5321 2.4;
 * RFC 6530 leaves local parts unnormalized); the domain in its canonical
 * form (lower-case A-labels); "postmaster" without a domain in any case (RFC
 * 5321 4.5.1).  Anything that does not parse is its own key. */
char *
gsmtp_address_mailbox_key (const char *path)
{
        g_autofree char *local = NULL, *domain = NULL, *canonical = NULL;
        GString *key;

        if (strchr (path, '@') == NULL)
                return g_ascii_strdown (path, -1);
        if (!gsmtp_address_parse (path, &local, &domain))
                return g_strdup (path);
        key = g_string_sized_new (strlen (path));
        if (local[0] == '"') {
                for (const char *p = local + 1; *p != '\0' && *p != '"'; p++) {
                        if (*p == '\\' && p[1] != '\0')
                                p++;
                        g_string_append_c (key, *p);
                }
        } else {
                g_string_append (key, local);
        }
        g_string_append_c (key, '@');
        canonical = gsmtp_domain_canonical (domain);
        g_string_append (key, canonical != NULL ? canonical : domain);
        return g_string_free (key, FALSE);
}

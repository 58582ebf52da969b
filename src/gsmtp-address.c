/* gsmtp-address.c — mailboxes (RFC 5321 4.1.2) and domain matching.
 * Owns: is this a mailbox, what are its parts, does a domain match an entry of
 * the server's list ("*", "*.example.org", "example.org").  Pure; fuzzed.
 * Not: the angle brackets and ESMTP parameters (gsmtp-command.c). */
#include "config.h"
#include "gsmtp-address.h"

#include <string.h>

static gboolean
is_atext (unsigned char c)
{
        return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-string = Atom *("." Atom) */
static gboolean
dot_string_is_valid (const char *s, gsize len)
{
        gboolean after_dot = TRUE;

        if (len == 0)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                if (s[i] == '.') {
                        if (after_dot)
                                return FALSE;
                        after_dot = TRUE;
                } else if (is_atext ((unsigned char) s[i])) {
                        after_dot = FALSE;
                } else {
                        return FALSE;
                }
        }
        return !after_dot;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; returns the length consumed or 0. */
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

/* Domain = sub-domain *("." sub-domain), or an address-literal in brackets. */
gboolean
gsmtp_domain_is_valid (const char *domain)
{
        gsize len = strlen (domain);
        gsize label = 0;

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
        for (gsize i = 0; i < len; i++) {
                char c = domain[i];

                if (c == '.') {
                        /* Let-dig at both ends of each label */
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
        if (pattern[0] == '*' && pattern[1] == '.') {
                gsize plen = strlen (pattern + 1), dlen = strlen (domain);

                return dlen > plen && g_ascii_strcasecmp (domain + dlen - plen, pattern + 1) == 0;
        }
        return g_ascii_strcasecmp (pattern, domain) == 0;
}

/* What makes two forward-paths the same mailbox: the local part as its
 * content (quotes and quoting backslashes dropped: RFC 5321 4.1.2 makes
 * "bob"@x and bob@x one mailbox), case kept (RFC 5321 2.4); the domain in
 * lower case; "postmaster" without a domain in any case (RFC 5321 4.5.1).
 * Anything that does not parse is its own key. */
char *
gsmtp_address_mailbox_key (const char *path)
{
        g_autofree char *local = NULL, *domain = NULL;
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
        for (const char *p = domain; *p != '\0'; p++)
                g_string_append_c (key, g_ascii_tolower (*p));
        return g_string_free (key, FALSE);
}

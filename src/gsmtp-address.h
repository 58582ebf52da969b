/* gsmtp-address.h — RFC 5321/6531 mailboxes and the server's domain list (internal). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets; octets of
 * UTF-8 too (RFC 6531 changes none of them). */
#define GSMTP_LOCAL_PART_MAX 64
#define GSMTP_DOMAIN_MAX     255
#define GSMTP_PATH_MAX       256

gboolean gsmtp_address_parse (const char *mailbox, char **out_local, char **out_domain);
gboolean gsmtp_domain_is_valid (const char *domain);
char    *gsmtp_address_mailbox_key (const char *path);
gboolean gsmtp_domain_matches (const char *pattern, const char *domain);
gboolean gsmtp_domain_pattern_is_valid (const char *pattern);
char    *gsmtp_domain_canonical (const char *domain);
gsize    gsmtp_utf8_char_len (const char *s);

G_END_DECLS

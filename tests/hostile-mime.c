/* hostile-mime.c — the message shapes of issue 10's attacks, at any size. */
#include "hostile-mime.h"

/* To: with @n nested groups, folded into lines of about 600 bytes */
GString *
hostile_nested_groups (guint n)
{
        GString *s = g_string_new ("From: a@example.org\r\nTo: ");
        gsize line_start = s->len;

        for (guint i = 0; i < n; i++) {
                g_string_append (s, "g: ");
                if (s->len - line_start > 600) {
                        g_string_append (s, "\r\n ");
                        line_start = s->len;
                }
        }
        g_string_append (s, "a@example.org ");
        for (guint i = 0; i < n; i++) {
                g_string_append_c (s, ';');
                if (s->len - line_start > 600) {
                        g_string_append (s, "\r\n ");
                        line_start = s->len;
                }
        }
        g_string_append (s, "\r\nSubject: groups\r\n\r\nbody\r\n");
        return s;
}

/* a multipart of @n empty parts: 7 bytes each */
GString *
hostile_empty_parts (guint n)
{
        GString *s = g_string_new ("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");

        for (guint i = 0; i < n; i++)
                g_string_append (s, "--b\r\n\r\n");
        g_string_append (s, "--b--\r\n");
        return s;
}

/* @n multiparts, each the first part of the one around it; @closed: with a
 * text/plain innermost part and every closing boundary (a well-formed
 * message), otherwise cut off after the innermost text as an attacker sends it */
GString *
hostile_nested_multiparts (guint n, gboolean closed)
{
        GString *s = g_string_new ("From: a@example.org\r\n");

        for (guint i = 0; i < n; i++)
                g_string_append_printf (s, "Content-Type: multipart/mixed; boundary=\"b%u\"\r\n\r\n--b%u\r\n", i, i);
        if (!closed) {
                g_string_append (s, "\r\ninnermost\r\n");
                return s;
        }
        g_string_append (s, "Content-Type: text/plain\r\n\r\ninnermost\r\n");
        for (guint i = n; i > 0; i--)
                g_string_append_printf (s, "--b%u--\r\n", i - 1);
        return s;
}

/* @n message/rfc822 parts, each inside the one before */
GString *
hostile_nested_messages (guint n)
{
        GString *s = g_string_new ("From: a@example.org\r\n");

        for (guint i = 0; i < n; i++)
                g_string_append (s, "Content-Type: message/rfc822\r\n\r\nFrom: b@example.org\r\n");
        g_string_append (s, "\r\ninnermost\r\n");
        return s;
}

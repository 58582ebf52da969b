/* hostile-mime.h — the message shapes of issue 10's attacks, at any size,
 * shared by the scanner's tests and the server's. */
#pragma once

#include <glib.h>

GString *hostile_nested_groups     (guint n);
GString *hostile_empty_parts       (guint n);
GString *hostile_nested_multiparts (guint n, gboolean closed);
GString *hostile_nested_messages   (guint n);

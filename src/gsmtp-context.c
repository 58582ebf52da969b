/* gsmtp-context.c — handing work to a main context from any thread.
 * Owns: the one way gsmtp does it, an idle source attached to the context.
 * Never g_main_context_invoke(): when no thread owns the context at that
 * moment it runs the function at once, on the caller's thread, racing the
 * context's own. */
#include "config.h"
#include "gsmtp-private.h"

/* Runs @func (@data, freed by @destroy) once in @context at @priority; returns
 * the source, with a reference for the caller (who may destroy it early). */
GSource *
gsmtp_context_run (GMainContext *context, int priority, GSourceFunc func, gpointer data,
                   GDestroyNotify destroy, const char *static_name)
{
        GSource *source = g_idle_source_new ();

        g_source_set_priority (source, priority);
        g_source_set_callback (source, func, data, destroy);
        g_source_set_static_name (source, static_name);
        g_source_attach (source, context);
        return source;
}

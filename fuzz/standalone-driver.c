/* standalone-driver.c — without clang, `make check` replays each target's corpus
 * (fuzz/corpus/<target>/) through it, so every seed and fixed crash stays fixed. */
#include "config.h"
#include "fuzz.h"

#include <stdio.h>

typedef int (*FuzzFunc) (const uint8_t *data, size_t size);

static const struct {
        const char *name;
        FuzzFunc    func;
} targets[] = {
        { "command", fuzz_command },
        { "address", fuzz_address },
        { "data-reader", fuzz_data_reader },
        { "session", fuzz_session },
        { "sasl", fuzz_sasl },
        { "reply", fuzz_reply },
        { "proxy", fuzz_proxy },
        { "xtext", fuzz_xtext },
        { "chunk", fuzz_chunk },
        { "mime", fuzz_mime },
        { "client-reply", fuzz_client_reply },
        { "dot-stuffer", fuzz_dot_stuffer },
};

int
main (int argc, char **argv)
{
        const char *srcdir = g_getenv ("GSMTP_SRCDIR") ? g_getenv ("GSMTP_SRCDIR") : ".";
        guint test = 0;

        printf ("1..%u\n", (guint) G_N_ELEMENTS (targets));
        for (guint i = 0; i < G_N_ELEMENTS (targets); i++) {
                g_autofree char *dir = g_build_filename (srcdir, "fuzz", "corpus", targets[i].name, NULL);
                g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
                const char *name;
                guint n = 0;

                while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
                        g_autofree char *path = g_build_filename (dir, name, NULL);
                        g_autofree char *contents = NULL;
                        gsize len;

                        if (!g_file_get_contents (path, &contents, &len, NULL))
                                continue;
                        targets[i].func ((const uint8_t *) contents, len);
                        n++;
                }
                printf ("%s %u - %s: %u inputs\n", n > 0 ? "ok" : "not ok", ++test, targets[i].name, n);
        }
        return 0;
}

/* fuzz.h — one source a target: libFuzzer's entry point under `make fuzz`
 * (FUZZ_ONE), a named function for the standalone driver under `make check`. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#ifdef FUZZ_ONE
#define FUZZ_ENTRY(name) int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
#else
#define FUZZ_ENTRY(name) int fuzz_##name (const uint8_t *data, size_t size)
#endif

#define FUZZ_CHECK(cond) G_STMT_START { if (!(cond)) { g_printerr ("invariant failed: %s\n", #cond); abort (); } } G_STMT_END

int fuzz_command (const uint8_t *data, size_t size);
int fuzz_address (const uint8_t *data, size_t size);
int fuzz_data_reader (const uint8_t *data, size_t size);
int fuzz_session (const uint8_t *data, size_t size);
int fuzz_sasl (const uint8_t *data, size_t size);
int fuzz_reply (const uint8_t *data, size_t size);
int fuzz_proxy (const uint8_t *data, size_t size);
int fuzz_xtext (const uint8_t *data, size_t size);
int fuzz_chunk (const uint8_t *data, size_t size);
int fuzz_mime (const uint8_t *data, size_t size);
int fuzz_client_reply (const uint8_t *data, size_t size);
int fuzz_dot_stuffer (const uint8_t *data, size_t size);

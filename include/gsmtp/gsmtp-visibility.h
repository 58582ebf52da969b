#pragma once
#if !defined (__GSMTP_H_INSIDE__) && !defined (GSMTP_COMPILATION)
#error "Only <gsmtp/gsmtp.h> can be included directly."
#endif

/* The library builds with -fvisibility=hidden: only what carries this is exported. */
#if defined (GSMTP_COMPILATION) && defined (__GNUC__)
#define GSMTP_AVAILABLE_IN_ALL __attribute__ ((visibility ("default"))) extern
#else
#define GSMTP_AVAILABLE_IN_ALL extern
#endif

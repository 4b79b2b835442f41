/*
 * apns/version.h - libapns's version and the linkage of its public symbols.
 *
 * The version is stated here once; CMake reads it from this file for the
 * shared library's VERSION/SOVERSION and for libapns.pc. APNS_VERSION_NUM
 * is 0xMMmmpp, for compile-time checks (#if APNS_VERSION_NUM >= 0x000200).
 * apns_version() (apns/error.h) gives the version of the library actually
 * linked, which may be newer than the headers a program was built with.
 *
 * APNS_EXTERN marks every public function. libapns is built with
 * -fvisibility=hidden, so everything else (the apns__* internals, the
 * common/ layer) stays out of the shared library's dynamic symbol table.
 */
#ifndef APNS_VERSION_H
#define APNS_VERSION_H

#define APNS_VERSION_MAJOR 0
#define APNS_VERSION_MINOR 1
#define APNS_VERSION_PATCH 0
#define APNS_VERSION       "0.1.0"
#define APNS_VERSION_NUM   0x000100

#if defined(APNS_BUILDING_LIBRARY) && defined(__GNUC__)
#define APNS_EXTERN __attribute__((visibility("default")))
#else
#define APNS_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The linked library's version, "0.1.0". Static; never NULL. */
APNS_EXTERN const char *apns_version(void);

#ifdef __cplusplus
}
#endif

#endif

/*
 * keys.h - the provider-token verification keys apns-sim knows: one P-256
 * public key per key id, with the team that owns it. Read-only after load,
 * shared by every thread (EVP_PKEY verification is thread-safe).
 */
#ifndef SIM_KEYS_H
#define SIM_KEYS_H

#include <stddef.h>

#include <openssl/evp.h>

#include "apns/jwt.h"

typedef struct sim_key {
    char kid[APNS_KEY_ID_LEN + 1];
    char team[APNS_TEAM_ID_LEN + 1];
    EVP_PKEY *pub;
    int other_env; /* --other-env-keys: 403 BadEnvironmentKeyIdInToken */
} sim_key;

typedef struct sim_keys {
    sim_key *keys;
    size_t count;
} sim_keys;

/*
 * Loads every DIR/<KEYID>_<TEAMID>.pem or .p8 (a PEM public key, or a PEM
 * private key whose public half is used; EC P-256 only). Other files are
 * skipped. Returns 0, or -1 with a sentence in err (unreadable dir, a
 * matching file that is not a P-256 key, no keys at all).
 */
int sim_keys_load_dir(sim_keys *ks, const char *dir, char *err, size_t errlen);

/* Adds one key from PEM text (public or private). Returns 0 or -1. */
int sim_keys_add_pem(sim_keys *ks, const char *kid, const char *team, const char *pem, size_t len);

/* The key with this id, or NULL. */
const sim_key *sim_keys_find(const sim_keys *ks, const char *kid, size_t len);

/* Marks the keys named in kids[0..n) as the other environment's. Returns 0,
 * or -1 with a sentence in err naming a key id that was not loaded. */
int sim_keys_mark_other_env(sim_keys *ks, char *const *kids, size_t n, char *err, size_t errlen);

void sim_keys_cleanup(sim_keys *ks);

#endif

/* keys.c - loads token-auth verification keys from a directory. */
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static int is_id(const char *s, size_t len)
{
    if (len != APNS_KEY_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

static EVP_PKEY *read_p256(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return NULL;
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!k) {
        (void)BIO_reset(bio);
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!k)
        return NULL;
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &glen) ||
        strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

int sim_keys_add_pem(sim_keys *ks, const char *kid, const char *team, const char *pem, size_t len)
{
    if (!is_id(kid, strlen(kid)) || !is_id(team, strlen(team)))
        return -1;
    EVP_PKEY *k = read_p256(pem, len);
    if (!k)
        return -1;
    sim_key *n = realloc(ks->keys, (ks->count + 1) * sizeof *n);
    if (!n) {
        EVP_PKEY_free(k);
        return -1;
    }
    ks->keys = n;
    sim_key *e = &ks->keys[ks->count++];
    memcpy(e->kid, kid, APNS_KEY_ID_LEN + 1);
    memcpy(e->team, team, APNS_TEAM_ID_LEN + 1);
    e->pub = k;
    e->other_env = 0;
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* "ABC123DEFG_DEF123GHIJ.pem" -> kid, team; 0 if the name fits. */
static int split_name(const char *name, char kid[11], char team[11])
{
    size_t len = strlen(name);
    const char *ext = strrchr(name, '.');
    if (!ext || (strcmp(ext, ".pem") != 0 && strcmp(ext, ".p8") != 0))
        return -1;
    size_t stem = (size_t)(ext - name);
    if (len < 21 || stem != 21 || name[10] != '_' || !is_id(name, 10) || !is_id(name + 11, 10))
        return -1;
    memcpy(kid, name, 10);
    kid[10] = '\0';
    memcpy(team, name + 11, 10);
    team[10] = '\0';
    return 0;
}

int sim_keys_load_dir(sim_keys *ks, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open --auth-keys directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        char kid[11], team[11];
        if (split_name(de->d_name, kid, team) != 0)
            continue;
        if (sim_keys_find(ks, kid, 10)) {
            snprintf(err, errlen, "%s/%s: key id %s appears twice", dir, de->d_name, kid);
            rc = -1;
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = 0;
        char *pem = slurp(path, &len);
        if (!pem || sim_keys_add_pem(ks, kid, team, pem, len) != 0) {
            snprintf(err, errlen, "%s: not a PEM EC P-256 public or private key", path);
            free(pem);
            rc = -1;
            break;
        }
        free(pem);
    }
    closedir(d);
    if (rc == 0 && ks->count == 0) {
        snprintf(err, errlen, "%s holds no KEYID_TEAMID.pem or .p8 key files", dir);
        rc = -1;
    }
    return rc;
}

const sim_key *sim_keys_find(const sim_keys *ks, const char *kid, size_t len)
{
    if (len != APNS_KEY_ID_LEN)
        return NULL;
    for (size_t i = 0; i < ks->count; i++)
        if (memcmp(ks->keys[i].kid, kid, len) == 0)
            return &ks->keys[i];
    return NULL;
}

int sim_keys_mark_other_env(sim_keys *ks, char *const *kids, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const sim_key *k = sim_keys_find(ks, kids[i], strlen(kids[i]));
        if (!k) {
            snprintf(err, errlen, "--other-env-keys: key id %s is not in --auth-keys", kids[i]);
            return -1;
        }
        ks->keys[k - ks->keys].other_env = 1;
    }
    return 0;
}

void sim_keys_cleanup(sim_keys *ks)
{
    for (size_t i = 0; i < ks->count; i++)
        EVP_PKEY_free(ks->keys[i].pub);
    free(ks->keys);
    ks->keys = NULL;
    ks->count = 0;
}

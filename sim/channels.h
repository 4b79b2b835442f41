/*
 * channels.h - the broadcast channels the simulator holds (§4.1): one store
 * per process, which plays one environment (--environment), so it is the
 * per-environment store Apple keeps; shared by every connection of every
 * event loop and of both listeners (channel management creates, reads,
 * lists and deletes; broadcast publish looks up). Locked inside (a
 * read-write lock: publishes only read).
 *
 * Channel ids are random (16 bytes from the OpenSSL CSPRNG, standard base64:
 * 24 characters), as Apple's are; ids are unique across apps. Per app at
 * most `limit` channels (Apple: 10,000 per app and environment), at most
 * SIM_CHANNELS_APPS_MAX apps. Memory: about 64 bytes per channel.
 */
#ifndef SIM_CHANNELS_H
#define SIM_CHANNELS_H

#include <stddef.h>
#include <stdint.h>

#define SIM_CHANNELS_APPS_MAX 1024 /* apps with channels; beyond: the limit answer */
#define SIM_CHANNEL_ID_LEN    24   /* the ids this store makes */

typedef struct sim_channels sim_channels;

/* A store allowing `limit` channels per app (> 0). NULL when out of memory. */
sim_channels *sim_channels_new(uint32_t limit);
void sim_channels_free(sim_channels *cs); /* NULL is fine */

/* Creates a channel of bundle[0..blen) with storage policy 0 or 1 and writes
 * its id, NUL-terminated, to id (at least SIM_CHANNEL_ID_LEN + 1 bytes).
 * Returns 0, 1 when the app has `limit` channels already (or the store has
 * SIM_CHANNELS_APPS_MAX apps), -1 when out of memory or without randomness. */
int sim_channels_create(sim_channels *cs, const char *bundle, size_t blen, int policy, char *id);

/* The storage policy of channel id[0..idlen) of the app, or -1 when the app
 * has no such channel. */
int sim_channels_find(sim_channels *cs, const char *bundle, size_t blen, const char *id,
                      size_t idlen);

/* Deletes the channel. Returns 0, or -1 when the app has no such channel. */
int sim_channels_delete(sim_channels *cs, const char *bundle, size_t blen, const char *id,
                        size_t idlen);

/* The app's channel ids as the list answer's JSON body,
 * {"channels":["<id>",...]} (oldest first), in a malloc'd buffer the caller
 * frees; its length in *len. NULL when out of memory. */
char *sim_channels_list_json(sim_channels *cs, const char *bundle, size_t blen, size_t *len);

/* Channels held over every app. */
uint64_t sim_channels_total(sim_channels *cs);

#endif

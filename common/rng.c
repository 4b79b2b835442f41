#include "rng.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t common_rng_seed(void)
{
    static _Thread_local uint64_t calls;
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
        return s;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    s ^= (uint64_t)getpid() << 32;
    s ^= (uint64_t)(uintptr_t)&calls + ++calls * 0xda942042e4dd58b5ull;
    return common_rng_next(&s);
}

/* test_queue.c - the queue's front end without a backend: per-token
 * apns-ids (queue_token.c). The calls that need storage are the contract
 * (queue_contract.c), run against each backend by sqlite/ and jetstream/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue.h"

static void apns_id_derivation(void **state)
{
    char out[GW_JOB_ID_LEN + 1];

    (void)state;
    gw_apns_id_derive("12345678-1234-4234-8234-ffffffffffff", 1, out);
    assert_string_equal(out, "12345678-1234-4234-8234-000000000000");
    gw_apns_id_derive("12345678-1234-4234-8234-00000000000a", 999999, out);
    assert_string_equal(out, "12345678-1234-4234-8234-0000000f4249");
    assert_true(apns_uuid_is_valid(out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apns_id_derivation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

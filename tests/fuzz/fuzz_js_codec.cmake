# fuzz_js_codec: the JetStream backend's record codec
# (daemon/queue/jetstream/js_codec.c) compiled into the target (so that
# libFuzzer instruments it), with the queue's front end for the token rules
# it calls (gw_queue__token_apply) and libnats's headers (js_int.h).
set(_q ${PROJECT_SOURCE_DIR}/daemon/queue)
target_sources(${name} PRIVATE ${_q}/jetstream/js_codec.c)
target_include_directories(${name} PRIVATE ${_q}/jetstream ${_q}/jetstream/internal ${_q}/internal)
target_link_libraries(${name} PRIVATE gw_queue PkgConfig::LIBNATS)

# fuzz_push_request: gw_push_parse (daemon/api/api_push.c, api_tokens.c) with its
# config loader, jansson and libapns, from the daemon's core library.
target_link_libraries(${name} PRIVATE apnsd_core)

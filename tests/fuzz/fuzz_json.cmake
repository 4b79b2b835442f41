# fuzz_json cross-checks apns_json_is_object against jansson.
target_link_libraries(${name} PRIVATE PkgConfig::JANSSON)

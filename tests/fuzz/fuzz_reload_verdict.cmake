# fuzz_reload_verdict: the reload verdict reader (daemon/apnsd_service.c),
# compiled into the target so that libFuzzer instruments it.
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/apnsd_service.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon)

# fuzz_config: the loader's own sources are compiled into the target (so that
# libFuzzer instruments them) rather than linking apnsd_core, which holds the
# rest of the daemon.
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/config.c
                               ${PROJECT_SOURCE_DIR}/daemon/config_keys.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon)
target_link_libraries(${name} PRIVATE PkgConfig::INIH)

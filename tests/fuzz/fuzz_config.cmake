# fuzz_config: the loader's own sources are compiled into the target (so that
# libFuzzer instruments them) rather than linking the gw_config module.
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/config/config.c
                               ${PROJECT_SOURCE_DIR}/daemon/config/config_keys.c
                               ${PROJECT_SOURCE_DIR}/daemon/obs/log.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/config
                                           ${PROJECT_SOURCE_DIR}/daemon/obs)

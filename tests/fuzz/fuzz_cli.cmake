# fuzz_cli: the tools' input parsers (tools/common), never a tool's main.
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tools/common/cli.c
                               ${PROJECT_SOURCE_DIR}/tools/common/cli_tokens.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tools/common)

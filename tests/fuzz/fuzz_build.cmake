# The libFuzzer build, included by the top CMakeLists.txt when GENFARM_FUZZ is ON:
#
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DGENFARM_FUZZ=ON
#   cmake --build build-fuzz --target genfarm_fuzzers     # or: tests/fuzz/run.sh [seconds]
#
# Self-contained on purpose: it configures only proto/, common/ and tests/fuzz/ (plus
# worker/runtime/manifest.cc, compiled into its fuzzer), so it needs neither LibTorch,
# OpenImageIO nor any other worker or scheduler dependency, whatever options the normal
# build grows. All our code is compiled with coverage instrumentation and ASan + UBSan
# (UB aborts, so libFuzzer keeps the input); Debian's libraries are used as they are.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "GENFARM_FUZZ needs clang (libFuzzer): "
                      "-DCMAKE_CXX_COMPILER=clang++-14 (Debian: clang-14 libclang-rt-14-dev)")
endif()

find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)  # proto/ generates the service stubs alongside
find_package(absl CONFIG REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)  # common/http (not built)
find_package(prometheus-cpp CONFIG REQUIRED)  # common/http/http_metrics (not built)

# Our warnings, without -Werror: clang warns about things GCC does not, and a new clang
# warning must not stop a fuzzing run.
add_library(genfarm_warnings INTERFACE)
target_compile_options(genfarm_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)

set(GENFARM_FUZZ_SANITIZERS address,undefined)
add_compile_options(-fsanitize=fuzzer-no-link,${GENFARM_FUZZ_SANITIZERS}
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g
                    -fsanitize-coverage-ignorelist=${PROJECT_SOURCE_DIR}/tests/fuzz/coverage_ignorelist.txt)
add_link_options(-fsanitize=${GENFARM_FUZZ_SANITIZERS})

set(GENFARM_PROTO_PY_DIR ${CMAKE_BINARY_DIR}/python)
add_subdirectory(proto)
add_subdirectory(common)
add_subdirectory(tests/fuzz)

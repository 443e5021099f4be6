# cmake -DSRC_DIR=<src> -P check_relative_includes.cmake
# Includes under src/ are written relative to src/ ("kv/block_pool.h"). A parent-relative one
# ("../engine/engine.h") would resolve next to the including file and so bypass the per-module include
# directories that enforce the layering: fail if any exists.
if(NOT IS_DIRECTORY "${SRC_DIR}")
  message(FATAL_ERROR "check_relative_includes: SRC_DIR '${SRC_DIR}' is not a directory")
endif()
file(GLOB_RECURSE files ${SRC_DIR}/*.h ${SRC_DIR}/*.hpp ${SRC_DIR}/*.cpp ${SRC_DIR}/*.inc)
set(bad "")
foreach(f ${files})
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<][^\">]*\\.\\./")
  foreach(l ${lines})
    file(RELATIVE_PATH rel ${SRC_DIR} ${f})
    string(APPEND bad "  src/${rel}: ${l}\n")
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "parent-relative includes bypass the build layering; write them relative to src/:\n${bad}")
endif()
list(LENGTH files n)
message(STATUS "${n} files under src/, no parent-relative include")

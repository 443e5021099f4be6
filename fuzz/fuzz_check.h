// FUZZ_CHECK: the oracle of a fuzz target. A failed check prints the condition and a message and aborts, which
// libFuzzer reports as a crash and saves the input (crash-<sha1>). Unlike KVS_CHECK it is for the fuzz
// harness only: it states what the code under test promises, never an invariant of the harness itself.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, msg)                                                                        \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s\n  at %s:%d\n  %s\n", #cond, __FILE__, __LINE__, \
                   std::string(msg).c_str());                                                        \
      std::abort();                                                                                  \
    }                                                                                                \
  } while (0)
